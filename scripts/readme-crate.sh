#!/usr/bin/env bash
# Builds the README's smallest service (tests/readme-crate: a crate outside the
# workspace, winddown by path), runs it, asks it for a page, sends SIGTERM and
# expects the hook to run and exit code 0. Used by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --manifest-path tests/readme-crate/Cargo.toml
bin="$CARGO_TARGET_DIR/debug/hello"
log=$(mktemp)
# Ports of its own (APP_ADDR / PROBES_ADDR, read by winddown::listener / listen_addr).
export APP_ADDR=127.0.0.1:18080 PROBES_ADDR=127.0.0.1:18081
"$bin" 2>"$log" &
pid=$!
trap 'kill -9 $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  curl -fsS -o /dev/null http://$PROBES_ADDR/ready 2>/dev/null && break
  kill -0 $pid 2>/dev/null || { cat "$log"; echo "the README's service exited during start" >&2; exit 1; }
  sleep 0.1
done
body=$(curl -fsS http://$APP_ADDR/)
[ "$body" = "hello" ] || { echo "unexpected answer: $body" >&2; exit 1; }
kill -TERM $pid
code=0
wait $pid || code=$?
trap - EXIT
cat "$log"
[ "$code" = 0 ] || { echo "the README's service exited $code after SIGTERM" >&2; exit 1; }
grep -q "hello is closing" "$log" || { echo "the hook did not run" >&2; exit 1; }
echo "the README's service: built, served, drained, exit 0"
