//! Backtraces that an error path can afford.
//!
//! Rust's own `Backtrace` resolves every frame of the stack when it is
//! printed: the async runtime's, the standard library's, the C library's
//! (whose separate debug information a system may have installed). The
//! first time a process does so it reads most of the debug information of
//! every object involved, which costs tens of milliseconds in a release
//! build and most of a second, with ~90 MB of memory, in a debug build.
//! An actor that fails pays this on the path that cancels a tree.
//!
//! Here a [`Trace`] records only the stack's return addresses (a few
//! microseconds), and [`Trace::app_frames`] resolves, one by one from the
//! top, only as many frames as it takes to find the application's: it
//! skips tractor's and the standard library's own frames above them, keeps
//! the application's (dropping library glue between them), and stops at
//! the first frame where a runtime polls a task (the served function's
//! call, the root's body, a spawned task, the executor, a thread's start).
//! It never reaches the frames below, so it never loads what they need;
//! and it never resolves a frame outside the program's own code (the C
//! library's, where threads start), whose resolution could read a system
//! library's whole debug information. Each address is resolved once per
//! process.
//!
//! The `backtrace` crate serialises captures and resolutions behind one
//! lock: while a thread resolves for the first time (reading the debug
//! information; a few tens of milliseconds in a large debug build), a
//! capture on another thread waits for it. A panic while resolving (a bug
//! of the symbolisation crates) costs the frames, never the process: the
//! panic hook only captures, and resolution happens later, guarded.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

/// Frames recorded at most (from the top).
const MAX_DEPTH: usize = 128;
/// Frames resolved at most for one trace.
const MAX_RESOLVED: usize = 64;
/// Application frames shown at most.
const MAX_SHOWN: usize = 24;
/// Resolved addresses remembered at most (then the cache starts afresh).
const CACHE_LIMIT: usize = 8192;

/// Whether errors carry a backtrace: Rust's convention, read once, as the
/// standard library reads it (`RUST_LIB_BACKTRACE` first, then
/// `RUST_BACKTRACE`; `0` means no).
pub(crate) fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        let on = |v: std::ffi::OsString| v != "0";
        match std::env::var_os("RUST_LIB_BACKTRACE") {
            Some(v) => on(v),
            None => std::env::var_os("RUST_BACKTRACE").is_some_and(on),
        }
    })
}

/// A stack, as return addresses; nothing resolved yet.
#[derive(Clone, Default)]
pub(crate) struct Trace {
    ips: Box<[usize]>,
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Trace({} frames)", self.ips.len())
    }
}

impl Trace {
    /// The stack of the caller (see the module docs on waiting for
    /// another thread's resolution).
    #[inline(never)]
    pub(crate) fn capture() -> Trace {
        let mut ips = Vec::with_capacity(48);
        backtrace::trace(|frame| {
            ips.push(frame.ip() as usize);
            ips.len() < MAX_DEPTH
        });
        Trace { ips: ips.into() }
    }

    /// Whether nothing was recorded.
    pub(crate) fn is_empty(&self) -> bool {
        self.ips.is_empty()
    }

    /// The application's frames, innermost first (see the module docs);
    /// none if resolving them failed.
    pub(crate) fn app_frames(&self) -> Vec<Symbol> {
        std::panic::catch_unwind(|| {
            let mut symbols =
                own_frames(&self.ips, own_code()).flat_map(|ip| resolved(ip).to_vec());
            select(&mut symbols)
        })
        .unwrap_or_default()
    }
}

/// The addresses of `ips` to resolve, lazily: only those inside `own`
/// (this program's code, when known), at most [`MAX_RESOLVED`] of them.
/// The others are C code (a thread's start, the C library's call of
/// `main`, a callback's caller) or another shared object's: resolving
/// them may mean reading a system library's whole debug information, and
/// they are never the application's Rust frames. They are skipped, never
/// ending the walk by themselves: the boundaries do, by name.
fn own_frames<'a>(ips: &'a [usize], own: &'a [(usize, usize)]) -> impl Iterator<Item = usize> + 'a {
    ips.iter()
        .copied()
        .filter(move |&ip| own.is_empty() || own.iter().any(|&(lo, hi)| (lo..hi).contains(&ip)))
        .take(MAX_RESOLVED)
}

