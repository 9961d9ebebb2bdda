//! One message body of arbitrary bytes.

#![no_main]

use tractor_protocol::{Msg, Raw};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = Msg::decode_slice(data) {
        tractor_fuzz::check_message(&msg);
    }
    if let Ok(raw) = Raw::from_msgpack(data.to_vec()) {
        let _ = raw.to_json();
        tractor_fuzz::check_payload(&raw);
    }
});
