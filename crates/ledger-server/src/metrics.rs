//! `GET /metrics`: Prometheus text format. Commands by kind and outcome, batch sizes, write
//! (fsync) and end-to-end commit latencies, rejections by reason, queue depth, head.

use std::sync::atomic::AtomicI64;

use ledger_core::{CommandBody, RejectReason};
use ledger_store::{BatchReport, CommitObserver};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::history::{History, this_minute};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommandLabels {
    /// The command type (`internal_transfer`, ...) or `unknown` when it did not parse.
    pub kind: String,
    /// accepted, rejected, duplicate, conflict, malformed, refused (role, queue, limits).
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// The rejection's reason code (`LIMIT_EXCEEDED`, ...): a closed set, so the label's
    /// values are bounded.
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub status: u16,
}

/// The outcomes of a parsed command (`ledger_commands_total{outcome}`); a body that does not
/// parse is counted as kind `unknown`, outcome `malformed`.
pub const OUTCOMES: [&str; 5] = ["accepted", "rejected", "duplicate", "conflict", "refused"];

/// Every metric, registered once.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub commands: Family<CommandLabels, Counter>,
    pub rejections: Family<ReasonLabels, Counter>,
    pub requests: Family<RequestLabels, Counter>,
    pub batch_commands: Histogram,
    pub write_seconds: Histogram,
    pub commit_seconds: Histogram,
    pub queue_commands: Gauge<i64, AtomicI64>,
    pub head_seq: Gauge<i64, AtomicI64>,
    pub failed_batches: Counter,
    /// 1 while this server is the writer in charge; 0 as a standby, or once it lost its lease
    /// and steps down.
    pub writer: Gauge<i64, AtomicI64>,
    /// 1 while this server serves reads as a standby (cluster mode, without the lease).
    pub standby: Gauge<i64, AtomicI64>,
    /// Requests refused because another writer fenced this one (PostgreSQL backend).
    pub fenced: Counter,
    /// The last hour by minute, for `GET /v1/stats/recent`.
    pub history: History,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let commands = Family::<CommandLabels, Counter>::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let rejections = Family::<ReasonLabels, Counter>::default();
        let batch_commands = Histogram::new(exponential_buckets(1.0, 2.0, 14));
        let write_seconds = Histogram::new(exponential_buckets(0.000_125, 2.0, 16));
        let commit_seconds = Histogram::new(crate::history::latency_bounds());
        let queue_commands = Gauge::<i64, AtomicI64>::default();
        let head_seq = Gauge::<i64, AtomicI64>::default();
        let failed_batches = Counter::default();
        let writer = Gauge::<i64, AtomicI64>::default();
        let standby = Gauge::<i64, AtomicI64>::default();
        let fenced = Counter::default();
        // Every series a dashboard or an alert may read exists from the start at 0, so a
        // restart does not make series vanish (and `rate`/`increase` see the first event).
        for kind in CommandBody::KINDS {
            for outcome in OUTCOMES {
                drop(commands.get_or_create(&CommandLabels { kind: (*kind).to_owned(), outcome: outcome.to_owned() }));
            }
        }
        drop(commands.get_or_create(&CommandLabels { kind: "unknown".to_owned(), outcome: "malformed".to_owned() }));
        for reason in RejectReason::CODES {
            drop(rejections.get_or_create(&ReasonLabels { reason: (*reason).to_owned() }));
        }
        registry.register("ledger_commands", "Commands answered, by type and outcome", commands.clone());
        registry.register("ledger_rejections", "Commands rejected, by reason code", rejections.clone());
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
        registry.register(
            "ledger_writer",
            "1 while this server is the writer in charge; 0 as a standby, or once it lost its writer lease and steps down",
            writer.clone(),
        );
        registry.register(
            "ledger_standby",
            "1 while this server serves reads as a standby (cluster mode, not holding the writer lease)",
            standby.clone(),
        );
        registry.register(
            "ledger_fenced",
            "Commands refused because another writer fenced this one; nothing was recorded",
            fenced.clone(),
        );
        Metrics {
            registry,
            commands,
            rejections,
            requests,
            batch_commands,
            write_seconds,
            commit_seconds,
            queue_commands,
            head_seq,
            failed_batches,
            writer,
            standby,
            fenced,
            history: History::new(),
        }
    }

    pub fn count(&self, kind: &str, outcome: &str) {
        self.commands.get_or_create(&CommandLabels { kind: kind.to_owned(), outcome: outcome.to_owned() }).inc();
    }

    /// One rejection with reason code `reason`.
    pub fn reject(&self, reason: &str) {
        self.rejections.get_or_create(&ReasonLabels { reason: reason.to_owned() }).inc();
        self.history.reject(this_minute(), reason);
    }

    /// One submission's time from the writer's queue to its durable answer.
    pub fn committed(&self, seconds: f64) {
        self.commit_seconds.observe(seconds);
        self.history.latency(this_minute(), seconds);
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

/// The OpenMetrics exposition in the Prometheus text format 0.0.4: a counter's `# HELP` and
/// `# TYPE` lines name its samples (`ledger_commands_total`, where OpenMetrics names the family
/// `ledger_commands`), and no `# EOF`.
pub fn to_text_format(openmetrics: &str) -> String {
    let mut counters: Vec<&str> = Vec::new();
    for line in openmetrics.lines() {
        if let Some(name) = line.strip_prefix("# TYPE ").and_then(|rest| rest.strip_suffix(" counter")) {
            counters.push(name);
        }
    }
    let mut text = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters.contains(&name).then(|| format!("{prefix}{name}_total {tail}"))
        });
        text.push_str(renamed.as_deref().unwrap_or(line));
        text.push('\n');
    }
    text
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
        self.metrics.history.batch(this_minute(), batch.commands);
        self.metrics.write_seconds.observe(batch.write.as_secs_f64());
        self.metrics.head_seq.set(i64::try_from(batch.head_seq).unwrap_or(i64::MAX));
        self.head.send_if_modified(|seq| {
            let moved = *seq != batch.head_seq;
            *seq = batch.head_seq;
            moved
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format_names_counters_by_their_samples_and_has_no_eof() {
        let metrics = Metrics::new();
        metrics.count("payment", "accepted");
        let text = to_text_format(&metrics.encode());
        assert!(text.contains("# HELP ledger_commands_total Commands answered"), "{text}");
        assert!(text.contains("# TYPE ledger_commands_total counter"), "{text}");
        assert!(text.contains("ledger_commands_total{kind=\"payment\",outcome=\"accepted\"} 1"), "{text}");
        assert!(text.contains("# TYPE ledger_head_seq gauge"), "{text}");
        assert!(text.contains("# TYPE ledger_commit_seconds histogram"), "{text}");
        assert!(!text.contains("# EOF"), "{text}");
    }
}
