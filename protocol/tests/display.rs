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
