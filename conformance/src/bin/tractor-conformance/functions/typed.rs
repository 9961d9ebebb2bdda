//! A typed service (`service!`): the `typed-service` scenario calls it
//! through its client, and tests/processes.rs calls it as Python does,
//! with keyword arguments recorded from Python.

use crate::*;

tractor_driver::service! {
    /// Arithmetic and greetings, under a namespace of their own.
    #[namespace = "conf_math"]
    pub(crate) trait Math {
        /// `x` squared.
        async fn square(&self, x: i64) -> Result<i64>;
        /// `a / b`, or the service's own error, typed.
        async fn divide(&self, a: i64, b: i64) -> std::result::Result<i64, MathError>;
        /// A greeting; `title` may be left out.
        async fn greet(&self, name: String, title: Option<String>) -> Result<String>;
        /// The parameters of Python's registrar method of the same name,
        /// as its recorded call sends them: the uid and address it got.
        async fn register_actor(&self, uid: (String, String), addr: (String, u16)) -> Result<String>;
        /// A running total: starts with `start`, then adds each number the
        /// caller sends and sends the total back; returns how many it
        /// added.
        #[context]
        async fn totals(&self, ctx: ServedContext<i64, i64, i64>, start: i64) -> Result<u32>;
    }
}

/// The implementation every actor of the program serves.
pub(crate) struct Calc;

impl Math for Calc {
    async fn square(&self, x: i64) -> Result<i64> {
        x.checked_mul(x)
            .ok_or_else(|| Error::raise("OverflowError", format!("{x} squared")))
    }

    async fn divide(&self, a: i64, b: i64) -> std::result::Result<i64, MathError> {
        a.checked_div(b)
            .ok_or(MathError::DivisionByZero { dividend: a })
    }

    async fn greet(&self, name: String, title: Option<String>) -> Result<String> {
        Ok(match title {
            Some(t) => format!("hello, {t} {name}"),
            None => format!("hello, {name}"),
        })
    }

    async fn register_actor(&self, uid: (String, String), addr: (String, u16)) -> Result<String> {
        Ok(format!("{} at {}:{}", uid.0, addr.0, addr.1))
    }

    async fn totals(&self, ctx: ServedContext<i64, i64, i64>, start: i64) -> Result<u32> {
        ctx.started(start).await?;
        let stream = ctx.open_stream().await?;
        let (mut total, mut added) = (start, 0);
        while let Some(n) = stream.next().await {
            total += n?;
            added += 1;
            stream.send(&total).await?;
        }
        Ok(added)
    }
}

/// The service's own error type, registered in every actor of the program.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum MathError {
    /// A division by zero.
    DivisionByZero {
        /// What was divided.
        dividend: i64,
    },
}

impl std::fmt::Display for MathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MathError::DivisionByZero { dividend } => write!(f, "{dividend} divided by zero"),
        }
    }
}

impl std::error::Error for MathError {}

impl RemoteErrorType for MathError {
    const NAME: &'static str = "ZeroDivisionError";
}

/// The publisher of the `pubsub-` scenarios: a small backlog, so that a
/// subscriber that never reads lags soon.
pub(crate) static TICKS: std::sync::LazyLock<Publisher<u64>> =
    std::sync::LazyLock::new(|| Publisher::with_backlog(100));

/// The functions of the publisher: subscribing, publishing a range of
/// numbers under `even` and `odd`, and its counts.
pub(crate) fn pubsub_functions(functions: Functions) -> Functions {
    #[derive(Deserialize)]
    struct Topics {
        topics: Vec<String>,
    }
    #[derive(Deserialize)]
    struct Range {
        from: u64,
        to: u64,
    }
    functions
        .context(NS, "subscribe", |ctx: Context, t: Topics| async move {
            TICKS.serve(ctx, t.topics).await
        })
        .rpc(NS, "publish_range", |r: Range| async move {
            let mut reached = 0;
            for i in r.from..r.to {
                reached += TICKS.publish(if i % 2 == 0 { "even" } else { "odd" }, &i)?;
            }
            Ok(reached)
        })
        .rpc(NS, "pubsub_stats", |(): ()| async move {
            Ok((TICKS.subscribers(), TICKS.lagged()))
        })
}
