//! A byte stream of arbitrary content, delivered in arbitrary chunks.
//!
//! The first byte picks the chunk sizes and the frame limit, the rest is the
//! stream: every body that comes out must be exactly the bytes its header
//! announced, and the decoder must account for every byte.

#![no_main]

use bytes::BytesMut;
use tractor_protocol::{FrameDecoder, FrameError, HEADER_LEN};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&knob, stream)) = data.split_first() else {
        return;
    };
    let max = if knob & 0x80 != 0 { 64 } else { u32::MAX };
    let mut decoder = FrameDecoder::with_max_frame_len(max);
    let mut buf = BytesMut::new();
    let mut state = u32::from(knob) | 1;
    let mut fed = 0;
    let mut taken = 0u64;
    while fed < stream.len() {
        // xorshift: chunk sizes 1..=32 in a pattern fixed by the knob.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (1 + state % 32) as usize;
        let end = (fed + n).min(stream.len());
        buf.extend_from_slice(&stream[fed..end]);
        fed = end;
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    assert_eq!(frame.offset, taken, "frames are contiguous");
                    let start = frame.offset as usize;
                    let header = &stream[start..start + HEADER_LEN];
                    let len = u32::from_le_bytes(header.try_into().unwrap()) as usize;
                    assert_eq!(frame.body.len(), len);
                    assert!(len > 0 && len <= max as usize);
                    assert_eq!(
                        &frame.body[..],
                        &stream[start + HEADER_LEN..start + HEADER_LEN + len]
                    );
                    taken += (HEADER_LEN + len) as u64;
                    if let Ok(msg) = frame.msg() {
                        tractor_fuzz::check_message(&msg);
                    }
                }
                Ok(None) => {
                    assert!(decoder.bytes_needed(&buf) > 0);
                    break;
                }
                Err(FrameError::Empty { offset } | FrameError::TooLarge { offset, .. }) => {
                    assert_eq!(offset, taken);
                    return;
                }
                Err(e) => panic!("decode never reports {e}"),
            }
        }
    }
    assert_eq!(decoder.offset(), taken);
    assert_eq!(
        taken as usize + buf.len(),
        stream.len(),
        "every byte accounted for"
    );
    assert_eq!(decoder.finish(&buf).is_ok(), buf.is_empty());
});
