//! Actor clusters: workers of the same program started together and
//! called together (Python's `open_actor_cluster`); [`gather`], waiting
//! for many calls or contexts at once (Python's `gather_contexts`).

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::future::ApiFuture;
use crate::handle::ActorHandle;
use crate::nursery::{ActorNursery, ActorOptions};
use crate::payload::{decode, encode_args};
use crate::portal::Portal;

/// How to start a cluster (see [`ActorHandle::open_cluster`]).
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// How many workers; by default one per core of the machine.
    pub count: usize,
    /// The workers' names before their number: `worker` gives
    /// `<this actor>.worker_0`, `<this actor>.worker_1`… as Python names
    /// them.
    pub prefix: String,
    /// How each worker starts (what it serves, its program…).
    pub actor: ActorOptions,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            count: std::thread::available_parallelism().map_or(1, |n| n.get()),
            prefix: "worker".to_owned(),
            actor: ActorOptions::new(),
        }
    }
}

impl ClusterOptions {
    /// One worker per core, named `worker_<i>`, with `actor`'s options.
    pub fn new(actor: ActorOptions) -> Self {
        ClusterOptions {
            actor,
            ..Self::default()
        }
    }

    /// `count` workers instead (at least one).
    pub fn count(mut self, count: usize) -> Self {
        self.count = count.max(1);
        self
    }

    /// Names the workers `<prefix>_<i>`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
}

/// Workers started together in one nursery, each a daemon with a
/// [`Portal`]: call them one by one, or all at once with
/// [`run_all`](ActorCluster::run_all) and [`map`](ActorCluster::map).
#[derive(Clone)]
pub struct ActorCluster {
    nursery: ActorNursery,
    portals: Vec<Portal>,
}

impl std::fmt::Debug for ActorCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.portals.iter().map(|p| p.peer().to_string()))
            .finish()
    }
}

impl ActorCluster {
    /// The workers' portals, in the order of their names.
    pub fn portals(&self) -> &[Portal] {
        &self.portals
    }

    /// How many workers there are.
    pub fn len(&self) -> usize {
        self.portals.len()
    }

    /// Whether there are none (never: a cluster has one worker at least).
    pub fn is_empty(&self) -> bool {
        self.portals.is_empty()
    }

    /// The nursery the workers live in: to start more actors beside them,
    /// or to cancel them all early.
    pub fn nursery(&self) -> &ActorNursery {
        &self.nursery
    }

    /// Calls `ns:func` with the same arguments on every worker at once,
    /// and gathers the results in the workers' order. If some fail, the
    /// call fails with their errors (one, or a group of them), once every
    /// call has ended.
    #[track_caller]
    pub fn run_all<T: DeserializeOwned + Send + 'static>(
        &self,
        ns: impl Into<String>,
        func: impl Into<String>,
        args: impl Serialize,
    ) -> ApiFuture<'_, Result<Vec<T>>> {
        let (ns, func, kwargs) = (ns.into(), func.into(), encode_args(&args));
        ApiFuture::new("ActorCluster::run_all", async move {
            let kwargs = kwargs?;
            let calls = self.portals.iter().map(|p| {
                let (ns, func, kwargs) = (ns.clone(), func.clone(), kwargs.clone());
                async move { decode::<T>(&p.run_raw(&ns, &func, kwargs).await?) }
            });
            gather(calls).await
        })
    }

    /// Runs `call` with each worker's number and portal at once (a typed
    /// client's call, a context…), and gathers the results in the workers'
    /// order, failing as [`run_all`](ActorCluster::run_all) does.
    ///
    /// ```no_run
    /// # use tractor_driver::{ActorCluster, Result};
    /// # async fn demo(cluster: &ActorCluster) -> Result<()> {
    /// let names: Vec<String> = cluster
    ///     .map(|_, portal| async move { Ok(portal.peer().name.clone()) })
    ///     .await?;
    /// # let _ = names;
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn map<T, F, Fut>(&self, call: F) -> ApiFuture<'_, Result<Vec<T>>>
    where
        T: Send + 'static,
        F: Fn(usize, Portal) -> Fut,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        let calls: Vec<Fut> = (self.portals.iter().cloned().enumerate())
            .map(|(i, p)| call(i, p))
            .collect();
        ApiFuture::new("ActorCluster::map", gather(calls))
    }
}

