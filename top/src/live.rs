//! The live view: the tree redrawn about once a second, an actor's calls
//! and contexts, and its task dump on demand.
//!
//! Keys: `↑`/`↓` (or `k`/`j`) select an actor, `d` asks it for its task
//! dump (`↑`/`↓`, `PgUp`/`PgDn` then scroll it, `Esc` closes it), `q` (or
//! `Ctrl-C`) quits.
//!
//! CPU % and message rates are over the time between two walks, by the
//! actor's own clock: CPU time comes in ticks of 10 ms, so over a second
//! CPU % moves in steps of 1.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tokio::sync::mpsc;
use tractor_tokio::prelude::*;
use tractor_tokio::{Address, Uid};

use crate::render::ordered;
use crate::view;
use crate::walk::{Answer, Seen, Walker};

/// How often the tree is walked (a walk waits at most
/// [`crate::walk::ANSWER_WAIT`] for a silent actor).
pub(crate) const REFRESH: Duration = Duration::from_secs(1);

/// How long an actor that left the registrar stays listed, as gone.
const GONE_KEPT: Duration = Duration::from_secs(10);

/// One actor's line, and what its pane shows.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) uid: Uid,
    pub(crate) depth: usize,
    pub(crate) addr: Option<Address>,
    pub(crate) state: String,
    pub(crate) pid: Option<u32>,
    pub(crate) cpu_percent: Option<f64>,
    pub(crate) rss_kib: Option<u64>,
    /// Stream items and calls, both ways, per second.
    pub(crate) msg_rate: Option<f64>,
    pub(crate) seen: Answer,
}

/// What was last known of an actor, for its rates.
#[derive(Debug, Clone, Copy)]
struct Sample {
    uptime_ms: u64,
    cpu_ms: u64,
    msgs: u64,
}

/// A task dump asked for or shown.
pub(crate) struct Dump {
    pub(crate) of: Uid,
    /// `None` while it is being made.
    pub(crate) text: Option<Result<String, String>>,
    pub(crate) scroll: u16,
}

impl Dump {
    /// `scroll`, but never past the dump's last line.
    fn clamped(&self, scroll: u16) -> u16 {
        let lines = match &self.text {
            // As shown: without the dump's leading blank line.
            Some(Ok(t)) => t.trim_start_matches('\n').lines().count(),
            _ => 1,
        };
        scroll.min(u16::try_from(lines.saturating_sub(1)).unwrap_or(u16::MAX))
    }
}

/// Everything the view shows.
pub(crate) struct App {
    pub(crate) registry: String,
    pub(crate) entries: Vec<Entry>,
    pub(crate) selected: usize,
    pub(crate) dump: Option<Dump>,
    /// The last walk's trouble (the registrar did not answer), if any.
    pub(crate) trouble: Option<String>,
    pub(crate) walks: u64,
    pub(crate) walk_took: Duration,
    samples: HashMap<Uid, Sample>,
    /// Actors that left the registrar, and since when.
    left: HashMap<Uid, (Entry, Instant)>,
}

impl App {
    fn new(registry: String) -> App {
        App {
            registry,
            entries: Vec::new(),
            selected: 0,
            dump: None,
            trouble: None,
            walks: 0,
            walk_took: Duration::ZERO,
            samples: HashMap::new(),
            left: HashMap::new(),
        }
    }

    /// The selected actor, if any.
    pub(crate) fn current(&self) -> Option<&Entry> {
        self.entries.get(self.selected)
    }

