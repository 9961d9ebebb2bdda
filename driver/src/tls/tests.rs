//! The filter over an in-memory connection, each end on a thread of its
//! own.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use super::*;
use crate::runtime::{
    BoxFuture, Connection, Listener, Process, ReadHalf, Runtime, SignalKind, SignalStream,
    StdListener, Target, WriteHalf,
};

/// Hang bound: nothing here should come near it.
const HANG: Duration = Duration::from_secs(30);

struct Unpark(thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

fn block_on<T>(fut: impl Future<Output = T>) -> T {
    let mut fut = pin!(fut);
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let start = Instant::now();
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        assert!(start.elapsed() < HANG, "hung");
        thread::park_timeout(Duration::from_millis(50));
    }
}

/// Only sleeps (by polling the clock).
struct Clock;

impl Runtime for Clock {
    fn spawn(&self, _: BoxFuture<'static, ()>) {
        unimplemented!()
    }
    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        Box::pin(poll_fn(move |cx| {
            if Instant::now() >= deadline {
                return Poll::Ready(());
            }
            // `block_on` polls again within its park timeout.
            let _ = cx;
            Poll::Pending
        }))
    }
    fn connect(&self, _: Target) -> BoxFuture<'static, io::Result<Connection>> {
        unimplemented!()
    }
    fn listen(&self, _: StdListener) -> io::Result<Box<dyn Listener>> {
        unimplemented!()
    }
    fn spawn_process(
        &self,
        _: std::process::Command,
        _: Option<std::process::Stdio>,
    ) -> io::Result<Box<dyn Process>> {
        unimplemented!()
    }
    fn signal(&self, _: SignalKind) -> io::Result<Box<dyn SignalStream>> {
        unimplemented!()
    }
}

#[derive(Default)]
struct Pipe {
    buf: VecDeque<u8>,
    closed: bool,
    reader: Option<Waker>,
}

struct R(Arc<Mutex<Pipe>>);
struct W(Arc<Mutex<Pipe>>);

impl ReadHalf for R {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut p = self.0.lock().unwrap();
        if p.buf.is_empty() {
            if p.closed {
                return Poll::Ready(Ok(0));
            }
            p.reader = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = buf.len().min(p.buf.len());
        for (b, v) in buf.iter_mut().zip(p.buf.drain(..n)) {
            *b = v;
        }
        Poll::Ready(Ok(n))
    }
}

impl W {
    fn close(&self) {
        let mut p = self.0.lock().unwrap();
        p.closed = true;
        if let Some(w) = p.reader.take() {
            w.wake();
        }
    }
}

impl WriteHalf for W {
    fn poll_write(&mut self, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let mut p = self.0.lock().unwrap();
        p.buf.extend(buf);
        if let Some(w) = p.reader.take() {
            w.wake();
        }
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_shutdown(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.close();
        Poll::Ready(Ok(()))
    }
}

impl Drop for W {
    fn drop(&mut self) {
        self.close();
    }
}

/// Two connected in-memory connections.
fn duplex() -> (Connection, Connection) {
    let (a, b) = (Arc::<Mutex<Pipe>>::default(), Arc::<Mutex<Pipe>>::default());
    (
        Connection {
            reader: Box::new(R(a.clone())),
            writer: Box::new(W(b.clone())),
        },
        Connection {
            reader: Box::new(R(b)),
            writer: Box::new(W(a)),
        },
    )
}

fn rt() -> Arc<dyn Runtime> {
    Arc::new(Clock)
}

async fn secure(conn: Connection, session: rustls::Connection) -> io::Result<Connection> {
    handshake(&rt(), conn, session, Instant::now() + HANG, |_| false).await
}

async fn read_all(conn: &mut Connection) -> io::Result<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 7];
    loop {
        match poll_fn(|cx| conn.reader.poll_read(cx, &mut buf)).await? {
            0 => return Ok(got),
            n => got.extend_from_slice(&buf[..n]),
        }
    }
}

async fn write_all(conn: &mut Connection, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let n = poll_fn(|cx| conn.writer.poll_write(cx, data)).await?;
        data = &data[n..];
    }
    Ok(())
}

async fn shutdown(conn: &mut Connection) -> io::Result<()> {
    poll_fn(|cx| conn.writer.poll_shutdown(cx)).await
}

fn tree() -> Tls {
    Tls::new(&TlsConfig::generate()).unwrap()
}

/// An actor of the tree whose CA is in `env`.
fn member(tls: &Tls) -> Tls {
    let get = |k: &str| {
        tls.env
            .iter()
            .find(|(key, _)| key == k)
            .and_then(|(_, v)| v.clone())
            .and_then(|v| v.into_string().ok())
            .unwrap()
    };
    let config = TlsConfig {
        source: Source::Ca {
            cert_pem: get(CA_PEM_ENV),
            key_pem: get(CA_KEY_PEM_ENV),
        },
        everywhere: false,
    };
    Tls::new(&config).unwrap()
}

