//! The handshake's authentication extension (spec/PROTOCOL.md §3.5): a
//! tree's shared secret, the nonces and proofs of its challenge–response,
//! and who may ask an actor to do what.
//!
//! The core has no entropy of its own: the driver gives it a random
//! `nonce_key` and every nonce is an HMAC-SHA256 of a counter under that
//! key, unpredictable to whoever does not know the key, and reproducible
//! in a simulation that fixes it.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::msg::{Aid, AuthStep};

type HmacSha256 = Hmac<Sha256>;

/// The shortest secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 16;
/// The longest secret accepted, in bytes.
pub const MAX_SECRET_LEN: usize = 1024;

/// Domain separation for proofs: the protocol and its version.
const PROOF_LABEL: &[u8] = b"tractor-auth-v1 proof";
/// Domain separation for nonces.
const NONCE_LABEL: &[u8] = b"tractor-auth-v1 nonce";

/// A tree's shared secret (Erlang's "cookie"). Its `Debug` form hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

/// Why bytes are not a usable [`Secret`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// Too short to resist guessing.
    #[error("a secret must have at least {MIN_SECRET_LEN} bytes, this one has {0}")]
    TooShort(usize),
    /// Longer than any secret needs to be.
    #[error("a secret must have at most {MAX_SECRET_LEN} bytes, this one has {0}")]
    TooLong(usize),
    /// A NUL byte: the secret could not be handed to a child in its
    /// environment.
    #[error("a secret must not contain a NUL byte")]
    Nul,
}

impl Secret {
    /// A secret of these bytes: between `MIN_SECRET_LEN` (16) and
    /// `MAX_SECRET_LEN` (1024) of them, none NUL.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, SecretError> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_LEN {
            return Err(SecretError::TooShort(bytes.len()));
        }
        if bytes.len() > MAX_SECRET_LEN {
            return Err(SecretError::TooLong(bytes.len()));
        }
        if bytes.contains(&0) {
            return Err(SecretError::Nul);
        }
        Ok(Secret(bytes))
    }

    /// The secret's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// How an actor authenticates its connections (spec/PROTOCOL.md §3.5).
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    /// The tree's secret. `None` (the default) keeps the handshake as
    /// Python's: no authentication, and a peer that asks for it is
    /// refused.
    pub secret: Option<Secret>,
    /// 32 random bytes from the driver, keying the nonces of this actor's
    /// handshakes; a simulation fixes them. They must be secret and fresh
    /// for each process: known or reused ones make the nonces predictable,
    /// and a recorded proof could then be replayed.
    pub nonce_key: [u8; 32],
    /// With a secret: still accept inbound connections whose peer does not
    /// authenticate (Python actors, Rust ones without the secret). Such a
    /// peer learns this actor's `Aid` and is not trusted with `self.cancel`
    /// nor with others' registrations.
    pub accept_unauthenticated: bool,
}

/// Which end of a connection a proof speaks for: part of what it covers,
/// so that a proof sent one way cannot be reflected back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// The end that connected (it sends the opening).
    Connector,
    /// The end that accepted.
    Acceptor,
}

impl Side {
    fn label(self) -> &'static [u8] {
        match self {
            Side::Connector => b"connector",
            Side::Acceptor => b"acceptor",
        }
    }
}

fn mac_over(secret: &[u8], side: Side, acceptor: &[u8; 32], connector: &[u8; 32]) -> HmacSha256 {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(PROOF_LABEL);
    mac.update(&[0]);
    mac.update(side.label());
    mac.update(&[0]);
    mac.update(acceptor);
    mac.update(connector);
    mac
}

/// The proof `side` sends: HMAC-SHA256 under the secret of the side and
/// both nonces, the acceptor's first.
pub(crate) fn proof(
    secret: &Secret,
    side: Side,
    acceptor: &[u8; 32],
    connector: &[u8; 32],
) -> [u8; 32] {
    mac_over(&secret.0, side, acceptor, connector)
        .finalize()
        .into_bytes()
        .into()
}

