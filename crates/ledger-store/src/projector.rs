//! The projector: writes the history and customer indexes and the account read models behind
//! the writer, so a batch's acknowledged write holds its log records and little else
//! (docs/PERFORMANCE.md, "Round 2"). The job and the watermark are in `project.rs`.
//!
//! Invariants:
//! - `meta/projected` is the last sequence number whose history and customer index entries and
//!   account read models are stored; it is written in the same atomic write as them, and never
//!   goes back.
//! - snapshot seq ≤ projected ≤ head on disk: the writer drains the projector before it writes a
//!   snapshot, and a crash leaves at most the jobs in flight unprojected. Opening for writing
//!   projects `(projected, head]` from the log before anything else
//!   (`Store::load_state_projected`).
//! - A reader in the writer's process waits, before it reads those keys, until every batch
//!   acknowledged before its call is projected (`Watermark::wait`): read-your-writes holds.

use std::sync::Arc;

use crossbeam_channel::Receiver;

use crate::error::Error;
use crate::project::Job;
use crate::store::Store;

/// Jobs queued behind the writer before it waits (backpressure: the projector never falls
/// further behind than this many batches).
pub(crate) const QUEUE_LEN_MAX: usize = 2;

/// How long the projector retries a write that failed because the database was unreachable
/// (PostgreSQL during a failover) before it stops the ledger.
const RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(60);
const RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(250);

/// How often at most the projector syncs what it wrote (RocksDB, layout 5: the projected keys
/// have a write-ahead log of their own; a power loss loses at most this much of them, projected
/// again from the log at the next writer's open).
const SYNC_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// The projector thread: writes each job without fsync, in order, and syncs what it wrote at
/// most every [`SYNC_INTERVAL`] (off the writer's path) when the ledger syncs its commits
/// (`sync`: never ahead of the log on disk otherwise). Jobs queued behind
/// the one it takes are written with it, as one (an account touched by several is written
/// once): when the projector falls behind, it catches up with fewer rows.
pub(crate) fn run(store: Arc<Store>, jobs: Receiver<Job>, sync: bool) {
    let watermark = Arc::clone(&store.projection);
    let mut synced = std::time::Instant::now();
    while let Ok(mut job) = jobs.recv() {
        for _ in 0..QUEUE_LEN_MAX {
            match jobs.try_recv() {
                Ok(next) => job.absorb(next),
                Err(_) => break,
            }
        }
        let started = std::time::Instant::now();
        // Where the last job (or the writer's catch-up after a failed batch) ended.
        let written = watermark.projected().and_then(|from_seq| {
            loop {
                match store.stage_projection(&job).and_then(|staged| store.commit_projection(staged, from_seq, false)) {
                    Ok(()) => break Ok(()),
                    Err(Error::Io(_)) if store.commit_outcome_unknown_on_error() && started.elapsed() < RETRY_FOR => {
                        // The writes are idempotent: a retry of a write that did commit changes nothing.
                        std::thread::sleep(RETRY_PAUSE);
                    }
                    Err(err) => break Err(err),
                }
            }
        });
        let marked = written.and_then(|()| watermark.done(job.to_seq)).and_then(|()| {
            if !sync || synced.elapsed() < SYNC_INTERVAL {
                return Ok(());
            }
            synced = std::time::Instant::now();
            store.sync_projection()
        });
        if let Err(err) = marked {
            watermark.fail(format!("projecting the read models up to seq {} failed: {err}", job.to_seq));
            break;
        }
    }
    store.end_projection_session();
}
