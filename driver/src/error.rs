//! The one error type of the user API.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, OnceLock};

use tractor_protocol::{
    DialogError, ErrorFields, LocalError, PayloadEncodeError, PayloadError, RemoteError,
    RemoteErrorKind, TaskError, Uid, UsageError,
};

use crate::error_types::{self, RemoteErrorType};

/// Shorthand for results of the user API.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Anything that went wrong in an actor, here or in another process.
///
/// An `Error` is cheap to clone (a result may be read more than once, as
/// Python's `Portal.wait_for_result` allows) and converts from any
/// `std::error::Error`, so functions served to other actors can use `?` on
/// whatever they call. It does not itself implement `std::error::Error`
/// (that would forbid the blanket conversion, as with `anyhow`), so `?`
/// does not turn it into `anyhow::Error` or `Box<dyn std::error::Error>`
/// by itself: wrap it in [`StdError`], which is one, with
/// `.map_err(StdError)?`. A `Box<dyn std::error::Error + Send + Sync>`
/// takes it with a plain `?`. Use [`Error::kind`] to inspect it.
///
/// ```
/// # use tractor_driver::{Result, StdError};
/// use std::error::Error as _;
///
/// fn port(text: &str) -> Result<u16> {
///     Ok(text.parse::<u16>()?)
/// }
///
/// // Any error type built from a `std::error::Error` (`anyhow::Error`,
/// // `Box<dyn Error>`, …): through `StdError`.
/// fn boxed(text: &str) -> std::result::Result<u16, Box<dyn std::error::Error>> {
///     Ok(port(text).map_err(StdError)?)
/// }
///
/// // A `Box<dyn Error + Send + Sync>`: with `?` as it is.
/// fn shared(text: &str) -> std::result::Result<u16, Box<dyn std::error::Error + Send + Sync>> {
///     Ok(port(text)?)
/// }
///
/// assert_eq!(boxed("8080").unwrap(), 8080);
/// let e = shared("http").unwrap_err();
/// assert!(e.to_string().contains("ParseIntError"), "{e}");
/// assert!(e.source().is_none());
/// ```
///
/// A remote error displays like Python tractor's: the actor that raised,
/// the relay path, the boxed type, the message and the remote traceback.
#[derive(Clone)]
pub struct Error(Arc<Inner>);

/// An error's kind, settled once. A local error made with a backtrace
/// is settled when its traceback is first needed: making it records the
/// stack's addresses only, and resolving them (reading the program's
/// debug information, the first time in a process) waits until then.
struct Inner {
    kind: OnceLock<ErrorKind>,
    /// The local error to settle, when `kind` is not set yet.
    pending: Option<Pending>,
    /// The value of a registered error type it stands for: the one it was
    /// made from, or the one a remote error's fields rebuild (when first
    /// asked for).
    typed: OnceLock<Option<Arc<dyn Any + Send + Sync>>>,
}

/// A local error whose backtrace is not resolved yet.
struct Pending {
    type_name: String,
    message: String,
    /// Where it was made.
    place: Place,
    trace: crate::trace::Trace,
    /// A registered type's fields.
    fields: Option<ErrorFields>,
}

impl Pending {
    /// Its kind, with the backtrace's frames resolved or, if not
    /// `frames`, a note saying why not.
    fn settle(&self, frames: bool) -> ErrorKind {
        let traceback = match frames {
            true => traceback(&self.place, &self.trace.app_frames(), None),
            false => traceback(&self.place, &[], Some(CANCELLED_NO_BACKTRACE)),
        };
        let mut local =
            LocalError::new(self.type_name.clone(), self.message.clone()).with_traceback(traceback);
        local.fields = self.fields.clone().map(Box::new);
        ErrorKind::Local(local)
    }
}

