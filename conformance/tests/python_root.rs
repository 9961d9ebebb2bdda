//! A Rust child under a Python root, over real sockets.
//!
//! The root here is a script: it plays Python tractor's root from the
//! recorded `debug_pause` conversation, frame by frame, to a real Rust
//! child process on a pty. Each frame the recorded root sent is sent again,
//! in the recorded order, and only once the child has sent every frame the
//! recorded child had sent before it; each frame the child sends must be
//! the one the recorded child sent next on that connection.
//!
//! What differs from run to run is mapped, and nothing else: the root's
//! port (substituted in the root's frames), the child's pid, its port, its
//! made-up cids and its task id (taken from the child's frames, checked for
//! shape). The child gets the recorded uuid, so its uid needs no mapping.
//! Apart from the child's `Aid` (which offers credit flow under a key
//! Python ignores), every frame the child sends must be byte-identical to
//! the recorded one once those values are mapped.

#[path = "../../protocol/tests/common/mod.rs"]
mod common;

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use rexpect::session::spawn_command;
use serde_json::Value;
use tractor_adapters::Adapter;
use tractor_conformance::{HANG, Tree};
use tractor_protocol::{Address, ChildArgs, Raw, Uid};

use common::{Transcript, WireFrame, transcript};

const PROGRAM: &str = env!("CARGO_BIN_EXE_tractor-conformance");

/// The adapters, by name, in the order of `Adapter::ALL`.
fn adapters() -> impl Iterator<Item = &'static str> {
    Adapter::ALL.into_iter().map(Adapter::name)
}

/// Frames larger than this end the test: nothing in the conversation
/// comes near it.
const MAX_FRAME: usize = 1 << 20;

/// What the connection threads report.
enum Wire {
    /// A connection was accepted: its number and a handle to write on.
    Accepted(usize, TcpStream),
    /// A frame's body arrived on connection `n`.
    Frame(usize, Vec<u8>),
    /// Connection `n` ended.
    Closed(usize),
}

