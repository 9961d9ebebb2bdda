//! Addresses to sockets: binding listeners, where Unix sockets live, and
//! cleaning up after them (spec/PROTOCOL.md §12).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tractor_protocol::Address;

use crate::runtime::{StdListener, Target};

/// Which transport an actor tree uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// TCP on the loopback interface.
    #[default]
    Tcp,
    /// Unix-domain sockets in the per-user runtime directory.
    Uds,
}

impl Transport {
    /// The transport of an address.
    pub fn of(addr: &Address) -> Transport {
        match addr {
            Address::Tcp { .. } => Transport::Tcp,
            Address::Uds { .. } => Transport::Uds,
        }
    }

    /// Python's key for it: `"tcp"` or `"uds"`.
    pub fn key(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Uds => "uds",
        }
    }

    pub(crate) fn from_key(key: &str) -> Option<Transport> {
        match key {
            "tcp" => Some(Transport::Tcp),
            "uds" => Some(Transport::Uds),
            _ => None,
        }
    }

    /// Python's default registrar address for this transport: TCP
    /// `127.0.0.1:1616`, or `registry@1616.sock` in the runtime directory.
    pub fn default_registry(self, uds_dir: &Path) -> Address {
        match self {
            Transport::Tcp => Address::tcp("127.0.0.1", 1616),
            Transport::Uds => Address::uds(uds_dir.to_string_lossy(), "registry@1616.sock"),
        }
    }
}

/// Where to connect for `addr`.
pub(crate) fn target(addr: &Address) -> io::Result<Target> {
    match addr {
        Address::Tcp { host, port } => {
            let ip: IpAddr = host.parse().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{host:?} is not an IP address"),
                )
            })?;
            Ok(Target::Tcp(SocketAddr::new(ip, *port)))
        }
        Address::Uds { dir, file } => Ok(Target::Unix(Path::new(dir).join(file))),
    }
}

/// The per-user directory for Unix sockets, created with mode 0700 if
/// missing: `$XDG_RUNTIME_DIR/tractor`, else `/run/user/<uid>/tractor`,
/// else `<tmp>/tractor-<uid>` (where Python's `platformdirs` would look).
pub fn runtime_dir() -> io::Result<PathBuf> {
    let uid = nix::unistd::getuid();
    let base = match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("tractor"),
        _ => {
            let run = PathBuf::from(format!("/run/user/{uid}"));
            if run.is_dir() {
                run.join("tractor")
            } else {
                std::env::temp_dir().join(format!("tractor-{uid}"))
            }
        }
    };
    if !base.is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&base)?;
    }
    let meta = std::fs::metadata(&base)?;
    use std::os::unix::fs::MetadataExt;
    if meta.uid() != uid.as_raw() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} belongs to another user", base.display()),
        ));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(base)
}

/// `<name>@<pid>.sock`, or `actor.<hash>@<pid>.sock` for names that cannot
/// be a file name.
pub(crate) fn socket_file(dir: &Path, name: &str, pid: u32) -> String {
    let plain = format!("{name}@{pid}.sock");
    let too_long = dir.as_os_str().len() + 1 + plain.len() >= 108;
    if name.contains('/') || name.contains('\0') || name.is_empty() || too_long {
        // FNV-1a, 128 bits as two halves: only needs to be stable and
        // unlikely to clash.
        let mut h = [0xcbf2_9ce4_8422_2325u64, 0x8422_2325_cbf2_9ce4u64];
        for (i, b) in name.bytes().enumerate() {
            let k = i % 2;
            h[k] ^= u64::from(b);
            h[k] = h[k].wrapping_mul(0x0000_0100_0000_01b3);
        }
        return format!("actor.{:016x}{:016x}@{pid}.sock", h[0], h[1]);
    }
    plain
}

/// Removes a gone actor's socket file, if it left one.
pub(crate) fn remove_socket_file(dir: &Path, name: &str, pid: u32) {
    let path = dir.join(socket_file(dir, name, pid));
    if path.exists() {
        match std::fs::remove_file(&path) {
            Ok(()) => {
                tracing::debug!(target: "tractor::transport", path = %path.display(), "removed a stale socket file")
            }
            Err(e) => {
                tracing::debug!(target: "tractor::transport", path = %path.display(), error = %e, "socket file stays")
            }
        }
    }
}

