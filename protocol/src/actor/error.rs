//! Errors that cross actors: boxing a failure into an `Error` message and
//! unboxing a received one (spec/PROTOCOL.md §7).
//!
//! A task fails with a [`TaskError`]: either something it raised itself
//! ([`LocalError`], a type name, a message and a traceback), or a
//! [`RemoteError`] it received from another actor and lets propagate. Boxing
//! follows Python's `pack_error` exactly, so that a chain of relays looks the
//! same whichever implementation each hop runs:
//!
//! * a local error: `src_uid` = this actor, `src_type_str` = `boxed_type_str`
//!   = its type name;
//! * a remote error boxed once (its boxed type is not `RemoteActorError`):
//!   `src_uid` and `src_type_str` are kept, `boxed_type_str` becomes
//!   `RemoteActorError`;
//! * anything else (a remote error already relayed, a `ContextCancelled`, …):
//!   `src_uid` = this actor and both types = the boxed type name;
//!
//! and in every case this actor's uid is appended to `relay_path` and
//! `tb_str` is this hop's own traceback. A local error's `tb_str` closes,
//! as Python's does, with its `Type: message` line and a newline, so that
//! a Python peer, which reads only `tb_str`, shows the message; reading an
//! error, the message is recovered from there when `message` is empty, as
//! Python sends it (spec/PROTOCOL.md §7.5).

use std::fmt;

use crate::msg;
use crate::uid::Uid;

/// Boxed type name of a cancelled context.
pub const CONTEXT_CANCELLED: &str = "ContextCancelled";
/// Boxed type name of a relayed remote error.
pub const REMOTE_ACTOR_ERROR: &str = "RemoteActorError";
/// Boxed type name of an overrun stream.
pub const STREAM_OVERRUN: &str = "StreamOverrun";
/// Boxed type name of a payload that failed its type check.
pub const MSG_TYPE_ERROR: &str = "MsgTypeError";
/// Boxed type name of a call into a namespace the actor does not expose.
pub const MODULE_NOT_EXPOSED: &str = "ModuleNotExposed";
/// Boxed type name of a runtime request the peer may not make: a
/// `self.cancel` from a stranger, a registration of another actor's uid
/// (spec/PROTOCOL.md §3.5). Python's builtin of that name.
pub const PERMISSION_ERROR: &str = "PermissionError";

/// A failure raised in this actor.
///
/// `type_name` travels as `src_type_str`/`boxed_type_str`: prefer Python's
/// builtin names where they fit (`ValueError`, `RuntimeError`, `TypeError`,
/// `KeyError`, …) so that Python peers can resolve them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalError {
    /// The error's type name.
    pub type_name: String,
    /// What happened, for people.
    pub message: String,
    /// Where it happened: a backtrace or any text (sent as `tb_str`).
    pub traceback: String,
    /// The fields of an error of a registered type, sent with it
    /// (spec/PROTOCOL.md §7.6).
    pub fields: Option<Box<msg::ErrorFields>>,
}

impl LocalError {
    /// An error of type `type_name` with `message` and no traceback.
    pub fn new(type_name: impl Into<String>, message: impl Into<String>) -> Self {
        LocalError {
            type_name: type_name.into(),
            message: message.into(),
            traceback: String::new(),
            fields: None,
        }
    }

    /// The same error with the fields of its registered type.
    pub fn with_fields(mut self, fields: msg::ErrorFields) -> Self {
        self.fields = Some(Box::new(fields));
        self
    }

    /// The same error with a traceback.
    pub fn with_traceback(mut self, traceback: impl Into<String>) -> Self {
        self.traceback = traceback.into();
        self
    }
}

impl fmt::Display for LocalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.type_name, self.message)
    }
}

impl std::error::Error for LocalError {}

/// How a received error is meant to be handled, from its boxed type
/// (spec/PROTOCOL.md §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteErrorKind {
    /// The dialog was cancelled; [`RemoteError::canceller`] says by whom.
    ContextCancelled,
    /// A payload failed its type check.
    MsgTypeError,
    /// Any other failure, `RemoteActorError` in Python.
    RemoteActorError,
}

