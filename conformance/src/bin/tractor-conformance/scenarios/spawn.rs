//! Spawning actors and running roots (`spawn-`).

use crate::*;

// ---------------------------------------------------------------------------
// Scenarios, one function each.

pub(crate) async fn spawn_root_only_runtime(root: ActorHandle) -> Result<()> {
    let mut iterations = 0;
    for _ in 0..10 {
        root.sleep(Duration::from_millis(10)).await;
        iterations += 1;
    }
    fact("iterations", iterations);
    fact("registrar", root.is_registrar());
    fact(
        "registered",
        registry_names(&root.get_registry().await?).join(","),
    );
    Ok(())
}

pub(crate) async fn spawn_one_root_in_sub(root: ActorHandle) -> Result<()> {
    let out = one_shot(&root, "nested", "open_root_here").await;
    let e = out.expect_err("a second root in a child must fail");
    fact("error", describe(&e));
    if let Some(r) = e.remote() {
        fact("message", r.text());
    }
    Ok(())
}

pub(crate) async fn spawn_loglevel_propagated(root: ActorHandle) -> Result<()> {
    root.open_nursery(|n| async move {
        for level in ["debug", "cancel", "critical"] {
            let p = n
                .run_in_actor(
                    format!("log-{level}"),
                    NS,
                    "loglevel",
                    (),
                    ActorOptions::new().loglevel(level),
                )
                .await?;
            let got: Option<String> = p.wait_for_result().await?;
            fact(level, got.unwrap_or_default());
        }
        Ok(())
    })
    .await
}

pub(crate) async fn spawn_worker_pool(root: ActorHandle) -> Result<()> {
    const INPUTS: [u64; 6] = [
        1_000_003, 1_000_033, 1_000_035, 1_000_037, 1_000_039, 1_000_041,
    ];
    root.open_nursery(|n| async move {
        let mut pool = Vec::new();
        for i in 0..4 {
            pool.push(n.start_actor(format!("worker-{i}"), daemon()).await?);
        }
        // Every input at once, spread over the pool; results recorded as
        // they come back.
        let done = RefCell::new(Vec::new());
        let calls: Vec<Boxed<'_, Result<()>>> = INPUTS
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let worker = pool[i % pool.len()].clone();
                let done = &done;
                Box::pin(async move {
                    let prime: bool = worker.run(NS, "is_prime", Number { n: x }).await?;
                    done.borrow_mut().push((x, prime));
                    Ok::<_, Error>(())
                }) as Boxed<'_, _>
            })
            .collect();
        for r in join_all(calls).await {
            r?;
        }
        let mut done = done.into_inner();
        fact("completed", done.len());
        done.sort();
        let primes: Vec<String> = done
            .iter()
            .filter(|(_, p)| *p)
            .map(|(x, _)| x.to_string())
            .collect();
        fact("primes", primes.join(","));
        n.cancel().await;
        Ok(())
    })
    .await
}

