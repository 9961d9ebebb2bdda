//! A test application that runs each invoked function as a small state
//! machine ([`Task`]), the way an adapter runs one async task per call.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tractor_protocol::{Actor, CancelCause, DialogId, Event, Incoming, LocalError, Raw};

use super::{App, Cx};

/// What a task sees when it runs.
pub struct TaskCx<'a> {
    pub actor: &'a mut Actor,
    pub now: Instant,
    pub dialog: DialogId,
    wakes: &'a mut Vec<(Duration, u64)>,
}

impl TaskCx<'_> {
    /// Asks for [`Task::on_wake`] after `delay`.
    pub fn wake_after(&mut self, delay: Duration) {
        self.wakes.push((delay, 0));
    }
}

/// One running function.
pub trait Task {
    /// Just invoked: accept (or reject) here.
    fn on_invoke(&mut self, cx: &mut TaskCx<'_>);
    /// The dialog has input. By default every item is taken and handed to
    /// [`Task::on_input`]; a task that does not read overrides this.
    fn on_readable(&mut self, cx: &mut TaskCx<'_>) {
        while let Ok(Some(item)) = cx.actor.recv(cx.dialog) {
            self.on_input(cx, item);
        }
    }
    fn on_input(&mut self, cx: &mut TaskCx<'_>, item: Incoming) {
        let _ = (cx, item);
    }
    /// Asked to stop. By default: stop at once.
    fn on_cancel(&mut self, cx: &mut TaskCx<'_>, cause: &CancelCause) {
        let _ = cause;
        let _ = cx
            .actor
            .finish(cx.dialog, Err(tractor_protocol::TaskError::Cancelled));
    }
    fn on_wake(&mut self, cx: &mut TaskCx<'_>) {
        let _ = cx;
    }
    /// The peer has room for more stream items again.
    fn on_writable(&mut self, cx: &mut TaskCx<'_>) {
        let _ = cx;
    }
}

type Factory = Box<dyn FnMut(&Raw) -> Box<dyn Task>>;

/// Runs tasks for `(ns, func)` pairs.
pub struct Tasks {
    factories: HashMap<(String, String), Factory>,
    running: HashMap<DialogId, Box<dyn Task>>,
    wakes: HashMap<u64, DialogId>,
    next_token: u64,
    /// What the tasks and the runtime reported, for assertions.
    pub log: Log,
}

/// A shared log tasks write to.
#[derive(Clone, Default)]
pub struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    pub fn push(&self, line: impl Into<String>) {
        self.0.borrow_mut().push(line.into());
    }
    pub fn lines(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
    pub fn contains(&self, line: &str) -> bool {
        self.0.borrow().iter().any(|l| l == line)
    }
}

impl Tasks {
    pub fn new(log: &Log) -> Self {
        Tasks {
            factories: HashMap::new(),
            running: HashMap::new(),
            wakes: HashMap::new(),
            next_token: 0,
            log: log.clone(),
        }
    }

    pub fn serve<T: Task + 'static>(
        mut self,
        ns: &str,
        func: &str,
        mut make: impl FnMut(&Raw) -> T + 'static,
    ) -> Self {
        self.factories.insert(
            (ns.to_owned(), func.to_owned()),
            Box::new(move |kwargs| Box::new(make(kwargs))),
        );
        self
    }

    fn run(
        &mut self,
        cx: &mut Cx<'_>,
        dialog: DialogId,
        f: impl FnOnce(&mut dyn Task, &mut TaskCx<'_>),
    ) {
        let Some(mut task) = self.running.remove(&dialog) else {
            return;
        };
        let mut wakes = Vec::new();
        let mut tcx = TaskCx {
            actor: cx.actor,
            now: cx.now,
            dialog,
            wakes: &mut wakes,
        };
        f(task.as_mut(), &mut tcx);
        for (delay, _) in wakes {
            self.next_token += 1;
            self.wakes.insert(self.next_token, dialog);
            cx.wake_after(delay, self.next_token);
        }
        self.running.insert(dialog, task);
    }
}

impl App for Tasks {
    fn on_event(&mut self, cx: &mut Cx<'_>, event: &Event) {
        match event {
            Event::Invoke {
                dialog,
                ns,
                func,
                kwargs,
                ..
            } => {
                let Some(make) = self.factories.get_mut(&(ns.clone(), func.clone())) else {
                    let err = LocalError::new("RuntimeError", "no task for this function");
                    cx.actor.reject(*dialog, err.into()).unwrap();
                    return;
                };
                let task = make(kwargs);
                self.running.insert(*dialog, task);
                self.run(cx, *dialog, |t, tcx| t.on_invoke(tcx));
            }
            Event::Readable { dialog } => self.run(cx, *dialog, |t, tcx| t.on_readable(tcx)),
            Event::Writable { dialog } => self.run(cx, *dialog, |t, tcx| t.on_writable(tcx)),
            Event::Cancel { dialog, cause } => {
                self.log.push(
                    format!("cancel {cause:?}")
                        .split('{')
                        .next()
                        .unwrap()
                        .trim()
                        .to_owned(),
                );
                self.run(cx, *dialog, |t, tcx| t.on_cancel(tcx, cause));
            }
            Event::ActorCancelRequested { by } => {
                self.log.push(format!("actor cancel by {}", by.name))
            }
            _ => {}
        }
    }

    fn on_wake(&mut self, cx: &mut Cx<'_>, token: u64) {
        if let Some(dialog) = self.wakes.remove(&token) {
            self.run(cx, dialog, |t, tcx| t.on_wake(tcx));
        }
    }
}
