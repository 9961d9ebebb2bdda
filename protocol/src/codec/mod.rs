//! Encoding and decoding of message bodies (spec/PROTOCOL.md §1.2).
//!
//! Encoding writes what msgspec writes for tractor's tagged structs: a map,
//! `msg_type` first, then every field in declaration order, defaults
//! included; smallest integer and string forms; nil for `None`.
//!
//! Decoding accepts what msgspec accepts: keys in any order, unknown keys
//! ignored, defaults for absent optional fields. It rejects, each with its
//! own [`DecodeError`]: a truncated body, a non-map body, a missing or
//! unknown `msg_type`, a missing required field, a value of the wrong type
//! or out of range, a string that is not UTF-8, and bytes after the message.
//! It also rejects a repeated key, where msgspec keeps the last value: no
//! encoder writes one, and refusing it means no two readers of a frame can
//! disagree on its content. Payload fields are only checked to be one
//! well-formed value and are kept as [`Raw`] slices of the body.

use bytes::{BufMut, Bytes, BytesMut};

mod payload;

use payload::{
    RETURN_PREFIX, STARTED_PREFIX, YIELD_PREFIX, decode_payload, decode_payload_slice,
    write_payload_frame,
};
pub(crate) use payload::{write_yield_frame, yield_parts};

use crate::addr::Address;
use crate::error::{DecodeError, EncodeError};
use crate::frame::HEADER_LEN;
use crate::msg::hex;
use crate::msg::{
    Aid, AuthStep, CancelAck, DEFAULT_PLD_SPEC, Error, ErrorFields, FuncType, Msg, MsgType, Return,
    SpawnSpec, Start, StartAck, Started, Stop, Yield,
};
use crate::msgpack::{
    self, Budget, Int, Kind, ReadError, Reader, write_array_len, write_bool, write_map_len,
    write_nil, write_str, write_uint,
};
use crate::raw::Raw;
use crate::uid::Uid;

/// Field names of each message, in wire order after `msg_type`.
fn fields_of(t: MsgType) -> &'static [&'static str] {
    match t {
        // `credit_flow` is our extension, written only when set.
        MsgType::Aid => &[
            "name",
            "uuid",
            "pid",
            "is_registrar",
            "is_probe",
            "credit_flow",
            "auth_nonce",
            "auth_proof",
        ],
        MsgType::SpawnSpec => &[
            "_parent_main_data",
            "_runtime_vars",
            "enable_modules",
            "reg_addrs",
            "bind_addrs",
        ],
        MsgType::Start => &["cid", "ns", "func", "kwargs", "uid", "pld_spec"],
        MsgType::StartAck => &["cid", "functype"],
        MsgType::Started | MsgType::Yield | MsgType::Return | MsgType::CancelAck => &["cid", "pld"],
        MsgType::Stop => &["cid"],
        MsgType::Credit => &["cid", "n"],
        MsgType::Error => &[
            "src_uid",
            "src_type_str",
            "boxed_type_str",
            "relay_path",
            "message",
            "tb_str",
            "canceller",
            "sender",
            "cid",
            "_bad_msg",
            "_bad_msg_as_dict",
            // Our extension, written only when set.
            "error_fields",
        ],
    }
}

const MAX_FIELDS: usize = 12;

impl Msg {
    /// Decodes one message body, sharing `body`'s buffer for payloads.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use tractor_protocol::{DecodeError, Msg, MsgType};
    ///
    /// // {"msg_type": "Stop", "cid": "c1"}
    /// let body = Bytes::from_static(b"\x82\xa8msg_type\xa4Stop\xa3cid\xa2c1");
    /// let msg = Msg::decode(body)?;
    /// assert_eq!(msg.msg_type(), MsgType::Stop);
    /// assert_eq!(msg.cid(), Some("c1"));
    ///
    /// // The same map without its cid.
    /// let bad = Bytes::from_static(b"\x81\xa8msg_type\xa4Stop");
    /// assert!(matches!(
    ///     Msg::decode(bad),
    ///     Err(DecodeError::MissingField { msg_type: MsgType::Stop, field: "cid", .. })
    /// ));
    /// # Ok::<(), DecodeError>(())
    /// ```
    pub fn decode(body: Bytes) -> Result<Msg, DecodeError> {
        match decode_payload(body) {
            Ok(msg) => Ok(msg),
            Err(body) => decode_general(&body, Some(&body)),
        }
    }

