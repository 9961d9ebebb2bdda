//! The conformance suite of tractor for Rust.
//!
//! Each behaviour of the tractor scenario catalogue that needs real
//! processes is implemented once, by its scenario id, in the
//! `tractor-conformance` program, and run by the tests in `tests/` over
//! TCP and Unix sockets. `tests/scenarios.txt` lists every tier-1 and
//! tier-2 catalogue id of the suite's prefixes: the test that runs it, or
//! why it is not run here (`tests/catalogue.rs` keeps it complete).
//!
//! This library is the harness: [`Tree`] runs one scenario program as the
//! root of a real process tree, isolated from every other tree (its own
//! runtime directory for sockets, its own registrar), and afterwards checks
//! that no process of the tree survives and no socket file is left.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod netns;
pub mod peer;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// How long anything may take before the harness calls it a hang.
pub const HANG: Duration = Duration::from_secs(60);

/// The environment variable that marks every process of one tree; children
/// inherit it.
pub const MARKER: &str = "TRACTOR_CONFORMANCE_TREE";

/// The environment variable that picks the adapter of a program built with
/// both (the conformance program, the examples, the tree benchmark):
/// `smol`, or tokio when unset. Children inherit it, unless a scenario
/// gives a child another (mixed trees).
pub const ADAPTER: &str = tractor_adapters::ENV;

/// One isolated actor tree.
#[derive(Debug)]
pub struct Tree {
    marker: String,
    dir: PathBuf,
    adapter: Option<String>,
    env: Vec<(String, String)>,
    /// A command the root runs under (`ip netns exec <host>`), which
    /// must exec it: the root's pid stays the one started.
    within: Vec<String>,
    /// The processes alive when a root last exited by itself (one killed
    /// from outside leaves its tree to go on its own).
    outlived: std::sync::Mutex<Vec<(u32, String)>>,
    /// The roots started, by pid.
    roots: std::sync::Mutex<Vec<u32>>,
}

impl Default for Tree {
    fn default() -> Self {
        Self::new()
    }
}

