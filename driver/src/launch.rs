//! Children started through a launcher: a command that runs the child's
//! command line elsewhere (`ssh host`, `srun -N1 -w node7`, `kubectl exec
//! -i pod --`, `ip netns exec B`).
//!
//! Give a child one with [`ActorOptions::launcher`](crate::ActorOptions::launcher):
//! [`CommandPrefix`] for a command that takes the child's command line
//! after its own arguments, or your own [`Launcher`]. From then on the
//! child is an ordinary child: supervised, cancelled and reaped as any
//! other. What changes:
//!
//! * **Settings.** What a child reads from its environment (the tree's
//!   secret, its limits and grace, its log level, the adapter, the
//!   variables given with [`ActorOptions::env`](crate::ActorOptions::env):
//!   every variable whose name starts with `TRACTOR_`, plus
//!   `RUST_BACKTRACE` and `RUST_LIB_BACKTRACE`) does not cross `ssh`,
//!   `srun` or `kubectl`. The parent writes them on the child's standard
//!   input as a bootstrap block (spec/PROTOCOL.md §3.2.1) and adds
//!   `--bootstrap-stdin` to its command line; never the secret itself.
//!   The child reads the block first thing (at its entry point, or
//!   earlier, in [`bootstrap`]) and runs again (`exec`, same process) with
//!   those variables in its environment, so everything in it, the
//!   program's own `main` included, sees them as if they had been
//!   inherited.
//! * **Connect-back address.** The child connects to its parent's
//!   address as reachable from its host: [`Launcher::parent_addr`], by
//!   default the parent's first accept address. It must be a TCP address
//!   (a Unix socket cannot cross hosts): otherwise starting the child fails
//!   with [`LaunchError::NotTcp`]. The child listens where
//!   [`ActorOptions::bind_addrs`](crate::ActorOptions::bind_addrs) says,
//!   on its own host.
//! * **Reaping.** The parent's handle is the launcher's local process
//!   (`ssh`, `srun`, …): cancel, SIGTERM and SIGKILL go to it, with the
//!   usual reaping timeouts. Remotely, what is guaranteed is that the
//!   child cancels itself when its connection to the parent ends or when
//!   its standard input ends (the parent keeps the pipe open for the
//!   child's whole life: a killed local `ssh` closes it remotely), as a
//!   child does that loses its parent. Whatever the launcher does with the
//!   remote process after that (`ssh` without a terminal leaves it to end
//!   by itself) is the launcher's.
//! * **No terminal.** A launched child's standard input is the bootstrap
//!   pipe, which it sets aside for `/dev/null`: a debugger REPL
//!   ([`pause()`](crate::pause()), a crash in debug mode) in it prints its
//!   banner and continues at once, as at end of input.
//!
//! * **A shell on the far side.** `ssh` joins its arguments with spaces
//!   and hands them to a shell on the remote host, which splits them
//!   again; a child's command line (`--uid ('name', 'uuid')`, Python's
//!   form) does not survive that unquoted. [`CommandPrefix`] quotes each
//!   word of it for a POSIX shell when its program is `ssh`, and when told
//!   to ([`CommandPrefix::shell_quoted`]); launchers that pass their
//!   arguments on as they are (`srun`, `kubectl exec`, `ip netns exec`)
//!   get them unquoted.
//!
//! Only a Rust child can be launched (a Python child reads no bootstrap
//! block). Traffic between hosts is encrypted and mutually authenticated
//! when the tree has TLS ([`TlsConfig`](crate::TlsConfig)); with only a
//! secret, it is authenticated but travels in clear.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::io::{self, BufRead, Read, Write};
use std::process::Command;

use tractor_protocol::{
    Address, BootstrapError, BootstrapReader, BootstrapVar, ChildArgs, encode_bootstrap,
};

