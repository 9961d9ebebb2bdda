//! Network namespaces for trees that span "hosts": a namespace joined to
//! the root namespace by a veth pair, each end with a private address of
//! its own /30, removed again when the fixture is dropped (a failing test
//! too: drop runs as the panic unwinds).
//!
//! It needs root and `ip` (iproute2): [`Netns::available`] says why a
//! machine cannot, and tests that need one then say so and return.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// A network namespace joined to the root namespace by a veth pair.
#[derive(Debug)]
pub struct Netns {
    name: String,
    host_link: String,
    /// What this fixture made, and so removes: never another's namespace
    /// or link of the same name.
    made_ns: bool,
    made_link: bool,
    /// The address of the root namespace's end.
    pub root_ip: Ipv4Addr,
    /// The address of the namespace's end.
    pub ns_ip: Ipv4Addr,
}

/// Runs `ip args…`: its failure, with what it said, as the error.
fn ip(args: &[&str]) -> Result<(), String> {
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

impl Netns {
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

    /// A fresh namespace with its veth pair up (and its `lo`), addressed
    /// from a /30 of `10.199.0.0/16` unique to this process and call.
    pub fn new() -> Result<Netns, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let k = NEXT.fetch_add(1, Ordering::Relaxed);
        // 16384 subnets of 4 addresses: by pid and call, so that test
        // processes running at once do not meet.
        let n = (std::process::id().wrapping_mul(16).wrapping_add(k)) % 16384;
        let base = n * 4;
        let octets = |host: u32| {
            let a = base + host;
            Ipv4Addr::new(10, 199, (a >> 8) as u8, (a & 0xff) as u8)
        };
        let mut ns = Netns {
            name: format!("tractor-{}-{k}", std::process::id()),
            host_link: format!("trh{n}"),
            made_ns: false,
            made_link: false,
            root_ip: octets(1),
            ns_ip: octets(2),
        };
        // From here on, a failure drops `ns`, which removes what was made.
        let peer = format!("trn{n}");
        let (root_cidr, ns_cidr) = (format!("{}/30", ns.root_ip), format!("{}/30", ns.ns_ip));
        ip(&["netns", "add", &ns.name])?;
        ns.made_ns = true;
        ip(&[
            "link",
            "add",
            &ns.host_link,
            "type",
            "veth",
            "peer",
            "name",
            &peer,
        ])?;
        ns.made_link = true;
        ip(&["link", "set", &peer, "netns", &ns.name])?;
        ip(&["addr", "add", &root_cidr, "dev", &ns.host_link])?;
        ip(&["link", "set", &ns.host_link, "up"])?;
        ip(&["-n", &ns.name, "addr", "add", &ns_cidr, "dev", &peer])?;
        ip(&["-n", &ns.name, "link", "set", &peer, "up"])?;
        ip(&["-n", &ns.name, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The root namespace's end of the veth pair: setting it down
    /// partitions the namespace from the root's (`ip link set <it> down`).
    pub fn link(&self) -> &str {
        &self.host_link
    }

    /// The namespace's name, for `ip netns exec <name>`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting one end deletes the pair; the namespace goes last.
        if self.made_link {
            let _ = ip(&["link", "delete", &self.host_link]);
        }
        if self.made_ns {
            let _ = ip(&["netns", "delete", &self.name]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_is_made_reachable_and_removed() {
        if let Err(why) = Netns::available() {
            println!("skipped: {why}");
            return;
        }
        let ns = Netns::new().expect("a namespace");
        let name = ns.name().to_owned();
        assert_ne!(ns.root_ip, ns.ns_ip);
        let ping = Command::new("ip")
            .args(["netns", "exec", &name, "ping", "-c1", "-W5"])
            .arg(ns.root_ip.to_string())
            .output();
        if let Ok(out) = ping {
            // No `ping` on the machine: the rest still holds.
            if !String::from_utf8_lossy(&out.stderr).contains("No such file") {
                assert!(out.status.success(), "{out:?}");
            }
        }
        drop(ns);
        let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
        assert!(!String::from_utf8_lossy(&list.stdout).contains(&name));
    }
}
