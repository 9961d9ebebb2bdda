//! Logging, with Python tractor's levels.
//!
//! The runtime logs through `tracing`, under one target per part of it:
//! `tractor::transport` (connections, frames, single calls), `tractor::runtime`
//! (actors, dialogs, children), `tractor::devx` (task-tree dumps),
//! `tractor::cancel` (cancellation and reaping) and `tractor::pdb` (the
//! debugger). Any `tracing` subscriber can filter on them (say
//! `RUST_LOG=tractor::cancel=debug`).
//!
//! Or let the runtime log to the console: a log level given to the root
//! ([`Config::loglevel`](crate::Config::loglevel)) is passed to every
//! child, and in each process `TRACTOR_LOGLEVEL`, when set, overrides it.
//! Given a level, an actor whose program has installed no subscriber
//! installs [`console`]: one line per event on stderr, naming the actor.
//! Levels filter as in Python: a level shows its own records and every
//! record above it, in this order: `transport` (5), `debug` (10),
//! `runtime` (15), `devx` (17), `info` (20), `cancel` (22), `warning`
//! (30), `error` (40), `critical` (50), `pdb` (500).
//!
//! An event's number is its part's, raised to its `tracing` level's (an
//! `info!` under `tractor::runtime` is 20, a `debug!` there 15). What each
//! level adds:
//!
//! * `info` and `cancel`: the story of the tree, one line per event. Each
//!   actor up (its addresses), each child spawned (name, pid) and its exit
//!   (exit code or signal, and whether it was reaped normally, terminated
//!   or killed), each registration with the registrar (on both sides),
//!   every cancellation (who cancelled which actor, nursery or context,
//!   signals and lost parents), and a nursery waiting on daemons (see
//!   [`DAEMON_WAIT_NOTICE`]).
//! * `runtime`: the steps between: children connecting back,
//!   unregistering, channels closing, teardown's stages, failed calls.
//! * `debug` (`debug!` under `tractor::transport`): one line per call
//!   served, per call cancelled with its actor, per message a call ignored,
//!   per stream item dropped unread or arriving after its stream was
//!   closed.
//! * `transport`: every message sent and received.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::prelude::*;

/// The environment variable that sets (and overrides) the log level of
/// every process of a tree.
pub const ENV: &str = "TRACTOR_LOGLEVEL";

/// How long a nursery whose body has ended waits on daemon children
/// (started with `start_actor`, still running) before it says so, once, at
/// `info`: the body is over, but the nursery waits until each daemon is
/// cancelled (`Portal::cancel_actor`) or the nursery is
/// (`ActorNursery::cancel`). [`DAEMON_WAIT_ENV`] changes it.
pub const DAEMON_WAIT_NOTICE: Duration = Duration::from_secs(5);

/// The environment variable that sets [`DAEMON_WAIT_NOTICE`] in seconds
/// (fractions allowed, say `0.5`); children inherit it. Values under
/// [`DAEMON_WAIT_FLOOR`] count as it; a value too large for a deadline
/// (`inf`, `1e30`) means never; one that is not a number of seconds, is
/// negative or NaN is ignored (with a warning): the default holds.
pub const DAEMON_WAIT_ENV: &str = "TRACTOR_DAEMON_WAIT_NOTICE";

/// The shortest [`DAEMON_WAIT_NOTICE`]: a nursery waiting on one-shots
/// looks for daemons again at this pace at most.
pub const DAEMON_WAIT_FLOOR: Duration = Duration::from_millis(100);

/// [`DAEMON_WAIT_NOTICE`], or what [`DAEMON_WAIT_ENV`] says (read once per
/// process).
pub(crate) fn daemon_wait_notice() -> Duration {
    static READ: OnceLock<Duration> = OnceLock::new();
    *READ.get_or_init(|| {
        let value = std::env::var(DAEMON_WAIT_ENV).ok();
        parse_daemon_wait(value.as_deref()).unwrap_or_else(|bad| {
            tracing::warn!(target: "tractor::runtime", value = %bad, "{DAEMON_WAIT_ENV} is not a number of seconds: ignored");
            DAEMON_WAIT_NOTICE
        })
    })
}

/// The notice's delay for a value of [`DAEMON_WAIT_ENV`]: the default when
/// unset or empty, at least [`DAEMON_WAIT_FLOOR`], [`Duration::MAX`] (never)
/// when too large; the value itself back when it is no number of seconds.
pub(crate) fn parse_daemon_wait(value: Option<&str>) -> Result<Duration, String> {
    let Some(text) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(DAEMON_WAIT_NOTICE);
    };
    match text.parse::<f64>() {
        Ok(secs) if secs >= 0.0 => Ok(Duration::try_from_secs_f64(secs.abs())
            .unwrap_or(Duration::MAX)
            .max(DAEMON_WAIT_FLOOR)),
        // Negative, NaN, or no number at all.
        _ => Err(text.to_owned()),
    }
}

