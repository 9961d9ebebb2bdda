//! The subset of msgpack the wire needs, written by hand.
//!
//! Messages are encoded field by field rather than through serde so that the
//! bytes are exactly the ones msgspec produces (spec/PROTOCOL.md §1.2), and decoded
//! by hand so that payload fields can be kept as undecoded slices of the
//! frame (§1.3) and every failure can name the message and field it hit.
//!
//! The reader never recurses and never allocates: [`Reader::skip`] walks a
//! value of any nesting depth with one counter, and refuses a container as
//! soon as it announces more items than bytes remain.

use std::fmt;

use bytes::BufMut;

/// The kind of a msgpack value, as named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `nil` (Python `None`).
    Nil,
    /// `true` or `false`.
    Bool,
    /// Any integer form.
    Int,
    /// float32 or float64.
    Float,
    /// A UTF-8 string.
    Str,
    /// A byte string (Python `bytes`).
    Bin,
    /// An array (Python `list` or `tuple`).
    Array,
    /// A map (Python `dict` or a struct).
    Map,
    /// An extension value.
    Ext,
    /// The reserved marker `0xc1`, which no encoder may produce.
    Reserved,
}

impl Kind {
    /// The kind of the value that starts with `marker`.
    pub(crate) fn of(marker: u8) -> Kind {
        match marker {
            0x00..=0x7f | 0xcc..=0xd3 | 0xe0..=0xff => Kind::Int,
            0x80..=0x8f | 0xde | 0xdf => Kind::Map,
            0x90..=0x9f | 0xdc | 0xdd => Kind::Array,
            0xa0..=0xbf | 0xd9..=0xdb => Kind::Str,
            0xc0 => Kind::Nil,
            0xc1 => Kind::Reserved,
            0xc2 | 0xc3 => Kind::Bool,
            0xc4..=0xc6 => Kind::Bin,
            0xc7..=0xc9 | 0xd4..=0xd8 => Kind::Ext,
            0xca | 0xcb => Kind::Float,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Nil => "nil",
            Kind::Bool => "bool",
            Kind::Int => "int",
            Kind::Float => "float",
            Kind::Str => "str",
            Kind::Bin => "bin",
            Kind::Array => "array",
            Kind::Map => "map",
            Kind::Ext => "ext",
            Kind::Reserved => "the reserved marker 0xc1",
        })
    }
}

/// The input is not msgpack at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Broken {
    /// The value starting at `offset` runs past the end of the input.
    Truncated { offset: usize },
    /// The marker at `offset` is `0xc1`.
    Reserved { offset: usize },
}

/// What went wrong while reading; the caller adds which message and field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// The input is not msgpack.
    Broken(Broken),
    /// The value at `offset` is of another kind than the one asked for.
    WrongKind { offset: usize, found: Kind },
    /// The string at `offset` is not UTF-8.
    InvalidUtf8 { offset: usize },
}

impl From<Broken> for ReadError {
    fn from(b: Broken) -> Self {
        ReadError::Broken(b)
    }
}

/// An integer as read, before the caller narrows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Int {
    Unsigned(u64),
    Signed(i64),
}

