//! Payloads in and out: user values to msgpack and back, with the
//! conventions Python's side expects (arguments as a keyword map, `()` as
//! an empty one), failures as tractor's errors.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tractor_protocol::Raw;

use crate::error::{Error, PayloadErrorWrap, Result};

/// Encodes a value to send.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Raw> {
    Raw::encode(value).map_err(|e| Error::from(PayloadErrorWrap::from(e)))
}

/// Decodes a payload into the type the caller expects.
pub(crate) fn decode<T: DeserializeOwned>(raw: &Raw) -> Result<T> {
    raw.decode::<T>()
        .map_err(|e| Error::from(PayloadErrorWrap::from(e)))
}

/// Reads keyword arguments into `A`; `()` also takes an empty map.
pub(crate) fn decode_args<A: DeserializeOwned>(name: &str, kwargs: &Raw) -> Result<A> {
    match kwargs.decode::<A>() {
        Ok(a) => Ok(a),
        Err(e) => {
            if kwargs.as_bytes() == Raw::EMPTY_MAP.as_bytes()
                && let Ok(a) = Raw::NIL.decode::<A>()
            {
                return Ok(a);
            }
            Err(Error::raise(
                "TypeError",
                format!("{name}() got bad arguments: {e}"),
            ))
        }
    }
}

/// Writes arguments as a keyword map; `()` becomes an empty map.
pub(crate) fn encode_args<A: Serialize + ?Sized>(args: &A) -> Result<Raw> {
    let raw = Raw::encode(args).map_err(|e| Error::from(PayloadErrorWrap::from(e)))?;
    if raw.is_nil() {
        return Ok(Raw::EMPTY_MAP);
    }
    Ok(raw)
}

pub(crate) fn encode_result<T: Serialize>(value: T) -> Result<Raw> {
    Raw::encode(&value).map_err(|e| Error::from(PayloadErrorWrap::from(e)))
}
