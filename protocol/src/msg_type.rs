//! The message types of the wire protocol by name (spec/PROTOCOL.md §2):
//! a leaf that the messages, their payloads and their errors all name.

use std::fmt;

/// The type of a message: the value of its `msg_type` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MsgType {
    /// [`Aid`](crate::Aid)
    Aid,
    /// [`SpawnSpec`](crate::SpawnSpec)
    SpawnSpec,
    /// [`Start`](crate::Start)
    Start,
    /// [`StartAck`](crate::StartAck)
    StartAck,
    /// [`Started`](crate::Started)
    Started,
    /// [`Yield`](crate::Yield)
    Yield,
    /// [`Stop`](crate::Stop)
    Stop,
    /// [`Return`](crate::Return)
    Return,
    /// [`CancelAck`](crate::CancelAck)
    CancelAck,
    /// [`Error`](crate::Error)
    Error,
    /// [`Credit`](crate::Credit), an extension only sent between our own actors.
    Credit,
}

impl MsgType {
    /// Every message type of Python tractor's catalogue, in its order.
    pub const PYTHON: [MsgType; 10] = [
        MsgType::Aid,
        MsgType::SpawnSpec,
        MsgType::Start,
        MsgType::StartAck,
        MsgType::Started,
        MsgType::Yield,
        MsgType::Stop,
        MsgType::Return,
        MsgType::CancelAck,
        MsgType::Error,
    ];

    /// Every message type, extensions last.
    pub const ALL: [MsgType; 11] = [
        MsgType::Aid,
        MsgType::SpawnSpec,
        MsgType::Start,
        MsgType::StartAck,
        MsgType::Started,
        MsgType::Yield,
        MsgType::Stop,
        MsgType::Return,
        MsgType::CancelAck,
        MsgType::Error,
        MsgType::Credit,
    ];

    /// Whether Python tractor knows this type; an extension is only ever
    /// sent to a peer that said it speaks it.
    pub fn is_extension(self) -> bool {
        self == MsgType::Credit
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MsgType::Aid => "Aid",
            MsgType::SpawnSpec => "SpawnSpec",
            MsgType::Start => "Start",
            MsgType::StartAck => "StartAck",
            MsgType::Started => "Started",
            MsgType::Yield => "Yield",
            MsgType::Stop => "Stop",
            MsgType::Return => "Return",
            MsgType::CancelAck => "CancelAck",
            MsgType::Error => "Error",
            MsgType::Credit => "Credit",
        }
    }

    /// The type with this wire name.
    pub fn from_name(name: &str) -> Option<MsgType> {
        MsgType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for MsgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