/// An error received from a peer: the `Error` message, unboxed.
///
/// Everything the message carried is kept, so relaying it further boxes it
/// exactly as Python would, and [`RemoteError::message`] gives back the
/// wire form.
///
/// `Display` shows the source actor, the relay path, the message and the
/// remote traceback:
///
/// ```text
/// RemoteActorError: remote task raised a 'ValueError'
///  |_src_uid=('leaf', '133b1141-…')
///  |_relay_uid=('mid', '5ad6f325-…')
///  |_boxed_type=RemoteActorError
///  |_message: remote task raised a 'ValueError'
///  +------ remote traceback (from 'mid') ------
///  | Traceback (most recent call last):
///  | …
///  +------
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteError {
    // Boxed: an `Error` message is large, and errors travel by value.
    msg: Box<msg::Error>,
    /// Where `tb_str` closes with the error's own `Type: message` text.
    closing: Option<Closing>,
}

/// The closing exception text of a traceback (spec/PROTOCOL.md §7.5), as
/// offsets into `tb_str`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Closing {
    /// Where its `Type: message` line starts.
    line: usize,
    /// Where the message starts.
    text: usize,
    /// Where the message ends.
    end: usize,
}

impl RemoteError {
    /// Unboxes a received message.
    pub fn from_message(msg: msg::Error) -> Self {
        let closing = closing(&msg.tb_str, [&msg.src_type_str, &msg.boxed_type_str]);
        RemoteError {
            msg: Box::new(msg),
            closing,
        }
    }

    /// The message as received.
    pub fn message(&self) -> &msg::Error {
        &self.msg
    }

    /// Gives back the message.
    pub fn into_message(self) -> msg::Error {
        *self.msg
    }

    /// How to treat the error.
    pub fn kind(&self) -> RemoteErrorKind {
        match self.msg.boxed_type_str.as_str() {
            CONTEXT_CANCELLED => RemoteErrorKind::ContextCancelled,
            MSG_TYPE_ERROR => RemoteErrorKind::MsgTypeError,
            _ => RemoteErrorKind::RemoteActorError,
        }
    }

    /// Type name of the error boxed at the last hop.
    pub fn boxed_type(&self) -> &str {
        &self.msg.boxed_type_str
    }

    /// Type name of the original error.
    pub fn src_type(&self) -> &str {
        &self.msg.src_type_str
    }

    /// The actor the error came from.
    pub fn src_uid(&self) -> &Uid {
        &self.msg.src_uid
    }

    /// Every actor that packed the error, oldest first.
    pub fn relay_path(&self) -> &[Uid] {
        &self.msg.relay_path
    }

    /// The last actor that packed the error: the one that sent it to us.
    pub fn relay_uid(&self) -> Option<&Uid> {
        self.msg.relay_path.last()
    }

    /// The traceback text of the last hop.
    pub fn tb_str(&self) -> &str {
        &self.msg.tb_str
    }

    /// The human message: the `message` the peer sent if not empty, else
    /// the one its traceback closes with (`Type: message`, the last
    /// traceback's last lines: what a Python peer sends, whose `message`
    /// is empty; spec/PROTOCOL.md §7.5); empty if neither says one.
    ///
    /// ```
    /// # use tractor_protocol::{RemoteError, Uid};
    /// # use tractor_protocol::Error as ErrorMsg;
    /// let uid = Uid::new("child", "0f5d-…");
    /// // An `Error` message as a Python peer sends it.
    /// let from_python = ErrorMsg {
    ///     src_uid: uid.clone(),
    ///     src_type_str: "ValueError".into(),
    ///     boxed_type_str: "ValueError".into(),
    ///     relay_path: vec![uid],
    ///     message: Some(String::new()),
    ///     tb_str: "Traceback (most recent call last):\n  File \"app.py\", line 3, in f\n    \
    ///              raise ValueError('no\\nway')\nValueError: no\nway\n"
    ///         .into(),
    ///     canceller: None,
    ///     sender: None,
    ///     cid: None,
    ///     bad_msg: None,
    ///     bad_msg_as_dict: None,
    ///     fields: None,
    /// };
    /// assert_eq!(RemoteError::from_message(from_python).text(), "no\nway");
    /// ```
    pub fn text(&self) -> &str {
        match (self.msg.message.as_deref(), self.closing) {
            (Some(m), _) if !m.is_empty() => m,
            (_, Some(c)) => &self.msg.tb_str[c.text..c.end],
            _ => "",
        }
    }

