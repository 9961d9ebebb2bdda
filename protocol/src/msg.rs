//! The message catalogue (spec/PROTOCOL.md §2).
//!
//! Every message is a msgpack map whose first key is `msg_type`, followed by
//! the fields below in the order they are declared here. Type and field
//! names are the wire names; Rust field names drop the leading underscore
//! of Python's private fields (`_runtime_vars` is `runtime_vars`).
//!
//! `Display` gives the one-line form logs and the debugger print: the type,
//! the `cid` cut to 8 characters, and a short preview of the payload.
//! Private (`_`-prefixed) fields and tracebacks are left out; `Debug` and
//! [`Msg::to_json`] show everything.

use std::fmt;

use serde::de::DeserializeOwned;

use crate::addr::Address;
use crate::error::PayloadError;
pub use crate::msg_type::MsgType;
use crate::raw::Raw;
use crate::text::{clean, short_id};
use crate::uid::Uid;

/// The value Python tractor always puts in [`Start::pld_spec`].
pub const DEFAULT_PLD_SPEC: &str = "typing.Any";

/// Actor identity, exchanged by both ends of every new connection (§2.1, §3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aid {
    /// The actor's name.
    pub name: String,
    /// The actor's uuid.
    pub uuid: String,
    /// The sender's OS process id.
    pub pid: Option<u32>,
    /// Whether the sender is a registrar. A non-registrar must send
    /// `Some(false)`: a registrar probe takes nil for "is a registrar".
    pub is_registrar: Option<bool>,
    /// Whether the connection only probes for a registrar.
    pub is_probe: bool,
    /// The version of credit-based flow control the sender speaks
    /// ([`Credit`]); sent under the extra key `credit_flow`, which Python
    /// ignores, and absent from Python's own `Aid`s.
    pub credit_flow: Option<u32>,
    /// A step of the handshake's authentication extension
    /// (spec/PROTOCOL.md §3.5): an `Aid` carrying it is an anonymous
    /// opening or proof, not an identity. Sent under the extra key
    /// `auth_nonce` or `auth_proof`, which Python ignores.
    pub auth: Option<AuthStep>,
}

/// One step of the handshake's authentication (spec/PROTOCOL.md §3.5),
/// carried by an otherwise anonymous `Aid`.
#[derive(Clone, PartialEq, Eq)]
pub enum AuthStep {
    /// The opening: the sender's fresh nonce (key `auth_nonce`, 64 hex
    /// digits).
    Hello {
        /// 32 bytes the sender never used before.
        nonce: [u8; 32],
    },
    /// The sender's proof that it holds the secret: an HMAC-SHA256 over
    /// its role and both nonces (key `auth_proof`, 64 hex digits).
    Proof {
        /// The MAC.
        mac: [u8; 32],
    },
}

impl fmt::Debug for AuthStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthStep::Hello { nonce } => write!(f, "Hello({})", hex(nonce)),
            AuthStep::Proof { mac } => write!(f, "Proof({})", hex(mac)),
        }
    }
}

/// Lowercase hex digits of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// The 32 bytes written as exactly 64 hex digits (either case).
pub(crate) fn unhex32(s: &str) -> Option<[u8; 32]> {
    let digits = s.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let val = |c: u8| char::from(c).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 32];
    for (i, pair) in digits.chunks_exact(2).enumerate() {
        out[i] = (val(pair[0])? << 4) | val(pair[1])?;
    }
    Some(out)
}

impl Aid {
    /// The actor's uid, `[name, uuid]`.
    pub fn uid(&self) -> Uid {
        Uid::new(self.name.clone(), self.uuid.clone())
    }
}

/// Boot configuration a parent sends its child right after the handshake on
/// the spawn connection (§2.2, §3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnSpec {
    /// `_parent_main_data`: Python `__main__` re-import hints (a map).
    pub parent_main_data: Raw,
    /// `_runtime_vars`: the tree's runtime variables (a map, §3.4).
    pub runtime_vars: Raw,
    /// Modules the child exposes to RPC: dotted name → source path, in wire
    /// order.
    pub enable_modules: Vec<(String, String)>,
    /// Registrar addresses.
    pub reg_addrs: Vec<Address>,
    /// Addresses the child must listen on; `None` lets it pick.
    pub bind_addrs: Option<Vec<Address>>,
}