/// Removes the socket files in `dir` of the dead process `pid`, whatever
/// its actor was called (a process killed below a child).
pub(crate) fn remove_socket_files_of(dir: &Path, pid: u32) {
    let suffix = format!("@{pid}.sock");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_str().is_some_and(|n| n.ends_with(&suffix)) {
            let _ = std::fs::remove_file(e.path());
            tracing::debug!(target: "tractor::transport", path = %e.path().display(), "removed a killed process's socket file");
        }
    }
}

/// A fresh address of `transport` for this actor.
pub(crate) fn random_addr(transport: Transport, dir: &Path, name: &str) -> Address {
    match transport {
        Transport::Tcp => Address::tcp("127.0.0.1", 0),
        Transport::Uds => Address::uds(
            dir.to_string_lossy(),
            socket_file(dir, name, std::process::id()),
        ),
    }
}

/// Binds a listener at `addr`; returns it with the address really bound
/// (the port the OS chose for port 0).
///
/// A socket file left by a crashed actor is removed first; one that an
/// actor still listens on is an error of kind `AddrInUse`, as a TCP port
/// taken is. Actors binding in one directory take turns (an exclusive
/// `flock` of the directory), so that two of them that find the same
/// stale file cannot both remove it: the second finds the first's
/// listener instead, and the file it would have removed is never another
/// actor's live one.
pub(crate) fn bind(addr: &Address) -> io::Result<(StdListener, Address)> {
    match addr {
        Address::Tcp { .. } => {
            let Target::Tcp(sa) = target(addr)? else {
                unreachable!("a TCP address has a TCP target")
            };
            let l = std::net::TcpListener::bind(sa)?;
            l.set_nonblocking(true)?;
            let bound = l.local_addr()?;
            Ok((
                StdListener::Tcp(l),
                Address::tcp(bound.ip().to_string(), bound.port()),
            ))
        }
        Address::Uds { dir, file } => {
            // The directory may not exist yet: make it, private to us.
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
            let path = Path::new(dir).join(file);
            let _turn = nix::fcntl::Flock::lock(
                std::fs::File::open(dir)?,
                nix::fcntl::FlockArg::LockExclusive,
            )
            .map_err(|(_, errno)| io::Error::from(errno))?;
            if path.exists() {
                match std::os::unix::net::UnixStream::connect(&path) {
                    Ok(_) => {
                        return Err(io::Error::new(
                            io::ErrorKind::AddrInUse,
                            format!("an actor already listens on {}", path.display()),
                        ));
                    }
                    Err(_) => {
                        tracing::info!(target: "tractor::transport", path = %path.display(), "removing a stale socket file");
                        std::fs::remove_file(&path)?;
                    }
                }
            }
            let l = std::os::unix::net::UnixListener::bind(&path)?;
            // Only its owner may connect (the 0700 directory already
            // keeps others out; the file says so too).
            if let Err(e) =
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(SOCKET_MODE))
            {
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
            l.set_nonblocking(true)?;
            Ok((StdListener::Unix(l), addr.clone()))
        }
    }
}

/// The mode of every socket file an actor binds: read and write for its
/// owner only.
pub(crate) const SOCKET_MODE: u32 = 0o600;

/// Removes our own socket file on the way out.
pub(crate) fn unbind(addr: &Address) {
    if let Address::Uds { dir, file } = addr {
        let _ = std::fs::remove_file(Path::new(dir).join(file));
    }
}

/// Python's `prefer_addr`: a Unix socket over local TCP over remote TCP,
/// the latest entry winning among equals.
pub(crate) fn prefer(addrs: &[Address]) -> Option<Address> {
    let rank = |a: &Address| match a {
        Address::Uds { .. } => 2,
        Address::Tcp { host, .. } => match host.parse::<IpAddr>() {
            Ok(ip) if ip.is_loopback() => 1,
            _ => 0,
        },
    };
    addrs
        .iter()
        .enumerate()
        .max_by_key(|(i, a)| (rank(a), *i))
        .map(|(_, a)| a.clone())
}

