//! tokio as a smol actor's guest runtime (feature `guest-tokio`): a
//! multi-threaded tokio runtime of one worker, `tractor-guest`, with its
//! IO and timers, so that tokio-only libraries run in the actor.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tractor_driver::guest::Guest;
use tractor_driver::runtime::BoxFuture;

/// The guest: the runtime until it is shut down, and a handle to spawn
/// on (which drops what it is given once the runtime is gone).
pub(crate) struct TokioGuest {
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
}

pub(crate) fn start() -> std::io::Result<Arc<dyn Guest>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("tractor-guest")
        .on_thread_start(tractor_driver::guest::mark_guest_thread)
        .enable_all()
        .build()?;
    let handle = runtime.handle().clone();
    Ok(Arc::new(TokioGuest {
        runtime: Mutex::new(Some(runtime)),
        handle,
    }))
}

impl Guest for TokioGuest {
    fn name(&self) -> &'static str {
        "tokio"
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        drop(self.handle.spawn(task));
    }

    fn shutdown(&self, deadline: Instant) -> bool {
        let Some(runtime) = self
            .runtime
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return true;
        };
        let started = Instant::now();
        runtime.shutdown_timeout(deadline.saturating_duration_since(started));
        Instant::now() <= deadline
    }
}