#[test]
fn bytes_go_both_ways_inside_the_session_and_it_closes() {
    let root = tree();
    let child = member(&root);
    let (a, b) = duplex();
    let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    let expect = big.clone();
    let server = root.server().unwrap();
    let acceptor = thread::spawn(move || {
        block_on(async move {
            let mut conn = secure(a, server).await.unwrap();
            let got = read_all(&mut conn).await.unwrap();
            assert_eq!(got, expect);
            write_all(&mut conn, b"pong").await.unwrap();
            shutdown(&mut conn).await.unwrap();
        })
    });
    let client = child.client().unwrap();
    block_on(async move {
        let mut conn = secure(b, client).await.unwrap();
        write_all(&mut conn, &big).await.unwrap();
        shutdown(&mut conn).await.unwrap();
        assert_eq!(read_all(&mut conn).await.unwrap(), b"pong");
    });
    acceptor.join().unwrap();
}

#[test]
fn a_client_certificate_from_another_ca_is_refused() {
    let root = tree();
    let stranger = tree();
    // It trusts the root's CA but proves itself with a leaf of its own CA.
    let (_, chain, key) = {
        let get = |k: &str| {
            stranger
                .env
                .iter()
                .find(|(key, _)| key == k)
                .and_then(|(_, v)| v.clone())
                .and_then(|v| v.into_string().ok())
                .unwrap()
        };
        leaf_from_ca(&get(CA_PEM_ENV), &get(CA_KEY_PEM_ENV)).unwrap()
    };
    let root_ca = {
        let pem = root
            .env
            .iter()
            .find(|(key, _)| key == CA_PEM_ENV)
            .and_then(|(_, v)| v.clone())
            .unwrap();
        certs(pem.as_encoded_bytes(), "the root's CA").unwrap()
    };
    let (client_config, _) = configs(root_ca, chain, key).unwrap();
    let session =
        rustls::ClientConnection::new(client_config, ServerName::try_from(SERVER_NAME).unwrap())
            .map(rustls::Connection::Client)
            .unwrap();
    let (a, b) = duplex();
    let server = root.server().unwrap();
    let acceptor = thread::spawn(move || block_on(secure(a, server)).map(|_| ()));
    let client_side = block_on(async move {
        // TLS 1.3: the client is done first; the refusal reaches it as an
        // alert on its first read.
        let mut conn = secure(b, session).await?;
        let read = read_all(&mut conn).await;
        // The writer's next write fails with the same error, wrapped by
        // rustls itself: it is a refusal all the same.
        let write = write_all(&mut conn, b"after").await;
        Ok::<_, io::Error>((read, write))
    });
    let (read, write) = client_side.unwrap();
    let written = write.unwrap_err();
    assert!(
        super::refused_credentials(&written).is_some(),
        "not a refusal: {written:?}"
    );
    let client_side = read;
    let refused = acceptor.join().unwrap().unwrap_err();
    assert_eq!(refused.kind(), io::ErrorKind::InvalidData, "{refused}");
    assert!(refused.to_string().contains("certificate"), "{refused}");
    let e = client_side.unwrap_err();
    assert!(e.to_string().contains("alert"), "{e}");
    // Both sides see an authentication failure, not a broken connection.
    assert!(super::refused_credentials(&refused).is_some(), "{refused}");
    let said = super::refused_credentials(&e).unwrap_or_else(|| panic!("not a refusal: {e:?}"));
    assert!(said.contains("alert"), "{said}");
}

#[test]
fn a_server_certificate_from_another_ca_is_refused() {
    let root = tree();
    let stranger = tree();
    let (a, b) = duplex();
    let server = root.server().unwrap();
    let acceptor = thread::spawn(move || block_on(secure(a, server)).map(|_| ()));
    let e = block_on(secure(b, stranger.client().unwrap())).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    assert!(e.to_string().contains("certificate"), "{e}");
    assert!(super::refused_credentials(&e).is_some(), "{e}");
    assert!(acceptor.join().unwrap().is_err());
}

#[test]
fn a_plain_client_fails_the_acceptors_handshake_and_gets_no_bytes_of_ours() {
    let root = tree();
    let (a, mut b) = duplex();
    let server = root.server().unwrap();
    let acceptor = thread::spawn(move || block_on(secure(a, server)).map(|_| ()));
    let answer = block_on(async move {
        // A length-prefixed msgpack frame, as a plain peer opens with.
        write_all(&mut b, &[0, 0, 0, 3, 0x81, 0xa1, 0x41]).await?;
        read_all(&mut b).await
    })
    .unwrap();
    let e = acceptor.join().unwrap().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    // Nothing, or a TLS alert record.
    assert!(answer.is_empty() || answer[0] == 0x15, "{answer:?}");
}

