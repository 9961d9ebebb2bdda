//! The live view, driven on a pty like a person at the keyboard, against
//! a real tree on each adapter: it shows the tree, an actor's calls and
//! contexts once selected, its task dump on `d`; an actor that stops
//! answering, and one that dies, are shown as gone while the rest goes
//! on; `q` quits and gives the terminal back.

mod common;

use std::num::NonZeroU16;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{TOP, pid_of, signal, top_json};
use rexpect::session::{PtySession, spawn_command};
use tractor_conformance::{Tree, example_binary};

/// Generous: only a hang should ever reach it.
const HANG: Duration = Duration::from_secs(60);

const ROWS: NonZeroU16 = NonZeroU16::new(40).unwrap();
const COLS: NonZeroU16 = NonZeroU16::new(120).unwrap();

/// `tractor-top` on a pty of 120 × 40, and the screen it draws.
struct Screen {
    pty: PtySession,
    screen: vt100::Parser,
}

impl Screen {
    fn start(tree: &Tree, registry: &str) -> Screen {
        let mut command = tree.command(
            Path::new("sh"),
            &[
                "-c",
                r#"stty cols 120 rows 40 && exec "$0" --registry "$1""#,
                TOP,
                registry,
            ],
        );
        command.env("TERM", "xterm-256color");
        let pty = spawn_command(command, Some(HANG.as_millis() as u64)).expect("a pty");
        Screen {
            pty,
            screen: vt100::Parser::new(ROWS, COLS, 0),
        }
    }

    /// Reads what was drawn so far.
    fn read(&mut self) {
        let mut bytes = Vec::new();
        while let Some(c) = self.pty.try_read() {
            bytes.push(c);
        }
        self.screen.process(&bytes_of(&String::from_iter(bytes)));
    }

    /// Waits until `what` holds of the screen's text; returns that text.
    fn wait_until(&mut self, what: &str, holds: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + HANG;
        loop {
            self.read();
            let text = self.screen.screen().contents();
            if holds(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "waiting for {what}; the screen:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_for(&mut self, needle: &str) -> String {
        self.wait_until(needle, |t| t.contains(needle))
    }

    /// Waits until the tree's line of `name` shows `state`.
    fn wait_for_state(&mut self, name: &str, state: &str) -> String {
        let what = format!("{name} {state}");
        self.wait_until(&what, |t| {
            line_of(t, name).is_some_and(|l| l.split(['│', ' ']).any(|w| w == state))
        })
    }

    fn key(&mut self, keys: &str) {
        self.pty.send(keys).expect("typing");
        self.pty.flush().expect("typing");
    }
}

/// The bytes the pty's reader handed over, each as the char of its code.
fn bytes_of(read: &str) -> Vec<u8> {
    read.chars().map(|c| c as u32 as u8).collect()
}

/// The tree's line of the actor `name`.
fn line_of<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen.lines().find(|l| {
        let mut words = l
            .split(|c: char| c.is_whitespace() || c == '│')
            .filter(|w| !w.is_empty());
        let first = words.next();
        let first = if first == Some("└") {
            words.next()
        } else {
            first
        };
        first == Some(name)
    })
}

/// The number in column `header` of the tree's line of `name`, if it
/// shows one.
fn column(screen: &str, name: &str, header: &str) -> Option<f64> {
    let head: Vec<char> = screen
        .lines()
        .find(|l| l.contains(header))?
        .chars()
        .collect();
    let at =
        (0..head.len()).find(|&i| head[i..].starts_with(&header.chars().collect::<Vec<_>>()))?;
    let line: Vec<char> = line_of(screen, name)?.chars().collect();
    let cell: String = line
        .get(at..)?
        .iter()
        .take_while(|c| !c.is_whitespace())
        .collect();
    cell.parse().ok()
}

fn watch_a_tree_live(adapter: &str) {
    let tree = Tree::new().adapter(adapter);
    let mut running = tree.spawn(&example_binary("top_tree"), &[]);
    let registry = running.wait_for_fact("registry");
    let leaf = pid_of(&top_json(&tree, &registry), "leaf");

    let mut s = Screen::start(&tree, &registry);
    // The tree, each actor under its parent; the root selected, with the
    // context it opened.
    let screen = s.wait_until("the whole tree", |t| {
        ["top-root", "feeder", "middle", "leaf"]
            .iter()
            .all(|n| line_of(t, n).is_some())
    });
    let names: Vec<&str> = screen
        .lines()
        .filter_map(|l| {
            ["top-root", "feeder", "middle", "leaf"]
                .into_iter()
                .find(|n| line_of(l, n).is_some())
        })
        .collect();
    assert_eq!(names, ["top-root", "feeder", "middle", "leaf"], "{screen}");
    assert!(
        line_of(&screen, "top-root")
            .unwrap()
            .contains("[registrar]"),
        "{screen}"
    );
    assert!(
        line_of(&screen, "leaf")
            .unwrap()
            .contains(&leaf.to_string()),
        "{screen}"
    );
    assert!(
        line_of(&screen, "feeder").unwrap().contains(adapter),
        "{screen}"
    );
    s.wait_for("top:counter");
    // Rates, from a second walk on: the feeder streams about 50 items a
    // second.
    s.wait_until("the feeder's message rate", |t| {
        column(t, "feeder", "MSG/S").is_some_and(|r| (10.0..1000.0).contains(&r))
    });

    // Select the feeder: the context it serves.
    s.key("j");
    s.wait_until("the feeder's pane", |t| {
        t.lines()
            .any(|l| l.contains("top:counter") && l.contains("serves") && l.contains("top-root"))
    });
    // Its task dump.
    s.key("d");
    s.wait_for("task dump of feeder");
    s.wait_for("task tree of ('feeder'");
    s.key("\x1b");
    s.wait_for("d task dump");
    // Esc with no dump open does not quit: the view still follows keys.
    s.key("\x1b");
    s.key("j");
    s.wait_until("the middle's pane", |t| {
        t.lines()
            .any(|l| l.contains("top:with_child") && l.contains("serves"))
    });

    // A stopped actor does not hang the view: it is shown as gone, and
    // back once it runs again.
    signal("-STOP", leaf);
    s.wait_for_state("leaf", "gone");
    s.wait_for_state("feeder", "running");
    signal("-CONT", leaf);
    s.wait_for_state("leaf", "running");
    // A dead one is gone too; the tree goes on without it.
    signal("-KILL", leaf);
    s.wait_for_state("leaf", "gone");
    s.wait_for_state("feeder", "running");

    // `q` quits, and the terminal is given back.
    s.key("q");
    let rest = s.pty.exp_eof().expect("tractor-top ends");
    s.read();
    s.screen.process(&bytes_of(&rest));
    assert!(
        !s.screen.screen().alternate_screen(),
        "the terminal is given back"
    );
    let status = s.pty.process().wait().expect("tractor-top is reaped");
    assert!(
        matches!(status, nix::sys::wait::WaitStatus::Exited(_, 0)),
        "{status:?}"
    );

    running.signal("INT");
    running.finish(&tree);
    tree.assert_clean();
}

#[test]
fn live_view_on_tokio() {
    watch_a_tree_live("tokio");
}

#[test]
fn live_view_on_smol() {
    watch_a_tree_live("smol");
}
