//! The link's and the channel's promises, on a guest that is one plain
//! thread running its tasks.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use super::api as to_guest;
use super::*;
use crate::error::ErrorKind;
use crate::runtime::BoxFuture;
use crate::task::wait_here;

/// One guest at a time in this process: the tests take turns.
static TURN: Mutex<()> = Mutex::new(());

enum Msg {
    Run(Arc<Task>),
    Stop,
}

struct Task {
    fut: Mutex<Option<BoxFuture<'static, ()>>>,
    queue: mpsc::Sender<Msg>,
}

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        let _ = self.queue.send(Msg::Run(self.clone()));
    }
}

/// A guest of one thread; its tasks on record until it stops.
struct ThreadGuest {
    queue: mpsc::Sender<Msg>,
    tasks: Arc<Mutex<Vec<Arc<Task>>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl ThreadGuest {
    fn start() -> Arc<Self> {
        let (tx, rx) = mpsc::channel::<Msg>();
        let tasks: Arc<Mutex<Vec<Arc<Task>>>> = Arc::default();
        let theirs = tasks.clone();
        let thread = std::thread::spawn(move || {
            while let Ok(Msg::Run(task)) = rx.recv() {
                let waker = Waker::from(task.clone());
                let mut slot = task.fut.lock().unwrap();
                if let Some(fut) = slot.as_mut()
                    && fut
                        .as_mut()
                        .poll(&mut Context::from_waker(&waker))
                        .is_ready()
                {
                    *slot = None;
                }
            }
            // Stopped: every task left is dropped here, on this thread.
            for t in theirs.lock().unwrap().drain(..) {
                drop(t.fut.lock().unwrap().take());
            }
        });
        Arc::new(ThreadGuest {
            queue: tx,
            tasks,
            thread: Mutex::new(Some(thread)),
        })
    }
}

impl Guest for ThreadGuest {
    fn name(&self) -> &'static str {
        "test-thread"
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        let task = Arc::new(Task {
            fut: Mutex::new(Some(task)),
            queue: self.queue.clone(),
        });
        self.tasks.lock().unwrap().push(task.clone());
        let _ = self.queue.send(Msg::Run(task));
    }

    fn shutdown(&self, _deadline: Instant) -> bool {
        let _ = self.queue.send(Msg::Stop);
        if let Some(t) = self.thread.lock().unwrap().take() {
            let _ = t.join();
        }
        true
    }
}

/// Runs `f` with a fresh guest installed, and stops it after.
fn with_guest<R>(f: impl FnOnce(&Arc<ThreadGuest>) -> R) -> R {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let g = ThreadGuest::start();
    *slot() = Some(g.clone());
    let r = f(&g);
    slot().take();
    g.shutdown(Instant::now());
    r
}

/// Drops its flag's value to true when dropped.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    std::pin::Pin::new(fut).poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn run_yields_the_guest_futures_output_and_its_error_by_type_and_message() {
    with_guest(|_| {
        let on = wait_here(to_guest::run(|| async {
            Ok::<_, std::io::Error>(std::thread::current().id())
        }))
        .unwrap();
        assert_ne!(
            on,
            std::thread::current().id(),
            "it ran on the guest's thread"
        );
        let e = wait_here(to_guest::run(|| async {
            Err::<(), _>(std::io::Error::other("the guest says no"))
        }))
        .unwrap_err();
        assert_eq!(e.type_name(), Some("io::Error"), "{e}");
        assert_eq!(e.to_string(), "io::Error: the guest says no");
        match e.kind() {
            ErrorKind::Local(l) => {
                assert!(l.traceback.contains("guest/tests.rs"), "{}", l.traceback)
            }
            other => panic!("{other:?}"),
        }
        // A tractor error passes as it is.
        let e = wait_here(to_guest::run(|| async {
            Err::<(), _>(crate::Error::raise("ValueError", "bad"))
        }))
        .unwrap_err();
        assert_eq!(e.to_string(), "ValueError: bad");
    });
}

#[test]
fn a_guest_panic_is_the_callers_error() {
    with_guest(|_| {
        let e = wait_here(to_guest::run(|| async {
            if true {
                panic!("the guest task gives up");
            }
            Ok::<(), std::io::Error>(())
        }))
        .unwrap_err();
        assert_eq!(e.type_name(), Some("Panic"), "{e}");
        assert!(e.to_string().contains("the guest task gives up"), "{e}");
        assert!(e.to_string().contains("guest/tests.rs"), "{e}");
        // The guest goes on.
        assert_eq!(
            wait_here(to_guest::run(|| async { Ok::<_, std::io::Error>(1) })).unwrap(),
            1
        );
    });
}