/// `ActorNursery::start_actors`: a batch of daemons started at once, used
/// from many tasks; a batch with a child that cannot start leaves none of
/// its children behind.
pub(crate) async fn spawn_start_actors(root: ActorHandle) -> Result<()> {
    let me = root.clone();
    root.open_nursery(|n| async move {
        let names: Vec<String> = (0..4).map(|i| format!("worker-{i}")).collect();
        let mut batch = n.start_actors(names.iter().map(|name| (name, daemon())));
        // One poll issues every spawn of the batch before it waits for any
        // child to connect back: all four are running processes by then.
        let first = poll_once(&mut batch).await;
        let started = children_with_pids(&names);
        fact("started_at_first_poll", started.len());
        check!(
            started.len() == names.len(),
            "after one poll only {started:?} were started"
        );
        let portals = match first {
            Poll::Ready(portals) => portals?,
            Poll::Pending => batch.await?,
        };
        let order: Vec<&str> = portals.iter().map(|p| p.peer().name.as_str()).collect();
        fact("order", order.join(","));
        check!(order == names, "portals in the order {order:?}");

        // Three tasks per worker call it at once, each through its own
        // clone of the worker's portal.
        let mut tasks = Vec::new();
        for portal in &portals {
            for _ in 0..3 {
                let portal = portal.clone();
                tasks.push(me.spawn(async move {
                    let hi: String = portal.run(NS, "hi", ()).await?;
                    let pid: u32 = portal.run(NS, "pid", ()).await?;
                    Ok::<_, Error>((portal.peer().name.clone(), hi, pid))
                }));
            }
        }
        let mut answers = 0;
        for task in tasks {
            let (name, hi, pid) = task.await??;
            check!(hi == format!("hi from {name}"), "{name} answered {hi:?}");
            check!(
                started.get(&name) == Some(&pid),
                "{name} answered from pid {pid}, started as {:?}",
                started.get(&name)
            );
            answers += 1;
        }
        fact("answers", answers);
        let pids: std::collections::BTreeSet<u32> = started.values().copied().collect();
        fact("distinct_pids", pids.len());
        check!(
            pids.len() == names.len() && !pids.contains(&std::process::id()),
            "pids {pids:?}"
        );

        // Names borrowed from temporaries, futures awaited together.
        #[allow(clippy::needless_borrows_for_generic_args)]
        let extra: Vec<Result<Portal>> = join_all(
            (0..2)
                .map(|i| n.start_actor(&format!("extra-{i}"), daemon()))
                .collect(),
        )
        .await;
        let mut extra_names = Vec::new();
        for p in extra {
            let p = p?;
            let hi: String = p.run(NS, "hi", ()).await?;
            extra_names.push(hi);
        }
        fact("extra", extra_names.join(","));

        // A batch whose middle child cannot start: the others are cancelled
        // and gone before the error comes back.
        let doomed: Vec<String> = ["doomed-0", "doomed-1", "doomed-2"]
            .map(String::from)
            .into();
        let options = |i: usize| match i {
            1 => daemon().program("/nonexistent/tractor-conformance"),
            _ => daemon(),
        };
        let mut failing = n.start_actors(
            doomed
                .iter()
                .enumerate()
                .map(|(i, name)| (name.as_str(), options(i))),
        );
        // The first poll finds doomed-1 failed and cancels the other two
        // (SIGTERM, as they have not connected back): what is left of them
        // to see here may already be going.
        let first = poll_once(&mut failing).await;
        let doomed_pids = children_with_pids(&doomed);
        let e = match first {
            Poll::Ready(r) => r.expect_err("a child cannot start"),
            Poll::Pending => failing.await.expect_err("a child cannot start"),
        };
        let spawn_error = matches!(e.kind(), ErrorKind::Spawn { name, .. } if name == "doomed-1");
        fact(
            "doomed_error",
            if spawn_error {
                "spawn:doomed-1"
            } else {
                "other"
            },
        );
        check!(spawn_error, "the batch failed with {e}");
        let left = children_with_pids(&doomed);
        let alive: Vec<&u32> = doomed_pids
            .values()
            .filter(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
            .collect();
        fact("doomed_left", left.len() + alive.len());
        check!(
            left.is_empty() && alive.is_empty(),
            "after the failed batch: listed {left:?}, running {alive:?}"
        );
        // The nursery's other children are untouched by the failed batch.
        for portal in &portals {
            let hi: String = portal.run(NS, "hi", ()).await?;
            check!(hi == format!("hi from {}", portal.peer().name), "{hi}");
        }
        fact("workers_after_failed_batch", portals.len());

        // A batch whose future is dropped before it returns: its children
        // are cancelled and go (their spawns were issued by the first
        // poll; none can have connected back within it).
        let dropped: Vec<String> = ["dropped-0", "dropped-1"].map(String::from).into();
        let mut batch = n.start_actors(dropped.iter().map(|name| (name.as_str(), daemon())));
        check!(
            poll_once(&mut batch).await.is_pending(),
            "a batch ready at once"
        );
        fact("dropped_batch_listed", children_with_pids(&dropped).len());
        drop(batch);
        // Generously bounded: a child left behind would be listed forever.
        let mut gone = false;
        for _ in 0..6000 {
            if children_with_pids(&dropped).is_empty() {
                gone = true;
                break;
            }
            me.sleep(Duration::from_millis(5)).await;
        }
        fact("dropped_batch_gone", gone);
        check!(
            gone,
            "a dropped batch left {:?}",
            children_with_pids(&dropped)
        );

        n.cancel().await;
        Ok(())
    })
    .await
}

pub(crate) async fn spawn_nested_tree(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    with_daemon(&r, "supervisor", |p| async move {
        let (ctx, leaves): (_, Vec<String>) = p.open_context(NS, "supervisor", ()).await?;
        let squares: Vec<i64> = ctx.wait_for_result().await?;
        fact("started", leaves.join(","));
        fact("result", format!("{squares:?}"));
        // The supervisor cancelled its leaves before it returned: the
        // registrar lists none of them any more.
        let mut listed = 0;
        for leaf in &leaves {
            if root.query_actor(leaf).await?.is_some() {
                listed += 1;
            }
        }
        fact("leaves_listed", listed);
        Ok(())
    })
    .await
}

pub(crate) async fn spawn_lifetime_stack(root: ActorHandle, on_error: bool) -> Result<()> {
    let path = tree_file("lifetime-file")?;
    let r = root.clone();
    let p2 = path.clone();
    let out = r
        .open_nursery(|n| async move {
            let guarded = Guarded {
                path: p2.clone(),
                raise: on_error,
            };
            let p = n
                .run_in_actor("holder", NS, "guarded_file", guarded, ActorOptions::new())
                .await?;
            if on_error {
                return Ok(());
            }
            until(&root, || std::path::Path::new(&p2).exists()).await;
            fact("held", true);
            // The parent's timeout: the child never returns by itself, and
            // the timeout leaves the nursery, which cancels the child.
            let timeout = root.sleep(Duration::from_millis(100));
            match race(p.wait_for_result::<()>(), timeout).await {
                Either::Left(r) => Err(Error::raise(
                    "AssertionError",
                    format!("a child sleeping forever returned {r:?}"),
                )),
                Either::Right(()) => Err(Error::raise("TimeoutError", "the parent gave up")),
            }
        })
        .await;
    match out {
        Ok(()) => fact("outcome", "ok"),
        Err(e) => fact("outcome", describe(&e)),
    }
    fact("file_left", std::path::Path::new(&path).exists());
    Ok(())
}

pub(crate) async fn spawn_runtime_vars_reset(
    rt: Arc<dyn Runtime>,
    transport: Transport,
) -> Result<()> {
    let mut first = configure("", transport, None)?;
    first.debug_mode = true;
    let first_uid = tractor_driver::open_root_actor(rt.clone(), first, |root| async move {
        with_daemon(&root, "kid", |_| async { Ok(()) }).await?;
        Ok(root.uid().clone())
    })
    .await?;
    fact("between", current_actor().is_none());
    let second = configure("", transport, None)?;
    tractor_driver::open_root_actor(rt, second, |root| async move {
        fact("new_uid", root.uid().uuid != first_uid.uuid);
        fact("registrar", root.is_registrar());
        fact(
            "registered",
            registry_names(&root.get_registry().await?).join(","),
        );
        with_daemon(&root, "kid", |p| async move {
            let hi: String = p.run(NS, "hi", ()).await?;
            fact("hi", hi);
            Ok(())
        })
        .await
    })
    .await
}

pub(crate) async fn spawn_implicit_root(
    rt: Arc<dyn Runtime>,
    transport: Transport,
    bind: bool,
) -> Result<()> {
    let mut config = configure("", transport, None)?;
    let extra = match transport {
        Transport::Tcp => Address::tcp("127.0.0.1", 0),
        _ => Address::uds(
            tractor_driver::runtime_dir()?.to_string_lossy(),
            "forwarded@conformance.sock",
        ),
    };
    if bind {
        config.bind_addrs = vec![extra.clone()];
    }
    fact("before", current_actor().is_none());
    tractor_driver::open_nursery(rt, config, |n| async move {
        let root = current_actor().expect("the nursery runs in an actor");
        fact("root", &root.uid().name);
        fact("registrar", root.is_registrar());
        let addrs = root.accept_addrs();
        fact("listeners", addrs.len());
        if bind {
            let forwarded = match &extra {
                Address::Tcp { .. } => addrs[1..]
                    .iter()
                    .any(|a| matches!(a, Address::Tcp { port, .. } if *port > 0)),
                _ => addrs.contains(&extra),
            };
            fact("forwarded", forwarded);
        }
        let p = n.start_actor("kid", daemon()).await?;
        let hi: String = p.run(NS, "hi", ()).await?;
        fact("hi", hi);
        p.cancel_actor().await?;
        Ok(())
    })
    .await?;
    fact("after", current_actor().is_none());
    Ok(())
}

/// A child started the way a Python child is (`ActorOptions::python`),
/// with this program standing in for the interpreter: a symbolic link
/// `<venv>/bin/python` to it, as a virtual environment's interpreter is a
/// link to the base one. CPython would find its environment from the link's
/// path in `argv[0]`; this program, started with the child command line,
/// becomes a child and answers. Its command line and environment are read
/// from `/proc`: exactly what the interpreter got.
pub(crate) async fn spawn_python_child(root: ActorHandle) -> Result<()> {
    let venv =
        std::env::temp_dir().join(format!("tractor-conformance-venv-{}", std::process::id()));
    let python = venv.join("bin").join("python");
    let made = std::fs::create_dir_all(venv.join("bin"))
        .and_then(|()| std::os::unix::fs::symlink(std::env::current_exe()?, &python));
    let out = match made {
        Ok(()) => python_child(&root, &venv, &python).await,
        Err(e) => Err(e.into()),
    };
    let _ = std::fs::remove_dir_all(&venv);
    out
}

/// [`spawn_python_child`] once the interpreter's stand-in is in place.
pub(crate) async fn python_child(
    root: &ActorHandle,
    venv: &std::path::Path,
    python: &std::path::Path,
) -> Result<()> {
    let r = root.clone();
    r.open_nursery(|n| async move {
        let options = ActorOptions::new()
            .python(python)
            .enable_modules([NS])
            .env("CONF_PY_MARK", "set by the parent");
        let p = n.start_actor("pychild", options).await?;
        let pid: u32 = p.run(NS, "pid", ()).await?;
        let proc = |f: &str| std::fs::read(format!("/proc/{pid}/{f}")).unwrap_or_default();
        // NUL-terminated strings.
        let strings = |bytes: Vec<u8>| -> Vec<String> {
            bytes
                .split(|b| *b == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        };
        let argv = strings(proc("cmdline"));
        let Some((argv0, args)) = argv.split_first() else {
            return Err(Error::raise("AssertionError", "no command line"));
        };
        fact(
            "argv0_is_interpreter",
            *argv0 == python.display().to_string(),
        );
        fact(
            "argv0",
            std::path::Path::new(argv0)
                .strip_prefix(venv)
                .map_or_else(|_| argv0.clone(), |p| p.display().to_string()),
        );
        let expected = tractor_protocol::ChildArgs {
            uid: p.peer().clone(),
            parent_addr: root.accept_addrs()[0].clone(),
            loglevel: root.loglevel().map(str::to_owned),
            bootstrap_stdin: false,
            guest: false,
        }
        .to_args();
        fact("args_exact", *args == expected[..]);
        fact(
            "args",
            args.join(" ")
                .replace(&p.peer().uuid, "<uuid>")
                .replace(&expected[5], "<parent_addr>"),
        );
        fact("parent_addr_arg", args.get(5).cloned().unwrap_or_default());
        // The environment: this process's, with what the parent sets.
        let theirs: std::collections::BTreeMap<String, String> = strings(proc("environ"))
            .into_iter()
            .filter_map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
            })
            .collect();
        let ours: std::collections::BTreeMap<String, String> = std::env::vars().collect();
        let names = |keep: &dyn Fn(&String) -> bool,
                     of: &std::collections::BTreeMap<String, String>| {
            of.keys()
                .filter(|k| keep(k))
                .cloned()
                .collect::<Vec<_>>()
                .join(",")
        };
        fact("env_added", names(&|k| !ours.contains_key(k), &theirs));
        fact("env_missing", names(&|k| !theirs.contains_key(k), &ours));
        fact(
            "env_changed",
            names(&|k| theirs.get(k).is_some_and(|v| ours[k] != *v), &ours),
        );
        fact(
            "env_mark",
            theirs.get("CONF_PY_MARK").cloned().unwrap_or_default(),
        );
        fact(
            "env_parent_pid",
            theirs.get("TRACTOR_PARENT_PID")
                == Some(&format!("{}:{}", std::process::id(), p.peer().uuid)),
        );
        let hi: String = p.run(NS, "hi", ()).await?;
        fact("hi", hi);
        n.cancel().await;
        Ok(())
    })
    .await
}

