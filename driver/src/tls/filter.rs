//! The TLS filter: a rustls session (itself sans-IO) driven from a
//! connection's poll-based halves.
//!
//! [`handshake`] runs the TLS handshake first, on both halves together,
//! within a deadline; then the connection is split again into a TLS
//! reader and a TLS writer sharing the session behind a mutex. What the
//! reader's processing queues for sending (a key update's answer, an
//! alert) goes out with the writer's next write or its shutdown: the
//! writer always sends everything the session has queued, whoever queued
//! it.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::runtime::{BoxFuture, Connection, ReadHalf, Runtime, WriteHalf};

/// How many bytes one read from the socket takes.
const READ_CHUNK: usize = 16 * 1024;

/// The local address of a connection's TCP socket, if it is one.
pub(crate) fn local_addr(reader: &dyn ReadHalf) -> Option<SocketAddr> {
    use nix::sys::socket::{SockaddrStorage, getsockname};
    let fd = reader.tcp_socket()?;
    let addr: SockaddrStorage = getsockname(std::os::fd::AsRawFd::as_raw_fd(&fd)).ok()?;
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    if let Some(v6) = addr.as_sockaddr_in6() {
        return Some(SocketAddr::V6((*v6).into()));
    }
    None
}

type Session = Arc<Mutex<rustls::Connection>>;

fn lock(s: &Session) -> MutexGuard<'_, rustls::Connection> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// A TLS session's failure, kept typed inside the `io::Error` the filter
/// returns, so that [`refused_credentials`] can tell what it was.
#[derive(Debug, thiserror::Error)]
#[error("TLS: {0}")]
struct TlsFailure(rustls::Error);

fn tls_err(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, TlsFailure(e))
}

/// If `e` is the filter's report that a certificate was refused, by
/// either side (this actor does not trust the peer's, or the peer sent an
/// alert refusing ours, or either side presented none), what was said: an
/// authentication failure, not a broken connection.
///
/// `decrypt_error` counts: it is the alert for a signature that does not
/// verify, which is what a certificate from another generated tree CA
/// gets (every generated CA has the same name, so only its signature
/// tells them apart). A handshake whose `Finished` check fails gets it
/// too, and is then reported as refused as well: tampering is a failure
/// to authenticate. Record decryption failures are `bad_record_mac`.
pub(crate) fn refused_credentials(e: &io::Error) -> Option<String> {
    use rustls::AlertDescription as A;
    // Ours, or rustls's own: a session that failed once returns its
    // error to every later write, wrapped by rustls.
    let inner = e.get_ref()?;
    let tls = match inner.downcast_ref::<TlsFailure>() {
        Some(TlsFailure(tls)) => tls,
        None => inner.downcast_ref::<rustls::Error>()?,
    };
    let refused = match tls {
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => true,
        rustls::Error::AlertReceived(alert) => matches!(
            alert,
            A::BadCertificate
                | A::UnsupportedCertificate
                | A::CertificateRevoked
                | A::CertificateExpired
                | A::CertificateUnknown
                | A::UnknownCA
                | A::AccessDenied
                | A::CertificateRequired
                | A::DecryptError
        ),
        _ => false,
    };
    refused.then(|| tls.to_string())
}

/// Encrypted bytes waiting to go out, and the socket's sending half.
struct Out {
    inner: Box<dyn WriteHalf>,
    buf: Vec<u8>,
    sent: usize,
}

impl Out {
    /// Takes what the session has queued.
    fn take(&mut self, tls: &mut rustls::Connection) -> io::Result<()> {
        if self.sent == self.buf.len() {
            self.buf.clear();
            self.sent = 0;
        }
        while tls.wants_write() {
            tls.write_tls(&mut self.buf)?;
        }
        Ok(())
    }

    /// Writes what waits, until done or the socket blocks.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.buf.len() {
            match self.inner.poll_write(cx, &self.buf[self.sent..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "write returned zero",
                    )));
                }
                Poll::Ready(Ok(n)) => self.sent += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// Bytes read from the socket that the session has not taken yet, and
/// the socket's receiving half.
struct In {
    inner: Box<dyn ReadHalf>,
    buf: Vec<u8>,
    used: usize,
    eof: bool,
}

impl In {
    /// Gives the session what waits; reads more from the socket if nothing
    /// does. `Ready(Ok(()))`: the session took something (or the stream
    /// ended).
    fn poll_feed(&mut self, cx: &mut Context<'_>, session: &Session) -> Poll<io::Result<()>> {
        if self.used == self.buf.len() && !self.eof {
            self.buf.resize(READ_CHUNK, 0);
            self.used = 0;
            match self.inner.poll_read(cx, &mut self.buf) {
                Poll::Ready(Ok(n)) => {
                    self.buf.truncate(n);
                    self.eof = n == 0;
                }
                Poll::Ready(Err(e)) => {
                    self.buf.clear();
                    return Poll::Ready(Err(e));
                }
                Poll::Pending => {
                    self.buf.clear();
                    return Poll::Pending;
                }
            }
        }
        let mut tls = lock(session);
        let mut rest = &self.buf[self.used..];
        let before = rest.len();
        // An empty slice tells the session the stream ended.
        tls.read_tls(&mut rest)?;
        if before > 0 && rest.len() == before {
            // Never so while what it took is processed at once: not to
            // spin on it.
            return Poll::Ready(Err(io::Error::other("the TLS session takes no more bytes")));
        }
        self.used += before - rest.len();
        tls.process_new_packets().map_err(tls_err)?;
        Poll::Ready(Ok(()))
    }
}