/// Runs a child's command line through a launcher.
///
/// ```
/// use std::process::Command;
/// # use tractor_driver::Launcher;
///
/// /// Runs the child under `nice`.
/// #[derive(Debug)]
/// struct Nice;
///
/// impl Launcher for Nice {
///     fn launch(&self, child: Command) -> std::io::Result<Command> {
///         let mut c = Command::new("nice");
///         c.arg(child.get_program()).args(child.get_args());
///         for (k, v) in child.get_envs() {
///             match v {
///                 Some(v) => c.env(k, v),
///                 None => c.env_remove(k),
///             };
///         }
///         Ok(c)
///     }
/// }
/// ```
pub trait Launcher: fmt::Debug + Send + Sync + 'static {
    /// The command actually run for the child whose command `child` is,
    /// as the driver builds it (program, arguments, environment). Its
    /// standard input is the driver's to give (the bootstrap pipe).
    fn launch(&self, child: Command) -> io::Result<Command>;

    /// The parent's address as the child's host reaches it; `None`: the
    /// parent's first accept address.
    fn parent_addr(&self) -> Option<Address> {
        None
    }
}

/// A launcher that runs `prefix… program args…`: `["ssh", "host"]`,
/// `["srun", "-N1", "-w", "node7"]`, `["kubectl", "exec", "-i", "pod",
/// "--"]`, `["ip", "netns", "exec", "B"]`.
///
/// ```
/// # use tractor_driver::{ActorOptions, Address, CommandPrefix};
///
/// let options = ActorOptions::new().launcher(
///     CommandPrefix::new(["ssh", "node7"]).parent_addr(Address::tcp("10.0.0.1", 40123)),
/// );
/// # let _ = options;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandPrefix {
    prefix: Vec<OsString>,
    parent_addr: Option<Address>,
    /// Whether the child's words are quoted for a shell; `None`: when the
    /// prefix's program is `ssh`.
    quote: Option<bool>,
}

impl CommandPrefix {
    /// Runs the child's command line after these words. An empty prefix
    /// runs it as it is.
    pub fn new<I, S>(prefix: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Self {
            prefix: prefix.into_iter().map(Into::into).collect(),
            parent_addr: None,
            quote: None,
        }
    }

    /// Whether each word of the child's command line is quoted for a
    /// POSIX shell, as a launcher that hands its arguments to a shell on
    /// the other side needs (`ssh` does: the default when the prefix's
    /// program is named `ssh`; everything else gets the words as they
    /// are unless this says otherwise).
    ///
    /// ```
    /// # use tractor_driver::CommandPrefix;
    /// // A wrapper script around ssh: its words go through a shell too.
    /// let prefix = CommandPrefix::new(["./to-node", "node7"]).shell_quoted(true);
    /// # let _ = prefix;
    /// ```
    pub fn shell_quoted(mut self, on: bool) -> Self {
        self.quote = Some(on);
        self
    }

    /// The child connects back to `addr` (its host's way to reach the
    /// parent) instead of the parent's first accept address.
    pub fn parent_addr(mut self, addr: Address) -> Self {
        self.parent_addr = Some(addr);
        self
    }
}

/// `word` as a POSIX shell reads it back: as it is when it holds only
/// characters no shell treats specially, else in single quotes (a single
/// quote inside as `'\''`).
fn shell_quote(word: &std::ffi::OsStr) -> OsString {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let bytes = word.as_bytes();
    let plain = |b: &u8| b.is_ascii_alphanumeric() || b"_-./=:@%+,".contains(b);
    if !bytes.is_empty() && bytes.iter().all(plain) {
        return word.to_owned();
    }
    let mut out = Vec::with_capacity(bytes.len() + 2);
    out.push(b'\'');
    for &b in bytes {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    OsString::from_vec(out)
}

/// [`CommandPrefix::new`].
pub fn prefix<I, S>(words: I) -> CommandPrefix
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    CommandPrefix::new(words)
}

impl Launcher for CommandPrefix {
    fn launch(&self, child: Command) -> io::Result<Command> {
        let Some((first, rest)) = self.prefix.split_first() else {
            return Ok(child);
        };
        let quote = self.quote.unwrap_or_else(|| {
            std::path::Path::new(first)
                .file_name()
                .is_some_and(|n| n == "ssh")
        });
        let mut c = Command::new(first);
        c.args(rest);
        let words = std::iter::once(child.get_program()).chain(child.get_args());
        if quote {
            c.args(words.map(shell_quote));
        } else {
            c.args(words);
        }
        for (k, v) in child.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        if let Some(dir) = child.get_current_dir() {
            c.current_dir(dir);
        }
        Ok(c)
    }

