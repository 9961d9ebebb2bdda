//! One message body of arbitrary bytes: decoded, re-encoded, and read by
//! the payload messages' short way as by the general one.

#![no_main]

use tractor_protocol::{Msg, Raw};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // The short way of payload messages against the general one (the
    // check exists under `cfg(fuzzing)`, which cargo-fuzz sets).
    #[cfg(fuzzing)]
    tractor_protocol::fuzzing::payload_short_way(data);
    if let Ok(msg) = Msg::decode_slice(data) {
        tractor_fuzz::check_message(&msg);
    }
    if let Ok(raw) = Raw::from_msgpack(data.to_vec()) {
        let _ = raw.to_json();
        tractor_fuzz::check_payload(&raw);
    }
});
