//! The bootstrap block a parent writes on the standard input of a child it
//! starts through a launcher (spec/PROTOCOL.md §3.2.1; ours, not
//! Python's).
//!
//! A launcher (`ssh host`, `srun`, `kubectl exec`) does not carry the
//! parent's environment to the child, so the settings a child reads from
//! its environment (the tree's secret, its limits, its log level, …) go on
//! its standard input instead, before anything else, in this small text
//! format:
//!
//! ```text
//! #tractor-bootstrap 1
//! TRACTOR_SECRET=s3cr\\et
//! TRACTOR_MAX_DIALOGS_PER_PEER=64
//! TRACTOR_SECRET_FILE
//! #end
//! ```
//!
//! A header line, then one line per variable: `KEY=VALUE` sets it, a bare
//! `KEY` unsets it; then the terminator line. In keys and values a
//! backslash is written `\\`, a line feed `\n` and a carriage return
//! `\r`; no other escape exists. A key is not empty, holds no `=`, no NUL
//! and does not start with `#`; a value holds no NUL. The whole block,
//! terminator included, is at most [`MAX_BOOTSTRAP_LEN`] bytes: it fits
//! in a pipe's buffer, so the parent writes it without waiting for the
//! child.

/// The first line of a bootstrap block.
pub const BOOTSTRAP_HEADER: &str = "#tractor-bootstrap 1";

/// The line that ends a bootstrap block.
pub const BOOTSTRAP_END: &str = "#end";

/// The largest bootstrap block, in bytes, terminator included.
pub const MAX_BOOTSTRAP_LEN: usize = 32 * 1024;

/// One variable of a bootstrap block: its name, and its value (`None`:
/// unset it).
pub type BootstrapVar = (String, Option<String>);

/// A bootstrap block that cannot be written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BootstrapError {
    /// The block would be, or is, longer than [`MAX_BOOTSTRAP_LEN`].
    #[error("the bootstrap block is longer than {MAX_BOOTSTRAP_LEN} bytes")]
    TooLong,
    /// A variable's name cannot be written (empty, with `=` or NUL, or
    /// starting with `#`).
    #[error("{0:?} cannot be an environment variable's name")]
    BadKey(String),
    /// A variable's value holds a NUL byte.
    #[error("the value of {0} holds a NUL byte")]
    BadValue(String),
    /// The block does not start with [`BOOTSTRAP_HEADER`].
    #[error("the bootstrap block does not start with {BOOTSTRAP_HEADER:?}")]
    NoHeader,
    /// The input ended before [`BOOTSTRAP_END`].
    #[error("the bootstrap block ended before its {BOOTSTRAP_END:?} line")]
    Truncated,
    /// A line is not UTF-8, or holds an unknown escape.
    #[error("line {line} of the bootstrap block is malformed: {reason}")]
    Malformed {
        /// The line, counted from 1 (the header).
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => return Err(format!("unknown escape \\{other}")),
            None => return Err("a lone backslash ends it".into()),
        }
    }
    Ok(out)
}

fn check_key(key: &str) -> Result<(), BootstrapError> {
    if key.is_empty() || key.starts_with('#') || key.contains(['=', '\0']) {
        return Err(BootstrapError::BadKey(key.to_owned()));
    }
    Ok(())
}

/// Writes a bootstrap block of `vars`, in their order.
///
/// ```
/// use tractor_protocol::{decode_bootstrap, encode_bootstrap};
///
/// let vars = vec![
///     ("TRACTOR_SECRET".to_owned(), Some("a\nb\\c".to_owned())),
///     ("OLD".to_owned(), None),
/// ];
/// let block = encode_bootstrap(&vars)?;
/// assert_eq!(decode_bootstrap(&block)?, vars);
/// # Ok::<(), tractor_protocol::BootstrapError>(())
/// ```
pub fn encode_bootstrap(vars: &[BootstrapVar]) -> Result<Vec<u8>, BootstrapError> {
    let mut out = String::new();
    out.push_str(BOOTSTRAP_HEADER);
    out.push('\n');
    for (key, value) in vars {
        check_key(key)?;
        escape(key, &mut out);
        if let Some(v) = value {
            if v.contains('\0') {
                return Err(BootstrapError::BadValue(key.clone()));
            }
            out.push('=');
            escape(v, &mut out);
        }
        out.push('\n');
        if out.len() > MAX_BOOTSTRAP_LEN {
            return Err(BootstrapError::TooLong);
        }
    }
    out.push_str(BOOTSTRAP_END);
    out.push('\n');
    if out.len() > MAX_BOOTSTRAP_LEN {
        return Err(BootstrapError::TooLong);
    }
    Ok(out.into_bytes())
}

