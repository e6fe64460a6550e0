#!/usr/bin/env bash
# Side by side, on this machine, in one run: TigerBeetle's own `benchmark` and `ledger-cli
# benchmark` on the same workload (10,000 accounts, uniformly random transfers, one client, every
# batch durable before it is acknowledged), interleaved, REPS runs of each per configuration.
# Prints one Markdown table: each run's transfers/s, batch p50/p99, and the ratio of the means.
#
#   benches/compare.sh TIGERBEETLE_BIN [REPS] [TRANSFERS...]
#   benches/compare.sh ../shared/tools/tigerbeetle 2 1000000 10000000
#
# BATCHES (environment, default "8189 1000 100") sets the batch sizes. Each TigerBeetle run
# uses a fresh temporary directory (it writes a ~1 GiB data file and allocates ~3 GiB).
set -euo pipefail
cd "$(dirname "$0")/.."
tigerbeetle=$(realpath "${1:?usage: benches/compare.sh TIGERBEETLE_BIN [REPS] [TRANSFERS...]}")
reps=${2:-2}
shift $(( $# >= 2 ? 2 : 1 ))
transfers=("${@:-1000000}")
[ ${#transfers[@]} -gt 0 ] || transfers=(1000000)
batches=${BATCHES:-"8189 1000 100"}

bash scripts/setup
cargo build --locked -q -p ledger-cli
ours="${CARGO_TARGET_DIR:-target}/debug/ledger-cli"
results=$(mktemp)
trap 'rm -f "$results"' EXIT

for count in "${transfers[@]}"; do
  for batch in $batches; do
    for rep in $(seq 1 "$reps"); do
      dir=$(mktemp -d)
      (cd "$dir" && "$tigerbeetle" benchmark --transfer-count="$count" --transfer-batch-count="$batch" \
        --account-count=10000 2>&1) | python3 -c '
import re, sys, json
text = sys.stdin.read()
rate = re.search(r"load accepted = (\d+) tx/s", text)
p50 = re.search(r"batch latency p50\s*=\s*(\d+) ms", text)
p99 = re.search(r"batch latency p99\s*=\s*(\d+) ms", text)
if not (rate and p50 and p99):
    sys.exit("tigerbeetle printed no figures:\n" + text[-2000:])
print(json.dumps({"system": "tigerbeetle", "transfers": int(sys.argv[1]), "batch": int(sys.argv[2]),
                  "rate": int(rate.group(1)), "p50": float(p50.group(1)), "p99": float(p99.group(1))}))
' "$count" "$batch" >> "$results"
      rm -rf "$dir"
      "$ours" benchmark --transfers "$count" --batch "$batch" --accounts 10000 --json | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
print(json.dumps({"system": "ours", "transfers": int(sys.argv[1]), "batch": int(sys.argv[2]),
                  "rate": d["transfers_per_second"], "p50": d["batch_latency_ms_p50"], "p99": d["batch_latency_ms_p99"]}))
' "$count" "$batch" >> "$results"
      echo "done: $count transfers, batch $batch, run $rep" >&2
    done
  done
done

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
configs = []
for row in rows:
    key = (row["batch"], row["transfers"])
    if key not in configs:
        configs.append(key)
fmt_rate = lambda xs: ", ".join(f"{x / 1000:.0f}k" for x in xs)
fmt_ms = lambda xs: "–".join(f"{x:.0f}" if x >= 10 else f"{x:.1f}" for x in (min(xs), max(xs)))
print("| batch, transfers | TigerBeetle tx/s | ledger-cli tx/s | ratio (means) | p50 ms TB / ours | p99 ms TB / ours |")
print("|---|---|---|---|---|---|")
for batch, count in configs:
    tb = [r for r in rows if r["system"] == "tigerbeetle" and (r["batch"], r["transfers"]) == (batch, count)]
    us = [r for r in rows if r["system"] == "ours" and (r["batch"], r["transfers"]) == (batch, count)]
    mean = lambda rs: sum(r["rate"] for r in rs) / len(rs)
    print(f"| {batch:,}, {count / 1e6:g}M | {fmt_rate([r['rate'] for r in tb])} | {fmt_rate([r['rate'] for r in us])} "
          f"| {mean(us) / mean(tb):.2f} | {fmt_ms([r['p50'] for r in tb])} / {fmt_ms([r['p50'] for r in us])} "
          f"| {fmt_ms([r['p99'] for r in tb])} / {fmt_ms([r['p99'] for r in us])} |")
PY
