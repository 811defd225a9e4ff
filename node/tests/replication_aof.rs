//! A replica with `appendonly yes`: after a full sync its AOF is rebuilt
//! from the new dataset (as Redis's restartAOFAfterSYNC does), so a replica
//! restarted from its AOF has the synced data and the stream applied after it.

mod replication_common;
mod support;

use replication_common::*;
use support::{free_port, ScratchDir};

#[test]
fn replica_aof_holds_the_synced_dataset_after_a_restart() {
    let mdir = ScratchDir::new("repl-aof-master");
    let rdir = ScratchDir::new("repl-aof-replica");
    let (mport, rport) = (free_port(), free_port());
    let master = Node::start(true, &mdir.0, mport, &[]);
    let mut mc = master.client();
    fill(&mut mc, "before", 200);

    let replica_args = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--replicaof",
        "127.0.0.1",
        &mport.to_string(),
    ];
    let replica_port = rport.to_string();
    let mut replica = Node::start(true, &rdir.0, rport, &replica_args);
    wait_for("the replica's link", || link_up(rport));
    // The AOF rewrite that follows the sync has finished.
    wait_for("the AOF rewrite after the sync", || {
        info_field(rport, "persistence", "aof_rewrite_in_progress").as_deref() == Some("0")
            && info_field(rport, "persistence", "aof_rewrite_scheduled").as_deref() == Some("0")
    });
    fill(&mut mc, "after", 50);
    wait_caught_up(mport, rport);
    let expected = dataset(mport);
    assert!(expected.len() >= 250, "{} keys", expected.len());

    // kill -9, then start it alone (no master) from its AOF.
    let _ = replica.child.kill();
    let _ = replica.child.wait();
    drop(master);
    replica = Node::start(
        true,
        &rdir.0,
        rport,
        &["--appendonly", "yes", "--port", &replica_port],
    );
    assert_eq!(dataset(rport), expected, "{}", read_log(&rdir.0));
    drop(replica);
}
