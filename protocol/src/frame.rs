//! Length-prefixed framing (spec/PROTOCOL.md §1.1).
//!
//! A frame is a 4-byte little-endian body length followed by the body, one
//! msgpack message. Python tractor puts no bound on the length; we do, and
//! check it as soon as the 4 length bytes are in, before the body arrives
//! and before anything is sized from it.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::DecodeError;
use crate::msg::Msg;

/// The largest body [`FrameDecoder`] accepts unless told otherwise: 64 MiB.
///
/// Far above any message tractor itself sends (a `SpawnSpec` is well under
/// a kilobyte) and above typical application payloads, while keeping a
/// misbehaving peer from making us hold gigabytes per connection. Raise it
/// with [`FrameDecoder::with_max_frame_len`] for peers that ship large
/// arrays; the wire format allows up to 4 GiB.
pub const DEFAULT_MAX_FRAME_LEN: u32 = 64 * 1024 * 1024;

/// Length of the frame header.
pub const HEADER_LEN: usize = 4;

/// A byte stream that cannot be split into frames.
///
/// After one of these the stream position is lost: the connection must be
/// closed. The decoder consumes nothing on error, so asking again gives the
/// same error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The header announces an empty body, which no encoder produces.
    #[error("frame at stream offset {offset} announces an empty body")]
    Empty {
        /// Stream offset of the frame's header.
        offset: u64,
    },
    /// The header announces a body over the configured limit.
    #[error("frame at stream offset {offset} announces {len} bytes, over the limit of {max}")]
    TooLarge {
        /// Stream offset of the frame's header.
        offset: u64,
        /// Announced body length.
        len: u32,
        /// The decoder's limit.
        max: u32,
    },
    /// The stream ended inside a frame.
    #[error("stream ended inside the frame at offset {offset}: {have} of {need} bytes arrived")]
    UnexpectedEof {
        /// Stream offset of the frame's header.
        offset: u64,
        /// Bytes of the frame (header included) that arrived.
        have: usize,
        /// Bytes the frame needs (header included), or 4 while the header
        /// itself is incomplete.
        need: usize,
    },
}

/// One frame's body, with where it started in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Stream offset of the frame's header: how many bytes came before it.
    pub offset: u64,
    /// The body, one encoded message.
    pub body: Bytes,
}

impl Frame {
    /// Decodes the body. Payloads share the frame's buffer.
    ///
    /// A failure here spoils only this message, not the stream: the next
    /// frame can still be read.
    pub fn msg(&self) -> Result<Msg, DecodeError> {
        Msg::decode(self.body.clone())
    }

    /// [`Frame::msg`], consuming the frame: a stream item's payload then
    /// takes the body over without counting one more user of the buffer.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use tractor_protocol::{FrameDecoder, Msg, Raw, Yield};
    ///
    /// let mut buf = BytesMut::new();
    /// Msg::Yield(Yield::new("c1", Raw::encode(&7u8)?)).encode_frame(&mut buf)?;
    /// let frame = FrameDecoder::new().decode(&mut buf)?.expect("a whole frame");
    /// let Msg::Yield(item) = frame.into_msg()? else { panic!("a Yield") };
    /// assert_eq!((item.cid.as_str(), item.pld.decode::<u8>()?), ("c1", 7));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_msg(self) -> Result<Msg, DecodeError> {
        Msg::decode(self.body)
    }
}

/// Splits a byte stream into frames.
///
/// Feed it the connection's read buffer after every read: each call returns
/// at most one frame and removes it from the buffer, handling partial reads
/// and many frames per read alike. It never reserves memory: the caller's
/// buffer grows as bytes arrive, and [`FrameDecoder::bytes_needed`] says how
/// many more the current frame wants.
///
/// ```
/// use bytes::BytesMut;
/// use tractor_protocol::{FrameDecoder, Msg, Stop};
///
/// let mut wire = BytesMut::new();
/// for cid in ["a", "b"] {
///     Msg::from(Stop { cid: cid.into() }).encode_frame(&mut wire)?;
/// }
///
/// let mut decoder = FrameDecoder::new();
/// let mut buf = BytesMut::new();
/// let mut cids = Vec::new();
/// // Bytes arrive one at a time.
/// for byte in wire.iter() {
///     buf.extend_from_slice(&[*byte]);
///     while let Some(frame) = decoder.decode(&mut buf)? {
///         cids.push(frame.msg()?.cid().unwrap().to_owned());
///     }
/// }
/// decoder.finish(&buf)?;
/// assert_eq!(cids, ["a", "b"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_frame_len: u32,
    offset: u64,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new()
    }
}

impl FrameDecoder {
    /// A decoder with the [`DEFAULT_MAX_FRAME_LEN`] limit.
    pub fn new() -> Self {
        FrameDecoder::with_max_frame_len(DEFAULT_MAX_FRAME_LEN)
    }

