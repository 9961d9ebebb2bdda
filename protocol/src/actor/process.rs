//! What the core knows of a process: how it ended ([`ExitStatus`]) and
//! which signal to send it ([`Signal`]). Plain values, named by the outputs,
//! the channels and the dialogs alike; deciding when to signal a child and
//! what its exit means is the supervisor's (`supervise.rs`).

/// How a process ended.
///
/// `Display` says it in words: `exit code 101`, `killed by SIGKILL`
/// (`killed by signal 7` for a signal whose number differs between
/// systems), or `an unknown exit status`.
///
/// ```
/// # use tractor_protocol::ExitStatus;
/// let killed = ExitStatus { code: None, signal: Some(9) };
/// assert_eq!(killed.to_string(), "killed by SIGKILL");
/// let failed = ExitStatus { code: Some(101), signal: None };
/// assert_eq!(failed.to_string(), "exit code 101");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    /// The exit code, if it exited.
    pub code: Option<i32>,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
}

impl ExitStatus {
    /// Whether the process exited by itself with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "exit code {code}"),
            (None, Some(n)) => match signal_name(n) {
                Some(name) => write!(f, "killed by {name}"),
                None => write!(f, "killed by signal {n}"),
            },
            (None, None) => f.write_str("an unknown exit status"),
        }
    }
}

/// The name of a signal whose number is the same on every Unix (POSIX's
/// historical numbering); `None` for the others, which vary by system.
fn signal_name(n: i32) -> Option<&'static str> {
    Some(match n {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => return None,
    })
}

/// A signal for the driver to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM: please stop now.
    Terminate,
    /// SIGKILL: the last resort.
    Kill,
}