/// Reads a whole bootstrap block (what [`encode_bootstrap`] wrote); bytes
/// after its terminator line are not looked at.
pub fn decode_bootstrap(block: &[u8]) -> Result<Vec<BootstrapVar>, BootstrapError> {
    let mut reader = BootstrapReader::new();
    for line in block.split_inclusive(|b| *b == b'\n') {
        if let Some(vars) = reader.line(line)? {
            return Ok(vars);
        }
    }
    Err(BootstrapError::Truncated)
}

/// Reads a bootstrap block line by line, as it arrives: the child feeds
/// it each line it reads (its `\n` included) until it returns the
/// variables. It refuses a block longer than [`MAX_BOOTSTRAP_LEN`] as soon
/// as it has seen that many bytes.
#[derive(Debug, Default)]
pub struct BootstrapReader {
    len: usize,
    lines: usize,
    vars: Vec<BootstrapVar>,
}

impl BootstrapReader {
    /// A reader before the header.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many bytes a caller may still feed: reading more than this
    /// without reaching the terminator is [`BootstrapError::TooLong`].
    pub fn room(&self) -> usize {
        MAX_BOOTSTRAP_LEN.saturating_sub(self.len)
    }

    /// Takes one line; `Ok(Some(vars))` once it was the terminator. A line
    /// without its `\n` (the input ended) is [`BootstrapError::Truncated`].
    pub fn line(&mut self, line: &[u8]) -> Result<Option<Vec<BootstrapVar>>, BootstrapError> {
        self.len += line.len();
        if self.len > MAX_BOOTSTRAP_LEN {
            return Err(BootstrapError::TooLong);
        }
        let Some(line) = line.strip_suffix(b"\n") else {
            return Err(BootstrapError::Truncated);
        };
        self.lines += 1;
        let malformed = |reason: String| BootstrapError::Malformed {
            line: self.lines,
            reason,
        };
        let line = std::str::from_utf8(line).map_err(|e| malformed(e.to_string()))?;
        if self.lines == 1 {
            return if line == BOOTSTRAP_HEADER {
                Ok(None)
            } else {
                Err(BootstrapError::NoHeader)
            };
        }
        if line == BOOTSTRAP_END {
            return Ok(Some(std::mem::take(&mut self.vars)));
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        let key = unescape(key).map_err(malformed)?;
        check_key(&key).map_err(|e| malformed(e.to_string()))?;
        let value = match value {
            Some(v) => {
                let v = unescape(v).map_err(malformed)?;
                if v.contains('\0') {
                    return Err(malformed(format!("the value of {key} holds a NUL byte")));
                }
                Some(v)
            }
            None => None,
        };
        self.vars.push((key, value));
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(k: &str, v: Option<&str>) -> BootstrapVar {
        (k.to_owned(), v.map(str::to_owned))
    }

    #[test]
    fn round_trips_awkward_values() {
        let vars = vec![
            var(
                "TRACTOR_SECRET",
                Some("back\\slash\nnewline\r\n=eq#hash \u{e9}"),
            ),
            var("EMPTY", Some("")),
            var("GONE", None),
            var("K\\EY", Some("\\n")),
            var("MULTI\nLINE", Some("#end")),
        ];
        let block = encode_bootstrap(&vars).unwrap();
        let text = std::str::from_utf8(&block).unwrap();
        assert!(text.starts_with("#tractor-bootstrap 1\n"), "{text}");
        assert!(text.ends_with("\n#end\n"), "{text}");
        // One line per variable: no raw line feed inside one.
        assert_eq!(text.lines().count(), vars.len() + 2);
        assert_eq!(decode_bootstrap(&block).unwrap(), vars);
        // What follows the block is not the block's.
        let mut more = block.clone();
        more.extend_from_slice(b"anything\n");
        assert_eq!(decode_bootstrap(&more).unwrap(), vars);
        assert_eq!(
            decode_bootstrap(&encode_bootstrap(&[]).unwrap()).unwrap(),
            []
        );
    }

    #[test]
    fn escapes_are_exact() {
        let block = encode_bootstrap(&[var("A", Some("x\\y\nz\r"))]).unwrap();
        assert_eq!(
            block,
            b"#tractor-bootstrap 1\nA=x\\\\y\\nz\\r\n#end\n".to_vec()
        );
    }

    #[test]
    fn the_size_is_bounded_both_ways() {
        let big = "v".repeat(MAX_BOOTSTRAP_LEN);
        assert_eq!(
            encode_bootstrap(&[var("BIG", Some(&big))]),
            Err(BootstrapError::TooLong)
        );
        // Just under the bound is fine.
        let fits = "v".repeat(MAX_BOOTSTRAP_LEN - 100);
        let block = encode_bootstrap(&[var("FITS", Some(&fits))]).unwrap();
        assert!(block.len() <= MAX_BOOTSTRAP_LEN);
        // A reader refuses an endless block once it passed the bound.
        let mut r = BootstrapReader::new();
        r.line(b"#tractor-bootstrap 1\n").unwrap();
        let line = format!("K={}\n", "v".repeat(1000));
        let mut got = Ok(None);
        for _ in 0..MAX_BOOTSTRAP_LEN / 1000 + 2 {
            got = r.line(line.as_bytes());
            if got.is_err() {
                break;
            }
        }
        assert_eq!(got, Err(BootstrapError::TooLong));
        assert_eq!(r.room(), 0);
    }

    #[test]
    fn malformed_blocks_say_what_is_wrong() {
        assert_eq!(decode_bootstrap(b""), Err(BootstrapError::Truncated));
        assert_eq!(
            decode_bootstrap(b"hello\n#end\n"),
            Err(BootstrapError::NoHeader)
        );
        assert_eq!(
            decode_bootstrap(b"#tractor-bootstrap 1\nA=1\n"),
            Err(BootstrapError::Truncated)
        );
        assert_eq!(
            decode_bootstrap(b"#tractor-bootstrap 1\nA=1\n#en"),
            Err(BootstrapError::Truncated)
        );
        let bad = |block: &[u8]| match decode_bootstrap(block) {
            Err(BootstrapError::Malformed { line, reason }) => (line, reason),
            other => panic!("{other:?}"),
        };
        let (line, reason) = bad(b"#tractor-bootstrap 1\nA=1\nB=\\q\n#end\n");
        assert_eq!(line, 3);
        assert!(reason.contains("unknown escape"), "{reason}");
        assert!(
            bad(b"#tractor-bootstrap 1\nA=x\\\n#end\n")
                .1
                .contains("lone")
        );
        assert!(bad(b"#tractor-bootstrap 1\n=1\n#end\n").1.contains("name"));
        assert!(
            bad(b"#tractor-bootstrap 1\n#x=1\n#end\n")
                .1
                .contains("name")
        );
        assert!(
            bad(b"#tractor-bootstrap 1\nA=\xff\n#end\n")
                .1
                .contains("utf-8")
        );
        assert!(bad(b"#tractor-bootstrap 1\nA=\0\n#end\n").1.contains("NUL"));
        for key in ["", "A=B", "#end", "N\0L"] {
            assert_eq!(
                encode_bootstrap(&[var(key, Some("1"))]),
                Err(BootstrapError::BadKey(key.into()))
            );
        }
        assert_eq!(
            encode_bootstrap(&[var("A", Some("\0"))]),
            Err(BootstrapError::BadValue("A".into()))
        );
    }
}
