#!/usr/bin/env bash
# Writer takeover time in a PostgreSQL cluster at a bank's size (docs/CLUSTER.md, "Takeover at
# a bank's size"):
#   benches/takeover.sh ACCOUNTS...        e.g. benches/takeover.sh 10000 1000000
# On the loopback cluster of scripts/cluster (3 etcd with TLS, 3 PostgreSQL under Patroni in
# strict synchronous mode), for each ACCOUNTS:
#   1. a database of its own, loaded by `ledger-cli init` and `ledger-cli import` (timed): A Class
#      I accounts, one customer each, the first $TAKEOVER_FUNDED of them funded (the payers);
#   2. two ledger-servers on it sharing a writer lease of their own (TTL $TAKEOVER_TTL s), each
#      started again when it exits (as systemd's Restart= would);
#   3. $TAKEOVER_RUNS times: a 4,000-transfer batch POSTed to the writer, the writer SIGKILLed
#      100 ms later, and timed from the kill: the first server answering /readyz?role=writer 200,
#      and the batch (retried with the same ids to both servers every 50 ms) answered 200, each
#      command accepted or a duplicate; the new writer's own log gives when it took the lease and
#      how long it took to open the ledger ("took the writer lease" → "serving as the writer").
# Prints one table row per takeover, the load time, the database's size and the load average.
# Environment:
#   TAKEOVER_RUNS (3), TAKEOVER_TTL (3), TAKEOVER_FUNDED (10000), TAKEOVER_MIN_FREE_GB (25: while
#   loading, stop and drop the database when the disk of the cluster's directory has fewer GB
#   (10^9 bytes) free),
#   TAKEOVER_SAVE_DISK=1 (before loading: PostgreSQL keeps less WAL, max_wal_size 256MB set
#   through Patroni, and the asynchronous replica's Patroni is stopped, so that the ledger is
#   stored twice, on the primary and its synchronous standby, instead of three times),
#   TAKEOVER_KEEP=1 (keep the databases, the servers' logs and the cluster),
#   LEDGER_CLUSTER_DIR (default /var/tmp/tiered-ledger-takeover), CARGO_TARGET_DIR and
#   LEDGER_CLUSTER_NO_BUILD=1 (use the binaries already in $CARGO_TARGET_DIR/debug: ledger-cli,
#   ledger-server, examples/cluster) as for scripts/cluster.
# A cluster already up in LEDGER_CLUSTER_DIR is used and left up; one this script started is
# taken down at the end, unless something failed: then everything is kept and the logs' paths
# are printed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || { sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
export LEDGER_CLUSTER_DIR=${LEDGER_CLUSTER_DIR:-/var/tmp/tiered-ledger-takeover}
state=$LEDGER_CLUSTER_DIR
bin=${CARGO_TARGET_DIR:-$root/target}/debug
runs=${TAKEOVER_RUNS:-3}
ttl=${TAKEOVER_TTL:-3}
funded=${TAKEOVER_FUNDED:-10000}
keep=${TAKEOVER_KEEP:-}
save_disk=${TAKEOVER_SAVE_DISK:-}
min_free_gb=${TAKEOVER_MIN_FREE_GB:-25}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { echo "$EPOCHREALTIME"; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }

started_cluster=
if ! "$root/scripts/cluster" status >/dev/null 2>&1; then
  "$root/scripts/cluster" up >/dev/null
  started_cluster=1
fi
info=$state/info
pg_url=$(sed -n 's/^PostgreSQL: //p' "$info")
token=$(sed -n 's/^token (back-office): //p' "$info")
failed=1
servers_dir=

# On failure everything stays, and where to look is said; on success the servers stop, and
# the databases and the cluster this script started go unless TAKEOVER_KEEP=1.
finish() {
  if [ -n "$servers_dir" ]; then stop_servers; fi
  rm -f "$state"/takeover-*/accounts.jsonl
  if [ "$failed" = 1 ]; then
    echo "takeover: FAILED; kept: the servers' logs in $state/takeover-*/, the cluster's in $state/cluster" \
      "(etcdN.log, Patroni pgN.log, PostgreSQL pgN-log/); scripts/cluster down (LEDGER_CLUSTER_DIR=$state) ends it" >&2
  elif [ -n "$started_cluster" ] && [ -z "$keep" ]; then
    "$root/scripts/cluster" down >/dev/null
  fi
}
trap finish EXIT

