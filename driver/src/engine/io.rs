//! Connections: the reader and writer of each, listeners, connecting and
//! probing, and the timer task that serves the core's deadline.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tractor_protocol::{Address, Aid, ChannelId, CloseReason, ProbeAnswer};

use super::{Conn, Shared, State};
use crate::runtime::{BoxFuture, Connection, Listener};
use crate::task_record::runtime_task;

/// How many queued bytes one write may carry: the frames queued behind
/// `first`, joined up to this size, go out in a single write.
pub(super) const WRITE_BATCH: usize = 64 * 1024;

/// `first` and the frames queued after it, joined while they fit in
/// [`WRITE_BATCH`].
pub(super) fn coalesce(first: Bytes, queued: &mut VecDeque<Bytes>) -> Bytes {
    let more = queued
        .iter()
        .scan(first.len(), |len, b| {
            *len += b.len();
            (*len <= WRITE_BATCH).then_some(())
        })
        .count();
    if more == 0 {
        return first;
    }
    let mut joined = BytesMut::with_capacity(
        first.len() + queued.iter().take(more).map(Bytes::len).sum::<usize>(),
    );
    joined.extend_from_slice(&first);
    for b in queued.drain(..more) {
        joined.extend_from_slice(&b);
    }
    joined.freeze()
}

/// A connection's outgoing queue and its tasks' wakers.
#[derive(Default)]
pub(crate) struct ChanCtl {
    pub(super) q: Mutex<ChanQ>,
}

#[derive(Default)]
pub(super) struct ChanQ {
    pub(super) out: VecDeque<Bytes>,
    /// Both tasks stop: the reader at once, the writer once `out` is
    /// written.
    pub(super) closing: bool,
    /// Both tasks stop at once; nothing more is written.
    pub(super) aborted: bool,
    /// The core asked for no more reads for now.
    pub(super) paused: bool,
    pub(super) writer: Option<Waker>,
    pub(super) reader: Option<Waker>,
}

impl ChanCtl {
    pub(super) fn lock(&self) -> MutexGuard<'_, ChanQ> {
        self.q.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn push(&self, data: Bytes) {
        let mut q = self.lock();
        q.out.push_back(data);
        if let Some(w) = q.writer.take() {
            w.wake();
        }
    }

    pub(crate) fn close(&self) {
        let mut q = self.lock();
        q.closing = true;
        for w in [q.writer.take(), q.reader.take()].into_iter().flatten() {
            w.wake();
        }
    }

    /// Stops both tasks at once, dropping what is not written: the
    /// connection is released as soon as they see it.
    pub(super) fn abort(&self) {
        let mut q = self.lock();
        q.closing = true;
        q.aborted = true;
        q.out.clear();
        for w in [q.writer.take(), q.reader.take()].into_iter().flatten() {
            w.wake();
        }
    }

    /// Pauses or resumes the reader.
    pub(super) fn set_paused(&self, paused: bool) {
        let mut q = self.lock();
        q.paused = paused;
        if !paused && let Some(w) = q.reader.take() {
            w.wake();
        }
    }

    pub(super) fn is_closing(&self) -> bool {
        self.lock().closing
    }
}

impl Shared {
    /// Starts the reader and writer of a new connection.
    pub(super) fn start_io(
        self: &Arc<Self>,
        st: &mut State,
        channel: ChannelId,
        ctl: Arc<ChanCtl>,
        conn: Connection,
    ) {
        let Connection { reader, writer } = conn;
        // A silent peer is found within the tree's keepalive, idle or not.
        if let (Some(socket), Some(keepalive)) = (
            reader.tcp_socket(),
            st.actor.config().limits.keepalive_probes(),
        ) && let Err(e) = crate::transport::set_keepalive(socket, &keepalive)
        {
            tracing::warn!(target: "tractor::transport", %channel, error = %e, "keepalive not set");
        }
        st.chans.insert(channel, ctl.clone());
        st.io_tasks += 2;
        let shared = self.clone();
        let rctl = ctl.clone();
        self.rt
            .spawn(runtime_task(format!("reader of {channel}"), async move {
                shared.run_reader(channel, rctl, reader).await;
                shared.with(|st, _| {
                    st.io_tasks -= 1;
                    st.wake_all();
                });
            }));
        let shared = self.clone();
        self.rt
            .spawn(runtime_task(format!("writer of {channel}"), async move {
                shared.run_writer(channel, ctl.clone(), writer).await;
                shared.with(|st, _| {
                    // The connection is done with: flushed and shut, broken
                    // or dropped.
                    if st.chans.get(&channel).is_some_and(|c| Arc::ptr_eq(c, &ctl)) {
                        st.chans.remove(&channel);
                    }
                    st.io_tasks -= 1;
                    st.wake_all();
                });
            }));
    }

