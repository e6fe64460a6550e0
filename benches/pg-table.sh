#!/bin/bash
# docs/CLUSTER.md "Throughput" in one run: PostgreSQL with a synchronous standby (benches/pg-sync.sh)
# at batches of 8,189 / 1,000 / 100 (2 in flight, a fresh database each), then the embedded engine
# at 8,189; each benchmark stopped after its transfer phase. Env: BIN (ledger-cli,
# $CARGO_TARGET_DIR/debug/ledger-cli), PGTABLE_DIR (/var/tmp/pgt, removed at the end).
set -u
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/debug/ledger-cli}
D=${PGTABLE_DIR:-/var/tmp/pgt}; rm -rf "$D"; mkdir -p "$D"
cd "$(dirname "$0")/.."
URL=$(bash benches/pg-sync.sh start $D/pg | tail -1)
port=$(echo $URL | sed 's#.*:\([0-9]*\)/bench#\1#')
run() { echo "== $* ($(date +%T), load $(cut -d' ' -f1-3 /proc/loadavg))"; log=$D/run.log; timeout 900 $BIN benchmark "$@" > $log 2>&1 & p=$!
  while kill -0 $p 2>/dev/null; do grep -q "writer time" $log && { sleep 0.5; kill $p; break; }; sleep 0.5; done; wait $p 2>/dev/null; sed -n 2,4p $log; echo "   (load after $(cut -d' ' -f1-3 /proc/loadavg))"; }
run --accounts 10000 --transfers 1000000 --batch 8189 --in-flight 2 --keep $URL
createdb -h 127.0.0.1 -p $port -U ledger b1000
run --accounts 10000 --transfers 1000000 --batch 1000 --in-flight 2 --keep ${URL%/bench}/b1000
createdb -h 127.0.0.1 -p $port -U ledger b100
run --accounts 10000 --transfers 100000 --batch 100 --in-flight 2 --keep ${URL%/bench}/b100
run --accounts 10000 --transfers 1000000 --batch 8189 --in-flight 2 --db $D/emb
bash benches/pg-sync.sh stop $D/pg >/dev/null 2>&1
rm -rf $D
echo done
