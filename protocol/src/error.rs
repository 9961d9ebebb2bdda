//! Errors of the wire layer.
//!
//! Every error says what a person needs to act on it: which message type,
//! which dialog (`cid`) when it is known, which field, what was expected and
//! what was found, and the byte offset inside the message body.

use std::fmt;

use crate::msg_type::MsgType;
use crate::msgpack::{Broken, Kind, ValueError};
use crate::text::short_id;

/// A message body that cannot be decoded.
///
/// Decoding is strict about structure and field types and lenient about
/// extra keys, as Python's decoder is (spec/PROTOCOL.md §1.2): unknown keys are
/// skipped, missing fields that have a default take it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ends inside a value.
    #[error("truncated: the value at byte {offset} runs past the end of the {len}-byte input")]
    Truncated {
        /// Offset of the value that does not fit.
        offset: usize,
        /// Length of the input.
        len: usize,
    },
    /// The input uses the marker byte `0xc1`, which msgpack reserves.
    #[error("malformed msgpack: reserved marker 0xc1 at byte {offset}")]
    ReservedMarker {
        /// Offset of the marker.
        offset: usize,
    },
    /// The body is a valid msgpack value, but not a map.
    #[error("message body is {found}, expected a map")]
    NotAMap {
        /// What the body is instead.
        found: Kind,
    },
    /// A key of the message map is not a string.
    #[error("message map key at byte {offset} is {found}, expected a str")]
    NonStrKey {
        /// Offset of the key.
        offset: usize,
        /// What the key is instead.
        found: Kind,
    },
    /// The message map has no `msg_type` key.
    #[error("message has no `msg_type` key")]
    MissingMsgType,
    /// `msg_type` names no message of the protocol.
    #[error("unknown msg_type {name:?}")]
    UnknownMsgType {
        /// The name that was found.
        name: String,
    },
    /// A required field is absent.
    #[error("{} is missing required field `{field}`", at(Some(*.msg_type), .cid))]
    MissingField {
        /// The message being decoded.
        msg_type: MsgType,
        /// The missing field.
        field: &'static str,
        /// The message's `cid`, if it has a readable one.
        cid: Option<String>,
    },
    /// A field appears twice in the message map.
    #[error("{} has field `{field}` twice", at(Some(*.msg_type), .cid))]
    DuplicateField {
        /// The message being decoded.
        msg_type: MsgType,
        /// The repeated field.
        field: &'static str,
        /// The message's `cid`, if it has a readable one.
        cid: Option<String>,
    },
    /// A field holds a value of the wrong msgpack type.
    #[error("`{field}` of {}: expected {expected}, found {found} at byte {offset}", at(*.msg_type, .cid))]
    WrongType {
        /// The message being decoded (`None` while `msg_type` itself is read).
        msg_type: Option<MsgType>,
        /// The field holding the value.
        field: &'static str,
        /// What the field must hold.
        expected: &'static str,
        /// What it holds instead.
        found: Kind,
        /// The message's `cid`, if it has a readable one.
        cid: Option<String>,
        /// Offset of the offending value.
        offset: usize,
    },
    /// A field has the right type but a value the protocol does not allow.
    #[error("`{field}` of {}: {reason}", at(Some(*.msg_type), .cid))]
    InvalidValue {
        /// The message being decoded.
        msg_type: MsgType,
        /// The field holding the value.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
        /// The message's `cid`, if it has a readable one.
        cid: Option<String>,
    },
    /// A string that must be text is not valid UTF-8.
    #[error("invalid UTF-8 in {} at byte {offset}", place(*.msg_type, *.field))]
    InvalidUtf8 {
        /// The message being decoded, once known.
        msg_type: Option<MsgType>,
        /// The field holding the string; `None` for a map key.
        field: Option<&'static str>,
        /// Offset of the string.
        offset: usize,
    },
    /// Bytes follow the complete value.
    #[error("{} trailing byte(s) after the value that ends at byte {offset}", .len - .offset)]
    TrailingBytes {
        /// Where the value ends.
        offset: usize,
        /// Length of the input.
        len: usize,
    },
}

impl DecodeError {
    /// The message type the error was found in, when it was known.
    pub fn msg_type(&self) -> Option<MsgType> {
        match self {
            DecodeError::MissingField { msg_type, .. }
            | DecodeError::DuplicateField { msg_type, .. }
            | DecodeError::InvalidValue { msg_type, .. } => Some(*msg_type),
            DecodeError::WrongType { msg_type, .. } | DecodeError::InvalidUtf8 { msg_type, .. } => {
                *msg_type
            }
            _ => None,
        }
    }

