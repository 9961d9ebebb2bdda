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

/// The frame lines of a traceback in Python's shape, outermost first.
fn frames(tb: &str) -> Vec<&str> {
    assert!(
        tb.starts_with("Traceback (most recent call last):\n"),
        "{tb}"
    );
    tb.lines().filter(|l| l.starts_with("  File \"")).collect()
}

#[test]
fn a_traceback_starts_where_the_error_was_made_and_shows_the_callers() {
    let e = load_config("12x").unwrap_err();
    let tb = traceback(&e);
    let frames = frames(tb);
    // The `?` in `parse` converted the error: its line comes last, as the
    // innermost frame of Python's "most recent call last".
    let question_mark = "  File \"driver/tests/traceback.rs\", line 10";
    let last = frames.last().copied().unwrap_or_default();
    assert!(last.starts_with(question_mark), "{tb}");
    if backtraces_on() {
        // The application's frames, outermost first: the caller, then
        // `parse` (the place itself, which names it); nothing of the
        // library or the standard library.
        if tb.contains("File \"<unknown>\"") {
            // No line information (a release build): the place cannot be
            // told to be `parse`'s frame, which comes before it.
            assert_eq!(last, question_mark, "{tb}");
        } else {
            assert_eq!(
                last,
                format!("{question_mark}, in traceback::parse"),
                "{tb}"
            );
        }
        let parse_at = tb.find("traceback::parse").expect("parse's frame");
        let caller_at = tb
            .find("traceback::load_config")
            .expect("its caller's frame");
        assert!(caller_at < parse_at, "{tb}");
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
        assert_eq!(tb.lines().count(), 3, "{tb}");
    }
}

#[test]
fn a_raised_error_names_its_raiser() {
    let e = raise_here();
    let tb = traceback(&e);
    let last = frames(tb).last().copied().unwrap_or_default();
    assert!(
        last.starts_with("  File \"driver/tests/traceback.rs\", line "),
        "{tb}"
    );
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
        let last = frames(tb).last().copied().unwrap_or_default();
        assert!(
            last.starts_with("  File \"driver/tests/traceback.rs\", line "),
            "{tb}"
        );
        if backtraces_on() {
            assert!(tb.contains("traceback::load_config"), "{tb}");
        }
    }
}