    /// Takes a walk's outcome in.
    fn update(&mut self, walked: Result<Vec<Seen>, String>, took: Duration, now: Instant) {
        self.walks += 1;
        self.walk_took = took;
        let seen = match walked {
            Ok(seen) => {
                self.trouble = None;
                seen
            }
            Err(e) => {
                self.trouble = Some(e);
                return;
            }
        };
        let keep = self.current().map(|e| e.uid.clone());
        // Each child's state, as its parent tells it.
        let told: HashMap<&Uid, &str> = seen
            .iter()
            .filter_map(|s| match &s.answer {
                Answer::Snapshot(snap) => Some(snap.children.iter()),
                _ => None,
            })
            .flatten()
            .map(|c| (&c.uid, c.state.as_str()))
            .collect();
        let mut entries = Vec::with_capacity(seen.len());
        let mut samples = HashMap::new();
        for (depth, s) in ordered(&seen) {
            let mut e = Entry {
                uid: s.uid.clone(),
                depth,
                addr: s.addrs.first().cloned(),
                state: String::new(),
                pid: None,
                cpu_percent: None,
                rss_kib: None,
                msg_rate: None,
                seen: s.answer.clone(),
            };
            match &s.answer {
                Answer::Snapshot(snap) => {
                    let c = &snap.counters;
                    let now_sample = Sample {
                        uptime_ms: snap.process.uptime_ms,
                        cpu_ms: snap.process.cpu_ms,
                        msgs: c.items_sent + c.items_received + c.calls_served + c.calls_made,
                    };
                    if let Some(before) = self.samples.get(&s.uid) {
                        let span = now_sample.uptime_ms.saturating_sub(before.uptime_ms);
                        if span > 0 {
                            let cpu = now_sample.cpu_ms.saturating_sub(before.cpu_ms);
                            e.cpu_percent = Some(cpu as f64 * 100.0 / span as f64);
                            let msgs = now_sample.msgs.saturating_sub(before.msgs);
                            e.msg_rate = Some(msgs as f64 * 1000.0 / span as f64);
                        }
                    }
                    samples.insert(s.uid.clone(), now_sample);
                    e.pid = snap.pid;
                    e.rss_kib = Some(snap.process.rss_kib);
                    e.state = if snap.cancelling {
                        "cancelling".into()
                    } else {
                        told.get(&s.uid).copied().unwrap_or("running").into()
                    };
                }
                Answer::NoIntrospection => e.state = "python".into(),
                Answer::Gone(_) => e.state = "gone".into(),
            }
            entries.push(e);
        }
        // Who left the registrar since the last walk stays a while, gone.
        for old in std::mem::take(&mut self.entries) {
            if !entries.iter().any(|e| e.uid == old.uid) && old.state != "gone" {
                let mut gone = old;
                gone.state = "gone".into();
                gone.cpu_percent = None;
                gone.msg_rate = None;
                gone.seen = Answer::Gone("left the registrar".into());
                self.left.insert(gone.uid.clone(), (gone, now));
            }
        }
        self.left.retain(|uid, (_, since)| {
            now.duration_since(*since) < GONE_KEPT && !entries.iter().any(|e| &e.uid == uid)
        });
        let mut left: Vec<&(Entry, Instant)> = self.left.values().collect();
        left.sort_by_key(|(e, _)| e.uid.to_string());
        entries.extend(left.into_iter().map(|(e, _)| e.clone()));
        self.entries = entries;
        self.samples = samples;
        self.selected = keep
            .and_then(|uid| self.entries.iter().position(|e| e.uid == uid))
            .unwrap_or(self.selected)
            .min(self.entries.len().saturating_sub(1));
    }