    fn parent_addr(&self) -> Option<Address> {
        self.parent_addr.clone()
    }
}

/// Why a child could not be launched, or a launched child could not read
/// its settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LaunchError {
    /// The address the child would connect back to is not a TCP address.
    #[error(
        "a launched child connects back over TCP, but the parent's address is {addr} \
         (listen on TCP, or give the launcher a parent_addr)"
    )]
    NotTcp {
        /// The address.
        addr: String,
    },
    /// The parent has no address to connect back to.
    #[error("a launched child needs its parent to listen on a TCP address")]
    NoAddress,
    /// A Python child reads no bootstrap block.
    #[error("a Python child cannot be launched: it reads no bootstrap block")]
    Python,
    /// The bootstrap block could not be written or read.
    #[error("bootstrap block: {0}")]
    Bootstrap(#[from] BootstrapError),
    /// Reading the block, or running again with it, failed.
    #[error("bootstrap: {0}")]
    Io(String),
}

/// Checks that a child can be launched to connect back to `addr`.
pub(crate) fn check(addr: Option<&Address>, python: bool) -> Result<(), LaunchError> {
    if python {
        return Err(LaunchError::Python);
    }
    match addr {
        None => Err(LaunchError::NoAddress),
        Some(Address::Tcp { .. }) => Ok(()),
        Some(other) => Err(LaunchError::NotTcp {
            addr: other.to_string(),
        }),
    }
}

/// The variable that tells a launched child, once it runs again with its
/// bootstrap block applied, that its standard input is the parent's pipe:
/// its uuid, so that a value inherited by another child means nothing.
pub(crate) const LAUNCHED_ENV: &str = "TRACTOR_LAUNCHED";

/// Whether a variable of this process's environment goes in a bootstrap
/// block.
fn crosses(key: &str) -> bool {
    key.starts_with("TRACTOR_") || key == "RUST_BACKTRACE" || key == "RUST_LIB_BACKTRACE"
}

/// The variables of a launched child's bootstrap block: those of this
/// process that [`crosses`] says go, then every one `child` sets or
/// removes, except `skip`.
fn bootstrap_vars(child: &Command, skip: &[&str]) -> Vec<BootstrapVar> {
    let mut vars: BTreeMap<String, Option<String>> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| crosses(k))
        .map(|(k, v)| (k, Some(v)))
        .collect();
    for (k, v) in child.get_envs() {
        let Some(k) = k.to_str() else { continue };
        match v.map(|v| v.to_str()) {
            Some(Some(v)) => vars.insert(k.to_owned(), Some(v.to_owned())),
            Some(None) => continue,
            None => vars.insert(k.to_owned(), None),
        };
    }
    vars.into_iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .collect()
}

/// The command that launches `child` through `launcher`, its standard
/// input, and the pipe's other end, to keep open for as long as the child
/// lives: its block is written in it already. `skip`: variables the block
/// leaves out.
pub(crate) fn prepare(
    launcher: &dyn Launcher,
    child: Command,
    skip: &[&str],
) -> Result<(Command, io::PipeReader, io::PipeWriter), LaunchError> {
    let block = encode_bootstrap(&bootstrap_vars(&child, skip))?;
    let io = |e: io::Error| LaunchError::Io(e.to_string());
    let (reader, mut writer) = io::pipe().map_err(io)?;
    // Bounded below a pipe's buffer: written at once, child or not.
    writer.write_all(&block).map_err(io)?;
    let command = launcher.launch(child).map_err(io)?;
    Ok((command, reader, writer))
}

/// Reads a bootstrap block from `input`.
fn read_block<R: BufRead>(input: &mut R) -> Result<Vec<BootstrapVar>, LaunchError> {
    let mut reader = BootstrapReader::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let room = u64::try_from(reader.room()).unwrap_or(u64::MAX) + 1;
        input
            .by_ref()
            .take(room)
            .read_until(b'\n', &mut line)
            .map_err(|e| LaunchError::Io(format!("reading standard input: {e}")))?;
        if let Some(vars) = reader.line(&line)? {
            return Ok(vars);
        }
    }
}

