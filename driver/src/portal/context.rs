//! [`Context`]: one side of a task pair across two actors.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tractor_protocol::{DialogId, Incoming, Role};

use crate::engine::Shared;
use crate::error::{Error, Result};
use crate::future::ApiFuture;
use crate::payload::{decode, encode};

use super::dialog_error;
use super::dlg::Dlg;
use super::stream::{MsgStream, StreamSide};

/// One side of a context: a task pair across two actors, with a `started`
/// handshake, an optional two-way stream and one result (Python's
/// `tractor.Context`).
///
/// The opener gets it from [`Portal::open_context`](crate::Portal::open_context); the function it runs
/// gets the other side as its first argument.
#[derive(Clone)]
pub struct Context {
    pub(super) dlg: Arc<Dlg>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Context({} with {})", self.dlg.dialog, self.dlg.peer)
    }
}

impl Context {
    pub(crate) fn callee(shared: Arc<Shared>, dialog: DialogId) -> Self {
        let peer = shared.uid.clone();
        Context {
            dlg: Dlg::new(shared, dialog, Role::Callee, peer),
        }
    }

    /// Which side this is.
    pub fn side(&self) -> Role {
        self.dlg.role
    }

    /// The context's id on the wire.
    pub fn cid(&self) -> Option<String> {
        let dialog = self.dlg.dialog;
        self.dlg
            .shared
            .with(|st, _| st.actor.cid(dialog).map(str::to_owned))
    }

    /// Sends the first value to the opener (callee only, once). The value
    /// is encoded at once: the future borrows only the context.
    #[track_caller]
    pub fn started<T: Serialize>(&self, value: T) -> ApiFuture<'_, Result<()>> {
        let raw = encode(&value);
        ApiFuture::new("Context::started", async move {
            let raw = raw?;
            self.dlg.op(|a, _, d| a.started(d, raw))
        })
    }

    /// Opens this side's stream: from now on both sides may send and
    /// receive.
    #[track_caller]
    pub fn open_stream(&self) -> impl Future<Output = Result<MsgStream>> {
        crate::task_record::api("Context::open_stream", async move {
            self.dlg.op(|a, _, d| a.open_stream(d))?;
            Ok(MsgStream {
                dlg: self.dlg.clone(),
                side: StreamSide::Context,
            })
        })
    }

    /// Gives the terminal back on a lock context from
    /// [`Portal::request_tty_lock`]: the core's release, then the root's
    /// final status.
    pub(crate) async fn release_tty_lock(&self) -> Result<tractor_protocol::LockStatus> {
        self.dlg.op(|a, _, d| a.release_tty_lock(d))?;
        self.wait_for_result().await
    }

    /// Cancels the context. From the opener: the callee is asked to stop,
    /// and [`Context::wait_for_result`] then reports the cancellation. From
    /// the callee: the function cancels itself.
    pub fn cancel(&self) -> Result<()> {
        self.dlg.op(|a, now, d| {
            // Looked up only for a line that is shown.
            if tracing::enabled!(target: "tractor::cancel", tracing::Level::INFO) {
                let func = crate::engine::dialog_func(a, d);
                let peer = &self.dlg.peer;
                if self.dlg.role == Role::Opener {
                    tracing::info!(target: "tractor::cancel", %func, %peer, "cancelling context");
                } else {
                    tracing::info!(target: "tractor::cancel", %func, caller = %peer, "cancelling its own context");
                }
            }
            a.cancel(now, d)
        })
    }

    /// Waits for the callee's result (opener only). Stream items still
    /// queued are dropped, as Python drains them.
    #[track_caller]
    pub fn wait_for_result<T: DeserializeOwned>(&self) -> impl Future<Output = Result<T>> {
        crate::task_record::api("Context::wait_for_result", async move {
            if self.dlg.role != Role::Opener {
                return Err(Error::runtime(
                    "only the opener of a context waits for its result",
                ));
            }
            loop {
                if let Some(o) = self.dlg.outcome() {
                    return decode(&o.map_err(|e| self.dlg.observed(e))?);
                }
                match self.dlg.next().await {
                    Incoming::Return(v) => self.dlg.set_outcome(Ok(v)),
                    Incoming::Error(e) => self.dlg.set_outcome(Err(dialog_error(e))),
                    Incoming::Yield(_) => {
                        tracing::debug!(target: "tractor::transport", "dropping an unread stream item")
                    }
                    Incoming::Started(_) | Incoming::Stop => {}
                }
            }
        })
    }
}
