//! Errors relayed between actors: boxing, groups, registered types (`err-`).

use crate::*;

pub(crate) async fn err_boxed_from_daemons(root: ActorHandle) -> Result<()> {
    let e = nursery_error(&root, "the one-shot fails", |n| async move {
        for i in 0..3 {
            n.start_actor(format!("daemon-{i}"), daemon()).await?;
        }
        asserters(&n, 1, false).await
    })
    .await;
    fact("error", describe(&e));
    Ok(())
}

pub(crate) async fn err_multierror_during_spawn(root: ActorHandle) -> Result<()> {
    for delay in [0u64, 200] {
        let e = nursery_error(&root, "the one-shots fail", |n| async move {
            run_in_actors(&n, "asserter", 25, "raise_after", |_| Delay { ms: delay }).await?;
            Ok(())
        })
        .await;
        let errors = e.errors();
        let all_asserts = errors
            .iter()
            .all(|e| describe(e) == "remote:AssertionError:AssertionError");
        fact(&format!("count_{delay}"), errors.len());
        fact(&format!("all_assertions_{delay}"), all_asserts);
    }
    Ok(())
}

pub(crate) async fn err_unregistered(root: ActorHandle) -> Result<()> {
    let out = one_shot(&root, "raiser", "raise_unregistered").await;
    let e = out.expect_err("the child fails");
    let r = e
        .remote()
        .ok_or_else(|| Error::raise("AssertionError", format!("not remote: {e}")))?;
    fact("boxed_type", r.boxed_type());
    fact("src_type", r.src_type());
    fact("message", r.text());
    fact("tb_str", !r.tb_str().is_empty());
    fact(
        "header",
        e.to_string().lines().next().unwrap_or_default().to_owned(),
    );
    Ok(())
}

/// The facts of a registered error received from another actor: its
/// types, its message and where it is, and the value it rebuilds.
pub(crate) fn registered_facts<T: RemoteErrorType + std::fmt::Debug>(
    prefix: &str,
    e: &Error,
) -> Result<()> {
    let r = e
        .remote()
        .ok_or_else(|| Error::raise("AssertionError", format!("not remote: {e}")))?;
    fact(&format!("{prefix}boxed_type"), r.boxed_type());
    fact(&format!("{prefix}src_type"), r.src_type());
    fact(&format!("{prefix}src"), &r.src_uid().name);
    fact(&format!("{prefix}text"), r.text().trim_end());
    // As Python shows it: the traceback closes with the type and message.
    fact(
        &format!("{prefix}tb_closes_with_message"),
        r.tb_str()
            .ends_with(&format!("\n{}: {}\n", T::NAME, r.text())),
    );
    fact(
        &format!("{prefix}type_name"),
        e.type_name().unwrap_or_default(),
    );
    fact(
        &format!("{prefix}rebuilt"),
        format!("{:?}", e.downcast_ref::<T>()),
    );
    Ok(())
}

/// A daemon `raiser` whose context `NS:func` fails, after it started,
/// with a registered `T`: the error's facts (see [`registered_facts`]),
/// and what it rebuilds as the other registered type `O` (nothing).
async fn registered_from_daemon<T, O>(root: &ActorHandle, func: &str) -> Result<()>
where
    T: RemoteErrorType + std::fmt::Debug,
    O: RemoteErrorType + std::fmt::Debug,
{
    with_daemon(root, "raiser", |p| async move {
        let (ctx, ()) = p.open_context(NS, func, ()).await?;
        let e = ctx
            .wait_for_result::<()>()
            .await
            .expect_err("the child fails");
        registered_facts::<T>("", &e)?;
        fact("other_type", format!("{:?}", e.downcast_ref::<O>()));
        Ok(())
    })
    .await
}

pub(crate) async fn err_custom_registered(root: ActorHandle) -> Result<()> {
    registered_from_daemon::<CustomAppError, AnotherAppError>(&root, "raise_custom_after_started")
        .await?;
    // Through a middle actor: relayed, still rebuilt.
    let e = one_shot(&root, "mid", "relay_custom")
        .await
        .expect_err("the relay fails");
    registered_facts::<CustomAppError>("relayed_", &e)?;
    fact(
        "relay_path",
        e.remote()
            .map(|r| {
                let names: Vec<&str> = r.relay_path().iter().map(|u| u.name.as_str()).collect();
                names.join(",")
            })
            .unwrap_or_default(),
    );
    Ok(())
}