/// Scenario `spawn-proctitle`.
pub(crate) async fn spawn_proctitle(root: ActorHandle) -> Result<()> {
    nursery_with(&root, "proctitle_boi", |n, p| async move {
        let pid: u32 = p.run(NS, "pid", ()).await?;
        let proc = |f: &str| std::fs::read(format!("/proc/{pid}/{f}")).unwrap_or_default();
        let cmdline = proc("cmdline");
        let arg0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
        fact("arg0", String::from_utf8_lossy(arg0));
        fact("comm", String::from_utf8_lossy(&proc("comm")).trim());
        let mine = std::fs::read_to_string("/proc/self/comm").unwrap_or_default();
        fact("root_comm", mine.trim());
        n.cancel().await;
        Ok(())
    })
    .await
}

/// Scenario `spawn-daemon-call-twice`.
pub(crate) async fn spawn_daemon_call_twice(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "frank", |p| async move {
        let a: String = p.run(NS, "hi", ()).await?;
        let b: String = p.run(NS, "hi", ()).await?;
        fact("first", &a);
        fact("second", &b);
        check!(a == "hi from frank" && a == b, "got {a:?} and {b:?}");
        Ok(())
    })
    .await
}

/// Scenario `spawn-one-shot-result`.
pub(crate) async fn spawn_one_shot_result(root: ActorHandle) -> Result<()> {
    let (p1, p2) = root
        .open_nursery(|n| async move {
            let value = Value {
                value: Some("yo".into()),
            };
            let p1 = n
                .run_in_actor("door-1", NS, "cellar_door", value, ActorOptions::new())
                .await?;
            let p2 = n
                .run_in_actor(
                    "door-2",
                    NS,
                    "cellar_door",
                    Value { value: None },
                    ActorOptions::new(),
                )
                .await?;
            let v1: Option<String> = p1.wait_for_result().await?;
            check!(v1.as_deref() == Some("yo"), "got {v1:?}");
            Ok((p1, p2))
        })
        .await?;
    // After the nursery: cached results, the children gone.
    let v1: Option<String> = p1.wait_for_result().await?;
    let v2: Option<String> = p2.wait_for_result().await?;
    fact("after", format!("{v1:?},{v2:?}"));
    check!(
        v1.as_deref() == Some("yo") && v2.is_none(),
        "got {v1:?}, {v2:?}"
    );
    Ok(())
}

