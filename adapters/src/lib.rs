//! The adapters a program built with all of them can run on, and the one
//! place that picks among them.
//!
//! The examples, the conformance program and the tree benchmark are built
//! with every adapter and choose one when they start, from the environment
//! variable [`ENV`]: its children inherit it, so a whole tree runs on the
//! adapter chosen (unless a parent gives a child another). [`Adapter`]
//! reads that choice ([`Adapter::from_env`]) and gives what such a program
//! needs of the adapter: its `Runtime` ([`Adapter::runtime`]) and a way to
//! block on a future ([`Adapter::block_on`]). Tests that run on every
//! adapter loop over [`Adapter::ALL`].
//!
//! Another adapter is added here: a variant, its entry in [`Adapter::ALL`],
//! and the arms of the methods' matches, plus its crate as a dependency.
//! A program of your own names its adapter directly instead
//! (`tractor_tokio::open_root_actor` or `tractor_smol::open_root_actor`).

#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::str::FromStr;
use std::sync::Arc;

use tractor_driver::Runtime;

/// The environment variable that picks the adapter: an adapter's
/// [name](Adapter::name) (`tokio`, `smol`); tokio when unset or anything
/// else.
pub const ENV: &str = "TRACTOR_ADAPTER";

/// The environment variable that gives tokio worker threads: a number
/// `N` ≥ 1 runs [`Adapter::block_on`] on tokio's multi-threaded runtime
/// with `N` workers; unset (or anything else), on its current-thread
/// runtime. Children inherit it, so a whole tree runs on the flavour
/// chosen. smol ignores it.
pub const WORKERS_ENV: &str = "TRACTOR_TOKIO_WORKERS";

/// An adapter: the async runtime a process of the tree runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Adapter {
    /// `tractor-tokio`, on tokio's current-thread runtime unless
    /// `TRACTOR_TOKIO_WORKERS` asks for workers; the default.
    Tokio,
    /// `tractor-smol`, on smol's executor in the calling thread.
    Smol,
}

/// A name that is no adapter's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no adapter is named {0:?} (expected tokio or smol)")]
pub struct UnknownAdapter(pub String);

impl Adapter {
    /// Every adapter, in the order tests run them and report them.
    pub const ALL: [Adapter; 2] = [Adapter::Tokio, Adapter::Smol];

    /// The adapter the environment variable `TRACTOR_ADAPTER` picks for
    /// this process: the one it names, or tokio when it is unset or names
    /// none.
    ///
    /// A launched child reads its bootstrap block first (see
    /// `tractor_driver::launch::bootstrap`): the choice reaches it there.
    pub fn from_env() -> Self {
        tractor_driver::launch::bootstrap();
        std::env::var(ENV)
            .ok()
            .and_then(|name| name.parse().ok())
            .unwrap_or(Adapter::Tokio)
    }

    /// The adapter's name, as `TRACTOR_ADAPTER` and the tests' output give
    /// it.
    pub fn name(self) -> &'static str {
        match self {
            Adapter::Tokio => "tokio",
            Adapter::Smol => "smol",
        }
    }

    /// The adapter's `tractor_driver::Runtime`, for the driver's entry
    /// points (`tractor_driver::open_root_actor`).
    pub fn runtime(self) -> Arc<dyn Runtime> {
        match self {
            Adapter::Tokio => Arc::new(tractor_tokio::Tokio),
            Adapter::Smol => Arc::new(tractor_smol::Smol),
        }
    }

    /// Runs `main` to its end on this adapter's runtime: tokio's
    /// current-thread runtime (every task of the actor on the calling
    /// thread: no hop between threads per message), or its
    /// multi-threaded one when `TRACTOR_TOKIO_WORKERS` names a number of workers;
    /// or smol's `block_on` in the calling thread.
    ///
    /// # Panics
    ///
    /// If tokio cannot build its runtime.
    pub fn block_on<F: Future>(self, main: F) -> F::Output {
        self.block_on_inner(self.workers(), main)
    }

    /// The worker threads [`block_on`](Adapter::block_on) runs an actor
    /// on: `None` for the calling thread alone (smol, and tokio's
    /// current-thread runtime), or the number `TRACTOR_TOKIO_WORKERS`
    /// gives tokio.
    ///
    /// ```
    /// use tractor_adapters::Adapter;
    ///
    /// // smol runs an actor on the thread that blocks on it, always.
    /// assert_eq!(Adapter::Smol.workers(), None);
    /// ```
    pub fn workers(self) -> Option<NonZeroUsize> {
        match self {
            Adapter::Tokio => std::env::var(WORKERS_ENV)
                .ok()
                .and_then(|n| n.trim().parse::<NonZeroUsize>().ok()),
            Adapter::Smol => None,
        }
    }

    /// As [`block_on`](Adapter::block_on), on a runtime with `workers`
    /// worker threads whatever the environment says (tokio's
    /// multi-threaded one); smol runs `main` in the calling thread and
    /// ignores it.
    ///
    /// # Panics
    ///
    /// If tokio cannot build its runtime.
    pub fn block_on_with_workers<F: Future>(self, workers: NonZeroUsize, main: F) -> F::Output {
        self.block_on_inner(Some(workers), main)
    }

    fn block_on_inner<F: Future>(self, workers: Option<NonZeroUsize>, main: F) -> F::Output {
        match self {
            Adapter::Tokio => {
                let mut builder = if workers.is_none() {
                    tokio::runtime::Builder::new_current_thread()
                } else {
                    tokio::runtime::Builder::new_multi_thread()
                };
                if let Some(n) = workers {
                    builder.worker_threads(n.get());
                }
                builder
                    .enable_all()
                    .build()
                    .expect("a tokio runtime")
                    .block_on(main)
            }
            Adapter::Smol => smol::block_on(main),
        }
    }
}

impl fmt::Display for Adapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Adapter {
    type Err = UnknownAdapter;

    /// An adapter by its [name](Adapter::name), exactly.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Adapter::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| UnknownAdapter(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back() {
        for a in Adapter::ALL {
            assert_eq!(a.name().parse::<Adapter>(), Ok(a));
            assert_eq!(a.to_string(), a.name());
        }
        assert_eq!(
            Adapter::ALL.map(Adapter::name),
            ["tokio", "smol"],
            "the order and names tests report"
        );
        assert_eq!(
            "Smol".parse::<Adapter>(),
            Err(UnknownAdapter("Smol".to_owned()))
        );
        assert!("".parse::<Adapter>().is_err());
    }

    #[test]
    fn each_blocks_on_a_future() {
        for a in Adapter::ALL {
            assert_eq!(a.block_on(async { 7 }), 7);
            let two = NonZeroUsize::new(2).expect("non-zero");
            assert_eq!(a.block_on_with_workers(two, async { 8 }), 8);
        }
    }
}