    /// What a key does; `false` to quit.
    fn key(
        &mut self,
        key: KeyEvent,
        me: &ActorHandle,
        dumps: &mpsc::Sender<(Uid, DumpResult)>,
    ) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('c') if ctrl => return false,
            KeyCode::Char('q') => return false,
            KeyCode::Esc => self.dump = None,
            KeyCode::Up | KeyCode::Char('k') => match &mut self.dump {
                Some(d) => d.scroll = d.scroll.saturating_sub(1),
                None => self.selected = self.selected.saturating_sub(1),
            },
            KeyCode::Down | KeyCode::Char('j') => match &mut self.dump {
                Some(d) => d.scroll = d.clamped(d.scroll.saturating_add(1)),
                None => {
                    self.selected = (self.selected + 1).min(self.entries.len().saturating_sub(1))
                }
            },
            KeyCode::PageUp => {
                if let Some(d) = &mut self.dump {
                    d.scroll = d.scroll.saturating_sub(10);
                }
            }
            KeyCode::PageDown => {
                if let Some(d) = &mut self.dump {
                    d.scroll = d.clamped(d.scroll.saturating_add(10));
                }
            }
            KeyCode::Home => self.selected = 0,
            KeyCode::End => self.selected = self.entries.len().saturating_sub(1),
            KeyCode::Char('d') => {
                if let Some(e) = self.current() {
                    let of = e.uid.clone();
                    let text = match e.addr.clone() {
                        Some(addr) if e.state != "gone" => {
                            let tx = dumps.clone();
                            let asking = crate::walk::dump(me.clone(), addr);
                            let uid = of.clone();
                            // Detached: it ends within `walk::DUMP_WAIT`.
                            drop(me.spawn(async move {
                                let _ = tx.send((uid, asking.await)).await;
                            }));
                            None
                        }
                        _ => Some(Err("it is gone".to_owned())),
                    };
                    self.dump = Some(Dump {
                        of,
                        text,
                        scroll: 0,
                    });
                }
            }
            _ => {}
        }
        true
    }
}

type DumpResult = Result<String, String>;

/// Puts the terminal back as it was, however the view ends.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Runs the live view until `q`.
pub(crate) async fn run(walker: Walker) -> Result<()> {
    let me = walker.actor().clone();
    // Before: a setup that fails halfway is undone too.
    let _restore = Restore;
    let mut terminal = ratatui::try_init()
        .map_err(|e| Error::raise("OSError", format!("no terminal for the live view: {e}")))?;
    let (keys_tx, mut keys) = mpsc::channel::<Event>(64);
    // Keys come from a thread of their own: reading the terminal blocks.
    std::thread::Builder::new()
        .name("tractor-top-keys".into())
        .spawn(move || {
            while let Ok(ev) = event::read() {
                if keys_tx.blocking_send(ev).is_err() {
                    return;
                }
            }
        })
        .map_err(|e| Error::raise("OSError", format!("no thread for keys: {e}")))?;
    let (walks_tx, mut walks) = mpsc::channel(1);
    let (dumps_tx, mut dumps) = mpsc::channel(4);
    let mut app = App::new(walker.registrar().to_string());
    // The walks run in a task of their own: keys are answered while a
    // walk waits on a silent actor.
    let mut walking = walker;
    let walk_me = me.clone();
    let _walks = me.spawn(async move {
        loop {
            let started = Instant::now();
            let walked = walking.walk().await.map_err(|e| {
                format!(
                    "the registrar did not answer: {}",
                    e.to_string().lines().next().unwrap_or("")
                )
            });
            if walks_tx.send((walked, started.elapsed())).await.is_err() {
                return;
            }
            walk_me
                .sleep(REFRESH.saturating_sub(started.elapsed()))
                .await;
        }
    });
    draw(&mut terminal, &app)?;
    loop {
        tokio::select! {
            Some((walked, took)) = walks.recv() => app.update(walked, took, Instant::now()),
            Some((of, text)) = dumps.recv() => {
                if let Some(d) = app.dump.as_mut().filter(|d| d.of == of) {
                    d.text = Some(text);
                }
            }
            key = keys.recv() => match key {
                Some(Event::Key(k)) if k.kind != KeyEventKind::Release => {
                    if !app.key(k, &me, &dumps_tx) {
                        return Ok(());
                    }
                }
                Some(_) => {}
                // The terminal is gone.
                None => return Ok(()),
            },
        }
        draw(&mut terminal, &app)?;
    }
}

fn draw(terminal: &mut ratatui::DefaultTerminal, app: &App) -> Result<()> {
    terminal
        .draw(|f| view::draw(f, app))
        .map(|_| ())
        .map_err(|e| Error::raise("OSError", format!("drawing: {e}")))
}
