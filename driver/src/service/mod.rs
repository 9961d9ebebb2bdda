//! Typed services: a service declared once as a Rust trait, served by an
//! implementation and called through a client that the compiler checks,
//! while on the wire it stays a plain namespace of functions called with
//! keyword arguments, as Python's are.
//!
//! [`service!`](crate::service!) turns a trait into:
//!
//! - the trait itself, for the implementation (`impl Math for Calc`);
//! - `MathService`, a marker naming the service: its namespace
//!   ([`Service::NAMESPACE`]) and functions, given to
//!   [`Functions::serve`] with an implementation and to
//!   [`ActorOptions::serve`] to let a child serve it;
//! - `MathClient`, whose methods call the service through a [`Portal`]
//!   with the trait's own signatures.
//!
//! A method's parameters travel as the call's keyword arguments, named as
//! in the trait, so a Python peer calls it with
//! `portal.run_from_ns('math', 'square', x=7)`, and a client calls a
//! Python function whose parameters are named alike. The string API
//! ([`Portal::run`], [`Functions::rpc`]) stays for everything else; the
//! typed one is made of it.
//!
//! A method returns `Result<T, E>`: `T` any `serde` value, `E` tractor's
//! [`Error`](crate::Error) or an error type of the service's own (anything
//! that converts into it, e.g. a `thiserror` enum). A client gets
//! tractor's `Error`; an error type registered with
//! [`register_error_type`](crate::register_error_type) comes back typed
//! through [`Error::downcast_ref`](crate::Error::downcast_ref).

mod context;

pub use context::{ContextTypes, OpenedContext, ServedContext, TypedStream};

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tractor_protocol::FuncType;

use crate::error::Result;
use crate::functions::Functions;
use crate::future::ApiFuture;
use crate::kwargs::Kwargs;
use crate::nursery::ActorOptions;
use crate::payload::encode_result;
use crate::portal::{Context, Portal};

/// A service made by [`service!`](crate::service!): a namespace of
/// functions with known names. Implemented by the generated marker type
/// (`MathService` for a trait `Math`).
pub trait Service: Copy + Send + Sync + 'static {
    /// The namespace its functions are served under (Python's module).
    const NAMESPACE: &'static str;
    /// Its functions' names, in the trait's order.
    const FUNCTIONS: &'static [&'static str];
}

/// A [`Service`] that an implementation `T` can serve: registers `T`'s
/// methods as the service's functions. Implemented by the generated marker
/// for every type implementing the trait; used through
/// [`Functions::serve`].
pub trait Serve<T>: Service {
    /// `functions` with every function of the service, run by `imp`.
    fn register(self, imp: T, functions: Functions) -> Functions;
}

impl Functions {
    /// Serves `service` with the implementation `imp`: each method of the
    /// service's trait becomes a function of its namespace.
    ///
    /// ```
    /// # use tractor_driver::prelude::*;
    /// # use tractor_driver::service;
    /// service! {
    ///     /// Arithmetic.
    ///     #[namespace = "math"]
    ///     pub trait Math {
    ///         /// `x` squared.
    ///         async fn square(&self, x: i64) -> Result<i64>;
    ///     }
    /// }
    ///
    /// struct Calc;
    ///
    /// impl Math for Calc {
    ///     async fn square(&self, x: i64) -> Result<i64> {
    ///         Ok(x * x)
    ///     }
    /// }
    ///
    /// let functions = Functions::new().serve(MathService, Calc);
    /// assert!(functions.contains("math", "square"));
    /// ```
    pub fn serve<S: Serve<T>, T>(self, service: S, imp: T) -> Self {
        service.register(imp, self)
    }

    /// Serves an async function that reads its keyword arguments one by
    /// one: `f` takes them from a [`Kwargs`] and gives the function's
    /// future, or the `TypeError` of arguments that do not fit, which
    /// refuses the call before anything runs (as a typed function's
    /// arguments are checked).
    pub fn rpc_kwargs<T, F, Fut>(self, ns: &str, func: &str, f: F) -> Self
    where
        T: Serialize + Send + 'static,
        F: Fn(Kwargs) -> Result<Fut> + Send + Sync + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        let name = format!("{ns}:{func}");
        self.add_plain(ns, func, FuncType::AsyncFunc, move |kwargs| {
            let fut = f(Kwargs::read(&name, &kwargs)?)?;
            Ok(Box::pin(async move { encode_result(fut.await?) }))
        })
    }
}