/// What kind of failure an [`Error`] is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Raised in another actor and shipped here (possibly relayed).
    #[error("{0}")]
    Remote(RemoteError),
    /// Raised in this actor: a type name, a message and a backtrace.
    #[error("{0}")]
    Local(LocalError),
    /// A dialog with another actor failed without a remote error: the
    /// actor died or hung up (`DialogError::PeerLost`, naming it and, for
    /// a child, how its process ended), its channel was closed here, a
    /// cancel request went unanswered, the peer broke the protocol.
    #[error("{0}")]
    Dialog(DialogError),
    /// An operation that the current state does not allow.
    #[error("{0}")]
    Usage(#[from] UsageError),
    /// Several actors failed together (Python's exception group): each
    /// error names its actor.
    #[error("{} errors in the actor nursery:{}", .0.len(), Group(.0))]
    Group(Vec<Error>),
    /// This task was cancelled: its actor is shutting down, or the peer
    /// that asked for it cancelled it.
    #[error("cancelled")]
    Cancelled,
    /// SIGINT (ctrl-c) reached the root actor: the tree was cancelled.
    #[error("interrupted by SIGINT: the actor tree was cancelled")]
    Interrupted,
    /// SIGTERM reached the root actor: the tree was cancelled, as for
    /// SIGINT but even while a debug REPL holds the terminal. The process
    /// is still alive and the program decides how it exits; the shell's
    /// convention for a process SIGTERM ended is exit code 143 (128 + 15),
    /// which the conformance program uses.
    #[error("terminated by SIGTERM: the actor tree was cancelled")]
    Terminated,
    /// A supervisor gave up: a child needed one restart more than its
    /// restart intensity allows. Every child of the supervisor was
    /// stopped first.
    #[error("the supervisor gave up: {0}")]
    SupervisorFailed(tractor_protocol::Escalation),
    /// A child could not be started through its launcher, or a launched
    /// child could not read its bootstrap block (see
    /// [`launch`](crate::launch)).
    #[error("{0}")]
    Launch(#[from] crate::launch::LaunchError),
    /// A child actor could not be started.
    #[error("could not spawn actor {name:?}: {reason}")]
    Spawn {
        /// The child's name.
        name: String,
        /// Why.
        reason: String,
    },
    /// The handshake's authentication failed (spec/PROTOCOL.md §3.5):
    /// the actor at `addr` holds another secret, needs one this actor
    /// lacks, or does not authenticate while this actor requires it.
    #[error("could not connect to {addr}: {reason}")]
    Unauthenticated {
        /// Where.
        addr: String,
        /// What failed.
        reason: tractor_protocol::AuthError,
    },
    /// An actor would listen on a TCP address that is not loopback, and
    /// its tree has no secret nor TLS: anyone who reaches the address
    /// could run its functions. Give the tree a secret (`Config::secret`,
    /// `TRACTOR_SECRET`, `TRACTOR_SECRET_FILE`) or TLS (`Config::tls`,
    /// `TRACTOR_TLS=generate`), or allow this explicitly
    /// (`Config::allow_insecure_bind`, `TRACTOR_INSECURE_BIND=1`).
    #[error(
        "refusing to listen on {addr}: it is not a loopback address and the tree has no secret; \
         give it one (Config::secret, TRACTOR_SECRET or TRACTOR_SECRET_FILE) or allow this \
         with Config::allow_insecure_bind or TRACTOR_INSECURE_BIND=1"
    )]
    InsecureBind {
        /// The address.
        addr: String,
    },
    /// An environment variable an actor reads at start holds a value it
    /// cannot use (a limit that is not a whole number, say: see
    /// `MAX_DIALOGS_PER_PEER_ENV` and its siblings). The actor does not
    /// start.
    #[error("the environment variable {var}={value:?} is not usable: {reason}")]
    BadEnv {
        /// The variable.
        var: String,
        /// Its value (its first 64 characters).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A TLS setting an actor reads at start is not usable (a file
    /// missing, a PEM malformed, a key that does not fit): see
    /// `TlsConfig`. The actor does not start.
    #[error("TLS: {what} is not usable: {reason}")]
    Tls {
        /// What: a file's path, an environment variable, a certificate.
        what: String,
        /// Why.
        reason: String,
    },
    /// The addresses an actor advertises do not fit the ones it listens
    /// on ([`Config::advertise_addrs`](crate::Config::advertise_addrs),
    /// [`ActorOptions::advertise_addrs`](crate::ActorOptions::advertise_addrs)).
    /// The actor does not start.
    #[error("{0}")]
    Advertise(tractor_protocol::AdvertiseError),
    /// Connecting to an actor failed.
    #[error("could not connect to {addr}: {reason}")]
    Connect {
        /// Where.
        addr: String,
        /// Why.
        reason: String,
    },
    /// A stream ended: no item will come any more. The peer closed its
    /// side or the context ended; if this side closed the stream first
    /// ([`MsgStream::close`](crate::MsgStream::close)), what the peer
    /// sent after that was dropped, so the end does not mean that every
    /// item the peer sent was read.
    #[error("the stream has ended")]
    EndOfStream,
    /// A broadcast receiver fell behind its stream by this many items,
    /// which it will never see; it reads on from the oldest item held.
    #[error("a broadcast receiver lagged {0} items behind its stream")]
    Lagged(u64),
    /// The resource was closed by this side: a closed broadcast receiver.
    #[error("the resource is closed")]
    Closed,
    /// A setup problem: bad configuration, an address in use, no runtime.
    #[error("{0}")]
    Runtime(String),
    /// An operating-system error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

struct Group<'a>(&'a [Error]);

