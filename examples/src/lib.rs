//! Runnable programs that mirror the tractor documentation: the tour of a
//! multi-process actor tree, RPC through portals, contexts and streams,
//! cancellation, discovery through the registrar and the debugger.
//!
//! Each program is an example of this package, run with
//! `cargo run -p tractor-examples --example <name>`.
//!
//! # Either adapter
//!
//! Every example runs on tokio by default, and on smol with
//! `TRACTOR_ADAPTER=smol` in its environment; its children inherit the
//! variable, so the whole tree runs on the adapter chosen. The examples
//! reach the API through this crate, which re-exports it and adds the two
//! calls that depend on the runtime: [`block_on`] and the entry points
//! ([`open_root_actor`]). A program of your own names its adapter
//! directly instead:
//!
//! ```text
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), Error> {   fn main() -> Result<(), Error> {
//!     tractor_tokio::open_root_actor(          smol::block_on(
//!         config, body).await                      tractor_smol::open_root_actor(
//! }                                                    config, body))
//!                                          }
//! ```
//!
//! Everything else (portals, contexts, streams, [`ActorHandle::sleep`],
//! [`ActorHandle::spawn`]) is the same on both.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::future::Future;
use std::sync::Arc;

pub use tractor_adapters::Adapter;
pub use tractor_driver::*;

/// The environment variable that picks the adapter: `smol`, or tokio when
/// unset or anything else ([`Adapter::from_env`]).
pub const ADAPTER: &str = tractor_adapters::ENV;

/// The chosen adapter's name: `smol` or `tokio`.
pub fn adapter_name() -> &'static str {
    Adapter::from_env().name()
}

/// The chosen adapter's [`Runtime`].
pub fn runtime() -> Arc<dyn Runtime> {
    Adapter::from_env().runtime()
}

/// Runs `main` to its end on the chosen runtime: smol's `block_on`, or a
/// multi-threaded tokio runtime.
pub fn block_on<F: Future>(main: F) -> F::Output {
    Adapter::from_env().block_on(main)
}

/// Runs the root actor around `body` on the chosen adapter, as
/// `tractor_tokio::open_root_actor` or `tractor_smol::open_root_actor`
/// does: in a child process this becomes the child and never returns.
pub async fn open_root_actor<F, Fut, T>(config: Config, body: F) -> Result<T>
where
    F: FnOnce(ActorHandle) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    tractor_driver::open_root_actor(runtime(), config, body).await
}

/// The names nearly every example uses, for a glob import: the driver's
/// prelude (`tractor_driver::prelude`) and this crate's
/// [`block_on`] and [`open_root_actor`], which pick the adapter. A program
/// of your own imports its adapter's prelude instead
/// (`use tractor_tokio::prelude::*;`).
pub mod prelude {
    pub use tractor_driver::prelude::*;

    pub use super::{block_on, open_root_actor};
}
