//! The conformance suite of tractor for Rust.
//!
//! Each behaviour listed in the tractor scenario catalogue is implemented
//! here once, by its scenario id, and run against every combination of
//! adapters ({tokio, smol} parent × {tokio, smol} child) over TCP and Unix
//! sockets. Scenarios that are not run are listed with the reason.

#![deny(missing_docs)]
#![forbid(unsafe_code)]
