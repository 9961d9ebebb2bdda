//! The REPL itself: a banner, the source around the stop, and a few
//! commands, read line by line. It runs on a thread of its own (stdin
//! blocks), with the tree's terminal lock held by its caller.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

/// The prompt, Python tractor's (tools that drive its REPL wait for it).
pub(crate) const PROMPT: &str = "(Pdb+) ";

/// Why the REPL opens.
#[derive(Debug, Clone)]
pub(crate) enum Reason {
    /// `pause()`.
    Paused,
    /// An error, shown in full.
    Crashed(String),
}

/// What the user chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Continue,
    Quit,
}

/// Everything the REPL shows about where it stopped.
pub(crate) struct Stop {
    pub(crate) actor: String,
    pub(crate) pid: u32,
    pub(crate) task: String,
    pub(crate) place: Option<String>,
    pub(crate) reason: Reason,
    pub(crate) file: Option<(String, u32)>,
    pub(crate) values: Vec<(String, String)>,
    /// The stack at the stop (empty if none was captured).
    pub(crate) backtrace: crate::trace::Trace,
    pub(crate) dialogs: Vec<String>,
}

/// Runs the REPL on this process's stdin and stdout.
pub(crate) fn on_terminal(stop: &Stop) -> Outcome {
    let colour = io::stdout().is_terminal();
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let mut out = io::stdout();
    let outcome = run(stop, colour, &mut input, &mut out, &mut attach_gdb);
    let _ = out.flush();
    outcome
}

/// Prints the prompt again (after an ignored ctrl-c).
pub(crate) fn reprompt() {
    let mut out = io::stdout();
    let _ = write!(out, "\n{PROMPT}");
    let _ = out.flush();
}

