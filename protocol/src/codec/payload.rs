//! The payload messages' fast path. `Started`, `Yield` and `Return` are
//! most of the traffic, and every encoder writes them the same way: a map
//! of three, `msg_type` first, then `cid` and `pld`. Their bodies start
//! with one of these constant prefixes; what follows is the cid, the `pld`
//! key and the payload. Decoding takes the short way only when a body has
//! exactly that shape, and otherwise the general one, so both give the
//! same message or the same error.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::frame::HEADER_LEN;
use crate::msg::{Msg, MsgType, Return, Started, Yield};
use crate::msgpack::{Reader, write_str};
use crate::raw::Raw;

/// `{"msg_type": "Yield", "cid": ` as msgpack.
pub(super) const YIELD_PREFIX: &[u8] = b"\x83\xa8msg_type\xa5Yield\xa3cid";
/// `{"msg_type": "Started", "cid": ` as msgpack.
pub(super) const STARTED_PREFIX: &[u8] = b"\x83\xa8msg_type\xa7Started\xa3cid";
/// `{"msg_type": "Return", "cid": ` as msgpack.
pub(super) const RETURN_PREFIX: &[u8] = b"\x83\xa8msg_type\xa6Return\xa3cid";
/// The `pld` key.
const PLD_KEY: &[u8] = b"\xa3pld";

/// Appends the frame of a payload message, with one reservation and four
/// copies; false, having appended nothing, if the body is too large for a
/// frame (the general path then reports it).
pub(super) fn write_payload_frame(out: &mut BytesMut, prefix: &[u8], cid: &str, pld: &Raw) -> bool {
    let pld = pld.as_bytes();
    let cid_header = str_header_len(cid.len());
    let body = prefix.len() + cid_header + cid.len() + PLD_KEY.len() + pld.len();
    let Ok(len) = u32::try_from(body) else {
        return false;
    };
    out.reserve(HEADER_LEN + body);
    out.put_u32_le(len);
    out.put_slice(prefix);
    write_str(out, cid);
    out.put_slice(PLD_KEY);
    out.put_slice(pld);
    true
}

/// How many bytes the header of a string of `n` bytes takes.
fn str_header_len(n: usize) -> usize {
    match n {
        0..32 => 1,
        32..=0xff => 2,
        0x100..=0xffff => 3,
        _ => 5,
    }
}

/// Appends the frame of a `Yield` of `pld` on dialog `cid`: what encoding
/// `Msg::Yield` appends, without making the message.
pub(crate) fn write_yield_frame(out: &mut BytesMut, cid: &str, pld: &Raw) -> bool {
    write_payload_frame(out, YIELD_PREFIX, cid, pld)
}

/// A body that is a `Started`, `Yield` or `Return` of the canonical shape:
/// its type, its cid, and where its payload starts (it runs to the end of
/// the body, one well-formed value). `None` for any other body.
fn payload_parts(body: &[u8]) -> Option<(MsgType, &str, usize)> {
    let (kind, rest) = if let Some(rest) = body.strip_prefix(YIELD_PREFIX) {
        (MsgType::Yield, rest)
    } else if let Some(rest) = body.strip_prefix(STARTED_PREFIX) {
        (MsgType::Started, rest)
    } else {
        (MsgType::Return, body.strip_prefix(RETURN_PREFIX)?)
    };
    let mut r = Reader::at(body, body.len() - rest.len());
    let cid = r.read_str().ok()?;
    if !body[r.pos()..].starts_with(PLD_KEY) {
        return None;
    }
    let start = r.pos() + PLD_KEY.len();
    let mut r = Reader::at(body, start);
    r.skip().ok()?;
    if !r.is_empty() {
        return None;
    }
    Some((kind, cid, start))
}

/// A frame body that is a `Yield` of the canonical shape: its cid and
/// where its payload starts, without making the message. `None` for any
/// other body, which [`Msg::decode`] then reads as usual.
pub(crate) fn yield_parts(body: &[u8]) -> Option<(&str, usize)> {
    match payload_parts(body)? {
        (MsgType::Yield, cid, start) => Some((cid, start)),
        _ => None,
    }
}

/// Decodes a payload message of the canonical shape, its payload taking
/// over `body` (no copy, no count of the buffer's users); otherwise gives
/// `body` back to the general decoder, which also reports every error.
pub(super) fn decode_payload(body: Bytes) -> Result<Msg, Bytes> {
    let Some((kind, cid, start)) = payload_parts(&body) else {
        return Err(body);
    };
    let cid = cid.to_owned();
    let mut pld = body;
    pld.advance(start);
    Ok(payload_msg(kind, cid, Raw::from_checked(pld)))
}

