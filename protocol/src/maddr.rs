//! Addresses as text: multiaddrs (`/ip4/127.0.0.1/tcp/1616`,
//! `/ip6/::1/tcp/1616`, `/unix/run/user/1000/tractor/registry@1616.sock`),
//! as Python tractor prints and accepts them, and the plain forms
//! [`Address`]'s `Display` writes (`127.0.0.1:1616`, `[::1]:1616`, an
//! absolute socket path).
//!
//! The multiaddr subset is the one Python tractor speaks: `ip4`, `ip6` and
//! `dns`/`dns4`/`dns6` hosts followed by `tcp/<port>`, and `unix/<path>`
//! where the path is absolute and written without its leading slash (no
//! `//`, no percent-encoding). Anything else (`udp`, `quic`, a `p2p` suffix,
//! a relative socket path) is refused with an [`AddrParseError`] naming
//! what was wrong.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::Deserialize;

use crate::Address;
use crate::text::{clean, cleaned};

/// Each transport key of Python tractor (see [`Address::transport`]) with
/// the multiaddr protocol name its addresses use: `tcp` → `tcp`, `uds` →
/// `unix`.
pub const MADDR_PROTOCOLS: [(&str, &str); 2] = [("tcp", "tcp"), ("uds", "unix")];

/// The multiaddr protocol name of a transport key (`"tcp"` → `"tcp"`,
/// `"uds"` → `"unix"`).
///
/// ```
/// # use tractor_protocol::{maddr_protocol, AddrParseError};
/// assert_eq!(maddr_protocol("uds"), Ok("unix"));
/// assert!(matches!(maddr_protocol("udp"), Err(AddrParseError::UnsupportedTransport(_))));
/// ```
pub fn maddr_protocol(transport: &str) -> Result<&'static str, AddrParseError> {
    MADDR_PROTOCOLS
        .iter()
        .find(|(t, _)| *t == transport)
        .map(|(_, p)| *p)
        .ok_or_else(|| AddrParseError::UnsupportedTransport(cleaned(transport)))
}

/// The transport key of a multiaddr protocol name (`"unix"` → `"uds"`),
/// the inverse of [`maddr_protocol`].
pub fn transport_of_maddr_protocol(protocol: &str) -> Result<&'static str, AddrParseError> {
    MADDR_PROTOCOLS
        .iter()
        .find(|(_, p)| *p == protocol)
        .map(|(t, _)| *t)
        .ok_or_else(|| AddrParseError::UnsupportedProtocol(cleaned(protocol)))
}

/// Why a text is not an [`Address`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddrParseError {
    /// Nothing to parse.
    #[error("an empty address")]
    Empty,
    /// A multiaddr whose first protocol is none this project speaks.
    #[error("unsupported multiaddr protocol {0:?} (supported: ip4, ip6, dns, dns4, dns6, unix)")]
    UnsupportedProtocol(String),
    /// A transport key other than `tcp` and `uds`.
    #[error("unsupported transport {0:?} (supported: tcp, uds)")]
    UnsupportedTransport(String),
    /// Known protocols in a combination with no transport here, such as
    /// `/ip4/…/udp/…` or a suffix after the port.
    #[error(
        "unsupported multiaddr protocol combination {0:?} (supported: <host>/tcp/<port>, unix/<path>)"
    )]
    UnsupportedCombo(String),
    /// A host that is not what its protocol says (`/ip4/::1/…`).
    #[error("{host:?} is not an {protocol} host")]
    BadHost {
        /// `ip4`, `ip6` or `dns`.
        protocol: &'static str,
        /// What was given.
        host: String,
    },
    /// A port that is not a number in 0..=65535.
    #[error("{0:?} is not a port (0..=65535)")]
    BadPort(String),
    /// A part missing: a host without a port, a socket path without a file
    /// name.
    #[error("incomplete address {input:?}: {missing} missing")]
    Incomplete {
        /// The text given.
        input: String,
        /// What is missing.
        missing: &'static str,
    },
}

impl fmt::Display for Address {
    /// `127.0.0.1:1616`, `[::1]:1616` or the socket file's path; with `#`
    /// (`{:#}`), the multiaddr Python tractor prints:
    /// `/ip4/127.0.0.1/tcp/1616`, `/ip6/::1/tcp/1616`,
    /// `/unix/run/user/1000/tractor/registry@1616.sock`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return write_maddr(self, f);
        }
        match self {
            Address::Tcp { host, port } if host.contains(':') => {
                write!(f, "[{}]:{port}", clean(host))
            }
            Address::Tcp { host, port } => write!(f, "{}:{port}", clean(host)),
            Address::Uds { dir, file } if dir.ends_with('/') => {
                write!(f, "{}{}", clean(dir), clean(file))
            }
            Address::Uds { dir, file } => write!(f, "{}/{}", clean(dir), clean(file)),
        }
    }
}

