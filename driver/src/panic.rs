//! Panics in tasks become the task's error: the message, the place and
//! a backtrace, recorded by a process-wide panic hook that stays silent for
//! panics it catches.

use std::panic::AssertUnwindSafe;
use std::sync::Once;
use std::task::Poll;

use tractor_protocol::LocalError;

use crate::error::{Error, Result};

std::thread_local! {
    static IN_TASK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static LAST_PANIC: std::cell::RefCell<Option<Panicked>> = const { std::cell::RefCell::new(None) };
}

/// What the panic hook records of a panic in a task: where, and the stack.
/// Nothing is resolved in the hook: a panic there would abort the process.
struct Panicked {
    /// ` at file:line`, for the message.
    place: String,
    /// Where it happened.
    at: crate::error::Place,
    /// The stack, if backtraces are on.
    trace: Option<crate::trace::Trace>,
}

/// Polls `f`, turning a panic into the task's error: the panic message,
/// where it happened, and a backtrace.
pub(crate) fn catch_panic<T>(f: impl FnOnce() -> Poll<Result<T>>) -> Poll<Result<T>> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_TASK.with(|t| t.get()) {
                let panicked = Panicked {
                    place: info
                        .location()
                        .map(|l| format!(" at {}:{}", l.file(), l.line()))
                        .unwrap_or_default(),
                    at: info.location().map(crate::error::place).unwrap_or_default(),
                    trace: crate::trace::enabled().then(crate::trace::Trace::capture),
                };
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(panicked));
            } else {
                previous(info);
            }
        }));
    });
    IN_TASK.with(|t| t.set(true));
    let r = std::panic::catch_unwind(AssertUnwindSafe(f));
    IN_TASK.with(|t| t.set(false));
    match r {
        Ok(p) => p,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic with a non-text payload".into());
            let message = |place: &str| format!("{what}{place}");
            Poll::Ready(Err(match LAST_PANIC.with(|p| p.borrow_mut().take()) {
                Some(p) => Error::local("Panic".into(), message(&p.place), p.at, p.trace),
                None => LocalError::new("Panic", message("")).into(),
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::task_record::as_call;

    fn traceback_of(e: &Error) -> &str {
        match e.kind() {
            ErrorKind::Local(l) => &l.traceback,
            other => panic!("a local error expected: {other:?}"),
        }
    }

    #[test]
    fn a_failure_made_once_its_call_is_cancelled_goes_without_a_backtrace() {
        let e = as_call(true, || Error::raise("AssertionError", "at once"));
        let at = format!("  File \"driver/src/panic.rs\", line {}", line!() - 1);
        // Nothing is left to resolve: it may go out at once.
        assert!(!e.unsettled());
        let tb = traceback_of(&e);
        assert!(tb.lines().any(|l| l == at), "{tb}");
        let panicked = as_call(true, || {
            catch_panic(|| -> Poll<Result<()>> { panic!("a cancelled call panics") })
        });
        let Poll::Ready(Err(p)) = panicked else {
            panic!("the panic is the call's error")
        };
        assert!(!p.unsettled());
        let ptb = traceback_of(&p);
        assert!(
            ptb.contains("  File \"driver/src/panic.rs\", line "),
            "{ptb}"
        );
        if crate::trace::enabled() {
            for tb in [tb, ptb] {
                assert_eq!(
                    tb.lines().nth(2),
                    Some(crate::error::CANCELLED_NO_BACKTRACE),
                    "{tb}"
                );
                assert_eq!(tb.lines().count(), 3, "{tb}");
            }
        } else {
            assert!(tb.contains("RUST_BACKTRACE=1"), "{tb}");
        }
        // Outside a cancelled call: the backtrace as ever, resolved when
        // first needed.
        let e = as_call(false, || Error::raise("AssertionError", "at once"));
        assert_eq!(e.unsettled(), crate::trace::enabled());
        let tb = traceback_of(&e);
        assert!(!tb.contains(crate::error::CANCELLED_NO_BACKTRACE), "{tb}");
    }
}