/// Where this program's own code is mapped (Linux, from
/// `/proc/self/maps`): the executable's code, and the code of the file
/// this crate was linked into if that is another (a shared object, or a
/// program started through the dynamic loader). Empty where that cannot
/// be told, which resolves every frame the walk reaches.
fn own_code() -> &'static [(usize, usize)] {
    static OWN: OnceLock<Vec<(usize, usize)>> = OnceLock::new();
    OWN.get_or_init(|| {
        let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
            return Vec::new();
        };
        let here = own_code as fn() -> &'static [(usize, usize)] as usize;
        let exe = std::fs::read_link("/proc/self/exe")
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ours = maps
            .lines()
            .filter_map(mapping)
            .find(|m| (m.lo..m.hi).contains(&here))
            .map(|m| m.path.to_owned())
            .unwrap_or_default();
        maps.lines()
            .filter_map(mapping)
            .filter(|m| m.code && !m.path.is_empty() && (m.path == exe || m.path == ours))
            .map(|m| (m.lo, m.hi))
            .collect()
    })
}

/// One line of `/proc/self/maps`: `start-end perms offset dev inode path`.
struct Mapping<'a> {
    lo: usize,
    hi: usize,
    code: bool,
    path: &'a str,
}

fn mapping(line: &str) -> Option<Mapping<'_>> {
    let mut fields = line.splitn(6, ' ');
    let (lo, hi) = fields.next()?.split_once('-')?;
    let perms = fields.next()?;
    let path = fields.nth(3).map_or("", str::trim_start);
    Some(Mapping {
        lo: usize::from_str_radix(lo, 16).ok()?,
        hi: usize::from_str_radix(hi, 16).ok()?,
        code: perms.contains('x'),
        path,
    })
}

/// One function of a frame (an inlined call gives several per frame).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Symbol {
    /// The demangled path, without its hash.
    pub(crate) name: String,
    /// Where, when the binary has line information.
    pub(crate) file: Option<String>,
    pub(crate) line: Option<u32>,
    pub(crate) column: Option<u32>,
}

impl Symbol {
    #[cfg(test)]
    pub(crate) fn named(name: &str) -> Symbol {
        Symbol {
            name: name.to_owned(),
            file: None,
            line: None,
            column: None,
        }
    }
}

/// What an address resolves to, resolved once per process.
fn resolved(ip: usize) -> Arc<[Symbol]> {
    static CACHE: OnceLock<Mutex<HashMap<usize, Arc<[Symbol]>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&ip) {
        return hit.clone();
    }
    let mut out = Vec::new();
    // A return address points after its call; `resolve` looks up the
    // byte before it, the call.
    backtrace::resolve(std::ptr::without_provenance_mut(ip), |s| {
        out.push(Symbol {
            name: s.name().map(|n| format!("{n:#}")).unwrap_or_default(),
            file: s.filename().map(short_path),
            line: s.lineno(),
            column: s.colno(),
        })
    });
    let out: Arc<[Symbol]> = out.into();
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= CACHE_LIMIT {
        cache.clear();
    }
    cache.insert(ip, out.clone());
    out
}

/// A source path, relative to the working directory when under it (as
/// Rust's own backtraces print it).
fn short_path(path: &std::path::Path) -> String {
    static CWD: OnceLock<Option<std::path::PathBuf>> = OnceLock::new();
    let cwd = CWD.get_or_init(|| std::env::current_dir().ok());
    match cwd.as_deref().and_then(|c| path.strip_prefix(c).ok()) {
        Some(rel) => format!("./{}", rel.display()),
        None => path.display().to_string(),
    }
}

/// What a frame is to the application.
#[derive(Debug, PartialEq, Eq)]
enum Class {
    /// The application's own code: shown.
    App,
    /// tractor's, the standard library's or another library's own code:
    /// not shown.
    Library,
    /// A place where a runtime polls a task or a thread starts: the
    /// application's frames end here.
    Boundary,
    /// Where the application's code was entered: one of tractor's frames
    /// where it polls a task of the application (a served call, the
    /// root's body, a spawned task), or a symbol without a path (C code
    /// such as `main`, or an unwinder linked in statically). The end once
    /// the application's frames have begun; above them, skipped.
    Driver,
}

