//! The functions a program offers to other actors, and how a call into one
//! runs.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tractor_protocol::{DialogId, Endpoints, FuncType, Raw};

use crate::engine::Shared;
use crate::error::{Error, Result};
use crate::payload::{decode_args, encode_result};
use crate::portal::{Context, MsgStream};
use crate::runtime::BoxFuture;

type Call = dyn Fn(Invocation) -> Result<BoxFuture<'static, Result<Raw>>> + Send + Sync;

/// A plain function called with its keyword arguments alone, in process.
type Plain = dyn Fn(Raw) -> Result<BoxFuture<'static, Result<Raw>>> + Send + Sync;

/// What a call into a served function gets.
pub(crate) struct Invocation {
    shared: Arc<Shared>,
    dialog: DialogId,
    kwargs: Raw,
}

struct Handler {
    kind: FuncType,
    call: Arc<Call>,
    /// A plain function's body, for calls this actor makes to itself.
    plain: Option<Arc<Plain>>,
}

/// The functions a program can serve to other actors, by `(ns, func)`.
///
/// A program declares its whole catalogue once and passes it to the entry
/// point (the root, or a child started from the same binary). Which of
/// these an actor really serves is decided per actor, by namespace, as in
/// Python: the root serves its `enable_modules`, a child what its parent
/// enabled for it. A call into another namespace fails with
/// `ModuleNotExposed`.
///
/// Arguments travel as a keyword map (`Start.kwargs`): a function takes one
/// `serde` struct whose fields are the keyword names, or `()` for none.
/// Pick Python's module path and function name as `(ns, func)` to stand in
/// for a Python function, or any dotted name for a Rust one.
///
/// ```
/// # use tractor_driver::prelude::*;
/// #[derive(serde::Deserialize)]
/// struct Square { x: i64 }
///
/// let functions = Functions::new()
///     .rpc("math", "square", |a: Square| async move { Ok::<_, Error>(a.x * a.x) })
///     .context("math", "counter", |ctx: Context, (): ()| async move {
///         ctx.started(0u32).await?;
///         Ok::<_, Error>(())
///     });
/// assert!(functions.contains("math", "square"));
/// ```
#[derive(Default, Clone)]
pub struct Functions {
    handlers: BTreeMap<(String, String), Handler>,
}

impl Clone for Handler {
    fn clone(&self) -> Self {
        Handler {
            kind: self.kind,
            call: self.call.clone(),
            plain: self.plain.clone(),
        }
    }
}

impl std::fmt::Debug for Functions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.handlers.keys()).finish()
    }
}

impl Functions {
    /// No functions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves an async function (Python's plain `async def`, called with
    /// `Portal::run`): its arguments, then its one result.
    pub fn rpc<A, T, F, Fut>(self, ns: &str, func: &str, f: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        T: Serialize + Send + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        let name = format!("{ns}:{func}");
        self.add_plain(ns, func, FuncType::AsyncFunc, move |kwargs: Raw| {
            let args = decode_args::<A>(&name, &kwargs)?;
            let fut = f(args);
            Ok(Box::pin(async move { encode_result(fut.await?) }))
        })
    }

    /// Adds a function run with its keyword arguments alone: served to
    /// peers, and callable in process (a local portal's call).
    pub(crate) fn add_plain(
        self,
        ns: &str,
        func: &str,
        kind: FuncType,
        plain: impl Fn(Raw) -> Result<BoxFuture<'static, Result<Raw>>> + Send + Sync + 'static,
    ) -> Self {
        let plain: Arc<Plain> = Arc::new(plain);
        let body = plain.clone();
        self.add(
            ns,
            func,
            kind,
            move |inv: Invocation| body(inv.kwargs),
            Some(plain),
        )
    }

