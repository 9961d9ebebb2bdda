tractor_driver::service! {
    /// Greetings.
    pub trait Greeter {
        /// A greeting.
        async fn greet(&self, name: &str) -> tractor_driver::Result<String>;
    }
}

fn main() {}