/// Runs the TLS handshake of `session` over `conn` until done, the
/// `deadline`, or `abandon` says to stop (it is given the task's waker to
/// call when that changes); then the connection with TLS under it.
pub(crate) async fn handshake(
    rt: &Arc<dyn Runtime>,
    conn: Connection,
    session: rustls::Connection,
    deadline: Instant,
    mut abandon: impl FnMut(&Waker) -> bool + Send,
) -> io::Result<Connection> {
    let session: Session = Arc::new(Mutex::new(session));
    let mut input = In {
        inner: conn.reader,
        buf: Vec::new(),
        used: 0,
        eof: false,
    };
    let mut out = Out {
        inner: conn.writer,
        buf: Vec::new(),
        sent: 0,
    };
    let mut sleep: BoxFuture<'static, ()> = rt.sleep_until(deadline);
    let result = std::future::poll_fn(|cx| {
        if abandon(cx.waker()) {
            return Poll::Ready(Err(io::Error::other("given up")));
        }
        loop {
            if let Err(e) = out.take(&mut lock(&session)) {
                return Poll::Ready(Err(e));
            }
            let flushed = match out.poll_flush(cx) {
                Poll::Ready(Ok(())) => true,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => false,
            };
            let (handshaking, wants_read) = {
                let tls = lock(&session);
                (tls.is_handshaking(), tls.wants_read())
            };
            if !handshaking && flushed {
                return Poll::Ready(Ok(()));
            }
            if handshaking && wants_read {
                if input.eof && input.used == input.buf.len() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the peer closed the connection during the TLS handshake",
                    )));
                }
                match input.poll_feed(cx, &session) {
                    Poll::Ready(Ok(())) => continue,
                    Poll::Ready(Err(e)) => {
                        // The alert the session queued, if it can go at once.
                        let _ = out.take(&mut lock(&session));
                        let _ = out.poll_flush(cx);
                        return Poll::Ready(Err(e));
                    }
                    Poll::Pending => {}
                }
            } else if flushed {
                // Handshaking, yet neither reading nor writing: cannot be.
                return Poll::Ready(Err(io::Error::other("the TLS handshake is stuck")));
            }
            return match sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the TLS handshake took too long",
                ))),
                Poll::Pending => Poll::Pending,
            };
        }
    })
    .await;
    result?;
    Ok(Connection {
        reader: Box::new(TlsReader {
            session: session.clone(),
            input,
        }),
        writer: Box::new(TlsWriter {
            session,
            out,
            accepted: None,
            closing: false,
        }),
    })
}

/// The receiving half with TLS under it.
struct TlsReader {
    session: Session,
    input: In,
}

impl ReadHalf for TlsReader {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        loop {
            {
                let mut tls = lock(&self.session);
                match tls.reader().read(buf) {
                    Ok(n) => return Poll::Ready(Ok(n)),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // The stream ended without the peer's close_notify: an
                    // end all the same (the frames above are length-prefixed,
                    // so a cut is seen there).
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        return Poll::Ready(Ok(0));
                    }
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
            if self.input.eof && self.input.used == self.input.buf.len() {
                return Poll::Ready(Ok(0));
            }
            match self.input.poll_feed(cx, &self.session) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn tcp_socket(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.input.inner.tcp_socket()
    }
}

/// The sending half with TLS under it.
struct TlsWriter {
    session: Session,
    out: Out,
    /// How much of the caller's bytes the session took, reported once
    /// their records are written: the caller passes the same bytes again
    /// after `Pending`, as the engine's writer does.
    accepted: Option<usize>,
    closing: bool,
}

impl WriteHalf for TlsWriter {
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            match self.out.poll_flush(cx) {
                Poll::Ready(Ok(())) => {}
                other => return other.map(|r| r.map(|()| 0)),
            }
            if let Some(n) = self.accepted.take() {
                return Poll::Ready(Ok(n));
            }
            let mut tls = lock(&self.session);
            let n = tls.writer().write(buf)?;
            self.out.take(&mut tls)?;
            drop(tls);
            if n == 0 && !buf.is_empty() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the TLS session took nothing",
                )));
            }
            self.accepted = Some(n);
        }
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.closing {
            self.closing = true;
            let mut tls = lock(&self.session);
            tls.send_close_notify();
            self.out.take(&mut tls)?;
        }
        match self.out.poll_flush(cx) {
            Poll::Ready(Ok(())) => self.out.inner.poll_shutdown(cx),
            other => other,
        }
    }
}