/// Reads frames (`u32` little-endian length, then the body) until the
/// connection ends.
fn read_frames(n: usize, mut stream: TcpStream, tx: Sender<Wire>) {
    loop {
        let mut len = [0u8; 4];
        if stream.read_exact(&mut len).is_err() {
            break;
        }
        let len = u32::from_le_bytes(len) as usize;
        assert!(len <= MAX_FRAME, "connection {n}: a frame of {len} bytes");
        let mut body = vec![0; len];
        if stream.read_exact(&mut body).is_err() {
            break;
        }
        if tx.send(Wire::Frame(n, body)).is_err() {
            return;
        }
    }
    let _ = tx.send(Wire::Closed(n));
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

fn encode(v: &Value) -> Vec<u8> {
    Raw::encode(v)
        .expect("a JSON value encodes")
        .as_bytes()
        .to_vec()
}

fn decode(body: &[u8]) -> Value {
    let raw = Raw::from_msgpack(body.to_vec()).expect("the child sent msgpack");
    raw.decode::<Value>()
        .expect("the child's frame reads as a value")
}

/// Replaces, anywhere in `v`, every string in `map` and every address
/// equal to `from` with `to`.
fn substitute(v: &mut Value, strings: &HashMap<String, String>, from: &Value, to: &Value) {
    if v == from {
        *v = to.clone();
        return;
    }
    match v {
        Value::String(s) => {
            if let Some(o) = strings.get(s.as_str()) {
                *s = o.clone();
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|i| substitute(i, strings, from, to)),
        Value::Object(m) => m
            .values_mut()
            .for_each(|i| substitute(i, strings, from, to)),
        _ => {}
    }
}

/// The scripted Python root.
struct PythonRoot<'t> {
    t: &'t Transcript,
    /// The recorded root address and ours.
    recorded_addr: Value,
    our_addr: Value,
    child_pid: u32,
    events: Receiver<Wire>,
    /// Accepted connections, by number: the writing half.
    sockets: HashMap<usize, TcpStream>,
    /// Which accepted connection plays which recorded one.
    conn_of: HashMap<usize, String>,
    socket_of: HashMap<String, usize>,
    /// Frames of connections not yet matched to a recorded one.
    unmatched: HashMap<usize, Vec<Vec<u8>>>,
    /// Frames received, per recorded connection, not yet compared.
    queued: HashMap<String, VecDeque<Vec<u8>>>,
    /// The recorded child's cids, and other strings it made up, to ours.
    strings: HashMap<String, String>,
    /// Accepted connections that ended.
    closed: HashSet<usize>,
    /// Set just before the frame that grants the terminal lock is sent.
    granted: Arc<AtomicBool>,
}

impl PythonRoot<'_> {
    /// The recorded connection that accepted connection `n` plays: the
    /// first is the child's connection to its parent; any other is known
    /// by the function its first request calls.
    fn classify(&self, n: usize) -> Option<String> {
        let first_conn = &self.t.wire[0].conn;
        if n == 0 {
            return Some(first_conn.clone());
        }
        let frames = &self.unmatched[&n];
        let start = frames
            .iter()
            .map(|b| decode(b))
            .find(|m| m["msg_type"] == "Start")?;
        let conn = self
            .t
            .wire
            .iter()
            .filter(|w| w.actor == "child" && w.msg_type == "Start")
            .find(|w| w.msg["func"] == start["func"] && !self.socket_of.contains_key(&w.conn))
            .unwrap_or_else(|| panic!("the child opened a connection for {start}, unrecorded"))
            .conn
            .clone();
        Some(conn)
    }

    /// Takes one report from the connection threads, waiting for `what`.
    fn pump(&mut self, what: &str) {
        let event = self
            .events
            .recv_timeout(HANG)
            .unwrap_or_else(|_| panic!("waiting for {what}: the child went silent (a hang)"));
        match event {
            Wire::Accepted(n, stream) => {
                // Python sends its Aid at once on every connection, as the
                // recorded root did.
                let aid = self
                    .t
                    .wire
                    .iter()
                    .find(|w| w.actor == "root" && w.msg_type == "Aid")
                    .expect("the root's Aid is recorded");
                let mut stream = stream;
                stream
                    .write_all(&aid.frame)
                    .expect("sending the root's Aid");
                self.sockets.insert(n, stream);
                self.unmatched.insert(n, Vec::new());
            }
            Wire::Frame(n, body) => match self.conn_of.get(&n) {
                Some(conn) => self.queued.entry(conn.clone()).or_default().push_back(body),
                None => {
                    self.unmatched.get_mut(&n).expect("accepted").push(body);
                    if let Some(conn) = self.classify(n) {
                        let frames = self.unmatched.remove(&n).unwrap_or_default();
                        self.queued.entry(conn.clone()).or_default().extend(frames);
                        self.socket_of.insert(conn.clone(), n);
                        self.conn_of.insert(n, conn);
                    }
                }
            },
            Wire::Closed(n) => {
                assert!(
                    self.conn_of.contains_key(&n),
                    "connection {n} closed before it was known which it is: {:?}",
                    self.unmatched.get(&n)
                );
                self.closed.insert(n);
            }
        }
    }

    /// Plays the recorded conversation through.
    fn run(&mut self) {
        for w in &self.t.wire {
            let what = format!("seq {} ({} -> {} {})", w.seq, w.actor, w.peer, w.msg_type);
            if w.actor == "root" {
                self.send(&what, w);
            } else {
                let body = loop {
                    if let Some(b) = self.queued.get_mut(&w.conn).and_then(VecDeque::pop_front) {
                        break b;
                    }
                    let closed = self.socket_of.get(&w.conn).map(|n| self.closed.contains(n));
                    assert_ne!(
                        closed,
                        Some(true),
                        "{what}: the child closed the connection"
                    );
                    self.pump(&what);
                };
                self.compare(&what, w, &body);
            }
        }
        // The child, done, ends every connection and sends nothing more.
        while self.closed.len() < self.sockets.len() {
            self.pump("the child to close its connections");
        }
        for (conn, rest) in &self.queued {
            assert!(rest.is_empty(), "the child sent more on {conn}: {rest:?}");
        }
    }

    fn send(&mut self, what: &str, w: &WireFrame) {
        // Sent on accepting (see `pump`).
        if w.msg_type == "Aid" {
            return;
        }
        // The recorded bytes are what encoding the recorded message gives:
        // so re-encoding after mapping changes nothing else.
        assert_eq!(frame(&encode(&w.msg)), w.frame, "{what}: re-encoding");
        let mut msg = w.msg.clone();
        substitute(&mut msg, &self.strings, &self.recorded_addr, &self.our_addr);
        if msg["msg_type"] == "Started" && msg["pld"]["msg_type"] == "LockStatus" {
            assert_eq!(msg["pld"]["locked"], true, "{what}");
            self.granted.store(true, Ordering::SeqCst);
        }
        let n = *self
            .socket_of
            .get(&w.conn)
            .unwrap_or_else(|| panic!("{what}: the child never opened this connection"));
        let socket = self.sockets.get_mut(&n).expect("accepted");
        socket
            .write_all(&frame(&encode(&msg)))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
    }

    fn compare(&mut self, what: &str, w: &WireFrame, body: &[u8]) {
        let mut ours = decode(body);
        let mut theirs = w.msg.clone();
        // Made up by the child: learned from its frames, checked for shape.
        if let (Some(t), Some(o)) = (theirs["cid"].as_str(), ours["cid"].as_str())
            && w.msg_type == "Start"
        {
            assert_eq!(o.len(), t.len(), "{what}: a cid like Python's: {o}");
            self.strings.insert(t.to_owned(), o.to_owned());
        }
        match w.msg_type.as_str() {
            "Aid" => {
                assert_eq!(ours["pid"], self.child_pid, "{what}: the child's own pid");
                theirs["pid"] = self.child_pid.into();
                let offered = ours.as_object_mut().unwrap().remove("credit_flow");
                assert_eq!(offered, Some(Value::from(1)), "{what}");
            }
            "Start" if w.msg["func"] == "register_actor" => {
                let addr = &ours["kwargs"]["addr"];
                assert_eq!(addr[0], "127.0.0.1", "{what}: {ours}");
                assert!(
                    addr[1].as_u64().is_some_and(|p| p > 0 && p < 65536),
                    "{what}: {ours}"
                );
                theirs["kwargs"]["addr"][1] = addr[1].clone();
            }
            "Start" if w.msg["func"] == "lock_stdio_for_peer" => {
                let task = &ours["kwargs"]["subactor_task_uid"];
                assert!(task[1].is_i64(), "{what}: a task id: {ours}");
                theirs["kwargs"]["subactor_task_uid"][1] = task[1].clone();
            }
            _ => {}
        }
        substitute(&mut theirs, &self.strings, &Value::Null, &Value::Null);
        assert_eq!(ours.to_string(), theirs.to_string(), "{what}");
        if w.msg_type != "Aid" {
            assert_eq!(body, encode(&theirs), "{what}: the bytes");
        }
    }
}