/// If this process is a launched child that has not read its bootstrap
/// block yet (its command line has `--bootstrap-stdin`): reads the block
/// from standard input and runs this program again, in this process
/// (`exec`), with the block's variables in its environment. Returns only
/// if this process is no such child; exits with code 2, saying why, if
/// the block is malformed.
///
/// The entry points (`open_root_actor`, `open_nursery`, `run_daemon`,
/// [`is_root_process`](crate::is_root_process)) call it. A program that
/// reads its environment earlier in `main` calls it first.
pub fn bootstrap() {
    if let Err(e) = try_bootstrap() {
        eprintln!("tractor child: {e}");
        std::process::exit(2);
    }
}

fn try_bootstrap() -> Result<(), LaunchError> {
    let mut argv = std::env::args_os();
    let arg0 = argv.next().unwrap_or_default();
    let rest: Option<Vec<String>> = argv.map(|a| a.into_string().ok()).collect();
    let Some(Ok(Some(mut args))) = rest.map(ChildArgs::parse) else {
        return Ok(());
    };
    if !args.bootstrap_stdin {
        return Ok(());
    }
    let vars = read_block(&mut io::stdin().lock())?;
    let exe = std::env::current_exe().map_err(|e| LaunchError::Io(e.to_string()))?;
    args.bootstrap_stdin = false;
    let mut command = Command::new(exe);
    std::os::unix::process::CommandExt::arg0(&mut command, arg0);
    command.args(args.to_args());
    for (k, v) in vars {
        match v {
            Some(v) => command.env(k, v),
            None => command.env_remove(k),
        };
    }
    command.env(LAUNCHED_ENV, &args.uid.uuid);
    let e = std::os::unix::process::CommandExt::exec(&mut command);
    Err(LaunchError::Io(format!("running again: {e}")))
}