# TAKEOVER_SAVE_DISK: less WAL on every node, and the asynchronous replica (if any) stopped.
save_disk() {
  local patroni replica
  patroni=$(sed -n 's#^Patroni [^:]*: \(http://[^ ]*\)/cluster$#\1#p' "$info" | head -1)
  curl -sf -XPATCH "$patroni/config" \
    -d '{"postgresql":{"parameters":{"max_wal_size":"256MB","min_wal_size":"64MB","wal_keep_size":"64MB"}}}' >/dev/null
  replica=$(curl -sf "$patroni/cluster" | jq -r '.members[] | select(.role == "replica") | .name' | head -1)
  if [ -n "$replica" ]; then
    # Its Patroni (the one process whose command line names its config) stops its PostgreSQL.
    for pid in $(pgrep -f -- "patroni $state/cluster/$replica.yml" || true); do
      kill -TERM "$pid"
    done
    echo "takeover: stopped the asynchronous replica $replica (TAKEOVER_SAVE_DISK); WAL kept: max_wal_size 256MB"
  fi
}

psql_leader() { "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/psql" "$pg_url" -XAtq -c "$1"; }

# Two servers on database $1, each in a loop that starts it again when it exits.
start_servers() {
  local db_url=$1 config=$servers_dir/server.toml
  sed "s#/ledger?target_session_attrs=read-only#/$2?target_session_attrs=read-only#" "$state/server.toml" >"$config"
  for name in a b; do
    local port
    port=$(free_port)
    echo "$port" >"$servers_dir/$name.port"
    (
      while [ ! -e "$servers_dir/stop" ]; do
        "$bin/ledger-server" serve --config "$config" --db "$db_url" --listen "127.0.0.1:$port" \
          --lease-key "/tiered-ledger/takeover-$2" --lease-name "takeover-$name" --lease-ttl "$ttl" \
          --log-json >>"$servers_dir/$name.log" 2>&1 </dev/null &
        echo $! >"$servers_dir/$name.pid"
        wait $! || true
        sleep 0.2
      done
    ) 2>>"$servers_dir/supervisor.log" &
    echo $! >"$servers_dir/$name.supervisor"
  done
}

# Stops both loops and their servers (SIGTERM: each closes the ledger; SIGKILL after 60 s).
stop_servers() {
  touch "$servers_dir/stop"
  local name supervisor deadline=$((SECONDS + 60)) signal
  for name in a b; do
    [ -f "$servers_dir/$name.supervisor" ] || continue
    supervisor=$(cat "$servers_dir/$name.supervisor")
    # A loop may have started its server again just before the stop file: signal until it ends.
    while kill -0 "$supervisor" 2>/dev/null; do
      signal=TERM
      [ $SECONDS -lt $deadline ] || signal=KILL
      kill -"$signal" "$(cat "$servers_dir/$name.pid")" 2>/dev/null || true
      sleep 0.2
    done
  done
  servers_dir=
}

