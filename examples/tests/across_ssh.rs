//! The `across_hosts` example through real `ssh`: an OpenSSH server on
//! each of two hosts of a LAN of network namespaces, the root on a third,
//! its workers launched by `ssh` into the servers' hosts. It needs root,
//! `ip`, and OpenSSH's `sshd`, `ssh` and `ssh-keygen`; where one is
//! missing the test says which and returns.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{adapters, example};
use tractor_conformance::netns::Lan;
use tractor_conformance::{HANG, Tree};

const SSHD: &str = "/usr/sbin/sshd";

/// Why this machine cannot run the test, if it cannot.
fn missing() -> Option<String> {
    if let Err(why) = Lan::available() {
        return Some(format!("no network namespaces here: {why}"));
    }
    if !Path::new(SSHD).exists() {
        return Some(format!("no OpenSSH server at {SSHD}"));
    }
    for tool in ["ssh", "ssh-keygen"] {
        let found = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !found {
            return Some(format!("no `{tool}`"));
        }
    }
    None
}

/// `sshd` processes, stopped when dropped.
struct Servers(Vec<Child>);

impl Drop for Servers {
    fn drop(&mut self) {
        for s in &mut self.0 {
            let _ = s.kill();
            let _ = s.wait();
        }
    }
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", ""])
        .arg("-f")
        .arg(path)
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success(), "ssh-keygen -f {}", path.display());
}

/// An `sshd` on `host`'s address, taking `client`'s key for root.
fn sshd(lan: &Lan, host: usize, dir: &Path) -> Child {
    let config = dir.join(format!("sshd_{host}.conf"));
    std::fs::write(
        &config,
        format!(
            "ListenAddress {}:22\n\
             HostKey {dir}/host_key\n\
             AuthorizedKeysFile {dir}/authorized_keys\n\
             PermitRootLogin prohibit-password\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             UsePAM no\n\
             StrictModes no\n\
             PidFile none\n\
             LogLevel ERROR\n",
            lan.host(host).ip,
            dir = dir.display(),
        ),
    )
    .unwrap();
    Command::new("ip")
        .args([
            "netns",
            "exec",
            lan.host(host).name(),
            SSHD,
            "-D",
            "-e",
            "-f",
        ])
        .arg(&config)
        .stdin(Stdio::null())
        .spawn()
        .expect("sshd starts")
}

#[test]
fn the_across_hosts_example_runs_through_real_ssh() {
    if let Some(why) = missing() {
        println!("skipped: {why}");
        return;
    }
    let lan = Lan::new(3).expect("a LAN of three hosts");
    let keys = Tree::new();
    let dir: PathBuf = keys.temp_dir().join("ssh");
    std::fs::create_dir_all(&dir).unwrap();
    keygen(&dir.join("host_key"));
    keygen(&dir.join("id"));
    std::fs::copy(dir.join("id.pub"), dir.join("authorized_keys")).unwrap();
    // sshd's privilege separation directory, as its package makes it.
    std::fs::create_dir_all("/run/sshd").unwrap();
    let _servers = Servers(vec![sshd(&lan, 1, &dir), sshd(&lan, 2, &dir)]);
    let ssh = format!(
        "ssh -T -i {} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
         -o BatchMode=yes -o LogLevel=ERROR -o ConnectTimeout=30",
        dir.join("id").display()
    );
    let hosts = [lan.host(1).ip.to_string(), lan.host(2).ip.to_string()];
    // Both servers answer before the tree starts.
    for host in &hosts {
        let started = std::time::Instant::now();
        loop {
            let up = Command::new("ip")
                .args(["netns", "exec", lan.host(0).name()])
                .args(ssh.split_whitespace())
                .args([host.as_str(), "true"])
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if up {
                break;
            }
            assert!(started.elapsed() < HANG, "sshd on {host} never answered");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    let root_ip = lan.host(0).ip.to_string();
    for adapter in adapters() {
        let tree = Tree::new().adapter(adapter).within(lan.host(0).exec());
        let run = tree.run(
            &example("across_hosts"),
            &["--listen", &root_ip, "--ssh", &ssh, &hosts[0], &hosts[1]],
        );
        tree.assert_clean();
        let out = run.stdout.join("\n");
        assert_eq!(run.code, Some(0), "{adapter}:\n{out}\n{}", run.stderr);
        let pid_after = |line: &str| -> u32 {
            let at = line.find("(pid ").expect("a pid") + 5;
            line[at..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|d| d.parse().ok())
                .expect("a pid")
        };
        let line = |prefix: &str| {
            out.lines()
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("{adapter}: no {prefix:?} in:\n{out}"))
                .to_owned()
        };
        let root = line("root (pid ");
        let mut spaces = vec![root.rsplit(", ").next().unwrap().to_owned()];
        for i in 0..2 {
            let w = line(&format!("worker-{i} on "));
            let ns = w.split(", ").nth(1).unwrap().to_owned();
            assert!(ns.starts_with("net:["), "{adapter}: {w}");
            spaces.push(ns);
            assert!(
                out.contains(&format!("worker-{i} squared 5: [1, 4, 9, 16, 25]")),
                "{adapter}:\n{out}"
            );
            // The worker ran below its host's sshd, not below the root:
            // the root's tree check cannot see it, so it is checked here.
            let pid = pid_after(&w);
            assert!(
                !Path::new(&format!("/proc/{pid}")).exists(),
                "{adapter}: worker-{i} (pid {pid}) outlived the root"
            );
        }
        // Three hosts: the root's and each worker's.
        spaces.sort();
        spaces.dedup();
        assert_eq!(spaces.len(), 3, "{adapter}:\n{out}");
        assert!(
            out.contains("an error from worker-0: raised on the far side"),
            "{adapter}:\n{out}"
        );
        assert!(out.ends_with("every worker is gone"), "{adapter}:\n{out}");
    }
}
