//! A client that pipelines calls and never reads their replies, against a
//! daemon that also serves a well-behaved client, for ten seconds, on
//! each adapter and transport.
//!
//! ```text
//! cargo bench -p tractor-conformance --bench attack
//! cargo bench -p tractor-conformance --bench attack -- --quick   # two seconds each
//! ```
//!
//! One line of JSON per adapter and transport: the daemon's peak RSS
//! (`VmHWM`, KiB; the bound the test holds is 64 MiB), the calls the
//! well-behaved client completed meanwhile, the calls the bad client got
//! written, and the CPU time the daemon used from the bad client's
//! departure until it went idle (ms). The bad client asks for 16 KiB
//! replies, up to 200,000 of them (3 GiB) if the daemon would take them.

#![forbid(unsafe_code)]

use std::path::Path;
use std::time::Duration;

use tractor_adapters::Adapter;
use tractor_conformance::peer;

const PROGRAM: &str = env!("CARGO_BIN_EXE_tractor-conformance");

fn main() {
    let quick = std::env::args().any(|a| a == "--quick")
        || std::env::var_os("TRACTOR_BENCH_QUICK").is_some();
    let seconds = if quick { 2 } else { 10 };
    let cases = Adapter::ALL
        .into_iter()
        .flat_map(|a| ["tcp", "uds"].map(|t| (a.name(), t)));
    for (adapter, transport) in cases {
        let d = peer::attack_daemon(Path::new(PROGRAM), adapter, transport, "");
        let seen = peer::non_reading_client(&d, 200_000, 16 * 1024, Duration::from_secs(seconds));
        let after = d.hi();
        d.stop();
        println!(
            "{{\"figure\":\"non_reading_client\",\"adapter\":\"{adapter}\",\"transport\":\"{transport}\",\"seconds\":{seconds},\"peak_rss_kib\":{},\"good_calls\":{},\"bad_calls_written\":{},\"cpu_ms_after_disconnect\":{},\"served_after\":{}}}",
            seen.peak_rss_kib,
            seen.good_calls,
            seen.bad_calls_sent,
            seen.cpu_ticks_after * 10,
            after == "hi from root",
        );
    }
}