    /// A decoder that refuses bodies longer than `max` bytes.
    pub fn with_max_frame_len(max: u32) -> Self {
        FrameDecoder {
            max_frame_len: max,
            offset: 0,
        }
    }

    /// The body length limit.
    pub fn max_frame_len(&self) -> u32 {
        self.max_frame_len
    }

    /// Stream offset of the next frame: the bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Takes the next complete frame off the front of `buf`.
    ///
    /// Call after every read, and again while it returns a frame. `Ok(None)`
    /// means more bytes are needed. An error means the stream is unusable.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let Some(len) = self.check_header(buf)? else {
            return Ok(None);
        };
        // `check_header` saw the header, so the subtraction cannot wrap;
        // `HEADER_LEN + len` could, on 32-bit targets with a 4 GiB limit.
        if buf.len() - HEADER_LEN < len {
            return Ok(None);
        }
        buf.advance(HEADER_LEN);
        let body = buf.split_to(len).freeze();
        let frame = Frame {
            offset: self.offset,
            body,
        };
        self.offset += HEADER_LEN as u64 + len as u64;
        Ok(Some(frame))
    }

    /// How many more bytes complete the frame at the front of `buf`: 0 when
    /// one is complete (or the header is invalid), at least 1 otherwise.
    pub fn bytes_needed(&self, buf: &[u8]) -> usize {
        match self.check_header(buf) {
            Ok(Some(len)) => len.saturating_sub(buf.len() - HEADER_LEN),
            Ok(None) => HEADER_LEN - buf.len(),
            Err(_) => 0,
        }
    }

    /// Call when the stream has ended: fails if `buf` holds part of a frame.
    pub fn finish(&self, buf: &[u8]) -> Result<(), FrameError> {
        if buf.is_empty() {
            return Ok(());
        }
        let need = match self.check_header(buf)? {
            Some(len) => HEADER_LEN.saturating_add(len),
            None => HEADER_LEN,
        };
        Err(FrameError::UnexpectedEof {
            offset: self.offset,
            have: buf.len(),
            need,
        })
    }

    /// The announced body length, once the header is in and acceptable.
    fn check_header(&self, buf: &[u8]) -> Result<Option<usize>, FrameError> {
        let Some(header) = buf.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let len = u32::from_le_bytes(*header);
        if len == 0 {
            return Err(FrameError::Empty {
                offset: self.offset,
            });
        }
        if len > self.max_frame_len {
            return Err(FrameError::TooLarge {
                offset: self.offset,
                len,
                max: self.max_frame_len,
            });
        }
        Ok(Some(len as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_is_checked_on_the_header_alone() {
        let mut d = FrameDecoder::with_max_frame_len(10);
        let mut buf = BytesMut::from(&11u32.to_le_bytes()[..]);
        assert_eq!(
            d.decode(&mut buf),
            Err(FrameError::TooLarge {
                offset: 0,
                len: 11,
                max: 10
            })
        );
        // Nothing was consumed, nothing was reserved, and the error sticks.
        assert_eq!(buf.len(), 4);
        assert!(buf.capacity() < 11);
        assert!(d.decode(&mut buf).is_err());
    }

    #[test]
    fn zero_length_is_refused() {
        let mut buf = BytesMut::from(&[0u8, 0, 0, 0, 0x80][..]);
        assert_eq!(
            FrameDecoder::new().decode(&mut buf),
            Err(FrameError::Empty { offset: 0 })
        );
    }

    #[test]
    fn partial_header_and_body() {
        let mut d = FrameDecoder::new();
        let mut buf = BytesMut::from(&[2u8, 0][..]);
        assert_eq!(d.decode(&mut buf), Ok(None));
        assert_eq!(d.bytes_needed(&buf), 2);
        assert!(matches!(
            d.finish(&buf),
            Err(FrameError::UnexpectedEof {
                have: 2,
                need: 4,
                ..
            })
        ));
        buf.extend_from_slice(&[0, 0, 0xc0]);
        assert_eq!(d.decode(&mut buf), Ok(None));
        assert_eq!(d.bytes_needed(&buf), 1);
        assert!(matches!(
            d.finish(&buf),
            Err(FrameError::UnexpectedEof {
                have: 5,
                need: 6,
                ..
            })
        ));
        buf.extend_from_slice(&[0xc0, 1, 0, 0, 0, 0x80]);
        let first = d.decode(&mut buf).unwrap().unwrap();
        assert_eq!((first.offset, &first.body[..]), (0, &[0xc0, 0xc0][..]));
        let second = d.decode(&mut buf).unwrap().unwrap();
        assert_eq!((second.offset, &second.body[..]), (6, &[0x80][..]));
        assert_eq!(d.decode(&mut buf), Ok(None));
        assert_eq!(d.offset(), 11);
        assert_eq!(d.finish(&buf), Ok(()));
    }
}