/// [`decode_payload`] of a borrowed body: the payload is copied out.
pub(super) fn decode_payload_slice(body: &[u8]) -> Option<Msg> {
    let (kind, cid, start) = payload_parts(body)?;
    let pld = Raw::from_checked(Bytes::copy_from_slice(&body[start..]));
    Some(payload_msg(kind, cid.to_owned(), pld))
}

/// The payload message of type `kind`.
fn payload_msg(kind: MsgType, cid: String, pld: Raw) -> Msg {
    match kind {
        MsgType::Yield => Msg::Yield(Yield { cid, pld }),
        MsgType::Started => Msg::Started(Started { cid, pld }),
        _ => Msg::Return(Return { cid, pld }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Payload messages with cids of each string form and payloads of
    /// several kinds.
    fn samples() -> Vec<Msg> {
        let cids = [
            String::new(),
            "c".to_owned(),
            "70672312-e85f-481b-a665-657d13b30db1".to_owned(),
            "x".repeat(300),
        ];
        let plds = [
            Raw::NIL,
            Raw::encode(&7u8).unwrap(),
            Raw::encode(&u64::MAX).unwrap(),
            Raw::encode(&("a", [1, 2, 3], 2.5)).unwrap(),
            Raw::encode(&"é".repeat(100)).unwrap(),
        ];
        let mut out = Vec::new();
        for cid in &cids {
            for pld in &plds {
                let (cid, pld) = (cid.clone(), pld.clone());
                out.push(Msg::Yield(Yield::new(cid.clone(), pld.clone())));
                out.push(Msg::Started(Started {
                    cid: cid.clone(),
                    pld: pld.clone(),
                }));
                out.push(Msg::Return(Return { cid, pld }));
            }
        }
        out
    }

    #[test]
    fn the_short_way_writes_what_the_general_one_does() {
        for msg in samples() {
            let mut general = BytesMut::new();
            msg.encode(&mut general).unwrap();
            let mut fast = BytesMut::new();
            msg.encode_frame(&mut fast).unwrap();
            assert_eq!(&fast[..HEADER_LEN], &(general.len() as u32).to_le_bytes());
            assert_eq!(&fast[HEADER_LEN..], &general[..], "{msg:?}");
            if let Msg::Yield(y) = &msg {
                let mut only = BytesMut::new();
                assert!(write_yield_frame(&mut only, &y.cid, &y.pld));
                assert_eq!(only, fast);
            }
        }
    }

    #[test]
    fn the_short_way_reads_what_the_general_one_does() {
        // Every canonical body (cids of each string form), and every body
        // with one byte set to one of eight telling values, cut short, or
        // grown by a byte: the short way gives the general way's message,
        // or leaves the body to it.
        for msg in samples() {
            let mut body = BytesMut::new();
            msg.encode(&mut body).unwrap();
            let body = body.freeze();
            let mut variants = vec![body.to_vec()];
            for i in 0..body.len() {
                for b in [0x00, 0x7f, 0x80, 0xa0, 0xc0, 0xc1, 0xd9, 0xff] {
                    let mut v = body.to_vec();
                    v[i] = b;
                    variants.push(v);
                }
                variants.push(body[..i].to_vec());
            }
            let mut longer = body.to_vec();
            longer.push(0xc0);
            variants.push(longer);
            for v in variants {
                let v = Bytes::from(v);
                let general = super::super::decode_general(&v, Some(&v));
                assert_eq!(
                    decode_payload_slice(&v),
                    decode_payload(v.clone()).ok(),
                    "{v:?}"
                );
                match decode_payload(v.clone()) {
                    Ok(fast) => assert_eq!(Ok(fast), general, "{v:?}"),
                    Err(_) => assert!(
                        !matches!(
                            &general,
                            Ok(Msg::Yield(_) | Msg::Started(_) | Msg::Return(_))
                        ) || !v.starts_with(b"\x83\xa8msg_type"),
                        "left to the general way: {v:?} -> {general:?}"
                    ),
                }
                if let Some((cid, start)) = yield_parts(&v) {
                    let pld = Raw::from_checked(v.slice(start..));
                    assert_eq!(
                        general,
                        Ok(Msg::Yield(Yield::new(cid.to_owned(), pld))),
                        "{v:?}"
                    );
                }
            }
        }
    }
}