/// A cursor over one msgpack buffer.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// A reader positioned at `pos`, so that offsets stay those of `buf`.
    pub(crate) fn at(buf: &'a [u8], pos: usize) -> Self {
        Reader { buf, pos }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    fn take(&mut self, n: usize, offset: usize) -> Result<&'a [u8], Broken> {
        if n > self.remaining() {
            return Err(Broken::Truncated { offset });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn be(&mut self, n: usize, offset: usize) -> Result<u64, Broken> {
        Ok(self
            .take(n, offset)?
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    /// The kind of the next value, without consuming it.
    pub(crate) fn peek_kind(&self) -> Result<Kind, Broken> {
        self.buf
            .get(self.pos)
            .map(|m| Kind::of(*m))
            .ok_or(Broken::Truncated { offset: self.pos })
    }

    fn marker(&mut self) -> Result<(u8, usize), Broken> {
        let offset = self.pos;
        let m = *self.buf.get(offset).ok_or(Broken::Truncated { offset })?;
        self.pos += 1;
        Ok((m, offset))
    }

    fn wrong(&mut self, offset: usize, marker: u8) -> ReadError {
        self.pos = offset;
        ReadError::WrongKind {
            offset,
            found: Kind::of(marker),
        }
    }

    /// Reads a map header and returns its number of entries.
    pub(crate) fn read_map_len(&mut self) -> Result<usize, ReadError> {
        let (m, offset) = self.marker()?;
        let n = match m {
            0x80..=0x8f => u64::from(m & 0x0f),
            0xde => self.be(2, offset)?,
            0xdf => self.be(4, offset)?,
            _ => return Err(self.wrong(offset, m)),
        };
        // Every entry needs at least two bytes: refuse before anyone sizes a
        // buffer from `n`.
        if n.saturating_mul(2) > self.remaining() as u64 {
            return Err(Broken::Truncated { offset }.into());
        }
        Ok(n as usize)
    }

    /// Reads an array header and returns its number of items.
    pub(crate) fn read_array_len(&mut self) -> Result<usize, ReadError> {
        let (m, offset) = self.marker()?;
        let n = match m {
            0x90..=0x9f => u64::from(m & 0x0f),
            0xdc => self.be(2, offset)?,
            0xdd => self.be(4, offset)?,
            _ => return Err(self.wrong(offset, m)),
        };
        if n > self.remaining() as u64 {
            return Err(Broken::Truncated { offset }.into());
        }
        Ok(n as usize)
    }

    /// Reads a string's bytes, without checking UTF-8.
    fn read_str_bytes(&mut self) -> Result<(&'a [u8], usize), ReadError> {
        let (m, offset) = self.marker()?;
        let n = match m {
            0xa0..=0xbf => u64::from(m & 0x1f),
            0xd9 => self.be(1, offset)?,
            0xda => self.be(2, offset)?,
            0xdb => self.be(4, offset)?,
            _ => return Err(self.wrong(offset, m)),
        };
        Ok((self.take(n as usize, offset)?, offset))
    }

    /// Reads a UTF-8 string.
    pub(crate) fn read_str(&mut self) -> Result<&'a str, ReadError> {
        let (bytes, offset) = self.read_str_bytes()?;
        std::str::from_utf8(bytes).map_err(|_| ReadError::InvalidUtf8 { offset })
    }

    /// Reads a bool.
    pub(crate) fn read_bool(&mut self) -> Result<bool, ReadError> {
        match self.marker()? {
            (0xc2, _) => Ok(false),
            (0xc3, _) => Ok(true),
            (m, offset) => Err(self.wrong(offset, m)),
        }
    }

    /// Consumes a nil if one comes next; reports whether it did.
    pub(crate) fn read_nil(&mut self) -> bool {
        if self.buf.get(self.pos) == Some(&0xc0) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Reads an integer of any width.
    pub(crate) fn read_int(&mut self) -> Result<Int, ReadError> {
        let (m, offset) = self.marker()?;
        Ok(match m {
            0x00..=0x7f => Int::Unsigned(u64::from(m)),
            0xe0..=0xff => Int::Signed(i64::from(m as i8)),
            0xcc => Int::Unsigned(self.be(1, offset)?),
            0xcd => Int::Unsigned(self.be(2, offset)?),
            0xce => Int::Unsigned(self.be(4, offset)?),
            0xcf => Int::Unsigned(self.be(8, offset)?),
            0xd0 => Int::Signed(i64::from(self.be(1, offset)? as u8 as i8)),
            0xd1 => Int::Signed(i64::from(self.be(2, offset)? as u16 as i16)),
            0xd2 => Int::Signed(i64::from(self.be(4, offset)? as u32 as i32)),
            0xd3 => Int::Signed(self.be(8, offset)? as i64),
            _ => return Err(self.wrong(offset, m)),
        })
    }

    /// Skips one complete value of any depth and returns its bytes.
    ///
    /// Iterative: `pending` counts the values still owed by open containers,
    /// so hostile nesting costs no stack. A container that announces more
    /// items than there are bytes left fails at once.
    pub(crate) fn skip(&mut self) -> Result<&'a [u8], Broken> {
        let start = self.pos;
        let mut pending: u64 = 1;
        while pending > 0 {
            pending -= 1;
            let (m, offset) = self.marker()?;
            let (items, data): (u64, u64) = match m {
                0x00..=0x7f | 0xc0 | 0xc2 | 0xc3 | 0xe0..=0xff => (0, 0),
                0x80..=0x8f => (2 * u64::from(m & 0x0f), 0),
                0x90..=0x9f => (u64::from(m & 0x0f), 0),
                0xa0..=0xbf => (0, u64::from(m & 0x1f)),
                0xc1 => return Err(Broken::Reserved { offset }),
                0xc4 | 0xd9 => (0, self.be(1, offset)?),
                0xc5 | 0xda => (0, self.be(2, offset)?),
                0xc6 | 0xdb => (0, self.be(4, offset)?),
                0xc7 => (0, self.be(1, offset)? + 1),
                0xc8 => (0, self.be(2, offset)? + 1),
                0xc9 => (0, self.be(4, offset)? + 1),
                0xca => (0, 4),
                0xcb => (0, 8),
                0xcc | 0xd0 => (0, 1),
                0xcd | 0xd1 => (0, 2),
                0xce | 0xd2 => (0, 4),
                0xcf | 0xd3 => (0, 8),
                0xd4 => (0, 2),
                0xd5 => (0, 3),
                0xd6 => (0, 5),
                0xd7 => (0, 9),
                0xd8 => (0, 17),
                0xdc => (self.be(2, offset)?, 0),
                0xdd => (self.be(4, offset)?, 0),
                0xde => (2 * self.be(2, offset)?, 0),
                0xdf => (2 * self.be(4, offset)?, 0),
            };
            if data > self.remaining() as u64 {
                return Err(Broken::Truncated { offset });
            }
            self.pos += data as usize;
            pending += items;
            if pending > self.remaining() as u64 {
                return Err(Broken::Truncated { offset });
            }
        }
        Ok(&self.buf[start..self.pos])
    }
}

/// Checks that `buf` holds exactly one msgpack value and returns its kind.
pub(crate) fn validate_one(buf: &[u8]) -> Result<Kind, ValueError> {
    let mut r = Reader::new(buf);
    let kind = r.peek_kind().map_err(ValueError::Broken)?;
    r.skip().map_err(ValueError::Broken)?;
    if !r.is_empty() {
        return Err(ValueError::Trailing {
            offset: r.pos(),
            len: buf.len(),
        });
    }
    Ok(kind)
}

/// Why a buffer is not exactly one msgpack value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueError {
    Broken(Broken),
    Trailing { offset: usize, len: usize },
}

// ---------------------------------------------------------------------------
// Writing. Every function picks the smallest form, as msgspec does.

pub(crate) fn write_nil(out: &mut impl BufMut) {
    out.put_u8(0xc0);
}

pub(crate) fn write_bool(out: &mut impl BufMut, v: bool) {
    out.put_u8(if v { 0xc3 } else { 0xc2 });
}

pub(crate) fn write_uint(out: &mut impl BufMut, v: u64) {
    if v < 0x80 {
        out.put_u8(v as u8);
    } else if v <= u64::from(u8::MAX) {
        out.put_u8(0xcc);
        out.put_u8(v as u8);
    } else if v <= u64::from(u16::MAX) {
        out.put_u8(0xcd);
        out.put_u16(v as u16);
    } else if v <= u64::from(u32::MAX) {
        out.put_u8(0xce);
        out.put_u32(v as u32);
    } else {
        out.put_u8(0xcf);
        out.put_u64(v);
    }
}

// Lengths are written with `as u32`: a length that does not fit makes the
// whole body longer than a frame can announce, and the frame encoder refuses
// such a body before anything reaches the wire.

pub(crate) fn write_str(out: &mut impl BufMut, s: &str) {
    let n = s.len();
    if n < 32 {
        out.put_u8(0xa0 | n as u8);
    } else if n <= usize::from(u8::MAX) {
        out.put_u8(0xd9);
        out.put_u8(n as u8);
    } else if n <= usize::from(u16::MAX) {
        out.put_u8(0xda);
        out.put_u16(n as u16);
    } else {
        out.put_u8(0xdb);
        out.put_u32(n as u32);
    }
    out.put_slice(s.as_bytes());
}

pub(crate) fn write_array_len(out: &mut impl BufMut, n: usize) {
    write_container_len(out, n, [0x90, 0xdc, 0xdd]);
}

pub(crate) fn write_map_len(out: &mut impl BufMut, n: usize) {
    write_container_len(out, n, [0x80, 0xde, 0xdf]);
}

/// A container header: the fix form up to 15 items, then 16- and 32-bit.
fn write_container_len(out: &mut impl BufMut, n: usize, [fix, m16, m32]: [u8; 3]) {
    if n < 16 {
        out.put_u8(fix | n as u8);
    } else if n <= usize::from(u16::MAX) {
        out.put_u8(m16);
        out.put_u16(n as u16);
    } else {
        out.put_u8(m32);
        out.put_u32(n as u32);
    }
}

// ---------------------------------------------------------------------------
// Rendering a value as JSON text, for logs, `Display` and the wire inspector.

/// How much of a value to render.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    /// Stop after about this many bytes of output and append `…`.
    pub(crate) max_len: usize,
    /// Containers nested deeper than this are shown as `…`.
    pub(crate) max_depth: usize,
}

