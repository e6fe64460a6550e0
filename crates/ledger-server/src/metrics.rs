//! `GET /metrics`: Prometheus text format. Commands by kind and outcome, batch sizes, write
//! (fsync) and end-to-end commit latencies, queue depth, head.

use std::sync::atomic::AtomicI64;

use ledger_store::{BatchReport, CommitObserver};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::sync::watch;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommandLabels {
    /// The command type (`internal_transfer`, ...) or `unknown` when it did not parse.
    pub kind: String,
    /// accepted, rejected, duplicate, conflict, malformed, refused (role, queue, limits).
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub status: u16,
}

/// Every metric, registered once.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub commands: Family<CommandLabels, Counter>,
    pub requests: Family<RequestLabels, Counter>,
    pub batch_commands: Histogram,
    pub write_seconds: Histogram,
    pub commit_seconds: Histogram,
    pub queue_commands: Gauge<i64, AtomicI64>,
    pub head_seq: Gauge<i64, AtomicI64>,
    pub failed_batches: Counter,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let commands = Family::<CommandLabels, Counter>::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let batch_commands = Histogram::new(exponential_buckets(1.0, 2.0, 14));
        let write_seconds = Histogram::new(exponential_buckets(0.000_125, 2.0, 16));
        let commit_seconds = Histogram::new(exponential_buckets(0.000_125, 2.0, 16));
        let queue_commands = Gauge::<i64, AtomicI64>::default();
        let head_seq = Gauge::<i64, AtomicI64>::default();
        let failed_batches = Counter::default();
        registry.register("ledger_commands", "Commands answered, by type and outcome", commands.clone());
        registry.register("ledger_http_requests", "HTTP requests, by route and status", requests.clone());
        registry.register("ledger_batch_commands", "Commands per committed write batch", batch_commands.clone());
        registry.register("ledger_write_seconds", "Time to write one batch, WAL fsync included", write_seconds.clone());
        registry.register(
            "ledger_commit_seconds",
            "Time from a request reaching the writer queue to its durable answer",
            commit_seconds.clone(),
        );
        registry.register("ledger_queue_commands", "Commands waiting for the writer", queue_commands.clone());
        registry.register("ledger_head_seq", "Sequence number of the last durable record", head_seq.clone());
        registry.register(
            "ledger_failed_batches",
            "Batches whose write failed (nothing acknowledged)",
            failed_batches.clone(),
        );
        Metrics {
            registry,
            commands,
            requests,
            batch_commands,
            write_seconds,
            commit_seconds,
            queue_commands,
            head_seq,
            failed_batches,
        }
    }

    pub fn count(&self, kind: &str, outcome: &str) {
        self.commands.get_or_create(&CommandLabels { kind: kind.to_owned(), outcome: outcome.to_owned() }).inc();
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

/// Told by the writer after every batch: metrics, and the head for followers waiting on
/// `GET /v1/events`.
#[derive(Debug)]
pub struct Observer {
    pub metrics: std::sync::Arc<Metrics>,
    pub head: watch::Sender<u64>,
}

impl CommitObserver for Observer {
    fn batch_done(&self, batch: &BatchReport) {
        if !batch.committed {
            self.metrics.failed_batches.inc();
            return;
        }
        self.metrics.batch_commands.observe(batch.commands as f64);
        self.metrics.write_seconds.observe(batch.write.as_secs_f64());
        self.metrics.head_seq.set(i64::try_from(batch.head_seq).unwrap_or(i64::MAX));
        self.head.send_if_modified(|seq| {
            let moved = *seq != batch.head_seq;
            *seq = batch.head_seq;
            moved
        });
    }
}
