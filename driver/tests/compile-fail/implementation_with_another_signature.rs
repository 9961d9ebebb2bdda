use tractor_driver::prelude::*;

tractor_driver::service! {
    /// Arithmetic.
    #[namespace = "math"]
    pub trait Math {
        /// `x` squared.
        async fn square(&self, x: i64) -> Result<i64>;
    }
}

struct Calc;

impl Math for Calc {
    async fn square(&self, x: u8) -> Result<i64> {
        Ok(i64::from(x) * i64::from(x))
    }
}

fn main() {}