//! Typed payloads: serde structs and enums as arguments, `started` values,
//! stream items and results, and what a payload of the wrong shape does.
//!
//! ```text
//! cargo run -p tractor-examples --example typed_payloads
//! ```
//!
//! Payloads travel as msgpack; each side names the Rust type it expects
//! and gets it decoded, or a `TypeError` that says what did not fit. The
//! root opens a context with a `scaler` daemon: its arguments are a
//! struct, its `started` value a `Point`, the stream carries `Shape`
//! enums both ways and the result is a `Summary`. Then three payloads that
//! do not fit:
//!
//! * a `started` value the opener cannot read as a `Point`;
//! * a result the caller cannot read as a `Point`;
//! * arguments the daemon cannot read (a field is missing): the daemon
//!   refuses the call, and its `TypeError` comes back as a remote error.
//!
//! A payload error fails only its own call: the daemon serves on.

use serde::{Deserialize, Serialize};
use tractor_examples::{ActorOptions, Address, Config, Context, Error, ErrorKind, Functions};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Point {
    x: i64,
    y: i64,
}

impl Point {
    fn scaled(self, k: i64) -> Point {
        Point {
            x: self.x * k,
            y: self.y * k,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Shape {
    Dot(Point),
    Segment { from: Point, to: Point },
    Nothing,
}

impl Shape {
    fn scaled(&self, k: i64) -> Shape {
        match self {
            Shape::Dot(p) => Shape::Dot(p.scaled(k)),
            Shape::Segment { from, to } => Shape::Segment {
                from: from.scaled(k),
                to: to.scaled(k),
            },
            Shape::Nothing => Shape::Nothing,
        }
    }
}

/// The context's keyword arguments.
#[derive(Serialize, Deserialize)]
struct Scale {
    factor: i64,
    label: String,
}

/// The context's result.
#[derive(Debug, Serialize, Deserialize)]
struct Summary {
    label: String,
    shapes: u32,
}

/// Arguments of `area`.
#[derive(Serialize, Deserialize)]
struct Rect {
    width: u32,
    height: u32,
}

fn functions() -> Functions {
    Functions::new()
        .context("geometry", "scaler", |ctx: Context, s: Scale| async move {
            ctx.started(Point { x: 0, y: 0 }).await?;
            let stream = ctx.open_stream().await?;
            let mut shapes = 0;
            while let Some(shape) = stream.next::<Shape>().await {
                stream.send(&shape?.scaled(s.factor)).await?;
                shapes += 1;
            }
            Ok(Summary {
                label: s.label,
                shapes,
            })
        })
        // Starts with a string where the opener expects a `Point`.
        .context("geometry", "sloppy", |ctx: Context, (): ()| async move {
            ctx.started("this is no Point").await?;
            Ok(())
        })
        .rpc("geometry", "name", |(): ()| async move {
            Ok(String::from("geometry"))
        })
        .rpc("geometry", "area", |r: Rect| async move {
            Ok(u64::from(r.width) * u64::from(r.height))
        })
}

/// One line about a payload error.
fn describe(e: &Error) -> String {
    match (e.kind(), e.remote()) {
        (ErrorKind::Local(l), _) => format!("local {}: {}", l.type_name, l.message),
        (_, Some(r)) => format!(
            "remote {} from {}: {}",
            r.src_type(),
            r.src_uid().name,
            r.text()
        ),
        _ => format!("{e}"),
    }
}

fn main() -> Result<(), Error> {
    tractor_examples::block_on(async {
        let config =
            Config::new("typed_root", functions()).registry_addrs([Address::tcp("127.0.0.1", 0)]);
        tractor_examples::open_root_actor(config, |root| async move {
            root.open_nursery(|n| async move {
                let opts = ActorOptions::new().enable_modules(["geometry"]);
                let portal = n.start_actor("scaler", opts).await?;

                let args = Scale {
                    factor: 3,
                    label: "triple".into(),
                };
                let (ctx, origin): (_, Point) =
                    portal.open_context("geometry", "scaler", args).await?;
                println!("started: {origin:?}");
                let stream = ctx.open_stream().await?;
                let shapes = [
                    Shape::Dot(Point { x: 1, y: 2 }),
                    Shape::Segment {
                        from: Point { x: 0, y: 1 },
                        to: Point { x: -2, y: 5 },
                    },
                    Shape::Nothing,
                ];
                for shape in &shapes {
                    stream.send(shape).await?;
                    let back: Shape = stream.receive().await?;
                    if back != shape.scaled(3) {
                        return Err(Error::raise(
                            "AssertionError",
                            format!("{shape:?} came back as {back:?}"),
                        ));
                    }
                    println!("sent {shape:?}, got {back:?}");
                }
                stream.close()?;
                let summary: Summary = ctx.wait_for_result().await?;
                println!("result: {summary:?}");

                println!("-- payloads that do not fit --");
                let e = portal
                    .open_context::<Point>("geometry", "sloppy", ())
                    .await
                    .expect_err("a string is no Point");
                println!("started as a Point: {}", describe(&e));
                let e = portal
                    .run::<Point>("geometry", "name", ())
                    .await
                    .expect_err("a string is no Point");
                println!("result as a Point: {}", describe(&e));
                #[derive(Serialize)]
                struct NotARect<'a> {
                    width: u32,
                    depth: &'a str,
                }
                let e = portal
                    .run::<u64>(
                        "geometry",
                        "area",
                        NotARect {
                            width: 6,
                            depth: "deep",
                        },
                    )
                    .await
                    .expect_err("the daemon cannot read these arguments");
                println!("arguments of area: {}", describe(&e));

                // The daemon is unharmed.
                let area: u64 = portal
                    .run(
                        "geometry",
                        "area",
                        Rect {
                            width: 6,
                            height: 7,
                        },
                    )
                    .await?;
                println!("area of a 6x7 rectangle: {area}");
                portal.cancel_actor().await?;
                Ok(())
            })
            .await
        })
        .await
    })
}