impl fmt::Display for Group<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            write!(f, "\n+-- {} --", i + 1)?;
            for line in e.to_string().lines() {
                write!(f, "\n| {line}")?;
            }
        }
        Ok(())
    }
}

impl Error {
    /// An error of Python type `type_name` (`ValueError`, `RuntimeError`,
    /// … or any name), with its traceback: where it was made, and the
    /// application's frames of a backtrace when `RUST_BACKTRACE` asks for
    /// one, as Rust's own panics do.
    ///
    /// ```
    /// # use tractor_driver::prelude::*;
    /// let e = Error::raise("ValueError", "the answer must be 42");
    /// assert_eq!(e.to_string(), "ValueError: the answer must be 42");
    /// assert!(matches!(e.kind(), ErrorKind::Local(l) if l.type_name == "ValueError"));
    /// ```
    #[track_caller]
    pub fn raise(type_name: impl Into<String>, message: impl Into<String>) -> Self {
        Error::raise_typed(type_name.into(), message.into(), None)
    }

    /// [`Error::raise`], of a registered type's `value` if given.
    #[track_caller]
    fn raise_typed(
        type_name: String,
        message: String,
        value: Option<Arc<dyn Any + Send + Sync>>,
    ) -> Self {
        let at = std::panic::Location::caller();
        // Not even captured when a note stands for it (see
        // `render_traceback`).
        let trace =
            crate::trace::enabled().then(|| match crate::task_record::in_cancelled_call() {
                true => crate::trace::Trace::default(),
                false => crate::trace::Trace::capture(),
            });
        Error::local_typed(type_name, message, place(at), trace, value)
    }

    /// A local error made at `place` (unknown if empty), with the stack
    /// `trace` if backtraces are on.
    ///
    /// The traceback, as its `tb_str` carries it to other actors, in
    /// Python's shape (see [`traceback`]): always the place the error was
    /// made (the `?` or the [`Error::raise`], or where a panic happened),
    /// whatever the build profile. Then Rust's convention decides: with
    /// `RUST_BACKTRACE` (or `RUST_LIB_BACKTRACE`) set, the application's
    /// frames of the backtrace (see `trace`: only those are resolved,
    /// which keeps the first error of a process cheap), resolved when the
    /// traceback is first needed or in the background ([`Error::settle`]);
    /// without, a hint. In a served function whose cancellation came
    /// first, a note instead (see [`render_traceback`]).
    pub(crate) fn local(
        type_name: String,
        message: String,
        place: Place,
        trace: Option<crate::trace::Trace>,
    ) -> Self {
        Error::local_typed(type_name, message, place, trace, None)
    }

    /// [`Error::local`] of a registered type's `value`, which travels
    /// with its fields.
    fn local_typed(
        type_name: String,
        message: String,
        place: Place,
        trace: Option<crate::trace::Trace>,
        value: Option<Arc<dyn Any + Send + Sync>>,
    ) -> Self {
        let fields = value.as_deref().and_then(error_types::fields_of);
        let e = match trace {
            Some(trace) if !trace.is_empty() && !crate::task_record::in_cancelled_call() => {
                Error(Arc::new(Inner {
                    kind: OnceLock::new(),
                    pending: Some(Pending {
                        type_name,
                        message,
                        place,
                        trace,
                        fields,
                    }),
                    typed: OnceLock::new(),
                }))
            }
            trace => {
                let mut local = LocalError::new(type_name, message)
                    .with_traceback(render_traceback(place, trace));
                local.fields = fields.map(Box::new);
                ErrorKind::Local(local).into()
            }
        };
        if value.is_some() {
            let _ = e.0.typed.set(value);
        }
        e
    }

    fn new(kind: ErrorKind) -> Self {
        Error(Arc::new(Inner {
            kind: OnceLock::from(kind),
            pending: None,
            typed: OnceLock::new(),
        }))
    }