/// Scenarios `spawn-child-not-root`, `spawn-child-distinct-pid` and `spawn-run-in-actor-recursive`.
pub(crate) async fn spawn_child_not_root(root: ActorHandle) -> Result<()> {
    let (is_root, pid, registrar) = nursery_with(&root, "kid", |_, p| async move {
        let r: bool = p.run(NS, "is_root", ()).await?;
        let pid: u32 = p.run(NS, "pid", ()).await?;
        let reg: bool = p.run(NS, "am_registrar", ()).await?;
        let debug: bool = p.run(NS, "debug_mode", ()).await?;
        fact("child_debug_mode", debug);
        p.cancel_actor().await?;
        Ok((r, pid, reg))
    })
    .await?;
    fact("child_is_root", is_root);
    fact("child_is_registrar", registrar);
    check!(
        !is_root && !registrar,
        "child root={is_root} registrar={registrar}"
    );
    check!(
        pid != std::process::id(),
        "the child runs in the root's process"
    );
    check!(
        is_root_process() && root.is_registrar(),
        "the root is the registrar"
    );
    Ok(())
}

/// Scenario `spawn-one-root-per-proc`.
pub(crate) async fn spawn_one_root_per_proc(_root: ActorHandle) -> Result<()> {
    let rt = runtime();
    let second =
        tractor_driver::open_root_actor(rt, Config::new("again", functions()), |_| async {
            Ok(())
        })
        .await;
    let e = second.expect_err("a second root in one process must fail");
    fact("error", &e);
    check!(e.to_string().contains("already runs"), "{e}");
    Ok(())
}