impl Budget {
    /// Everything, down to 100 levels of nesting: beyond what payloads use,
    /// and within the 128 levels common JSON readers accept.
    pub(crate) const FULL: Budget = Budget {
        max_len: usize::MAX,
        max_depth: 100,
    };
    /// A non-string map key: a scalar, or a container shown as `[…]`/`{…}`,
    /// so that rendering a key never recurses into another key.
    pub(crate) const KEY: Budget = Budget {
        max_len: 40,
        max_depth: 0,
    };
    /// A one-line preview for logs.
    pub(crate) const SHORT: Budget = Budget {
        max_len: 72,
        max_depth: 8,
    };
}

/// Renders one msgpack value as JSON, in wire order.
///
/// Values JSON cannot hold are spelled as in the golden vectors: `bin` as
/// `{"__bytes_hex__": "…"}`, ext as `{"__ext_type__": t, "__ext_hex__": "…"}`,
/// non-string map keys as the string of their JSON form, non-finite floats
/// as the strings `"NaN"`, `"Infinity"` and `"-Infinity"`. Strings that are
/// not UTF-8 are shown with replacement characters. Malformed input never
/// panics; it ends the output with `<malformed>`.
pub(crate) fn render_json(buf: &[u8], budget: Budget, out: &mut String) {
    let mut r = Reader::new(buf);
    let mut renderer = Renderer { budget, out };
    if let Err(Stop::Malformed) = renderer.value(&mut r, 0) {
        renderer.out.push_str("<malformed>");
    }
}