/// When a notice `after` from `now` is due: `None` (never) when that is
/// beyond what the clock can tell.
pub(crate) fn notice_deadline(now: Instant, after: Duration) -> Option<Instant> {
    now.checked_add(after)
}

/// `items`, shown and joined with `, ` (addresses, names).
pub(crate) fn list<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let mut out = String::new();
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{item}");
    }
    out
}

/// A failure as a log line names it: a remote error by its original type,
/// the actor that raised it and those that relayed it
/// (`ParseIntError from leaf[…] via middle[…]`), a local one by its type,
/// each of a group in turn, anything else by its message's first line.
pub(crate) fn failure(e: &crate::Error) -> String {
    use crate::ErrorKind;
    if let Some(r) = e.remote() {
        let src = r.src_uid();
        let mut out = format!("{} from {src}", r.src_type());
        let relays: Vec<_> = r.relay_path().iter().filter(|u| *u != src).collect();
        if !relays.is_empty() {
            let _ = write!(out, " via {}", list(relays));
        }
        return out;
    }
    match e.kind() {
        ErrorKind::Local(l) => l.type_name.clone(),
        ErrorKind::Group(errors) => {
            let each: Vec<String> = errors.iter().map(failure).collect();
            format!("[{}]", each.join("; "))
        }
        _ => e.to_string().lines().next().unwrap_or_default().to_owned(),
    }
}

/// Python tractor's level names and numbers, lowest first.
pub const LEVELS: [(&str, u32); 10] = [
    ("transport", 5),
    ("debug", 10),
    ("runtime", 15),
    ("devx", 17),
    ("info", 20),
    ("cancel", 22),
    ("warning", 30),
    ("error", 40),
    ("critical", 50),
    ("pdb", 500),
];

/// The number of level `name` (case-insensitive; `trace` is `transport`,
/// `warn` is `warning`).
pub fn level_number(name: &str) -> Option<u32> {
    let name = name.to_ascii_lowercase();
    let name = match name.as_str() {
        "trace" => "transport",
        "warn" => "warning",
        other => other,
    };
    LEVELS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// The level a process runs with: `TRACTOR_LOGLEVEL` if set, else
/// `given` (the root's config, or a child's `--loglevel`).
pub(crate) fn effective(given: Option<String>) -> Option<String> {
    std::env::var(ENV).ok().filter(|v| !v.is_empty()).or(given)
}

/// The Python number of a `tracing` event: its tractor part's level,
/// raised to its own `tracing` level's.
fn number_of(meta: &Metadata<'_>) -> u32 {
    let by_level = match *meta.level() {
        Level::TRACE => 5,
        Level::DEBUG => 10,
        Level::INFO => 20,
        Level::WARN => 30,
        Level::ERROR => 40,
    };
    let by_part = meta
        .target()
        .strip_prefix("tractor::")
        .and_then(level_number)
        .unwrap_or(0);
    by_level.max(by_part)
}

/// The actor the console lines name, once this process runs one.
static ACTOR: OnceLock<String> = OnceLock::new();

/// Names the actor in console lines from now on.
pub(crate) fn set_actor(uid: &tractor_protocol::Uid) {
    let _ = ACTOR.set(uid.to_string());
}

/// The console layer: events at or above `level` (a name of [`LEVELS`]),
/// one line each on stderr, like
/// `12:01:02.345 [child[f0713999…] 4242] cancel tractor::cancel: actor cancel requested by=root[…]`.
pub fn console<S: Subscriber>(level: &str) -> Option<impl Layer<S>> {
    let threshold = level_number(level)?;
    Some(Console { threshold })
}

struct Console {
    threshold: u32,
}

impl<S: Subscriber> Layer<S> for Console {
    fn enabled(&self, meta: &Metadata<'_>, _: Context<'_, S>) -> bool {
        number_of(meta) >= self.threshold
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        let number = number_of(meta);
        let name = LEVELS
            .iter()
            .rev()
            .find(|(_, v)| *v <= number)
            .map_or("transport", |(n, _)| n);
        let mut fields = Fields::default();
        event.record(&mut fields);
        let since_midnight = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
            % 86_400_000;
        let (h, m, s, ms) = (
            since_midnight / 3_600_000,
            since_midnight / 60_000 % 60,
            since_midnight / 1000 % 60,
            since_midnight % 1000,
        );
        let actor = ACTOR.get().map_or("(no actor)", String::as_str);
        let line = format!(
            "{h:02}:{m:02}:{s:02}.{ms:03} [{actor} {}] {name} {}: {}{}\n",
            std::process::id(),
            meta.target(),
            fields.message,
            fields.rest
        );
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={value}", field.name());
        }
    }
}

