//! A tree's limits (`Limits`, and the largest frame): where a root takes
//! them from, and how children inherit them.
//!
//! A root runs with its [`Config::limits`](crate::Config#structfield.limits)
//! and [`Config::max_frame_len`](crate::Config#structfield.max_frame_len),
//! each overridden by its environment variable when that is set (as
//! `TRACTOR_LOGLEVEL` overrides the log level): [`MAX_CONNECTIONS_ENV`],
//! [`MAX_PENDING_CONNECTIONS_ENV`], [`MAX_DIALOGS_PER_PEER_ENV`],
//! [`MAX_QUEUED_BYTES_ENV`], [`MAX_QUEUED_FRAMES_ENV`],
//! [`STALL_TIMEOUT_MS_ENV`], [`KEEPALIVE_MS_ENV`], [`MAX_FRAME_LEN_ENV`], and its grace period
//! for cancelled functions
//! ([`Config::cancel_grace`](crate::Config#structfield.cancel_grace)),
//! [`CANCEL_GRACE_MS_ENV`]. Every actor it spawns
//! gets all of them in its environment, set to the limits it runs with, and
//! hands them down the same way: a whole tree runs with its root's limits.
//! (A child started with one of these variables in its
//! `ActorOptions::env` runs with that value instead, and hands it down.)
//!
//! A value is a whole number in decimal digits (no sign, unit, separator
//! nor space) that fits the limit: any `usize` for the counts and byte
//! sizes, at most `u32::MAX` for the frame length, the stall timeout and
//! the grace period (both in milliseconds, about 49 days). Zero is taken at its word, as in
//! `Config::limits`. An empty value counts as unset. Any other value stops
//! the actor at start with [`ErrorKind::BadEnv`] naming the variable: a
//! limit is never silently replaced by its default.

use std::ffi::{OsStr, OsString};
use std::time::Duration;

use tractor_protocol::Limits;

use crate::error::{ErrorKind, Result};

/// Inbound connections open at once (`Limits::max_connections`).
pub const MAX_CONNECTIONS_ENV: &str = "TRACTOR_MAX_CONNECTIONS";
/// Inbound connections still handshaking at once
/// (`Limits::max_pending_connections`).
pub const MAX_PENDING_CONNECTIONS_ENV: &str = "TRACTOR_MAX_PENDING_CONNECTIONS";
/// Functions run at once for one connection
/// (`Limits::max_dialogs_per_peer`).
pub const MAX_DIALOGS_PER_PEER_ENV: &str = "TRACTOR_MAX_DIALOGS_PER_PEER";
/// Output bytes queued for one connection before reading from it pauses
/// (`Limits::max_queued_bytes`).
pub const MAX_QUEUED_BYTES_ENV: &str = "TRACTOR_MAX_QUEUED_BYTES";
/// Output frames queued for one connection before reading from it pauses
/// (`Limits::max_queued_frames`).
pub const MAX_QUEUED_FRAMES_ENV: &str = "TRACTOR_MAX_QUEUED_FRAMES";
/// How long queued output may go unwritten, in milliseconds
/// (`Limits::stall_timeout`; a parent hands its own down rounded up to a
/// whole millisecond).
pub const STALL_TIMEOUT_MS_ENV: &str = "TRACTOR_STALL_TIMEOUT_MS";
/// How long a silent TCP peer is given before its connection is taken
/// as lost, in milliseconds (`Limits::keepalive`, counted in whole seconds
/// by TCP); `0` turns keepalive off (the system's defaults, hours).
pub const KEEPALIVE_MS_ENV: &str = "TRACTOR_KEEPALIVE_MS";

/// The largest frame body accepted, in bytes
/// ([`Config::max_frame_len`](crate::Config#structfield.max_frame_len)).
pub const MAX_FRAME_LEN_ENV: &str = "TRACTOR_MAX_FRAME_LEN";

/// The grace period of a cancelled function that asked for one, in
/// milliseconds
/// ([`Config::cancel_grace`](crate::Config#structfield.cancel_grace); a
/// parent hands its own down rounded up to a whole millisecond).
pub const CANCEL_GRACE_MS_ENV: &str = "TRACTOR_CANCEL_GRACE_MS";

/// The longest value shown in an error.
const SHOWN: usize = 64;

/// The limits an actor runs with and hands down to its children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TreeLimits {
    pub(crate) limits: Limits,
    pub(crate) max_frame_len: u32,
    /// The grace period of a cancelled function that asked for one.
    pub(crate) cancel_grace: Duration,
}

impl TreeLimits {
    /// A root's: its configuration, overridden by its environment.
    pub(crate) fn for_root(
        limits: &Limits,
        max_frame_len: u32,
        cancel_grace: Duration,
    ) -> Result<Self> {
        Self::with_env(
            TreeLimits {
                limits: limits.clone(),
                max_frame_len,
                cancel_grace: cancel_grace.min(tractor_protocol::MAX_CANCEL_GRACE),
            },
            |var| std::env::var_os(var),
        )
    }