    /// The value of the registered error type `T` this error stands for
    /// (see [`RemoteErrorType`]): the one it was made from here, or, for
    /// an error from another actor (directly or relayed), the one its
    /// fields rebuild when `T`'s name is registered in this process.
    /// `None` for any other error.
    ///
    /// ```
    /// # use serde::{Deserialize, Serialize};
    /// # use tractor_driver::{Error, RemoteErrorType, register_error_type};
    /// #[derive(Debug, Serialize, Deserialize)]
    /// struct Busy { retry_after_ms: u32 }
    /// # impl std::fmt::Display for Busy {
    /// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    /// #         write!(f, "busy, retry after {} ms", self.retry_after_ms)
    /// #     }
    /// # }
    /// # impl std::error::Error for Busy {}
    /// impl RemoteErrorType for Busy {
    ///     const NAME: &'static str = "Busy";
    /// }
    ///
    /// register_error_type::<Busy>();
    /// let e = Error::from(Busy { retry_after_ms: 50 });
    /// assert_eq!(e.downcast_ref::<Busy>().map(|b| b.retry_after_ms), Some(50));
    /// assert!(Error::raise("Busy", "a name alone").downcast_ref::<Busy>().is_none());
    /// ```
    pub fn downcast_ref<T: RemoteErrorType>(&self) -> Option<&T> {
        let typed = self.0.typed.get_or_init(|| {
            self.remote()
                .and_then(RemoteError::fields)
                .filter(|f| f.type_name == T::NAME)
                .and_then(error_types::rebuild)
        });
        typed.as_deref()?.downcast_ref::<T>()
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> &ErrorKind {
        self.0.kind.get_or_init(|| {
            let pending = self.0.pending.as_ref();
            pending.expect("an unsettled error").settle(true)
        })
    }

    /// The kind if settled, else the local error that waits for its
    /// backtrace: what needs no traceback is told without settling it.
    fn peek(&self) -> Result<&ErrorKind, &Pending> {
        match (self.0.kind.get(), &self.0.pending) {
            (None, Some(pending)) => Err(pending),
            _ => Ok(self.kind()),
        }
    }

    /// Whether this is a local error whose backtrace is not resolved yet.
    pub(crate) fn unsettled(&self) -> bool {
        self.0.kind.get().is_none()
    }

    /// Settles a local error's traceback with its backtrace, resolved on
    /// a thread of its own, then calls `done`; meanwhile
    /// [`Error::settle_without_backtrace`] may settle it first, without
    /// waiting for this.
    pub(crate) fn settle(&self, done: impl FnOnce() + Send + 'static) {
        let e = self.clone();
        let resolve = move || {
            if let Some(pending) = &e.0.pending
                && e.0.kind.get().is_none()
            {
                // Resolved outside the cell, which only a settled kind
                // enters: whichever comes first stays.
                let _ = e.0.kind.set(pending.settle(true));
            }
            done();
        };
        let thread = std::thread::Builder::new().name("tractor-backtrace".into());
        if let Err(e) = thread.spawn(resolve) {
            tracing::debug!(target: "tractor::runtime", error = %e, "no thread to resolve a backtrace: sent without it");
            self.settle_without_backtrace();
        }
    }

    /// Settles a local error without its backtrace, if it is not settled
    /// yet: its traceback is its place and a note saying why.
    pub(crate) fn settle_without_backtrace(&self) {
        if let Some(pending) = &self.0.pending {
            let _ = self.0.kind.set(pending.settle(false));
        }
    }

    /// The remote error this is, if it came from another actor (directly,
    /// or as a dialog's failure).
    pub fn remote(&self) -> Option<&RemoteError> {
        match self.peek().ok()? {
            ErrorKind::Remote(e) | ErrorKind::Dialog(DialogError::Remote(e)) => Some(e),
            _ => None,
        }
    }

    /// The Python type name of the failure: a local error's own, or the
    /// type a remote error boxes (what `Config::debug_filter` predicates
    /// usually look at).
    ///
    /// ```
    /// # use tractor_driver::Error;
    /// let e = Error::raise("KeyError", "'missing'");
    /// assert_eq!(e.type_name(), Some("KeyError"));
    /// ```
    pub fn type_name(&self) -> Option<&str> {
        let kind = match self.peek() {
            Ok(kind) => kind,
            Err(pending) => return Some(&pending.type_name),
        };
        match (kind, self.remote()) {
            (ErrorKind::Local(e), _) => Some(&e.type_name),
            (_, Some(r)) => Some(r.boxed_type()),
            _ => None,
        }
    }

    /// For a cancellation a peer reported (`ContextCancelled`), the actor
    /// that asked for it: ourselves for a cancel we requested, or another.
    pub fn canceller(&self) -> Option<&Uid> {
        match self.peek().ok()? {
            ErrorKind::Dialog(DialogError::CancelledAsRequested { error: Some(e) }) => {
                e.canceller()
            }
            _ => self.remote().and_then(RemoteError::canceller),
        }
    }

    /// Whether this is a cancellation (ours, or a `ContextCancelled` from
    /// a peer) rather than a failure.
    pub fn is_cancelled(&self) -> bool {
        let Ok(kind) = self.peek() else {
            return false;
        };
        match kind {
            ErrorKind::Cancelled | ErrorKind::Interrupted | ErrorKind::Terminated => true,
            ErrorKind::Dialog(DialogError::CancelledAsRequested { .. }) => true,
            ErrorKind::Group(errors) => errors.iter().all(Error::is_cancelled),
            _ => self
                .remote()
                .is_some_and(|e| e.kind() == RemoteErrorKind::ContextCancelled),
        }
    }

    /// The errors of a group, or this one error alone.
    pub fn errors(&self) -> Vec<Error> {
        match self.peek() {
            Ok(ErrorKind::Group(errors)) => errors.clone(),
            _ => vec![self.clone()],
        }
    }

    /// One error for several: itself if alone, else a group.
    pub(crate) fn group(mut errors: Vec<Error>) -> Option<Error> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(ErrorKind::Group(errors).into()),
        }
    }

    pub(crate) fn runtime(message: impl Into<String>) -> Self {
        ErrorKind::Runtime(message.into()).into()
    }

    /// How this error leaves a function served to another actor: a remote
    /// error is relayed (its source kept), anything else is boxed as raised
    /// here.
    pub(crate) fn to_task_error(&self) -> TaskError {
        match self.kind() {
            ErrorKind::Remote(e) | ErrorKind::Dialog(DialogError::Remote(e)) => {
                TaskError::Remote(e.clone())
            }
            ErrorKind::Dialog(DialogError::CancelledAsRequested { error: Some(e) }) => {
                TaskError::Remote(e.clone())
            }
            ErrorKind::Local(l) => TaskError::Local(l.clone()),
            ErrorKind::Cancelled => TaskError::Cancelled,
            other => {
                let type_name = match other {
                    ErrorKind::Group(_) => "ExceptionGroup",
                    ErrorKind::Interrupted => "KeyboardInterrupt",
                    // What a Python program's SIGTERM handler raises, by
                    // the usual idiom (`sys.exit(128 + signum)`).
                    ErrorKind::Terminated => "SystemExit",
                    ErrorKind::Io(_) => "OSError",
                    ErrorKind::Connect { .. } => "ConnectionError",
                    ErrorKind::Unauthenticated { .. } => "PermissionError",
                    ErrorKind::EndOfStream => "StopAsyncIteration",
                    ErrorKind::Lagged(_) => "Lagged",
                    ErrorKind::SupervisorFailed(_) => "SupervisorFailed",
                    ErrorKind::Closed => "ClosedResourceError",
                    // Python's name for a lost connection, whoever ended it.
                    ErrorKind::Dialog(
                        DialogError::TransportClosed { .. } | DialogError::PeerLost { .. },
                    ) => "TransportClosed",
                    _ => "RuntimeError",
                };
                TaskError::Local(LocalError::new(type_name, other.to_string()))
            }
        }
    }

    /// The actor an error came from, for errors that name one.
    pub fn source_actor(&self) -> Option<&Uid> {
        self.remote().map(RemoteError::src_uid)
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for Error {
    #[track_caller]
    fn from(e: E) -> Self {
        // Our own error types keep their meaning; anything else is boxed
        // under its type's name (its registered one, with its fields, for
        // a registered type).
        let any: Box<dyn Any + Send + Sync> = Box::new(e);
        let any = match any.downcast::<ErrorKind>() {
            Ok(kind) => return Error::new(*kind),
            Err(any) => any,
        };
        let any = match any.downcast::<RemoteError>() {
            Ok(e) => return ErrorKind::Remote(*e).into(),
            Err(any) => any,
        };
        let any = match any.downcast::<DialogError>() {
            Ok(e) => return ErrorKind::Dialog(*e).into(),
            Err(any) => any,
        };
        let any = match any.downcast::<UsageError>() {
            // Not a misuse: the peer is gone, as a dialog on the channel
            // would have learnt.
            Ok(e) => match *e {
                UsageError::PeerLost(lost) => return ErrorKind::Dialog(*lost).into(),
                e => return ErrorKind::Usage(e).into(),
            },
            Err(any) => any,
        };
        let any = match any.downcast::<LocalError>() {
            Ok(e) => return ErrorKind::Local(*e).into(),
            Err(any) => any,
        };
        let any = match any.downcast::<std::io::Error>() {
            Ok(e) => return ErrorKind::Io(*e).into(),
            Err(any) => any,
        };
        let e = any.downcast::<E>().expect("the value is an E");
        let message = e.to_string();
        let mut source = e.source();
        let mut message = message;
        while let Some(s) = source {
            message.push_str(&format!(": {s}"));
            source = s.source();
        }
        match error_types::name_of(&*e) {
            Some(name) => {
                let value: Arc<dyn Any + Send + Sync> = Arc::from(e as Box<dyn Any + Send + Sync>);
                Error::raise_typed(name.to_owned(), message, Some(value))
            }
            None => Error::raise(short_type_name::<E>(), message),
        }
    }
}

// Internal: the type is the crate's own, so the impl stays off the docs.
#[doc(hidden)]
impl From<PayloadErrorWrap> for Error {
    #[track_caller]
    fn from(e: PayloadErrorWrap) -> Self {
        Error::raise("TypeError", e.0)
    }
}

/// A payload that does not fit the expected type, or cannot be encoded.
pub(crate) struct PayloadErrorWrap(pub(crate) String);

impl From<PayloadError> for PayloadErrorWrap {
    fn from(e: PayloadError) -> Self {
        PayloadErrorWrap(e.to_string())
    }
}

impl From<PayloadEncodeError> for PayloadErrorWrap {
    fn from(e: PayloadEncodeError) -> Self {
        PayloadErrorWrap(e.to_string())
    }
}

/// Where an error was made: a source file and line (unknown if the file
/// is empty).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Place {
    file: String,
    line: u32,
}

