//! Codec throughput, relative to copying the same bytes.
//!
//! ```text
//! cargo bench -p tractor-protocol --bench codec
//! ```
//!
//! For each case, one line of JSON: messages per second for encoding a
//! `Yield` into a frame, for splitting and decoding that frame, and for
//! both, plus the time to `memcpy` the frame's bytes measured in the same
//! run, and our cost as a multiple of it, with the round trip's target and
//! whether it is met. `BENCH_SECS` sets the time spent per measurement
//! (default 1).

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use tractor_protocol::{FrameDecoder, Msg, Raw, Yield};

/// Runs `f` repeatedly for about `budget` and returns nanoseconds per call.
fn measure(budget: Duration, mut f: impl FnMut()) -> f64 {
    // Warm up caches and the branch predictor, and size a batch so that the
    // clock is read rarely.
    let mut batch = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..batch {
            f();
        }
        if t.elapsed() > Duration::from_millis(10) {
            break;
        }
        batch *= 2;
    }
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < budget {
        for _ in 0..batch {
            f();
        }
        calls += batch;
    }
    start.elapsed().as_nanos() as f64 / calls as f64
}

fn case(name: &str, msg: Msg, budget: Duration, target: u64) {
    let mut frame = BytesMut::new();
    msg.encode_frame(&mut frame).unwrap();
    let frame = frame.freeze();

    let mut out = BytesMut::with_capacity(frame.len());
    let encode = measure(budget, || {
        out.clear();
        black_box(&msg).encode_frame(&mut out).unwrap();
        black_box(&out);
    });

    let mut decoder = FrameDecoder::new();
    let mut buf = BytesMut::with_capacity(frame.len());
    let decode = measure(budget, || {
        buf.put_slice(black_box(&frame));
        let f = decoder.decode(&mut buf).unwrap().unwrap();
        black_box(f.into_msg().unwrap());
    });

    let both = measure(budget, || {
        buf.clear();
        black_box(&msg).encode_frame(&mut buf).unwrap();
        let f = decoder.decode(&mut buf).unwrap().unwrap();
        black_box(f.into_msg().unwrap());
    });

    let mut dst = vec![0u8; frame.len()];
    let memcpy = measure(budget, || {
        dst.copy_from_slice(black_box(&frame));
        black_box(&dst);
    });

    println!(
        "{{\"case\": \"{name}\", \"frame_bytes\": {}, \
         \"encode_msgs_per_sec\": {:.0}, \"decode_msgs_per_sec\": {:.0}, \
         \"roundtrip_msgs_per_sec\": {:.0}, \"roundtrip_ns\": {both:.1}, \
         \"memcpy_ns\": {memcpy:.2}, \"roundtrip_vs_memcpy\": {:.1}, \
         \"target\": \"roundtrip >= {target} msgs/s\", \"met\": {}}}",
        frame.len(),
        1e9 / encode,
        1e9 / decode,
        1e9 / both,
        both / memcpy,
        1e9 / both >= target as f64,
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // then one quick pass only checks that the cases run.
    let benching = std::env::args().any(|a| a == "--bench");
    let secs: f64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let budget = if benching {
        Duration::from_secs_f64(secs)
    } else {
        Duration::from_millis(1)
    };
    let cid = "70672312-e85f-481b-a665-657d13b30db1";

    let small = Yield::new(cid, Raw::encode(&7u8).unwrap());
    // A small item: 15 M messages a second, each encoded and decoded.
    case("yield_small_int", small.into(), budget, 15_000_000);

    // A 1 KiB `bytes` payload: msgpack bin16 header, then the data.
    let mut kib = vec![0xc5, 0x04, 0x00];
    kib.extend((0..1024u32).map(|i| i as u8));
    let large = Yield::new(cid, Raw::from_msgpack(kib).unwrap());
    // A 1 KiB item: its bytes are copied twice; 5 M a second.
    case("yield_1kib_bin", large.into(), budget, 5_000_000);
}