    /// A child's: the defaults, overridden by the environment its parent
    /// gave it (all of them, from a Rust parent).
    pub(crate) fn for_child() -> Result<Self> {
        Self::with_env(
            TreeLimits {
                limits: Limits::default(),
                max_frame_len: tractor_protocol::DEFAULT_MAX_FRAME_LEN,
                cancel_grace: tractor_protocol::DEFAULT_CANCEL_GRACE,
            },
            |var| std::env::var_os(var),
        )
    }

    /// `base`, with each variable that `get` finds set replacing its limit.
    fn with_env(base: Self, get: impl Fn(&str) -> Option<OsString>) -> Result<Self> {
        let mut out = base;
        let max_usize = u64::try_from(usize::MAX).unwrap_or(u64::MAX);
        let max_u32 = u64::from(u32::MAX);
        let count = |var: &str, max: u64| -> Result<Option<u64>> {
            match get(var) {
                Some(v) => parse(var, &v, max),
                None => Ok(None),
            }
        };
        // Within `max`, so the conversions below cannot fail.
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        let l = &mut out.limits;
        if let Some(n) = count(MAX_CONNECTIONS_ENV, max_usize)? {
            l.max_connections = size(n);
        }
        if let Some(n) = count(MAX_PENDING_CONNECTIONS_ENV, max_usize)? {
            l.max_pending_connections = size(n);
        }
        if let Some(n) = count(MAX_DIALOGS_PER_PEER_ENV, max_usize)? {
            l.max_dialogs_per_peer = size(n);
        }
        if let Some(n) = count(MAX_QUEUED_BYTES_ENV, max_usize)? {
            l.max_queued_bytes = size(n);
        }
        if let Some(n) = count(MAX_QUEUED_FRAMES_ENV, max_usize)? {
            l.max_queued_frames = size(n);
        }
        if let Some(n) = count(STALL_TIMEOUT_MS_ENV, max_u32)? {
            l.stall_timeout = Duration::from_millis(n);
        }
        if let Some(n) = count(KEEPALIVE_MS_ENV, max_u32)? {
            l.keepalive = (n > 0).then(|| Duration::from_millis(n));
        }
        if let Some(n) = count(MAX_FRAME_LEN_ENV, max_u32)? {
            out.max_frame_len = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some(n) = count(CANCEL_GRACE_MS_ENV, max_u32)? {
            out.cancel_grace = Duration::from_millis(n);
        }
        Ok(out)
    }

    /// The environment a child is started with: every limit, set to this
    /// actor's, so that nothing stale or malformed is inherited.
    pub(crate) fn child_env(&self) -> Vec<(&'static str, String)> {
        let l = &self.limits;
        // Rounded up, so that a timeout under a millisecond is not zero.
        let stall = l
            .stall_timeout
            .as_nanos()
            .div_ceil(1_000_000)
            .min(u128::from(u32::MAX));
        let grace = self
            .cancel_grace
            .as_nanos()
            .div_ceil(1_000_000)
            .min(u128::from(u32::MAX));
        let keepalive = l.keepalive.map_or(0, |k| {
            k.as_nanos()
                .div_ceil(1_000_000)
                .clamp(1, u128::from(u32::MAX))
        });
        let set = |var: &'static str, n: String| (var, n);
        vec![
            set(MAX_CONNECTIONS_ENV, l.max_connections.to_string()),
            set(
                MAX_PENDING_CONNECTIONS_ENV,
                l.max_pending_connections.to_string(),
            ),
            set(MAX_DIALOGS_PER_PEER_ENV, l.max_dialogs_per_peer.to_string()),
            set(MAX_QUEUED_BYTES_ENV, l.max_queued_bytes.to_string()),
            set(MAX_QUEUED_FRAMES_ENV, l.max_queued_frames.to_string()),
            set(STALL_TIMEOUT_MS_ENV, stall.to_string()),
            set(KEEPALIVE_MS_ENV, keepalive.to_string()),
            set(MAX_FRAME_LEN_ENV, self.max_frame_len.to_string()),
            set(CANCEL_GRACE_MS_ENV, grace.to_string()),
        ]
    }
}

/// One variable's value: `None` if empty, else a number of at most `max`.
fn parse(var: &str, value: &OsStr, max: u64) -> Result<Option<u64>> {
    let bad = |reason: String| {
        let shown: String = value.to_string_lossy().chars().take(SHOWN).collect();
        ErrorKind::BadEnv {
            var: var.to_owned(),
            value: shown,
            reason,
        }
        .into()
    };
    let Some(text) = value.to_str() else {
        return Err(bad("not UTF-8".to_owned()));
    };
    if text.is_empty() {
        return Ok(None);
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(
            "expected a whole number in decimal digits, with no sign, unit, separator or space"
                .to_owned(),
        ));
    }
    match text.parse::<u64>() {
        Ok(n) if n <= max => Ok(Some(n)),
        _ => Err(bad(format!("over the largest value accepted, {max}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> TreeLimits {
        TreeLimits {
            limits: Limits::default(),
            max_frame_len: tractor_protocol::DEFAULT_MAX_FRAME_LEN,
            cancel_grace: tractor_protocol::DEFAULT_CANCEL_GRACE,
        }
    }

    fn from(vars: &[(&str, &str)]) -> Result<TreeLimits> {
        let vars: Vec<(String, OsString)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        TreeLimits::with_env(base(), |var| {
            vars.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn unset_and_empty_keep_the_base() {
        assert_eq!(from(&[]).unwrap(), base());
        assert_eq!(from(&[(MAX_DIALOGS_PER_PEER_ENV, "")]).unwrap(), base());
    }

    #[test]
    fn every_limit_round_trips_through_a_childs_environment() {
        let mine = TreeLimits {
            limits: Limits {
                max_connections: 7,
                max_pending_connections: 3,
                max_dialogs_per_peer: 4,
                max_queued_bytes: 1000,
                max_queued_frames: 20,
                stall_timeout: Duration::from_millis(1500),
                keepalive: Some(Duration::from_secs(12)),
            },
            max_frame_len: 4096,
            cancel_grace: Duration::from_millis(2500),
        };
        let env = mine.child_env();
        assert_eq!(env.len(), 9);
        let got = TreeLimits::with_env(base(), |var| {
            env.iter()
                .find(|(k, _)| *k == var)
                .map(|(_, v)| OsString::from(v))
        })
        .unwrap();
        assert_eq!(got, mine);
        // A timeout under a millisecond is handed down as one, not zero.
        let mut tiny = mine.clone();
        tiny.limits.stall_timeout = Duration::from_micros(10);
        let env = tiny.child_env();
        let stall = env
            .iter()
            .find(|(k, _)| *k == STALL_TIMEOUT_MS_ENV)
            .unwrap();
        assert_eq!(stall.1, "1");
        // A zero grace is handed down as zero: no grace in the child.
        let mut none = mine.clone();
        none.cancel_grace = Duration::ZERO;
        let env = none.child_env();
        let grace = env.iter().find(|(k, _)| *k == CANCEL_GRACE_MS_ENV).unwrap();
        assert_eq!(grace.1, "0");
        // Keepalive off is handed down as off.
        let mut off = mine.clone();
        off.limits.keepalive = None;
        let env = off.child_env();
        let keepalive = env.iter().find(|(k, _)| *k == KEEPALIVE_MS_ENV).unwrap();
        assert_eq!(keepalive.1, "0");
        let got = TreeLimits::with_env(base(), |var| {
            env.iter()
                .find(|(k, _)| *k == var)
                .map(|(_, v)| OsString::from(v))
        })
        .unwrap();
        assert_eq!(got.limits.keepalive, None);
    }

    #[test]
    fn a_malformed_value_is_an_error_naming_the_variable() {
        for (var, value) in [
            (MAX_DIALOGS_PER_PEER_ENV, "four"),
            (MAX_DIALOGS_PER_PEER_ENV, "-4"),
            (MAX_DIALOGS_PER_PEER_ENV, "+4"),
            (MAX_DIALOGS_PER_PEER_ENV, " 4"),
            (MAX_QUEUED_BYTES_ENV, "4MiB"),
            (MAX_QUEUED_BYTES_ENV, "4_000"),
            (STALL_TIMEOUT_MS_ENV, "1.5"),
            (STALL_TIMEOUT_MS_ENV, "4294967296"),
            (MAX_FRAME_LEN_ENV, "4294967296"),
            (MAX_CONNECTIONS_ENV, "99999999999999999999999"),
            (CANCEL_GRACE_MS_ENV, "1s"),
            (CANCEL_GRACE_MS_ENV, "-1"),
            (CANCEL_GRACE_MS_ENV, "4294967296"),
            (KEEPALIVE_MS_ENV, "30s"),
            (KEEPALIVE_MS_ENV, "4294967296"),
        ] {
            let err = from(&[(var, value)]).unwrap_err();
            let ErrorKind::BadEnv {
                var: v,
                value: shown,
                ..
            } = err.kind()
            else {
                panic!("{var}={value}: {err}")
            };
            assert_eq!((v.as_str(), shown.as_str()), (var, value));
            let text = err.to_string();
            assert!(text.contains(var) && text.contains(value), "{text}");
        }
        // A long value is cut short in the error.
        let long = "x".repeat(10_000);
        let err = from(&[(MAX_CONNECTIONS_ENV, &long)]).unwrap_err();
        assert!(err.to_string().len() < 400, "{err}");
    }

    #[test]
    fn the_largest_values_are_taken() {
        let got = from(&[
            (STALL_TIMEOUT_MS_ENV, "4294967295"),
            (MAX_FRAME_LEN_ENV, "4294967295"),
            (MAX_DIALOGS_PER_PEER_ENV, "0004"),
            (CANCEL_GRACE_MS_ENV, "4294967295"),
        ])
        .unwrap();
        assert_eq!(got.cancel_grace, tractor_protocol::MAX_CANCEL_GRACE);
        assert_eq!(
            got.limits.stall_timeout,
            Duration::from_millis(u64::from(u32::MAX))
        );
        assert_eq!(got.max_frame_len, u32::MAX);
        assert_eq!(got.limits.max_dialogs_per_peer, 4);
    }
}
