//! The names nearly every program uses, for a glob import.
//!
//! ```no_run
//! use tractor_driver::prelude::*;
//!
//! /// Everything the actors of this program serve.
//! fn functions() -> Functions {
//!     Functions::new().rpc("procs", "pid", |(): ()| async move { Ok(std::process::id()) })
//! }
//!
//! /// A root's body: three workers started at once, each asked its pid.
//! async fn body(root: ActorHandle) -> Result<Vec<u32>> {
//!     root.open_nursery(|n| async move {
//!         let opts = ActorOptions::new().enable_modules(["procs"]);
//!         let workers: Vec<Portal> = n
//!             .start_actors((0..3).map(|i| (format!("worker-{i}"), opts.clone())))
//!             .await?;
//!         let mut pids = Vec::new();
//!         for worker in &workers {
//!             pids.push(worker.run("procs", "pid", ()).await?);
//!         }
//!         n.cancel().await;
//!         Ok(pids)
//!     })
//!     .await
//! }
//! # let _ = (functions, body);
//! ```
//!
//! The adapter crates have a prelude of their own, this one plus their
//! entry points (`open_root_actor`, `open_nursery`, `run_daemon`), so
//! `use tractor_tokio::prelude::*;` (or `tractor_smol`'s) is all the
//! imports a program needs. `Result` here is tractor's, whose error type
//! defaults to [`Error`]: `Result<T, E>` still names any other result.
//! [`StdError`] wraps an [`Error`] for code whose errors are
//! `std::error::Error`s (`.map_err(StdError)?` into `anyhow`).

pub use crate::stackscope::Traced;
pub use crate::{
    ActorHandle, ActorNursery, ActorOptions, Address, ApiFuture, Config, Context, Error, ErrorKind,
    Functions, GracefulCancel, Limits, MsgStream, OpenedContext, Portal, Result, ServedContext,
    StdError, current_actor, graceful_cancel, is_root_process,
};