struct Renderer<'o> {
    budget: Budget,
    out: &'o mut String,
}

/// Why the renderer stopped early.
enum Stop {
    /// The output reached its length budget; the `…` is written.
    Budget,
    /// The input is not well-formed msgpack.
    Malformed,
}

impl Renderer<'_> {
    fn check_len(&mut self) -> Result<(), Stop> {
        if self.out.len() > self.budget.max_len {
            self.out.push('…');
            return Err(Stop::Budget);
        }
        Ok(())
    }

    fn value(&mut self, r: &mut Reader<'_>, depth: usize) -> Result<(), Stop> {
        self.check_len()?;
        let kind = r.peek_kind().map_err(|_| Stop::Malformed)?;
        match kind {
            Kind::Nil => {
                r.read_nil();
                self.out.push_str("null");
            }
            Kind::Bool => {
                let v = r.read_bool().map_err(|_| Stop::Malformed)?;
                self.out.push_str(if v { "true" } else { "false" });
            }
            Kind::Int => match r.read_int().map_err(|_| Stop::Malformed)? {
                Int::Unsigned(v) => self.push_display(v),
                Int::Signed(v) => self.push_display(v),
            },
            Kind::Float => {
                let raw = r.skip().map_err(|_| Stop::Malformed)?;
                let v = match raw.len() {
                    5 => f64::from(f32::from_be_bytes([raw[1], raw[2], raw[3], raw[4]])),
                    _ => f64::from_be_bytes(raw[1..9].try_into().map_err(|_| Stop::Malformed)?),
                };
                if v.is_nan() {
                    self.out.push_str("\"NaN\"");
                } else if v.is_infinite() {
                    self.out.push_str(if v > 0.0 {
                        "\"Infinity\""
                    } else {
                        "\"-Infinity\""
                    });
                } else {
                    // `{:?}` keeps the fraction of whole numbers (`3.0`).
                    use fmt::Write;
                    let _ = write!(self.out, "{v:?}");
                }
            }
            Kind::Str => {
                let (bytes, _) = r.read_str_bytes().map_err(|_| Stop::Malformed)?;
                self.push_json_str(&String::from_utf8_lossy(bytes))?;
            }
            Kind::Bin => {
                let raw = r.skip().map_err(|_| Stop::Malformed)?;
                let header = match raw[0] {
                    0xc4 => 2,
                    0xc5 => 3,
                    _ => 5,
                };
                self.out.push_str("{\"__bytes_hex__\": \"");
                self.push_hex(&raw[header..])?;
                self.out.push_str("\"}");
            }
            Kind::Ext => {
                let raw = r.skip().map_err(|_| Stop::Malformed)?;
                let header = match raw[0] {
                    0xc7 => 2,
                    0xc8 => 3,
                    0xc9 => 5,
                    _ => 1,
                };
                let ty = raw[header] as i8;
                self.out.push_str("{\"__ext_type__\": ");
                self.push_display(ty);
                self.out.push_str(", \"__ext_hex__\": \"");
                self.push_hex(&raw[header + 1..])?;
                self.out.push_str("\"}");
            }
            Kind::Array => {
                let n = r.read_array_len().map_err(|_| Stop::Malformed)?;
                if depth >= self.budget.max_depth {
                    self.out.push_str("\"[…]\"");
                    for _ in 0..n {
                        r.skip().map_err(|_| Stop::Malformed)?;
                    }
                    return Ok(());
                }
                self.out.push('[');
                for i in 0..n {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.value(r, depth + 1)?;
                }
                self.out.push(']');
            }
            Kind::Map => {
                let n = r.read_map_len().map_err(|_| Stop::Malformed)?;
                if depth >= self.budget.max_depth {
                    self.out.push_str("\"{…}\"");
                    for _ in 0..2 * n {
                        r.skip().map_err(|_| Stop::Malformed)?;
                    }
                    return Ok(());
                }
                self.out.push('{');
                for i in 0..n {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    if r.peek_kind().map_err(|_| Stop::Malformed)? == Kind::Str {
                        self.value(r, depth + 1)?;
                    } else {
                        // A key JSON cannot hold is shown as the string of
                        // its own JSON form, kept short and flat: quoting
                        // nested keys level by level would double the
                        // output at each level.
                        let key = r.skip().map_err(|_| Stop::Malformed)?;
                        let mut text = String::new();
                        render_json(key, Budget::KEY, &mut text);
                        self.push_json_str(&text)?;
                    }
                    self.out.push_str(": ");
                    self.value(r, depth + 1)?;
                }
                self.out.push('}');
            }
            Kind::Reserved => return Err(Stop::Malformed),
        }
        Ok(())
    }

    fn push_display(&mut self, v: impl fmt::Display) {
        use fmt::Write;
        let _ = write!(self.out, "{v}");
    }

    fn push_hex(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for b in bytes {
            self.out.push(HEX[usize::from(b >> 4)] as char);
            self.out.push(HEX[usize::from(b & 0x0f)] as char);
            if self.out.len() > self.budget.max_len {
                self.out.push('…');
                return Err(Stop::Budget);
            }
        }
        Ok(())
    }

    fn push_json_str(&mut self, s: &str) -> Result<(), Stop> {
        self.out.push('"');
        for c in s.chars() {
            match c {
                '"' => self.out.push_str("\\\""),
                '\\' => self.out.push_str("\\\\"),
                '\n' => self.out.push_str("\\n"),
                '\r' => self.out.push_str("\\r"),
                '\t' => self.out.push_str("\\t"),
                // C0, DEL and C1 controls, so that no terminal acts on them.
                c if c.is_control() => {
                    use fmt::Write;
                    let _ = write!(self.out, "\\u{:04x}", u32::from(c));
                }
                c => self.out.push(c),
            }
            if self.out.len() > self.budget.max_len {
                self.out.push('…');
                return Err(Stop::Budget);
            }
        }
        self.out.push('"');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(buf: &[u8]) -> String {
        let mut s = String::new();
        render_json(buf, Budget::FULL, &mut s);
        s
    }

    #[test]
    fn smallest_integer_forms() {
        // Unsigned forms as written; signed forms as msgspec writes them.
        let cases: &[(i64, &[u8])] = &[
            (0, &[0x00]),
            (127, &[0x7f]),
            (128, &[0xcc, 0x80]),
            (255, &[0xcc, 0xff]),
            (256, &[0xcd, 0x01, 0x00]),
            (65536, &[0xce, 0x00, 0x01, 0x00, 0x00]),
            (1 << 32, &[0xcf, 0, 0, 0, 1, 0, 0, 0, 0]),
            (-1, &[0xff]),
            (-32, &[0xe0]),
            (-33, &[0xd0, 0xdf]),
            (-129, &[0xd1, 0xff, 0x7f]),
            (-32769, &[0xd2, 0xff, 0xff, 0x7f, 0xff]),
        ];
        for (v, bytes) in cases {
            if let Ok(u) = u64::try_from(*v) {
                let mut out = Vec::new();
                write_uint(&mut out, u);
                assert_eq!(&out, bytes, "{v}");
            }
            let back = match Reader::new(bytes).read_int().unwrap() {
                Int::Unsigned(u) => i64::try_from(u).unwrap(),
                Int::Signed(i) => i,
            };
            assert_eq!(back, *v);
        }
    }

    #[test]
    fn string_headers_switch_at_msgspec_boundaries() {
        for (n, header) in [
            (31usize, vec![0xbf]),
            (32, vec![0xd9, 32]),
            (256, vec![0xda, 1, 0]),
        ] {
            let s = "x".repeat(n);
            let mut out = Vec::new();
            write_str(&mut out, &s);
            assert_eq!(&out[..header.len()], &header[..], "len {n}");
            assert_eq!(Reader::new(&out).read_str().unwrap(), s);
        }
    }

    #[test]
    fn skip_refuses_containers_larger_than_the_input() {
        // An array announcing 2^32-1 items, with nothing after it.
        let hostile = [0xdd, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            Reader::new(&hostile).skip(),
            Err(Broken::Truncated { offset: 0 })
        );
        let hostile_map = [0x91, 0xdf, 0xff, 0xff, 0xff, 0xff, 0x00];
        assert_eq!(
            Reader::new(&hostile_map).skip(),
            Err(Broken::Truncated { offset: 1 })
        );
    }

    #[test]
    fn skip_handles_deep_nesting_without_recursion() {
        let mut deep = vec![0x91; 1_000_000];
        deep.push(0xc0);
        assert_eq!(Reader::new(&deep).skip().map(<[u8]>::len), Ok(deep.len()));
        // The renderer elides instead of recursing that far, and the output
        // stays JSON.
        let text = json(&deep);
        assert!(text.contains("\"[…]\""));
        serde_json::from_str::<serde_json::Value>(&text).unwrap();
    }

    #[test]
    fn reserved_marker_is_rejected() {
        assert_eq!(
            Reader::new(&[0x92, 0x01, 0xc1]).skip(),
            Err(Broken::Reserved { offset: 2 })
        );
        assert_eq!(json(&[0x92, 0x01, 0xc1]), "[1, <malformed>");
    }

    #[test]
    fn renders_json_like_the_vectors() {
        // {"a": [1, {"b": [2, 3]}], "c": {"d": b"x"}, 1: -1.5, "e": nil}
        let buf = [
            0x84, 0xa1, b'a', 0x92, 0x01, 0x81, 0xa1, b'b', 0x92, 0x02, 0x03, 0xa1, b'c', 0x81,
            0xa1, b'd', 0xc4, 0x01, b'x', 0x01, 0xcb, 0xbf, 0xf8, 0, 0, 0, 0, 0, 0, 0xa1, b'e',
            0xc0,
        ];
        assert_eq!(
            json(&buf),
            r#"{"a": [1, {"b": [2, 3]}], "c": {"d": {"__bytes_hex__": "78"}}, "1": -1.5, "e": null}"#
        );
    }

    #[test]
    fn nested_non_string_keys_render_in_bounded_space() {
        // {{{…{1: nil}: nil}…: nil}: nil}, 40 levels of maps used as keys:
        // quoting each level inside the next would double the output 40
        // times over.
        let mut buf = vec![0x81; 40];
        buf.push(0x01);
        buf.extend(std::iter::repeat_n(0xc0, 40));
        let text = json(&buf);
        assert!(text.len() < 200, "{} bytes: {text}", text.len());
        assert_eq!(text, r#"{"\"{…}\"": null}"#);
        // Scalar keys keep their value.
        assert_eq!(
            json(&[0x82, 0x01, 0xc3, 0xc2, 0xc0]),
            r#"{"1": true, "false": null}"#
        );
    }

    #[test]
    fn short_budget_truncates() {
        let mut out = Vec::new();
        write_str(&mut out, &"y".repeat(500));
        let mut s = String::new();
        render_json(&out, Budget::SHORT, &mut s);
        assert!(s.len() < 100, "{s}");
        assert!(s.ends_with('…'));
    }
}