/// Writes `addr` as a multiaddr.
pub(crate) fn write_maddr(addr: &Address, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match addr {
        Address::Tcp { host, port } => {
            let protocol = if host.parse::<Ipv4Addr>().is_ok() {
                "ip4"
            } else if host.parse::<Ipv6Addr>().is_ok() {
                "ip6"
            } else {
                "dns"
            };
            write!(f, "/{protocol}/{}/tcp/{port}", clean(host))
        }
        Address::Uds { dir, file } => {
            let dir = dir.trim_matches('/');
            if dir.is_empty() {
                write!(f, "/unix/{}", clean(file))
            } else {
                write!(f, "/unix/{}/{}", clean(dir), clean(file))
            }
        }
    }
}

/// Parses a multiaddr (`/ip4/127.0.0.1/tcp/1616`, `/unix/tmp/x/a.sock`).
pub(crate) fn parse_maddr(s: &str) -> Result<Address, AddrParseError> {
    let rest = s
        .strip_prefix('/')
        .ok_or_else(|| AddrParseError::Incomplete {
            input: cleaned(s),
            missing: "the leading '/' of a multiaddr",
        })?;
    let mut parts = rest.split('/');
    let protocol = parts.next().unwrap_or_default();
    match protocol {
        "" => Err(AddrParseError::Empty),
        "unix" => socket_path(s, &rest["unix".len()..]),
        "ip4" | "ip6" | "dns" | "dns4" | "dns6" => {
            let host = parts.next().filter(|h| !h.is_empty());
            let host = host.ok_or_else(|| AddrParseError::Incomplete {
                input: cleaned(s),
                missing: "the host",
            })?;
            let checked = match protocol {
                "ip4" => host.parse::<Ipv4Addr>().is_ok(),
                "ip6" => host.parse::<Ipv6Addr>().is_ok(),
                _ => valid_hostname(host),
            };
            if !checked {
                return Err(AddrParseError::BadHost {
                    protocol: match protocol {
                        "ip4" => "ip4",
                        "ip6" => "ip6",
                        _ => "dns",
                    },
                    host: cleaned(host),
                });
            }
            match (parts.next(), parts.next(), parts.next()) {
                (Some("tcp"), Some(port), None) => Ok(Address::tcp(host, parse_port(port)?)),
                (None, _, _) | (Some("tcp"), None, _) => Err(AddrParseError::Incomplete {
                    input: cleaned(s),
                    missing: "the transport and port (/tcp/<port>)",
                }),
                _ => Err(AddrParseError::UnsupportedCombo(cleaned(s))),
            }
        }
        other => Err(AddrParseError::UnsupportedProtocol(cleaned(other))),
    }
}

/// The socket file at absolute `path` (of the text `input`): its
/// directory and file name, repeated slashes taken as one.
fn socket_path(input: &str, path: &str) -> Result<Address, AddrParseError> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    match parts.split_last() {
        Some((file, dir)) if !path.ends_with('/') => {
            Ok(Address::uds(format!("/{}", dir.join("/")), *file))
        }
        _ => Err(AddrParseError::Incomplete {
            input: cleaned(input),
            missing: "the socket file's name",
        }),
    }
}

fn parse_port(port: &str) -> Result<u16, AddrParseError> {
    // Digits only: `u16::from_str` would take a leading '+'.
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AddrParseError::BadPort(cleaned(port)));
    }
    port.parse()
        .map_err(|_| AddrParseError::BadPort(cleaned(port)))
}

fn valid_hostname(host: &str) -> bool {
    host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The first protocols that make a text a multiaddr rather than a socket
/// path.
const MADDR_HEADS: [&str; 12] = [
    "ip4", "ip6", "dns", "dns4", "dns6", "unix", "tcp", "udp", "quic", "quic-v1", "ws", "p2p",
];

fn looks_like_maddr(s: &str) -> bool {
    s.strip_prefix('/')
        .and_then(|r| r.split('/').next())
        .is_some_and(|head| MADDR_HEADS.contains(&head))
}

/// Any of the text forms, as [`Address`]'s `FromStr` takes them.
fn parse_any(s: &str) -> Result<Address, AddrParseError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(AddrParseError::Empty);
    }
    if looks_like_maddr(s) {
        return parse_maddr(s);
    }
    if s.starts_with('/') {
        return socket_path(s, s);
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (host, port) = rest
            .split_once("]:")
            .ok_or_else(|| AddrParseError::Incomplete {
                input: cleaned(s),
                missing: "the port after ']:'",
            })?;
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(AddrParseError::BadHost {
                protocol: "ip6",
                host: cleaned(host),
            });
        }
        return Ok(Address::tcp(host, parse_port(port)?));
    }
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| AddrParseError::Incomplete {
            input: cleaned(s),
            missing: "the port (host:port)",
        })?;
    if host.contains(':') {
        // An IPv6 literal needs its brackets to tell it from its port.
        return Err(AddrParseError::Incomplete {
            input: cleaned(s),
            missing: "the brackets of an IPv6 host ([host]:port)",
        });
    }
    if host.parse::<Ipv4Addr>().is_err() && !valid_hostname(host) {
        return Err(AddrParseError::BadHost {
            protocol: "dns",
            host: cleaned(host),
        });
    }
    Ok(Address::tcp(host, parse_port(port)?))
}

