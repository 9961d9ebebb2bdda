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
//!
//! A root ignores SIGINT while a debug REPL of its tree holds the terminal
//! (ctrl-c is the REPL's then). Which of the two a SIGINT meant is decided
//! by the state at its delivery, not at the later moment the root's task
//! gets to it: a ctrl-c typed at a REPL that the user leaves a moment after
//! would otherwise cancel the tree when the root, busy or descheduled,
//! reads the signal only once the REPL has ended. See [`sigint_for`].

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

/// What the root knows of SIGINTs and the REPL's hold on the terminal
/// (set up on first use, before any signal stream of the process).
static LEDGER: OnceLock<Ledger> = OnceLock::new();

/// SIGINTs as they were delivered, against the moments a REPL let go of
/// the terminal.
#[derive(Debug, Default)]
struct Ledger {
    /// Set by every SIGINT as its handler runs; cleared as the root
    /// accounts for it.
    seen: Arc<AtomicBool>,
    /// A SIGINT had been handled while a REPL held the terminal but the
    /// root had not read it when the REPL ended: the next one the root
    /// reads without a newer delivery is that one.
    owed: AtomicBool,
    /// A SIGINT had been sent but not yet handled (still pending in the
    /// process) when a REPL ended: the delivery recorded next is that one.
    in_flight: AtomicBool,
    /// Set by every SIGCONT: the process was stopped, and its threads
    /// all resume at once, any of them taking a SIGINT sent meanwhile.
    continued: Arc<AtomicBool>,
    /// When the last REPL ended, after a SIGCONT, with no SIGINT pending
    /// nor handled: one the root reads within [`HANDLER_GRACE`] of it is
    /// taken as the REPL's (see [`Ledger::released`]).
    quiet_release: Mutex<Option<std::time::Instant>>,
}

impl Ledger {
    fn read(&self, held_now: bool) -> SigintFor {
        if held_now {
            self.seen.store(false, Ordering::SeqCst);
            self.in_flight.store(false, Ordering::SeqCst);
            return SigintFor::Repl;
        }
        let quiet = self.quiet_release().take();
        if self.seen.swap(false, Ordering::SeqCst) {
            if self.in_flight.swap(false, Ordering::SeqCst) {
                // The one sent before the REPL ended, handled after.
                return SigintFor::Repl;
            }
            if quiet.is_some_and(|at| at.elapsed() < HANDLER_GRACE) {
                // Most likely taken off the pending set by another thread
                // before the REPL ended and handled just after.
                return SigintFor::Repl;
            }
            // Delivered since the REPL ended (or with none ever): the
            // tree's, and it covers any owed one read with it.
            self.owed.store(false, Ordering::SeqCst);
            return SigintFor::Tree;
        }
        if self.owed.load(Ordering::SeqCst) {
            return SigintFor::Repl;
        }
        SigintFor::Tree
    }

    fn released(&self, sigint_pending: bool) {
        if !sigint_pending && !self.seen.load(Ordering::SeqCst) {
            // A thread may have taken a SIGINT off the pending set and be
            // about to run its handler (preempted in between): give it the
            // processor a few times before deciding there is none.
            for _ in 0..HANDLER_YIELDS {
                std::thread::yield_now();
                if self.seen.load(Ordering::SeqCst) {
                    break;
                }
            }
        }
        // What an earlier REPL left unread is read by now, or was read as
        // this one's: each release starts the account afresh.
        let handled = self.seen.swap(false, Ordering::SeqCst);
        self.owed.store(handled, Ordering::SeqCst);
        self.in_flight.store(sigint_pending, Ordering::SeqCst);
        // None seen, in a process that was stopped and continued since
        // the last release: all its threads resumed at once, and one may
        // still be between taking a SIGINT sent while it was stopped and
        // running its handler, for longer than the yields above. Nothing
        // tells that one from a new ctrl-c, so a SIGINT read right after
        // this release is counted as the REPL's: a ctrl-c meant for the
        // tree and typed within that moment is dropped and must be typed
        // again, which is better than cancelling the tree with the REPL's.
        // A process that was not stopped delivers a SIGINT to its main
        // thread, which runs the handler before it goes on.
        let continued = self.continued.swap(false, Ordering::SeqCst);
        *self.quiet_release() =
            (continued && !handled && !sigint_pending).then(std::time::Instant::now);
    }

    fn quiet_release(&self) -> std::sync::MutexGuard<'_, Option<std::time::Instant>> {
        self.quiet_release.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How long after a REPL ended with no SIGINT in sight one the root reads
/// is still taken as the REPL's.
const HANDLER_GRACE: std::time::Duration = std::time::Duration::from_millis(250);

/// How often a REPL's end yields the processor to a SIGINT handler that
/// may be under way before it counts the SIGINTs it owes to the REPL.
const HANDLER_YIELDS: usize = 4;

/// Whom a SIGINT read by the root was meant for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SigintFor {
    /// A debug REPL held the terminal when it came.
    Repl,
    /// The tree: it is cancelled.
    Tree,
}

/// Whom the SIGINT the root has just read was meant for, given whether a
/// REPL of the tree holds the terminal now.
pub(crate) fn sigint_for(held_now: bool) -> SigintFor {
    match LEDGER.get() {
        Some(ledger) => ledger.read(held_now),
        None if held_now => SigintFor::Repl,
        None => SigintFor::Tree,
    }
}

/// A REPL of the tree has let go of the terminal: SIGINTs sent while it
/// held it and not read yet are the REPL's.
pub(crate) fn terminal_released() {
    if let Some(ledger) = LEDGER.get() {
        ledger.released(sigint_pending());
    }
}

