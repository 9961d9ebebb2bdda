//! A raw peer for attacks from outside: plain blocking sockets speaking
//! the wire protocol by hand, and what `/proc` says of the process
//! attacked.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tractor_protocol::{Aid, FrameDecoder, Msg, Raw, Start, Uid};

use crate::{HANG, Run, Running, Tree};

/// A connected socket, TCP or Unix.
#[derive(Debug)]
pub enum Stream {
    /// TCP.
    Tcp(TcpStream),
    /// A Unix-domain socket.
    Unix(UnixStream),
}

impl Stream {
    /// Connects to an address as the `attack-daemon` scenario reports it:
    /// `tcp:<host>:<port>` or `uds:<path>`.
    pub fn connect(addr: &str) -> io::Result<Stream> {
        let s = match addr.split_once(':') {
            Some(("tcp", hp)) => Stream::Tcp(TcpStream::connect(hp)?),
            Some(("uds", path)) => Stream::Unix(UnixStream::connect(path)?),
            _ => return Err(io::Error::other(format!("not an address: {addr}"))),
        };
        s.set_read_timeout(Some(HANG))?;
        Ok(s)
    }

    /// Gives up on reads after `t`.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(t),
            Stream::Unix(s) => s.set_read_timeout(t),
        }
    }

    /// Gives up on writes after `t`.
    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_write_timeout(t),
            Stream::Unix(s) => s.set_write_timeout(t),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One message as a frame.
pub fn frame(msg: &Msg) -> Vec<u8> {
    let mut b = BytesMut::new();
    msg.encode_frame(&mut b).expect("a well-formed message");
    b.to_vec()
}

/// A peer speaking the protocol over a [`Stream`].
#[derive(Debug)]
pub struct RawPeer {
    /// The socket.
    pub stream: Stream,
    uid: Uid,
    decoder: FrameDecoder,
    buf: BytesMut,
    next: u64,
}

impl RawPeer {
    /// Connects to `addr` as `name`, without a handshake yet.
    pub fn connect(addr: &str, name: &str) -> io::Result<RawPeer> {
        // Each peer its own uid: dialogs are told apart by uid and cid.
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(RawPeer {
            stream: Stream::connect(addr)?,
            uid: Uid::new(name, format!("{name}-{}-{n}", std::process::id())),
            decoder: FrameDecoder::new(),
            buf: BytesMut::new(),
            next: 0,
        })
    }

    /// Who this peer says it is.
    pub fn uid(&self) -> &Uid {
        &self.uid
    }

    /// Our `Aid`, as a frame.
    pub fn aid_frame(&self) -> Vec<u8> {
        frame(&Msg::from(Aid {
            name: self.uid.name.clone(),
            uuid: self.uid.uuid.clone(),
            pid: Some(std::process::id()),
            is_registrar: Some(false),
            is_probe: false,
            credit_flow: None,
            auth: None,
        }))
    }

    /// Sends our `Aid` and reads the peer's.
    pub fn handshake(&mut self) -> io::Result<Aid> {
        let aid = self.aid_frame();
        self.stream.write_all(&aid)?;
        match self.recv()? {
            Some(Msg::Aid(aid)) => Ok(*aid),
            other => Err(io::Error::other(format!("expected an Aid, got {other:?}"))),
        }
    }

    /// A `Start` of `ns:func` with these keyword arguments, as a frame,
    /// and its cid.
    pub fn start_frame(&mut self, ns: &str, func: &str, kwargs: Raw) -> (String, Vec<u8>) {
        self.next += 1;
        let cid = format!("{:08x}-attack-{}", self.next, self.uid.name);
        let start = Start::new(cid.clone(), ns, func, kwargs, self.uid.clone());
        (cid, frame(&Msg::from(start)))
    }

    /// Sends a `Start` of `ns:func`: its cid.
    pub fn start(&mut self, ns: &str, func: &str, kwargs: Raw) -> io::Result<String> {
        let (cid, f) = self.start_frame(ns, func, kwargs);
        self.stream.write_all(&f)?;
        Ok(cid)
    }

