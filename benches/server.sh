#!/usr/bin/env bash
# Side by side: the embedded ledger and ledger-server over loopback, on the benchmark's workload.
#
#   benches/server.sh [bench-server flags...]     e.g. --transfers 1000000 --batch 1000,8189
#
# Builds both binaries (the workspace's profile), makes a fresh ledger, starts ledger-server on
# a port the kernel picks, runs `ledger-cli bench-server` against it (which also runs the
# embedded benchmark on the same workload), and stops the server with SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p ledger-cli -p ledger-server
bin="${CARGO_TARGET_DIR:-target}/debug"
work="$(mktemp -d)"
trap 'kill "${server_pid:-0}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin/ledger-cli" --db "$work/ledger" init --policy default >/dev/null
"$bin/ledger-server" token --role back-office --name bench > "$work/server.toml" 2> "$work/token"
token="$(grep -o 'tl_[0-9a-f]*' "$work/token")"
"$bin/ledger-server" serve --config "$work/server.toml" --db "$work/ledger" --listen 127.0.0.1:0 \
    > "$work/stdout" 2> "$work/stderr" &
server_pid=$!
for _ in $(seq 1 300); do
    grep -q "^listening on " "$work/stdout" 2>/dev/null && break
    sleep 0.1
done
url="$(sed -n 's/^listening on //p' "$work/stdout")"
[ -n "$url" ] || { echo "the server did not start:"; cat "$work/stderr"; exit 2; }
echo "server at $url (pid $server_pid)"
LEDGER_TOKEN="$token" "$bin/ledger-cli" bench-server --url "$url" "$@"
kill -TERM "$server_pid"
wait "$server_pid"
