//! tractor for Rust on [smol](https://docs.rs/smol): `async-io` sockets and
//! timers, `async-process` children.
//!
//! The user API is the same as `tractor-tokio`'s, so a program can switch
//! runtimes without changing its actor code, and a tree may mix actors built
//! on either. Like the tokio adapter it only does IO: every protocol decision
//! is taken by `tractor-protocol`.

#![deny(missing_docs)]
#![forbid(unsafe_code)]
