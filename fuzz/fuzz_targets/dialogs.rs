//! Arbitrary sequences of channels, messages, time and application
//! operations into one actor; see `tractor_protocol::fuzzing`.
//!
//! The driver only exists under `cfg(fuzzing)`, which cargo-fuzz sets; a
//! plain `cargo check` of this crate compiles an empty target.

#![no_main]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tractor_protocol::fuzzing::dialogs(data);
});
