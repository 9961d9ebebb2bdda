//! The command line a parent gives a child process (spec/PROTOCOL.md §3.2).
//!
//! Python spawns `python -m tractor._child --uid "('name', 'uuid')"
//! --parent_addr "('127.0.0.1', 40123)" [--loglevel LEVEL]`, both values
//! being Python `repr`s of tuples. A Rust child takes the very same
//! arguments after its program name, so either kind of parent can start
//! either kind of child.

use std::fmt::{self, Write as _};

use crate::addr::Address;
use crate::uid::Uid;

/// The two arguments that mark a child process: `-m tractor._child`.
pub const CHILD_MARKER: [&str; 2] = ["-m", "tractor._child"];

/// What a child is told on its command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildArgs {
    /// Its identity, which it must use in its handshake.
    pub uid: Uid,
    /// Where its parent accepts connections.
    pub parent_addr: Address,
    /// The tree's log level, if one was set.
    pub loglevel: Option<String>,
    /// The child reads its settings from its standard input first: a
    /// bootstrap block (see the `bootstrap` module), flagged on the command line as
    /// [`BOOTSTRAP_FLAG`]. Set for a child started through a launcher,
    /// whose environment may not reach it. Ours, not Python's.
    pub bootstrap_stdin: bool,
    /// The child runs a guest runtime beside its own: Python's
    /// `--asyncio` flag (`infect_asyncio`), which a Python child takes
    /// as asyncio guest mode and a Rust one as its adapter's guest.
    pub guest: bool,
}

/// The flag of a child that reads a bootstrap block on its standard
/// input before anything else ([`ChildArgs::bootstrap_stdin`]).
pub const BOOTSTRAP_FLAG: &str = "--bootstrap-stdin";

/// The flag of a child that runs a guest runtime ([`ChildArgs::guest`]):
/// Python's own, for `infect_asyncio`.
pub const GUEST_FLAG: &str = "--asyncio";

/// A command line that starts like a child's but does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad child command line: {0}")]
pub struct ChildArgsError(String);

impl ChildArgs {
    /// The arguments after the program name, as Python writes them.
    ///
    /// ```
    /// use tractor_protocol::{Address, ChildArgs, Uid};
    ///
    /// let args = ChildArgs {
    ///     uid: Uid::new("worker", "9b1e"),
    ///     parent_addr: Address::tcp("127.0.0.1", 40123),
    ///     loglevel: None,
    ///     bootstrap_stdin: false,
    ///     guest: false,
    /// };
    /// assert_eq!(
    ///     args.to_args(),
    ///     ["-m", "tractor._child", "--uid", "('worker', '9b1e')",
    ///      "--parent_addr", "('127.0.0.1', 40123)"],
    /// );
    /// assert_eq!(ChildArgs::parse(args.to_args())?, Some(args));
    /// # Ok::<(), tractor_protocol::ChildArgsError>(())
    /// ```
    pub fn to_args(&self) -> Vec<String> {
        let mut out: Vec<String> = CHILD_MARKER.iter().map(|s| s.to_string()).collect();
        out.push("--uid".into());
        out.push(format!(
            "({}, {})",
            PyStr(&self.uid.name),
            PyStr(&self.uid.uuid)
        ));
        out.push("--parent_addr".into());
        out.push(match &self.parent_addr {
            Address::Tcp { host, port } => format!("({}, {port})", PyStr(host)),
            Address::Uds { dir, file } => format!("({}, {})", PyStr(dir), PyStr(file)),
        });
        if let Some(level) = &self.loglevel {
            out.push("--loglevel".into());
            out.push(level.clone());
        }
        if self.guest {
            out.push(GUEST_FLAG.into());
        }
        if self.bootstrap_stdin {
            out.push(BOOTSTRAP_FLAG.into());
        }
        out
    }

