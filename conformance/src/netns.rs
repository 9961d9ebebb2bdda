//! A LAN of "hosts" on one machine: network namespaces, each with an
//! `eth0` plugged by a veth pair into a bridge that lives in a namespace
//! of its own (the switch). Nothing is added to the machine's own
//! namespace, so LANs made at once by concurrent tests never meet, and
//! every one may use the same addresses (`10.200.0.0/24`, host `i` at
//! `.i+1`). Everything is removed when the fixture is dropped (a failing
//! test too: drop runs as the panic unwinds).
//!
//! It needs root and `ip` (iproute2): [`Lan::available`] says why a
//! machine cannot, and tests that need one then say so and return.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Hosts in their own network namespaces, joined by a switch.
#[derive(Debug)]
pub struct Lan {
    switch: String,
    hosts: Vec<Host>,
    /// The namespaces this fixture made, and so removes: never another's
    /// of the same name.
    made: Vec<String>,
}

/// One host of a [`Lan`]: a network namespace with `lo` and `eth0` up.
#[derive(Debug, Clone)]
pub struct Host {
    name: String,
    /// Its address on the LAN.
    pub ip: Ipv4Addr,
}

/// The name of every host's interface to the LAN, inside its namespace.
pub const HOST_LINK: &str = "eth0";

/// Runs `ip args…`: its failure, with what it said, as the error.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Lan {
    /// `Ok` if this machine can make namespaces; else why not (not root,
    /// no `ip`, or adding a namespace fails).
    pub fn available() -> Result<(), String> {
        let uid = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Uid:"))
                    .and_then(|v| v.split_whitespace().nth(1).map(str::to_owned))
            })
            .unwrap_or_default();
        if uid != "0" {
            return Err(format!("not root (effective uid {uid:?})"));
        }
        ip(&["-V"]).map_err(|e| format!("no usable `ip`: {e}"))?;
        static PROBES: AtomicU32 = AtomicU32::new(0);
        let k = PROBES.fetch_add(1, Ordering::Relaxed);
        let probe = format!("tractor-probe-{}-{k}", std::process::id());
        ip(&["netns", "add", &probe]).map_err(|e| format!("cannot add a namespace: {e}"))?;
        ip(&["netns", "delete", &probe])
    }

    /// A fresh LAN of `hosts` hosts (at most 250), every link up.
    pub fn new(hosts: usize) -> Result<Lan, String> {
        if hosts > 250 {
            return Err(format!("{hosts} hosts: at most 250 fit the /24"));
        }
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let k = NEXT.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("tractor-{}-{k}", std::process::id());
        let mut lan = Lan {
            switch: format!("{prefix}-sw"),
            hosts: Vec::new(),
            made: Vec::new(),
        };
        // From here on, a failure drops `lan`, which removes what was made.
        let sw = lan.switch.clone();
        lan.add_namespace(&sw)?;
        ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &sw, "link", "set", "br0", "up"])?;
        for i in 0..hosts {
            let host = Host {
                name: format!("{prefix}-h{i}"),
                ip: Ipv4Addr::new(10, 200, 0, i as u8 + 1),
            };
            lan.add_namespace(&host.name)?;
            let port = format!("p{i}");
            ip(&[
                "-n", &sw, "link", "add", &port, "type", "veth", "peer", "name", HOST_LINK,
                "netns", &host.name,
            ])?;
            ip(&["-n", &sw, "link", "set", &port, "master", "br0"])?;
            ip(&["-n", &sw, "link", "set", &port, "up"])?;
            let cidr = format!("{}/24", host.ip);
            ip(&["-n", &host.name, "addr", "add", &cidr, "dev", HOST_LINK])?;
            ip(&["-n", &host.name, "link", "set", HOST_LINK, "up"])?;
            ip(&["-n", &host.name, "link", "set", "lo", "up"])?;
            lan.hosts.push(host);
        }
        Ok(lan)
    }

    fn add_namespace(&mut self, name: &str) -> Result<(), String> {
        ip(&["netns", "add", name])?;
        self.made.push(name.to_owned());
        Ok(())
    }

    /// Host `i` (from 0).
    pub fn host(&self, i: usize) -> &Host {
        &self.hosts[i]
    }
}

impl Host {
    /// The namespace's name, for `ip netns exec <name>` or `ip -n <name>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The launcher prefix that runs a command on this host.
    pub fn exec(&self) -> Vec<String> {
        ["ip", "netns", "exec", &self.name]
            .map(str::to_owned)
            .to_vec()
    }
}