/// Sets the probes of `keepalive` on a TCP socket (see `Limits` in the
/// core, which decides them): `SO_KEEPALIVE`, the idle time, the interval
/// and count of probes, and how long sent data may stay unacknowledged.
pub(crate) fn set_keepalive(
    socket: std::os::fd::BorrowedFd<'_>,
    keepalive: &tractor_protocol::Keepalive,
) -> io::Result<()> {
    use nix::sys::socket::{setsockopt, sockopt};
    let secs = |d: std::time::Duration| u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
    let ms = u32::try_from(keepalive.user_timeout.as_millis()).unwrap_or(u32::MAX);
    setsockopt(&socket, sockopt::KeepAlive, &true)?;
    setsockopt(&socket, sockopt::TcpKeepIdle, &secs(keepalive.idle))?;
    setsockopt(&socket, sockopt::TcpKeepInterval, &secs(keepalive.interval))?;
    setsockopt(&socket, sockopt::TcpKeepCount, &keepalive.probes)?;
    setsockopt(&socket, sockopt::TcpUserTimeout, &ms)?;
    Ok(())
}

/// Refuses addresses of another transport than the tree's, before anything
/// is spawned (a peer would otherwise wait for a handshake that never
/// comes).
pub(crate) fn check_transport(
    tpt: Transport,
    registry_addrs: &[Address],
    bind_addrs: &[Address],
) -> crate::Result<()> {
    let named = [
        ("registry_addrs", registry_addrs),
        ("bind_addrs", bind_addrs),
    ];
    for (field, addrs) in named {
        if let Some(other) = addrs.iter().find(|a| Transport::of(a) != tpt) {
            return Err(crate::Error::runtime(format!(
                "{field} has {other}, a {} address, but the tree's transport \
                 (enable_transports) is {}",
                Transport::of(other).key(),
                tpt.key()
            )));
        }
    }
    Ok(())
}

/// The addresses an actor advertises, when others reach it elsewhere than
/// where it listens (a wildcard bind, NAT, a container's published port):
/// addresses separated by commas, as multiaddrs (`/ip4/10.0.0.7/tcp/0`)
/// or `host:port` (`10.0.0.7:0`; an IPv6 host in brackets). Read at start
/// by a root without [`Config::advertise_addrs`](crate::Config::advertise_addrs)
/// and by every child; a parent sets it for a child from
/// [`ActorOptions::advertise_addrs`](crate::ActorOptions::advertise_addrs)
/// and never passes its own on. See `tractor_protocol::advertised` for
/// what they replace.
pub const ADVERTISE_ADDRS_ENV: &str = "TRACTOR_ADVERTISE_ADDRS";

/// The value of [`ADVERTISE_ADDRS_ENV`] for `addrs`.
pub(crate) fn advertise_env(addrs: &[Address]) -> String {
    addrs
        .iter()
        .map(Address::to_maddr)
        .collect::<Vec<_>>()
        .join(",")
}

/// [`ADVERTISE_ADDRS_ENV`] as this process has it: none if unset or
/// empty; a malformed value is [`ErrorKind::BadEnv`](crate::ErrorKind::BadEnv).
pub(crate) fn advertise_from_env() -> crate::Result<Vec<Address>> {
    match std::env::var_os(ADVERTISE_ADDRS_ENV) {
        Some(value) => parse_advertise(&value),
        None => Ok(Vec::new()),
    }
}