    /// Serves a context function (Python's `@tractor.context`): it gets a
    /// [`Context`] to send `started`, open a two-way stream, and ends with
    /// its result.
    pub fn context<A, T, F, Fut>(self, ns: &str, func: &str, f: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        T: Serialize + Send + 'static,
        F: Fn(Context, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        let name = format!("{ns}:{func}");
        self.add_context(ns, func, move |ctx, kwargs| {
            let args = decode_args::<A>(&name, &kwargs)?;
            let fut = f(ctx, args);
            Ok(Box::pin(async move { encode_result(fut.await?) }))
        })
    }

    /// Adds a context function: `call` gets the served side's [`Context`]
    /// and the keyword arguments.
    pub(crate) fn add_context(
        self,
        ns: &str,
        func: &str,
        call: impl Fn(Context, Raw) -> Result<BoxFuture<'static, Result<Raw>>> + Send + Sync + 'static,
    ) -> Self {
        self.add(
            ns,
            func,
            FuncType::Context,
            move |inv: Invocation| call(Context::callee(inv.shared, inv.dialog), inv.kwargs),
            None,
        )
    }

    /// Serves a one-way stream (Python's async generator, read with
    /// `Portal::open_stream_from`): it sends items on the [`MsgStream`] it
    /// gets, and the stream ends when it returns.
    pub fn stream<A, F, Fut>(self, ns: &str, func: &str, f: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        F: Fn(MsgStream, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        let name = format!("{ns}:{func}");
        self.add(
            ns,
            func,
            FuncType::AsyncGen,
            move |inv: Invocation| {
                let args = decode_args::<A>(&name, &inv.kwargs)?;
                let stream = MsgStream::generator(inv.shared, inv.dialog);
                let fut = f(stream, args);
                Ok(Box::pin(async move {
                    fut.await?;
                    Ok(Raw::NIL)
                }))
            },
            None,
        )
    }

    fn add(
        mut self,
        ns: &str,
        func: &str,
        kind: FuncType,
        call: impl Fn(Invocation) -> Result<BoxFuture<'static, Result<Raw>>> + Send + Sync + 'static,
        plain: Option<Arc<Plain>>,
    ) -> Self {
        self.handlers.insert(
            (ns.to_owned(), func.to_owned()),
            Handler {
                kind,
                call: Arc::new(call),
                plain,
            },
        );
        self
    }

    /// Adds every function of `other` (its entries win on a clash).
    pub fn merge(mut self, other: Functions) -> Self {
        self.handlers.extend(other.handlers);
        self
    }

    /// Whether `(ns, func)` is in the catalogue.
    pub fn contains(&self, ns: &str, func: &str) -> bool {
        self.handlers
            .contains_key(&(ns.to_owned(), func.to_owned()))
    }

    /// The catalogue as the core's RPC table, restricted to `namespaces`.
    pub(crate) fn endpoints(&self, namespaces: Option<&[String]>) -> Endpoints {
        let mut e = Endpoints::new();
        for ((ns, func), h) in &self.handlers {
            e.insert(ns.clone(), func.clone(), h.kind);
        }
        if let Some(keep) = namespaces {
            e.retain_namespaces(|ns| keep.iter().any(|k| k == ns));
            for ns in keep {
                if e.namespaces().all(|n| n != ns) {
                    e = e.expose_namespace(ns.clone());
                }
            }
        }
        e
    }

    /// The plain function `ns:func` called with `kwargs`, to run in the
    /// caller's task (a call this actor makes to itself, which its core
    /// allowed): its future, or the `TypeError` of arguments that do not
    /// fit.
    pub(crate) fn run_local(
        &self,
        ns: &str,
        func: &str,
        kwargs: Raw,
    ) -> Result<BoxFuture<'static, Result<Raw>>> {
        match self.get(ns, func).and_then(|h| h.plain.as_ref()) {
            Some(plain) => plain(kwargs),
            None => Err(Error::raise(
                "AttributeError",
                format!("{ns}:{func} is not served as a plain function by this program"),
            )),
        }
    }

    /// The future of the function `ns:func` of `kind` called with
    /// `kwargs` as the served call `dialog`, or the error that refuses the
    /// call (a function this program does not serve so, bad arguments).
    pub(crate) fn prepare(
        &self,
        shared: &Arc<Shared>,
        dialog: DialogId,
        ns: &str,
        func: &str,
        kwargs: Raw,
        kind: FuncType,
    ) -> Result<BoxFuture<'static, Result<Raw>>> {
        match self.get(ns, func).filter(|h| h.kind == kind) {
            Some(h) => (h.call)(Invocation {
                shared: shared.clone(),
                dialog,
                kwargs,
            }),
            None => Err(Error::raise(
                "AttributeError",
                format!("{ns}:{func} is not served as a {kind} by this program"),
            )),
        }
    }

    fn get(&self, ns: &str, func: &str) -> Option<&Handler> {
        self.handlers.get(&(ns.to_owned(), func.to_owned()))
    }
}
