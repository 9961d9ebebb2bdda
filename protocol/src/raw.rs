//! Undecoded payloads: the first stage of two-stage decoding (spec/PROTOCOL.md §1.3).

use std::fmt;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{DecodeError, PayloadEncodeError, PayloadError};
use crate::msg_type::MsgType;
use crate::msgpack::{self, Budget, Kind};
use crate::text::cleaned;

/// One msgpack value kept as bytes until someone asks for a type.
///
/// Payload-carrying fields (`pld`, `kwargs`, `_runtime_vars`, …) are not
/// decoded with the message: the receiving dialog decides what type it
/// expects, as Python's `msgspec.Raw` does. A `Raw` taken from a received
/// frame shares that frame's buffer, so holding or forwarding it copies
/// nothing, and re-encoding it writes exactly the bytes that arrived.
///
/// A `Raw` always holds exactly one well-formed msgpack value.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use tractor_protocol::Raw;
///
/// #[derive(Serialize, Deserialize, Debug, PartialEq)]
/// struct Quote {
///     symbol: String,
///     price: f64,
/// }
///
/// let raw = Raw::encode(&Quote { symbol: "XBT".into(), price: 1.5 })?;
/// // Structs travel as maps, like msgspec structs do.
/// assert_eq!(raw.to_json(), r#"{"symbol": "XBT", "price": 1.5}"#);
/// assert_eq!(raw.decode::<Quote>()?, Quote { symbol: "XBT".into(), price: 1.5 });
/// // The wrong type is a typed error, not a panic.
/// assert!(raw.decode::<Vec<u32>>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Raw(Bytes);

impl Raw {
    /// The msgpack `nil` (Python `None`).
    pub const NIL: Raw = Raw(Bytes::from_static(&[0xc0]));

    /// How deep containers may nest in a payload read by [`Raw::decode`].
    ///
    /// Each level costs the deserializer a stack frame; 128 levels stay well
    /// inside a 2 MiB task stack even in debug builds, and far exceed what
    /// tractor payloads use.
    pub const MAX_DEPTH: usize = 128;

    /// An empty map, `{}`.
    pub const EMPTY_MAP: Raw = Raw(Bytes::from_static(&[0x80]));

    /// Encodes any serializable value.
    ///
    /// Structs are written as maps keyed by field name (msgspec's layout);
    /// sequences and tuples as arrays; `None` and `()` as nil. Byte strings
    /// become msgpack `bin` (Python `bytes`) only through `serde_bytes` or
    /// `bytes::Bytes`; a plain `Vec<u8>` is an array of integers. An `f32`
    /// is written as float32, which Python reads as a `float` like any
    /// other; use `f64` for the float64 bytes Python itself writes.
    pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Raw, PayloadEncodeError> {
        let mut out = Vec::new();
        value
            .serialize(&mut rmp_serde::Serializer::new(&mut out).with_struct_map())
            .map_err(|e| PayloadEncodeError {
                type_name: std::any::type_name::<T>(),
                reason: e.to_string(),
            })?;
        Ok(Raw(Bytes::from(out)))
    }

    /// Wraps bytes that already hold one msgpack value, e.g. a payload
    /// forwarded from another dialog, after checking that they do.
    pub fn from_msgpack(bytes: impl Into<Bytes>) -> Result<Raw, DecodeError> {
        let bytes = bytes.into();
        msgpack::validate_one(&bytes).map_err(|e| DecodeError::from_value_error(e, bytes.len()))?;
        Ok(Raw(bytes))
    }

    /// Wraps bytes the caller has already checked.
    pub(crate) fn from_checked(bytes: Bytes) -> Raw {
        Raw(bytes)
    }

