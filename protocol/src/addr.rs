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

/// Why an actor's advertised addresses do not fit the ones it bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdvertiseError {
    /// Only TCP addresses can be advertised: a Unix socket is reached at
    /// its path, on its host, and nowhere else.
    #[error("cannot advertise {addr}: only TCP addresses are advertised")]
    NotTcp {
        /// The address.
        addr: Address,
    },
    /// More addresses advertised than the actor listens on.
    #[error("{advertised} addresses advertised for {bound} bound: one each, at most")]
    TooMany {
        /// How many are advertised.
        advertised: usize,
        /// How many are bound.
        bound: usize,
    },
    /// The address bound at the advertised one's position is not TCP:
    /// what listens on a Unix socket is reached at its path only.
    #[error("cannot advertise {addr} for {bound}: only a TCP listener is advertised")]
    BoundNotTcp {
        /// The advertised address.
        addr: Address,
        /// The address bound at its position.
        bound: Address,
    },
}

/// The addresses an actor gives out (to the registrar, to its children as
/// their parent's, as its own) when it listens on `bound` and advertises
/// `advertise`: position by position, an advertised address replaces the
/// bound one (a port 0 in it takes the bound address's port); bound
/// addresses past the advertised ones are given out as they are. With
/// nothing advertised, `bound` itself.
///
/// For an actor behind a wildcard bind (`0.0.0.0`), NAT or a container's
/// published port, which others reach at another address than the one it
/// listens on.
///
/// ```
/// # use tractor_protocol::{Address, advertised};
/// let bound = [Address::tcp("0.0.0.0", 40123), Address::tcp("127.0.0.1", 40124)];
/// let out = advertised(&bound, &[Address::tcp("10.0.0.7", 0)]).unwrap();
/// assert_eq!(out, [Address::tcp("10.0.0.7", 40123), Address::tcp("127.0.0.1", 40124)]);
/// ```
pub fn advertised(
    bound: &[Address],
    advertise: &[Address],
) -> Result<Vec<Address>, AdvertiseError> {
    if advertise.len() > bound.len() {
        return Err(AdvertiseError::TooMany {
            advertised: advertise.len(),
            bound: bound.len(),
        });
    }
    let mut out = bound.to_vec();
    for (slot, addr) in out.iter_mut().zip(advertise) {
        let Address::Tcp { host, port } = addr else {
            return Err(AdvertiseError::NotTcp { addr: addr.clone() });
        };
        let Address::Tcp {
            port: bound_port, ..
        } = &*slot
        else {
            return Err(AdvertiseError::BoundNotTcp {
                addr: addr.clone(),
                bound: slot.clone(),
            });
        };
        let port = if *port == 0 { *bound_port } else { *port };
        *slot = Address::tcp(host.clone(), port);
    }
    Ok(out)
}

#[cfg(test)]
mod advertise_tests {
    use super::*;

    #[test]
    fn advertised_addresses_replace_the_bound_ones_by_position() {
        let bound = [Address::tcp("0.0.0.0", 7000), Address::tcp("0.0.0.0", 7001)];
        assert_eq!(advertised(&bound, &[]).unwrap(), bound);
        assert_eq!(
            advertised(
                &bound,
                &[Address::tcp("192.0.2.1", 0), Address::tcp("::1", 9)]
            )
            .unwrap(),
            [Address::tcp("192.0.2.1", 7000), Address::tcp("::1", 9)]
        );
        assert_eq!(
            advertised(&bound[..1], &[Address::tcp("a", 0), Address::tcp("b", 0)]),
            Err(AdvertiseError::TooMany {
                advertised: 2,
                bound: 1
            })
        );
        let uds = Address::uds("/run", "a.sock");
        assert_eq!(
            advertised(&bound, std::slice::from_ref(&uds)),
            Err(AdvertiseError::NotTcp { addr: uds.clone() })
        );
        let e = advertised(&[uds], &[Address::tcp("192.0.2.1", 5)]).unwrap_err();
        assert!(e.to_string().contains("only a TCP listener"), "{e}");
    }
}