#[test]
fn dropping_the_caller_drops_the_guest_task_before_the_drop_returns() {
    with_guest(|_| {
        for _ in 0..50 {
            let dropped = Arc::new(AtomicBool::new(false));
            let started = Arc::new(AtomicBool::new(false));
            let (d, s) = (SetOnDrop(dropped.clone()), started.clone());
            let mut call = Box::pin(to_guest::run(move || async move {
                let _d = d;
                s.store(true, Ordering::SeqCst);
                std::future::pending::<()>().await;
                Ok::<(), std::io::Error>(())
            }));
            assert!(poll_once(&mut call).is_pending());
            // Sometimes before the guest polled it, sometimes after.
            drop(call);
            assert!(
                dropped.load(Ordering::SeqCst),
                "the guest task outlived its caller"
            );
        }
    });
}

#[test]
fn a_stopped_guest_cancels_its_callers() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let g = ThreadGuest::start();
    *slot() = Some(g.clone());
    let mut call = Box::pin(to_guest::run(|| async {
        std::future::pending::<()>().await;
        Ok::<(), std::io::Error>(())
    }));
    assert!(poll_once(&mut call).is_pending());
    slot().take();
    assert!(g.shutdown(Instant::now()));
    let e = wait_here(call).unwrap_err();
    assert!(e.is_cancelled(), "{e}");
}

#[test]
fn without_a_guest_the_call_says_how_to_get_one() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let e = wait_here(to_guest::run(|| async { Ok::<_, std::io::Error>(()) })).unwrap_err();
    assert!(e.to_string().contains("ActorOptions::guest"), "{e}");
}

#[test]
fn a_channel_gives_started_first_then_items_both_ways_bounded() {
    with_guest(|_| {
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = sent.clone();
        let (first, mut chan) = wait_here(to_guest::open_channel_with_capacity(
            4,
            move |start| async move {
                let mut chan = start.started("ready");
                for i in 0..100u32 {
                    chan.send(i).await?;
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                let mut words = Vec::new();
                while let Some(w) = chan.recv().await {
                    words.push(w);
                }
                Ok::<_, crate::Error>(words.join(" "))
            },
        ))
        .unwrap();
        assert_eq!(first, "ready");
        for i in 0..100u32 {
            // Never more than the capacity ahead of what was received.
            assert!(sent.load(Ordering::SeqCst) <= i as usize + 4);
            assert_eq!(wait_here(chan.receive()).unwrap(), i);
        }
        for w in ["all", "read"] {
            wait_here(chan.send(w.to_string())).unwrap();
        }
        chan.close();
        let end = wait_here(chan.receive()).unwrap_err();
        assert!(matches!(end.kind(), ErrorKind::EndOfStream), "{end}");
        assert_eq!(wait_here(chan.wait()).unwrap(), "all read");
    });
}

#[test]
fn a_guest_failure_after_started_is_the_channels_error() {
    with_guest(|_| {
        let (_, chan) = wait_here(to_guest::open_channel_from(|start| async move {
            let mut chan = start.started(());
            chan.send(1u8).await.map_err(std::io::Error::other)?;
            Err::<(), _>(std::io::Error::other("lost the upstream"))
        }))
        .unwrap();
        let mut chan: LinkedChannel<(), u8, ()> = chan;
        assert_eq!(wait_here(chan.receive()).unwrap(), 1);
        let e = wait_here(chan.receive()).unwrap_err();
        assert_eq!(e.to_string(), "io::Error: lost the upstream");
        let e = wait_here(chan.send(())).unwrap_err();
        assert_eq!(e.to_string(), "io::Error: lost the upstream");
    });
}

#[test]
fn a_guest_that_returns_or_fails_before_started_fails_the_open() {
    with_guest(|_| {
        let e = wait_here(to_guest::open_channel_from(
            |_start: GuestStart<(), (), ()>| async { Ok::<_, std::io::Error>(()) },
        ))
        .unwrap_err();
        assert!(e.to_string().contains("without calling started()"), "{e}");
        let e = wait_here(to_guest::open_channel_from(
            |_start: GuestStart<(), (), ()>| async {
                Err::<(), _>(std::io::Error::other("no upstream"))
            },
        ))
        .unwrap_err();
        assert_eq!(e.to_string(), "io::Error: no upstream");
    });
}

#[test]
fn dropping_the_channel_drops_the_guest_task_before_the_drop_returns() {
    with_guest(|_| {
        let dropped = Arc::new(AtomicBool::new(false));
        let d = SetOnDrop(dropped.clone());
        let (_, chan) = wait_here(to_guest::open_channel_from(move |start| async move {
            let _d = d;
            let mut chan = start.started(());
            // Blocked on a full channel nobody reads.
            loop {
                chan.send(0u64).await?;
            }
            #[allow(unreachable_code)]
            Ok::<(), crate::Error>(())
        }))
        .unwrap();
        let chan: LinkedChannel<(), u64, ()> = chan;
        drop(chan);
        assert!(
            dropped.load(Ordering::SeqCst),
            "the guest task outlived its channel"
        );
    });
}

#[test]
fn type_names_are_short() {
    assert_eq!(short_type_name::<std::io::Error>(), "io::Error");
    assert_eq!(short_type_name::<std::fmt::Error>(), "fmt::Error");
    assert_eq!(short_type_name::<crate::Error>(), "Error");
    assert_eq!(short_type_name::<String>(), "String");
    assert_eq!(
        short_type_name::<std::collections::HashMap<u8, String>>(),
        "HashMap<u8, String>"
    );
    assert_eq!(
        short_type_name::<Box<dyn std::error::Error + Send + Sync>>(),
        "Box<dyn error::Error + Send + Sync>"
    );
    assert_eq!(
        short_type_name::<std::num::ParseIntError>(),
        "ParseIntError"
    );
}

/// Panics when dropped.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("a guest future's drop panics");
    }
}