    /// `ContextCancelled` only: the actor that asked for the cancel.
    pub fn canceller(&self) -> Option<&Uid> {
        self.msg.canceller.as_ref()
    }

    /// The fields of an error of a registered type, if it came with them
    /// (spec/PROTOCOL.md §7.6).
    pub fn fields(&self) -> Option<&msg::ErrorFields> {
        self.msg.fields.as_deref()
    }

    /// `StreamOverrun` only: the actor whose items overran the receiver.
    pub fn sender(&self) -> Option<&Uid> {
        self.msg.sender.as_ref()
    }

    /// Whether the error was relayed by an actor other than its source
    /// (Python's `is_inception`).
    pub fn is_inception(&self) -> bool {
        self.msg.boxed_type_str != self.msg.src_type_str
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.msg;
        let kind = match self.kind() {
            RemoteErrorKind::ContextCancelled => CONTEXT_CANCELLED,
            RemoteErrorKind::MsgTypeError => MSG_TYPE_ERROR,
            RemoteErrorKind::RemoteActorError => REMOTE_ACTOR_ERROR,
        };
        write!(f, "{kind}: remote task raised a '{}'", m.src_type_str)?;
        write!(f, "\n |_src_uid={}", PyUid(&m.src_uid))?;
        if m.relay_path.len() > 1
            && let Some(relay) = m.relay_path.last()
        {
            write!(f, "\n |_relay_uid={}", PyUid(relay))?;
        }
        if m.boxed_type_str != m.src_type_str {
            write!(f, "\n |_boxed_type={}", m.boxed_type_str)?;
        }
        if let Some(c) = &m.canceller {
            write!(f, "\n |_canceller={}", PyUid(c))?;
        }
        if let Some(s) = &m.sender {
            write!(f, "\n |_sender={}", PyUid(s))?;
        }
        if let Some(cid) = &m.cid {
            write!(f, "\n |_cid={cid}")?;
        }
        let text = self.text().trim_end();
        if !text.is_empty() {
            write!(f, "\n |_message: {}", text.replace('\n', "\n |  "))?;
        }
        // A traceback that closes with the message shown above is shown
        // without it.
        let tb = match self.closing {
            Some(c) if m.tb_str[c.text..c.end].trim_end() == text => &m.tb_str[..c.line],
            _ => &m.tb_str,
        };
        let tb = tb.trim_end();
        if !tb.is_empty() {
            let from = m.relay_path.last().unwrap_or(&m.src_uid);
            write!(
                f,
                "\n +------ remote traceback (from '{}') ------",
                from.name
            )?;
            for line in tb.lines() {
                write!(f, "\n | {line}")?;
            }
            f.write_str("\n +------")?;
        }
        Ok(())
    }
}

impl std::error::Error for RemoteError {}

/// Python's header of a traceback.
pub(crate) const TRACEBACK_HEADER: &str = "Traceback (most recent call last):";