/// The place of a location.
pub(crate) fn place(at: &std::panic::Location<'_>) -> Place {
    Place {
        file: at.file().to_owned(),
        line: at.line(),
    }
}

/// Python's header of a traceback.
const TRACEBACK_HEADER: &str = "Traceback (most recent call last):";

/// A traceback in Python's shape (spec/PROTOCOL.md §7.5), without the
/// closing `Type: message` line that the protocol adds when the error is
/// sent: the header, then one line per frame, outermost first,
///
/// ```text
/// Traceback (most recent call last):
///   File "./src/main.rs", line 31, in my_app::serve::{{closure}}
///   File "src/main.rs", line 12, in my_app::parse
///   (a note, if any)
/// ```
///
/// `frames` are the backtrace's application frames, innermost first
/// (none without a backtrace); `place`, where the error was made, is the
/// innermost line, named after the innermost frame when that frame is the
/// place itself (same line of the same file; a frame without line
/// information cannot tell), else without a function
/// name (`  File "src/main.rs", line 12`), as the place alone tells none.
/// Empty when nothing is known.
pub(crate) fn traceback(
    place: &Place,
    frames: &[crate::trace::Symbol],
    note: Option<&str>,
) -> String {
    let same = |s: &crate::trace::Symbol| {
        let file = s.file.as_deref().map(|f| f.trim_start_matches("./"));
        !place.file.is_empty()
            && s.line == Some(place.line)
            && file.is_some_and(|f| same_file(f, &place.file))
    };
    let (name, outer) = match frames.split_first() {
        Some((inner, outer)) if same(inner) => (Some(inner.name.as_str()), outer),
        _ => (None, frames),
    };
    let mut lines = Vec::with_capacity(outer.len() + 3);
    for s in outer.iter().rev() {
        lines.push(format!(
            "  File \"{}\", line {}, in {}",
            s.file.as_deref().unwrap_or("<unknown>"),
            s.line.unwrap_or(0),
            s.name
        ));
    }
    if !place.file.is_empty() {
        let mut line = format!("  File \"{}\", line {}", place.file, place.line);
        if let Some(name) = name {
            line.push_str(", in ");
            line.push_str(name);
        }
        lines.push(line);
    }
    if lines.is_empty() && note.is_none() {
        return String::new();
    }
    lines.extend(note.map(str::to_owned));
    format!("{TRACEBACK_HEADER}\n{}", lines.join("\n"))
}

