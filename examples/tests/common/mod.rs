//! What the example tests share: where the examples are built, and the
//! adapters they run on.

/// The adapters every example runs on, by their `TRACTOR_ADAPTER` value.
pub const ADAPTERS: [&str; 2] = ["tokio", "smol"];

pub use tractor_conformance::example_binary as example;
