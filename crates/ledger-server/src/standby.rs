//! Cluster mode's roles (docs/CLUSTER.md, "Writer lease"): a standby serves reads from a
//! read-only handle (its nearest PostgreSQL node), follows that node's head, names the lease's
//! holder, and asks for the lease; once it holds it, it opens the writer's ledger and becomes
//! the writer in place (the same listener: reads never stop). The writer renews the lease and
//! steps down (stops, exit 2) when it is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ledger_store::{Ledger, LedgerOptions};
use tokio::sync::{oneshot, watch};

use crate::api::AppState;
use crate::lease::{EtcdTls, Holder, Lease, LeaseConfig, LeaseError};
use crate::metrics::Observer;
use crate::transport::Stop;

/// How often a standby asks for the lease and reads its node's head: a takeover waits at most
/// the TTL plus this.
pub(crate) const LEASE_POLL: Duration = Duration::from_millis(250);

/// The longest a standby stays silent while etcd (or its database node) keeps failing the same
/// way.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// What a standby needs to take over.
pub(crate) struct Takeover {
    pub lease: LeaseConfig,
    pub tls: Option<EtcdTls>,
    /// Who this server is, as the lease names it.
    pub holder: Holder,
    /// The writer's ledger: its URL and options (with the commit observer).
    pub db: std::path::PathBuf,
    pub options: LedgerOptions,
    pub observer: Arc<Observer>,
}

/// The held lease and its renewing thread, once this server is the writer.
pub(crate) struct Keeper {
    keeping: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Result<Lease, String>>,
}

impl Keeper {
    /// Starts renewing `lease`; on losing it, steps down (stops the listener at once).
    pub(crate) fn start(lease: Lease, stop: Arc<watch::Sender<Stop>>, state: AppState) -> Keeper {
        let (lost_tx, lost_rx) = oneshot::channel();
        tokio::spawn(step_down(stop, state, lost_rx));
        let keeping = Arc::new(AtomicBool::new(true));
        let renewing = Arc::clone(&keeping);
        let thread = std::thread::spawn(move || keep_lease(lease, &renewing, lost_tx));
        Keeper { keeping, thread }
    }

    /// Stops renewing: the lease to release (the ledger is closed), or why it was lost.
    pub(crate) fn finish(self) -> Option<Result<Lease, String>> {
        self.keeping.store(false, Ordering::Release);
        self.thread.join().ok()
    }
}

/// A standby's loop: every [`LEASE_POLL`] it reads its node's head (moving `/readyz`'s and the
/// events long polls' head) and asks for the lease, noting who holds it. Returns the lease once
/// this server holds it and serves as the writer; None once the server is stopping.
pub(crate) async fn serve_as_standby(state: AppState, takeover: Takeover) -> Option<Lease> {
    let mut stopping = state.0.stopping.subscribe();
    let mut quiet_etcd = RateLimited::default();
    let mut quiet_db = RateLimited::default();
    let mut last_seen: Option<Holder> = None;
    loop {
        if *stopping.borrow() {
            return None;
        }
        match state.blocking(|reader| reader.head()).await {
            Ok(head) => {
                takeover.observer.head.send_if_modified(|seen| std::mem::replace(seen, head.seq) != head.seq);
                state.0.metrics.head_seq.set(i64::try_from(head.seq).unwrap_or(i64::MAX));
            }
            Err(err) => {
                if quiet_db.should_say(&format!("{err:?}"), Instant::now()) {
                    tracing::warn!(?err, "standby: reading the head from its database node");
                }
            }
        }
        let (config, tls, value) = (takeover.lease.clone(), takeover.tls.clone(), takeover.holder.to_value());
        let tried = tokio::task::spawn_blocking(move || Lease::try_acquire(&config, tls.as_ref(), &value)).await;
        match tried {
            Ok(Ok(Ok(lease))) => {
                if let Some(lease) = take_over(&state, &takeover, lease).await {
                    return Some(lease);
                }
            }
            Ok(Ok(Err(held))) => {
                let holder = Holder::from_value(&held);
                if last_seen.as_ref() != Some(&holder) {
                    if holder == takeover.holder {
                        // Held under this server's own name and URL: a previous run of it that
                        // died holding the lease. No writer serves until it expires (TTL);
                        // naming this server as the writer would send clients back here.
                        tracing::info!(held_by = ?holder.name, "standby: the writer lease is held by a previous run of this server; it expires within its TTL");
                        state.writer_seen(None);
                    } else {
                        tracing::info!(held_by = ?holder.name, url = ?holder.url, "standby: serving reads; the writer lease is held");
                        state.writer_seen(Some(holder.clone()));
                    }
                    last_seen = Some(holder);
                }
            }
            Ok(Err(err)) => {
                if quiet_etcd.should_say(&err.to_string(), Instant::now()) {
                    tracing::warn!(%err, "standby: asking for the writer lease: etcd did not answer");
                }
            }
            Err(err) => tracing::warn!(%err, "standby: asking for the writer lease"),
        }
        tokio::select! {
            () = tokio::time::sleep(LEASE_POLL) => {}
            _ = stopping.changed() => {}
        }
    }
}

