//! smol's executor as a tokio actor's guest runtime (feature
//! `guest-smol`): one thread, `tractor-guest`, runs an executor of its
//! own under `smol::block_on`, so that code written for smol (or for
//! async-io's reactor) runs in the actor.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tractor_driver::guest::Guest;
use tractor_driver::runtime::BoxFuture;

/// The guest: its executor until it is shut down, the channel that stops
/// its thread, and the thread.
pub(crate) struct SmolGuest {
    executor: Mutex<Option<Arc<smol::Executor<'static>>>>,
    stop: smol::channel::Sender<()>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

pub(crate) fn start() -> std::io::Result<Arc<dyn Guest>> {
    let executor = Arc::new(smol::Executor::new());
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let ours = executor.clone();
    let thread = std::thread::Builder::new()
        .name("tractor-guest".into())
        .spawn(move || {
            tractor_driver::guest::mark_guest_thread();
            // Runs until stopped; then the executor, dropped here (the
            // last reference once the guest let go of its own), drops
            // every task left on this thread.
            let _ = smol::block_on(ours.run(stopped.recv()));
            drop(ours);
        })?;
    Ok(Arc::new(SmolGuest {
        executor: Mutex::new(Some(executor)),
        stop,
        thread: Mutex::new(Some(thread)),
    }))
}

impl Guest for SmolGuest {
    fn name(&self) -> &'static str {
        "smol"
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        // Once shut down, the task is dropped at once: its link ends.
        if let Some(ex) = &*self.executor.lock().unwrap_or_else(|e| e.into_inner()) {
            ex.spawn(task).detach();
        }
    }

    fn shutdown(&self, deadline: Instant) -> bool {
        drop(
            self.executor
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        let _ = self.stop.try_send(());
        let Some(thread) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return true;
        };
        while !thread.is_finished() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = thread.join();
        true
    }
}
