//! Every scenario of the program, found by its id in one table,
//! [`SCENARIOS`], and written in the module of its family: the prefix of
//! its id (`dump-` with `dbg-`, `signal-` with `cancel-`; a few the
//! function of another family serves, such as the `stream-` fan-outs in
//! [`bcast`]). [`daemons`] holds the programs other scenarios' tests run
//! beside them (a registrar, a prober, a target for attacks).

use crate::*;
use tractor_driver::RestartStrategy;

pub(crate) mod auth;
pub(crate) mod bcast;
pub(crate) mod cancel;
pub(crate) mod cluster;
pub(crate) mod ctx;
pub(crate) mod daemons;
pub(crate) mod dbg;
pub(crate) mod disc;
pub(crate) mod err;
pub(crate) mod fault;
pub(crate) mod guest;
pub(crate) mod launch;
pub(crate) mod log;
pub(crate) mod mixed;
pub(crate) mod rpc;
pub(crate) mod spawn;
pub(crate) mod stream;
pub(crate) mod supervise;
pub(crate) mod tls;
pub(crate) mod top;
pub(crate) mod tpt;

/// A scenario run around the root, or without one: given the runtime,
/// the transport and the registrar of the command line.
pub(crate) type Around = fn(Arc<dyn Runtime>, Transport, Option<&str>) -> Boxed<'_, Result<()>>;

