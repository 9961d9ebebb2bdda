//! Actor identities.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};

use crate::text::{clean, short_id};

/// An actor's unique id: its name and a uuid, on the wire the 2-array
/// `[name, uuid]` (spec/PROTOCOL.md §2).
///
/// Python tractor uses `str(uuid.uuid4())` for the uuid, but any string is
/// accepted: identity is the pair, compared as text.
///
/// `Display` prints `name[uuid…]` with the uuid cut to 8 characters, the way
/// logs show it; the alternate form (`{:#}`) prints the full uuid. Control
/// characters are escaped in both.
///
/// ```
/// # use tractor_protocol::Uid;
/// let uid = Uid::new("worker", "9b1e2c3d-0000-4000-8000-000000000000");
/// assert_eq!(uid.to_string(), "worker[9b1e2c3d…]");
/// assert_eq!(format!("{uid:#}"), "worker[9b1e2c3d-0000-4000-8000-000000000000]");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uid {
    /// The actor's name, chosen by whoever spawned it.
    pub name: String,
    /// The actor's uuid, unique per process lifetime.
    pub uuid: String,
}

impl Uid {
    /// Builds a uid from its two parts.
    pub fn new(name: impl Into<String>, uuid: impl Into<String>) -> Self {
        Uid {
            name: name.into(),
            uuid: uuid.into(),
        }
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            write!(f, "{}[{}]", clean(&self.name), clean(&self.uuid))
        } else {
            write!(f, "{}[{}]", clean(&self.name), short_id(&self.uuid))
        }
    }
}

impl Serialize for Uid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(&self.name)?;
        t.serialize_element(&self.uuid)?;
        t.end()
    }
}

impl<'de> Deserialize<'de> for Uid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Uid;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a [name, uuid] pair of strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Uid, A::Error> {
                let name = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let uuid = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(3, &self));
                }
                Ok(Uid { name, uuid })
            }
        }
        d.deserialize_tuple(2, V)
    }
}
