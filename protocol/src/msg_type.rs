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

    /// The extensions: message types only our own actors send, each only
    /// to a peer that said it speaks it.
    pub const EXTENSIONS: [MsgType; 1] = [MsgType::Credit];

    /// Every message type: [`MsgType::PYTHON`]'s, then the
    /// [`MsgType::EXTENSIONS`].
    pub const ALL: [MsgType; MsgType::PYTHON.len() + MsgType::EXTENSIONS.len()] = {
        let mut all = [MsgType::Aid; MsgType::PYTHON.len() + MsgType::EXTENSIONS.len()];
        let mut i = 0;
        while i < MsgType::PYTHON.len() {
            all[i] = MsgType::PYTHON[i];
            i += 1;
        }
        let mut j = 0;
        while j < MsgType::EXTENSIONS.len() {
            all[i + j] = MsgType::EXTENSIONS[j];
            j += 1;
        }
        all
    };

    /// Whether Python tractor knows this type; an extension is only ever
    /// sent to a peer that said it speaks it.
    pub fn is_extension(self) -> bool {
        MsgType::EXTENSIONS.contains(&self)
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

#[cfg(test)]
mod tests {
    use super::MsgType;

    #[test]
    fn every_type_is_listed_once_and_found_by_its_name() {
        for (i, t) in MsgType::ALL.into_iter().enumerate() {
            assert_eq!(MsgType::from_name(t.as_str()), Some(t));
            assert!(!MsgType::ALL[..i].contains(&t), "{t} listed twice");
            assert_eq!(t.is_extension(), !MsgType::PYTHON.contains(&t));
        }
        assert_eq!(MsgType::ALL.last(), Some(&MsgType::Credit));
    }
}