/// Where the traceback `tb` closes with its error's text: after the last
/// header line (`Traceback (most recent call last):` at the start of a
/// line, or from the start if none) and the indented frame lines below
/// it, a line `Type: message` (or `Type` alone, for an empty message)
/// whose `Type` is one of `type_names`, possibly qualified by a dotted
/// module path (`pkg.mod.Type`). The message runs from there to the end,
/// over as many lines as it has, without trailing blank lines and without
/// the notes Python tractor adds below it (lines `( ^^^ … ^^^ )`).
fn closing(tb: &str, type_names: [&str; 2]) -> Option<Closing> {
    let mut start = 0;
    let mut offset = 0;
    for line in tb.split_inclusive('\n') {
        offset += line.len();
        if line.trim_end() == TRACEBACK_HEADER {
            start = offset;
        }
    }
    let mut at = start;
    for line in tb[start..].split_inclusive('\n') {
        if !line.starts_with([' ', '\t']) {
            break;
        }
        at += line.len();
    }
    let first = tb[at..].lines().next()?;
    let (qualified, text) = match first.split_once(": ") {
        Some((q, _)) => (q, at + q.len() + 2),
        None => (first.trim_end(), at + first.len()),
    };
    let is_path = !qualified.is_empty()
        && qualified
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.');
    let name = qualified.rsplit('.').next().unwrap_or(qualified);
    if !is_path || !type_names.contains(&name) {
        return None;
    }
    let mut message = if first.contains(": ") {
        &tb[text..]
    } else {
        ""
    };
    loop {
        message = message.trim_end();
        match message.rsplit_once('\n') {
            Some((before, last)) if is_note(last) => message = before,
            _ => break,
        }
    }
    Some(Closing {
        line: at,
        text,
        end: text + message.len(),
    })
}

/// A note Python tractor prints below an error's message, such as
/// `( ^^^ this exc was collapsed from a group ^^^ )`.
fn is_note(line: &str) -> bool {
    let line = line.trim();
    line.starts_with("( ^^^") && line.ends_with("^^^ )")
}

/// The `tb_str` of an error of type `type_name` raised here, with the
/// traceback `traceback` (its frames, possibly empty): as Python's, the
/// frames, then the closing line `Type: message` (`Type` alone for an
/// empty message), ending with a newline (spec/PROTOCOL.md §7.5).
pub(crate) fn closed_traceback(traceback: &str, type_name: &str, message: &str) -> String {
    let frames = traceback.trim_end();
    let mut out = String::with_capacity(frames.len() + type_name.len() + message.len() + 4);
    if !frames.is_empty() {
        out.push_str(frames);
        out.push('\n');
    }
    out.push_str(type_name);
    if !message.is_empty() {
        out.push_str(": ");
        out.push_str(message);
    }
    out.push('\n');
    out
}

/// A uid the way Python prints a tuple: `('name', 'uuid')`.
struct PyUid<'a>(&'a Uid);

impl fmt::Display for PyUid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "('{}', '{}')",
            self.0.name.escape_debug(),
            self.0.uuid.escape_debug()
        )
    }
}

/// Why a task failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskError {
    /// It raised an error of its own.
    Local(LocalError),
    /// An error received from another actor propagated out of it.
    Remote(RemoteError),
    /// It stopped because it was cancelled. The core turns this into the
    /// right answer for the caller: a `ContextCancelled` naming the
    /// canceller, or the caller's own error if it sent one.
    Cancelled,
}

impl From<LocalError> for TaskError {
    fn from(e: LocalError) -> Self {
        TaskError::Local(e)
    }
}

impl From<RemoteError> for TaskError {
    fn from(e: RemoteError) -> Self {
        TaskError::Remote(e)
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Local(e) => e.fmt(f),
            TaskError::Remote(e) => e.fmt(f),
            TaskError::Cancelled => f.write_str("cancelled"),
        }
    }
}

impl std::error::Error for TaskError {}

