use tractor_driver::prelude::*;

tractor_driver::service! {
    /// Running totals.
    #[namespace = "totals"]
    pub trait Totals {
        /// Adds each number the caller sends, sending back the total.
        #[context]
        async fn add(&self, ctx: ServedContext<i64, i64, i64>) -> Result<u32>;
    }
}

async fn caller(portal: &Portal) -> Result<()> {
    let (ctx, _start) = TotalsClient::new(portal).add().await?;
    let stream = ctx.open_stream().await?;
    stream.send(&"one").await?;
    let total: String = stream.receive().await?;
    let _ = total;
    Ok(())
}

fn main() {}