impl Tree {
    /// A fresh tree: its own marker and runtime directory.
    pub fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let marker = format!("{}-{n}-{nanos}", std::process::id());
        let dir = std::env::temp_dir().join(format!("tractor-conf-{marker}"));
        std::fs::create_dir_all(&dir).expect("a runtime directory");
        Tree {
            marker,
            dir,
            adapter: None,
            env: Vec::new(),
            within: Vec::new(),
            outlived: Default::default(),
            roots: Default::default(),
        }
    }

    /// Runs the tree's programs on this adapter (`tokio` or `smol`):
    /// [`ADAPTER`] is set for the root, and children inherit it.
    pub fn adapter(mut self, adapter: &str) -> Self {
        self.adapter = Some(adapter.to_owned());
        self
    }

    /// Sets `key=value` in the root's environment (children inherit it).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Runs the root under `prefix` (`["ip", "netns", "exec", host]`: the
    /// root on another network namespace); the prefix must exec the
    /// program, so that the pid started is the root's.
    pub fn within(mut self, prefix: Vec<String>) -> Self {
        self.within = prefix;
        self
    }

    /// The tree's temporary directory (`TMPDIR` of its processes): where
    /// their task-tree dump logs go.
    pub fn temp_dir(&self) -> PathBuf {
        self.dir.clone()
    }

    /// The directory where the tree's Unix sockets live.
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.join("tractor")
    }

    /// The command that starts `program args…` as the tree's root, with
    /// the tree's marker, runtime directory and adapter; its standard
    /// streams are the caller's to choose (a pty, say).
    pub fn command(&self, program: &Path, args: &[&str]) -> Command {
        let mut command = match self.within.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(program);
                c
            }
            None => Command::new(program),
        };
        if let Some(a) = &self.adapter {
            command.env(ADAPTER, a);
        }
        command
            .args(args)
            .env(MARKER, &self.marker)
            .env("XDG_RUNTIME_DIR", &self.dir)
            .env("TMPDIR", &self.dir)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Starts `program args…` as the tree's root.
    pub fn spawn(&self, program: &Path, args: &[&str]) -> Running {
        let mut child = self
            .command(program, args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the scenario program starts");
        self.roots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(child.id());
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr = child.stderr.take().expect("piped stderr");
        let (etx, stderr_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            let _ = etx.send(s);
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
            stderr: stderr_rx,
        }
    }

    /// Runs `program args…` to its end.
    pub fn run(&self, program: &Path, args: &[&str]) -> Run {
        self.spawn(program, args).finish(self)
    }

    /// Processes of this tree still alive: `(pid, command line)`.
    pub fn survivors(&self) -> Vec<(u32, String)> {
        let needle = format!("{MARKER}={}", self.marker);
        let mut found = Vec::new();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return found;
        };
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(env) = std::fs::read(e.path().join("environ")) else {
                continue;
            };
            if env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) {
                let cmd = std::fs::read(e.path().join("cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                    .unwrap_or_default();
                found.push((pid, cmd));
            }
        }
        found
    }

    /// Socket files left in the tree's runtime directory.
    pub fn leftover_sockets(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.socket_dir())
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }

    /// Asserts that the tree left nothing behind: no process and no socket
    /// file. A root that exited by itself must have left no process alive
    /// at that moment; after a root killed from outside, a process still
    /// exiting gets until [`HANG`].
    pub fn assert_clean(&self) {
        let outlived =
            std::mem::take(&mut *self.outlived.lock().unwrap_or_else(|e| e.into_inner()));
        assert!(
            outlived.is_empty(),
            "processes outlived the root: {outlived:#?}"
        );
        let deadline = Instant::now() + HANG;
        while !self.survivors().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let survivors = self.survivors();
        assert!(
            survivors.is_empty(),
            "processes survived the tree: {survivors:#?}"
        );
        let sockets = self.leftover_sockets();
        assert!(sockets.is_empty(), "socket files left behind: {sockets:?}");
    }

    fn kill_all(&self) {
        for (pid, _) in self.survivors() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        // A failed test must not leak its processes into the next one.
        self.kill_all();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A root process running.
#[derive(Debug)]
pub struct Running {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Receiver<String>,
}

impl Running {
    /// The root's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the root has exited (then [`Running::finish`] returns at
    /// once).
    pub fn exited(&mut self) -> bool {
        self.child
            .try_wait()
            .expect("waiting for the root")
            .is_some()
    }

    /// Waits until the program prints `line` (panics after [`HANG`]).
    pub fn wait_for_line(&mut self, line: &str) {
        let deadline = Instant::now() + HANG;
        while !self.seen.iter().any(|l| l == line) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(_) => panic!("no {line:?} from the program; saw {:?}", self.seen),
            }
        }
    }

    /// Waits until the program prints the fact `key=…` and returns its
    /// value (panics after [`HANG`]).
    pub fn wait_for_fact(&mut self, key: &str) -> String {
        let prefix = format!("{key}=");
        let deadline = Instant::now() + HANG;
        loop {
            if let Some(v) = self.seen.iter().find_map(|l| l.strip_prefix(&prefix)) {
                return v.to_owned();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(_) => panic!("no fact {key:?} from the program; saw {:?}", self.seen),
            }
        }
    }

    /// Sends a signal to the root (`"INT"`, `"KILL"`, …).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{name} failed");
    }

    /// Waits for the root to exit (panics after [`HANG`], killing the tree).
    pub fn finish(mut self, tree: &Tree) -> Run {
        let deadline = Instant::now() + HANG;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("waiting for the root") {
                break s;
            }
            if Instant::now() > deadline {
                tree.kill_all();
                panic!("the tree hung; output so far: {:?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        // The moment the root is gone: whatever of the tree is still
        // alive outlived it.
        // Other roots of the tree that still run keep theirs.
        let mut survivors = tree.survivors();
        let roots = tree.roots.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let others: Vec<u32> = roots.into_iter().filter(|r| *r != self.pid()).collect();
        let theirs = below(&others);
        survivors.retain(|(pid, _)| !others.contains(pid) && !theirs.contains(pid));
        use std::os::unix::process::ExitStatusExt;
        if status.signal() != Some(9) {
            tree.outlived
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(survivors);
        }
        let mut stdout = self.seen;
        stdout.extend(self.lines.iter());
        let stderr = self.stderr.recv().unwrap_or_default();
        Run {
            code: status.code(),
            signal: status.signal(),
            facts: stdout
                .iter()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            stdout,
            stderr,
        }
    }
}

/// Every process below any of `roots`, as `/proc` shows them now.
fn below(roots: &[u32]) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter_map(|pid| {
                    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                    // `pid (comm) state ppid …`
                    let rest = &stat[stat.rfind(')')? + 1..];
                    Some((pid, rest.split_ascii_whitespace().nth(1)?.parse().ok()?))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut found: Vec<u32> = Vec::new();
    let mut frontier = roots.to_vec();
    while let Some(p) = frontier.pop() {
        for &(pid, ppid) in &parents {
            if ppid == p && !found.contains(&pid) {
                found.push(pid);
                frontier.push(pid);
            }
        }
    }
    found
}

/// What a finished root printed and how it ended.
#[derive(Debug)]
pub struct Run {
    /// Its exit code.
    pub code: Option<i32>,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
    /// Its stdout lines.
    pub stdout: Vec<String>,
    /// Its stderr.
    pub stderr: String,
    /// Its `key=value` lines.
    pub facts: BTreeMap<String, String>,
}

impl Run {
    /// Asserts that the scenario passed: exit code 0 and `ok` printed.
    pub fn assert_ok(&self) -> &Self {
        assert!(
            self.code == Some(0) && self.stdout.last().is_some_and(|l| l == "ok"),
            "the scenario failed ({:?}):\n{}\n{}",
            self.code,
            self.stdout.join("\n"),
            self.stderr
        );
        self
    }

    /// The first line of its stderr that contains every one of `parts`
    /// (a log line, found by what it must say).
    pub fn stderr_line(&self, parts: &[&str]) -> Option<&str> {
        self.stderr
            .lines()
            .find(|l| parts.iter().all(|p| l.contains(p)))
    }

    /// One printed fact.
    pub fn fact(&self, key: &str) -> &str {
        self.facts
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no fact {key:?} in {:?}\n{}", self.stdout, self.stderr))
    }
}

/// The number printed right after `marker` in `text` (a pid, a port);
/// panics, naming both, if there is none.
pub fn number_after(text: &str, marker: &str) -> u64 {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker:?} in {text:?}"));
    let digits: String = text[at + marker.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after {marker:?} in {text:?}"))
}

/// The binary of example `name` of the crate whose test calls this:
/// `cargo test -p <crate>` builds a crate's examples beside its tests (a
/// test run alone, `--test <file>`, does not, which the panic says).
pub fn example_binary(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().expect("the test binary's path");
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is not built: `cargo test -p <crate>` builds the examples, \
         `--test <file>` alone does not",
        path.display()
    );
    path
}