/// In a launched child that runs again with its block applied: takes its
/// standard input (the parent's pipe) for itself, leaving `/dev/null` in
/// its place (no REPL or grandchild reads the pipe). `None` in any other
/// process.
pub(crate) fn take_parent_pipe(uuid: &str) -> Option<std::fs::File> {
    use std::os::fd::AsFd;
    if std::env::var_os(LAUNCHED_ENV).is_none_or(|v| v != uuid) {
        return None;
    }
    let pipe = io::stdin().as_fd().try_clone_to_owned().ok()?;
    match std::fs::File::open("/dev/null") {
        Ok(null) => {
            if let Err(e) = nix::unistd::dup2_stdin(&null) {
                tracing::warn!(target: "tractor::runtime", error = %e, "standard input kept: /dev/null not put in its place");
            }
        }
        Err(e) => {
            tracing::warn!(target: "tractor::runtime", error = %e, "standard input kept: /dev/null not opened");
        }
    }
    Some(std::fs::File::from(pipe))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_runs_the_command_line_after_it() {
        let mut child = Command::new("/bin/prog");
        child.args(["-m", "x"]).env("A", "1").env_remove("B");
        let c = CommandPrefix::new(["ip", "netns", "exec", "ns"])
            .launch(child)
            .unwrap();
        assert_eq!(c.get_program(), "ip");
        let args: Vec<_> = c.get_args().collect();
        assert_eq!(args, ["netns", "exec", "ns", "/bin/prog", "-m", "x"]);
        let envs: Vec<_> = c.get_envs().collect();
        assert!(envs.contains(&("A".as_ref(), Some("1".as_ref()))));
        assert!(envs.contains(&("B".as_ref(), None)));
        let same = CommandPrefix::new(Vec::<String>::new())
            .launch(Command::new("/bin/prog"))
            .unwrap();
        assert_eq!(same.get_program(), "/bin/prog");
    }

    #[test]
    fn through_ssh_every_word_survives_the_remote_shell() {
        let mut child = Command::new("/opt/my prog");
        child.args(["-m", "tractor._child", "--uid", "('w', 'u-1')", "it's", ""]);
        let c = CommandPrefix::new(["/usr/bin/ssh", "-T", "node7"])
            .launch(child)
            .unwrap();
        let args: Vec<String> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "-T",
                "node7",
                "'/opt/my prog'",
                "-m",
                "tractor._child",
                "--uid",
                "'('\\''w'\\'', '\\''u-1'\\'')'",
                "'it'\\''s'",
                "''",
            ]
        );
        // What a shell makes of the joined line, as ssh's far side does.
        let line = args[2..].join(" ");
        let out = Command::new("sh")
            .args([
                "-c",
                &format!("for w in {line}; do printf '<%s>' \"$w\"; done"),
            ])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "</opt/my prog><-m><tractor._child><--uid><('w', 'u-1')><it's><>"
        );
        // Not for launchers that pass their words on; unless told.
        let plain = CommandPrefix::new(["srun", "-N1"])
            .launch(Command::new("/bin/a b"))
            .unwrap();
        assert_eq!(plain.get_args().last().unwrap(), "/bin/a b");
        let told = CommandPrefix::new(["./to-node"])
            .shell_quoted(true)
            .launch(Command::new("/bin/a b"))
            .unwrap();
        assert_eq!(told.get_args().last().unwrap(), "'/bin/a b'");
        let not = CommandPrefix::new(["ssh", "h"])
            .shell_quoted(false)
            .launch(Command::new("/bin/a b"))
            .unwrap();
        assert_eq!(not.get_args().last().unwrap(), "/bin/a b");
    }

    #[test]
    fn only_tcp_parents_launch() {
        let tcp = Address::tcp("10.0.0.1", 1);
        assert_eq!(check(Some(&tcp), false), Ok(()));
        assert_eq!(check(Some(&tcp), true), Err(LaunchError::Python));
        assert_eq!(check(None, false), Err(LaunchError::NoAddress));
        assert!(matches!(
            check(Some(&Address::uds("/run", "a.sock")), false),
            Err(LaunchError::NotTcp { .. })
        ));
    }

    #[test]
    fn the_block_holds_what_the_command_sets_and_skips_the_rest() {
        let mut child = Command::new("/bin/prog");
        child
            .env("TRACTOR_SECRET", "s")
            .env("OTHER", "o")
            .env_remove("TRACTOR_GONE")
            .env("TRACTOR_PARENT_PID", "1:u");
        let vars = bootstrap_vars(&child, &["TRACTOR_PARENT_PID"]);
        assert!(vars.contains(&("TRACTOR_SECRET".into(), Some("s".into()))));
        assert!(vars.contains(&("OTHER".into(), Some("o".into()))));
        assert!(vars.contains(&("TRACTOR_GONE".into(), None)));
        assert!(!vars.iter().any(|(k, _)| k == "TRACTOR_PARENT_PID"));
        assert!(!vars.iter().any(|(k, _)| k == "PATH"));
    }

    #[test]
    fn a_block_is_read_up_to_its_end_and_no_further() {
        let vars = vec![("TRACTOR_SECRET".to_owned(), Some("x\ny".to_owned()))];
        let mut input = encode_bootstrap(&vars).unwrap();
        input.extend_from_slice(b"more\n");
        let mut cursor = io::Cursor::new(input);
        assert_eq!(read_block(&mut cursor).unwrap(), vars);
        assert_eq!(cursor.position() as usize, cursor.get_ref().len() - 5);
        let endless = vec![b'a'; tractor_protocol::MAX_BOOTSTRAP_LEN * 2];
        let mut input = b"#tractor-bootstrap 1\n".to_vec();
        input.extend_from_slice(&endless);
        assert_eq!(
            read_block(&mut io::Cursor::new(input)),
            Err(LaunchError::Bootstrap(BootstrapError::TooLong))
        );
        assert_eq!(
            read_block(&mut io::Cursor::new(
                b"#tractor-bootstrap 1\nA=1\n".to_vec()
            )),
            Err(LaunchError::Bootstrap(BootstrapError::Truncated))
        );
    }
}