/// What the scenarios that span hosts read, for a LAN of two hosts or
/// more: the root runs on host 0 (`Tree::within(lan.host(0).exec())`), a
/// child on host 1 (`CONF_NETNS`, `CONF_NETNS_CHILD_IP`, its link
/// `CONF_NETNS_LINK`), the root's address is `CONF_NETNS_ROOT_IP`; with a
/// third host, a sibling there (`CONF_NETNS_SIBLING`,
/// `CONF_NETNS_SIBLING_IP`); with a fourth, strangers there
/// (`CONF_NETNS_STRANGER`).
fn env(lan: &Lan) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("CONF_NETNS_ROOT_IP", lan.host(0).ip.to_string()),
        ("CONF_NETNS", lan.host(1).name.clone()),
        ("CONF_NETNS_CHILD_IP", lan.host(1).ip.to_string()),
        ("CONF_NETNS_LINK", HOST_LINK.to_owned()),
    ];
    if let Some(sibling) = lan.hosts.get(2) {
        env.push(("CONF_NETNS_SIBLING", sibling.name.clone()));
        env.push(("CONF_NETNS_SIBLING_IP", sibling.ip.to_string()));
    }
    if let Some(stranger) = lan.hosts.get(3) {
        env.push(("CONF_NETNS_STRANGER", stranger.name.clone()));
    }
    env
}

impl Lan {
    /// A tree whose root runs on host 0, with what the scenarios that
    /// span hosts read in its environment (`CONF_NETNS`, `CONF_NETNS_ROOT_IP`, …: see this module's `env`).
    pub fn tree(&self) -> crate::Tree {
        env(self)
            .iter()
            .fold(crate::Tree::new(), |t, (k, v)| t.env(k, v))
            .within(self.host(0).exec())
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        // A host's namespace takes its `eth0` with it, and so the switch's
        // end of the pair; the switch goes last.
        for name in self.made.iter().rev() {
            let _ = ip(&["netns", "delete", name]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_reach_each_other_and_are_removed() {
        if let Err(why) = Lan::available() {
            println!("skipped: {why}");
            return;
        }
        let lan = Lan::new(3).expect("a LAN");
        let names: Vec<String> = (0..3)
            .map(|i| lan.host(i).name().to_owned())
            .chain([lan.switch.clone()])
            .collect();
        assert_ne!(lan.host(0).ip, lan.host(2).ip);
        // Host 0 reaches host 2 through the switch, over TCP.
        if Command::new("python3").arg("-V").output().is_err() {
            println!("reachability not checked: no python3");
        } else {
            let server = Command::new("ip")
                .args(["netns", "exec", lan.host(2).name()])
                .args(["python3", "-c"])
                .arg(
                    "import socket,sys\n\
                     s=socket.socket();s.bind(('0.0.0.0',7001));s.listen();print('up',flush=True)\n\
                     c,_=s.accept();c.sendall(c.recv(16))",
                )
                .stdout(Stdio::piped())
                .spawn()
                .expect("python3 runs");
            /// Killed and reaped however the check ends.
            struct Server(std::process::Child);
            impl Drop for Server {
                fn drop(&mut self) {
                    let _ = self.0.kill();
                    let _ = self.0.wait();
                }
            }
            let mut server = Server(server);
            use std::io::BufRead;
            let mut up = String::new();
            let out = server.0.stdout.take().unwrap();
            std::io::BufReader::new(out).read_line(&mut up).unwrap();
            assert_eq!(up.trim(), "up");
            let echo = Command::new("ip")
                .args(["netns", "exec", lan.host(0).name()])
                .args(["python3", "-c"])
                .arg(format!(
                    "import socket\n\
                     s=socket.create_connection(('{}',7001),timeout=30);s.sendall(b'lan');\
                     print(s.recv(16).decode())",
                    lan.host(2).ip
                ))
                .output()
                .unwrap();
            drop(server);
            assert_eq!(
                String::from_utf8_lossy(&echo.stdout).trim(),
                "lan",
                "{echo:?}"
            );
        }
        drop(lan);
        let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
        let list = String::from_utf8_lossy(&list.stdout);
        for name in names {
            assert!(!list.contains(&name), "{name} left behind: {list}");
        }
    }
}