/// Installs [`console`] at `level` as the process's subscriber, unless the
/// program installed one already or the level is unknown (warned about).
pub(crate) fn install(level: &str) {
    let Some(layer) = console(level) else {
        eprintln!(
            "tractor: unknown log level {level:?}; known: {}",
            LEVELS.map(|(n, _)| n).join(", ")
        );
        return;
    };
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_order_as_in_python() {
        assert_eq!(level_number("CANCEL"), Some(22));
        assert_eq!(level_number("warn"), Some(30));
        assert_eq!(level_number("trace"), Some(5));
        assert_eq!(level_number("verbose"), None);
        let numbers: Vec<u32> = LEVELS.iter().map(|(_, n)| *n).collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn daemon_wait_notice_values() {
        let secs = |v: &str| parse_daemon_wait(Some(v));
        assert_eq!(parse_daemon_wait(None), Ok(DAEMON_WAIT_NOTICE));
        assert_eq!(secs(" "), Ok(DAEMON_WAIT_NOTICE));
        assert_eq!(secs("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(secs(" 2 "), Ok(Duration::from_secs(2)));
        // A floor: never a spin.
        assert_eq!(secs("0"), Ok(DAEMON_WAIT_FLOOR));
        assert_eq!(secs("-0"), Ok(DAEMON_WAIT_FLOOR));
        assert_eq!(secs("0.001"), Ok(DAEMON_WAIT_FLOOR));
        // Beyond a Duration: never.
        assert_eq!(secs("1e30"), Ok(Duration::MAX));
        assert_eq!(secs("inf"), Ok(Duration::MAX));
        // Refused: the caller keeps the default.
        for bad in ["-1", "NaN", "-inf", "soon", "5s"] {
            assert_eq!(secs(bad), Err(bad.to_owned()), "{bad}");
        }
    }

    #[test]
    fn daemon_wait_deadlines_never_overflow() {
        let now = Instant::now();
        let huge = parse_daemon_wait(Some("1e19")).expect("a number");
        assert!(huge < Duration::MAX, "a Duration, but past the clock");
        assert_eq!(notice_deadline(now, huge), None);
        assert_eq!(notice_deadline(now, Duration::MAX), None);
        assert_eq!(
            notice_deadline(now, DAEMON_WAIT_FLOOR),
            Some(now + DAEMON_WAIT_FLOOR)
        );
    }

    #[test]
    fn failures_name_their_type_and_actors() {
        use tractor_protocol::{LocalError, RemoteError, TaskError, Uid, pack_error};
        let leaf = Uid::new("leaf", "831e4d25-0000-4000-8000-000000000000");
        let middle = Uid::new("middle", "37e09c22-0000-4000-8000-000000000000");
        let raised = TaskError::Local(LocalError::new("ParseIntError", "invalid digit"));
        let from_leaf = RemoteError::from_message(pack_error(&raised, &leaf, None, ""));
        let relayed = pack_error(&TaskError::Remote(from_leaf.clone()), &middle, None, "");
        let relayed =
            crate::Error::from(crate::ErrorKind::Remote(RemoteError::from_message(relayed)));
        assert_eq!(relayed.type_name(), Some("RemoteActorError"));
        assert_eq!(
            failure(&relayed),
            "ParseIntError from leaf[831e4d25…] via middle[37e09c22…]"
        );
        let direct = crate::Error::from(crate::ErrorKind::Remote(from_leaf));
        assert_eq!(failure(&direct), "ParseIntError from leaf[831e4d25…]");
        let local = crate::Error::raise("KeyError", "'missing'");
        assert_eq!(failure(&local), "KeyError");
        let group = crate::Error::group(vec![relayed, local]).expect("two");
        assert_eq!(
            failure(&group),
            "[ParseIntError from leaf[831e4d25…] via middle[37e09c22…]; KeyError]"
        );
        let spawn = crate::Error::from(crate::ErrorKind::Spawn {
            name: "g0".into(),
            reason: "it exited\nmore".into(),
        });
        assert_eq!(failure(&spawn), "could not spawn actor \"g0\": it exited");
    }

    #[test]
    fn lists_join_with_commas() {
        assert_eq!(list(["a", "b", "c"]), "a, b, c");
        assert_eq!(list(Vec::<String>::new()), "");
    }
}
