//! tractor for Rust on [tokio](https://tokio.rs).
//!
//! This crate binds the sans-IO core, `tractor-protocol`, to tokio: TCP and
//! Unix-domain sockets, child processes, timers and signals. It owns no
//! protocol logic of its own: every decision (what to send, when a dialog
//! fails, which child to reap) is taken by the core, and this crate only
//! performs the IO the core asks for and feeds the results back in.
//!
//! It will offer the user API: the root actor, actor nurseries, portals,
//! contexts, message streams and the registrar client.

#![deny(missing_docs)]
#![forbid(unsafe_code)]
