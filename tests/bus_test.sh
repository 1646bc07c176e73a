#!/usr/bin/env bash
# Runs the bus test binary against a real nats-server -js and redis-server on free loopback ports,
# started by the project's scripts and stopped by PID on every exit, a failing test's included.
#   tests/bus_test.sh BUILD/tests/test_bus
set -euo pipefail
bin=$1
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/cohort-bus-XXXXXX")
cleanup() {
  "$root/scripts/nats-server.sh" stop "$dir/nats" || true
  "$root/scripts/redis-server.sh" stop "$dir/redis" || true
  rm -rf "$dir"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
nats_port=$(free_port)
redis_port=$(free_port)
"$root/scripts/nats-server.sh" start "$dir/nats" "$nats_port"
"$root/scripts/redis-server.sh" start "$dir/redis" "$redis_port"
COHORT_TEST_SCRIPTS=$root/scripts COHORT_TEST_NATS_DIR=$dir/nats COHORT_TEST_NATS_PORT=$nats_port \
COHORT_TEST_REDIS_DIR=$dir/redis COHORT_TEST_REDIS_PORT=$redis_port \
  timeout 300 "$bin"
