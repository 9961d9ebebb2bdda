//! The actor running in this process: [`ActorHandle`] and its discovery through the registrar (find, wait for,
//! query, register, unregister).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tractor_protocol::{Address, Uid};

use crate::engine::{Conn, Shared};
use crate::error::{Error, Result};
use crate::future::ApiFuture;
use crate::nursery::{self, ActorNursery};
use crate::portal::{ChannelLease, Portal};
use crate::task::JoinHandle;
use crate::transport;

/// How long unregistering may take at exit, as in Python.
const UNREGISTER_TIMEOUT: Duration = Duration::from_millis(500);

/// The actor this process runs, if one is running.
pub fn current_actor() -> Option<ActorHandle> {
    crate::engine::current().map(|shared| ActorHandle { shared })
}

/// The actor running in this process: its identity, its nurseries, and
/// discovery of other actors.
#[derive(Clone)]
pub struct ActorHandle {
    pub(crate) shared: Arc<Shared>,
}

impl ActorHandle {
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) fn of(shared: Arc<Shared>) -> Self {
        ActorHandle { shared }
    }
}

impl std::fmt::Debug for ActorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ActorHandle({})", self.shared.uid)
    }
}

impl ActorHandle {
    /// This actor's uid.
    pub fn uid(&self) -> &Uid {
        &self.shared.uid
    }

    /// Where this actor accepts connections.
    pub fn accept_addrs(&self) -> Vec<Address> {
        self.shared.with(|st, _| st.actor.accept_addrs().to_vec())
    }

    /// The log level this actor runs with: `TRACTOR_LOGLEVEL` if set, else
    /// what the tree (or this actor's parent) chose for it, as Python's
    /// `--loglevel`; `None` when none was set. With a level, an actor whose
    /// program installed no `tracing` subscriber logs to the console (see
    /// [`log`](crate::log)).
    pub fn loglevel(&self) -> Option<&str> {
        self.shared.settings.loglevel.as_deref()
    }

    /// Whether the multi-process debugger is on for this actor (the tree's
    /// flag, sent to every child in its spawn spec, or the child's own).
    pub fn debug_mode(&self) -> bool {
        self.shared.with(|st, _| st.actor.runtime_vars().debug_mode)
    }

    /// Whether this actor is the registrar of its tree.
    pub fn is_registrar(&self) -> bool {
        self.shared.with(|st, _| st.actor.config().is_registrar)
    }

    /// The registrar addresses this tree uses.
    pub fn registry_addrs(&self) -> Vec<Address> {
        self.shared
            .with(|st, _| st.actor.runtime_vars().registry_addrs.clone())
    }

    /// Waits `duration`, on this actor's runtime (handy in code that runs
    /// on either adapter).
    #[track_caller]
    pub fn sleep(&self, duration: Duration) -> impl Future<Output = ()> {
        crate::task_record::api("ActorHandle::sleep", async move {
            self.shared.rt.sleep_until(Instant::now() + duration).await;
        })
    }

