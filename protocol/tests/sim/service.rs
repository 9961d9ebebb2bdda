//! A test application serving functions from a table of handlers.

use std::collections::HashMap;
use std::time::Duration;

use tractor_protocol::{DialogId, Event, LocalError, Raw, TaskError};

use super::{App, Cx};

/// What a handler does with one call.
pub enum Reply {
    /// Accept and finish at once.
    Now(Result<Raw, TaskError>),
    /// Accept, then finish after a while.
    After(Duration, Result<Raw, TaskError>),
    /// Refuse the call before it runs (bad arguments).
    Reject(TaskError),
    /// Accept and never finish on its own.
    Hang,
}

type Handler = Box<dyn FnMut(&Raw) -> Reply>;

/// Serves `(ns, func)` pairs with handlers.
#[derive(Default)]
pub struct Service {
    handlers: HashMap<(String, String), Handler>,
    pending: HashMap<u64, (DialogId, Result<Raw, TaskError>)>,
    next_token: u64,
    /// Dialogs that were asked to stop, and why.
    pub cancelled: Vec<(DialogId, String)>,
}

impl Service {
    pub fn new() -> Self {
        Service::default()
    }

    pub fn handle(
        mut self,
        ns: &str,
        func: &str,
        handler: impl FnMut(&Raw) -> Reply + 'static,
    ) -> Self {
        self.handlers
            .insert((ns.to_owned(), func.to_owned()), Box::new(handler));
        self
    }
}

impl App for Service {
    fn on_event(&mut self, cx: &mut Cx<'_>, event: &Event) {
        match event {
            Event::Invoke {
                dialog,
                ns,
                func,
                kwargs,
                ..
            } => {
                let dialog = *dialog;
                let reply = match self.handlers.get_mut(&(ns.clone(), func.clone())) {
                    Some(h) => h(kwargs),
                    None => Reply::Reject(
                        LocalError::new("RuntimeError", "the test service has no handler").into(),
                    ),
                };
                match reply {
                    Reply::Now(outcome) => {
                        cx.actor.accept(dialog).unwrap();
                        cx.actor.finish(dialog, outcome).unwrap();
                    }
                    Reply::After(delay, outcome) => {
                        cx.actor.accept(dialog).unwrap();
                        self.next_token += 1;
                        self.pending.insert(self.next_token, (dialog, outcome));
                        cx.wake_after(delay, self.next_token);
                    }
                    Reply::Reject(err) => cx.actor.reject(dialog, err).unwrap(),
                    Reply::Hang => cx.actor.accept(dialog).unwrap(),
                }
            }
            Event::Cancel { dialog, cause } => {
                self.cancelled.push((*dialog, format!("{cause:?}")));
                // A cancelled task ends at its next checkpoint.
                self.pending.retain(|_, (d, _)| d != dialog);
                let err = LocalError::new("Cancelled", "cancelled");
                let _ = cx.actor.finish(*dialog, Err(err.into()));
            }
            _ => {}
        }
    }

    fn on_wake(&mut self, cx: &mut Cx<'_>, token: u64) {
        if let Some((dialog, outcome)) = self.pending.remove(&token) {
            cx.actor.finish(dialog, outcome).unwrap();
        }
    }
}