    /// The `cid` of the message the error was found in, when it was readable.
    ///
    /// Lets a receiver fail just the dialog the bad message belongs to, as
    /// Python does for a `MsgTypeError` (spec/PROTOCOL.md §1.4).
    pub fn cid(&self) -> Option<&str> {
        match self {
            DecodeError::MissingField { cid, .. }
            | DecodeError::DuplicateField { cid, .. }
            | DecodeError::WrongType { cid, .. }
            | DecodeError::InvalidValue { cid, .. } => cid.as_deref(),
            _ => None,
        }
    }

    /// Input that is not msgpack at all.
    pub(crate) fn broken(b: Broken, len: usize) -> DecodeError {
        match b {
            Broken::Truncated { offset } => DecodeError::Truncated { offset, len },
            Broken::Reserved { offset } => DecodeError::ReservedMarker { offset },
        }
    }

    pub(crate) fn from_value_error(e: ValueError, len: usize) -> DecodeError {
        match e {
            ValueError::Broken(b) => DecodeError::broken(b, len),
            ValueError::Trailing { offset, len } => DecodeError::TrailingBytes { offset, len },
        }
    }
}

/// "Yield message (cid 70672312…)", or "message" when the type is unknown.
fn at(msg_type: Option<MsgType>, cid: &Option<String>) -> impl fmt::Display + '_ {
    struct At<'a>(Option<MsgType>, &'a Option<String>);
    impl fmt::Display for At<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self.0 {
                Some(t) => write!(f, "{t} message")?,
                None => f.write_str("message")?,
            }
            if let Some(cid) = self.1 {
                write!(f, " (cid {})", short_id(cid))?;
            }
            Ok(())
        }
    }
    At(msg_type, cid)
}

fn payload_place<'a>(
    msg_type: Option<MsgType>,
    cid: &'a Option<String>,
    field: &'static str,
) -> impl fmt::Display + 'a {
    struct Place<'a>(Option<MsgType>, &'a Option<String>, &'static str);
    impl fmt::Display for Place<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self.0 {
                Some(t) => write!(f, "`{}` of {}", self.2, at(Some(t), self.1)),
                None => f.write_str("payload"),
            }
        }
    }
    Place(msg_type, cid, field)
}

fn place(msg_type: Option<MsgType>, field: Option<&'static str>) -> String {
    match (msg_type, field) {
        (Some(t), Some(f)) => format!("`{f}` of {t} message"),
        (None, Some(f)) => format!("`{f}`"),
        (Some(t), None) => format!("a key of {t} message"),
        (None, None) => "a message map key".to_owned(),
    }
}

/// A message that cannot be encoded.
///
/// Outgoing messages are checked before any byte is written, so a peer never
/// receives something it would reject (spec/PROTOCOL.md §1.4: a Python actor may
/// tear itself down on a malformed frame).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A field that must hold a map holds another kind of value.
    #[error("`{field}` of {msg_type} message must be a map, found {found}")]
    NotAMap {
        /// The message being encoded.
        msg_type: MsgType,
        /// The field.
        field: &'static str,
        /// What it holds instead.
        found: Kind,
    },
    /// The encoded body does not fit the 32-bit length prefix.
    #[error("{msg_type} message body is {len} bytes, over the 4 GiB a frame can carry")]
    TooLarge {
        /// The message being encoded.
        msg_type: MsgType,
        /// Length of the body.
        len: usize,
    },
}

/// A value that could not be encoded as a payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode `{type_name}` as msgpack: {reason}")]
pub struct PayloadEncodeError {
    /// The Rust type that was being encoded.
    pub type_name: &'static str,
    /// What the serializer reported.
    pub reason: String,
}

/// A payload that does not fit the type it was read as.
///
/// The basis of a `MsgTypeError`: it names the message and dialog the
/// payload came in, the field, the type that was expected and the kind of
/// value that was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} does not decode as `{expected}` (found {found}): {reason}", payload_place(*.msg_type, .cid, .field))]
pub struct PayloadError {
    /// The message the payload came in, if it was read through one.
    pub msg_type: Option<MsgType>,
    /// The dialog the payload belongs to, if known.
    pub cid: Option<String>,
    /// The field holding the payload (`pld`, `kwargs`, …), or `"value"`
    /// for a [`Raw`](crate::Raw) read on its own.
    pub field: &'static str,
    /// The Rust type that was asked for.
    pub expected: &'static str,
    /// The kind of msgpack value that was found.
    pub found: Kind,
    /// What the deserializer reported.
    pub reason: String,
}
