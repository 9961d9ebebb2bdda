//! Transport addresses as they travel on the wire (spec/PROTOCOL.md §12).

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};

/// Where an actor listens: a TCP endpoint or a Unix-domain socket file.
///
/// On the wire both are 2-arrays and the kind is told by the type of the
/// second item, as Python's `wrap_address` does: `[host, port:int]` is TCP,
/// `[dir, file:str]` is a Unix socket. A port therefore always travels as an
/// integer and a socket file name as a string.
///
/// ```
/// # use tractor_protocol::Address;
/// assert_eq!(Address::tcp("127.0.0.1", 1616).to_string(), "127.0.0.1:1616");
/// assert_eq!(Address::tcp("::1", 1616).to_string(), "[::1]:1616");
/// assert_eq!(
///     Address::uds("/run/user/1000/tractor", "registry@1616.sock").to_string(),
///     "/run/user/1000/tractor/registry@1616.sock",
/// );
/// ```
///
/// As text, an address is also read from and written as a multiaddr, the
/// form Python tractor uses (`"/ip4/127.0.0.1/tcp/1616".parse()`,
/// `format!("{addr:#}")`): see its `FromStr`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Address {
    /// A TCP endpoint, `[host, port]`; the host is an IPv4 or IPv6 literal.
    Tcp {
        /// Host literal, e.g. `"127.0.0.1"`.
        host: String,
        /// Port number; 0 asks the OS for a free port when binding.
        port: u16,
    },
    /// A Unix-domain socket, `[dir, file]`.
    Uds {
        /// The directory holding the socket file (the "bindspace").
        dir: String,
        /// The socket's file name, `<actor name>@<pid>.sock` by convention.
        file: String,
    },
}

impl Address {
    /// A TCP address.
    pub fn tcp(host: impl Into<String>, port: u16) -> Self {
        Address::Tcp {
            host: host.into(),
            port,
        }
    }

    /// A Unix-domain socket address.
    pub fn uds(dir: impl Into<String>, file: impl Into<String>) -> Self {
        Address::Uds {
            dir: dir.into(),
            file: file.into(),
        }
    }

    /// This address as a multiaddr (what `{:#}` writes), e.g.
    /// `/ip4/127.0.0.1/tcp/1616` or `/unix/tmp/x/a.sock`.
    ///
    /// ```
    /// # use tractor_protocol::Address;
    /// assert_eq!(Address::tcp("::1", 5678).to_maddr(), "/ip6/::1/tcp/5678");
    /// assert_eq!(
    ///     Address::uds("/tmp/tractor_test", "test_sock.sock").to_maddr(),
    ///     "/unix/tmp/tractor_test/test_sock.sock",
    /// );
    /// ```
    pub fn to_maddr(&self) -> String {
        format!("{self:#}")
    }

    /// The transport key Python tractor uses for this kind: `"tcp"` or `"uds"`.
    pub fn transport(&self) -> &'static str {
        match self {
            Address::Tcp { .. } => "tcp",
            Address::Uds { .. } => "uds",
        }
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        match self {
            Address::Tcp { host, port } => {
                t.serialize_element(host)?;
                t.serialize_element(port)?;
            }
            Address::Uds { dir, file } => {
                t.serialize_element(dir)?;
                t.serialize_element(file)?;
            }
        }
        t.end()
    }
}

/// The second item of an address: a port or a file name.
enum Second {
    Port(u16),
    File(String),
}

impl<'de> Deserialize<'de> for Second {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Second;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port number or a socket file name")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Second, E> {
                u16::try_from(v).map(Second::Port).map_err(|_| {
                    E::invalid_value(de::Unexpected::Unsigned(v), &"a port (0..=65535)")
                })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Second, E> {
                u16::try_from(v)
                    .map(Second::Port)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &"a port (0..=65535)"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Second, E> {
                Ok(Second::File(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Address;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an address: [host, port] or [dir, file]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Address, A::Error> {
                let first: String = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let second: Second = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(3, &self));
                }
                Ok(match second {
                    Second::Port(port) => Address::Tcp { host: first, port },
                    Second::File(file) => Address::Uds { dir: first, file },
                })
            }
        }
        d.deserialize_tuple(2, V)
    }
}