/// A value of [`ADVERTISE_ADDRS_ENV`]: addresses separated by commas.
fn parse_advertise(value: &std::ffi::OsStr) -> crate::Result<Vec<Address>> {
    let bad = |reason: String| -> crate::Error {
        crate::ErrorKind::BadEnv {
            var: ADVERTISE_ADDRS_ENV.to_owned(),
            value: value.to_string_lossy().chars().take(64).collect(),
            reason,
        }
        .into()
    };
    let text = value.to_str().ok_or_else(|| bad("not UTF-8".into()))?;
    text.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            a.parse::<Address>().map_err(|e| {
                bad(format!(
                    "{a:?} is not an address such as /ip4/10.0.0.7/tcp/0 or 10.0.0.7:0: {e}"
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertised_addresses_are_read_as_multiaddrs_and_written_back() {
        let addrs = [Address::tcp("10.0.0.7", 0), Address::tcp("::1", 7000)];
        let value = advertise_env(&addrs);
        assert_eq!(value, "/ip4/10.0.0.7/tcp/0,/ip6/::1/tcp/7000");
        assert_eq!(parse_advertise(value.as_ref()).unwrap(), addrs);
        assert_eq!(parse_advertise("".as_ref()).unwrap(), []);
        assert_eq!(
            parse_advertise(" /ip4/10.0.0.7/tcp/1 , ".as_ref()).unwrap(),
            [Address::tcp("10.0.0.7", 1)]
        );
        assert_eq!(
            parse_advertise("10.0.0.7:7000,[::1]:0".as_ref()).unwrap(),
            [Address::tcp("10.0.0.7", 7000), Address::tcp("::1", 0)]
        );
        let e = parse_advertise("/ip4/10.0.0.7/tcp/1,10.0.0.7".as_ref()).unwrap_err();
        let crate::ErrorKind::BadEnv { var, reason, .. } = e.kind() else {
            panic!("{e}")
        };
        assert_eq!(var, ADVERTISE_ADDRS_ENV);
        assert!(
            reason.contains("\"10.0.0.7\" is not an address"),
            "{reason}"
        );
    }

    #[test]
    fn keepalive_is_set_as_the_core_decides() {
        use nix::sys::socket::{getsockopt, sockopt};
        use std::os::fd::AsFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let limits = tractor_protocol::Limits {
            keepalive: Some(std::time::Duration::from_secs(20)),
            ..Default::default()
        };
        let probes = limits.keepalive_probes().unwrap();
        set_keepalive(stream.as_fd(), &probes).unwrap();
        assert!(getsockopt(&stream, sockopt::KeepAlive).unwrap());
        assert_eq!(getsockopt(&stream, sockopt::TcpKeepIdle).unwrap(), 10);
        assert_eq!(getsockopt(&stream, sockopt::TcpKeepInterval).unwrap(), 3);
        assert_eq!(getsockopt(&stream, sockopt::TcpKeepCount).unwrap(), 3);
        assert_eq!(
            getsockopt(&stream, sockopt::TcpUserTimeout).unwrap(),
            20_000
        );
    }

    #[test]
    fn socket_files_are_named_like_python_s() {
        let dir = Path::new("/run/user/1000/tractor");
        assert_eq!(socket_file(dir, "root", 42), "root@42.sock");
        let odd = socket_file(dir, "a/b", 42);
        assert!(
            odd.starts_with("actor.") && odd.ends_with("@42.sock"),
            "{odd}"
        );
        assert_eq!(odd, socket_file(dir, "a/b", 42), "stable");
        assert_ne!(odd, socket_file(dir, "a/c", 42));
        let long = "x".repeat(120);
        assert!(socket_file(dir, &long, 1).len() < 60);
    }

    #[test]
    fn prefer_picks_uds_then_loopback_then_latest() {
        let remote = Address::tcp("10.0.0.1", 1);
        let local = Address::tcp("127.0.0.1", 2);
        let local2 = Address::tcp("127.0.0.1", 3);
        let uds = Address::uds("/d", "f.sock");
        assert_eq!(
            prefer(&[remote.clone(), local.clone()]),
            Some(local.clone())
        );
        assert_eq!(prefer(&[local.clone(), local2.clone()]), Some(local2));
        assert_eq!(prefer(&[uds.clone(), local, remote]), Some(uds));
        assert_eq!(prefer(&[]), None);
    }

    #[test]
    fn stale_socket_files_are_replaced_live_ones_refused() {
        let dir = std::env::temp_dir().join(format!("tractor-bind-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let addr = Address::uds(dir.to_string_lossy(), "t@1.sock");
        // A file nobody listens on: a crashed actor's.
        drop(std::os::unix::net::UnixListener::bind(dir.join("t@1.sock")).unwrap());
        let (live, _) = bind(&addr).expect("the stale file is replaced");
        let mode = std::fs::metadata(dir.join("t@1.sock"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, SOCKET_MODE, "{mode:o}");
        let err = bind(&addr).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        drop(live);
        unbind(&addr);
        assert!(!dir.join("t@1.sock").exists());
        std::fs::remove_dir(&dir).unwrap();
    }
}
