#!/usr/bin/env bash
# A PostgreSQL primary with one synchronous standby on loopback, for benchmarks:
#   benches/pg-sync.sh start DIR   -> prints the URL of an empty database "bench" on the primary
#   benches/pg-sync.sh stop DIR
# Every commit waits for the standby (synchronous_commit = on, synchronous_standby_names = '*').
# As root the servers run as the postgres user. LEDGER_PG_BIN overrides the binaries' directory.
set -euo pipefail
action=${1:?start|stop}; dir=${2:?DIR}
bin=${LEDGER_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
case $action in
start)
  mkdir -p "$dir"; [ "$(id -u)" = 0 ] && chown postgres "$dir"
  p1=$(free_port); p2=$(free_port)
  as_pg "$bin/initdb" -D "$dir/primary" -A trust -U ledger -E UTF8 >/dev/null
  cat >> "$dir/primary/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $p1
unix_socket_directories = '$dir'
synchronous_commit = on
synchronous_standby_names = '*'
shared_buffers = 1GB
max_wal_size = 8GB
wal_compression = off
CONF
  as_pg "$bin/pg_ctl" -D "$dir/primary" -l "$dir/primary.log" -w start >/dev/null
  as_pg "$bin/pg_basebackup" -h 127.0.0.1 -p "$p1" -U ledger -D "$dir/standby" -R -X stream
  sed -i "s/^port = $p1/port = $p2/" "$dir/standby/postgresql.conf"
  echo "synchronous_standby_names = ''" >> "$dir/standby/postgresql.conf"
  as_pg "$bin/pg_ctl" -D "$dir/standby" -l "$dir/standby.log" -w start >/dev/null
  for _ in $(seq 50); do
    state=$("$bin/psql" -h 127.0.0.1 -p "$p1" -U ledger -d postgres -Atc "SELECT sync_state FROM pg_stat_replication" || true)
    [ "$state" = sync ] && break; sleep 0.2
  done
  [ "$state" = sync ] || { echo "the standby is not synchronous: '$state'" >&2; exit 1; }
  "$bin/createdb" -h 127.0.0.1 -p "$p1" -U ledger bench
  echo "postgres://ledger@127.0.0.1:$p1/bench"
  ;;
stop)
  for node in standby primary; do
    [ -d "$dir/$node" ] && as_pg "$bin/pg_ctl" -D "$dir/$node" -m fast -w stop >/dev/null || true
  done
  ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