#[test]
fn a_silent_peer_fails_the_handshake_at_its_deadline() {
    let root = tree();
    let (a, _b) = duplex();
    let deadline = Instant::now() + Duration::from_millis(200);
    let e = block_on(handshake(
        &rt(),
        a,
        root.server().unwrap(),
        deadline,
        |_| false,
    ))
    .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
}

#[test]
fn malformed_settings_are_named() {
    let dir = std::env::temp_dir().join(format!("tractor-tls-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.pem");
    std::fs::write(
        &bad,
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let missing = dir.join("missing.pem");
    for (config, named) in [
        (TlsConfig::from_pem_files(&bad, &bad, &bad), &bad),
        (TlsConfig::from_pem_files(&missing, &bad, &bad), &missing),
    ] {
        let e = Tls::new(&config).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Tls { .. }), "{e}");
        assert!(e.to_string().contains(&named.display().to_string()), "{e}");
    }
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let e = Tls::new(&TlsConfig::from_pem_files(&empty, &empty, &empty)).unwrap_err();
    assert!(e.to_string().contains("no certificate"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn files_written_from_a_generated_ca_work() {
    let root = tree();
    let get = |k: &str| {
        root.env
            .iter()
            .find(|(key, _)| key == k)
            .and_then(|(_, v)| v.clone())
            .and_then(|v| v.into_string().ok())
            .unwrap()
    };
    let (ca, chain, key) = leaf_from_ca(&get(CA_PEM_ENV), &get(CA_KEY_PEM_ENV)).unwrap();
    let dir = std::env::temp_dir().join(format!("tractor-tls-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pem = |tag: &str, der: &[u8]| {
        use std::fmt::Write;
        let b64 = base64ish(der);
        let mut s = format!("-----BEGIN {tag}-----\n");
        for line in b64.as_bytes().chunks(64) {
            let _ = writeln!(s, "{}", std::str::from_utf8(line).unwrap());
        }
        let _ = writeln!(s, "-----END {tag}-----");
        s
    };
    std::fs::write(dir.join("ca.pem"), pem("CERTIFICATE", &ca[0])).unwrap();
    std::fs::write(dir.join("cert.pem"), pem("CERTIFICATE", &chain[0])).unwrap();
    std::fs::write(dir.join("key.pem"), pem("PRIVATE KEY", key.secret_der())).unwrap();
    let host = Tls::new(&TlsConfig::from_pem_files(
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    ))
    .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let (a, b) = duplex();
    let server = host.server().unwrap();
    let acceptor = thread::spawn(move || block_on(secure(a, server)).map(|_| ()));
    block_on(secure(b, member(&root).client().unwrap())).unwrap();
    acceptor.join().unwrap().unwrap();
}

/// Standard base64, for the PEM files above.
fn base64ish(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn where_tls_applies() {
    let tls = tree();
    let tcp = |a: &str| Target::Tcp(a.parse().unwrap());
    assert!(tls.applies_to(&tcp("10.1.2.3:1616")));
    assert!(!tls.applies_to(&tcp("127.0.0.1:1616")));
    assert!(!tls.applies_to(&tcp("[::1]:1616")));
    assert!(!tls.applies_to(&Target::Unix("/tmp/x.sock".into())));
    assert!(tls.applies_to_accepted(Some("10.1.2.3:1616".parse().unwrap())));
    assert!(!tls.applies_to_accepted(Some("127.0.0.1:1616".parse().unwrap())));
    assert!(!tls.applies_to_accepted(Some("[::ffff:127.0.0.1]:1616".parse().unwrap())));
    assert!(tls.applies_to_accepted(Some("[::ffff:10.0.0.1]:1616".parse().unwrap())));
    assert!(!tls.applies_to_accepted(None));
    let mut all = tls.clone();
    all.everywhere = true;
    assert!(all.applies_to(&Target::Unix("/tmp/x.sock".into())));
    assert!(all.applies_to_accepted(None));
}

#[test]
fn a_tls_client_to_a_plain_acceptor_fails_when_it_hangs_up() {
    let root = tree();
    let (mut a, b) = duplex();
    // A plain acceptor: reads what looks to it like a frame too long, and
    // hangs up.
    let acceptor = thread::spawn(move || {
        block_on(async move {
            let mut buf = [0u8; 5];
            poll_fn(|cx| a.reader.poll_read(cx, &mut buf))
                .await
                .unwrap();
            shutdown(&mut a).await.unwrap();
            buf
        })
    });
    let e = block_on(secure(b, root.client().unwrap())).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
    assert!(e.to_string().contains("TLS handshake"), "{e}");
    // A peer that is not speaking TLS refused nothing: broken, not refused.
    assert!(super::refused_credentials(&e).is_none(), "{e}");
    // What it read: a TLS handshake record, not a frame of ours.
    assert_eq!(acceptor.join().unwrap()[0], 0x16);
}
