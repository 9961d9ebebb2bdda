//! Payloads of the debugger's TTY-lock context (spec/PROTOCOL.md §2.8, §10).
//!
//! A child that wants the terminal opens the context
//! `tractor.devx.debug._tty_lock:lock_stdio_for_peer` on the root; the root
//! answers `Started(LockStatus{locked: true})`, the child streams back one
//! `Yield(LockRelease)` when its REPL ends, and the root closes with
//! `Return(LockStatus{locked: false})`. Both payloads are tagged maps like
//! the messages themselves (`msg_type` first): both ends check the payload
//! type, so an untagged map would be refused.

use serde::{Deserialize, Serialize};

use crate::uid::Uid;

/// The namespace of the root's TTY-lock endpoint.
pub const TTY_LOCK_NS: &str = "tractor.devx.debug._tty_lock";

/// The function name of the root's TTY-lock endpoint.
pub const TTY_LOCK_FUNC: &str = "lock_stdio_for_peer";

/// The root's answer to a lock request: who holds the lock, through which
/// context, and whether it is held.
///
/// ```
/// use tractor_protocol::{LockStatus, Raw, Uid};
///
/// let status = LockStatus {
///     subactor_uid: Uid::new("child", "a3234889"),
///     cid: "c1".into(),
///     locked: true,
/// };
/// let raw = Raw::encode(&status)?;
/// assert_eq!(
///     raw.to_json(),
///     r#"{"msg_type": "LockStatus", "subactor_uid": ["child", "a3234889"], "cid": "c1", "locked": true}"#
/// );
/// assert_eq!(raw.decode::<LockStatus>()?, status);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "msg_type")]
pub struct LockStatus {
    /// The requesting child.
    pub subactor_uid: Uid,
    /// The lock context's id.
    pub cid: String,
    /// Whether the child now holds the lock.
    pub locked: bool,
}

/// The child's notice that it is done with the terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "msg_type")]
pub struct LockRelease {
    /// The releasing child.
    pub subactor_uid: Uid,
    /// The lock context's id.
    pub cid: String,
}
