//! A tree's shared secret (spec/PROTOCOL.md §3.5): where it comes from, how
//! children inherit it, and the refusal to listen beyond loopback without
//! one.
//!
//! The secret of a root comes from, in this order: its
//! [`Config::secret`](crate::Config#structfield.secret), the environment
//! variable [`SECRET_ENV`] (the secret itself), the file named by
//! [`SECRET_FILE_ENV`]; otherwise the tree has none, and its handshakes are
//! Python's. A child gets its parent's secret in its environment (under
//! [`SECRET_ENV`]), never on its command line; a daemon started by hand
//! gets it the same way, from its environment or a file.

use std::ffi::OsString;
use std::net::IpAddr;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use tractor_protocol::{Address, AuthConfig, Secret};

use crate::error::{Error, ErrorKind, Result};

/// The environment variable holding a tree's secret, its bytes as they
/// are. Parents set it for their children.
pub const SECRET_ENV: &str = "TRACTOR_SECRET";
/// The environment variable naming a file that holds a tree's secret
/// (trailing whitespace, a final newline say, is not part of it).
pub const SECRET_FILE_ENV: &str = "TRACTOR_SECRET_FILE";
/// Set to `1`: actors with a secret still accept peers that do not
/// authenticate (see
/// [`Config::accept_unauthenticated`](crate::Config#structfield.accept_unauthenticated)).
/// Parents set it for their children when it is on.
pub const ACCEPT_UNAUTHENTICATED_ENV: &str = "TRACTOR_ACCEPT_UNAUTHENTICATED";
/// Set to `1`: actors may listen on a TCP address that is not loopback
/// without a secret (see
/// [`Config::allow_insecure_bind`](crate::Config#structfield.allow_insecure_bind)).
/// Parents set it for their children when it is on.
pub const INSECURE_BIND_ENV: &str = "TRACTOR_INSECURE_BIND";

/// Where a root's secret comes from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TreeSecret {
    /// This secret.
    Value(Secret),
    /// The contents of this file, trailing whitespace removed.
    File(PathBuf),
    /// A fresh random one, made by the root for its tree alone: only its
    /// descendants can talk to it (and other roots given the same secret
    /// otherwise cannot).
    Generate,
}

/// What an actor knows of its tree's secret and the related opt-outs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Auth {
    pub(crate) secret: Option<Secret>,
    pub(crate) accept_unauthenticated: bool,
    pub(crate) insecure_bind: bool,
}

impl Auth {
    /// A root's, from its configuration and then its environment.
    pub(crate) fn for_root(
        secret: Option<&TreeSecret>,
        accept_unauthenticated: bool,
        insecure_bind: bool,
    ) -> Result<Self> {
        let secret = match secret {
            Some(TreeSecret::Value(s)) => Some(s.clone()),
            Some(TreeSecret::File(path)) => Some(from_file(path)?),
            Some(TreeSecret::Generate) => Some(generate()?),
            None => from_env()?,
        };
        Ok(Auth {
            secret,
            accept_unauthenticated: accept_unauthenticated || flag(ACCEPT_UNAUTHENTICATED_ENV),
            insecure_bind: insecure_bind || flag(INSECURE_BIND_ENV),
        })
    }

    /// A child's, from the environment its parent gave it.
    pub(crate) fn for_child() -> Result<Self> {
        Ok(Auth {
            secret: from_env()?,
            accept_unauthenticated: flag(ACCEPT_UNAUTHENTICATED_ENV),
            insecure_bind: flag(INSECURE_BIND_ENV),
        })
    }

    /// The core's part: the secret, and a fresh random key for the nonces.
    pub(crate) fn core(&self) -> Result<AuthConfig> {
        let mut nonce_key = [0u8; 32];
        getrandom::fill(&mut nonce_key)
            .map_err(|e| Error::runtime(format!("no randomness for handshake nonces: {e}")))?;
        Ok(AuthConfig {
            secret: self.secret.clone(),
            nonce_key,
            accept_unauthenticated: self.accept_unauthenticated,
        })
    }