/// Boxes `err`, raised in actor `me`, for the dialog `cid` (nil for a
/// runtime-level failure), per spec/PROTOCOL.md §7.1.
///
/// `traceback` is this hop's own traceback; for a local error it is the
/// error's own.
pub fn pack_error(err: &TaskError, me: &Uid, cid: Option<&str>, traceback: &str) -> msg::Error {
    match err {
        TaskError::Cancelled => cancelled(me, me, cid),
        TaskError::Local(e) => msg::Error {
            fields: e.fields.clone(),
            src_uid: me.clone(),
            src_type_str: e.type_name.clone(),
            boxed_type_str: e.type_name.clone(),
            relay_path: vec![me.clone()],
            message: Some(e.message.clone()),
            tb_str: closed_traceback(
                if traceback.is_empty() {
                    &e.traceback
                } else {
                    traceback
                },
                &e.type_name,
                &e.message,
            ),
            canceller: None,
            sender: None,
            cid: cid.map(str::to_owned),
            bad_msg: None,
            bad_msg_as_dict: None,
        },
        TaskError::Remote(e) => {
            let prev = e.message();
            let once_boxed = prev.boxed_type_str != REMOTE_ACTOR_ERROR
                && prev.boxed_type_str != CONTEXT_CANCELLED
                && prev.boxed_type_str != MSG_TYPE_ERROR;
            let (src_uid, src_type_str, boxed_type_str, message) = if once_boxed {
                (
                    prev.src_uid.clone(),
                    prev.src_type_str.clone(),
                    REMOTE_ACTOR_ERROR.to_owned(),
                    format!("remote task raised a '{}'\n", prev.src_type_str),
                )
            } else {
                // Python packs such errors under their own class: a relayed
                // `ContextCancelled` stays one, an already relayed
                // `RemoteActorError` restarts the chain here.
                (
                    me.clone(),
                    prev.boxed_type_str.clone(),
                    prev.boxed_type_str.clone(),
                    prev.message.clone().unwrap_or_default(),
                )
            };
            let mut relay_path = prev.relay_path.clone();
            relay_path.push(me.clone());
            msg::Error {
                src_uid,
                src_type_str,
                boxed_type_str,
                relay_path,
                message: Some(message),
                // As in Python, the relay's traceback ends with the error it
                // relays, shown in full: the origin's message and traceback
                // survive every hop.
                tb_str: if traceback.is_empty() {
                    format!("{e}\n")
                } else {
                    format!("{}\n{e}\n", traceback.trim_end())
                },
                canceller: prev.canceller.clone(),
                sender: prev.sender.clone(),
                cid: cid.map(str::to_owned),
                bad_msg: prev.bad_msg.clone(),
                bad_msg_as_dict: prev.bad_msg_as_dict.clone(),
                // A registered type's fields travel with it, whoever
                // relays it.
                fields: prev.fields.clone(),
            }
        }
    }
}

/// The `ContextCancelled` a callee `me` sends when its task for `cid` was
/// cancelled at `canceller`'s request (itself, for a self-cancel).
pub(crate) fn cancelled(me: &Uid, canceller: &Uid, cid: Option<&str>) -> msg::Error {
    let message = if canceller == me {
        format!("'{}'-side task cancelled itself", me.name)
    } else {
        format!(
            "'{}'-side task was cancelled by its '{}'-side peer\n<= canceller: {}\n=> cancellee: {}",
            me.name,
            canceller.name,
            PyUid(canceller),
            PyUid(me)
        )
    };
    msg::Error {
        src_uid: me.clone(),
        src_type_str: CONTEXT_CANCELLED.to_owned(),
        boxed_type_str: CONTEXT_CANCELLED.to_owned(),
        relay_path: vec![me.clone()],
        tb_str: format!("{CONTEXT_CANCELLED}: {message}\n"),
        message: Some(message),
        canceller: Some(canceller.clone()),
        sender: None,
        cid: cid.map(str::to_owned),
        bad_msg: None,
        bad_msg_as_dict: None,
        fields: None,
    }
}

