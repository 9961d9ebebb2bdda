tractor_driver::service! {
    /// Greetings.
    pub trait Greeter {
        /// A greeting.
        async fn greet(&self, name: String) -> String;
    }
}

fn main() {}