# HTTP status of GET $1 (000: no answer).
status_of() { curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1" || true; }

# The name (a or b) of the server answering /readyz?role=writer 200, waiting up to $1 s.
writer_within() {
  local deadline=$((SECONDS + $1)) name
  while [ $SECONDS -lt "$deadline" ]; do
    for name in a b; do
      if [ "$(status_of "http://127.0.0.1:$(cat "$servers_dir/$name.port")/readyz?role=writer")" = 200 ]; then
        echo "$name"
        return 0
      fi
    done
    sleep 0.1
  done
  return 1
}

# Waits up to $1 s until both servers answer /readyz 200 (the writer, and a standby serving reads).
both_ready_within() {
  local deadline=$((SECONDS + $1))
  while [ $SECONDS -lt "$deadline" ]; do
    if [ "$(status_of "http://127.0.0.1:$(cat "$servers_dir/a.port")/readyz")" = 200 ] &&
      [ "$(status_of "http://127.0.0.1:$(cat "$servers_dir/b.port")/readyz")" = 200 ]; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}

# The load, as JSON Lines for `ledger-cli import`: Class I accounts 1..$1 (customer n holds
# account n), and a deposit of 10,000,000 into each of accounts 1..$2 (the payers below).
make_accounts() {
  python3 - "$1" "$2" <<'PY'
import sys
accounts, funded = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout
for n in range(1, accounts + 1):
    out.write(f'{{"type":"open_account","id":"6f70656e-0000-4000-8000-{n:012x}","account":{n},"customer":{n},"class":"I","verified_in_person":true}}\n')
for n in range(1, funded + 1):
    out.write(f'{{"type":"cash_deposit","id":"66756e64-0000-4000-8000-{n:012x}","account":{n},"amount":"10000000.00"}}\n')
PY
}

# A batch of 4,000 transfers from random funded accounts (1..$3) to random accounts of 1..$1,
# ids unique to run $2.
make_batch() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, random, sys
accounts, run, funded = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(run)
batch = []
for i in range(4000):
    a = rng.randint(1, funded)
    b = rng.randint(1, accounts - 1)
    b = b + 1 if b >= a else b
    batch.append({"type": "internal_transfer", "id": f"74616b65-{run:04x}-4000-8000-{i:012x}",
                  "from": a, "to": b, "amount": f"{rng.randint(1, 99)}.{rng.randint(0, 99):02d}"})
json.dump(batch, sys.stdout)
PY
}

# Every command of the answer ($1) accepted or a duplicate: prints "accepted duplicate".
check_answer() {
  python3 - "$1" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
counts = {}
for r in results:
    counts[r["status"]] = counts.get(r["status"], 0) + 1
bad = {k: v for k, v in counts.items() if k not in ("accepted", "duplicate")}
if len(results) != 4000 or bad:
    sys.exit(f"the retried batch: {len(results)} answers, {counts}")
print(counts.get("accepted", 0), counts.get("duplicate", 0))
PY
}

# From the servers' logs, the takeover after time $1 (epoch seconds): "NAME LEASE_S OPEN_S",
# seconds from $1 to the lease taken, and from the lease to serving as the writer.
takeover_from_logs() {
  python3 - "$1" "$servers_dir" <<'PY'
import datetime, json, sys
since, servers = float(sys.argv[1]), sys.argv[2]
for name in ("a", "b"):
    took = None
    for line in open(f"{servers}/{name}.log", errors="replace"):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        at = datetime.datetime.fromisoformat(entry.get("timestamp", "").replace("Z", "+00:00")).timestamp()
        message = entry.get("fields", {}).get("message", "")
        if at < since:
            continue
        if message.startswith("took the writer lease"):
            took = at
        elif message.startswith("serving as the writer") and took is not None:
            print(name, f"{took - since:.2f}", f"{at - took:.2f}")
            sys.exit(0)
print("? ? ?")
PY
}

echo "takeover: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
  "lease TTL $ttl s, $runs takeovers per size, cluster $state"
[ -z "$save_disk" ] || save_disk
rows=()
for accounts in "$@"; do
  db=takeover_$accounts
  db_url=${pg_url/\/ledger\?//$db?}
  servers_dir=$state/takeover-$accounts
  rm -rf "$servers_dir"
  mkdir -p "$servers_dir"
  psql_leader "DROP DATABASE IF EXISTS $db"
  psql_leader "CREATE DATABASE $db"
  echo "takeover: loading $accounts accounts ($funded of them funded) into $db (ledger-cli init, import)"
  load_started=$(now)
  "$bin/ledger-cli" --db "$db_url" init --policy pboc-2018 >"$servers_dir/load.out" 2>&1
  make_accounts "$accounts" "$funded" >"$servers_dir/accounts.jsonl"
  "$bin/ledger-cli" --db "$db_url" import "$servers_dir/accounts.jsonl" --batch 8000 >>"$servers_dir/load.out" 2>&1 &
  loader=$!
  while kill -0 "$loader" 2>/dev/null; do
    if [ "$(df --output=avail -B1000000 "$state" | tail -1)" -lt "$((min_free_gb * 1000))" ]; then
      kill -TERM "$loader"
      wait "$loader" || true
      psql_leader "DROP DATABASE $db"
      echo "takeover: less than $min_free_gb GB free on $state's disk while loading $accounts accounts: stopped, $db dropped" >&2
      exit 1
    fi
    sleep 1
  done
  wait "$loader"
  rm "$servers_dir/accounts.jsonl"
  load_seconds=$(elapsed "$load_started" "$(now)")
  size=$(psql_leader "SELECT pg_size_pretty(pg_database_size('$db'))")
  echo "takeover: loaded in $load_seconds s ($(grep -c . "$servers_dir/load.out") lines of output in $servers_dir/load.out);" \
    "database $size on each node; PostgreSQL data per node: $(du -sh "$state"/cluster/pg[123] 2>/dev/null | cut -f1 | tr '\n' ' ')"

  start_servers "$db_url" "$db"
  writer_within 120 >/dev/null || { echo "takeover: no writer after 120 s" >&2; exit 1; }
  both_ready_within 120 || { echo "takeover: the standby is not ready after 120 s" >&2; exit 1; }
  for run in $(seq 1 "$runs"); do
    writer=$(writer_within 60)
    make_batch "$accounts" "$run" "$funded" >"$servers_dir/batch-$run.json"
    port=$(cat "$servers_dir/$writer.port")
    curl -s -o "$servers_dir/in-flight-$run.json" -w '%{http_code}' --max-time 60 \
      -H "Authorization: Bearer $token" --data-binary "@$servers_dir/batch-$run.json" \
      "http://127.0.0.1:$port/v1/batches?brief=true" >"$servers_dir/in-flight-$run.status" 2>/dev/null &
    poster=$!
    sleep 0.1
    kill -KILL "$(cat "$servers_dir/$writer.pid")"
    killed=$(now)
    wait "$poster" || true
    # The first /readyz?role=writer 200, polled beside the retries.
    (
      while :; do
        for name in a b; do
          if [ "$(status_of "http://127.0.0.1:$(cat "$servers_dir/$name.port")/readyz?role=writer")" = 200 ]; then
            now >"$servers_dir/ready-$run"
            exit 0
          fi
        done
        sleep 0.05
      done
    ) &
    ready_poller=$!
    answered=
    deadline=$((SECONDS + 120))
    while [ -z "$answered" ] && [ $SECONDS -lt $deadline ]; do
      for name in a b; do
        code=$(curl -s -o "$servers_dir/retry-$run.json" -w '%{http_code}' --max-time 30 \
          -H "Authorization: Bearer $token" --data-binary "@$servers_dir/batch-$run.json" \
          "http://127.0.0.1:$(cat "$servers_dir/$name.port")/v1/batches?brief=true" || true)
        if [ "$code" = 200 ]; then
          answered=$(now)
          break
        fi
      done
      [ -n "$answered" ] || sleep 0.05
    done
    [ -n "$answered" ] || { kill "$ready_poller" 2>/dev/null; echo "takeover: the batch was not answered 120 s after the kill" >&2; exit 1; }
    wait "$ready_poller" || true
    answer=$(check_answer "$servers_dir/retry-$run.json")
    read -r accepted duplicates <<<"$answer"
    read -r new_writer lease_s open_s <<<"$(takeover_from_logs "$killed")"
    row="| $accounts | $run | $ttl | $(elapsed "$killed" "$answered") | $(elapsed "$killed" "$(cat "$servers_dir/ready-$run")") | $lease_s (by $new_writer, killed $writer) | $open_s | $accepted accepted, $duplicates duplicates (in flight: HTTP $(cat "$servers_dir/in-flight-$run.status")) | $(cut -d' ' -f1 /proc/loadavg) |"
    echo "$row"
    rows+=("$row")
    both_ready_within 120 || { echo "takeover: the killed server did not come back as a standby within 120 s" >&2; exit 1; }
    sleep 1
  done
  stop_servers
  if [ -z "$keep" ]; then
    psql_leader "DROP DATABASE $db"
  fi
done

echo
echo "| accounts | run | lease TTL (s) | kill → batch answered (s) | kill → /readyz?role=writer 200 (s) | kill → lease taken (s) | lease → serving as the writer (open, s) | the retried 4,000 | load average (1 min) |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
failed=0