/// Whether `mac` is `side`'s proof for these nonces, compared in constant
/// time.
pub(crate) fn verify(
    secret: &Secret,
    side: Side,
    acceptor: &[u8; 32],
    connector: &[u8; 32],
    mac: &[u8; 32],
) -> bool {
    mac_over(&secret.0, side, acceptor, connector)
        .verify_slice(mac)
        .is_ok()
}

/// The `n`th nonce under `key`.
pub(crate) fn nonce(key: &[u8; 32], n: u64) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(NONCE_LABEL);
    mac.update(&n.to_be_bytes());
    mac.finalize().into_bytes().into()
}

/// An anonymous `Aid` carrying one authentication step: it names nobody
/// (empty name and uuid, no pid), so a peer that reads it as an identity
/// learns nothing.
pub(crate) fn step_aid(step: AuthStep) -> Aid {
    Aid {
        name: String::new(),
        uuid: String::new(),
        pid: None,
        is_registrar: Some(false),
        is_probe: false,
        credit_flow: None,
        auth: Some(step),
    }
}

/// Why a connection's authentication failed (spec/PROTOCOL.md §3.5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The peer did not authenticate (it sent a plain `Aid`: a Python actor,
    /// or one without a secret), and this actor accepts only peers that do.
    #[error(
        "the peer did not authenticate, and this actor accepts only peers that prove the tree's secret"
    )]
    PeerNotAuthenticated,
    /// The peer asked for authentication, and this actor has no secret.
    #[error("the peer asks to authenticate with a secret, and this actor has none")]
    NoSecret,
    /// The peer's proof is wrong: it holds another secret, or replays or
    /// reflects a proof.
    #[error("the peer's proof is wrong: it does not hold this tree's secret")]
    BadProof,
    /// The peer took part in the authentication (it sent its opening) and
    /// closed the connection after this actor's proof: it refused it (the
    /// peer holds another secret).
    #[error(
        "the peer closed the connection after this actor's proof: it refused it (another secret?)"
    )]
    Refused,
    /// The transport under the handshake refused the connection for its
    /// credentials, on either side: a TLS certificate this actor does not
    /// trust, or one of this actor's that the peer refused. The driver,
    /// which runs the transport, decides that a failure is one and says
    /// why; the core only carries it.
    #[error("the peer's credentials or this actor's were refused: {0}")]
    Certificate(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::new("0123456789abcdef").unwrap()
    }

    #[test]
    fn secrets_are_checked_and_hidden() {
        assert_eq!(Secret::new("short"), Err(SecretError::TooShort(5)));
        assert_eq!(
            Secret::new(vec![b'x'; MAX_SECRET_LEN + 1]),
            Err(SecretError::TooLong(MAX_SECRET_LEN + 1))
        );
        assert_eq!(
            Secret::new(b"0123456789abcde\0".to_vec()),
            Err(SecretError::Nul)
        );
        assert_eq!(format!("{:?}", secret()), "Secret(..)");
    }

    #[test]
    fn proofs_bind_side_and_nonces() {
        let (a, c) = ([1u8; 32], [2u8; 32]);
        let p = proof(&secret(), Side::Connector, &a, &c);
        assert!(verify(&secret(), Side::Connector, &a, &c, &p));
        assert!(!verify(&secret(), Side::Acceptor, &a, &c, &p), "reflected");
        assert!(!verify(&secret(), Side::Connector, &c, &a, &p), "swapped");
        assert!(
            !verify(&secret(), Side::Connector, &[3; 32], &c, &p),
            "replayed"
        );
        let other = Secret::new("0123456789abcdeF").unwrap();
        assert!(!verify(&other, Side::Connector, &a, &c, &p), "other secret");
    }

    #[test]
    fn nonces_differ() {
        let k = [9u8; 32];
        assert_ne!(nonce(&k, 1), nonce(&k, 2));
        assert_ne!(nonce(&k, 1), nonce(&[8u8; 32], 1));
        assert_eq!(nonce(&k, 1), nonce(&k, 1));
    }
}