    /// Decodes the value as `T`.
    ///
    /// Containers may nest [`Raw::MAX_DEPTH`] deep; deeper input is refused
    /// rather than followed, so a hostile payload cannot exhaust the stack.
    ///
    /// The error carries no message context; reading through a message
    /// (e.g. [`Yield::decode_pld`](crate::Yield::decode_pld)) adds the
    /// message type and `cid`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, PayloadError> {
        self.decode_in(None, None, "value")
    }

    pub(crate) fn decode_in<T: DeserializeOwned>(
        &self,
        msg_type: Option<MsgType>,
        cid: Option<&str>,
        field: &'static str,
    ) -> Result<T, PayloadError> {
        let fail = |reason: String| PayloadError {
            msg_type,
            cid: cid.map(str::to_owned),
            field,
            expected: std::any::type_name::<T>(),
            found: self.kind(),
            // The text may quote the payload, which came from a peer.
            reason: cleaned(&reason),
        };
        let deserializer = || {
            let mut de = rmp_serde::Deserializer::new(std::io::Cursor::new(&self.0[..]));
            de.set_max_depth(Raw::MAX_DEPTH);
            de
        };
        let mut de = deserializer();
        // Tracking the path costs on every value; it is only wanted to
        // explain a failure, so a value that fails is read again with it.
        let value = match T::deserialize(&mut de) {
            Ok(value) => value,
            Err(_) => {
                let mut de = deserializer();
                // The path names the field that did not fit, e.g. `width`
                // or `items[3]`.
                let e = match serde_path_to_error::deserialize::<_, T>(&mut de) {
                    Err(e) => e,
                    // Cannot be: the same bytes failed a moment ago.
                    Ok(_) => return Err(fail("the value decoded only on a second try".into())),
                };
                let path = e.path().to_string();
                return Err(match path.as_str() {
                    "." | "?" => fail(e.into_inner().to_string()),
                    _ => fail(format!("at {path}: {}", e.into_inner())),
                });
            }
        };
        // A hand-written `Deserialize` may leave part of the value unread;
        // the payload must be exactly the value asked for.
        if de.position() as usize != self.0.len() {
            return Err(fail(format!(
                "only {} of {} bytes were used",
                de.position(),
                self.0.len()
            )));
        }
        Ok(value)
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The encoded bytes, without copying.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The kind of the value.
    pub fn kind(&self) -> Kind {
        Kind::of(self.0[0])
    }

    /// Whether the value is nil.
    pub fn is_nil(&self) -> bool {
        self.0[..] == [0xc0]
    }

    /// The entries of a map whose keys are strings, each value left
    /// undecoded and sharing this payload's buffer: a call's keyword
    /// arguments, name by name (Python's `**kwargs`).
    ///
    /// Anything but such a map is a typed error, as is a key repeated
    /// (Python cannot send one twice).
    ///
    /// ```
    /// use tractor_protocol::Raw;
    ///
    /// let kwargs = Raw::from_map_entries([("x", Raw::encode(&7)?), ("y", Raw::NIL)]);
    /// assert_eq!(kwargs.to_json(), r#"{"x": 7, "y": null}"#);
    /// let entries = kwargs.map_entries()?;
    /// assert_eq!(entries[0].0, "x");
    /// assert_eq!(entries[0].1.decode::<i64>()?, 7);
    /// assert!(Raw::encode(&[1, 2])?.map_entries().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_entries(&self) -> Result<Vec<(String, Raw)>, PayloadError> {
        let fail = |reason: String| PayloadError {
            msg_type: None,
            cid: None,
            field: "value",
            expected: "a map with string keys",
            found: self.kind(),
            reason: cleaned(&reason),
        };
        let mut r = msgpack::Reader::new(&self.0);
        let len = r
            .read_map_len()
            .map_err(|_| fail(format!("not a map: {}", self.kind())))?;
        // Each entry takes two bytes at least: a hostile length allocates
        // nothing it has not read.
        let mut entries: Vec<(String, Raw)> = Vec::with_capacity(len.min(self.0.len() / 2));
        let mut seen = std::collections::HashSet::with_capacity(entries.capacity());
        for _ in 0..len {
            let key = r
                .read_str()
                .map_err(|_| fail("a key that is not a string".to_owned()))?;
            if !seen.insert(key) {
                return Err(fail(format!("the key {key:?} twice")));
            }
            let key = key.to_owned();
            let value = r
                .skip()
                .map_err(|e| fail(format!("a broken value for {key:?}: {e:?}")))?;
            entries.push((key, Raw(self.0.slice_ref(value))));
        }
        Ok(entries)
    }

    /// A map of `entries`, in their order: keyword arguments to send.
    /// Values are written as they are, without a copy of their meaning.
    pub fn from_map_entries<'a>(entries: impl IntoIterator<Item = (&'a str, Raw)>) -> Raw {
        let entries: Vec<(&str, Raw)> = entries.into_iter().collect();
        let mut out = Vec::new();
        msgpack::write_map_len(&mut out, entries.len());
        for (key, value) in &entries {
            msgpack::write_str(&mut out, key);
            out.extend_from_slice(value.as_bytes());
        }
        Raw(Bytes::from(out))
    }

    /// The value as JSON text, in wire order.
    ///
    /// `bin` values are shown as `{"__bytes_hex__": "…"}`, non-string map
    /// keys as strings, non-finite floats as `"NaN"`/`"Infinity"`: the
    /// notation of the wire inspector and of the golden vectors.
    pub fn to_json(&self) -> String {
        let mut s = String::new();
        msgpack::render_json(&self.0, Budget::FULL, &mut s);
        s
    }
}

impl Default for Raw {
    /// Nil.
    fn default() -> Self {
        Raw::NIL
    }
}

/// A one-line preview: JSON cut to about 72 bytes.
impl fmt::Display for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        msgpack::render_json(&self.0, Budget::SHORT, &mut s);
        f.write_str(&s)
    }
}

impl fmt::Debug for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Raw({self})")
    }
}