/// Scenario `spawn-many-concurrent`.
pub(crate) async fn spawn_many_concurrent(root: ActorHandle) -> Result<()> {
    let e = nursery_error(&root, "the body raised", |n| async move {
        // Each future borrows only the nursery: built in a
        // loop, awaited together.
        let spawns = (0..4)
            .map(|i| n.start_actor(format!("worker-{i}"), daemon()))
            .collect();
        let portals: Vec<Result<Portal>> = join_all(spawns).await;
        let mut pids = std::collections::BTreeSet::new();
        for p in &portals {
            let p = p.as_ref().map_err(Clone::clone)?;
            pids.insert(p.run::<u32>(NS, "pid", ()).await?);
        }
        fact("distinct_pids", pids.len());
        check!(pids.len() == 4, "pids {pids:?}");
        Err::<(), _>(Error::raise("Exception", "zombies contained?"))
    })
    .await;
    fact("error", describe(&e));
    check!(e.to_string().contains("zombies contained?"), "{e}");
    Ok(())
}

/// Scenario `spawn-debug-flag-inherited`.
pub(crate) async fn spawn_debug_flag_inherited(root: ActorHandle) -> Result<()> {
    fact("root", root.debug_mode());
    let flag: bool = one_shot_result(&root, "debugged", "debug_mode").await?;
    fact("child", flag);
    Ok(())
}

/// Scenario `spawn-no-runtime`: no actor before the root nor after it.
pub(crate) async fn spawn_no_runtime(rt: Arc<dyn Runtime>, config: Config) -> Result<()> {
    // No actor, so no handle to discover anything with.
    fact("before", current_actor().is_none());
    tractor_driver::open_root_actor(rt, config, |root| async move {
        fact(
            "inside",
            current_actor().is_some_and(|a| a.uid() == root.uid()),
        );
        Ok(())
    })
    .await?;
    fact("after", current_actor().is_none());
    Ok(())
}
