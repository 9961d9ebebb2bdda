//! Asking every registered actor for its snapshot.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use tractor_tokio::introspect::{INTROSPECT_METHOD, Snapshot};
use tractor_tokio::prelude::*;
use tractor_tokio::{Address, Uid};

/// How long an actor has to answer before it is shown as gone.
pub(crate) const ANSWER_WAIT: Duration = Duration::from_secs(2);

/// What one registered actor told, or why it told nothing.
#[derive(Debug)]
pub(crate) enum Answer {
    /// Its snapshot.
    Snapshot(Box<Snapshot>),
    /// It does not serve `self.introspect` (a Python actor).
    NoIntrospection,
    /// It did not answer: gone, unreachable, or refusing, and why.
    Gone(String),
}

/// One registered actor.
#[derive(Debug)]
pub(crate) struct Seen {
    pub(crate) uid: Uid,
    pub(crate) addrs: Vec<Address>,
    pub(crate) answer: Answer,
}

/// Every actor the registrar knows, but this one, each with its answer.
pub(crate) async fn walk(me: &ActorHandle) -> Result<Vec<Seen>> {
    let registry = me.get_registry().await?;
    let mut seen = Vec::new();
    for (key, addrs) in registry {
        // `name.uuid`: a uuid holds no dot, a name may.
        let Some((name, uuid)) = key.rsplit_once('.') else {
            continue;
        };
        let uid = Uid::new(name, uuid);
        if &uid == me.uid() {
            continue;
        }
        let answer = match addrs.first() {
            Some(addr) => ask(me, addr).await,
            None => Answer::Gone("registered without an address".into()),
        };
        seen.push(Seen { uid, addrs, answer });
    }
    Ok(seen)
}

async fn ask(me: &ActorHandle, addr: &Address) -> Answer {
    let call = async {
        let portal = me.portal_at(addr).await?;
        portal.run::<Snapshot>("self", INTROSPECT_METHOD, ()).await
    };
    match first(call, me.sleep(ANSWER_WAIT)).await {
        Some(Ok(s)) => Answer::Snapshot(Box::new(s)),
        Some(Err(e)) if e.type_name() == Some("AttributeError") => Answer::NoIntrospection,
        Some(Err(e)) => Answer::Gone(e.to_string().lines().next().unwrap_or("").to_owned()),
        None => Answer::Gone(format!("no answer within {ANSWER_WAIT:?}")),
    }
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