impl SpawnSpec {
    /// Reads `_runtime_vars` as `T`.
    pub fn decode_runtime_vars<T: DeserializeOwned>(&self) -> Result<T, PayloadError> {
        self.runtime_vars
            .decode_in(Some(MsgType::SpawnSpec), None, "_runtime_vars")
    }
}

/// A request to run a function in the receiving actor (§2.3, §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// The new dialog's id, chosen by the requester.
    pub cid: String,
    /// Namespace of the target: a module path, or `"self"` for the runtime.
    pub ns: String,
    /// Function name within `ns`.
    pub func: String,
    /// Keyword arguments (a map).
    pub kwargs: Raw,
    /// The requester's uid; must be the uid of the connection's peer.
    pub uid: Uid,
    /// Informational payload spec; [`DEFAULT_PLD_SPEC`] unless set.
    pub pld_spec: String,
}

impl Start {
    /// A request with [`DEFAULT_PLD_SPEC`].
    pub fn new(
        cid: impl Into<String>,
        ns: impl Into<String>,
        func: impl Into<String>,
        kwargs: Raw,
        uid: Uid,
    ) -> Self {
        Start {
            cid: cid.into(),
            ns: ns.into(),
            func: func.into(),
            kwargs,
            uid,
            pld_spec: DEFAULT_PLD_SPEC.to_owned(),
        }
    }

    /// Reads `kwargs` as `T`, typically a struct with one field per argument.
    pub fn decode_kwargs<T: DeserializeOwned>(&self) -> Result<T, PayloadError> {
        self.kwargs
            .decode_in(Some(MsgType::Start), Some(&self.cid), "kwargs")
    }
}

/// The kind of endpoint a [`Start`] reached (§4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FuncType {
    /// A plain async function: one `Return` or `Error` follows.
    AsyncFunc,
    /// A legacy async generator: `Yield`s, then `Stop`.
    AsyncGen,
    /// A context: `Started`, an optional stream, then `Return` or `Error`.
    Context,
}

impl FuncType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            FuncType::AsyncFunc => "asyncfunc",
            FuncType::AsyncGen => "asyncgen",
            FuncType::Context => "context",
        }
    }

    /// The functype with this wire name.
    pub fn from_name(name: &str) -> Option<FuncType> {
        [FuncType::AsyncFunc, FuncType::AsyncGen, FuncType::Context]
            .into_iter()
            .find(|t| t.as_str() == name)
    }
}

impl fmt::Display for FuncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Acknowledges a [`Start`]: the endpoint exists and has begun (§2.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartAck {
    /// The dialog.
    pub cid: String,
    /// What kind of endpoint runs it.
    pub functype: FuncType,
}

macro_rules! payload_msg {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            /// The dialog.
            pub cid: String,
            /// The payload, decoded by the receiving dialog.
            pub pld: Raw,
        }

        impl $name {
            /// A message carrying an already encoded payload.
            pub fn new(cid: impl Into<String>, pld: Raw) -> Self {
                $name { cid: cid.into(), pld }
            }

            /// Reads the payload as `T`; the error names this message and
            /// its `cid`.
            pub fn decode_pld<T: DeserializeOwned>(&self) -> Result<T, PayloadError> {
                self.pld.decode_in(Some(MsgType::$name), Some(&self.cid), "pld")
            }
        }
    };
}

payload_msg! {
    /// The first value of a context, from `Context.started` (§2.5).
    Started
}
payload_msg! {
    /// One stream item (§2.5).
    Yield
}
payload_msg! {
    /// The final result of a remote task (§2.5).
    Return
}

/// End of a stream in one direction (§2.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    /// The dialog.
    pub cid: String,
}

/// Result of the runtime cancel endpoints `self.cancel` and
/// `self._cancel_task` (§2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelAck {
    /// The dialog of the cancel request.
    pub cid: String,
    /// Whether the cancel happened; Python always sends `true`.
    pub pld: bool,
}