    /// The environment a child is started with: the secret and the
    /// opt-outs, set or removed, so that nothing stale is inherited.
    pub(crate) fn child_env(&self) -> Vec<(OsString, Option<OsString>)> {
        let on = |b: bool| b.then(|| OsString::from("1"));
        vec![
            (
                SECRET_ENV.into(),
                self.secret
                    .as_ref()
                    .map(|s| OsString::from_vec(s.as_bytes().to_vec())),
            ),
            (SECRET_FILE_ENV.into(), None),
            (
                ACCEPT_UNAUTHENTICATED_ENV.into(),
                on(self.accept_unauthenticated),
            ),
            (INSECURE_BIND_ENV.into(), on(self.insecure_bind)),
        ]
    }

    /// Refuses a TCP address that is not loopback when there is no secret,
    /// unless allowed.
    pub(crate) fn check_bind(&self, addr: &Address) -> Result<()> {
        if self.secret.is_some() || self.insecure_bind || is_local(addr) {
            return Ok(());
        }
        Err(ErrorKind::InsecureBind {
            addr: addr.to_string(),
        }
        .into())
    }
}

/// Whether only this machine can reach `addr`: a Unix socket, or a TCP
/// loopback address (`localhost` included).
pub(crate) fn is_local(addr: &Address) -> bool {
    match addr {
        Address::Tcp { host, .. } => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            host.eq_ignore_ascii_case("localhost")
                || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        _ => true,
    }
}

fn flag(var: &str) -> bool {
    std::env::var_os(var).is_some_and(|v| v == "1")
}

fn from_env() -> Result<Option<Secret>> {
    if let Some(v) = std::env::var_os(SECRET_ENV).filter(|v| !v.is_empty()) {
        return Secret::new(v.as_bytes())
            .map(Some)
            .map_err(|e| Error::runtime(format!("{SECRET_ENV}: {e}")));
    }
    match std::env::var_os(SECRET_FILE_ENV).filter(|v| !v.is_empty()) {
        Some(path) => from_file(&PathBuf::from(path)).map(Some),
        None => Ok(None),
    }
}

fn from_file(path: &PathBuf) -> Result<Secret> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::runtime(format!(
            "cannot read the tree's secret from {}: {e}",
            path.display()
        ))
    })?;
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    Secret::new(&bytes[..end])
        .map_err(|e| Error::runtime(format!("the secret in {}: {e}", path.display())))
}

/// 32 random bytes, as 64 hex digits (so that it can go in an environment
/// variable, or be shown to a user who starts a daemon by hand).
fn generate() -> Result<Secret> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw)
        .map_err(|e| Error::runtime(format!("no randomness for the tree's secret: {e}")))?;
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    Secret::new(hex).map_err(|e| Error::runtime(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_unix_sockets_are_local() {
        for a in [
            Address::tcp("127.0.0.1", 1),
            Address::tcp("127.3.4.5", 1),
            Address::tcp("::1", 1),
            Address::tcp("localhost", 1),
            Address::uds("/tmp", "x.sock"),
        ] {
            assert!(is_local(&a), "{a}");
        }
        for a in [
            Address::tcp("0.0.0.0", 1),
            Address::tcp("10.1.2.3", 1),
            Address::tcp("::", 1),
            Address::tcp("example.org", 1),
        ] {
            assert!(!is_local(&a), "{a}");
        }
    }

    #[test]
    fn a_wide_bind_needs_a_secret_or_an_opt_out() {
        let wide = Address::tcp("0.0.0.0", 1);
        let none = Auth::default();
        let err = none.check_bind(&wide).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("0.0.0.0:1"), "{text}");
        assert!(text.contains(INSECURE_BIND_ENV), "{text}");
        let opted = Auth {
            insecure_bind: true,
            ..Auth::default()
        };
        assert!(opted.check_bind(&wide).is_ok());
        let secret = Auth {
            secret: Some(Secret::new("0123456789abcdef").unwrap()),
            ..Auth::default()
        };
        assert!(secret.check_bind(&wide).is_ok());
        assert!(none.check_bind(&Address::tcp("127.0.0.1", 1)).is_ok());
    }

    #[test]
    fn generated_secrets_are_fresh() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.as_bytes().len(), 64);
    }
}
