//! Arbitrary handshakes with a tree's secret into one actor: openings,
//! right, wrong, replayed and reflected proofs, plain `Aid`s, garbage and
//! truncated frames, time and closes; see `tractor_protocol::fuzzing`.
//!
//! The driver only exists under `cfg(fuzzing)`, which cargo-fuzz sets; a
//! plain `cargo check` of this crate compiles an empty target.

#![no_main]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tractor_protocol::fuzzing::handshake(data);
});
