//! What the example tests share: where the examples are built, and the
//! adapters they run on.

use tractor_examples::Adapter;

/// The adapters every example runs on, by their `TRACTOR_ADAPTER` value,
/// in the order of `Adapter::ALL`.
pub fn adapters() -> impl Iterator<Item = &'static str> {
    Adapter::ALL.into_iter().map(Adapter::name)
}

pub use tractor_conformance::example_binary as example;
