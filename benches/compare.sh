#!/usr/bin/env bash
# Side by side, on this machine, in one run: TigerBeetle's own `benchmark` and `ledger-cli
# benchmark` on the same workload (uniformly random transfers between A accounts, one client,
# every batch durable before it is acknowledged), interleaved, REPS runs of each per row.
# Prints issue 29's table in Markdown: per row (batch, transfers, accounts) each run's
# transfers/s, the ratio of the means, batch p99 and p100 (ms, each system's own); then the
# disk's own fsync latency over FSYNC_FLOOR_SECONDS (30; 0: not measured), the floor under both
# systems' p100 (benches/fsync-floor.py).
#
#   benches/compare.sh TIGERBEETLE_BIN [REPS]
#   benches/compare.sh ../shared/tools/tigerbeetle 2
#
# ROWS (environment) sets the rows, each BATCH:TRANSFERS:ACCOUNTS; the default is issue 29's
# table: 8189:1000000:10000 1000:1000000:10000 100:1000000:10000 8189:10000000:10000
# 1000:10000000:10000 8189:1000000:2000000 (hours on a quiet 2-core machine). A short check:
#   ROWS="8189:20000:1000 100:20000:1000" benches/compare.sh ../shared/tools/tigerbeetle 1
# Each TigerBeetle run uses a fresh temporary directory (it writes a ~1 GiB data file and
# allocates ~3 GiB), each of ours a fresh ledger in a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
tigerbeetle=$(realpath "${1:?usage: benches/compare.sh TIGERBEETLE_BIN [REPS]}")
reps=${2:-2}
if [ $# -gt 2 ]; then
  echo "benches/compare.sh takes TIGERBEETLE_BIN [REPS]; rows (transfer counts too) are set by ROWS=\"BATCH:TRANSFERS:ACCOUNTS ...\"" >&2
  exit 2
fi
rows=${ROWS:-"8189:1000000:10000 1000:1000000:10000 100:1000000:10000 8189:10000000:10000 1000:10000000:10000 8189:1000000:2000000"}
for row in $rows; do
  [[ $row =~ ^[1-9][0-9]*:[1-9][0-9]*:[1-9][0-9]*$ ]] || { echo "ROWS: $row is not BATCH:TRANSFERS:ACCOUNTS" >&2; exit 2; }
done

bash scripts/setup
cargo build --locked -q -p ledger-cli
ours="${CARGO_TARGET_DIR:-target}/debug/ledger-cli"
results=$(mktemp)
trap 'rm -f "$results"' EXIT

for row in $rows; do
  IFS=: read -r batch count accounts <<< "$row"
  for rep in $(seq 1 "$reps"); do
    dir=$(mktemp -d)
    (cd "$dir" && "$tigerbeetle" benchmark --transfer-count="$count" --transfer-batch-count="$batch" \
      --account-count="$accounts" 2>&1) | python3 -c '
import re, sys, json
text = sys.stdin.read()
# The first figures are the transfers'"'"' (the query figures follow).
rate = re.search(r"load accepted = (\d+) tx/s", text)
p99 = re.search(r"batch latency p99\s*=\s*(\d+) ms", text)
p100 = re.search(r"batch latency p100\s*=\s*(\d+) ms", text)
if not (rate and p99):
    sys.exit("tigerbeetle printed no figures:\n" + text[-2000:])
print(json.dumps({"system": "tigerbeetle", "row": sys.argv[1], "rate": int(rate.group(1)),
                  "p99": float(p99.group(1)), "p100": float(p100.group(1)) if p100 else None}))
' "$row" >> "$results"
    rm -rf "$dir"
    "$ours" --json benchmark --transfers "$count" --batch "$batch" --accounts "$accounts" | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
print(json.dumps({"system": "ours", "row": sys.argv[1], "rate": d["transfers_per_second"],
                  "p99": d["batch_latency_ms_p99"], "p100": d["batch_latency_ms_p100"]}))
' "$row" >> "$results"
    echo "done: batch $batch, $count transfers, $accounts accounts, run $rep" >&2
  done
done

python3 - "$results" $rows <<'PY'
import json, sys
results = [json.loads(line) for line in open(sys.argv[1])]
def size(n):
    for unit, scale in (("M", 1_000_000), ("k", 1_000)):
        if n >= scale:
            return f"{n / scale:g}{unit}"
    return str(n)
rate = lambda xs: ", ".join(f"{x / 1000:.0f}k" if x >= 1000 else f"{x:.0f}" for x in xs)
def ms(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "–"
    text = lambda x: f"{x:.0f}" if x >= 10 else f"{x:.1f}"
    low, high = min(xs), max(xs)
    return text(low) if text(low) == text(high) else f"{text(low)}–{text(high)}"
print("| batch, transfers, accounts | TigerBeetle tx/s | ours tx/s | ratio (means) | batch p99 ms TB / ours | batch p100 ms TB / ours |")
print("|---|---|---|---|---|---|")
for row in sys.argv[2:]:
    batch, count, accounts = (int(x) for x in row.split(":"))
    tb = [r for r in results if r["system"] == "tigerbeetle" and r["row"] == row]
    us = [r for r in results if r["system"] == "ours" and r["row"] == row]
    mean = lambda rs: sum(r["rate"] for r in rs) / len(rs)
    print(f"| {batch:,}, {size(count)}, {size(accounts)} | {rate([r['rate'] for r in tb])} | {rate([r['rate'] for r in us])} "
          f"| {mean(us) / mean(tb):.2f} | {ms([r['p99'] for r in tb])} / {ms([r['p99'] for r in us])} "
          f"| {ms([r['p100'] for r in tb])} / {ms([r['p100'] for r in us])} |")
PY

# The disk's own floor under both systems' p100 (each acknowledges a batch once it is durable):
# a small write's fdatasync, timed over FSYNC_FLOOR_SECONDS (30; 0 skips it), where the runs wrote.
floor_seconds=${FSYNC_FLOOR_SECONDS:-30}
if [ "$floor_seconds" != 0 ]; then
  echo
  echo "The disk's own fsync latency (benches/fsync-floor.py):"
  python3 benches/fsync-floor.py "${TMPDIR:-/tmp}" "$floor_seconds"
fi
