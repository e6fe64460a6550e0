//! The last hour in memory, for `GET /v1/stats/recent` and the console's overview charts: a
//! ring of 60 one-minute buckets (memory fixed), each with commands committed, batches,
//! rejections by reason and commit latencies in the buckets of `ledger_commit_seconds`.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use ledger_core::RejectReason;

/// Minutes kept (and the most `?minutes=` may ask for).
pub const MINUTES: usize = 60;

/// The upper bounds of `ledger_commit_seconds`' buckets (the last bucket, +Inf, is implied).
pub fn latency_bounds() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(0.000_125, 2.0, LATENCY_BOUNDS)
}

/// Finite latency bounds; one more bucket holds what is above the last.
pub const LATENCY_BOUNDS: u16 = 16;
const LATENCY_BUCKETS: usize = LATENCY_BOUNDS as usize + 1;

/// One minute's counts.
#[derive(Clone, Debug, PartialEq)]
struct Minute {
    /// Minutes since the Unix epoch: the slot holds this minute (a stale slot is a zero minute).
    minute: u64,
    commands: u64,
    batches: u64,
    /// By index in [`RejectReason::CODES`].
    rejections: [u64; RejectReason::CODES.len()],
    latency: [u64; LATENCY_BUCKETS],
}

impl Default for Minute {
    fn default() -> Minute {
        Minute {
            minute: 0,
            commands: 0,
            batches: 0,
            rejections: [0; RejectReason::CODES.len()],
            latency: [0; LATENCY_BUCKETS],
        }
    }
}

/// One minute as `GET /v1/stats/recent` shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct MinuteStats {
    /// Minutes since the Unix epoch.
    pub minute: u64,
    pub commands: u64,
    pub batches: u64,
    /// The upper bound of the latency bucket holding the median; none without commits.
    pub p50_seconds: Option<f64>,
    pub p99_seconds: Option<f64>,
    /// Reason codes with at least one rejection.
    pub rejections: Vec<(&'static str, u64)>,
}

/// The ring. Told by the writer's observer (batches) and the submit path (latencies,
/// rejections); read by `GET /v1/stats/recent`.
#[derive(Debug)]
pub struct History {
    ring: Mutex<[Minute; MINUTES]>,
    bounds: [f64; LATENCY_BOUNDS as usize],
}

impl Default for History {
    fn default() -> History {
        History::new()
    }
}

/// Minutes since the Unix epoch, now.
pub fn this_minute() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs() / 60)
}

impl History {
    pub fn new() -> History {
        let mut bounds = [0.0; LATENCY_BOUNDS as usize];
        for (slot, bound) in bounds.iter_mut().zip(latency_bounds()) {
            *slot = bound;
        }
        History { ring: Mutex::new(std::array::from_fn(|_| Minute::default())), bounds }
    }

    /// Changes minute `minute`'s slot, emptied first when it held an older minute.
    fn at(&self, minute: u64, change: impl FnOnce(&mut Minute)) {
        let mut ring = self.ring.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let slot = &mut ring[(minute % MINUTES as u64) as usize];
        if slot.minute != minute {
            *slot = Minute { minute, ..Minute::default() };
        }
        change(slot);
    }

    /// A committed batch of `commands` commands.
    pub fn batch(&self, minute: u64, commands: u64) {
        self.at(minute, |slot| {
            slot.batches += 1;
            slot.commands += commands;
        });
    }

    /// One submission's time from the writer's queue to its durable answer.
    pub fn latency(&self, minute: u64, seconds: f64) {
        let bucket = self.bounds.iter().position(|bound| seconds <= *bound).unwrap_or(LATENCY_BOUNDS as usize);
        self.at(minute, |slot| slot.latency[bucket] += 1);
    }

    /// One rejection with reason code `reason` (a code outside the closed set is not kept).
    pub fn reject(&self, minute: u64, reason: &str) {
        if let Some(index) = RejectReason::CODES.iter().position(|code| *code == reason) {
            self.at(minute, |slot| slot.rejections[index] += 1);
        }
    }

    /// The `count` minutes up to and including `now`, oldest first; a minute with nothing
    /// recorded is all zeros.
    pub fn recent(&self, now: u64, count: usize) -> Vec<MinuteStats> {
        let ring = self.ring.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let count = count.clamp(1, MINUTES) as u64;
        (now.saturating_sub(count - 1)..=now)
            .map(|minute| {
                let slot = &ring[(minute % MINUTES as u64) as usize];
                let empty = Minute { minute, ..Minute::default() };
                let slot = if slot.minute == minute { slot } else { &empty };
                MinuteStats {
                    minute,
                    commands: slot.commands,
                    batches: slot.batches,
                    p50_seconds: self.quantile(&slot.latency, 0.5),
                    p99_seconds: self.quantile(&slot.latency, 0.99),
                    rejections: RejectReason::CODES
                        .iter()
                        .zip(slot.rejections)
                        .filter(|(_, n)| *n > 0)
                        .map(|(code, n)| (*code, n))
                        .collect(),
                }
            })
            .collect()
    }

    /// The upper bound of the bucket holding quantile `q` (the last finite bound for what lies
    /// above it); none without observations.
    fn quantile(&self, buckets: &[u64; LATENCY_BUCKETS], q: f64) -> Option<f64> {
        let total: u64 = buckets.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = (q * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (index, count) in buckets.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return self.bounds.get(index).or(self.bounds.last()).copied();
            }
        }
        self.bounds.last().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_are_kept_an_hour_oldest_first_with_quantiles_and_reasons() {
        let history = History::new();
        let now = 29_000_000;
        // given: a batch an hour ago (overwritten by its slot's new minute), batches now.
        history.batch(now - 60, 7);
        history.batch(now - 2, 3);
        history.batch(now, 5);
        history.batch(now, 4);
        for _ in 0..98 {
            history.latency(now, 0.000_1);
        }
        history.latency(now, 0.002);
        history.latency(now, 100.0);
        history.reject(now, "LIMIT_EXCEEDED");
        history.reject(now, "NO_SUCH_CODE");
        // when / then
        let recent = history.recent(now, 60);
        assert_eq!(recent.len(), 60);
        assert_eq!(recent.iter().map(|m| m.minute).collect::<Vec<_>>(), (now - 59..=now).collect::<Vec<_>>());
        assert_eq!(recent.iter().map(|m| m.commands).sum::<u64>(), 12, "the hour-old batch is gone");
        let last = &recent[59];
        assert_eq!((last.commands, last.batches), (9, 2));
        assert_eq!((last.p50_seconds, last.p99_seconds), (Some(0.000_125), Some(0.002)));
        assert_eq!(last.rejections, vec![("LIMIT_EXCEEDED", 1)]);
        assert_eq!((recent[57].commands, recent[57].p50_seconds), (3, None));
        assert_eq!(history.recent(now, 2).iter().map(|m| m.commands).collect::<Vec<_>>(), vec![0, 9]);
    }
}