/// Runs every future of `futures` at once, in the calling task, until all
/// have ended: their values in order, or, if any failed, their errors (one,
/// or a group). Opening several contexts with it is Python's
/// `gather_contexts`: the contexts come back together, and if one cannot
/// be opened, those that were are dropped, which cancels their functions.
/// No futures at all is no error: their values are an empty `Vec`.
///
/// ```no_run
/// # use tractor_driver::{Context, Portal, Result, gather};
/// # async fn demo(portals: &[Portal]) -> Result<()> {
/// let opened: Vec<(Context, u32)> =
///     gather(portals.iter().map(|p| p.open_context("feeds", "ticker", ()))).await?;
/// # let _ = opened;
/// # Ok(())
/// # }
/// ```
pub async fn gather<T, Fut>(futures: impl IntoIterator<Item = Fut>) -> Result<Vec<T>>
where
    Fut: Future<Output = Result<T>>,
{
    let mut pending: Vec<Option<Pin<Box<Fut>>>> =
        futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut done: Vec<Option<Result<T>>> = pending.iter().map(|_| None).collect();
    poll_fn(|cx| {
        for (slot, out) in pending.iter_mut().zip(done.iter_mut()) {
            if let Some(fut) = slot
                && let Poll::Ready(r) = fut.as_mut().poll(cx)
            {
                *out = Some(r);
                *slot = None;
            }
        }
        match pending.iter().all(Option::is_none) {
            true => Poll::Ready(()),
            false => Poll::Pending,
        }
    })
    .await;
    let mut values = Vec::with_capacity(done.len());
    let mut errors = Vec::new();
    for r in done.into_iter().flatten() {
        match r {
            Ok(v) => values.push(v),
            Err(e) => errors.push(e),
        }
    }
    match Error::group(errors) {
        Some(e) => Err(e),
        None => Ok(values),
    }
}

impl ActorHandle {
    /// Starts a cluster of workers of this program at once, all with the
    /// same options, runs `body` with them, then cancels them (Python's
    /// `open_actor_cluster`). The workers are the daemons of one
    /// nursery: if starting one fails, or `body` fails, the nursery's law
    /// holds (every worker is cancelled and reaped before the error
    /// returns), and no worker outlives this call.
    ///
    /// ```no_run
    /// # use tractor_driver::{ActorHandle, ActorOptions, ClusterOptions, Result};
    /// # async fn demo(root: ActorHandle) -> Result<()> {
    /// let options = ClusterOptions::new(ActorOptions::new().enable_modules(["math"])).count(4);
    /// let squares: Vec<i64> = root
    ///     .open_cluster(options, |cluster| async move {
    ///         #[derive(serde::Serialize)]
    ///         struct Square {
    ///             x: i64,
    ///         }
    ///         cluster.run_all("math", "square", Square { x: 3 }).await
    ///     })
    ///     .await?;
    /// assert_eq!(squares, [9, 9, 9, 9]);
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn open_cluster<F, Fut, T>(
        &self,
        options: ClusterOptions,
        body: F,
    ) -> impl Future<Output = Result<T>>
    where
        F: FnOnce(ActorCluster) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let me = self.uid().name.clone();
        self.open_nursery(move |n| async move {
            let names = (0..options.count.max(1)).map(|i| {
                (
                    format!("{me}.{}_{i}", options.prefix),
                    options.actor.clone(),
                )
            });
            let portals = n.start_actors(names).await?;
            let cluster = ActorCluster {
                nursery: n.clone(),
                portals,
            };
            let out = body(cluster).await?;
            // The workers serve until cancelled: the cluster's end is theirs.
            n.cancel().await;
            Ok(out)
        })
    }
}
