//! SIGINT and SIGTERM outside an actor's life: their default action.
//!
//! An adapter's signal streams (tokio's, async-signal's) sit on
//! `signal-hook-registry`, whose process-wide handler stays installed once
//! a signal has been asked for: after the first actor of a process has
//! listened for SIGINT or SIGTERM, the signal would be swallowed for the
//! rest of the process's life. So the first actor also registers, once per
//! process, an action that runs the signal's default action (the process
//! dies by the signal) whenever no actor of this process listens. An actor
//! listens from before it opens its signal streams until the end of its
//! teardown ([`listen`], to the drop of the [`Listening`] it returns).
//!
//! A signal this program already ignored or handled itself when its first
//! actor started is left to the program: on Linux, `/proc/self/status`
//! tells (a program that wants SIGINT or SIGTERM for itself once its root
//! has ended sets up its handling before the root starts).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use signal_hook::consts::{SIGINT, SIGTERM};

/// The signals whose default action comes back outside an actor's life.
const SIGNALS: [i32; 2] = [SIGINT, SIGTERM];

/// Set while no actor listens: the registered actions then run the
/// signal's default action. Registered with them on first use.
static DEFAULT: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// How many actors of this process listen (one at a time, as a rule).
static LISTENERS: Mutex<usize> = Mutex::new(0);

/// An actor listens for SIGINT and SIGTERM while this lives.
#[derive(Debug)]
pub(crate) struct Listening(());

/// Holds the default action of SIGINT and SIGTERM back until the returned
/// value is dropped; call it before opening the signal streams.
pub(crate) fn listen() -> Listening {
    let mut n = LISTENERS.lock().unwrap_or_else(|e| e.into_inner());
    let flag = DEFAULT.get_or_init(register);
    *n += 1;
    flag.store(false, Ordering::SeqCst);
    Listening(())
}

impl Drop for Listening {
    fn drop(&mut self) {
        let mut n = LISTENERS.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        if *n == 0
            && let Some(flag) = DEFAULT.get()
        {
            flag.store(true, Ordering::SeqCst);
        }
    }
}

/// Registers the conditional default action of each of [`SIGNALS`] that
/// the program left at its default; returns their flag, clear.
fn register() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let taken = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| handled_or_ignored(&s));
    for signal in SIGNALS {
        let name = signal_hook::low_level::signal_name(signal).unwrap_or("?");
        if taken.is_some_and(|mask| mask & bit(signal) != 0) {
            tracing::debug!(target: "tractor::runtime", signal = name, "the program handles or ignores it: left as it is outside actors");
            continue;
        }
        if let Err(e) = signal_hook::flag::register_conditional_default(signal, flag.clone()) {
            tracing::warn!(target: "tractor::runtime", signal = name, error = %e, "cannot restore its default action outside actors");
        }
    }
    flag
}

/// The bit of `signal` in a `/proc` signal mask.
fn bit(signal: i32) -> u64 {
    1u64 << (signal - 1)
}

/// The signals a process ignores or catches, from the `SigIgn` and
/// `SigCgt` masks of its `/proc/<pid>/status`; `None` if either is missing.
fn handled_or_ignored(status: &str) -> Option<u64> {
    let mask = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
    };
    Some(mask("SigIgn:")? | mask("SigCgt:")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_are_read_from_the_status_file() {
        let status = "Name:\tprog\nSigBlk:\t0000000000000000\n\
                      SigIgn:\t0000000000001000\nSigCgt:\t0000000000000002\n";
        let taken = handled_or_ignored(status).expect("both masks");
        // SIGPIPE (13) ignored, SIGINT (2) caught, SIGTERM (15) neither.
        assert_ne!(taken & bit(13), 0);
        assert_ne!(taken & bit(SIGINT), 0);
        assert_eq!(taken & bit(SIGTERM), 0);
        assert_eq!(handled_or_ignored("SigIgn:\t0\n"), None);
        assert_eq!(handled_or_ignored("SigIgn:\tzz\nSigCgt:\t0\n"), None);
    }
}
