//! Typed contexts: a service's context functions, with the types of their
//! `started` value, of the items each side sends and of their result
//! fixed by the service's trait.

use std::future::Future;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Result;
use crate::future::ApiFuture;
use crate::kwargs::Kwargs;
use crate::portal::{Context, MsgStream, Portal};

/// Marks the types a typed handle carries, owning none of them (and so
/// `Send` and `Sync` whatever they are).
type Types<T> = PhantomData<fn() -> T>;

/// The served side of a typed context: what a context method of a service
/// gets (see [`service!`](crate::service!)). `S` is the value it sends
/// with [`started`](ServedContext::started), `I` what its stream receives
/// from the caller, `O` what it sends back; its method's result is the
/// context's result.
pub struct ServedContext<S, I = (), O = I> {
    ctx: Context,
    _types: Types<(S, I, O)>,
}

/// The types of a typed context, as a service's trait gives them (the
/// client's side is written from them).
pub trait ContextTypes {
    /// The `started` value.
    type Started: Serialize + DeserializeOwned + Send + 'static;
    /// What the caller sends on the stream.
    type In: Serialize + DeserializeOwned + Send + 'static;
    /// What the served side sends on the stream.
    type Out: Serialize + DeserializeOwned + Send + 'static;
}

impl<S, I, O> ContextTypes for ServedContext<S, I, O>
where
    S: Serialize + DeserializeOwned + Send + 'static,
    I: Serialize + DeserializeOwned + Send + 'static,
    O: Serialize + DeserializeOwned + Send + 'static,
{
    type Started = S;
    type In = I;
    type Out = O;
}

impl<S, I, O> std::fmt::Debug for ServedContext<S, I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Served{:?}", self.ctx)
    }
}

impl<S: Serialize, I: DeserializeOwned, O: Serialize> ServedContext<S, I, O> {
    /// The context of a call that `service!`'s code serves.
    #[doc(hidden)]
    pub fn new(ctx: Context) -> Self {
        ServedContext {
            ctx,
            _types: PhantomData,
        }
    }

    /// Sends the `started` value: the caller's open returns with it.
    #[track_caller]
    pub fn started(&self, value: S) -> ApiFuture<'_, Result<()>> {
        self.ctx.started(value)
    }

    /// Opens the two-way stream, once the caller opens its end: receives
    /// `I`, sends `O`.
    #[track_caller]
    pub fn open_stream(&self) -> impl Future<Output = Result<TypedStream<I, O>>> + '_ {
        let open = self.ctx.open_stream();
        async move { Ok(TypedStream::new(open.await?)) }
    }

    /// The untyped context underneath (its cid, cancelling it…).
    pub fn context(&self) -> &Context {
        &self.ctx
    }
}

/// The caller's side of a typed context, from a service client's context
/// method, with the `started` value: sends `I`, receives `O`, and ends
/// with `R`. Dropping it before its result came cancels the served side,
/// as dropping a [`Context`] does.
pub struct OpenedContext<I, O, R> {
    ctx: Context,
    _types: Types<(I, O, R)>,
}

impl<I, O, R> std::fmt::Debug for OpenedContext<I, O, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Opened{:?}", self.ctx)
    }
}

impl<I, O, R> OpenedContext<I, O, R>
where
    I: Serialize + Send + 'static,
    O: DeserializeOwned + Send + 'static,
    R: DeserializeOwned + Send + 'static,
{
    /// Opens the context function `ns:func` of a service with `kwargs`,
    /// and waits for its `started` value, as a client's context method
    /// does.
    #[track_caller]
    pub fn open<'p, S: DeserializeOwned + Send + 'static>(
        portal: &'p Portal,
        ns: &'static str,
        func: &'static str,
        kwargs: Kwargs,
    ) -> ApiFuture<'p, Result<(Self, S)>> {
        let opening = portal.open_context_kwargs::<S>(ns, func, kwargs);
        ApiFuture::new("OpenedContext::open", async move {
            let (ctx, first) = opening.await?;
            Ok((
                OpenedContext {
                    ctx,
                    _types: PhantomData,
                },
                first,
            ))
        })
    }

    /// Opens the two-way stream: sends `I`, receives `O`.
    #[track_caller]
    pub fn open_stream(&self) -> impl Future<Output = Result<TypedStream<O, I>>> + '_ {
        let open = self.ctx.open_stream();
        async move { Ok(TypedStream::new(open.await?)) }
    }

    /// Waits for the served side's result.
    #[track_caller]
    pub fn wait_for_result(&self) -> impl Future<Output = Result<R>> + '_ {
        self.ctx.wait_for_result::<R>()
    }

    /// Asks the served side to stop (Python's `Context.cancel`).
    pub fn cancel(&self) -> Result<()> {
        self.ctx.cancel()
    }

    /// The untyped context underneath.
    pub fn context(&self) -> &Context {
        &self.ctx
    }
}

/// A context's stream with the types of both directions fixed: receives
/// `R`, sends `S`. Dropping it closes this side, as for [`MsgStream`].
pub struct TypedStream<R, S> {
    stream: MsgStream,
    _types: Types<(R, S)>,
}

impl<R, S> std::fmt::Debug for TypedStream<R, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Typed{:?}", self.stream)
    }
}

impl<R: DeserializeOwned, S: Serialize> TypedStream<R, S> {
    fn new(stream: MsgStream) -> Self {
        TypedStream {
            stream,
            _types: PhantomData,
        }
    }

    /// Sends one item (see [`MsgStream::send`]).
    #[track_caller]
    pub fn send<'s>(&'s self, item: &S) -> impl Future<Output = Result<()>> + Send + use<'s, R, S> {
        self.stream.send(item)
    }

    /// The next item, or an error at the stream's end (see
    /// [`MsgStream::receive`]).
    #[track_caller]
    pub fn receive(&self) -> impl Future<Output = Result<R>> + '_ {
        self.stream.receive::<R>()
    }

    /// The next item, or `None` at the stream's end (see
    /// [`MsgStream::next`]).
    #[track_caller]
    pub fn next(&self) -> impl Future<Output = Option<Result<R>>> + '_ {
        self.stream.next::<R>()
    }

    /// Closes this side (see [`MsgStream::close`]).
    pub fn close(&self) -> Result<()> {
        self.stream.close()
    }

    /// The untyped stream underneath.
    pub fn stream(&self) -> &MsgStream {
        &self.stream
    }
}
