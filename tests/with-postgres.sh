#!/usr/bin/env bash
# tests/with-postgres.sh CMD [ARGS...]: runs CMD against a PostgreSQL 15 of its own, started by
# scripts/pg-server.sh on a free 127.0.0.1 port in a temporary folder, and stopped and removed
# afterwards whatever CMD does. CMD sees
#   COHORT_TEST_PG_URL   postgres://cohort:cohort@127.0.0.1:PORT/cohort (the role may create databases)
#   COHORT_TEST_PG_DIR, COHORT_TEST_PG_PORT, COHORT_TEST_PG_CTL   to stop and start the server
# CMD gets at most COHORT_TEST_PG_TIMEOUT seconds (default 540), so the cleanup always runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/cohort-pg-XXXXXX")
chmod 755 "$dir" # the server runs as the postgres user when we are root
cleanup() {
  "$root/scripts/pg-server.sh" stop "$dir/pg" || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=$("$root/scripts/pg-server.sh" start "$dir/pg" "$port")
export COHORT_TEST_PG_URL=$url COHORT_TEST_PG_DIR=$dir/pg COHORT_TEST_PG_PORT=$port
export COHORT_TEST_PG_CTL=$root/scripts/pg-server.sh
timeout "${COHORT_TEST_PG_TIMEOUT:-540}" "$@"
