//! The wire inspector example, driven through its `run` function, on the
//! capture the repository ships and on broken input.

#[allow(dead_code)]
#[path = "../examples/wire.rs"]
mod wire;

mod common;

use tractor_protocol::DEFAULT_MAX_FRAME_LEN;

use wire::Mode;

const CAPTURE: &[u8] = include_bytes!("../examples/captures/ctx_stream.bin");

struct Outcome {
    clean: bool,
    stdout: Vec<u8>,
    stderr: String,
}

fn run(mode: Mode, input: &[u8]) -> Outcome {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let clean = wire::run(
        mode,
        DEFAULT_MAX_FRAME_LEN,
        &mut &input[..],
        &mut stdout,
        &mut stderr,
    )
    .expect("in-memory IO does not fail");
    Outcome {
        clean,
        stdout,
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

#[test]
fn decode_prints_one_json_object_per_message() {
    let out = run(Mode::Decode, CAPTURE);
    assert!(out.clean, "{}", out.stderr);
    assert!(out.stderr.is_empty());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    let types: Vec<&str> = lines
        .iter()
        .map(|l| l["msg_type"].as_str().unwrap())
        .collect();
    assert_eq!(types.len(), 27);
    assert_eq!(&types[..3], ["Aid", "Aid", "SpawnSpec"]);
    assert_eq!(types.iter().filter(|t| **t == "Yield").count(), 6);
    let started = lines.iter().find(|l| l["msg_type"] == "Started").unwrap();
    assert_eq!(started["pld"], serde_json::json!({"ready": 1}));
}

#[test]
fn roundtrip_writes_the_capture_back_byte_for_byte() {
    let out = run(Mode::Roundtrip, CAPTURE);
    assert!(out.clean, "{}", out.stderr);
    assert!(
        out.stdout == CAPTURE,
        "re-encoded frames differ from the capture"
    );
}

#[test]
fn every_transcript_survives_the_inspector() {
    for t in common::transcripts() {
        let stream: Vec<u8> = t.wire.iter().flat_map(|w| w.frame.clone()).collect();
        let out = run(Mode::Roundtrip, &stream);
        assert!(
            out.clean && out.stdout == stream,
            "{}: {}",
            t.scenario,
            out.stderr
        );
    }
}

#[test]
fn truncated_input_names_the_frame_offset() {
    // Cut inside the third frame.
    let first = u32::from_le_bytes(CAPTURE[..4].try_into().unwrap()) as usize + 4;
    let second = u32::from_le_bytes(CAPTURE[first..first + 4].try_into().unwrap()) as usize + 4;
    let third_at = first + second;
    let out = run(Mode::Decode, &CAPTURE[..third_at + 10]);
    assert!(!out.clean);
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 2);
    assert!(
        out.stderr.starts_with(&format!(
            "wire: stream ended inside the frame at offset {third_at}: 10 of "
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn a_malformed_message_is_reported_and_skipped() {
    let mut input = CAPTURE[..].to_vec();
    let junk_at = input.len();
    input.extend_from_slice(&[3, 0, 0, 0, 0x92, 0x01, 0x02]);
    input.extend_from_slice(
        &CAPTURE[..4 + u32::from_le_bytes(CAPTURE[..4].try_into().unwrap()) as usize],
    );
    let out = run(Mode::Decode, &input);
    assert!(!out.clean);
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 28);
    assert_eq!(
        out.stderr,
        format!("wire: frame at stream offset {junk_at}: message body is array, expected a map\n")
    );
}

#[test]
fn an_oversized_frame_stops_the_stream() {
    let out = run(Mode::Decode, &[0xff, 0xff, 0xff, 0xff, 0x00]);
    assert!(!out.clean);
    assert!(out.stdout.is_empty());
    assert_eq!(
        out.stderr,
        "wire: frame at stream offset 0 announces 4294967295 bytes, over the limit of 67108864\n"
    );
}

#[test]
fn arguments() {
    let args = |a: &[&str]| wire::parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(args(&["decode"]), Ok((Mode::Decode, DEFAULT_MAX_FRAME_LEN)));
    assert_eq!(
        args(&["roundtrip", "--max-frame-len", "9"]),
        Ok((Mode::Roundtrip, 9))
    );
    assert!(args(&[]).is_err());
    assert!(args(&["decode", "roundtrip"]).is_err());
    assert!(args(&["--max-frame-len", "x", "decode"]).is_err());
}
