//! Access to the golden vectors recorded from Python tractor.
//!
//! They live in the repository's `spec/vectors` (or, to try other
//! recordings, in `$TRACTOR_VECTORS_DIR`) and are read at test time, so
//! that new vectors are picked up as they are added.

#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

pub fn vectors_dir() -> PathBuf {
    let dir = match std::env::var_os("TRACTOR_VECTORS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors"),
    };
    assert!(
        dir.join("msgs.json").is_file(),
        "golden vectors not found in {}: the repository's spec/vectors, or \
         $TRACTOR_VECTORS_DIR when set",
        dir.display()
    );
    dir
}

fn read_json(name: &str) -> Value {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

pub fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// One entry of `msgs.json`.
pub struct Vector {
    pub name: String,
    pub msg_type: String,
    pub fields: Value,
    pub body: Vec<u8>,
    pub frame: Vec<u8>,
}

pub fn msg_vectors() -> Vec<Vector> {
    let Value::Array(entries) = read_json("msgs.json") else {
        panic!("msgs.json is not an array");
    };
    entries
        .into_iter()
        .map(|v| Vector {
            name: v["name"].as_str().expect("name").to_owned(),
            msg_type: v["msg_type"].as_str().expect("msg_type").to_owned(),
            fields: v["fields"].clone(),
            body: hex(v["msgpack_hex"].as_str().expect("msgpack_hex")),
            frame: hex(v["frame_hex"].as_str().expect("frame_hex")),
        })
        .collect()
}

pub fn vector(name: &str) -> Vector {
    msg_vectors()
        .into_iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no vector named {name}"))
}

/// One frame sent in a recorded conversation.
pub struct WireFrame {
    pub seq: u64,
    pub t_ms: f64,
    pub actor: String,
    pub peer: String,
    pub conn: String,
    pub msg_type: String,
    pub msg: Value,
    pub frame: Vec<u8>,
}

pub struct Transcript {
    pub scenario: String,
    pub wire: Vec<WireFrame>,
    /// (name, uuid, pid) of every actor.
    pub actors: Vec<(String, String, u32)>,
    /// The registrar's address, as recorded.
    pub registrar_addr: Value,
}

/// The transcript of one scenario.
pub fn transcript(scenario: &str) -> Transcript {
    transcripts()
        .into_iter()
        .find(|t| t.scenario == scenario)
        .unwrap_or_else(|| panic!("no transcript for {scenario}"))
}

pub fn transcripts() -> Vec<Transcript> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(vectors_dir())
        .expect("listing the vectors")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("transcript-") && n.ends_with(".json"))
        })
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            let t = read_json(&name);
            let wire = t["wire"]
                .as_array()
                .unwrap_or_else(|| panic!("{name}: no wire array"))
                .iter()
                .map(|w| WireFrame {
                    seq: w["seq"].as_u64().expect("seq"),
                    t_ms: w["t_ms"].as_f64().unwrap_or(0.0),
                    actor: w["actor"].as_str().expect("actor").to_owned(),
                    peer: w["peer"].as_str().expect("peer").to_owned(),
                    conn: w["conn"].as_str().expect("conn").to_owned(),
                    msg_type: w["msg_type"].as_str().expect("msg_type").to_owned(),
                    msg: w["msg"].clone(),
                    frame: hex(w["frame_hex"].as_str().expect("frame_hex")),
                })
                .collect();
            let actors = t["actors"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|x| {
                            (
                                x["name"].as_str().unwrap().to_owned(),
                                x["uuid"].as_str().unwrap().to_owned(),
                                x["pid"].as_u64().unwrap() as u32,
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            Transcript {
                scenario: t["scenario"].as_str().unwrap_or(&name).to_owned(),
                wire,
                actors,
                registrar_addr: t["registrar_addr"].clone(),
            }
        })
        .collect()
}

/// Hand-built msgpack, for bodies no correct encoder would produce.
pub mod mp {
    use serde::Serialize;

    /// Any scalar or sequence, as rmp-serde encodes it.
    pub fn val(v: impl Serialize) -> Vec<u8> {
        rmp_serde::to_vec(&v).expect("encodes")
    }

    /// A map with these entries, in this order, duplicates allowed.
    pub fn map(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        assert!(entries.len() < 16);
        let mut out = vec![0x80 | entries.len() as u8];
        for (k, v) in entries {
            out.extend_from_slice(k);
            out.extend_from_slice(v);
        }
        out
    }

    /// A map with string keys.
    pub fn obj(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let entries: Vec<_> = entries.iter().map(|(k, v)| (val(k), v.clone())).collect();
        map(&entries)
    }
}