pub(crate) async fn err_another_registered(root: ActorHandle) -> Result<()> {
    registered_from_daemon::<AnotherAppError, CustomAppError>(&root, "raise_another_after_started")
        .await
}

/// The registry's lookups by name, in this process.
pub(crate) fn err_type_registry_unit() -> Result<()> {
    fact(
        "before",
        format!("{:?}", registered_error_type("UnitOneError")),
    );
    register_error_type::<UnitOneError>();
    register_error_type::<UnitTwoError>();
    let found = |name| registered_error_type(name).unwrap_or_default();
    fact("one", found("UnitOneError").ends_with("::UnitOneError"));
    fact("two", found("UnitTwoError").ends_with("::UnitTwoError"));
    // Registered at the start of `main`, as every actor of the program.
    fact(
        "custom",
        found("CustomAppError").ends_with("::CustomAppError"),
    );
    fact(
        "unregistered",
        format!("{:?}", registered_error_type("UnregisteredAppError")),
    );
    // Python's builtin names and the runtime's own are names only.
    fact(
        "builtins",
        format!(
            "{:?}",
            ["ValueError", "RuntimeError", "ContextCancelled"].map(registered_error_type)
        ),
    );
    // Registering again changes nothing.
    register_error_type::<UnitOneError>();
    fact("again", found("UnitOneError").ends_with("::UnitOneError"));
    let e = Error::from(UnitTwoError("two".into()));
    fact("local_type", e.type_name().unwrap_or_default());
    fact(
        "local_rebuilt",
        format!("{:?}", e.downcast_ref::<UnitTwoError>()),
    );
    fact(
        "local_other",
        format!("{:?}", e.downcast_ref::<UnitOneError>()),
    );
    Ok(())
}

/// Scenarios `err-boxed-assertion` and `err-multierror`.
pub(crate) async fn err_boxed_assertion(root: ActorHandle, id: &str) -> Result<()> {
    let count = if id == "err-multierror" { 2 } else { 1 };
    let e = nursery_error(&root, "the children fail", |n| async move {
        asserters(&n, count, false).await
    })
    .await;
    fact("error", describe(&e));
    eprintln!("{e}");
    Ok(())
}

/// Scenario `err-panic-relayed`.
pub(crate) async fn err_panic_relayed(root: ActorHandle) -> Result<()> {
    let out = one_shot(&root, "panicker", "panic").await;
    let e = out.expect_err("the child panics");
    fact("error", describe(&e));
    let r = e.remote().expect("a remote error");
    check!(r.text().contains("the child panicked on purpose"), "{e}");
    // Where it panicked, whatever the build profile.
    let tb = r.tb_str();
    check!(
        tb.contains("  File \"conformance/src/bin/tractor-conformance/"),
        "no place: {tb}"
    );
    // Python's last line: the type and the message.
    check!(
        tb.lines()
            .last()
            .is_some_and(|l| l.starts_with("Panic: the child panicked on purpose")),
        "no closing line: {tb}"
    );
    check_short_traceback(tb)?;
    // The function that panicked is a frame with backtraces on; a
    // hint to turn them on, else.
    if backtraces_on() {
        check!(
            tb.lines().any(|l| l.starts_with("  File \"")
                && l.ends_with(", in tractor_conformance::functions::panic_on_purpose")),
            "no frame of the panicking function: {tb}"
        );
    } else {
        check!(tb.contains("(set RUST_BACKTRACE=1"), "no hint: {tb}");
    }
    fact("backtraces", backtraces_on());
    Ok(())
}

/// Scenarios `err-inception-relay` and `err-nested-multierrors`.
pub(crate) async fn err_inception_relay(root: ActorHandle, id: &str) -> Result<()> {
    let (depth, breadth) = if id == "err-inception-relay" {
        (1, 1)
    } else {
        (2, 2)
    };
    let e = nursery_error(&root, "the leaves fail", |n| async move {
        n.run_in_actor(
            "mid",
            NS,
            "relay",
            Depth { depth, breadth },
            ActorOptions::new(),
        )
        .await?;
        Ok(())
    })
    .await;
    fact("error", describe(&e));
    if let Some(r) = e.remote() {
        fact("src", &r.src_uid().name);
        fact(
            "relay",
            r.relay_uid().map(|u| u.name.clone()).unwrap_or_default(),
        );
    }
    eprintln!("{e}");
    Ok(())
}
