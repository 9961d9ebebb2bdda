//! Runnable programs that mirror the tractor documentation: the tour of a
//! multi-process actor tree, RPC through portals, contexts and streams,
//! cancellation, discovery through the registrar and the debugger.
//!
//! Each program is an example of this package, run with
//! `cargo run -p tractor-examples --example <name>`.

#![deny(missing_docs)]
#![forbid(unsafe_code)]
