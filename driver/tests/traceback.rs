//! A traceback as an application sees it: this test crate is the
//! application, so its functions are the frames a backtrace keeps.
//! Checked in any build profile (the functions are kept out of line), with
//! backtraces on or off, whichever the environment says.

use tractor_driver::{Error, ErrorKind};

#[inline(never)]
fn parse(text: &str) -> Result<u32, Error> {
    Ok(text.parse::<u32>()?)
}

#[inline(never)]
fn load_config(text: &str) -> Result<u32, Error> {
    let n = parse(text)?;
    std::hint::black_box(Ok(n))
}

#[inline(never)]
fn raise_here() -> Error {
    std::hint::black_box(Error::raise("ValueError", "made here"))
}

/// Whether this process records backtraces: Rust's convention, as the
/// library reads it.
fn backtraces_on() -> bool {
    match std::env::var_os("RUST_LIB_BACKTRACE") {
        Some(v) => v != "0",
        None => std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0"),
    }
}

fn traceback(e: &Error) -> &str {
    match e.kind() {
        ErrorKind::Local(l) => &l.traceback,
        other => panic!("a local error expected, got {other:?}"),
    }
}

#[test]
fn a_traceback_starts_where_the_error_was_made_and_shows_the_callers() {
    let e = load_config("12x").unwrap_err();
    let tb = traceback(&e);
    let first = tb.lines().next().unwrap_or_default();
    // The `?` in `parse` converted the error: its line comes first.
    assert!(first.starts_with("  at driver/tests/traceback.rs:"), "{tb}");
    if backtraces_on() {
        // The application's frames, innermost first: `parse`, then its
        // caller; nothing of the library or the standard library.
        let parse_at = tb.find("traceback::parse").expect("parse's frame");
        let caller_at = tb
            .find("traceback::load_config")
            .expect("its caller's frame");
        assert!(parse_at < caller_at, "{tb}");
        assert!(!tb.contains("tractor_driver::"), "{tb}");
        assert!(!tb.contains("core::"), "{tb}");
        assert!(!tb.contains("RUST_BACKTRACE"), "{tb}");
        // The walk ends at the test thread's start, before the harness.
        assert!(!tb.contains("test::run_test"), "{tb}");
    } else {
        assert!(
            tb.contains("(set RUST_BACKTRACE=1 for a backtrace)"),
            "{tb}"
        );
        assert_eq!(tb.lines().count(), 2, "{tb}");
    }
}

#[test]
fn a_raised_error_names_its_raiser() {
    let e = raise_here();
    let tb = traceback(&e);
    assert!(tb.starts_with("  at driver/tests/traceback.rs:"), "{tb}");
    if backtraces_on() {
        assert!(tb.contains("traceback::raise_here"), "{tb}");
    }
}

#[test]
fn errors_made_on_many_threads_at_once_all_get_their_frames() {
    let threads: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(|| load_config("nope").unwrap_err()))
        .collect();
    for t in threads {
        let e = t.join().expect("the thread ends");
        let tb = traceback(&e);
        assert!(tb.starts_with("  at driver/tests/traceback.rs:"), "{tb}");
        if backtraces_on() {
            assert!(tb.contains("traceback::load_config"), "{tb}");
        }
    }
}
