//! CPU time of this process's threads over a phase, by thread name (Linux `/proc/self/task`):
//! where the cores went during the benchmark's transfers (the writer, the committer, the
//! projector, RocksDB's flush and compaction threads, the client), a measure that holds steadier
//! than throughput on a loaded machine. Elsewhere (no `/proc`) it is empty.

use std::collections::{BTreeMap, HashMap};

/// Each live thread's CPU time so far: thread id → (name, nanoseconds on a CPU).
pub(crate) struct Sample(HashMap<String, (String, u64)>);

pub(crate) fn sample() -> Sample {
    let mut threads = HashMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Sample(threads) };
    for task in tasks.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default().trim().to_owned();
        // `schedstat`: nanoseconds on a CPU, nanoseconds waiting for one, time slices.
        let on_cpu = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|line| line.split_whitespace().next()?.parse::<u64>().ok());
        if let Some(on_cpu) = on_cpu {
            threads.insert(task.file_name().to_string_lossy().into_owned(), (name, on_cpu));
        }
    }
    Sample(threads)
}

/// CPU seconds from `before` to `after` by thread name, the busiest first (a thread started
/// in between counts from zero; one that ended in between is not seen).
pub(crate) fn since(before: &Sample, after: &Sample) -> Vec<(String, f64)> {
    let mut by_name: BTreeMap<&str, u64> = BTreeMap::new();
    for (tid, (name, nanos)) in &after.0 {
        let earlier = before.0.get(tid).map_or(0, |(_, nanos)| *nanos);
        *by_name.entry(name).or_default() += nanos.saturating_sub(earlier);
    }
    let mut seconds: Vec<(String, f64)> =
        by_name.into_iter().map(|(name, nanos)| (name.to_owned(), nanos as f64 / 1e9)).collect();
    seconds.sort_by(|a, b| b.1.total_cmp(&a.1));
    seconds
}