/// What runs a scenario.
pub(crate) enum Scenario {
    /// The root's body, in a root configured for the id
    /// (`configure`): most scenarios.
    Body(fn(ActorHandle) -> Boxed<'static, Result<()>>),
    /// Scenarios about the runtime itself, which open the root (or roots,
    /// or none) themselves.
    Around(Around),
    /// Scenarios about the runtime itself, given the root's settings for
    /// their id (`configure`): they open the root (or roots) themselves.
    Configured(fn(Arc<dyn Runtime>, Config) -> Boxed<'static, Result<()>>),
    /// Plain code before any runtime: the process exits with the code it
    /// returns.
    Plain(fn() -> i32),
}

/// A scenario that is the root's body: `$f(root, $args...)`.
macro_rules! body {
    ($f:path) => {
        Scenario::Body(|root| Box::pin($f(root)))
    };
    ($f:path, $($arg:expr),+) => {
        Scenario::Body(|root| Box::pin($f(root, $($arg),+)))
    };
}

/// A scenario run around the root: `$f(runtime, transport, registrar)`.
macro_rules! around {
    ($f:path) => {
        Scenario::Around(|rt, transport, registry| Box::pin($f(rt, transport, registry)))
    };
}

/// A scenario given the runtime and the root's settings: `$f(runtime, config)`.
macro_rules! configured {
    ($f:path) => {
        Scenario::Configured(|rt, config| Box::pin($f(rt, config)))
    };
}

/// Every scenario the program has: its id, then what runs it. Ids are
/// unique; several may share a function (which, when it needs to, is
/// given the id).
pub(crate) const SCENARIOS: &[(&str, Scenario)] = &[
    // introspection
    ("top-snapshot", body!(top::top_snapshot)),
    // guest runtimes
    ("guest-runtime-api", body!(guest::guest_runtime_api)),
    ("guest-cancel", body!(guest::guest_cancel)),
    ("guest-errors", body!(guest::guest_errors)),
    ("guest-stream-10k", body!(guest::guest_stream_10k)),
    ("guest-root-sigint", configured!(guest::guest_root_sigint)),
    ("guest-blocked-thread", body!(guest::guest_blocked_thread)),
    ("dbg-guest-pause", body!(guest::dbg_guest_pause)),
    ("dbg-guest-crash", body!(guest::dbg_guest_crash)),
    ("dump-guest-tasks", body!(guest::dump_guest_tasks)),
    // spawn
    ("spawn-proctitle", body!(spawn::spawn_proctitle)),
    ("spawn-python-child", body!(spawn::spawn_python_child)),
    (
        "spawn-daemon-call-twice",
        body!(spawn::spawn_daemon_call_twice),
    ),
    ("spawn-one-shot-result", body!(spawn::spawn_one_shot_result)),
    ("spawn-child-not-root", body!(spawn::spawn_child_not_root)),
    (
        "spawn-child-distinct-pid",
        body!(spawn::spawn_child_not_root),
    ),
    (
        "spawn-run-in-actor-recursive",
        body!(spawn::spawn_child_not_root),
    ),
    (
        "spawn-one-root-per-proc",
        body!(spawn::spawn_one_root_per_proc),
    ),
    ("spawn-many-concurrent", body!(spawn::spawn_many_concurrent)),
    (
        "spawn-debug-flag-inherited",
        body!(spawn::spawn_debug_flag_inherited),
    ),
    (
        "spawn-root-only-runtime",
        body!(spawn::spawn_root_only_runtime),
    ),
    ("spawn-one-root-in-sub", body!(spawn::spawn_one_root_in_sub)),
    (
        "spawn-loglevel-propagated",
        body!(spawn::spawn_loglevel_propagated),
    ),
    ("spawn-worker-pool", body!(spawn::spawn_worker_pool)),
    ("spawn-start-actors", body!(spawn::spawn_start_actors)),
    (
        "spawn-nested-tree-inside-out",
        body!(spawn::spawn_nested_tree),
    ),
    (
        "spawn-lifetime-stack-on-error",
        body!(spawn::spawn_lifetime_stack, true),
    ),
    (
        "spawn-lifetime-stack-on-cancel",
        body!(spawn::spawn_lifetime_stack, false),
    ),
    ("spawn-no-runtime", configured!(spawn::spawn_no_runtime)),
    (
        "spawn-runtime-vars-reset",
        Scenario::Around(|rt, transport, _| {
            Box::pin(spawn::spawn_runtime_vars_reset(rt, transport))
        }),
    ),
    (
        "spawn-implicit-root",
        Scenario::Around(|rt, transport, _| {
            Box::pin(spawn::spawn_implicit_root(rt, transport, false))
        }),
    ),
    // rpc
    (
        "rpc-module-not-exposed",
        body!(rpc::rpc_not_callable, "rpc-module-not-exposed"),
    ),
    (
        "rpc-func-not-found",
        body!(rpc::rpc_not_callable, "rpc-func-not-found"),
    ),
    ("rpc-bad-kwargs", body!(rpc::rpc_bad_kwargs)),
    ("typed-service", body!(rpc::rpc_typed_service)),
    ("cluster-gather", body!(cluster::cluster_gather)),
    (
        "cluster-gather-contexts",
        body!(cluster::cluster_gather_contexts),
    ),
    (
        "cluster-context-cache",
        body!(cluster::cluster_context_cache),
    ),
    ("pubsub-topics", body!(cluster::pubsub_topics)),
    (
        "sup-one-for-one",
        body!(supervise::sup_strategy, RestartStrategy::OneForOne),
    ),
    (
        "sup-rest-for-one",
        body!(supervise::sup_strategy, RestartStrategy::RestForOne),
    ),
    (
        "sup-one-for-all",
        body!(supervise::sup_strategy, RestartStrategy::OneForAll),
    ),
    ("sup-intensity", body!(supervise::sup_intensity)),
    ("sup-nested", body!(supervise::sup_nested)),
    (
        "rpc-concurrent-calls-one-portal",
        body!(rpc::rpc_concurrent_calls_one_portal),
    ),
    ("rpc-local-portal-self", body!(rpc::rpc_local_portal_self)),
    (
        "rpc-ctx-to-self-invalid",
        body!(rpc::rpc_ctx_to_self_invalid),
    ),
    ("rpc-callback-exposed", body!(rpc::rpc_callback_exposed)),
    ("rpc-run-by-name-string", body!(rpc::rpc_siblings)),
    ("rpc-sibling-discovery-call", body!(rpc::rpc_siblings)),
    ("rpc-cancel-actor-ack", body!(rpc::rpc_cancel_actor_ack)),
    // ctx
    ("ctx-started-value", body!(ctx::ctx_started_value)),
    ("ctx-result-returned", body!(ctx::ctx_started_value)),
    (
        "ctx-started-twice",
        body!(ctx::ctx_started_twice, "ctx-started-twice"),
    ),
    (
        "ctx-stream-before-started",
        body!(ctx::ctx_started_twice, "ctx-stream-before-started"),
    ),
    (
        "ctx-cancel-blocking-child",
        body!(ctx::ctx_cancel_blocking_child),
    ),
    (
        "ctx-child-closes-stream-immediately",
        body!(ctx::ctx_child_closes_stream_immediately),
    ),
    ("ctx-stream-then-fail", body!(ctx::ctx_stream_then_fail)),
    (
        "ctx-error-dropped-unread",
        body!(ctx::ctx_error_dropped_unread),
    ),
    ("ctx-nested-started-result", body!(spawn::spawn_nested_tree)),
    (
        "ctx-stop-after-return-ignored",
        body!(ctx::ctx_stop_after_return),
    ),
    (
        "ctx-parent-error-in-block",
        body!(ctx::ctx_parent_error_in_block),
    ),
    (
        "ctx-cancel-by-opener-silent",
        body!(ctx::ctx_cancel_by_opener),
    ),
    (
        "ctx-cancel-actor-raises-ctxc",
        body!(ctx::ctx_cancel_actor_raises),
    ),
    (
        "ctx-cancel-after-child-returned",
        body!(ctx::ctx_cancel_after_return),
    ),
    (
        "ctx-opener-cancels-echo-child",
        body!(ctx::ctx_opener_cancels_echo),
    ),
    ("ctx-opener-waits-for-child", body!(ctx::ctx_opener_waits)),
    (
        "ctx-cancel-from-sibling-task",
        body!(ctx::ctx_cancel_from_sibling_task),
    ),
    ("ctx-child-self-cancel", body!(ctx::ctx_child_self_cancel)),
    (
        "ctx-unserializable-started",
        body!(ctx::ctx_unserializable_started),
    ),
    // stream
    ("stream-pingpong", body!(stream::stream_pingpong)),
    (
        "stream-legacy-asyncgen",
        body!(stream::stream_legacy_asyncgen, "stream-legacy-asyncgen"),
    ),
    (
        "stream-two-streams-one-portal",
        body!(
            stream::stream_legacy_asyncgen,
            "stream-two-streams-one-portal"
        ),
    ),
    (
        "stream-3-level-aggregate",
        body!(stream::stream_3_level_aggregate),
    ),
    ("stream-reqresp-on-top", body!(stream::stream_reqresp)),
    (
        "stream-consumer-respawn",
        body!(stream::stream_consumer_respawn),
    ),
    (
        "stream-infinite-cancelled-by-timeout",
        body!(stream::stream_infinite_timeout),
    ),
    (
        "stream-ctx-plus-legacy-kbi",
        body!(stream::stream_ctx_plus_legacy_kbi),
    ),
    (
        "stream-sender-shares-its-thread",
        body!(stream::stream_sender_shares_its_thread),
    ),
    ("stream-local-fanout-22", body!(bcast::bcast_local_fanout)),
    ("stream-fanout-echo-10", body!(bcast::bcast_fanout_echo)),
    ("stream-fanout-go-signal", body!(bcast::bcast_go_signal)),
    // bcast
    (
        "bcast-subscribe-after-close",
        body!(bcast::bcast_subscribe_after_close),
    ),
    ("bcast-lag", body!(bcast::bcast_lag)),
    ("bcast-no-raise-on-lag", body!(bcast::bcast_no_raise_on_lag)),
    (
        "bcast-fast-sub-cancelled",
        body!(bcast::bcast_fast_sub_cancelled),
    ),
    (
        "bcast-first-recver-cancelled",
        body!(bcast::bcast_first_recver_cancelled),
    ),
    (
        "bcast-slow-consumers-lag-out",
        body!(bcast::bcast_slow_consumers),
    ),
    // cancel
    (
        "cancel-nursery-dropped",
        body!(cancel::cancel_nursery_dropped),
    ),
    (
        "cancel-nursery-cancel-daemon",
        body!(cancel::cancel_nursery_cancel_daemon),
    ),
    (
        "cancel-some-cancels-all-ria",
        body!(cancel::cancel_some_cancels_all_ria),
    ),
    ("cancel-sigint-root", body!(cancel::cancel_sigint_root)),
    ("cancel-sigint-external", body!(fault::fault_parent_dies)),
    (
        "cancel-kbi-in-nursery",
        body!(cancel::cancel_kbi_in_nursery),
    ),
    ("cancel-cluster-kbi", body!(cancel::cancel_cluster_kbi)),
    (
        "cancel-sigint-from-child-task",
        body!(cancel::cancel_sigint_from_child_task),
    ),
    (
        "cancel-some-cancels-all-daemon-fails",
        body!(cancel::cancel_daemon_fails),
    ),
    (
        "cancel-some-cancels-all-delayed-ria",
        body!(cancel::cancel_delayed_ria),
    ),
    (
        "cancel-graceful-before-hard-reap",
        body!(cancel::cancel_graceful_before_hard_reap),
    ),
    (
        "cancel-midstream-at-various-delays",
        body!(cancel::cancel_midstream),
    ),
    (
        "cancel-oob-bg-opener-self-cancel",
        body!(cancel::cancel_oob_bg_opener),
    ),
    (
        "cancel-oob-bg-opener-actor-cancel",
        body!(cancel::cancel_oob_bg_opener),
    ),
    (
        "cancel-peer-canceller",
        body!(cancel::cancel_peer_canceller),
    ),
    (
        "cancel-peer-canceller-observer-side",
        body!(cancel::cancel_peer_canceller),
    ),
    (
        "cancel-peer-spawned-service",
        body!(cancel::cancel_peer_spawned_service),
    ),
    (
        "cancel-finally-checkpoint-after-ctxc",
        body!(cancel::cancel_finally_checkpoint_after_ctxc),
    ),
    (
        "cancel-mask-unmask-in-acm",
        body!(cancel::cancel_mask_unmask_in_acm),
    ),
    (
        "cancel-mask-sendchan-aclose",
        body!(cancel::cancel_mask_sendchan_aclose),
    ),
    (
        "cancel-mask-lock-acquire-special",
        body!(cancel::cancel_mask_lock_acquire_special),
    ),
    ("cancel-sigterm-root", body!(cancel::cancel_sigterm_root)),
    ("cancel-second-signal", body!(cancel::cancel_second_signal)),
    (
        "cancel-signal-during-wind-down",
        body!(cancel::cancel_signal_during_wind_down),
    ),
    (
        "signal-default-outside-roots",
        configured!(cancel::signal_default_outside_roots),
    ),
    // err
    (
        "err-boxed-assertion",
        body!(err::err_boxed_assertion, "err-boxed-assertion"),
    ),
    (
        "err-multierror",
        body!(err::err_boxed_assertion, "err-multierror"),
    ),
    ("err-panic-relayed", body!(err::err_panic_relayed)),
    (
        "err-inception-relay",
        body!(err::err_inception_relay, "err-inception-relay"),
    ),
    (
        "err-nested-multierrors",
        body!(err::err_inception_relay, "err-nested-multierrors"),
    ),
    (
        "err-boxed-from-daemons-example",
        body!(err::err_boxed_from_daemons),
    ),
    (
        "err-multierror-25-during-spawn",
        body!(err::err_multierror_during_spawn),
    ),
    ("err-unregistered-relayed", body!(err::err_unregistered)),
    ("err-custom-registered", body!(err::err_custom_registered)),
    (
        "err-custom-registered-2",
        body!(err::err_another_registered),
    ),
    (
        "err-type-registry-unit",
        Scenario::Body(|root| {
            Box::pin(async move {
                let _root = root;
                err::err_type_registry_unit()
            })
        }),
    ),
    // fault
    (
        "fault-nested-failing-leaves",
        body!(fault::fault_nested_failing_leaves),
    ),
    ("fault-child-sigkilled", body!(fault::fault_child_sigkilled)),
    // launch: children run through a launcher (tests/launch.rs)
    ("launch-netns", configured!(launch::launch_netns)),
    (
        "launch-env-cleared",
        configured!(launch::launch_env_cleared),
    ),
    (
        "launch-launcher-killed",
        configured!(launch::launch_launcher_killed),
    ),
    ("launch-needs-tcp", configured!(launch::launch_needs_tcp)),
    // tls: TLS between hosts (tests/tls.rs)
    ("tls-netns", configured!(tls::tls_netns)),
    ("tls-strangers", configured!(tls::tls_strangers)),
    ("launch-pause", configured!(launch::launch_pause)),
    ("launch-partition", configured!(launch::launch_partition)),
    ("launch-advertise", configured!(launch::launch_advertise)),
    (
        "launch-advertise-joiner",
        configured!(launch::launch_advertise_joiner),
    ),
    (
        "fault-child-sigkilled-call",
        body!(fault::fault_child_sigkilled_call),
    ),
    (
        "fault-sibling-sigkilled",
        body!(fault::fault_sibling_sigkilled),
    ),
    (
        "fault-child-sigkilled-stream",
        body!(fault::fault_child_sigkilled_stream),
    ),
    (
        "fault-child-sigkilled-blocked-send",
        body!(fault::fault_child_sigkilled_blocked_send),
    ),
    (
        "fault-child-sigkilled-full-stream",
        body!(fault::fault_child_sigkilled_full_stream),
    ),
    (
        "fault-child-sigkilled-spawn",
        body!(fault::fault_child_sigkilled_spawn),
    ),
    (
        "fault-grandchild-sync-blocked",
        body!(fault::fault_grandchild_sync_blocked),
    ),
    (
        "fault-grandchild-sync-blocked-sigint",
        body!(fault::fault_grandchild_sync_blocked_sigint),
    ),
    (
        "fault-hung-child-with-grandchild",
        body!(fault::fault_hung_child_with_grandchild),
    ),
    (
        "fault-parent-dies-with-grandchildren",
        body!(fault::fault_parent_dies_with_grandchildren),
    ),
    ("fault-parent-dies", body!(fault::fault_parent_dies)),
    (
        "fault-spawned-from-exiting-thread",
        body!(fault::spawned_from_exiting_thread),
    ),
    (
        "fault-25-fail-during-spawn",
        body!(fault::fault_fail_during_spawn),
    ),
    // disc
    ("disc-self-registered", body!(disc::disc_self_registered)),
    ("disc-reg-then-unreg", body!(disc::disc_reg_then_unreg)),
    ("disc-find-miss-none", body!(disc::disc_reg_then_unreg)),
    (
        "disc-reg-then-unreg-maddr",
        body!(disc::disc_reg_then_unreg),
    ),
    ("disc-duplicate-name", body!(disc::disc_duplicate_name)),
    ("disc-registry-dump", body!(disc::disc_registry_dump)),
    (
        "disc-unregister-on-cancel",
        body!(disc::disc_unregister_on_cancel, false),
    ),
    (
        "disc-unregister-on-cancel-remote",
        body!(disc::disc_unregister_on_cancel, false),
    ),
    (
        "disc-unregister-after-explicit-close",
        body!(disc::disc_unregister_on_cancel, true),
    ),
    (
        "disc-unregister-on-sigint",
        body!(disc::disc_unregister_on_sigint),
    ),
    (
        "disc-non-registrar-child-finds-root",
        body!(disc::disc_child_finds_root),
    ),
    (
        "disc-non-registrar-random-bind",
        body!(disc::disc_non_registrar_binds),
    ),
    (
        "disc-non-registrar-binds-exact",
        body!(disc::disc_non_registrar_binds),
    ),
    (
        "disc-cancel-remote-registrar",
        body!(disc::disc_cancel_remote_registrar),
    ),
    (
        "disc-registrar-election-race",
        body!(daemons::registrar_election_race),
    ),
    ("disc-registrar-restart", body!(daemons::registrar_restart)),
    ("disc-bind-maddr-str", body!(disc::disc_bind_maddr_str)),
    (
        "disc-registrar-bind-union",
        body!(disc::disc_registrar_bind_union),
    ),
    (
        "disc-nursery-forwards-bind",
        Scenario::Around(|rt, transport, _| {
            Box::pin(spawn::spawn_implicit_root(rt, transport, true))
        }),
    ),
    // tpt
    (
        "tpt-root-passes-tpt-to-sub",
        body!(tpt::tpt_root_passes_tpt_to_sub),
    ),
    ("tpt-uds-example", body!(tpt::tpt_uds_example)),
    ("tpt-keepalive", body!(tpt::tpt_keepalive)),
    ("tpt-handshake-garbage", body!(tpt::tpt_handshake_garbage)),
    ("tpt-limits-inherited", body!(tpt::limits_inherited)),
    ("tpt-limits-inherited-env", body!(tpt::limits_inherited)),
    ("tpt-proto-mismatch", around!(tpt::tpt_proto_mismatch)),
    (
        "tpt-uds-double-listen",
        configured!(tpt::tpt_uds_double_listen),
    ),
    ("tpt-rt-dir-secure", around!(tpt::tpt_rt_dir_secure)),
    (
        "tpt-uds-bindspace-created",
        Scenario::Around(|rt, _, _| Box::pin(tpt::bindspace_created(rt))),
    ),
    // auth
    ("auth-tree", body!(auth::auth_tree)),
    ("auth-tree-generated", body!(auth::auth_tree)),
    ("auth-wrong-secret", body!(auth::auth_wrong_secret)),
    (
        "auth-wrong-secret-registrar",
        body!(auth::auth_wrong_secret_registrar),
    ),
    ("auth-stranger-cancel", body!(auth::auth_stranger_cancel)),
    ("auth-insecure-bind", body!(auth::auth_insecure_bind)),
    // dbg
    ("dbg-root-pause", body!(dbg::dbg_root_pause)),
    ("dbg-root-crash-repl", body!(dbg::dbg_root_crash_repl)),
    ("dbg-nested-errors", body!(dbg::dbg_nested_errors)),
    (
        "dbg-root-timeout-child-crash",
        body!(dbg::dbg_root_timeout_child_crash),
    ),
    ("dbg-shielded-pause", body!(dbg::dbg_shielded_pause)),
    (
        "dump-sigusr1-hierarchical",
        body!(dbg::dump_sigusr1_hierarchical),
    ),
    (
        "dump-env-propagation",
        body!(dbg::dump_sigusr1_hierarchical),
    ),
    ("dbg-stale-lock", body!(dbg::dbg_stale_lock)),
    ("dbg-sync-pause-threads", body!(dbg::dbg_sync_pause_threads)),
    ("dbg-debug-filter", body!(dbg::dbg_debug_filter)),
    ("dbg-post-mortem-api", body!(dbg::dbg_post_mortem_api)),
    (
        "dbg-multi-daemon-no-clobber",
        body!(dbg::dbg_multi_daemon_no_clobber),
    ),
    (
        "dbg-child-pause",
        body!(dbg::dbg_child_one_shot, "dbg-child-pause"),
    ),
    (
        "dbg-grandchild-pause",
        body!(dbg::dbg_child_one_shot, "dbg-grandchild-pause"),
    ),
    (
        "dbg-child-crash-then-root",
        body!(dbg::dbg_child_one_shot, "dbg-child-crash-then-root"),
    ),
    (
        "dbg-crash-handler",
        Scenario::Plain(dbg::crash_handler_error),
    ),
    (
        "dbg-crash-handler-panic",
        Scenario::Plain(dbg::crash_handler_panic),
    ),
    // log
    ("log-tree-story", body!(log::log_tree_story)),
    ("log-daemon-wait", body!(log::log_daemon_wait)),
    // daemons
    ("registrar-daemon", body!(daemons::registrar_daemon)),
    ("attack-daemon", body!(daemons::attack_daemon)),
    ("registry-probe", body!(daemons::registry_probe)),
    ("registry-wait", body!(daemons::registry_wait)),
    // mixed
    ("mixed-tree", body!(mixed::mixed_tree)),
];

/// The scenario `id` names, if the table has it.
pub(crate) fn find(id: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|(i, _)| *i == id).map(|(_, s)| s)
}
