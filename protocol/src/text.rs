//! Helpers for the one-line forms of messages and ids.
//!
//! Everything printed comes from a peer, so control characters are escaped:
//! a name holding a newline must not be able to forge a log line.

use std::fmt;

/// `s` with control characters escaped (`\n`, `\u{1b}`, …).
pub(crate) fn clean(s: &str) -> Clean<'_> {
    Clean(s, usize::MAX)
}

/// `s` cut to 8 characters followed by `…` when it is longer than 12, for
/// ids in one-line forms; control characters escaped.
pub(crate) fn short_id(s: &str) -> Clean<'_> {
    Clean(s, if s.chars().nth(12).is_some() { 8 } else { 12 })
}

/// Text to print escaped, cut after the given number of characters.
pub(crate) struct Clean<'a>(&'a str, usize);

impl fmt::Display for Clean<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.0.chars().enumerate() {
            if i == self.1 {
                return f.write_str("…");
            }
            if c.is_control() {
                write!(f, "{}", c.escape_debug())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

/// An owned copy of `s` with control characters escaped.
pub(crate) fn cleaned(s: &str) -> String {
    clean(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_cuts() {
        assert_eq!(clean("a\nb\u{1b}[31m").to_string(), "a\\nb\\u{1b}[31m");
        assert_eq!(short_id("0123456789ab").to_string(), "0123456789ab");
        assert_eq!(short_id("0123456789abc").to_string(), "01234567…");
        assert_eq!(short_id("é\n").to_string(), "é\\n");
    }
}