/// Holding the lease: opens the writer's ledger (bumping the epoch: every earlier writer is
/// fenced) and serves as the writer. If it cannot be opened (or holds no record), the lease is
/// given back and the server stays a standby.
async fn take_over(state: &AppState, takeover: &Takeover, lease: Lease) -> Option<Lease> {
    tracing::info!(holder = %lease.holder, "took the writer lease; opening the ledger");
    let (db, options) = (takeover.db.clone(), takeover.options.clone());
    let opened = tokio::task::spawn_blocking(move || {
        let ledger = Ledger::open(db, options)?;
        let head = ledger.head()?;
        Ok::<_, ledger_store::Error>((ledger, head))
    })
    .await;
    let why = match opened {
        Ok(Ok((ledger, head))) if head.seq > 0 => {
            takeover.observer.head.send_replace(head.seq);
            state.0.metrics.head_seq.set(i64::try_from(head.seq).unwrap_or(i64::MAX));
            let standby = state.become_writer(ledger);
            state.0.metrics.writer.set(1);
            state.0.metrics.standby.set(0);
            // The standby's read-only connection closes off the async threads.
            tokio::task::spawn_blocking(move || drop(standby));
            tracing::info!(head = %head.to_text(), "serving as the writer");
            return Some(lease);
        }
        Ok(Ok((ledger, _))) => {
            let _ = tokio::task::spawn_blocking(move || ledger.close()).await;
            "the ledger holds no record (its `init` was interrupted): run `ledger-cli init` on it again".to_owned()
        }
        Ok(Err(err)) => err.to_string(),
        Err(err) => err.to_string(),
    };
    tracing::error!(%why, "could not open the ledger as the writer; giving the lease back and staying a standby");
    let _ = tokio::task::spawn_blocking(move || lease.release()).await;
    None
}

/// Says a repeated complaint once when it changes, then at most every [`WARN_EVERY`]: a standby
/// polls every [`LEASE_POLL`] and would otherwise log four warnings a second while etcd is away.
#[derive(Default)]
struct RateLimited {
    last: Option<(String, Instant)>,
}

impl RateLimited {
    fn should_say(&mut self, text: &str, now: Instant) -> bool {
        let say = match &self.last {
            None => true,
            Some((said, at)) => said != text || now.duration_since(*at) >= WARN_EVERY,
        };
        if say {
            self.last = Some((text.to_owned(), now));
        }
        say
    }
}

/// Renews the lease until `keeping` is cleared (then hands it back for release) or it is lost
/// (then signals `lost` and returns why).
fn keep_lease(mut lease: Lease, keeping: &AtomicBool, lost: oneshot::Sender<()>) -> Result<Lease, String> {
    let tick = Duration::from_millis(50);
    let mut next = Instant::now() + lease.renew_every();
    while keeping.load(Ordering::Acquire) {
        if Instant::now() < next {
            std::thread::sleep(tick);
            continue;
        }
        match lease.renew() {
            Ok(()) => next = Instant::now() + lease.renew_every(),
            Err(LeaseError::Lost(why)) => {
                let why = format!("the writer lease is lost: {why}");
                tracing::error!(%why, "stepping down: another server may be the writer now");
                let _ = lost.send(());
                return Err(why);
            }
            Err(err) => {
                tracing::warn!(%err, "renewing the writer lease; retrying");
                next = Instant::now() + tick * 4;
            }
        }
    }
    Ok(lease)
}

/// On losing the lease: not ready, stop at once (requests in flight get no answer; their
/// commands, retried with the same ids, are answered by the next writer). The process then
/// exits (2): it does not go back to being a standby, since its writer thread may still hold
/// a batch it cannot know the fate of; its supervisor starts it again, as a standby.
async fn step_down(stop: Arc<watch::Sender<Stop>>, state: AppState, lost: oneshot::Receiver<()>) {
    if lost.await.is_ok() {
        state.0.metrics.writer.set(0);
        state.0.ready.store(false, Ordering::Relaxed);
        state.0.stopping.send_replace(true);
        stop.send_replace(Stop::Now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Given etcd failing every poll (250 ms apart) for 25 s, then failing differently: the
    /// warning is said at the first, every 10 s, and at the change; not at each poll.
    #[test]
    fn an_unreachable_etcd_is_warned_about_on_change_and_every_ten_seconds_not_every_poll() {
        let start = Instant::now();
        let mut quiet = RateLimited::default();
        let mut said = Vec::new();
        for poll in 0..100u32 {
            let text = if poll < 90 { "connection refused" } else { "timed out" };
            if quiet.should_say(text, start + LEASE_POLL * poll) {
                said.push((poll, text));
            }
        }
        assert_eq!(
            said,
            [(0, "connection refused"), (40, "connection refused"), (80, "connection refused"), (90, "timed out")]
        );
    }
}
