use tractor_driver::prelude::*;

tractor_driver::service! {
    /// Arithmetic.
    #[namespace = "math"]
    pub trait Math {
        /// `x` squared.
        async fn square(&self, x: i64) -> Result<i64>;
    }
}

async fn caller(portal: &Portal) -> Result<()> {
    let math = MathClient::new(portal);
    let _ = math.sqare(7).await?;
    Ok(())
}

fn main() {}