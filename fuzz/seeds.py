#!/usr/bin/env python3
"""Writes the fuzz seed corpus from the golden vectors.

The vectors recorded from Python tractor are the best starting points: real
frames of every message type. They are read from the repository's
spec/vectors (or $TRACTOR_VECTORS_DIR) and written under
fuzz/corpus/<target>/, which git ignores, so no copy of them is committed.
"""

import hashlib
import json
import os
import pathlib
import sys

here = pathlib.Path(__file__).resolve().parent
vectors = pathlib.Path(
    os.environ.get("TRACTOR_VECTORS_DIR", here.parent / "spec" / "vectors")
)
if not (vectors / "msgs.json").is_file():
    sys.exit(f"seeds.py: no golden vectors in {vectors}")


def write(target: str, data: bytes) -> None:
    out = here / "corpus" / target
    out.mkdir(parents=True, exist_ok=True)
    (out / hashlib.sha1(data).hexdigest()).write_bytes(data)


count = 0
for v in json.loads((vectors / "msgs.json").read_text()):
    write("msg_decode", bytes.fromhex(v["msgpack_hex"]))
    # frame_decoder's first byte picks chunk sizes and the frame limit.
    write("frame_decoder", b"\x01" + bytes.fromhex(v["frame_hex"]))
    count += 1

for path in sorted(vectors.glob("transcript-*.json")):
    wire = json.loads(path.read_text())["wire"]
    frames = [bytes.fromhex(w["frame_hex"]) for w in wire]
    for frame in frames:
        write("msg_decode", frame[4:])
    stream = b"".join(frames)
    for knob in (b"\x00", b"\x2a", b"\x80"):
        write("frame_decoder", knob + stream)
    count += len(frames)

# dialogs: programs for `tractor_protocol::fuzzing::dialogs` (its module
# docs give the format: one opcode byte, `% 8`, then the step's own bytes).
# Each program replays what one actor of a recorded conversation received
# on one connection: opcode 0 opens a channel whose peer handshake is built
# in (the next bytes: not a probe; credits, or Python's flow without them),
# then opcode 2 delivers the recorded frames after that handshake as raw
# data (a channel pick, a length of at most 64, the bytes), then opcode 3
# lets time pass so that timers fire.
CHUNK = 64


def program(frames: list[bytes], credits: bool) -> bytes:
    out = bytearray([0, 0, 0 if credits else 1])
    stream = b"".join(frames)
    for i in range(0, len(stream), CHUNK):
        piece = stream[i : i + CHUNK]
        out += bytes([2, 0, len(piece)]) + piece
    out += bytes([3, 0xFF])
    return bytes(out)


for path in sorted(vectors.glob("transcript-*.json")):
    wire = json.loads(path.read_text())["wire"]
    received: dict[tuple[str, str], list[bytes]] = {}
    for w in wire:
        if w["msg_type"] != "Aid":
            key = (w["conn"], w["peer"])
            received.setdefault(key, []).append(bytes.fromhex(w["frame_hex"]))
    for frames in received.values():
        for credits in (False, True):
            write("dialogs", program(frames, credits))
            count += 1

# handshake: programs for `tractor_protocol::fuzzing::handshake` (its module
# docs give the format: a mode byte, a nonce-key byte, then one opcode byte,
# `% 6`, per step). These reach each path of the authentication: a channel
# accepted and proved, one connected and proved, a wrong proof, a replayed
# proof, a plain Aid to a strict actor and to an open one, no secret at all,
# a connector that goes after the acceptor's opening without proving (the
# acceptor proves only after the connector), and recorded frames delivered
# raw where a handshake step is due.
HANDSHAKES = [
    [0, 1, 0, 3, 0, 0, 5, 6, 3, 0, 1, 3, 0, 6, 0],
    [0, 1, 1, 3, 0, 0, 7, 8, 3, 0, 1, 3, 0, 6, 0],
    [0, 1, 0, 3, 0, 0, 5, 6, 3, 0, 2, 9, 3, 0, 6, 0],
    [0, 1, 0, 3, 0, 0, 5, 6, 3, 0, 1, 0, 3, 1, 0, 5, 6, 3, 1, 3, 1],
    [0, 1, 0, 3, 0, 0, 5, 6, 3, 0, 4, 4, 255],
    [0, 2, 0, 3, 0, 6, 0, 4, 255],
    [1, 2, 0, 3, 0, 6, 0, 5, 0, 0],
    [2, 3, 0, 3, 0, 0, 5, 6, 1, 3, 1, 6, 0],
    [0, 1, 0, 3, 0, 0, 5, 6, 5, 0, 0],
]
for program in HANDSHAKES:
    write("handshake", bytes(program))
    count += 1
for path in sorted(vectors.glob("transcript-*.json")):
    wire = json.loads(path.read_text())["wire"]
    stream = b"".join(bytes.fromhex(w["frame_hex"]) for w in wire)[:CHUNK]
    for mode in (0, 1, 2):
        write("handshake", bytes([mode, 4, 0, 2, 0, len(stream)]) + stream)
        count += 1

print(f"seeds.py: {count} seeds from {vectors}")
