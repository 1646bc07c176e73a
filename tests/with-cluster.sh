#!/usr/bin/env bash
# tests/with-cluster.sh CMD [ARGS...]: runs CMD with cohort's state in a real PostgreSQL 15 and its
# objects in a real S3 server that verifies signatures (Swift s3api), both started here on free
# 127.0.0.1 ports in a temporary folder and stopped (by PID) and removed afterwards, whatever CMD
# does. CMD's COHORT_BIN becomes tests/cluster/cohort-on-cluster.sh, which gives every
# `cohort serve` a database and a key prefix of its own, so the suites written for the embedded
# default run unchanged. CMD also sees COHORT_TEST_CLUSTER=1, COHORT_TEST_PG_URL, the S3 server's
# AWS_* variables, COHORT_TEST_S3_BUCKET, and COHORT_TEST_PG_DIR / COHORT_TEST_PG_PORT to stop and
# start PostgreSQL with scripts/pg-server.sh (the fault tests). CMD gets at most
# COHORT_TEST_CLUSTER_TIMEOUT seconds (default 1500), so the cleanup always runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
: "${COHORT_BIN:?set COHORT_BIN to the cohort binary}"
dir=$(mktemp -d "${TMPDIR:-/tmp}/cohort-cluster-XXXXXX")
chmod 755 "$dir" # PostgreSQL runs as the postgres user when we are root
cleanup() {
  "$root/scripts/s3-server.sh" stop "$dir/s3" >/dev/null 2>&1 || true
  "$root/scripts/pg-server.sh" stop "$dir/pg" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free port for PostgreSQL; five in a row for the S3 server (proxy, account, container, object,
# memcached), chosen at random and tried a few times since another test may take one meanwhile.
free_ports() {
  /usr/bin/python3 - "$1" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(200):
    base = random.randint(20000, 60000 - n)
    socks = []
    try:
        for p in range(base, base + n):
            s = socket.socket()
            s.bind(("127.0.0.1", p))
            socks.append(s)
        print(base)
        break
    except OSError:
        pass
    finally:
        for s in socks:
            s.close()
PY
}

pg_port=$(free_ports 1)
url=$("$root/scripts/pg-server.sh" start "$dir/pg" "$pg_port")
bucket=cohort-test
for try in 1 2 3 4 5; do
  if "$root/scripts/s3-server.sh" start "$dir/s3" "$(free_ports 5)" "$bucket" >"$dir/s3.log" 2>&1; then
    break
  fi
  [ "$try" -lt 5 ] || { cat "$dir/s3.log" >&2; exit 1; }
done
set -a
# shellcheck disable=SC1091
. "$dir/s3/env"
set +a
# The password travels in PGPASSWORD (libpq and psql read it): cohort refuses a store URL with a
# password on its command line, where ps shows it.
# (scripts/pg-server.sh's test role is cohort, password cohort.)
export PGPASSWORD=cohort
url=${url/\/\/cohort:cohort@/\/\/cohort@}
export COHORT_TEST_CLUSTER=1 COHORT_TEST_PG_URL=$url COHORT_TEST_S3_BUCKET=$bucket
export COHORT_TEST_PG_DIR=$dir/pg COHORT_TEST_PG_PORT=$pg_port
export COHORT_REAL_BIN=$COHORT_BIN COHORT_BIN=$root/tests/cluster/cohort-on-cluster.sh
timeout "${COHORT_TEST_CLUSTER_TIMEOUT:-1500}" "$@"
