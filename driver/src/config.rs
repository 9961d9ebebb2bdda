//! A root actor's settings: [`Config`], its defaults and builders. The
//! environment's overrides (secret, limits) are read when the root starts
//! (see `entry`).

use std::time::Duration;

use tractor_protocol::{Address, Limits, ReapTimeouts};

use crate::debug::DebugFilter;
use crate::error::Error;
use crate::functions::Functions;
use crate::transport::Transport;

/// A root actor's settings (Python's `open_root_actor` arguments).
#[derive(Debug, Clone)]
pub struct Config {
    /// The root's name.
    pub name: String,
    /// Registrar addresses; empty means the transport's default (TCP
    /// `127.0.0.1:1616`). The first root that finds no registrar there
    /// becomes the registrar; roots that start together settle on one
    /// (the first to bind the address), the others joining it as clients
    /// (see `tractor_protocol::Election`). Every actor of the tree stays
    /// registered: should a registrar go, the actor registers again, its
    /// attempts 50 ms apart and doubling up to 2 s, with the one that
    /// takes its address. TCP port 0 makes this root the registrar, on
    /// a port the OS picks (children and
    /// [`ActorHandle::registry_addrs`](crate::ActorHandle::registry_addrs)
    /// get the port bound): nothing can listen on port 0, so no registrar
    /// is looked for there (should another address of the list find one,
    /// the port-0 address is dropped).
    pub registry_addrs: Vec<Address>,
    /// The tree's transport.
    pub transport: Transport,
    /// Addresses the root listens on, besides the registrar's if it is
    /// one; by default one of the transport's, picked at random.
    pub bind_addrs: Vec<Address>,
    /// Addresses others reach the root at, when they are not where it
    /// listens: a wildcard bind (`0.0.0.0`), NAT, a container's published
    /// port. They stand, position by position, for
    /// [`registry_addrs`](Config::registry_addrs) followed by
    /// [`bind_addrs`](Config::bind_addrs), and replace them in what the
    /// root gives out: its registration, its children's parent and
    /// registrar addresses (so a launched child's default connect-back),
    /// [`ActorHandle::accept_addrs`](crate::ActorHandle::accept_addrs). A
    /// root that finds another registrar listens on its `bind_addrs` only:
    /// the first positions then say how its children reach that
    /// registrar, and the rest stand for its own addresses. A port 0 takes
    /// the port bound (or, for a registrar found, the port configured).
    /// TCP only; advertising another address for a loopback listener is
    /// logged as a warning (only a forwarder on the host reaches it).
    /// Empty: the root reads `TRACTOR_ADVERTISE_ADDRS`, and gives out what
    /// it binds if that is unset too.
    ///
    /// ```
    /// # use tractor_driver::{Address, Config, Functions};
    /// let mut config = Config::new("root", Functions::new());
    /// config.registry_addrs = vec![Address::tcp("0.0.0.0", 0)];
    /// config.advertise_addrs = vec![Address::tcp("10.0.0.1", 0)];
    /// # let _ = config;
    /// ```
    pub advertise_addrs: Vec<Address>,
    /// Namespaces the root itself serves.
    pub enable_modules: Vec<String>,
    /// The log level, passed to every child.
    pub loglevel: Option<String>,
    /// The multi-process debugger (for the whole tree).
    pub debug_mode: bool,
    /// Task-tree dumps on `SIGUSR1` in every actor of the tree (see
    /// [`stackscope`](crate::stackscope)); `TRACTOR_ENABLE_STACKSCOPE` set
    /// to anything non-empty is the default.
    pub stack_on_sig: bool,
    /// How long the root gives a child at each step of reaping it: cancel
    /// request, SIGTERM, SIGKILL (Python's timings by default), each step
    /// lengthened by the tree's
    /// [`cancel_grace`](Config#structfield.cancel_grace). Children reap
    /// their own children with the defaults (and the grace).
    pub reap: ReapTimeouts,
    /// Every function this program can serve, in any of its actors.
    pub functions: Functions,
    /// In debug mode, which failures open a crash REPL (all but
    /// cancellations by default), in every actor of this program.
    pub debug_filter: Option<DebugFilter>,
    /// The tree's shared secret (spec/PROTOCOL.md §3.5): with one, every
    /// connection proves it in its handshake before either side learns
    /// who the other is, and strangers are refused. `None` (the default)
    /// takes it from the environment, [`SECRET_ENV`](crate::SECRET_ENV)
    /// or [`SECRET_FILE_ENV`](crate::SECRET_FILE_ENV), and with neither
    /// set the tree has none: its handshakes are Python's, as before.
    /// Children inherit the secret through their environment, never
    /// their command line.
    pub secret: Option<crate::TreeSecret>,
    /// With a secret, still accept connections from peers that do not
    /// authenticate (Python actors, Rust ones without it): they are
    /// served, but may not cancel an actor that is not their parent or
    /// child, nor change others' registrations. Off by default;
    /// [`ACCEPT_UNAUTHENTICATED_ENV`](crate::ACCEPT_UNAUTHENTICATED_ENV)
    /// set to `1` turns it on too. Children inherit it.
    pub accept_unauthenticated: bool,
    /// Allow listening on a TCP address that is not loopback without a
    /// secret: by default such a root (or child) refuses to start with
    /// [`ErrorKind::InsecureBind`](crate::ErrorKind::InsecureBind), since
    /// anyone who reaches it could run its functions. [`INSECURE_BIND_ENV`](crate::INSECURE_BIND_ENV) set
    /// to `1` allows it too. Children inherit it.
    pub allow_insecure_bind: bool,
    /// TLS 1.3 between hosts, mutually authenticated (see
    /// [`TlsConfig`](crate::TlsConfig)): every TCP connection whose
    /// address is not loopback runs inside a TLS session, both ways.
    /// `None` (the default) takes it from the environment (see the
    /// [`tls`](crate::tls) module), and with nothing there the tree has
    /// none. Children inherit it through their environment. An actor with
    /// TLS may listen beyond loopback without a secret: TLS proves every
    /// peer's certificate.
    pub tls: Option<crate::TlsConfig>,
    /// What every actor of the tree gives its peers: connections,
    /// handshakes, calls at once per peer, output queued per peer and how
    /// long it may stall (see [`Limits`]; README "Limits"). Each field is
    /// overridden by its environment variable when set:
    /// [`MAX_CONNECTIONS_ENV`](crate::MAX_CONNECTIONS_ENV)
    /// (`TRACTOR_MAX_CONNECTIONS`),
    /// [`MAX_PENDING_CONNECTIONS_ENV`](crate::MAX_PENDING_CONNECTIONS_ENV)
    /// (`TRACTOR_MAX_PENDING_CONNECTIONS`),
    /// [`MAX_DIALOGS_PER_PEER_ENV`](crate::MAX_DIALOGS_PER_PEER_ENV)
    /// (`TRACTOR_MAX_DIALOGS_PER_PEER`),
    /// [`MAX_QUEUED_BYTES_ENV`](crate::MAX_QUEUED_BYTES_ENV)
    /// (`TRACTOR_MAX_QUEUED_BYTES`),
    /// [`MAX_QUEUED_FRAMES_ENV`](crate::MAX_QUEUED_FRAMES_ENV)
    /// (`TRACTOR_MAX_QUEUED_FRAMES`) and
    /// [`STALL_TIMEOUT_MS_ENV`](crate::STALL_TIMEOUT_MS_ENV)
    /// (`TRACTOR_STALL_TIMEOUT_MS`, in milliseconds): whole numbers in
    /// decimal digits; an empty one counts as unset, and any other value
    /// is an [`ErrorKind::BadEnv`](crate::ErrorKind::BadEnv) naming the
    /// variable, before the root starts. Children (and theirs) inherit the root's limits through
    /// their environment, set by their parent.
    pub limits: Limits,
    /// The largest frame every actor of the tree accepts
    /// (`tractor_protocol::DEFAULT_MAX_FRAME_LEN` by default); a larger
    /// one closes its connection. Overridden by
    /// [`MAX_FRAME_LEN_ENV`](crate::MAX_FRAME_LEN_ENV)
    /// (`TRACTOR_MAX_FRAME_LEN`) when set, and inherited as
    /// [`limits`](Config#structfield.limits) are.
    pub max_frame_len: u32,
    /// How long a served function that asked for graceful cancellation
    /// ([`graceful_cancel`](crate::graceful_cancel)) may still run once its
    /// cancellation reached it, in every actor of the tree: its time to
    /// clean up (flush, send a last message, release a remote lock) before
    /// it is dropped at its next await point. `tractor_protocol::DEFAULT_CANCEL_GRACE`
    /// (1 s) by default: room for a last message or flush over a local
    /// connection, while a stuck cleanup holds a tree's teardown for no
    /// longer than about a second. Every deadline that waits for a
    /// cancellation to be acknowledged (context and actor cancel
    /// acknowledgments, each step of reaping a child, an actor's teardown
    /// waiting for its functions) is this much longer than Python's; zero
    /// keeps Python's deadlines. Overridden by
    /// [`CANCEL_GRACE_MS_ENV`](crate::CANCEL_GRACE_MS_ENV)
    /// (`TRACTOR_CANCEL_GRACE_MS`, in whole milliseconds) when set, and
    /// inherited as [`limits`](Config#structfield.limits) are.
    pub cancel_grace: Duration,
    /// The root runs a guest runtime beside its own (see
    /// [`guest`](crate::guest) and [`Config::guest`]). Off by default; a
    /// child gets one through
    /// [`ActorOptions::guest`](crate::ActorOptions::guest).
    pub guest: bool,
}