/// Crates whose frames are not the application's.
const LIBRARIES: &[&str] = &[
    "std",
    "core",
    "alloc",
    "test",
    "backtrace",
    "tractor_driver",
    "tractor_protocol",
    "tractor_tokio",
    "tractor_smol",
    "tractor_adapters",
    "tokio",
    "futures",
    "futures_core",
    "futures_util",
    "futures_lite",
    "futures_executor",
    "futures_channel",
    "futures_task",
    "tokio_util",
    "tokio_stream",
    "async_std",
    "async_global_executor",
    "pin_project",
    "async_io",
    "async_executor",
    "async_task",
    "async_channel",
    "async_lock",
    "async_process",
    "async_signal",
    "blocking",
    "smol",
    "polling",
    "event_listener",
    "pin_project_lite",
    "tracing",
    "tracing_core",
    "tracing_subscriber",
    "serde",
    "rmp_serde",
    "__rustc",
];

/// Where runtimes poll tasks or threads begin.
const BOUNDARIES: &[&str] = &[
    "tokio::runtime::",
    "async_executor::",
    "async_task::",
    "async_io::driver::block_on",
    "futures_lite::future::block_on",
    "std::rt::",
    "std::sys::thread::",
    "std::sys::pal::",
    "std::sys::backtrace::__rust_begin_short_backtrace",
];

/// Where tractor polls the application's tasks: a served call (and every
/// task guarded against panics), the root's body, a spawned task. Other
/// frames of tractor's (a nursery's scope around its body, a portal's
/// call) lie between the application's and are skipped.
const DRIVERS: &[&str] = &[
    "tractor_driver::functions::",
    "tractor_driver::serve::",
    "tractor_driver::panic::",
    "tractor_driver::task_record::in_call",
    "tractor_driver::task_record::as_call",
    "tractor_driver::task_record::held_stop",
    "tractor_driver::entry::run_body",
    "tractor_driver::task::",
];

/// The code `service!` writes into the application's crate to serve its
/// methods: tractor's, wherever it is compiled.
const GENERATED: &[&str] = &[" as tractor_driver::service::Serve<"];

fn class(name: &str) -> Class {
    if GENERATED.iter().any(|g| name.contains(g)) {
        return Class::Driver;
    }
    let path = name.trim_start_matches('<');
    if BOUNDARIES.iter().any(|b| path.starts_with(b)) {
        return Class::Boundary;
    }
    if DRIVERS.iter().any(|d| path.starts_with(d)) {
        return Class::Driver;
    }
    let Some((krate, _)) = path.split_once("::") else {
        // A symbol without a path: C code (`main`, a thread's start, an
        // unwinder) or a runtime's own trampoline.
        return if name.is_empty() || name.starts_with("__rust") {
            Class::Library
        } else {
            Class::Driver
        };
    };
    let is_ident =
        !krate.is_empty() && krate.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !is_ident || LIBRARIES.contains(&krate) {
        Class::Library
    } else {
        Class::App
    }
}

/// The application's symbols of a stack, innermost first: those above its
/// first application frame are skipped whatever they are (the capture, the
/// error's construction, a panic's machinery and hook), then application
/// frames are kept and library frames skipped until a boundary.
fn select(symbols: &mut dyn Iterator<Item = Symbol>) -> Vec<Symbol> {
    let mut kept = Vec::new();
    for symbol in symbols {
        match class(&symbol.name) {
            Class::Boundary => break,
            Class::Driver if !kept.is_empty() => break,
            Class::App => {
                kept.push(symbol);
                if kept.len() == MAX_SHOWN {
                    break;
                }
            }
            Class::Driver | Class::Library => {}
        }
    }
    kept
}

