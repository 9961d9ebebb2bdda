//! Actor clusters (`cluster-`): workers started together, called
//! together, gone together.

use crate::*;

/// Three workers: a call to all, a typed call to each with its number,
/// then a call that fails in one worker only and one that fails in all.
pub(crate) async fn cluster_gather(root: ActorHandle) -> Result<()> {
    let options = ClusterOptions::new(daemon().serve(MathService)).count(3);
    let pids: Vec<String> = root
        .open_cluster(options.clone(), |cluster| async move {
            let names: Vec<String> = cluster.run_all(NS, "hi", ()).await?;
            fact("names", names.join(","));
            let squares = cluster
                .map(|i, p| async move { MathClient::new(&p).square(i as i64 + 2).await })
                .await?;
            fact("squares", format!("{squares:?}"));
            cluster.run_all::<u32>(NS, "pid", ()).await
        })
        .await?
        .iter()
        .map(u32::to_string)
        .collect();
    fact("pids", pids.join(","));
    // One worker fails: its error alone, and every worker is reaped.
    let e = root
        .open_cluster(options.clone(), |cluster| async move {
            cluster
                .map(|i, p| async move {
                    match i {
                        1 => MathClient::new(&p).divide(i as i64, 0).await,
                        _ => MathClient::new(&p).square(i as i64).await,
                    }
                })
                .await
        })
        .await
        .expect_err("a division by zero");
    fact("one_failed", e.type_name().unwrap_or("?"));
    fact(
        "one_failed_from",
        e.remote().map_or("?".into(), |r| r.src_uid().name.clone()),
    );
    // All fail: their errors together, as a group.
    let e = root
        .open_cluster(options, |cluster| async move {
            cluster
                .run_all::<()>(NS, "raise", Raise::new("ValueError", "every worker"))
                .await
        })
        .await
        .expect_err("every worker raises");
    fact("all_failed", e.errors().len());
    Ok(())
}
