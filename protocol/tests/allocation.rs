//! Hostile counts cost no memory beyond the frame that carries them.
//!
//! A counting allocator records the peak of live heap bytes while a message
//! is decoded. This file holds one test so that nothing else allocates on
//! another thread meanwhile.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use bytes::Bytes;
use tractor_protocol::{Msg, Raw, Uid};

use common::mp::{obj, val};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counters are only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), SeqCst) + layout.size();
        PEAK.fetch_max(live, SeqCst);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= layout.size() {
            let live = LIVE.fetch_add(new_size - layout.size(), SeqCst) + new_size - layout.size();
            PEAK.fetch_max(live, SeqCst);
        } else {
            LIVE.fetch_sub(layout.size() - new_size, SeqCst);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap bytes allocated at the peak of `f`, beyond what was live before.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.load(SeqCst);
    PEAK.store(before, SeqCst);
    let out = f();
    (out, PEAK.load(SeqCst) - before)
}

/// An array header announcing `n` items, followed by `n` copies of `item`.
fn array_of(n: u32, item: &[u8]) -> Vec<u8> {
    let mut out = vec![0xdd];
    out.extend_from_slice(&n.to_be_bytes());
    for _ in 0..n {
        out.extend_from_slice(item);
    }
    out
}

#[test]
fn hostile_counts_allocate_nothing_of_their_size() {
    const N: u32 = 1_000_000;
    let nils = array_of(N, &[0xc0]);

    // An Error whose relay path is a million nils (~1 MB): each item fails
    // to be a uid, and nothing may have been reserved for a million `Uid`s
    // (48 MB) before the first one did.
    let body = Bytes::from(obj(&[
        ("msg_type", val("Error")),
        ("src_uid", val(("a", "b"))),
        ("src_type_str", val("E")),
        ("boxed_type_str", val("E")),
        ("relay_path", nils.clone()),
    ]));
    let (result, peak) = peak_of(|| Msg::decode(body.clone()));
    assert!(result.is_err());
    assert!(
        peak < 16 * 1024,
        "decoding a refused relay path took {peak} bytes"
    );

    // The same for a SpawnSpec whose registrar list is a million nils.
    let body = Bytes::from(obj(&[
        ("msg_type", val("SpawnSpec")),
        ("_parent_main_data", obj(&[])),
        ("_runtime_vars", obj(&[])),
        ("enable_modules", obj(&[])),
        ("reg_addrs", nils.clone()),
        ("bind_addrs", val(())),
    ]));
    let (result, peak) = peak_of(|| Msg::decode(body.clone()));
    assert!(result.is_err());
    assert!(
        peak < 16 * 1024,
        "decoding refused addresses took {peak} bytes"
    );

    // A payload read as a list of uids: serde's cautious size hint bounds
    // the reservation to about a megabyte whatever the header says.
    let raw = Raw::from_msgpack(nils).unwrap();
    let (result, peak) = peak_of(|| raw.decode::<Vec<Uid>>());
    assert!(result.is_err());
    assert!(
        peak < 2 * 1024 * 1024,
        "a refused typed read took {peak} bytes"
    );

    // A valid message costs about its own size: the payload is not copied.
    let payload = array_of(N, &[0x01]);
    let body = Bytes::from(obj(&[
        ("msg_type", val("Yield")),
        ("cid", val("c")),
        ("pld", payload),
    ]));
    let (result, peak) = peak_of(|| Msg::decode(body.clone()));
    assert!(result.is_ok());
    assert!(peak < 1024, "decoding a 1 MB Yield took {peak} bytes");
}