impl Config {
    /// A root named `name` serving `functions` to its children, with
    /// Python's defaults otherwise.
    pub fn new(name: impl Into<String>, functions: Functions) -> Self {
        Config {
            name: name.into(),
            registry_addrs: Vec::new(),
            transport: Transport::Tcp,
            bind_addrs: Vec::new(),
            advertise_addrs: Vec::new(),
            enable_modules: Vec::new(),
            loglevel: None,
            debug_mode: false,
            stack_on_sig: crate::stackscope::env_enabled(),
            reap: ReapTimeouts::default(),
            functions,
            debug_filter: None,
            secret: None,
            accept_unauthenticated: false,
            allow_insecure_bind: false,
            tls: None,
            limits: Limits::default(),
            max_frame_len: tractor_protocol::DEFAULT_MAX_FRAME_LEN,
            cancel_grace: tractor_protocol::DEFAULT_CANCEL_GRACE,
            guest: false,
        }
    }

    /// Gives the root a guest runtime beside its own: tokio on
    /// `tractor-smol` (feature `guest-tokio`), smol's executor on
    /// `tractor-tokio` (feature `guest-smol`). Its tasks reach it through
    /// [`to_guest`](crate::to_guest); the root fails to start if its
    /// runtime has none.
    ///
    /// ```
    /// # use tractor_driver::prelude::*;
    /// let config = Config::new("root", Functions::new()).guest();
    /// assert!(config.guest);
    /// ```
    pub fn guest(mut self) -> Self {
        self.guest = true;
        self
    }