    /// Reads the arguments after the program name: `Ok(None)` if they are
    /// not a child's (they do not start with `-m tractor._child`).
    pub fn parse<I, S>(args: I) -> Result<Option<ChildArgs>, ChildArgsError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let args: Vec<String> = args.into_iter().map(Into::into).collect();
        if args.len() < 2 || args[..2] != CHILD_MARKER {
            return Ok(None);
        }
        let (mut uid, mut parent_addr, mut loglevel) = (None, None, None);
        let (mut bootstrap_stdin, mut guest) = (false, false);
        let mut rest = args[2..].iter();
        while let Some(flag) = rest.next() {
            let mut value = || {
                rest.next()
                    .ok_or_else(|| ChildArgsError(format!("{flag} needs a value")))
            };
            match flag.as_str() {
                "--uid" => {
                    let v = value()?;
                    match parse_pair(v)? {
                        (Item::Str(name), Item::Str(uuid)) => uid = Some(Uid::new(name, uuid)),
                        _ => return Err(ChildArgsError(format!("--uid {v:?} is not two strings"))),
                    }
                }
                "--parent_addr" => {
                    let v = value()?;
                    parent_addr = Some(match parse_pair(v)? {
                        (Item::Str(host), Item::Int(port)) => Address::tcp(
                            host,
                            u16::try_from(port)
                                .map_err(|_| ChildArgsError(format!("port {port} out of range")))?,
                        ),
                        (Item::Str(dir), Item::Str(file)) => Address::uds(dir, file),
                        _ => {
                            return Err(ChildArgsError(format!(
                                "--parent_addr {v:?} is neither (host, port) nor (dir, file)"
                            )));
                        }
                    });
                }
                "--loglevel" => loglevel = Some(value()?.clone()),
                GUEST_FLAG => guest = true,
                BOOTSTRAP_FLAG => bootstrap_stdin = true,
                other => return Err(ChildArgsError(format!("unknown argument {other:?}"))),
            }
        }
        Ok(Some(ChildArgs {
            uid: uid.ok_or_else(|| ChildArgsError("--uid is missing".into()))?,
            parent_addr: parent_addr
                .ok_or_else(|| ChildArgsError("--parent_addr is missing".into()))?,
            loglevel,
            bootstrap_stdin,
            guest,
        }))
    }
}

/// A string written as a Python literal, as `repr` does: single quotes
/// unless the text holds one and no double quote.
struct PyStr<'a>(&'a str);

impl fmt::Display for PyStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let quote = if s.contains('\'') && !s.contains('"') {
            '"'
        } else {
            '\''
        };
        f.write_char(quote)?;
        for c in s.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if c == quote => write!(f, "\\{c}")?,
                c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\x{:02x}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        f.write_char(quote)
    }
}

#[derive(Debug, PartialEq)]
enum Item {
    Str(String),
    Int(i64),
}

/// Parses `(a, b)` where each item is a Python string or integer literal.
fn parse_pair(text: &str) -> Result<(Item, Item), ChildArgsError> {
    let bad = |why: &str| ChildArgsError(format!("{text:?}: {why}"));
    let mut p = Parser {
        chars: text.trim().chars().peekable(),
    };
    p.expect('(').map_err(|_| bad("expected a tuple"))?;
    let a = p.item().map_err(&bad)?;
    p.expect(',').map_err(|_| bad("expected ','"))?;
    let b = p.item().map_err(&bad)?;
    p.skip_ws();
    if p.chars.peek() == Some(&',') {
        p.chars.next();
    }
    p.expect(')').map_err(|_| bad("expected ')'"))?;
    if p.chars.next().is_some() {
        return Err(bad("text after the tuple"));
    }
    Ok((a, b))
}