/// Whether two paths name the same source file, one possibly relative to
/// a directory the other names (a backtrace's paths are relative to the
/// working directory, a location's to the workspace).
fn same_file(a: &str, b: &str) -> bool {
    let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    long == short || (long.ends_with(short) && long[..long.len() - short.len()].ends_with('/'))
}

/// The traceback of an error made at `place`, with the application's
/// frames of `trace` when backtraces are on (`Some`), or the hint that
/// turns them on.
///
/// In a served function whose cancellation has come, the backtrace is
/// not resolved, and a note says so: its failure goes to the caller at
/// once, within the reaper's deadlines, which the first resolution in a
/// process (reading the program's debug information) can outlast on a
/// loaded machine.
pub(crate) fn render_traceback(place: Place, trace: Option<crate::trace::Trace>) -> String {
    match trace {
        None => traceback(&place, &[], Some(BACKTRACE_HINT)),
        Some(_) if crate::task_record::in_cancelled_call() => {
            traceback(&place, &[], Some(CANCELLED_NO_BACKTRACE))
        }
        Some(trace) => traceback(&place, &trace.app_frames(), None),
    }
}

/// What a traceback says when backtraces are off.
pub(crate) const BACKTRACE_HINT: &str = "  (set RUST_BACKTRACE=1 for a backtrace)";

/// What a traceback says in place of the backtrace of a served
/// function's failure once its cancellation has come (see
/// [`render_traceback`]).
pub(crate) const CANCELLED_NO_BACKTRACE: &str =
    "  (no backtrace: the call was being cancelled, and its error goes out at once)";