    /// Runs the TLS handshake of a connection accepted as `channel`
    /// before its reader and writer start. The core counts it as a
    /// connection still handshaking (`Limits::max_pending_connections`)
    /// from the start; it fails at the core's handshake timeout at the
    /// latest, or when the core gives up on the channel.
    fn accept_tls(
        self: &Arc<Self>,
        st: &mut State,
        channel: ChannelId,
        ctl: Arc<ChanCtl>,
        conn: Connection,
        session: std::io::Result<rustls::Connection>,
    ) {
        st.chans.insert(channel, ctl.clone());
        let deadline = Instant::now() + st.actor.config().handshake_timeout;
        let shared = self.clone();
        self.rt.spawn(runtime_task(
            format!("TLS handshake of {channel}"),
            async move {
                let secured = match session {
                    Ok(session) => shared.secure(&ctl, conn, session, deadline).await,
                    Err(e) => Err(e),
                };
                shared.with(|st, now| {
                    let failed = match secured {
                        Ok(conn) if !ctl.is_closing() => {
                            return shared.start_io(st, channel, ctl, conn);
                        }
                        Ok(_) => None,
                        Err(e) => Some(e),
                    };
                    // No reader nor writer will forget the channel: done here.
                    if st.chans.get(&channel).is_some_and(|c| Arc::ptr_eq(c, &ctl)) {
                        st.chans.remove(&channel);
                    }
                    if let Some(e) = failed {
                        tracing::info!(target: "tractor::transport", %channel, error = %e, "TLS handshake failed: connection refused");
                        if !Self::refused(st, now, channel, &e) {
                            st.actor.handle_closed(now, channel, Some(format!("TLS handshake: {e}")));
                        }
                    }
                });
            },
        ));
    }

    /// If `e` says TLS refused the peer's credentials or the peer ours,
    /// reports `channel` failed as unauthenticated, and true; else false,
    /// and the caller reports it as it would any failure.
    pub(super) fn refused(
        st: &mut State,
        now: Instant,
        channel: ChannelId,
        e: &std::io::Error,
    ) -> bool {
        let Some(why) = crate::tls::refused_credentials(e) else {
            return false;
        };
        st.actor
            .handle_refused(now, channel, tractor_protocol::AuthError::Certificate(why));
        true
    }

    /// `conn` with TLS under it, once `session`'s handshake is done (by
    /// `deadline`, and unless `ctl` is closed meanwhile).
    pub(super) async fn secure(
        self: &Arc<Self>,
        ctl: &Arc<ChanCtl>,
        conn: Connection,
        session: rustls::Connection,
        deadline: Instant,
    ) -> std::io::Result<Connection> {
        crate::tls::handshake(&self.rt, conn, session, deadline, |waker| {
            let mut q = ctl.lock();
            q.reader = Some(waker.clone());
            q.closing
        })
        .await
    }

