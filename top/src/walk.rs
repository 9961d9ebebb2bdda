//! Asking every registered actor for its snapshot, 64 at a time.

use std::collections::{BTreeMap, HashMap};
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use tractor_tokio::introspect::{DUMP_TASKS_METHOD, INTROSPECT_METHOD, Snapshot};
use tractor_tokio::prelude::*;
use tractor_tokio::{Address, ErrorKind, Portal, Uid, UsageError};

/// How long an actor has to answer before it is shown as gone.
pub(crate) const ANSWER_WAIT: Duration = Duration::from_secs(2);

/// How long an actor has to answer a task dump (it waits up to half a
/// second for its own state, and reads each thread's kernel wait).
pub(crate) const DUMP_WAIT: Duration = Duration::from_secs(5);

/// At most this many actors are asked at once.
pub(crate) const MAX_ASKING: usize = 64;

/// At most this many channels are kept open between walks (one per
/// actor); actors past them are connected to anew each walk.
pub(crate) const MAX_KEPT: usize = 256;

/// What one registered actor told, or why it told nothing.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    /// Its snapshot.
    Snapshot(Box<Snapshot>),
    /// It does not serve `self.introspect` (a Python actor).
    NoIntrospection,
    /// It did not answer: gone, unreachable, or refusing, and why.
    Gone(String),
}

/// One registered actor.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) uid: Uid,
    pub(crate) addrs: Vec<Address>,
    pub(crate) answer: Answer,
}

/// Walks a tree again and again, keeping a channel open to each actor
/// (up to [`MAX_KEPT`]) between walks: a walk a second costs each actor
/// one call, not a connection.
pub(crate) struct Walker {
    me: ActorHandle,
    /// The tree's registrar.
    registrar: Address,
    portals: HashMap<Address, Portal>,
}

impl Walker {
    /// A walker of the tree of the actor at `addr`: its registrar, or an
    /// actor that tells which registrar it registers with.
    pub(crate) async fn find(me: ActorHandle, addr: Address) -> Result<Walker> {
        let told = first(
            async {
                let portal = me.portal_at(&addr).await?;
                portal.run::<Snapshot>("self", INTROSPECT_METHOD, ()).await
            },
            me.sleep(ANSWER_WAIT),
        )
        .await;
        let registrar = match told {
            Some(Ok(s)) if s.registrar => addr,
            Some(Ok(s)) => s.registrars.first().cloned().ok_or_else(|| {
                Error::raise(
                    "LookupError",
                    format!("{} at {addr} registers with no registrar", s.uid),
                )
            })?,
            // A Python actor: its tree's registrar, we take it (a Python
            // root is one).
            Some(Err(e)) if not_ours(&e) => addr,
            Some(Err(e)) => return Err(e),
            None => {
                return Err(Error::raise(
                    "TimeoutError",
                    format!("the actor at {addr} did not answer within {ANSWER_WAIT:?}"),
                ));
            }
        };
        let mut walker = Walker {
            me,
            registrar,
            portals: HashMap::new(),
        };
        // It answers as a registrar (or the tree is not found).
        walker.registry().await?;
        Ok(walker)
    }

    /// The actor that walks.
    pub(crate) fn actor(&self) -> &ActorHandle {
        &self.me
    }

    /// The registrar walked from.
    pub(crate) fn registrar(&self) -> &Address {
        &self.registrar
    }

    /// The registrar's table, over the channel kept to it.
    async fn registry(&mut self) -> Result<BTreeMap<String, Vec<Address>>> {
        let cached = self.portals.get(&self.registrar).cloned();
        let asked = first(
            async {
                let portal = match cached {
                    Some(p) => p,
                    None => self.me.portal_at(&self.registrar).await?,
                };
                let table = portal
                    .run::<BTreeMap<String, Vec<Address>>>("self", "get_registry", ())
                    .await?;
                Ok::<_, Error>((table, portal))
            },
            self.me.sleep(ANSWER_WAIT),
        )
        .await;
        match asked {
            Some(Ok((table, portal))) => {
                self.portals.insert(self.registrar.clone(), portal);
                Ok(table)
            }
            Some(Err(e)) => {
                self.portals.remove(&self.registrar);
                Err(e)
            }
            None => {
                self.portals.remove(&self.registrar);
                Err(Error::raise(
                    "TimeoutError",
                    format!("no answer within {ANSWER_WAIT:?}"),
                ))
            }
        }
    }