impl FromStr for Address {
    type Err = AddrParseError;

    /// Reads a multiaddr (`/ip4/127.0.0.1/tcp/1616`, `/ip6/::1/tcp/1616`,
    /// `/dns/localhost/tcp/1616`, `/unix/tmp/x/a.sock`), or one of the
    /// forms `Display` writes: `127.0.0.1:1616`, `localhost:1616`,
    /// `[::1]:1616`, or an absolute socket path `/tmp/x/a.sock`.
    ///
    /// ```
    /// # use tractor_protocol::Address;
    /// let a: Address = "/ip4/127.0.0.1/tcp/1616".parse().unwrap();
    /// assert_eq!(a, Address::tcp("127.0.0.1", 1616));
    /// assert_eq!(format!("{a:#}"), "/ip4/127.0.0.1/tcp/1616");
    /// let u: Address = "/unix/tmp/x/a.sock".parse().unwrap();
    /// assert_eq!(u, Address::uds("/tmp/x", "a.sock"));
    /// assert_eq!("[::1]:9".parse::<Address>().unwrap(), Address::tcp("::1", 9));
    /// assert!("/ip4/127.0.0.1/udp/9".parse::<Address>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_any(s)
    }
}

impl TryFrom<&str> for Address {
    type Error = AddrParseError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// One endpoint of an endpoint table as a configuration gives it: a text
/// address (a multiaddr or another form [`Address`] parses) or a
/// `[host, port]` pair.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum EndpointSpec {
    /// A text address, e.g. `"/ip4/127.0.0.1/tcp/1616"`.
    Text(String),
    /// A TCP host and port.
    HostPort(String, u16),
}

impl From<&str> for EndpointSpec {
    fn from(s: &str) -> Self {
        EndpointSpec::Text(s.to_owned())
    }
}

impl From<(&str, u16)> for EndpointSpec {
    fn from((host, port): (&str, u16)) -> Self {
        EndpointSpec::HostPort(host.to_owned(), port)
    }
}

impl TryFrom<EndpointSpec> for Address {
    type Error = AddrParseError;

    fn try_from(spec: EndpointSpec) -> Result<Self, Self::Error> {
        match spec {
            EndpointSpec::Text(s) => s.parse(),
            EndpointSpec::HostPort(host, port) => {
                if host.is_empty() {
                    return Err(AddrParseError::Empty);
                }
                Ok(Address::tcp(host, port))
            }
        }
    }
}

/// Parses an endpoint table, `{name: [endpoint, …]}` (as Python tractor's
/// `parse_endpoints` does): each name keeps its list, in order, an empty
/// one included; the first endpoint that does not parse fails the whole
/// table.
///
/// ```
/// # use tractor_protocol::{parse_endpoints, Address, EndpointSpec};
/// let table = parse_endpoints([
///     ("reg", vec![EndpointSpec::from("/ip4/127.0.0.1/tcp/1616"), ("::1", 1616).into()]),
///     ("idle", vec![]),
/// ])
/// .unwrap();
/// assert_eq!(table["reg"], [Address::tcp("127.0.0.1", 1616), Address::tcp("::1", 1616)]);
/// assert!(table["idle"].is_empty());
/// ```
pub fn parse_endpoints<K, L>(
    table: impl IntoIterator<Item = (K, L)>,
) -> Result<BTreeMap<String, Vec<Address>>, AddrParseError>
where
    K: Into<String>,
    L: IntoIterator<Item = EndpointSpec>,
{
    table
        .into_iter()
        .map(|(name, list)| {
            let addrs = list
                .into_iter()
                .map(Address::try_from)
                .collect::<Result<Vec<_>, _>>()?;
            Ok((name.into(), addrs))
        })
        .collect()
}