    /// Decodes one message body, copying payloads out of `body`.
    pub fn decode_slice(body: &[u8]) -> Result<Msg, DecodeError> {
        match decode_payload_slice(body) {
            Some(msg) => Ok(msg),
            None => decode_general(body, None),
        }
    }

    /// Appends the message body to `out`.
    ///
    /// Nothing is appended if the message is refused.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        self.encode_sized(out).map(drop)
    }

    /// [`Msg::encode`], returning the body length, which fits a frame header.
    fn encode_sized(&self, out: &mut BytesMut) -> Result<u32, EncodeError> {
        self.check()?;
        let start = out.len();
        self.write(out);
        let len = out.len() - start;
        u32::try_from(len).map_err(|_| {
            out.truncate(start);
            EncodeError::TooLarge {
                msg_type: self.msg_type(),
                len,
            }
        })
    }

    /// Appends one frame, the 4-byte little-endian body length then the
    /// body, to `out`.
    ///
    /// Call it once per message on the same buffer to batch many frames
    /// into one write. Nothing is appended if the message is refused.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use tractor_protocol::{Msg, Stop};
    ///
    /// let mut out = BytesMut::new();
    /// Msg::from(Stop { cid: "c1".into() }).encode_frame(&mut out)?;
    /// assert_eq!(&out[..], b"\x16\x00\x00\x00\x82\xa8msg_type\xa4Stop\xa3cid\xa2c1");
    /// # Ok::<(), tractor_protocol::EncodeError>(())
    /// ```
    pub fn encode_frame(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        if let Some((prefix, cid, pld)) = self.payload_parts()
            && write_payload_frame(out, prefix, cid, pld)
        {
            return Ok(());
        }
        let start = out.len();
        out.put_u32_le(0);
        match self.encode_sized(out) {
            Ok(len) => {
                out[start..start + HEADER_LEN].copy_from_slice(&len.to_le_bytes());
                Ok(())
            }
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }

    /// A message of the dialog's payload stream (`Started`, `Yield`,
    /// `Return`): the bytes its body starts with, its cid and its payload.
    fn payload_parts(&self) -> Option<(&'static [u8], &str, &Raw)> {
        match self {
            Msg::Yield(Yield { cid, pld }) => Some((YIELD_PREFIX, cid, pld)),
            Msg::Started(Started { cid, pld }) => Some((STARTED_PREFIX, cid, pld)),
            Msg::Return(Return { cid, pld }) => Some((RETURN_PREFIX, cid, pld)),
            _ => None,
        }
    }

    /// The message as JSON text: every field in wire order, payloads
    /// decoded generically (the wire inspector's output).
    pub fn to_json(&self) -> String {
        let mut body = BytesMut::new();
        self.write(&mut body);
        let mut s = String::new();
        msgpack::render_json(&body, Budget::FULL, &mut s);
        s
    }

    /// Refuses what a peer would reject, before anything is written.
    fn check(&self) -> Result<(), EncodeError> {
        let must_be_map = |field: &'static str, raw: &Raw| {
            if raw.kind() == Kind::Map {
                Ok(())
            } else {
                Err(EncodeError::NotAMap {
                    msg_type: self.msg_type(),
                    field,
                    found: raw.kind(),
                })
            }
        };
        match self {
            Msg::SpawnSpec(m) => {
                must_be_map("_parent_main_data", &m.parent_main_data)?;
                must_be_map("_runtime_vars", &m.runtime_vars)
            }
            Msg::Start(m) => must_be_map("kwargs", &m.kwargs),
            Msg::Error(m) => {
                if let Some(raw) = &m.bad_msg {
                    must_be_map("_bad_msg", raw)?;
                }
                if let Some(raw) = &m.bad_msg_as_dict {
                    must_be_map("_bad_msg_as_dict", raw)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn write(&self, out: &mut impl BufMut) {
        let t = self.msg_type();
        // `credit_flow`, `auth_nonce` and `auth_proof` are our extensions,
        // written only when set (and at most one of the last two).
        let absent = match self {
            Msg::Aid(a) => {
                usize::from(a.credit_flow.is_none()) + if a.auth.is_some() { 1 } else { 2 }
            }
            // `error_fields` is ours too.
            Msg::Error(e) => usize::from(e.fields.is_none()),
            _ => 0,
        };
        write_map_len(out, 1 + fields_of(t).len() - absent);
        write_str(out, "msg_type");
        write_str(out, t.as_str());
        match self {
            Msg::Aid(m) => {
                write_str(out, "name");
                write_str(out, &m.name);
                write_str(out, "uuid");
                write_str(out, &m.uuid);
                write_str(out, "pid");
                match m.pid {
                    Some(pid) => write_uint(out, u64::from(pid)),
                    None => write_nil(out),
                }
                write_str(out, "is_registrar");
                match m.is_registrar {
                    Some(b) => write_bool(out, b),
                    None => write_nil(out),
                }
                write_str(out, "is_probe");
                write_bool(out, m.is_probe);
                if let Some(v) = m.credit_flow {
                    write_str(out, "credit_flow");
                    write_uint(out, u64::from(v));
                }
                match &m.auth {
                    Some(AuthStep::Hello { nonce }) => {
                        write_str(out, "auth_nonce");
                        write_str(out, &hex(nonce));
                    }
                    Some(AuthStep::Proof { mac }) => {
                        write_str(out, "auth_proof");
                        write_str(out, &hex(mac));
                    }
                    None => {}
                }
            }
            Msg::Credit(m) => {
                write_str(out, "cid");
                write_str(out, &m.cid);
                write_str(out, "n");
                write_uint(out, u64::from(m.n));
            }
            Msg::SpawnSpec(m) => {
                write_str(out, "_parent_main_data");
                out.put_slice(m.parent_main_data.as_bytes());
                write_str(out, "_runtime_vars");
                out.put_slice(m.runtime_vars.as_bytes());
                write_str(out, "enable_modules");
                write_map_len(out, m.enable_modules.len());
                for (name, path) in &m.enable_modules {
                    write_str(out, name);
                    write_str(out, path);
                }
                write_str(out, "reg_addrs");
                write_addrs(out, &m.reg_addrs);
                write_str(out, "bind_addrs");
                match &m.bind_addrs {
                    Some(a) => write_addrs(out, a),
                    None => write_nil(out),
                }
            }
            Msg::Start(m) => {
                write_str(out, "cid");
                write_str(out, &m.cid);
                write_str(out, "ns");
                write_str(out, &m.ns);
                write_str(out, "func");
                write_str(out, &m.func);
                write_str(out, "kwargs");
                out.put_slice(m.kwargs.as_bytes());
                write_str(out, "uid");
                write_uid(out, &m.uid);
                write_str(out, "pld_spec");
                write_str(out, &m.pld_spec);
            }
            Msg::StartAck(m) => {
                write_str(out, "cid");
                write_str(out, &m.cid);
                write_str(out, "functype");
                write_str(out, m.functype.as_str());
            }
            Msg::Started(Started { cid, pld })
            | Msg::Yield(Yield { cid, pld })
            | Msg::Return(Return { cid, pld }) => {
                write_str(out, "cid");
                write_str(out, cid);
                write_str(out, "pld");
                out.put_slice(pld.as_bytes());
            }
            Msg::Stop(m) => {
                write_str(out, "cid");
                write_str(out, &m.cid);
            }
            Msg::CancelAck(m) => {
                write_str(out, "cid");
                write_str(out, &m.cid);
                write_str(out, "pld");
                write_bool(out, m.pld);
            }
            Msg::Error(m) => {
                write_str(out, "src_uid");
                write_uid(out, &m.src_uid);
                write_str(out, "src_type_str");
                write_str(out, &m.src_type_str);
                write_str(out, "boxed_type_str");
                write_str(out, &m.boxed_type_str);
                write_str(out, "relay_path");
                write_array_len(out, m.relay_path.len());
                for uid in &m.relay_path {
                    write_uid(out, uid);
                }
                write_str(out, "message");
                write_opt_str(out, m.message.as_deref());
                write_str(out, "tb_str");
                write_str(out, &m.tb_str);
                write_str(out, "canceller");
                write_opt_uid(out, m.canceller.as_ref());
                write_str(out, "sender");
                write_opt_uid(out, m.sender.as_ref());
                write_str(out, "cid");
                write_opt_str(out, m.cid.as_deref());
                write_str(out, "_bad_msg");
                write_opt_raw(out, m.bad_msg.as_ref());
                write_str(out, "_bad_msg_as_dict");
                write_opt_raw(out, m.bad_msg_as_dict.as_ref());
                if let Some(f) = &m.fields {
                    write_str(out, "error_fields");
                    write_array_len(out, 2);
                    write_str(out, &f.type_name);
                    out.put_slice(f.value.as_bytes());
                }
            }
        }
    }
}

fn write_uid(out: &mut impl BufMut, uid: &Uid) {
    write_array_len(out, 2);
    write_str(out, &uid.name);
    write_str(out, &uid.uuid);
}

fn write_opt_uid(out: &mut impl BufMut, uid: Option<&Uid>) {
    match uid {
        Some(uid) => write_uid(out, uid),
        None => write_nil(out),
    }
}

fn write_opt_str(out: &mut impl BufMut, s: Option<&str>) {
    match s {
        Some(s) => write_str(out, s),
        None => write_nil(out),
    }
}

fn write_opt_raw(out: &mut impl BufMut, raw: Option<&Raw>) {
    match raw {
        Some(raw) => out.put_slice(raw.as_bytes()),
        None => write_nil(out),
    }
}

fn write_addrs(out: &mut impl BufMut, addrs: &[Address]) {
    write_array_len(out, addrs.len());
    for addr in addrs {
        write_array_len(out, 2);
        match addr {
            Address::Tcp { host, port } => {
                write_str(out, host);
                write_uint(out, u64::from(*port));
            }
            Address::Uds { dir, file } => {
                write_str(out, dir);
                write_str(out, file);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Decoding.

/// Where one field's value starts in the body.
type Slot = usize;

/// Panics if the payload messages' short way reads `body` otherwise than
/// the general way: as `body`, and as the rest of a `Yield` after its
/// constant prefix (which arbitrary bytes seldom start with).
#[cfg(any(test, fuzzing))]
pub(crate) fn short_way_agrees(body: &[u8]) {
    let mut prefixed = YIELD_PREFIX.to_vec();
    prefixed.extend_from_slice(body);
    for body in [Bytes::copy_from_slice(body), Bytes::from(prefixed)] {
        let general = decode_general(&body, Some(&body));
        let copied = decode_payload_slice(&body);
        assert_eq!(
            decode_payload(body.clone()).ok(),
            copied,
            "the short way read {body:?} otherwise in place and copied"
        );
        if let Some(short) = copied {
            assert_eq!(
                Ok(short),
                general,
                "the short way decoded {body:?} otherwise"
            );
        }
        if let Some((cid, start)) = yield_parts(&body) {
            let pld = Raw::from_checked(body.slice(start..));
            assert_eq!(
                Ok(Msg::Yield(Yield::new(cid.to_owned(), pld))),
                general,
                "a stream item read in place otherwise than decoded: {body:?}"
            );
        }
        if let Ok(msg) = &general {
            // What the general way reads, either way writes back alike.
            let mut short = BytesMut::new();
            let mut long = BytesMut::new();
            if msg.encode_frame(&mut short).is_ok() && msg.encode(&mut long).is_ok() {
                assert_eq!(&short[HEADER_LEN..], &long[..], "{msg:?} written otherwise");
            }
        }
    }
}

/// Decodes one body, without the payload messages' short way; payloads
/// share `shared` when given.
fn decode_general(body: &[u8], shared: Option<&Bytes>) -> Result<Msg, DecodeError> {
    let len = body.len();
    let mut r = Reader::new(body);
    let n = match r.read_map_len() {
        Ok(n) => n,
        Err(ReadError::WrongKind { found, .. }) => {
            // Say "not a map" only of a value that is whole; a broken body
            // is reported as broken.
            r.skip().map_err(|b| DecodeError::broken(b, len))?;
            return Err(DecodeError::NotAMap { found });
        }
        // A header that runs past the end; reported as such.
        Err(e) => return Err(key_error(e, None, len)),
    };
    let entries = r.pos();
    let msg_type = find_tag(&mut r, n, len)?;

    // Check the whole map and note where each known field starts.
    let names = fields_of(msg_type);
    let mut slots: [Option<Slot>; MAX_FIELDS] = [None; MAX_FIELDS];
    let mut duplicate = None;
    let mut tag_seen = false;
    let mut r = Reader::at(body, entries);
    for _ in 0..n {
        let key = r
            .read_str()
            .map_err(|e| key_error(e, Some(msg_type), len))?;
        let slot = r.pos();
        r.skip().map_err(|b| DecodeError::broken(b, len))?;
        if key == "msg_type" {
            if tag_seen {
                duplicate = duplicate.or(Some("msg_type"));
            }
            tag_seen = true;
        } else if let Some(i) = names.iter().position(|f| *f == key) {
            if slots[i].is_some() {
                duplicate = duplicate.or(Some(names[i]));
            }
            slots[i] = Some(slot);
        }
        // Unknown keys are ignored, as msgspec ignores them.
    }
    if !r.is_empty() {
        return Err(DecodeError::TrailingBytes {
            offset: r.pos(),
            len,
        });
    }

    let mut d = Decoder {
        body,
        shared,
        msg_type,
        cid: None,
    };
    // The cid first, so that every later error can name the dialog; a
    // repeated cid names none.
    if duplicate != Some("cid")
        && let Some(i) = names.iter().position(|f| *f == "cid")
        && let Some(slot) = slots[i]
    {
        d.cid = d.opt(Some(slot), "cid", Decoder::str)?;
    }
    if let Some(field) = duplicate {
        // msgspec lets the last one win; an ambiguous message is refused
        // here instead, so no two readers can see different values.
        return Err(DecodeError::DuplicateField {
            msg_type,
            field,
            cid: d.cid,
        });
    }
    d.fields(&slots)
}

/// Finds the `msg_type` entry. It comes first from every known encoder, so
/// this usually reads one key.
fn find_tag(r: &mut Reader<'_>, n: usize, len: usize) -> Result<MsgType, DecodeError> {
    for _ in 0..n {
        let key = r.read_str().map_err(|e| key_error(e, None, len))?;
        if key != "msg_type" {
            r.skip().map_err(|b| DecodeError::broken(b, len))?;
            continue;
        }
        let offset = r.pos();
        let name = r.read_str().map_err(|e| match e {
            ReadError::WrongKind { found, .. } => DecodeError::WrongType {
                msg_type: None,
                field: "msg_type",
                expected: "str",
                found,
                cid: None,
                offset,
            },
            ReadError::InvalidUtf8 { offset } => DecodeError::InvalidUtf8 {
                msg_type: None,
                field: Some("msg_type"),
                offset,
            },
            ReadError::Broken(b) => DecodeError::broken(b, len),
        })?;
        return MsgType::from_name(name).ok_or_else(|| DecodeError::UnknownMsgType {
            name: name.to_owned(),
        });
    }
    Err(DecodeError::MissingMsgType)
}

/// Maps an error met while reading a map key, which must be a UTF-8 string.
fn key_error(e: ReadError, msg_type: Option<MsgType>, len: usize) -> DecodeError {
    match e {
        ReadError::WrongKind { offset, found } => DecodeError::NonStrKey { offset, found },
        ReadError::InvalidUtf8 { offset } => DecodeError::InvalidUtf8 {
            msg_type,
            field: None,
            offset,
        },
        ReadError::Broken(b) => DecodeError::broken(b, len),
    }
}

/// Reads the fields of one message whose type and structure are known good.
struct Decoder<'a> {
    body: &'a [u8],
    /// The body as shared bytes, when payloads may borrow it.
    shared: Option<&'a Bytes>,
    msg_type: MsgType,
    cid: Option<String>,
}

impl<'a> Decoder<'a> {
    fn fields(&self, slots: &[Option<Slot>; MAX_FIELDS]) -> Result<Msg, DecodeError> {
        let field = |i: usize| slots[i];
        Ok(match self.msg_type {
            MsgType::Aid => Msg::from(Aid {
                name: self.req(field(0), "name", Self::str)?,
                uuid: self.req(field(1), "uuid", Self::str)?,
                pid: self.opt(field(2), "pid", Self::pid)?,
                is_registrar: self.opt(field(3), "is_registrar", Self::bool)?,
                is_probe: self
                    .dflt(field(4), "is_probe", Self::bool)?
                    .unwrap_or(false),
                credit_flow: self.opt(field(5), "credit_flow", Self::pid)?,
                auth: match (
                    self.opt(field(6), "auth_nonce", Self::bytes32)?,
                    self.opt(field(7), "auth_proof", Self::bytes32)?,
                ) {
                    (None, None) => None,
                    (Some(nonce), None) => Some(AuthStep::Hello { nonce }),
                    (None, Some(mac)) => Some(AuthStep::Proof { mac }),
                    (Some(_), Some(_)) => {
                        return Err(self.invalid(
                            "auth_proof",
                            "an Aid carries `auth_nonce` or `auth_proof`, not both".to_owned(),
                        ));
                    }
                },
            }),
            MsgType::SpawnSpec => Msg::from(SpawnSpec {
                parent_main_data: self.req(field(0), "_parent_main_data", Self::raw_map)?,
                runtime_vars: self.req(field(1), "_runtime_vars", Self::raw_map)?,
                enable_modules: self.req(field(2), "enable_modules", Self::str_map)?,
                reg_addrs: self.req(field(3), "reg_addrs", Self::addrs)?,
                bind_addrs: self.opt(field(4), "bind_addrs", Self::addrs)?,
            }),
            MsgType::Start => Msg::from(Start {
                cid: self.req_cid(field(0))?,
                ns: self.req(field(1), "ns", Self::str)?,
                func: self.req(field(2), "func", Self::str)?,
                kwargs: self.req(field(3), "kwargs", Self::raw_map)?,
                uid: self.req(field(4), "uid", Self::uid)?,
                pld_spec: self
                    .dflt(field(5), "pld_spec", Self::str)?
                    .unwrap_or_else(|| DEFAULT_PLD_SPEC.to_owned()),
            }),
            MsgType::StartAck => Msg::StartAck(StartAck {
                cid: self.req_cid(field(0))?,
                functype: self.req(field(1), "functype", Self::functype)?,
            }),
            MsgType::Started => Msg::Started(Started {
                cid: self.req_cid(field(0))?,
                pld: self.req(field(1), "pld", Self::raw)?,
            }),
            MsgType::Yield => Msg::Yield(Yield {
                cid: self.req_cid(field(0))?,
                pld: self.req(field(1), "pld", Self::raw)?,
            }),
            MsgType::Return => Msg::Return(Return {
                cid: self.req_cid(field(0))?,
                pld: self.req(field(1), "pld", Self::raw)?,
            }),
            MsgType::Credit => Msg::Credit(crate::msg::Credit {
                cid: self.req_cid(field(0))?,
                n: self.req(field(1), "n", Self::pid)?,
            }),
            MsgType::Stop => Msg::Stop(Stop {
                cid: self.req_cid(field(0))?,
            }),
            MsgType::CancelAck => Msg::CancelAck(CancelAck {
                cid: self.req_cid(field(0))?,
                pld: self.req(field(1), "pld", Self::bool)?,
            }),
            MsgType::Error => Msg::from(Error {
                src_uid: self.req(field(0), "src_uid", Self::uid)?,
                src_type_str: self.req(field(1), "src_type_str", Self::str)?,
                boxed_type_str: self.req(field(2), "boxed_type_str", Self::str)?,
                relay_path: self.req(field(3), "relay_path", Self::uids)?,
                message: self.opt(field(4), "message", Self::str)?,
                tb_str: self
                    .dflt(field(5), "tb_str", Self::str)?
                    .unwrap_or_default(),
                canceller: self.opt(field(6), "canceller", Self::uid)?,
                sender: self.opt(field(7), "sender", Self::uid)?,
                cid: self.cid.clone(),
                bad_msg: self.opt(field(9), "_bad_msg", Self::raw_map)?,
                bad_msg_as_dict: self.opt(field(10), "_bad_msg_as_dict", Self::raw_map)?,
                fields: self
                    .opt(field(11), "error_fields", Self::error_fields)?
                    .map(Box::new),
            }),
        })
    }

    /// A required field.
    fn req<T>(
        &self,
        slot: Option<Slot>,
        field: &'static str,
        read: fn(&Self, &mut Reader<'a>, &'static str) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        let slot = slot.ok_or_else(|| DecodeError::MissingField {
            msg_type: self.msg_type,
            field,
            cid: self.cid.clone(),
        })?;
        read(self, &mut Reader::at(self.body, slot), field)
    }

    /// A field with a default: `None` when absent; nil is not allowed.
    fn dflt<T>(
        &self,
        slot: Option<Slot>,
        field: &'static str,
        read: fn(&Self, &mut Reader<'a>, &'static str) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        slot.map(|slot| read(self, &mut Reader::at(self.body, slot), field))
            .transpose()
    }

    /// A field that may be absent or nil; both give `None`.
    fn opt<T>(
        &self,
        slot: Option<Slot>,
        field: &'static str,
        read: fn(&Self, &mut Reader<'a>, &'static str) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        let Some(slot) = slot else { return Ok(None) };
        let mut r = Reader::at(self.body, slot);
        if r.read_nil() {
            return Ok(None);
        }
        read(self, &mut r, field).map(Some)
    }

    fn req_cid(&self, slot: Option<Slot>) -> Result<String, DecodeError> {
        // Already read and kept in `self.cid`; nil is not a valid cid here.
        match (&self.cid, slot) {
            (Some(cid), _) => Ok(cid.clone()),
            (None, None) => Err(DecodeError::MissingField {
                msg_type: self.msg_type,
                field: "cid",
                cid: None,
            }),
            (None, Some(slot)) => self.req(Some(slot), "cid", Self::str),
        }
    }

    fn fail(&self, field: &'static str, expected: &'static str, e: ReadError) -> DecodeError {
        match e {
            ReadError::WrongKind { offset, found } => DecodeError::WrongType {
                msg_type: Some(self.msg_type),
                field,
                expected,
                found,
                cid: self.cid.clone(),
                offset,
            },
            ReadError::InvalidUtf8 { offset } => DecodeError::InvalidUtf8 {
                msg_type: Some(self.msg_type),
                field: Some(field),
                offset,
            },
            // Unreachable after the map pass walked every value, but mapped
            // all the same.
            ReadError::Broken(b) => DecodeError::broken(b, self.body.len()),
        }
    }

    fn invalid(&self, field: &'static str, reason: String) -> DecodeError {
        DecodeError::InvalidValue {
            msg_type: self.msg_type,
            field,
            reason,
            cid: self.cid.clone(),
        }
    }

    fn str(&self, r: &mut Reader<'a>, field: &'static str) -> Result<String, DecodeError> {
        r.read_str()
            .map(str::to_owned)
            .map_err(|e| self.fail(field, "str", e))
    }

    /// 32 bytes written as 64 hex digits (the authentication extension's
    /// nonces and proofs).
    fn bytes32(&self, r: &mut Reader<'a>, field: &'static str) -> Result<[u8; 32], DecodeError> {
        let s = r.read_str().map_err(|e| self.fail(field, "str", e))?;
        crate::msg::unhex32(s)
            .ok_or_else(|| self.invalid(field, "expected 64 hex digits".to_owned()))
    }

    fn bool(&self, r: &mut Reader<'a>, field: &'static str) -> Result<bool, DecodeError> {
        r.read_bool().map_err(|e| self.fail(field, "bool", e))
    }

    fn pid(&self, r: &mut Reader<'a>, field: &'static str) -> Result<u32, DecodeError> {
        let v = r.read_int().map_err(|e| self.fail(field, "int", e))?;
        match v {
            Int::Unsigned(u) => u32::try_from(u).ok(),
            Int::Signed(_) => None,
        }
        .ok_or_else(|| self.invalid(field, format!("{} is not a process id", show_int(v))))
    }

    fn functype(&self, r: &mut Reader<'a>, field: &'static str) -> Result<FuncType, DecodeError> {
        let s = r.read_str().map_err(|e| self.fail(field, "str", e))?;
        FuncType::from_name(s).ok_or_else(|| {
            self.invalid(
                field,
                format!(
                    "unknown functype {s:?}, expected \"asyncfunc\", \"asyncgen\" or \"context\""
                ),
            )
        })
    }

    fn raw(&self, r: &mut Reader<'a>, _field: &'static str) -> Result<Raw, DecodeError> {
        let start = r.pos();
        r.skip()
            .map_err(|b| DecodeError::broken(b, self.body.len()))?;
        let end = r.pos();
        Ok(Raw::from_checked(match self.shared {
            Some(b) => b.slice(start..end),
            None => Bytes::copy_from_slice(&self.body[start..end]),
        }))
    }

    fn raw_map(&self, r: &mut Reader<'a>, field: &'static str) -> Result<Raw, DecodeError> {
        let kind = r
            .peek_kind()
            .map_err(|b| self.fail(field, "map", b.into()))?;
        if kind != Kind::Map {
            return Err(self.fail(
                field,
                "map",
                ReadError::WrongKind {
                    offset: r.pos(),
                    found: kind,
                },
            ));
        }
        self.raw(r, field)
    }

    /// `[type_name, value]`.
    fn error_fields(
        &self,
        r: &mut Reader<'a>,
        field: &'static str,
    ) -> Result<ErrorFields, DecodeError> {
        const EXPECTED: &str = "a [type name, value] pair";
        let n = self.array_len(r, field, EXPECTED)?;
        if n != 2 {
            return Err(self.invalid(field, format!("expected {EXPECTED}, found an array of {n}")));
        }
        Ok(ErrorFields {
            type_name: self.str(r, field)?,
            value: self.raw(r, field)?,
        })
    }

    fn array_len(
        &self,
        r: &mut Reader<'a>,
        field: &'static str,
        expected: &'static str,
    ) -> Result<usize, DecodeError> {
        r.read_array_len()
            .map_err(|e| self.fail(field, expected, e))
    }

    fn uid(&self, r: &mut Reader<'a>, field: &'static str) -> Result<Uid, DecodeError> {
        const EXPECTED: &str = "a [name, uuid] pair of str";
        let n = self.array_len(r, field, EXPECTED)?;
        if n != 2 {
            return Err(self.invalid(field, format!("expected {EXPECTED}, found an array of {n}")));
        }
        Ok(Uid {
            name: self.str(r, field)?,
            uuid: self.str(r, field)?,
        })
    }

    fn uids(&self, r: &mut Reader<'a>, field: &'static str) -> Result<Vec<Uid>, DecodeError> {
        let n = self.array_len(r, field, "an array of uids")?;
        let mut out = Vec::with_capacity(capacity(n));
        for _ in 0..n {
            out.push(self.uid(r, field)?);
        }
        Ok(out)
    }

    fn addr(&self, r: &mut Reader<'a>, field: &'static str) -> Result<Address, DecodeError> {
        const EXPECTED: &str = "an address, [host, port] or [dir, file]";
        let n = self.array_len(r, field, EXPECTED)?;
        if n != 2 {
            return Err(self.invalid(field, format!("expected {EXPECTED}, found an array of {n}")));
        }
        let first = self.str(r, field)?;
        match r
            .peek_kind()
            .map_err(|b| self.fail(field, "int or str", b.into()))?
        {
            Kind::Str => Ok(Address::Uds {
                dir: first,
                file: self.str(r, field)?,
            }),
            Kind::Int => {
                let v = r.read_int().map_err(|e| self.fail(field, "int", e))?;
                let port = match v {
                    Int::Unsigned(u) => u16::try_from(u).ok(),
                    Int::Signed(_) => None,
                }
                .ok_or_else(|| {
                    self.invalid(field, format!("port {} is out of range", show_int(v)))
                })?;
                Ok(Address::Tcp { host: first, port })
            }
            found => Err(self.fail(
                field,
                "a port (int) or a socket file name (str)",
                ReadError::WrongKind {
                    offset: r.pos(),
                    found,
                },
            )),
        }
    }

    fn addrs(&self, r: &mut Reader<'a>, field: &'static str) -> Result<Vec<Address>, DecodeError> {
        let n = self.array_len(r, field, "an array of addresses")?;
        let mut out = Vec::with_capacity(capacity(n));
        for _ in 0..n {
            out.push(self.addr(r, field)?);
        }
        Ok(out)
    }

    fn str_map(
        &self,
        r: &mut Reader<'a>,
        field: &'static str,
    ) -> Result<Vec<(String, String)>, DecodeError> {
        let n = r
            .read_map_len()
            .map_err(|e| self.fail(field, "a map of str to str", e))?;
        let mut out = Vec::with_capacity(capacity(n));
        for _ in 0..n {
            out.push((self.str(r, field)?, self.str(r, field)?));
        }
        Ok(out)
    }
}

/// Room to reserve for `n` announced items.
///
/// Never trusted beyond a few: a `Uid` takes 48 bytes in memory and 3 on the
/// wire, so reserving what a header announces would let a frame of nils cost
/// 16 times its size before the first item fails. Past this the vector grows
/// with the items that really decode.
fn capacity(n: usize) -> usize {
    n.min(16)
}

fn show_int(v: Int) -> String {
    match v {
        Int::Unsigned(u) => u.to_string(),
        Int::Signed(i) => i.to_string(),
    }
}