/// The REPL over any input and output; `gdb` runs the hand-off.
pub(crate) fn run(
    stop: &Stop,
    colour: bool,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    gdb: &mut dyn FnMut(u32, &mut dyn Write),
) -> Outcome {
    let paint = |code: &str, text: &str| {
        if colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };
    let headline = match &stop.reason {
        Reason::Paused => "Opening a REPL in paused actor",
        Reason::Crashed(_) => "Opening a REPL in crashed actor",
    };
    let _ = writeln!(out, "\n{}", paint("1;33", headline));
    let place = stop
        .place
        .as_deref()
        .map(|p| format!(": {p}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        ">(\n|_{} (pid {})\n  |_{}{place}\n",
        stop.actor, stop.pid, stop.task
    );
    if let Reason::Crashed(error) = &stop.reason {
        let _ = writeln!(out, "{}\n", paint("31", error));
    }
    let _ = write!(out, "{}", source(stop, 2, colour));
    let mut line = String::new();
    loop {
        let _ = write!(out, "{PROMPT}");
        let _ = out.flush();
        line.clear();
        match input.read_line(&mut line) {
            Ok(0) | Err(_) => {
                let _ = writeln!(out, "\n(end of input: continuing)");
                return Outcome::Continue;
            }
            Ok(_) => {}
        }
        let reply = match line.trim() {
            "" => continue,
            "c" | "cont" | "continue" => return Outcome::Continue,
            "q" | "quit" | "exit" => return Outcome::Quit,
            "w" | "where" | "bt" | "backtrace" => backtrace(stop),
            "l" | "list" | "ll" => source(stop, 10, colour),
            "v" | "vars" => values(stop),
            "ctx" | "contexts" | "tasks" => dialogs(stop),
            "gdb" => {
                gdb(stop.pid, out);
                continue;
            }
            "h" | "help" | "?" => HELP.to_owned(),
            other => format!("unknown command {other:?}; h for help\n"),
        };
        let _ = write!(out, "{reply}");
    }
}

const HELP: &str = "\
c, continue   leave the REPL; the task goes on
q, quit       leave the REPL; the task fails with BdbQuit
w, where      the backtrace where the task stopped
l, list       the source around the stop
v, vars       the values given to pause!(..)
ctx, tasks    this actor's open contexts and calls
gdb           attach rust-gdb (or gdb) to this process; quit it to come back
";

fn backtrace(stop: &Stop) -> String {
    if stop.backtrace.is_empty() {
        return match &stop.reason {
            Reason::Crashed(_) => "the error above shows where it was raised\n".into(),
            Reason::Paused => "no backtrace was captured\n".into(),
        };
    }
    // From the caller of `pause` down to the first frame of the runtime.
    let frames = stop.backtrace.app_frames();
    if frames.is_empty() {
        return "no frames of the application: the stop is in tractor's own code\n".into();
    }
    format!("{}\n", crate::trace::render(&frames))
}

fn values(stop: &Stop) -> String {
    if stop.values.is_empty() {
        return "no values: pause!(a, b) shows a and b here\n".into();
    }
    stop.values
        .iter()
        .map(|(name, value)| format!("{name} = {value}\n"))
        .collect()
}

fn dialogs(stop: &Stop) -> String {
    if stop.dialogs.is_empty() {
        return "no open contexts or calls\n".into();
    }
    stop.dialogs.iter().map(|d| format!("{d}\n")).collect()
}

/// The lines around the stop, `around` either side, the stop marked.
fn source(stop: &Stop, around: u32, colour: bool) -> String {
    let Some((file, line)) = &stop.file else {
        return String::new();
    };
    let Some(text) = find_source(Path::new(file)).and_then(|p| std::fs::read_to_string(p).ok())
    else {
        return format!("  --> {file}:{line} (source not found)\n\n");
    };
    let first = line.saturating_sub(around).max(1);
    let mut shown = format!("  --> {file}:{line}\n");
    for (n, text) in text.lines().enumerate() {
        let n = n as u32 + 1;
        if n < first || n > line + around {
            continue;
        }
        let row = if n == *line {
            let row = format!("-> {n:>4} | {text}");
            if colour {
                format!("\x1b[1m{row}\x1b[0m")
            } else {
                row
            }
        } else {
            format!("   {n:>4} | {text}")
        };
        shown.push_str(&row);
        shown.push('\n');
    }
    shown.push('\n');
    shown
}

/// A source path as the compiler recorded it: relative to where it ran
/// (a workspace root, usually), so looked up from here and upwards.
fn find_source(file: &Path) -> Option<PathBuf> {
    if file.is_absolute() {
        return file.exists().then(|| file.to_owned());
    }
    // Where the program runs from, or where it was built (a target
    // directory inside the workspace).
    let starts = [std::env::current_dir().ok(), std::env::current_exe().ok()];
    starts.into_iter().flatten().find_map(|start| {
        start
            .ancestors()
            .map(|dir| dir.join(file))
            .find(|p| p.exists())
    })
}

/// Hands the terminal to `rust-gdb` (or `gdb`) attached to `pid`, and
/// waits until the user quits it.
fn attach_gdb(pid: u32, out: &mut dyn Write) {
    for program in ["rust-gdb", "gdb"] {
        let status = std::process::Command::new(program)
            .args(["-q", "-p", &pid.to_string()])
            .status();
        match status {
            Ok(_) => return,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                let _ = writeln!(out, "could not start {program}: {e}");
                return;
            }
        }
    }
    let _ = writeln!(out, "neither rust-gdb nor gdb is installed");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stop(reason: Reason) -> Stop {
        Stop {
            actor: "child[f0713999…]".into(),
            pid: 42,
            task: "pause_then_return".into(),
            place: Some("pause at driver/src/debug/repl.rs:3:1".into()),
            reason,
            file: Some(("driver/src/debug/repl.rs".into(), 3)),
            values: vec![("x".into(), "3".into())],
            backtrace: crate::trace::Trace::default(),
            dialogs: vec!["ns:func context <- root[ebdb…] [streaming, cid c1]".into()],
        }
    }

    fn session(stop: &Stop, typed: &str) -> (Outcome, String, Vec<u32>) {
        let mut out = Vec::new();
        let mut attached = Vec::new();
        let outcome = run(
            stop,
            false,
            &mut typed.as_bytes(),
            &mut out,
            &mut |pid, _| attached.push(pid),
        );
        (outcome, String::from_utf8(out).unwrap(), attached)
    }

    #[test]
    fn the_banner_names_the_actor_task_and_reason() {
        let (outcome, out, _) = session(&stop(Reason::Paused), "c\n");
        assert_eq!(outcome, Outcome::Continue);
        assert!(out.contains("Opening a REPL in paused actor"), "{out}");
        assert!(out.contains("|_child[f0713999…] (pid 42)"), "{out}");
        assert!(
            out.contains("|_pause_then_return: pause at driver/src/debug/repl.rs:3:1"),
            "{out}"
        );
        // The stop's line is marked in the source shown.
        assert!(out.contains("->    3 | "), "{out}");
        assert!(out.ends_with(PROMPT), "{out}");
    }

    #[test]
    fn a_crash_shows_its_error_and_quit_quits() {
        let (outcome, out, _) = session(&stop(Reason::Crashed("ValueError: no".into())), "q\n");
        assert_eq!(outcome, Outcome::Quit);
        assert!(out.contains("Opening a REPL in crashed actor"), "{out}");
        assert!(out.contains("ValueError: no"), "{out}");
    }

    #[test]
    fn commands_answer_and_prompt_again() {
        let (outcome, out, attached) = session(
            &stop(Reason::Paused),
            "v\nctx\nbogus\n\nh\ngdb\nw\ncontinue\n",
        );
        assert_eq!(outcome, Outcome::Continue);
        assert!(out.contains("x = 3\n"), "{out}");
        assert!(
            out.contains("ns:func context <- root[ebdb…] [streaming, cid c1]"),
            "{out}"
        );
        assert!(out.contains("unknown command \"bogus\""), "{out}");
        assert!(out.contains("q, quit"), "{out}");
        assert!(out.contains("no backtrace was captured"), "{out}");
        assert_eq!(attached, [42]);
        // One prompt per line read, the empty one included.
        assert_eq!(out.matches(PROMPT).count(), 8, "{out}");
    }

    #[test]
    fn the_backtrace_leaves_out_tractors_own_frames() {
        // Every frame of a unit test of this crate is the library's own.
        let mut s = stop(Reason::Paused);
        s.backtrace = crate::trace::Trace::capture();
        let (_, out, _) = session(&s, "w\nc\n");
        assert!(out.contains("no frames of the application"), "{out}");
    }

    #[test]
    fn end_of_input_continues() {
        let (outcome, out, _) = session(&stop(Reason::Paused), "");
        assert_eq!(outcome, Outcome::Continue);
        assert!(out.contains("end of input"), "{out}");
    }

    #[test]
    fn missing_source_is_said() {
        let mut s = stop(Reason::Paused);
        s.file = Some(("nowhere/at/all.rs".into(), 9));
        let (_, out, _) = session(&s, "c\n");
        assert!(
            out.contains("nowhere/at/all.rs:9 (source not found)"),
            "{out}"
        );
    }
}
