//! Running code on the actor's guest runtime, linked to the calling task
//! (Python tractor's `to_asyncio`): see [`guest`](crate::guest) for what
//! the link guarantees.
//!
//! ```no_run
//! # use tractor_driver::prelude::*;
//! # use tractor_driver::to_guest;
//! # async fn demo() -> Result<()> {
//! // In an actor started with a guest (`ActorOptions::new().guest()`):
//! // the future runs on the guest's thread, in its context.
//! let n: u64 = to_guest::run(|| async { Ok::<_, std::io::Error>(42) }).await?;
//! assert_eq!(n, 42);
//!
//! // A guest task that streams to this one, with a first value.
//! let (first, mut chan) = to_guest::open_channel_from(|start| async move {
//!     let mut chan = start.started("counting");
//!     for i in 0..3u32 {
//!         chan.send(i).await?;
//!     }
//!     // What the linked task sends; `None` once it closed its end.
//!     while let Some(word) = chan.recv().await {
//!         let _: String = word;
//!     }
//!     Ok::<_, Error>(())
//! })
//! .await?;
//! assert_eq!(first, "counting");
//! for i in 0..3u32 {
//!     assert_eq!(chan.receive().await?, i);
//! }
//! chan.send("done".to_string()).await?;
//! chan.wait().await?;
//! # Ok(())
//! # }
//! ```

pub use crate::guest::api::{open_channel_from, open_channel_with_capacity, run};