/// Whether a SIGINT sent to this process waits to be handled: a ctrl-c
/// goes to the process as a whole, and stays in its shared pending set
/// (`ShdPnd` in `/proc/self/status`) until one of its threads runs the
/// handler.
fn sigint_pending() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("ShdPnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|mask| mask & bit(SIGINT) != 0)
}

/// An actor listens for SIGINT and SIGTERM while this lives.
#[derive(Debug)]
pub(crate) struct Listening(());

/// Holds the default action of SIGINT and SIGTERM back until the returned
/// value is dropped; call it before opening the signal streams.
pub(crate) fn listen() -> Listening {
    let mut n = LISTENERS.lock().unwrap_or_else(|e| e.into_inner());
    // After `register`, which must see the program's own handling of the
    // signals only (this action is one too); before any signal stream, so
    // that a delivery is recorded before a stream can wake on it.
    let flag = DEFAULT.get_or_init(register);
    LEDGER.get_or_init(|| {
        let ledger = Ledger::default();
        if let Err(e) = signal_hook::flag::register(SIGINT, ledger.seen.clone()) {
            tracing::warn!(target: "tractor::runtime", error = %e, "cannot tell a REPL's ctrl-c by its delivery");
        }
        // SIGCONT's action (the process goes on) is the kernel's, whatever
        // handler it has: this one only records it.
        if let Err(e) =
            signal_hook::flag::register(signal_hook::consts::SIGCONT, ledger.continued.clone())
        {
            tracing::warn!(target: "tractor::runtime", error = %e, "cannot tell when the process is continued");
        }
        ledger
    });
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

    impl Ledger {
        /// A SIGINT's handler runs.
        fn deliver(&self) {
            self.seen.store(true, Ordering::SeqCst);
        }
        /// The REPL ends with no SIGINT waiting for its handler.
        fn release(&self) {
            self.released(false);
        }
        /// The process is stopped and continued.
        fn cont(&self) {
            self.continued.store(true, Ordering::SeqCst);
        }
        /// Time passes after a release: longer than the grace.
        fn later(&self) {
            let mut q = self.quiet_release();
            *q = q.and_then(|at| at.checked_sub(HANDLER_GRACE * 2));
        }
    }

    #[test]
    fn a_ctrl_c_handled_just_after_a_quiet_release_is_the_repls() {
        // Taken off the pending set by a thread that lost its CPU before
        // its handler ran, in a process just continued, while the REPL
        // ended seeing nothing.
        let l = Ledger::default();
        l.cont();
        l.release();
        l.deliver();
        assert_eq!(l.read(false), SigintFor::Repl);
        // The next one is the tree's, however soon.
        l.deliver();
        assert_eq!(l.read(false), SigintFor::Tree);
        // Once the moment has passed, a ctrl-c is the tree's.
        l.cont();
        l.release();
        l.later();
        l.deliver();
        assert_eq!(l.read(false), SigintFor::Tree);
        // In a process that was not stopped, at once.
        l.release();
        l.deliver();
        assert_eq!(l.read(false), SigintFor::Tree);
    }

    #[test]
    fn a_ctrl_c_at_a_repl_stays_the_repls_when_read_after_it_ended() {
        let l = Ledger::default();
        // Typed at the REPL, read only after the user left it.
        l.deliver();
        l.release();
        assert_eq!(l.read(false), SigintFor::Repl);
        // Several typed then, read one by one afterwards.
        l.deliver();
        l.release();
        assert_eq!(l.read(false), SigintFor::Repl);
        assert_eq!(l.read(false), SigintFor::Repl);
        // A new one after the REPL: the tree's.
        l.deliver();
        assert_eq!(l.read(false), SigintFor::Tree);
        assert_eq!(l.read(false), SigintFor::Tree);
    }

    #[test]
    fn a_ctrl_c_sent_before_the_repl_ended_but_handled_after_is_the_repls() {
        let l = Ledger::default();
        // Sent at the REPL; no thread has run its handler yet when the
        // REPL ends.
        l.released(true);
        l.deliver();
        assert_eq!(l.read(false), SigintFor::Repl);
        // The next one is the tree's.
        l.deliver();
        assert_eq!(l.read(false), SigintFor::Tree);
        // A new REPL clears what an old one left.
        let l = Ledger::default();
        l.released(true);
        assert_eq!(l.read(true), SigintFor::Repl);
        l.deliver();
        assert_eq!(l.read(false), SigintFor::Tree);
    }

    #[test]
    fn each_release_starts_the_account_afresh() {
        let l = Ledger::default();
        // A ctrl-c at a first REPL, owed to it but never read as a stream
        // item of its own...
        l.deliver();
        l.release();
        // ...then a second REPL comes and goes without one: a read with no
        // new delivery (a stream's late duplicate) is not the REPL's debt
        // any more, and a new ctrl-c is the tree's.
        l.release();
        assert_eq!(l.read(false), SigintFor::Tree);
        l.deliver();
        assert_eq!(l.read(false), SigintFor::Tree);
    }

    #[test]
    fn a_ctrl_c_is_the_trees_unless_a_repl_held_the_terminal_at_its_delivery() {
        let l = Ledger::default();
        l.deliver();
        assert_eq!(l.read(false), SigintFor::Tree);
        // Read while the REPL holds the terminal: the REPL's; its end owes
        // nothing more.
        l.deliver();
        assert_eq!(l.read(true), SigintFor::Repl);
        l.release();
        l.later();
        l.deliver();
        assert_eq!(l.read(false), SigintFor::Tree);
        // With no delivery recorded at all (the flag could not be set up).
        let l = Ledger::default();
        assert_eq!(l.read(false), SigintFor::Tree);
        assert_eq!(l.read(true), SigintFor::Repl);
    }
}