/// A boxed remote error (§2.7, §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The actor where the error originated.
    pub src_uid: Uid,
    /// Type name of the original error.
    pub src_type_str: String,
    /// Type name of the error boxed at the last hop.
    pub boxed_type_str: String,
    /// Every actor that packed the error, oldest first, sender last.
    pub relay_path: Vec<Uid>,
    /// Human-readable message.
    pub message: Option<String>,
    /// Traceback or backtrace text of the sending hop.
    pub tb_str: String,
    /// `ContextCancelled` only: who asked for the cancel.
    pub canceller: Option<Uid>,
    /// `StreamOverrun` only: whose `Yield`s overran the receiver.
    pub sender: Option<Uid>,
    /// The dialog the error belongs to; `None` for runtime-level errors.
    pub cid: Option<String>,
    /// `_bad_msg`, `MsgTypeError` only: the offending message (a map).
    pub bad_msg: Option<Raw>,
    /// `_bad_msg_as_dict`, `MsgTypeError` only: the same as a plain map.
    pub bad_msg_as_dict: Option<Raw>,
    /// `error_fields`, our extension (spec/PROTOCOL.md §7.6): the fields of
    /// an error of a type registered by name, so that a receiver that
    /// registered it too can rebuild it. Written only when set; Python
    /// ignores it. Boxed: it is rare, and `Msg` stays small.
    pub fields: Option<Box<ErrorFields>>,
}

/// The fields of an error of a registered type (spec/PROTOCOL.md §7.6):
/// on the wire, the array `[type_name, value]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorFields {
    /// The name the type is registered under.
    pub type_name: String,
    /// Its fields, as its serde form.
    pub value: Raw,
}

/// Grants the receiver of a dialog's stream items more room: the peer may
/// send `n` more `Yield`s (an extension, only between actors whose `Aid`
/// announced `credit_flow`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    /// The dialog.
    pub cid: String,
    /// How many more items may be sent.
    pub n: u32,
}

/// Any message of the protocol.
///
/// The rare, large messages (`Aid`, `SpawnSpec`, `Start`, `Error`) are
/// boxed, so that a `Msg` is as small as the payload messages that make
/// most of the traffic (64 bytes) and moves cheaply. `From` boxes them:
/// `Msg::from(error)`, or `error.into()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// [`Aid`]
    Aid(Box<Aid>),
    /// [`SpawnSpec`]
    SpawnSpec(Box<SpawnSpec>),
    /// [`Start`]
    Start(Box<Start>),
    /// [`StartAck`]
    StartAck(StartAck),
    /// [`Started`]
    Started(Started),
    /// [`Yield`]
    Yield(Yield),
    /// [`Stop`]
    Stop(Stop),
    /// [`Return`]
    Return(Return),
    /// [`CancelAck`]
    CancelAck(CancelAck),
    /// [`Error`]
    Error(Box<Error>),
    /// [`Credit`]
    Credit(Credit),
}

impl Msg {
    /// The message's type.
    pub fn msg_type(&self) -> MsgType {
        match self {
            Msg::Aid(_) => MsgType::Aid,
            Msg::SpawnSpec(_) => MsgType::SpawnSpec,
            Msg::Start(_) => MsgType::Start,
            Msg::StartAck(_) => MsgType::StartAck,
            Msg::Started(_) => MsgType::Started,
            Msg::Yield(_) => MsgType::Yield,
            Msg::Stop(_) => MsgType::Stop,
            Msg::Return(_) => MsgType::Return,
            Msg::CancelAck(_) => MsgType::CancelAck,
            Msg::Error(_) => MsgType::Error,
            Msg::Credit(_) => MsgType::Credit,
        }
    }

    /// The dialog the message belongs to; `None` for connection-level
    /// messages and cid-less errors.
    pub fn cid(&self) -> Option<&str> {
        match self {
            Msg::Aid(_) | Msg::SpawnSpec(_) => None,
            Msg::Start(m) => Some(&m.cid),
            Msg::StartAck(m) => Some(&m.cid),
            Msg::Started(m) => Some(&m.cid),
            Msg::Yield(m) => Some(&m.cid),
            Msg::Stop(m) => Some(&m.cid),
            Msg::Return(m) => Some(&m.cid),
            Msg::CancelAck(m) => Some(&m.cid),
            Msg::Error(m) => m.cid.as_deref(),
            Msg::Credit(m) => Some(&m.cid),
        }
    }
}

macro_rules! from_variant {
    ($($name:ident),*) => {
        $(impl From<$name> for Msg {
            fn from(m: $name) -> Msg {
                Msg::$name(m)
            }
        })*
    };
}