    /// The next message; `None` at the end of the stream.
    pub fn recv(&mut self) -> io::Result<Option<Msg>> {
        loop {
            if let Some(f) = self
                .decoder
                .decode(&mut self.buf)
                .map_err(io::Error::other)?
            {
                return f.msg().map(Some).map_err(io::Error::other);
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = match self.stream.read(&mut chunk) {
                // A signal to this process (a test's child ending, say)
                // interrupted the wait: nothing was read.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => r?,
            };
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Calls `ns:func` and waits for its outcome (`Return` or `Error`),
    /// skipping the messages of other dialogs.
    pub fn call(&mut self, ns: &str, func: &str, kwargs: Raw) -> io::Result<Msg> {
        let cid = self.start(ns, func, kwargs)?;
        loop {
            match self.recv()? {
                Some(m @ Msg::Return(_)) if m.cid() == Some(cid.as_str()) => return Ok(m),
                Some(m @ Msg::Error(_)) if m.cid() == Some(cid.as_str()) => return Ok(m),
                Some(_) => {}
                None => return Err(io::ErrorKind::UnexpectedEof.into()),
            }
        }
    }
}

/// The descriptors process `pid` has open.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// A field of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The CPU time process `pid` has used, user and system, in clock ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    // utime and stime are fields 14 and 15 of the whole line.
    get(11).unwrap_or(0) + get(12).unwrap_or(0)
}

/// Waits until `f` holds, checking every few milliseconds; panics after
/// [`HANG`] with `what`.
pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + HANG;
    while !f() {
        assert!(Instant::now() < deadline, "hang: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the descriptor count of `pid` stays the same over a
/// quarter of a second: it.
pub fn settled_fds(pid: u32) -> usize {
    let mut last = fd_count(pid);
    let mut same = 0;
    wait_until("the descriptor count settles", || {
        std::thread::sleep(Duration::from_millis(50));
        let now = fd_count(pid);
        same = if now == last { same + 1 } else { 0 };
        last = now;
        same >= 5
    });
    last
}

/// Waits until process `pid` uses no more CPU over half a second:
/// returns how many such waits it took.
pub fn wait_cpu_idle(pid: u32) -> u32 {
    let mut last = cpu_ticks(pid);
    let mut rounds = 0;
    wait_until("the process goes idle", || {
        std::thread::sleep(Duration::from_millis(500));
        rounds += 1;
        let now = cpu_ticks(pid);
        let idle = now == last;
        last = now;
        idle
    });
    rounds
}

/// A daemon under attack: the `attack-daemon` scenario of the conformance
/// program.
#[derive(Debug)]
pub struct Attacked {
    /// Its tree.
    pub tree: Tree,
    /// The daemon.
    pub daemon: Running,
    /// Its process.
    pub pid: u32,
    /// Where it listens, for [`Stream::connect`].
    pub addr: String,
}

/// Starts `program`'s `attack-daemon` on `adapter` over `transport`
/// with these limits (`CONF_LIMITS`), logging warnings.
pub fn attack_daemon(
    program: &std::path::Path,
    adapter: &str,
    transport: &str,
    limits: &str,
) -> Attacked {
    let tree = Tree::new()
        .adapter(adapter)
        .env("CONF_LIMITS", limits)
        .env("TRACTOR_LOGLEVEL", "warning");
    let mut daemon = tree.spawn(program, &["attack-daemon", transport]);
    let pid: u32 = daemon.wait_for_fact("pid").parse().expect("a pid");
    let addr = daemon.wait_for_fact("addr");
    daemon.wait_for_line("ready=true");
    Attacked {
        tree,
        daemon,
        pid,
        addr,
    }
}

impl Attacked {
    /// Calls `conf:hi` over a fresh connection: the answer.
    pub fn hi(&self) -> String {
        self.try_hi().unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`hi`](Self::hi), or what went wrong: a connection refused while
    /// the daemon still works through a flood of others is its limits at
    /// work, not a failure.
    pub fn try_hi(&self) -> Result<String, String> {
        let mut p = RawPeer::connect(&self.addr, "caller").map_err(|e| format!("connect: {e}"))?;
        p.handshake().map_err(|e| format!("handshake: {e}"))?;
        match p.call("conf", "hi", Raw::EMPTY_MAP) {
            Ok(Msg::Return(r)) => r.pld.decode::<String>().map_err(|e| e.to_string()),
            Ok(other) => Err(format!("{other:?}")),
            Err(e) => Err(format!("call: {e}")),
        }
    }

    /// Waits until a call gets through: connections of a flood still in
    /// the listener's backlog (which no descriptor count shows) may take
    /// the pending-handshake slots for a while after the flood.
    pub fn wait_for_hi(&self) -> String {
        let mut last = String::new();
        wait_until("a call gets through after the flood", || {
            match self.try_hi() {
                Ok(hi) => {
                    last = hi;
                    true
                }
                Err(_) => false,
            }
        });
        last
    }

    /// Stops the daemon with SIGINT: it ends as asked, and its tree is
    /// gone.
    pub fn stop(self) -> Run {
        self.daemon.signal("INT");
        let r = self.daemon.finish(&self.tree);
        assert_eq!(r.fact("root_error"), "interrupted", "{r:?}");
        self.tree.assert_clean();
        r
    }
}

/// `conf:blob` of `n` bytes: its keyword arguments.
pub fn blob(n: u32) -> Raw {
    Raw::encode(&std::collections::BTreeMap::from([("n", n)])).expect("a map")
}

/// What [`non_reading_client`] saw.
#[derive(Debug, Clone)]
pub struct NonReading {
    /// The daemon's peak RSS (`VmHWM`), in KiB.
    pub peak_rss_kib: u64,
    /// Calls the well-behaved client completed meanwhile.
    pub good_calls: usize,
    /// Calls the bad client got written.
    pub bad_calls_sent: usize,
    /// CPU time the daemon used from the bad client's departure until it
    /// went idle, in clock ticks (1/100 s).
    pub cpu_ticks_after: u64,
}

/// A client that pipelines up to `calls` calls of `conf:blob` (`reply`
/// bytes each) and never reads a reply, for at most `patience`, beside a
/// well-behaved client calling `conf:hi` over and over; then the bad one
/// leaves and the daemon is watched until it goes idle.
pub fn non_reading_client(
    daemon: &Attacked,
    calls: usize,
    reply: u32,
    patience: Duration,
) -> NonReading {
    let pid = daemon.pid;
    let mut bad = RawPeer::connect(&daemon.addr, "hog").expect("a connection");
    bad.handshake().expect("a handshake");
    bad.stream
        .set_write_timeout(Some(Duration::from_millis(100)))
        .expect("a timeout");
    let mut frames = Vec::new();
    let mut ends = Vec::new();
    for _ in 0..calls {
        frames.extend(bad.start_frame("conf", "blob", blob(reply)).1);
        ends.push(frames.len());
    }
    let writer = std::thread::spawn(move || {
        // Until all is written or patience runs out: a write blocks once
        // the daemon stops reading.
        let until = Instant::now() + patience;
        let mut at = 0;
        while at < frames.len() && Instant::now() < until {
            match bad.stream.write(&frames[at..]) {
                Ok(n) => at += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => break,
            }
        }
        let sent = ends.iter().take_while(|e| **e <= at).count();
        (bad, sent)
    });
    let mut good = RawPeer::connect(&daemon.addr, "good").expect("a connection");
    good.handshake().expect("a handshake");
    let mut good_calls = 0;
    while !writer.is_finished() || good_calls < 10 {
        match good.call("conf", "hi", Raw::EMPTY_MAP) {
            Ok(Msg::Return(_)) => good_calls += 1,
            other => panic!("the good client's call: {other:?}"),
        }
    }
    let (bad, bad_calls_sent) = writer.join().expect("the writer");
    let peak_rss_kib = status_kib(pid, "VmHWM");
    let before = cpu_ticks(pid);
    drop(bad);
    wait_cpu_idle(pid);
    NonReading {
        peak_rss_kib,
        good_calls,
        bad_calls_sent,
        cpu_ticks_after: cpu_ticks(pid).saturating_sub(before),
    }
}