/// The `StreamOverrun` a receiver `me` sends when `sender`'s items for
/// `cid` overflowed its buffer of `capacity`.
pub(crate) fn overrun(me: &Uid, sender: &Uid, cid: &str, capacity: usize) -> msg::Error {
    let message = format!(
        "on IPC context:\n<= sender: {}\n=> overrun: {}\n  |_cid: {cid}\n  |_buffer: {capacity} messages\n",
        PyUid(sender),
        PyUid(me)
    );
    msg::Error {
        src_uid: me.clone(),
        src_type_str: STREAM_OVERRUN.to_owned(),
        boxed_type_str: STREAM_OVERRUN.to_owned(),
        relay_path: vec![me.clone()],
        tb_str: format!("{STREAM_OVERRUN}: {message}"),
        message: Some(message),
        canceller: None,
        sender: Some(sender.clone()),
        cid: Some(cid.to_owned()),
        bad_msg: None,
        bad_msg_as_dict: None,
        fields: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uid(n: &str) -> Uid {
        Uid::new(n, format!("{n}-uuid"))
    }

    #[test]
    fn relays_follow_pack_error() {
        let leaf = pack_error(
            &LocalError::new("ValueError", "leaf failure").into(),
            &uid("leaf"),
            Some("c1"),
            "leaf tb",
        );
        assert_eq!(
            (leaf.src_type_str.as_str(), leaf.boxed_type_str.as_str()),
            ("ValueError", "ValueError")
        );
        assert_eq!(leaf.relay_path, [uid("leaf")]);
        assert_eq!(leaf.tb_str, "leaf tb\nValueError: leaf failure\n");

        // One relay keeps the source and boxes as RemoteActorError.
        let mid = pack_error(
            &RemoteError::from_message(leaf).into(),
            &uid("mid"),
            Some("c2"),
            "mid tb",
        );
        assert_eq!(mid.src_uid, uid("leaf"));
        assert_eq!(
            (mid.src_type_str.as_str(), mid.boxed_type_str.as_str()),
            ("ValueError", "RemoteActorError")
        );
        assert_eq!(mid.relay_path, [uid("leaf"), uid("mid")]);
        assert_eq!(
            mid.message.as_deref(),
            Some("remote task raised a 'ValueError'\n")
        );
        assert_eq!(mid.cid.as_deref(), Some("c2"));
        // The relay's traceback, then the relayed error in full.
        assert!(
            mid.tb_str
                .starts_with("mid tb\nRemoteActorError: remote task raised a 'ValueError'")
        );
        assert!(
            mid.tb_str.contains("|_message: leaf failure"),
            "{}",
            mid.tb_str
        );
        assert!(mid.tb_str.contains("| leaf tb"), "{}", mid.tb_str);

        // A second relay restarts the chain at the relaying actor.
        let root = pack_error(
            &RemoteError::from_message(mid).into(),
            &uid("root"),
            None,
            "",
        );
        assert_eq!(root.src_uid, uid("root"));
        assert_eq!(
            (root.src_type_str.as_str(), root.boxed_type_str.as_str()),
            ("RemoteActorError", "RemoteActorError")
        );
        assert_eq!(root.relay_path, [uid("leaf"), uid("mid"), uid("root")]);
        assert_eq!(root.cid, None);
    }

    #[test]
    fn display_names_source_relay_and_traceback() {
        let leaf = pack_error(
            &LocalError::new("ValueError", "leaf failure").into(),
            &uid("leaf"),
            None,
            "Traceback:\n  leaf.rs:1",
        );
        let mid = pack_error(
            &RemoteError::from_message(leaf).into(),
            &uid("mid"),
            None,
            "mid tb",
        );
        let text = RemoteError::from_message(mid).to_string();
        assert!(
            text.starts_with("RemoteActorError: remote task raised a 'ValueError'"),
            "{text}"
        );
        assert!(text.contains("src_uid=('leaf', 'leaf-uuid')"), "{text}");
        assert!(text.contains("relay_uid=('mid', 'mid-uuid')"), "{text}");
        assert!(text.contains("remote traceback (from 'mid')"), "{text}");
        assert!(text.contains(" | mid tb"), "{text}");
    }
}
