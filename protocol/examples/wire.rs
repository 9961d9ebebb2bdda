//! Wire inspector: reads tractor frames from stdin.
//!
//! ```text
//! cargo run -p tractor-protocol --example wire -- decode    < frames.bin
//! cargo run -p tractor-protocol --example wire -- roundtrip < frames.bin > again.bin
//! ```
//!
//! `decode` prints one JSON object per message, every field in wire order,
//! payloads decoded generically (`bin` as `{"__bytes_hex__": "…"}`).
//! `roundtrip` decodes every frame and writes it back re-encoded; for frames
//! a Python or Rust tractor actor produced, the output equals the input.
//!
//! Input is read as a stream, so a live capture can be piped in. A message
//! that does not decode is reported with its frame's offset and skipped;
//! a stream that cannot be split into frames stops the tool. Either makes
//! the exit status 1. `--max-frame-len N` changes the frame size limit.

use std::io::{self, BufWriter, Read, Write};
use std::process::ExitCode;

use bytes::BytesMut;
use tractor_protocol::{DEFAULT_MAX_FRAME_LEN, FrameDecoder};

#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Mode {
    Decode,
    Roundtrip,
}

const USAGE: &str = "usage: wire <decode|roundtrip> [--max-frame-len BYTES] < frames.bin";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, max) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("wire: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut stderr = io::stderr().lock();
    match run(
        mode,
        max,
        &mut io::stdin().lock(),
        &mut io::stdout().lock(),
        &mut stderr,
    ) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            let _ = writeln!(stderr, "wire: {e}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn parse(args: &[String]) -> Result<(Mode, u32), String> {
    let mut mode = None;
    let mut max = DEFAULT_MAX_FRAME_LEN;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "decode" if mode.is_none() => mode = Some(Mode::Decode),
            "roundtrip" if mode.is_none() => mode = Some(Mode::Roundtrip),
            "--max-frame-len" => {
                let n = args.next().ok_or("--max-frame-len needs a value")?;
                max = n
                    .parse()
                    .map_err(|_| format!("bad --max-frame-len {n:?}"))?;
            }
            "-h" | "--help" => return Err("help".into()),
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    Ok((mode.ok_or("no mode given")?, max))
}

/// Processes the whole stream, reporting bad input to `errors`; `Ok(false)`
/// when there was some.
pub(crate) fn run(
    mode: Mode,
    max: u32,
    input: &mut impl Read,
    output: &mut impl Write,
    errors: &mut impl Write,
) -> io::Result<bool> {
    let mut out = BufWriter::new(output);
    let mut decoder = FrameDecoder::with_max_frame_len(max);
    let mut buf = BytesMut::new();
    let mut encoded = BytesMut::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut clean = true;
    loop {
        let n = match input.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        loop {
            let frame = match decoder.decode(&mut buf) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    out.flush()?;
                    writeln!(errors, "wire: {e}")?;
                    return Ok(false);
                }
            };
            let msg = match frame.msg() {
                Ok(msg) => msg,
                Err(e) => {
                    writeln!(errors, "wire: frame at stream offset {}: {e}", frame.offset)?;
                    clean = false;
                    continue;
                }
            };
            match mode {
                Mode::Decode => writeln!(out, "{}", msg.to_json())?,
                Mode::Roundtrip => {
                    encoded.clear();
                    msg.encode_frame(&mut encoded).map_err(io::Error::other)?;
                    out.write_all(&encoded)?;
                }
            }
        }
        // Keep a live capture's output current while waiting for input.
        out.flush()?;
    }
    out.flush()?;
    if let Err(e) = decoder.finish(&buf) {
        writeln!(errors, "wire: {e}")?;
        return Ok(false);
    }
    Ok(clean)
}