#[test]
fn a_guest_future_whose_drop_panics_still_ends_its_link_and_the_guest_goes_on() {
    with_guest(|_| {
        // Cancelled: the drop panics on the guest's thread.
        let mut call = Box::pin(to_guest::run(|| async {
            let _p = PanicOnDrop;
            std::future::pending::<()>().await;
            Ok::<(), std::io::Error>(())
        }));
        assert!(poll_once(&mut call).is_pending());
        drop(call);
        // Its locals' drop at its end is part of its last poll: a panic.
        let e = wait_here(to_guest::run(|| async {
            let _p = PanicOnDrop;
            Ok::<_, std::io::Error>(5)
        }))
        .unwrap_err();
        assert!(
            e.to_string().contains("a guest future's drop panics"),
            "{e}"
        );
        // The guest's thread survived both.
        assert_eq!(
            wait_here(to_guest::run(|| async { Ok::<_, std::io::Error>(6) })).unwrap(),
            6
        );
    });
}

#[test]
fn a_blocked_guest_costs_one_drop_wait_not_one_per_link() {
    use super::link::{PROGRESS, STALLED_AT};
    with_guest(|_| {
        let release = Arc::new(AtomicBool::new(false));
        let r = release.clone();
        // Blocks the guest's one thread until released.
        let mut blocker = Box::pin(to_guest::run(move || async move {
            while !r.load(Ordering::SeqCst) {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Ok::<(), std::io::Error>(())
        }));
        assert!(poll_once(&mut blocker).is_pending());
        let queued: Vec<_> = (0..3)
            .map(|_| {
                let mut call = Box::pin(to_guest::run(|| async {
                    std::future::pending::<()>().await;
                    Ok::<(), std::io::Error>(())
                }));
                assert!(poll_once(&mut call).is_pending());
                call
            })
            .collect();
        let mut calls = queued.into_iter();
        // The first drop waits (the guest's thread is in the blocker's
        // poll, or gets there first), gives up, and marks the guest
        // stalled...
        drop(calls.next());
        let stalled = STALLED_AT.load(Ordering::SeqCst);
        assert_eq!(stalled, PROGRESS.load(Ordering::SeqCst));
        // ...so the others do not wait: the guest has not moved since.
        drop(calls);
        assert_eq!(STALLED_AT.load(Ordering::SeqCst), stalled);
        release.store(true, Ordering::SeqCst);
        wait_here(blocker).unwrap();
        // Moving again: calls go through, and drops wait again.
        assert_eq!(
            wait_here(to_guest::run(|| async { Ok::<_, std::io::Error>(3) })).unwrap(),
            3
        );
        assert_ne!(
            STALLED_AT.load(Ordering::SeqCst),
            PROGRESS.load(Ordering::SeqCst)
        );
    });
}

#[test]
fn sending_after_close_fails_and_the_guest_sees_the_end() {
    with_guest(|_| {
        let (_, mut chan): ((), LinkedChannel<u8, (), usize>) =
            wait_here(to_guest::open_channel_from(|start| async move {
                let mut chan: GuestChannel<(), u8> = start.started(());
                let mut n = 0;
                while chan.recv().await.is_some() {
                    n += 1;
                }
                Ok::<_, crate::Error>(n)
            }))
            .unwrap();
        wait_here(chan.send(1)).unwrap();
        chan.close();
        let e = wait_here(chan.send(2)).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Closed), "{e}");
        assert_eq!(wait_here(chan.wait()).unwrap(), 1);
    });
}