    /// Every actor the registrar knows, but this one, each with its
    /// answer; [`MAX_ASKING`] are asked at the same time, so a walk takes
    /// about [`ANSWER_WAIT`] at most per that many actors that do not
    /// answer.
    pub(crate) async fn walk(&mut self) -> Result<Vec<Seen>> {
        let registry = self.registry().await?;
        let mut listed = Vec::new();
        for (key, addrs) in registry {
            // `name.uuid`: a uuid holds no dot, a name may.
            let Some((name, uuid)) = key.rsplit_once('.') else {
                continue;
            };
            let uid = Uid::new(name, uuid);
            if &uid != self.me.uid() {
                listed.push((uid, addrs));
            }
        }
        let mut seen = Vec::with_capacity(listed.len());
        let mut portals = HashMap::new();
        for chunk in listed.chunks(MAX_ASKING) {
            let asked: Vec<_> = chunk
                .iter()
                .map(|(_, addrs)| {
                    addrs.first().cloned().map(|addr| {
                        let cached = self.portals.get(&addr).cloned();
                        let me = self.me.clone();
                        self.me.spawn(async move { ask(&me, cached, addr).await })
                    })
                })
                .collect();
            for ((uid, addrs), task) in chunk.iter().zip(asked) {
                let answer = match task {
                    None => Answer::Gone("registered without an address".into()),
                    Some(task) => match task.await {
                        Ok((answer, portal)) => {
                            if let Some(portal) = portal.filter(|_| portals.len() < MAX_KEPT) {
                                portals.insert(addrs[0].clone(), portal);
                            }
                            answer
                        }
                        Err(e) => Answer::Gone(first_line(&e)),
                    },
                };
                seen.push(Seen {
                    uid: uid.clone(),
                    addrs: addrs.clone(),
                    answer,
                });
            }
        }
        // Channels to actors gone or silent close here.
        if let Some(p) = self.portals.remove(&self.registrar) {
            portals.entry(self.registrar.clone()).or_insert(p);
        }
        self.portals = portals;
        Ok(seen)
    }
}

/// The task tree of the actor at `addr` (`self.dump_tasks`), or why
/// there is none.
pub(crate) async fn dump(me: ActorHandle, addr: Address) -> Result<String, String> {
    let call = async {
        let portal = me.portal_at(&addr).await?;
        portal.run::<String>("self", DUMP_TASKS_METHOD, ()).await
    };
    match first(call, me.sleep(DUMP_WAIT)).await {
        Some(Ok(text)) => Ok(text),
        Some(Err(e)) if not_ours(&e) => {
            Err("it does not serve self.dump_tasks: not a tractor-rs actor".into())
        }
        Some(Err(e)) => Err(first_line(&e)),
        None => Err(format!("no answer within {DUMP_WAIT:?}")),
    }
}

/// Asks the actor at `addr` for its snapshot, over `cached` if there is
/// one: its answer, and the portal to keep if it answered.
async fn ask(me: &ActorHandle, cached: Option<Portal>, addr: Address) -> (Answer, Option<Portal>) {
    let call = async {
        let portal = match cached {
            Some(p) => p,
            None => me.portal_at(&addr).await?,
        };
        let snap = portal.run::<Snapshot>("self", INTROSPECT_METHOD, ()).await;
        Ok::<_, Error>((snap, portal))
    };
    match first(call, me.sleep(ANSWER_WAIT)).await {
        Some(Ok((Ok(s), portal))) => (Answer::Snapshot(Box::new(s)), Some(portal)),
        Some(Ok((Err(e), portal))) if not_ours(&e) => (Answer::NoIntrospection, Some(portal)),
        Some(Ok((Err(e), _))) | Some(Err(e)) => (Answer::Gone(first_line(&e)), None),
        None => (
            Answer::Gone(format!("no answer within {ANSWER_WAIT:?}")),
            None,
        ),
    }
}

/// Whether `e` says the actor does not serve our runtime methods: the
/// core did not ask (its handshake says it is not one of ours, a Python
/// actor), or it answered that it has no such method.
fn not_ours(e: &Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Usage(UsageError::NotServedByPeer { .. })
    ) || e.type_name() == Some("AttributeError")
}

/// An error's first line: the rest is a traceback.
fn first_line(e: &Error) -> String {
    e.to_string().lines().next().unwrap_or("").to_owned()
}

/// `fut`'s output, unless `deadline` ends first.
async fn first<T>(fut: impl Future<Output = T>, deadline: impl Future<Output = ()>) -> Option<T> {
    let (mut fut, mut deadline) = (pin!(fut), pin!(deadline));
    poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        deadline.as_mut().poll(cx).map(|()| None)
    })
    .await
}