    pub(super) async fn run_reader(
        self: &Arc<Self>,
        channel: ChannelId,
        ctl: Arc<ChanCtl>,
        mut reader: Box<dyn crate::runtime::ReadHalf>,
    ) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let read = poll_fn(|cx| {
                {
                    let mut q = ctl.lock();
                    if q.closing {
                        return Poll::Ready(None);
                    }
                    q.reader = Some(cx.waker().clone());
                    if q.paused {
                        return Poll::Pending;
                    }
                }
                reader.poll_read(cx, &mut buf).map(Some)
            })
            .await;
            match read {
                None => return,
                Some(Ok(0)) => {
                    self.with(|st, now| st.actor.handle_closed(now, channel, None));
                    return;
                }
                Some(Ok(n)) => self.with(|st, now| st.actor.handle_data(now, channel, &buf[..n])),
                Some(Err(e)) => {
                    self.with(|st, now| {
                        if !Self::refused(st, now, channel, &e) {
                            st.actor.handle_closed(now, channel, Some(e.to_string()));
                        }
                    });
                    return;
                }
            }
        }
    }

    pub(super) async fn run_writer(
        self: &Arc<Self>,
        channel: ChannelId,
        ctl: Arc<ChanCtl>,
        mut writer: Box<dyn crate::runtime::WriteHalf>,
    ) {
        loop {
            let next = poll_fn(|cx| {
                let mut q = ctl.lock();
                if q.aborted {
                    return Poll::Ready(None);
                }
                if let Some(first) = q.out.pop_front() {
                    return Poll::Ready(Some(coalesce(first, &mut q.out)));
                }
                if q.closing {
                    return Poll::Ready(None);
                }
                q.writer = Some(cx.waker().clone());
                Poll::Pending
            })
            .await;
            let Some(mut data) = next else {
                if !ctl.lock().aborted {
                    let _ = poll_fn(|cx| writer.poll_shutdown(cx)).await;
                }
                return;
            };
            while !data.is_empty() {
                let wrote = poll_fn(|cx| {
                    {
                        let mut q = ctl.lock();
                        if q.aborted {
                            return Poll::Ready(None);
                        }
                        q.writer = Some(cx.waker().clone());
                    }
                    writer.poll_write(cx, &data).map(Some)
                })
                .await;
                let Some(wrote) = wrote else {
                    return;
                };
                match wrote {
                    Ok(0) => {
                        self.with(|st, now| {
                            st.actor
                                .handle_closed(now, channel, Some("write returned zero".into()))
                        });
                        return;
                    }
                    Ok(n) => {
                        let _ = data.split_to(n);
                        self.with(|st, now| st.actor.handle_written(now, channel, n));
                    }
                    Err(e) => {
                        // A session that failed on its reader's side
                        // (a refusal) fails the writer's next write too:
                        // whichever reports first says the same.
                        self.with(|st, now| {
                            if !Self::refused(st, now, channel, &e) {
                                st.actor.handle_closed(now, channel, Some(e.to_string()));
                            }
                        });
                        return;
                    }
                }
            }
        }
    }

    pub(super) async fn run_timer(self: Arc<Self>) {
        let mut sleep: Option<(Instant, BoxFuture<'static, ()>)> = None;
        loop {
            let fire = poll_fn(|cx| {
                let mut st = self.lock();
                st.timer_waker = Some(cx.waker().clone());
                if st.stopping && st.deadline.is_none() && st.actor.is_idle() {
                    return Poll::Ready(false);
                }
                let Some(deadline) = st.deadline else {
                    sleep = None;
                    return Poll::Pending;
                };
                drop(st);
                if sleep.as_ref().is_none_or(|(d, _)| *d != deadline) {
                    sleep = Some((deadline, self.rt.sleep_until(deadline)));
                }
                match sleep.as_mut() {
                    Some((_, s)) => s.as_mut().poll(cx).map(|()| true),
                    None => Poll::Pending,
                }
            })
            .await;
            if !fire {
                return;
            }
            sleep = None;
            self.with(|st, now| st.actor.handle_timeout(now));
        }
    }

    /// Accepts connections on `listener` until the actor stops.
    pub(crate) fn start_listener(self: &Arc<Self>, mut listener: Box<dyn Listener>) {
        let ctl = Arc::new(ChanCtl::default());
        self.lock().listeners.push(ctl.clone());
        let shared = self.clone();
        self.rt.spawn(runtime_task(
            "listener".to_owned(),
            async move {
                // Accept errors in a row (out of descriptors, say).
                let mut failing = 0u64;
                loop {
                    let accepted = poll_fn(|cx| {
                        if ctl.is_closing() {
                            return Poll::Ready(None);
                        }
                        ctl.lock().reader = Some(cx.waker().clone());
                        listener.poll_accept(cx).map(Some)
                    })
                    .await;
                    match accepted {
                        None => return,
                        Some(Ok(conn)) => {
                            if failing > 1 {
                                tracing::info!(target: "tractor::transport", failures = failing, "accepting again");
                            }
                            failing = 0;
                            shared.with(|st, now| {
                                let channel = st.actor.handle_accepted(now);
                                let chan_ctl = Arc::new(ChanCtl::default());
                                let local = crate::tls::local_addr(&*conn.reader);
                                match &shared.settings.tls {
                                    Some(tls) if tls.applies_to_accepted(local) => {
                                        shared.accept_tls(st, channel, chan_ctl, conn, tls.server());
                                    }
                                    _ => shared.start_io(st, channel, chan_ctl, conn),
                                }
                            })
                        }
                        Some(Err(e)) => {
                            // Logged once a burst; retried a little later,
                            // not in a busy loop (the error may persist
                            // until connections close).
                            failing += 1;
                            if failing == 1 {
                                tracing::warn!(target: "tractor::transport", error = %e, "accept failed");
                            } else {
                                tracing::debug!(target: "tractor::transport", error = %e, "accept failed");
                            }
                            let pause = Duration::from_millis(if failing == 1 { 1 } else { 50 });
                            shared.rt.sleep_until(Instant::now() + pause).await;
                        }
                    }
                }
            },
        ));
    }

    /// Stops accepting connections.
    pub(crate) fn stop_listeners(self: &Arc<Self>) {
        let listeners = std::mem::take(&mut self.lock().listeners);
        for l in listeners {
            l.close();
        }
    }

    /// Opens a channel to `addr` and waits for its handshake.
    pub(crate) async fn connect(
        self: &Arc<Self>,
        addr: &Address,
    ) -> crate::Result<(ChannelId, Aid)> {
        let channel = self.with(|st, _| st.actor.connect(addr.clone()));
        // A caller that gives up before the handshake ends (a deadline)
        // leaves nobody to close a channel that opens later.
        struct Abandoned(Option<(Arc<Shared>, ChannelId)>);
        impl Drop for Abandoned {
            fn drop(&mut self) {
                if let Some((shared, channel)) = self.0.take() {
                    shared.close_channel(channel);
                }
            }
        }
        let mut abandoned = Abandoned(Some((self.clone(), channel)));
        let opened = self.wait_open(channel, addr).await;
        abandoned.0 = None;
        opened
    }

    pub(crate) async fn wait_open(
        self: &Arc<Self>,
        channel: ChannelId,
        addr: &Address,
    ) -> crate::Result<(ChannelId, Aid)> {
        let result = self
            .wait(|st, _| match st.conns.get(&channel) {
                Some(Conn::Pending) => None,
                Some(Conn::Open(peer)) => Some(Ok(peer.clone())),
                Some(Conn::Probed(peer)) => Some(Ok(peer.clone())),
                Some(Conn::Closed(reason)) => Some(Err(reason.clone())),
                None => Some(Err(CloseReason::Broken(
                    "the connection was forgotten".into(),
                ))),
            })
            .await;
        self.with(|st, _| {
            if !matches!(st.conns.get(&channel), Some(Conn::Open(_))) {
                st.conns.remove(&channel);
            }
        });
        result
            .map(|peer| (channel, peer))
            .map_err(|reason| match reason {
                CloseReason::Auth(reason) => crate::ErrorKind::Unauthenticated {
                    addr: addr.to_string(),
                    reason,
                }
                .into(),
                // Said once: "could not connect to <addr>: <why>".
                CloseReason::ConnectFailed(why) => {
                    let addr = addr.to_string();
                    let why = why.strip_prefix(&format!("{addr}: ")).unwrap_or(&why);
                    crate::ErrorKind::Connect {
                        reason: why.to_owned(),
                        addr,
                    }
                    .into()
                }
                reason => crate::ErrorKind::Connect {
                    addr: addr.to_string(),
                    reason: reason.to_string(),
                }
                .into(),
            })
    }

    /// Asks who listens at `addr` (spec/PROTOCOL.md §3.1).
    pub(crate) async fn probe(self: &Arc<Self>, addr: &Address) -> ProbeAnswer {
        let channel = self.with(|st, _| {
            let ch = st.actor.probe(addr.clone());
            st.conns.insert(ch, Conn::Pending);
            ch
        });
        self.wait(|st, _| {
            let answer = match st.conns.get(&channel) {
                Some(Conn::Pending) => return None,
                Some(Conn::Probed(peer)) => ProbeAnswer::from_aid(peer),
                Some(Conn::Closed(reason)) => ProbeAnswer::from_close(reason),
                Some(Conn::Open(_)) | None => ProbeAnswer::Silent("the probe was lost".into()),
            };
            st.conns.remove(&channel);
            Some(answer)
        })
        .await
    }

    /// Closes a channel this actor opened.
    pub(crate) fn close_channel(self: &Arc<Self>, channel: ChannelId) {
        self.with(|st, now| {
            st.conns.remove(&channel);
            st.actor.close(now, channel);
        });
    }

    /// Closes every connection (what is queued for each is still sent).
    pub(crate) fn close_all_channels(self: &Arc<Self>) {
        self.with(|st, now| {
            let channels: Vec<_> = st.chans.keys().copied().collect();
            for ch in channels {
                st.conns.remove(&ch);
                st.actor.close(now, ch);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_frames_go_out_together_up_to_the_batch_size() {
        let frame = |n: usize, b: u8| Bytes::from(vec![b; n]);
        let mut q: VecDeque<Bytes> = [frame(3, 2), frame(4, 3)].into();
        let out = coalesce(frame(2, 1), &mut q);
        assert_eq!(&out[..], &[1, 1, 2, 2, 2, 3, 3, 3, 3]);
        assert!(q.is_empty());

        let mut q: VecDeque<Bytes> = [frame(WRITE_BATCH - 10, 2), frame(1, 3)].into();
        let out = coalesce(frame(10, 1), &mut q);
        assert_eq!(out.len(), WRITE_BATCH);
        assert_eq!(q.len(), 1, "the frame that does not fit waits");

        let big = frame(WRITE_BATCH * 2, 9);
        let mut q: VecDeque<Bytes> = [frame(1, 3)].into();
        assert_eq!(
            coalesce(big.clone(), &mut q),
            big,
            "a large frame goes alone"
        );
        assert_eq!(q.len(), 1);
    }
}