/// The pid of the tree's one process, once it runs the child's program.
fn pid_of_child(tree: &Tree) -> u32 {
    let deadline = Instant::now() + HANG;
    loop {
        let found = tree.survivors();
        if let [(pid, cmd)] = found.as_slice()
            && cmd.contains("tractor._child")
        {
            return *pid;
        }
        assert!(Instant::now() < deadline, "the child never ran: {found:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs the conversation with a child on `adapter`.
fn child_takes_the_lock(adapter: &str) {
    let t = transcript("debug_pause");
    let listener = TcpListener::bind("127.0.0.1:0").expect("a listening socket");
    let port = listener.local_addr().unwrap().port();
    let recorded_addr = t.registrar_addr.clone();
    assert_eq!(recorded_addr[0], "127.0.0.1");
    let our_addr = serde_json::json!(["127.0.0.1", port]);

    let uuid = t
        .actors
        .iter()
        .find(|a| a.0 == "child")
        .expect("a child")
        .1
        .clone();
    let args = ChildArgs {
        uid: Uid::new("child", uuid),
        parent_addr: Address::tcp("127.0.0.1", port),
        loglevel: None,
        bootstrap_stdin: false,
        guest: false,
    }
    .to_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let tree = Tree::new().adapter(adapter);
    let mut pty = spawn_command(
        tree.command(Path::new(PROGRAM), &args),
        Some(HANG.as_millis() as u64),
    )
    .expect("the child starts on a pty");
    let child_pid = pid_of_child(&tree);

    let (tx, events) = mpsc::channel();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(stream) = stream else { break };
            let reader = stream.try_clone().expect("a second handle");
            if tx.send(Wire::Accepted(n, stream)).is_err() {
                break;
            }
            let tx = tx.clone();
            std::thread::spawn(move || read_frames(n, reader, tx));
        }
    });
    let granted = Arc::new(AtomicBool::new(false));
    let root_granted = granted.clone();
    let root = std::thread::spawn(move || {
        let t = transcript("debug_pause");
        let mut root = PythonRoot {
            t: &t,
            recorded_addr,
            our_addr,
            child_pid,
            events,
            sockets: HashMap::new(),
            conn_of: HashMap::new(),
            socket_of: HashMap::new(),
            unmatched: HashMap::new(),
            queued: HashMap::new(),
            strings: HashMap::new(),
            closed: HashSet::new(),
            granted: root_granted,
        };
        let played = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| root.run()));
        if played.is_err() {
            // Ends the child, so that the terminal's side stops waiting.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child_pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        played
    });

    let banner = match pty.exp_string("(Pdb+) ") {
        Ok(banner) => banner,
        Err(e) => {
            // The root's failure, if it failed, says more.
            if let Err(panic) = root.join().expect("joined") {
                std::panic::resume_unwind(panic);
            }
            panic!("{adapter}: waiting for the REPL's prompt: {e}");
        }
    };
    assert!(
        granted.load(Ordering::SeqCst),
        "{adapter}: a REPL opened before the root granted the lock:\n{banner}"
    );
    assert!(
        banner.contains("Opening a REPL in paused actor"),
        "{adapter}: {banner}"
    );
    assert!(banner.contains("|_child["), "{adapter}: {banner}");
    // Named after its task, as Python's REPL names `pause_then_return`.
    assert!(
        banner.contains("|_pause_then_return: pause at "),
        "{adapter}: {banner}"
    );
    pty.send_line("c").expect("typing c");
    if let Err(panic) = root.join().expect("joined") {
        std::panic::resume_unwind(panic);
    }
    let rest = pty.exp_eof().expect("the child exits");
    let status = pty.process().wait().expect("the child is reaped");
    assert_eq!(
        status,
        nix::sys::wait::WaitStatus::Exited(nix::unistd::Pid::from_raw(child_pid as i32), 0),
        "{adapter}: {rest}"
    );
    tree.assert_clean();
}

#[test]
fn dbg_child_takes_the_lock_from_a_python_root() {
    for adapter in adapters() {
        child_takes_the_lock(adapter);
    }
}