/// Frames as Rust prints a backtrace, numbered from 0.
pub(crate) fn render(frames: &[Symbol]) -> String {
    let mut out = String::new();
    for (i, f) in frames.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = write!(out, "{i:>4}: {}", f.name);
        if let Some(file) = &f.file {
            let _ = write!(out, "\n             at {file}");
            if let Some(line) = f.line {
                let _ = write!(out, ":{line}");
                if let Some(col) = f.column {
                    let _ = write!(out, ":{col}");
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(stack: &[&str]) -> Vec<String> {
        select(&mut stack.iter().map(|n| Symbol::named(n)))
            .into_iter()
            .map(|s| s.name)
            .collect()
    }

    #[test]
    fn an_error_made_in_a_served_function_shows_its_frames_only() {
        let stack = [
            "backtrace::backtrace::trace",
            "tractor_driver::trace::Trace::capture",
            "tractor_driver::error::traceback",
            "<tractor_driver::error::Error as core::convert::From<E>>::from",
            "<core::result::Result<T,F> as core::ops::try_trait::FromResidual<core::result::Result<core::convert::Infallible,E>>>::from_residual",
            "my_app::parse",
            "my_app::square::{{closure}}",
            "<core::pin::Pin<P> as core::future::future::Future>::poll",
            "my_app::serve::{{closure}}",
            "tractor_driver::functions::Functions::rpc::{{closure}}",
            "tokio::runtime::task::raw::poll",
            "start_thread",
        ];
        assert_eq!(
            names(&stack),
            [
                "my_app::parse",
                "my_app::square::{{closure}}",
                "my_app::serve::{{closure}}"
            ]
        );
    }

    #[test]
    fn a_panic_skips_its_machinery_and_the_hook() {
        let stack = [
            "tractor_driver::trace::Trace::capture",
            "tractor_driver::error::traceback",
            "tractor_driver::panic::catch_panic::{{closure}}::{{closure}}",
            "std::panicking::panic_with_hook",
            "std::panicking::begin_panic_handler::{{closure}}",
            "std::sys::backtrace::__rust_end_short_backtrace",
            "__rustc::rust_begin_unwind",
            "core::panicking::panic_fmt",
            "my_app::boom",
            "tractor_driver::panic::catch_panic",
            "my_app::never_shown",
        ];
        assert_eq!(names(&stack), ["my_app::boom"]);
    }

    #[test]
    fn library_frames_between_the_applications_are_dropped() {
        // A portal call inside a nursery's body, inside the root's body:
        // the frames of the nursery's scope (in `handle` and `nursery`) lie
        // between the body and the code that opened the nursery.
        let stack = [
            "tractor_driver::payload::decode",
            "tractor_driver::portal::Portal::run::{{closure}}",
            "<tractor_driver::task_record::TracedFuture<F> as core::future::future::Future>::poll",
            "my_app::caller::{{closure}}",
            "tractor_driver::nursery::open_nursery::{{closure}}",
            "tractor_driver::handle::ActorHandle::open_nursery::{{closure}}",
            "<tractor_driver::task_record::TracedFuture<F> as core::future::future::Future>::poll",
            "my_app::outer_caller::{{closure}}",
            "my_app::main::{{closure}}",
            "tractor_driver::entry::run_body::{{closure}}::{{closure}}",
            "my_app::unreachable",
        ];
        assert_eq!(
            names(&stack),
            [
                "my_app::caller::{{closure}}",
                "my_app::outer_caller::{{closure}}",
                "my_app::main::{{closure}}"
            ]
        );
    }

    #[test]
    fn a_typed_service_shows_its_method_not_the_code_serving_it() {
        let stack = [
            "tractor_driver::error::traceback",
            "my_app::check",
            "<my_app::Calc as my_app::Math>::square::{{closure}}",
            "<my_app::MathService as tractor_driver::service::Serve<Imp>>::register::{{closure}}::{{closure}}",
            "tractor_driver::serve::run_callee::{{closure}}",
        ];
        assert_eq!(
            names(&stack),
            [
                "my_app::check",
                "<my_app::Calc as my_app::Math>::square::{{closure}}"
            ]
        );
    }

    #[test]
    fn thread_locals_and_scoped_threads_are_no_boundary() {
        let stack = [
            "my_app::parse_it",
            "my_app::in_tls::{{closure}}",
            "std::thread::local::LocalKey<T>::with",
            "my_app::in_tls",
            "my_app::served::{{closure}}",
            "tractor_driver::functions::Functions::rpc::{{closure}}",
        ];
        assert_eq!(
            names(&stack),
            [
                "my_app::parse_it",
                "my_app::in_tls::{{closure}}",
                "my_app::in_tls",
                "my_app::served::{{closure}}"
            ]
        );
    }

    #[test]
    fn an_error_the_library_raises_shows_no_frames() {
        let stack = [
            "tractor_driver::error::traceback",
            "tractor_driver::payload::decode_args",
            "tractor_driver::serve::run_callee::{{closure}}",
            "tokio::runtime::task::harness::poll_future",
            "libc_frame_that_must_not_be_resolved",
        ];
        assert!(names(&stack).is_empty());
    }

    #[test]
    fn c_frames_and_thread_starts_end_the_walk() {
        assert_eq!(names(&["my_app::f", "main", "my_app::g"]), ["my_app::f"]);
        // Above the application's frames (an unwinder linked in
        // statically), C code is skipped.
        assert_eq!(
            names(&["_Unwind_Backtrace", "my_app::f", "main"]),
            ["my_app::f"]
        );
        assert_eq!(
            names(&["my_app::f", "std::rt::lang_start::{{closure}}", "my_app::g"]),
            ["my_app::f"]
        );
        assert_eq!(
            names(&[
                "my_app::f",
                "async_task::raw::RawTask<F,T,S,M>::run",
                "x::y"
            ]),
            ["my_app::f"]
        );
    }

    #[test]
    fn frames_outside_the_program_are_never_resolved() {
        let own = [(0x1000, 0x2000), (0x5000, 0x6000)];
        let walk = |ips: &[usize]| own_frames(ips, &own).collect::<Vec<_>>();
        // Outside: skipped wherever they are, never resolved.
        assert_eq!(
            walk(&[0x9000, 0x1100, 0x5100, 0x7000, 0x1200]),
            [0x1100, 0x5100, 0x1200]
        );
        // Where the program's code is not known, every frame is.
        let all: Vec<usize> = own_frames(&[0x9000, 0x1100], &[]).collect();
        assert_eq!(all, [0x9000, 0x1100]);
        let many = vec![0x1100; 2 * MAX_RESOLVED];
        assert_eq!(own_frames(&many, &own).count(), MAX_RESOLVED);
    }

    #[test]
    fn the_programs_mappings_are_read_from_proc() {
        let line = "5581a2c4d000-5581a2e51000 r-xp 00045000 103:02 1234567                   /opt/my app/bin/server";
        let m = mapping(line).expect("a mapping");
        assert_eq!((m.lo, m.hi, m.code), (0x5581a2c4d000, 0x5581a2e51000, true));
        assert_eq!(m.path, "/opt/my app/bin/server");
        let data =
            mapping("5581a2e51000-5581a2e60000 rw-p 00000000 103:02 1234567  /opt/app/bin/server")
                .expect("a mapping");
        assert!(!data.code);
        let anonymous =
            mapping("7ffd1c5e2000-7ffd1c5e4000 r-xp 00000000 00:00 0").expect("a mapping");
        assert_eq!(anonymous.path, "");
        assert!(mapping("garbage").is_none());
        // This test's own binary is mapped, and its code is found there.
        if std::path::Path::new("/proc/self/maps").exists() {
            let here = Trace::capture();
            let own = own_code();
            assert!(!own.is_empty());
            assert!(own.iter().any(|&(lo, hi)| (lo..hi).contains(&here.ips[0])));
        }
    }

    #[test]
    fn a_real_capture_resolves_its_own_frames() {
        #[inline(never)]
        fn captured_here() -> Trace {
            std::hint::black_box(Trace::capture())
        }
        let trace = captured_here();
        assert!(!trace.is_empty());
        // The frames of this program are found and named, in any build
        // profile (the symbol table names them without debug info).
        let names: Vec<String> = own_frames(&trace.ips, own_code())
            .flat_map(|ip| resolved(ip).to_vec())
            .map(|s| s.name)
            .collect();
        assert!(
            names.iter().any(|n| n.ends_with("captured_here")),
            "{names:#?}"
        );
        // They are all this library's or the test harness's: none is the
        // application's.
        assert_eq!(trace.app_frames(), Vec::new());
        // Rendering keeps Rust's numbered layout.
        let text = render(&[Symbol {
            name: "my_app::f".into(),
            file: Some("./src/main.rs".into()),
            line: Some(3),
            column: Some(9),
        }]);
        assert_eq!(text, "   0: my_app::f\n             at ./src/main.rs:3:9");
    }
}
