//! A REPL on the failure of plain code: a command-line entry point with
//! no actor at all.
//!
//! ```text
//! cargo run -p tractor-examples --example debug_crash_handler -- 12x
//! ```
//!
//! `crash_handler` runs a closure; if it returns an error or panics, a
//! REPL opens on the failure (the error, and the source where the handler
//! was entered) before the error is returned or the panic resumes. Try it
//! with a number (`-- 12`) to see it pass through untouched.

use tractor_examples::debug::crash_handler;

fn main() -> Result<(), String> {
    let arg = std::env::args().nth(1).unwrap_or_else(|| "12x".into());
    crash_handler(|| {
        let n: u32 = arg.parse().map_err(|e| format!("bad count {arg:?}: {e}"))?;
        println!("counted {n}");
        Ok(())
    })
}
