//! What the example tests share: where the examples are built, and the
//! adapters they run on.

use std::path::PathBuf;

/// The adapters every example runs on, by their `TRACTOR_ADAPTER` value.
pub const ADAPTERS: [&str; 2] = ["tokio", "smol"];

/// An example's binary; `cargo test` builds examples beside the tests.
pub fn example(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().expect("the test binary's path");
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join("examples").join(name);
    assert!(path.exists(), "{} is not built", path.display());
    path
}