    /// Runs `task` in the background on this actor's runtime (handy in
    /// code that runs on either adapter); the returned handle yields its
    /// output, and dropping it detaches the task.
    ///
    /// ```no_run
    /// # use tractor_driver::prelude::*;
    /// # async fn demo(actor: ActorHandle) -> Result<()> {
    /// let doubled = actor.spawn(async { 21 * 2 });
    /// assert_eq!(doubled.await?, 42);
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn<T: Send + 'static>(
        &self,
        task: impl Future<Output = T> + Send + 'static,
    ) -> JoinHandle<T> {
        crate::task::spawn(&*self.shared.rt, task)
    }

    /// This actor as it sees itself now: what it answers a peer's
    /// `self.introspect` (see [`introspect`](crate::introspect)), its
    /// children, open calls and contexts, counters and process.
    ///
    /// ```no_run
    /// # use tractor_driver::prelude::*;
    /// # fn demo(root: ActorHandle) {
    /// let me = root.snapshot();
    /// println!("{} (pid {:?}): {} children", me.uid, me.pid, me.children.len());
    /// # }
    /// ```
    pub fn snapshot(&self) -> crate::introspect::Snapshot {
        crate::engine::snapshot(&self.shared)
    }

    /// Opens an actor nursery for `body`; returns when the body has ended
    /// and every child has exited (see [`ActorNursery`]).
    #[track_caller]
    pub fn open_nursery<F, Fut, T>(&self, body: F) -> impl Future<Output = Result<T>>
    where
        F: FnOnce(ActorNursery) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        crate::task_record::api("ActorHandle::open_nursery", async move {
            nursery::open_nursery(self.shared.clone(), body).await
        })
    }

    /// A portal to the actor named `name` (or with that uuid), if the
    /// registrar knows one: an existing connection is reused, else one is
    /// opened to its preferred address and closed with the last clone of
    /// the portal (Python's `find_actor`); for this very actor, its
    /// [local portal](ActorHandle::local_portal). The name is copied at
    /// once: the future borrows only this handle.
    #[track_caller]
    pub fn find_actor(&self, name: impl Into<String>) -> ApiFuture<'_, Result<Option<Portal>>> {
        let name = name.into();
        ApiFuture::new("ActorHandle::find_actor", async move {
            if let Some(p) = self.connected_portal(&name) {
                return Ok(Some(p));
            }
            match self.lookup(&name).await? {
                Some(addr) => self.connect_portal(&addr).await.map(Some),
                None => Ok(None),
            }
        })
    }

    /// A portal to the actor named `name`, waiting until one registers
    /// (Python's `wait_for_actor`); for this very actor, its
    /// [local portal](ActorHandle::local_portal). The name is copied at
    /// once: the future borrows only this handle.
    #[track_caller]
    pub fn wait_for_actor(&self, name: impl Into<String>) -> ApiFuture<'_, Result<Portal>> {
        let name = name.into();
        ApiFuture::new("ActorHandle::wait_for_actor", async move {
            if let Some(p) = self.connected_portal(&name) {
                return Ok(p);
            }
            #[derive(Serialize)]
            struct Args<'a> {
                name: &'a str,
            }
            let reg = self
                .registry_addrs()
                .into_iter()
                .next()
                .ok_or_else(|| Error::runtime("no registrar is configured"))?;
            let addrs: Vec<Address> = self
                .registrar_call(&reg, "wait_for_actor", &Args { name: &name })
                .await?;
            let addr = transport::prefer(&addrs).ok_or_else(|| {
                Error::runtime(format!("the registrar listed no address for {name}"))
            })?;
            self.connect_portal(&addr).await
        })
    }

    /// The preferred address of the actor named `name`, if registered
    /// (Python's `query_actor`). The name is copied at once: the future
    /// borrows only this handle.
    #[track_caller]
    pub fn query_actor(&self, name: impl Into<String>) -> ApiFuture<'_, Result<Option<Address>>> {
        let name = name.into();
        ApiFuture::new("ActorHandle::query_actor", async move {
            self.lookup(&name).await
        })
    }

    /// Asks each registrar in turn for `name`'s preferred address.
    async fn lookup(&self, name: &str) -> Result<Option<Address>> {
        #[derive(Serialize)]
        struct Args<'a> {
            name: &'a str,
        }
        for reg in self.registry_addrs() {
            let addrs: Option<Vec<Address>> = self
                .registrar_call(&reg, "find_actor", &Args { name })
                .await?;
            if let Some(addr) = addrs.as_deref().and_then(transport::prefer) {
                return Ok(Some(addr));
            }
        }
        Ok(None)
    }

    /// The registrar's whole table: `"name.uuid"` to addresses.
    #[track_caller]
    pub fn get_registry(&self) -> impl Future<Output = Result<BTreeMap<String, Vec<Address>>>> {
        crate::task_record::api("ActorHandle::get_registry", async move {
            let reg = self
                .registry_addrs()
                .into_iter()
                .next()
                .ok_or_else(|| Error::runtime("no registrar is configured"))?;
            self.registrar_call(&reg, "get_registry", &()).await
        })
    }

    /// A portal over an already open channel to an actor of that name.
    fn connected_portal(&self, name: &str) -> Option<Portal> {
        let found = self.shared.with(|st, _| {
            st.conns.iter().find_map(|(ch, c)| match c {
                Conn::Open(aid) if aid.name == name || aid.uuid == name => Some((*ch, aid.uid())),
                _ => None,
            })
        });
        found.map(|(channel, peer)| Portal {
            shared: self.shared.clone(),
            channel: Some(channel),
            peer,
            child: None,
            result: None,
            _lease: None,
        })
    }

    /// Connects to `addr`; the channel lives as long as the portal (and
    /// its clones). The address is copied at once: the future borrows only
    /// this handle. One of this actor's own addresses gives its
    /// [local portal](ActorHandle::local_portal), as Python's
    /// `get_registry(addr)` gives a registrar its `LocalPortal`.
    #[track_caller]
    pub fn portal_at(&self, addr: &Address) -> ApiFuture<'_, Result<Portal>> {
        let addr = addr.clone();
        ApiFuture::new("ActorHandle::portal_at", async move {
            self.connect_portal(&addr).await
        })
    }

    /// A portal to this very actor, whose calls are answered in process,
    /// without a socket (Python's `LocalPortal`): for code that treats
    /// this actor and others alike. [`find_actor`](ActorHandle::find_actor),
    /// [`wait_for_actor`](ActorHandle::wait_for_actor) and
    /// [`portal_at`](ActorHandle::portal_at) give it too when they lead to
    /// this actor; [`Portal::is_local`] tells it.
    ///
    /// Its [`run`](Portal::run) and [`run_from_ns`](Portal::run_from_ns)
    /// call this actor's plain functions (those it serves, by the same
    /// rules as a peer's calls: `ModuleNotExposed` for a namespace it does
    /// not serve) in the calling task, and, in a registrar, the registrar's
    /// methods of the namespace `self` (`find_actor`, `wait_for_actor`,
    /// `get_registry`, `register_actor`, `unregister_actor`,
    /// `delete_addr`). A function's error is the call's, as raised, not
    /// wrapped as a remote one. What needs a dialog with oneself fails
    /// with [`UsageError::LocalPortal`](crate::UsageError::LocalPortal):
    /// [`open_context`](Portal::open_context) and its kin,
    /// [`open_stream_from`](Portal::open_stream_from),
    /// [`cancel_actor`](Portal::cancel_actor); a `run` of a context or
    /// stream function, or of another method of `self`, fails with a
    /// `RuntimeError`.
    ///
    /// ```no_run
    /// # use tractor_driver::prelude::*;
    /// # async fn demo(root: ActorHandle) -> Result<()> {
    /// // In the registrar: who is registered under "root", in process.
    /// #[derive(serde::Serialize)]
    /// struct Name {
    ///     name: &'static str,
    /// }
    /// let me = root.local_portal();
    /// let addrs: Vec<Address> = me
    ///     .run_from_ns("self", "wait_for_actor", Name { name: "root" })
    ///     .await?;
    /// assert_eq!(addrs[0], root.accept_addrs()[0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn local_portal(&self) -> Portal {
        Portal {
            shared: self.shared.clone(),
            peer: self.shared.uid.clone(),
            channel: None,
            child: None,
            result: None,
            _lease: None,
        }
    }

    /// A portal over a new channel to `addr`, closed with its last clone;
    /// a local portal if `addr` is this actor's.
    async fn connect_portal(&self, addr: &Address) -> Result<Portal> {
        if self.accept_addrs().contains(addr) {
            return Ok(self.local_portal());
        }
        let (channel, aid) = self.shared.connect(addr).await?;
        let lease = Arc::new(ChannelLease {
            shared: self.shared.clone(),
            channel,
        });
        Ok(Portal {
            shared: self.shared.clone(),
            channel: Some(channel),
            peer: aid.uid(),
            child: None,
            result: None,
            _lease: Some(lease),
        })
    }

    /// Calls a registrar method: in process if this actor is the
    /// registrar at `reg` (through its local portal).
    async fn registrar_call<T: DeserializeOwned>(
        &self,
        reg: &Address,
        func: &str,
        args: &impl Serialize,
    ) -> Result<T> {
        let portal = self.connect_portal(reg).await?;
        portal.run("self", func, args).await
    }

    /// Registers this actor's addresses with every registrar and keeps
    /// them registered (the core reconnects and registers again whenever a
    /// registrar's connection drops); returns how the first attempts went.
    pub(crate) async fn register(&self) -> Result<()> {
        if self.is_registrar() {
            return Ok(());
        }
        self.shared.with(|st, now| st.actor.register(now));
        let first = self
            .shared
            .wait(|st, _| st.actor.first_registration())
            .await;
        first.map_err(|(reg, why)| {
            Error::runtime(format!(
                "could not register with the registrar at {reg}: {why}"
            ))
        })
    }

    /// Stops keeping this actor registered and removes it from every
    /// registrar, giving them a moment.
    pub(crate) async fn unregister(&self) {
        self.shared.with(|st, _| st.actor.unregister());
        let done = self
            .shared
            .wait(|st, _| (!st.actor.unregistering()).then_some(()));
        if self
            .shared
            .timeout(UNREGISTER_TIMEOUT, done)
            .await
            .is_none()
        {
            tracing::debug!(target: "tractor::runtime", "unregistering timed out");
        }
    }
}