struct Parser<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.chars.peek().is_some_and(|c| c.is_whitespace()) {
            self.chars.next();
        }
    }

    fn expect(&mut self, c: char) -> Result<(), ()> {
        self.skip_ws();
        if self.chars.next() == Some(c) {
            Ok(())
        } else {
            Err(())
        }
    }

    fn item(&mut self) -> Result<Item, &'static str> {
        self.skip_ws();
        match self.chars.peek().copied() {
            Some(q @ ('\'' | '"')) => {
                self.chars.next();
                self.string(q).map(Item::Str)
            }
            Some(c) if c.is_ascii_digit() || c == '-' => {
                let mut digits = String::new();
                while let Some(&c) = self.chars.peek() {
                    if c.is_ascii_digit() || (c == '-' && digits.is_empty()) {
                        digits.push(c);
                        self.chars.next();
                    } else {
                        break;
                    }
                }
                digits.parse().map(Item::Int).map_err(|_| "bad integer")
            }
            _ => Err("expected a string or an integer"),
        }
    }

    fn string(&mut self, quote: char) -> Result<String, &'static str> {
        let mut out = String::new();
        loop {
            match self.chars.next().ok_or("unterminated string")? {
                c if c == quote => return Ok(out),
                '\\' => match self.chars.next().ok_or("unterminated escape")? {
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'x' => {
                        let hex: String = (0..2).filter_map(|_| self.chars.next()).collect();
                        let v = u32::from_str_radix(&hex, 16).map_err(|_| "bad \\x escape")?;
                        out.push(char::from_u32(v).ok_or("bad \\x escape")?);
                    }
                    c @ ('\\' | '\'' | '"') => out.push(c),
                    _ => return Err("unsupported escape"),
                },
                c => out.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(uid: Uid, addr: Address) -> ChildArgs {
        ChildArgs {
            uid,
            parent_addr: addr,
            loglevel: Some("cancel".into()),
            bootstrap_stdin: false,
            guest: false,
        }
    }

    #[test]
    fn round_trips_awkward_text() {
        for name in [
            "plain",
            "it's",
            "say \"hi\" it's",
            "tab\there\\",
            "nl\n\x01",
        ] {
            let a = args(
                Uid::new(name, "u-1"),
                Address::uds("/run/user/1000/tractor", format!("{name}@1.sock")),
            );
            assert_eq!(ChildArgs::parse(a.to_args()), Ok(Some(a)), "{name:?}");
        }
        let a = args(Uid::new("w", "u"), Address::tcp("::1", 65535));
        assert_eq!(ChildArgs::parse(a.to_args()), Ok(Some(a)));
        let mut a = args(Uid::new("w", "u"), Address::tcp("10.0.0.1", 1));
        a.bootstrap_stdin = true;
        assert_eq!(a.to_args().last().map(String::as_str), Some(BOOTSTRAP_FLAG));
        assert_eq!(ChildArgs::parse(a.to_args()), Ok(Some(a.clone())));
        a.guest = true;
        assert!(a.to_args().iter().any(|f| f == GUEST_FLAG));
        assert_eq!(ChildArgs::parse(a.to_args()), Ok(Some(a)));
    }

    #[test]
    fn reads_what_python_writes() {
        // `str((name, uuid))` and `str(('127.0.0.1', 40123))` in Python.
        let got = ChildArgs::parse([
            "-m",
            "tractor._child",
            "--uid",
            "('sub', '9b1e2c3d')",
            "--parent_addr",
            "('127.0.0.1', 40123)",
            "--loglevel",
            "info",
            "--asyncio",
        ]);
        assert_eq!(
            got,
            Ok(Some(ChildArgs {
                uid: Uid::new("sub", "9b1e2c3d"),
                parent_addr: Address::tcp("127.0.0.1", 40123),
                loglevel: Some("info".into()),
                bootstrap_stdin: false,
                guest: true,
            }))
        );
    }

    #[test]
    fn other_command_lines_are_not_children() {
        assert_eq!(ChildArgs::parse(["--help"]), Ok(None));
        assert_eq!(ChildArgs::parse(Vec::<String>::new()), Ok(None));
    }

    #[test]
    fn broken_child_lines_say_what_is_wrong() {
        let e = |v: &[&str]| ChildArgs::parse(v.iter().copied()).unwrap_err().to_string();
        let base = ["-m", "tractor._child"];
        assert!(e(&[&base[..], &["--uid"]].concat()).contains("--uid needs a value"));
        assert!(e(&[&base[..], &["--uid", "('a', 1)"]].concat()).contains("not two strings"));
        assert!(
            e(&[
                &base[..],
                &["--uid", "('a', 'b')", "--parent_addr", "(1, 2)"]
            ]
            .concat())
            .contains("neither (host, port)")
        );
        assert!(e(&[&base[..], &["--uid", "('a', 'b')"]].concat()).contains("--parent_addr"));
        assert!(
            e(&[
                &base[..],
                &["--uid", "('a', 'b')", "--parent_addr", "('h', 99999)"]
            ]
            .concat())
            .contains("out of range")
        );
        assert!(e(&[&base[..], &["--frob"]].concat()).contains("unknown argument"));
        assert!(e(&[&base[..], &["--uid", "('a', 'b'"]].concat()).contains("expected ')'"));
    }
}