/// `core::num::error::ParseIntError` → `ParseIntError`.
fn short_type_name<T: ?Sized>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.peek() {
            // The short form needs no traceback.
            Err(p) if !f.alternate() => return write!(f, "{}: {}", p.type_name, p.message),
            _ => self.kind(),
        };
        match kind {
            // A local error shows its backtrace only in the alternate form.
            ErrorKind::Local(l) if f.alternate() && !l.traceback.is_empty() => {
                write!(f, "{l}\n{}", l.traceback)
            }
            kind => fmt::Display::fmt(kind, f),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `main` returning `Err` prints Debug: show what people need.
        fmt::Display::fmt(self, f)
    }
}

/// An [`Error`] as a `std::error::Error`, for error types that take any
/// of those: `.map_err(StdError)?` turns a tractor result into an
/// `anyhow::Result` or a `Result<T, Box<dyn std::error::Error>>` (see
/// [`Error`]). It displays as the error it wraps.
#[derive(Debug)]
pub struct StdError(pub Error);

impl fmt::Display for StdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for StdError {}

impl From<Error> for Box<dyn std::error::Error + Send + Sync> {
    fn from(e: Error) -> Self {
        Box::new(StdError(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_errors_are_boxed_under_their_type_name() {
        let e: Error = "x".parse::<i32>().unwrap_err().into();
        match e.kind() {
            ErrorKind::Local(l) => {
                assert_eq!(l.type_name, "ParseIntError");
                assert_eq!(l.message, "invalid digit found in string");
                assert!(!l.traceback.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_traceback_names_where_the_error_was_made() {
        fn parse() -> Result<i32> {
            let n = "x".parse::<i32>()?;
            Ok(n)
        }
        let question_mark = line!() - 3;
        let e = parse().unwrap_err();
        let ErrorKind::Local(l) = e.kind() else {
            panic!("{e:?}")
        };
        // In any build profile, with or without a backtrace: the `?`
        // that converted the error, the innermost frame (this crate's own
        // frames, the library's, have no other).
        let at = format!("  File \"driver/src/error.rs\", line {question_mark}");
        assert!(
            l.traceback
                .starts_with(&format!("{TRACEBACK_HEADER}\n{at}")),
            "{}",
            l.traceback
        );
        if crate::trace::enabled() {
            // This crate's own frames are the library's, not shown.
            assert!(!l.traceback.contains("RUST_BACKTRACE=1"), "{}", l.traceback);
            assert!(!l.traceback.contains("tractor_driver::"), "{}", l.traceback);
        } else {
            assert!(l.traceback.contains("RUST_BACKTRACE=1"), "{}", l.traceback);
        }
    }

    fn traceback_of(e: &Error) -> &str {
        match e.kind() {
            ErrorKind::Local(l) => &l.traceback,
            other => panic!("a local error expected: {other:?}"),
        }
    }

    #[test]
    fn a_local_error_settles_its_traceback_once_when_first_needed() {
        let e = Error::raise("ValueError", "later");
        let at = format!("  File \"driver/src/error.rs\", line {}", line!() - 1);
        let copy = e.clone();
        // With backtraces on, its frames wait; what needs no traceback
        // is told without them.
        assert_eq!(e.unsettled(), crate::trace::enabled());
        assert_eq!(e.type_name(), Some("ValueError"));
        assert!(!e.is_cancelled());
        assert!(e.remote().is_none() && e.canceller().is_none());
        assert_eq!(e.errors().len(), 1);
        assert_eq!(e.to_string(), "ValueError: later");
        assert_eq!(e.unsettled(), crate::trace::enabled());
        // Settled once, for every clone.
        let tb = traceback_of(&copy);
        assert!(tb.lines().any(|l| l == at), "{tb}");
        assert!(!tb.contains(CANCELLED_NO_BACKTRACE), "{tb}");
        assert!(!e.unsettled());
        assert!(std::ptr::eq(e.kind(), copy.kind()));
        assert_eq!(format!("{e:#}"), format!("ValueError: later\n{tb}"));
    }

    #[test]
    fn settled_without_its_backtrace_an_error_keeps_its_place_and_says_why() {
        let e = Error::raise("AssertionError", "at once");
        let at = format!("  File \"driver/src/error.rs\", line {}", line!() - 1);
        e.settle_without_backtrace();
        assert!(!e.unsettled());
        let tb = traceback_of(&e);
        if crate::trace::enabled() {
            assert_eq!(
                tb,
                format!("{TRACEBACK_HEADER}\n{at}\n{CANCELLED_NO_BACKTRACE}")
            );
        } else {
            // Nothing was left to resolve: the hint, as ever.
            assert!(tb.contains("RUST_BACKTRACE=1"), "{tb}");
        }
    }

    #[test]
    fn settled_in_the_background_an_error_keeps_its_frames() {
        let e = Error::raise("KeyError", "'k'");
        let (tx, rx) = std::sync::mpsc::channel();
        e.settle(move || tx.send(()).expect("the test waits"));
        rx.recv_timeout(std::time::Duration::from_secs(60))
            .expect("settled");
        assert!(!e.unsettled());
        // Too late to drop the frames now.
        e.settle_without_backtrace();
        let tb = traceback_of(&e);
        assert!(!tb.contains(CANCELLED_NO_BACKTRACE), "{tb}");
        assert_eq!(
            tb.contains("RUST_BACKTRACE=1"),
            !crate::trace::enabled(),
            "{tb}"
        );
    }

    #[test]
    fn what_an_error_sends_reads_as_pythons_traceback() {
        let e = Error::raise("ValueError", "boom from rust");
        let line = line!() - 1;
        let sent = tractor_protocol::pack_error(
            &e.to_task_error(),
            &Uid::new("leaf", "leaf-uuid"),
            None,
            "",
        );
        // Nothing of this test's stack is the application's: the place
        // alone, and the hint when backtraces are off.
        let hint = match crate::trace::enabled() {
            true => String::new(),
            false => format!("{BACKTRACE_HINT}\n"),
        };
        assert_eq!(
            sent.tb_str,
            format!(
                "Traceback (most recent call last):\n  \
                 File \"driver/src/error.rs\", line {line}\n\
                 {hint}\
                 ValueError: boom from rust\n"
            )
        );
        assert_eq!(sent.message.as_deref(), Some("boom from rust"));
    }

    #[test]
    fn a_traceback_lists_frames_outermost_first_ending_where_the_error_was_made() {
        use crate::trace::Symbol;
        let frame = |name: &str, file: &str, line| Symbol {
            name: name.into(),
            file: Some(file.into()),
            line: Some(line),
            column: Some(5),
        };
        let at = Place {
            file: "src/main.rs".into(),
            line: 12,
        };
        // The innermost frame is the place: it names it.
        let frames = [
            frame("app::parse", "./src/main.rs", 12),
            frame("app::serve::{{closure}}", "./src/main.rs", 31),
            Symbol::named("app::glue"),
        ];
        assert_eq!(
            traceback(&at, &frames, None),
            "Traceback (most recent call last):\n  \
             File \"<unknown>\", line 0, in app::glue\n  \
             File \"./src/main.rs\", line 31, in app::serve::{{closure}}\n  \
             File \"src/main.rs\", line 12, in app::parse"
        );
        // It is not (the place is in a library's code it called): the
        // place comes after it, unnamed.
        let frames = [frame("app::parse", "/src/app/src/lib.rs", 3)];
        assert_eq!(
            traceback(&at, &frames, Some(BACKTRACE_HINT)),
            "Traceback (most recent call last):\n  \
             File \"/src/app/src/lib.rs\", line 3, in app::parse\n  \
             File \"src/main.rs\", line 12\n  \
             (set RUST_BACKTRACE=1 for a backtrace)"
        );
        assert_eq!(traceback(&Place::default(), &[], None), "");
        // A backtrace's path relative to the package, a location's to the
        // workspace: one file.
        assert!(same_file("tests/t.rs", "driver/tests/t.rs"));
        assert!(same_file("/w/driver/tests/t.rs", "driver/tests/t.rs"));
        assert!(!same_file("tests/t.rs", "driver/contests/t.rs"));
        assert!(!same_file("tests/t.rs", "tests/u.rs"));
    }

    #[test]
    fn our_own_errors_keep_their_kind() {
        let usage = UsageError::KwargsNotAMap(tractor_protocol::Kind::Nil);
        let e: Error = usage.clone().into();
        assert!(matches!(e.kind(), ErrorKind::Usage(u) if *u == usage));
        let io: Error = std::io::Error::other("disk").into();
        assert!(matches!(io.kind(), ErrorKind::Io(_)));
    }

    #[test]
    fn groups_list_every_error() {
        let g = Error::group(vec![
            Error::raise("ValueError", "one"),
            Error::raise("KeyError", "two"),
        ])
        .unwrap();
        assert_eq!(
            g.to_string(),
            "2 errors in the actor nursery:\n+-- 1 --\n| ValueError: one\n+-- 2 --\n| KeyError: two"
        );
        assert_eq!(g.errors().len(), 2);
        assert!(Error::group(Vec::new()).is_none());
        assert!(matches!(
            g.to_task_error(),
            TaskError::Local(l) if l.type_name == "ExceptionGroup"
        ));
    }
}
