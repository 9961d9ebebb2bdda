//! The one-line form that logs and the debugger print.

mod common;

use bytes::Bytes;
use tractor_protocol::Msg;

use common::vector;

fn display(name: &str) -> String {
    let msg = Msg::decode(Bytes::from(vector(name).body)).unwrap();
    let line = msg.to_string();
    assert!(!line.contains('\n'), "{name}: one line");
    line
}

macro_rules! snapshot {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                insta::assert_snapshot!(display(stringify!($name)));
            }
        )*
    };
}

snapshot!(
    aid_root_registrar,
    aid_probe,
    spawnspec_uds_debug,
    start_open_context_kwargs,
    start_custom_pld_spec,
    startack_context,
    started_lockstatus,
    yield_nested,
    yield_str_256,
    yield_bytes,
    stop,
    return_addrs,
    cancelack_true,
    error_relayed_2hops,
    error_ctxc_canceller,
    error_stream_overrun,
    error_msgtypeerror,
);

#[test]
fn private_fields_and_tracebacks_stay_out() {
    for name in ["spawnspec_tcp", "error_msgtypeerror", "error_valueerror"] {
        let line = display(name);
        for hidden in [
            "_runtime_vars",
            "_is_root",
            "_bad_msg",
            "Traceback",
            "__main__\":",
        ] {
            assert!(!line.contains(hidden), "{name} shows {hidden}: {line}");
        }
    }
}

#[test]
fn peer_text_cannot_forge_log_lines() {
    use tractor_protocol::{Address, Raw, SpawnSpec, Start, Uid};

    let start = Start::new(
        "c1\nINFO fake",
        "mod\nERROR forged line",
        "f\u{1b}[31m",
        Raw::EMPTY_MAP,
        Uid::new("evil\r", "u\u{85}"),
    );
    let line = Msg::from(start).to_string();
    assert!(!line.chars().any(char::is_control), "{line:?}");
    assert!(line.contains(r"mod\nERROR forged line"), "{line}");
    let spec = SpawnSpec {
        parent_main_data: Raw::EMPTY_MAP,
        runtime_vars: Raw::EMPTY_MAP,
        enable_modules: vec![("m\n".into(), "/p".into())],
        reg_addrs: vec![Address::tcp("h\n", 1), Address::uds("d\t", "f\u{7f}")],
        bind_addrs: None,
    };
    let line = Msg::from(spec).to_string();
    assert_eq!(
        line,
        r"SpawnSpec modules=[m\n] reg_addrs=[h\n:1, d\t/f\u{7f}]"
    );
}