impl Functions {
    /// Serves a context function that reads its keyword arguments one by
    /// one, as [`Functions::rpc_kwargs`] does: `f` gets the [`Context`] and
    /// the [`Kwargs`], and gives the function's future.
    pub fn context_kwargs<T, F, Fut>(self, ns: &str, func: &str, f: F) -> Self
    where
        T: Serialize + Send + 'static,
        F: Fn(Context, Kwargs) -> Result<Fut> + Send + Sync + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        let name = format!("{ns}:{func}");
        self.add_context(ns, func, move |ctx, kwargs| {
            let fut = f(ctx, Kwargs::read(&name, &kwargs)?)?;
            Ok(Box::pin(async move { encode_result(fut.await?) }))
        })
    }
}

impl ActorOptions {
    /// Lets the child serve `service` (its namespace, as
    /// [`enable_modules`](ActorOptions::enable_modules) names it). The
    /// child program must serve it too: its [`Functions`] come from
    /// [`Functions::serve`].
    pub fn serve<S: Service>(self, service: S) -> Self {
        let _ = service;
        self.enable_modules([S::NAMESPACE])
    }
}

impl Portal {
    /// Calls `ns:func` with keyword arguments given one by one (see
    /// [`Kwargs`]), for the result `T`: what a typed client does, and a
    /// way to call a function whose parameters are only known at run time.
    #[track_caller]
    pub fn run_kwargs<T: DeserializeOwned>(
        &self,
        ns: impl Into<String>,
        func: impl Into<String>,
        kwargs: Kwargs,
    ) -> ApiFuture<'_, Result<T>> {
        self.call(
            "Portal::run_kwargs",
            ns.into(),
            func.into(),
            kwargs.into_raw(),
        )
    }

    /// Opens the context function `ns:func` with keyword arguments given
    /// one by one, as [`Portal::open_context`] opens one, and waits for
    /// its `started` value `S`.
    #[track_caller]
    pub fn open_context_kwargs<S: DeserializeOwned>(
        &self,
        ns: impl Into<String>,
        func: impl Into<String>,
        kwargs: Kwargs,
    ) -> ApiFuture<'_, Result<(Context, S)>> {
        self.context(
            "Portal::open_context_kwargs",
            ns.into(),
            func.into(),
            kwargs.into_raw(),
            tractor_protocol::ContextOptions::default(),
        )
    }
}

/// Declares a typed service from a trait (see [`service`](mod@crate::service)).
///
/// ```
/// # use tractor_driver::prelude::*;
/// # use tractor_driver::service;
/// service! {
///     /// Arithmetic, under the namespace `math` (Python's module).
///     #[namespace = "math"]
///     pub trait Math {
///         /// `x` squared.
///         async fn square(&self, x: i64) -> Result<i64>;
///         /// `a + b`.
///         async fn add(&self, a: i64, b: i64) -> Result<i64>;
///     }
/// }
///
/// struct Calc;
///
/// impl Math for Calc {
///     async fn square(&self, x: i64) -> Result<i64> {
///         Ok(x * x)
///     }
///     async fn add(&self, a: i64, b: i64) -> Result<i64> {
///         Ok(a + b)
///     }
/// }
///
/// // The program serves it; a child is let serve it.
/// let functions = Functions::new().serve(MathService, Calc);
/// let options = ActorOptions::new().serve(MathService);
/// # assert!(functions.contains("math", "add"));
/// # assert_eq!(options.enable_modules, ["math"]);
/// // A caller holding a portal to that child:
/// async fn call(portal: &Portal) -> Result<i64> {
///     MathClient::new(portal).square(7).await
/// }
/// ```
///
/// The trait must be a plain trait of `async fn`s taking `&self` and
/// owned parameters and returning `Result<T, E>`. Its namespace is given
/// with `#[namespace = "…"]`, else it is the trait's name in snake case.
/// Besides the trait (which gets `Send + Sync + 'static` as supertraits),
/// the macro writes `<Trait>Service`, a [`Service`] and [`Serve`] for every
/// implementation, and `<Trait>Client`, built from a [`Portal`] with
/// `new(&portal)`.
#[macro_export]
macro_rules! service {
    ($($body:tt)*) => {
        $crate::service::__private::service_impl! { $crate ; $($body)* }
    };
}

/// What the code [`service!`](crate::service!) writes uses; not an API.
#[doc(hidden)]
pub mod __private {
    pub use tractor_macros::service_impl;
}