    /// Gives the tree this secret (see the field
    /// [`secret`](Config#structfield.secret)).
    ///
    /// ```
    /// # use tractor_driver::prelude::*;
    /// # use tractor_driver::{Secret, TreeSecret};
    /// let secret = Secret::new("a-long-enough-tree-secret").unwrap();
    /// let config = Config::new("root", Functions::new()).secret(TreeSecret::Value(secret));
    /// # let _ = config;
    /// ```
    pub fn secret(mut self, secret: crate::TreeSecret) -> Self {
        self.secret = Some(secret);
        self
    }

    /// Gives the tree TLS between hosts (see the field
    /// [`tls`](Config#structfield.tls)).
    ///
    /// ```
    /// # use tractor_driver::prelude::*;
    /// # use tractor_driver::TlsConfig;
    /// let config = Config::new("root", Functions::new()).tls(TlsConfig::generate());
    /// # let _ = config;
    /// ```
    pub fn tls(mut self, tls: crate::TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Accepts peers that do not authenticate, with a secret (see the
    /// field [`accept_unauthenticated`](Config#structfield.accept_unauthenticated)).
    pub fn accept_unauthenticated(mut self, on: bool) -> Self {
        self.accept_unauthenticated = on;
        self
    }

    /// Allows listening beyond loopback without a secret (see the field
    /// [`allow_insecure_bind`](Config#structfield.allow_insecure_bind)).
    pub fn allow_insecure_bind(mut self, on: bool) -> Self {
        self.allow_insecure_bind = on;
        self
    }

    /// Opens crash REPLs (in debug mode) only on the failures `keep`
    /// accepts; cancellations never open one.
    ///
    /// ```
    /// # use tractor_driver::prelude::*;
    /// let config = Config::new("root", Functions::new())
    ///     .debug_filter(|e| e.type_name() != Some("KeyError"));
    /// # let _ = config;
    /// ```
    pub fn debug_filter(mut self, keep: impl Fn(&Error) -> bool + Send + Sync + 'static) -> Self {
        self.debug_filter = Some(DebugFilter::new(keep));
        self
    }

    /// Uses these registrar addresses (see the field
    /// [`registry_addrs`](Config#structfield.registry_addrs)); TCP port 0
    /// gives the tree a registrar of its own, the root, on a free port.
    ///
    /// ```
    /// # use tractor_driver::prelude::*;
    /// let alone = Config::new("root", Functions::new())
    ///     .registry_addrs([Address::tcp("127.0.0.1", 0)]);
    /// # let _ = alone;
    /// ```
    pub fn registry_addrs(mut self, addrs: impl IntoIterator<Item = Address>) -> Self {
        self.registry_addrs = addrs.into_iter().collect();
        self
    }

    /// Uses this transport.
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Uses this log level in the root and passes it to every child;
    /// `TRACTOR_LOGLEVEL` overrides it in any process where it is set (see
    /// [`log`](crate::log)).
    pub fn loglevel(mut self, level: impl Into<String>) -> Self {
        self.loglevel = Some(level.into());
        self
    }

    /// Turns the debugger on for the whole tree (or off), as the
    /// `debug_mode` field does.
    pub fn debug_mode(mut self, on: bool) -> Self {
        self.debug_mode = on;
        self
    }

    /// Turns task-tree dumps on `SIGUSR1` on for the whole tree (or off),
    /// as the `stack_on_sig` field does (Python's `enable_stack_on_sig`).
    pub fn enable_stack_on_sig(mut self, on: bool) -> Self {
        self.stack_on_sig = on;
        self
    }

    /// Reaps children with these timeouts.
    pub fn reap_timeouts(mut self, reap: ReapTimeouts) -> Self {
        self.reap = reap;
        self
    }

    /// Gives peers of every actor of the tree these limits (see the field
    /// [`limits`](Config#structfield.limits)).
    ///
    /// ```
    /// # use tractor_driver::prelude::*;
    /// # use std::time::Duration;
    /// let config = Config::new("root", Functions::new()).limits(Limits {
    ///     max_connections: 256,
    ///     stall_timeout: Duration::from_secs(5),
    ///     ..Limits::default()
    /// });
    /// # let _ = config;
    /// ```
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Gives every served function of the tree that asked for graceful
    /// cancellation `grace` to return once cancelled (see the field
    /// [`cancel_grace`](Config#structfield.cancel_grace)).
    ///
    /// ```
    /// # use tractor_driver::prelude::*;
    /// # use std::time::Duration;
    /// let config = Config::new("root", Functions::new()).cancel_grace(Duration::from_millis(250));
    /// # let _ = config;
    /// ```
    pub fn cancel_grace(mut self, grace: Duration) -> Self {
        self.cancel_grace = grace;
        self
    }

    /// Accepts frames of at most `len` bytes (body) in every actor of the
    /// tree.
    pub fn max_frame_len(mut self, len: u32) -> Self {
        self.max_frame_len = len;
        self
    }

    /// Serves these namespaces in the root too.
    pub fn enable_modules<S: Into<String>>(mut self, ns: impl IntoIterator<Item = S>) -> Self {
        self.enable_modules.extend(ns.into_iter().map(Into::into));
        self
    }

    /// Serves `service` in the root too (its namespace, as
    /// [`enable_modules`](Config::enable_modules) names it); the root's
    /// [`Functions`] serve it with [`Functions::serve`].
    pub fn serve<S: crate::Service>(self, service: S) -> Self {
        let _ = service;
        self.enable_modules([S::NAMESPACE])
    }
}
