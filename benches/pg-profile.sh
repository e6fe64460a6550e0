#!/bin/bash
# Profile one pipelined benchmark on PostgreSQL with a synchronous standby (docs/CLUSTER.md,
# "Throughput"): `perf record -a -g` over 15 s of the transfer phase, and pg_stat_activity's wait
# events sampled every 100 ms. Env: T (transfers, 600000), B (batch, 8189), BIN (ledger-cli,
# $CARGO_TARGET_DIR/debug/ledger-cli), PGPROF_DIR (/var/tmp/pgp: perf.data, waits.txt, pids.txt,
# bench.log in its out/). Needs perf and PostgreSQL (benches/pg-sync.sh).
set -u
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/debug/ledger-cli}
D=${PGPROF_DIR:-/var/tmp/pgp}; rm -rf "$D"; mkdir -p "$D/out"
cd "$(dirname "$0")/.."
URL=$(bash benches/pg-sync.sh start $D/pg | tail -1)
echo "url $URL"
port=$(echo $URL | sed 's#.*:\([0-9]*\)/bench#\1#')
PSQL="psql -h 127.0.0.1 -p $port -U ledger -d bench -Atc"
$BIN benchmark --accounts 10000 --transfers ${T:-600000} --batch ${B:-8189} --in-flight 2 --keep $URL > $D/out/bench.log 2>&1 &
bp=$!
for i in $(seq 600); do n=$($PSQL "select coalesce(max(seq),0) from ledger_log" 2>/dev/null || echo 0); [ "${n:-0}" -gt 60000 ] && break; sleep 0.5; done
echo "transfer phase at seq $n $(date +%T)"
ps -u postgres -o pid=,args= > $D/out/pids.txt; $PSQL "select pid, application_name, backend_type from pg_stat_activity" >> $D/out/pids.txt
psql -h 127.0.0.1 -p $((port)) -U ledger -d postgres -Atc "select pid, backend_type from pg_stat_activity" >> $D/out/pids.txt
( for i in $(seq 150); do $PSQL "select application_name, backend_type, coalesce(wait_event_type,'CPU'), coalesce(wait_event,'-'), state from pg_stat_activity where pid <> pg_backend_pid()" ; sleep 0.1; done ) > $D/out/waits.txt &
wp=$!
perf record -a -g -F 499 -o $D/out/perf.data -- sleep 15 2>/dev/null
wait $wp
while kill -0 $bp 2>/dev/null; do grep -q "writer time" $D/out/bench.log && { sleep 0.5; kill $bp; break; }; sleep 0.5; done; wait $bp 2>/dev/null
cat $D/out/bench.log | head -8
true
bash benches/pg-sync.sh stop $D/pg >/dev/null 2>&1
echo "profile in $D/out (perf report -i $D/out/perf.data --sort comm,pid)"