macro_rules! from_boxed_variant {
    ($($name:ident),*) => {
        $(impl From<$name> for Msg {
            fn from(m: $name) -> Msg {
                Msg::$name(Box::new(m))
            }
        })*
    };
}

from_variant!(StartAck, Started, Yield, Stop, Return, CancelAck, Credit);
from_boxed_variant!(Aid, SpawnSpec, Start, Error);

// ---------------------------------------------------------------------------
// One-line forms.

impl fmt::Display for Aid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Aid {}[{}]", clean(&self.name), short_id(&self.uuid))?;
        if let Some(pid) = self.pid {
            write!(f, " pid={pid}")?;
        }
        match self.is_registrar {
            Some(true) => f.write_str(" registrar")?,
            Some(false) => {}
            None => f.write_str(" registrar=nil")?,
        }
        if self.is_probe {
            f.write_str(" probe")?;
        }
        if let Some(v) = self.credit_flow {
            write!(f, " credit_flow={v}")?;
        }
        match &self.auth {
            Some(AuthStep::Hello { .. }) => f.write_str(" auth=hello")?,
            Some(AuthStep::Proof { .. }) => f.write_str(" auth=proof")?,
            None => {}
        }
        Ok(())
    }
}

struct List<'a, T>(&'a [T]);

impl<T: fmt::Display> fmt::Display for List<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, item) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{item}")?;
        }
        f.write_str("]")
    }
}

impl fmt::Display for SpawnSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let modules: Vec<_> = self.enable_modules.iter().map(|(m, _)| clean(m)).collect();
        write!(
            f,
            "SpawnSpec modules={} reg_addrs={}",
            List(&modules),
            List(&self.reg_addrs)
        )?;
        if let Some(bind) = &self.bind_addrs {
            write!(f, " bind_addrs={}", List(bind))?;
        }
        Ok(())
    }
}

impl fmt::Display for Start {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Start cid={} {}:{} from {} kwargs={}",
            short_id(&self.cid),
            clean(&self.ns),
            clean(&self.func),
            self.uid,
            self.kwargs
        )?;
        if self.pld_spec != DEFAULT_PLD_SPEC {
            write!(f, " pld_spec={:?}", self.pld_spec)?;
        }
        Ok(())
    }
}

impl fmt::Display for StartAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StartAck cid={} {}", short_id(&self.cid), self.functype)
    }
}

macro_rules! display_payload_msg {
    ($($name:ident),*) => {
        $(impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), " cid={} pld={}"), short_id(&self.cid), self.pld)
            }
        })*
    };
}

display_payload_msg!(Started, Yield, Return);

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Stop cid={}", short_id(&self.cid))
    }
}

impl fmt::Display for CancelAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CancelAck cid={} pld={}", short_id(&self.cid), self.pld)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Error")?;
        if let Some(cid) = &self.cid {
            write!(f, " cid={}", short_id(cid))?;
        }
        write!(f, " {}", clean(&self.boxed_type_str))?;
        if self.src_type_str != self.boxed_type_str {
            write!(f, "({})", clean(&self.src_type_str))?;
        }
        write!(f, " from {} via {}", self.src_uid, List(&self.relay_path))?;
        if let Some(c) = &self.canceller {
            write!(f, " canceller={c}")?;
        }
        if let Some(s) = &self.sender {
            write!(f, " sender={s}")?;
        }
        if let Some(m) = &self.message {
            let first = m.lines().next().unwrap_or("");
            let mut cut: String = first.chars().take(72).collect();
            if cut.len() < m.len() {
                cut.push('…');
            }
            write!(f, ": {cut:?}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Credit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credit cid={} n={}", short_id(&self.cid), self.n)
    }
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::Aid(m) => m.fmt(f),
            Msg::SpawnSpec(m) => m.fmt(f),
            Msg::Start(m) => m.fmt(f),
            Msg::StartAck(m) => m.fmt(f),
            Msg::Started(m) => m.fmt(f),
            Msg::Yield(m) => m.fmt(f),
            Msg::Stop(m) => m.fmt(f),
            Msg::Return(m) => m.fmt(f),
            Msg::CancelAck(m) => m.fmt(f),
            Msg::Error(m) => m.fmt(f),
            Msg::Credit(m) => m.fmt(f),
        }
    }
}
