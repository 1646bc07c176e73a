#!/usr/bin/env bash
# `make cluster-up`: Cohort in cluster mode on this machine, for trying it out. Starts a throwaway
# PostgreSQL 15 (scripts/pg-server.sh), an S3 server that verifies signatures (scripts/s3-server.sh:
# Swift s3api + memcached), nats-server with JetStream and redis-server, then two `cohort api`
# replicas behind HAProxy (scripts/haproxy.sh, round-robin) and three `cohort worker` processes,
# all on 127.0.0.1 with everything under out/cluster (or $COHORT_CLUSTER_DIR). Loads the demo
# datasets on the first start and prints the URL, the administrator's password and how to stop.
# Runs in the background; `make cluster-down` (scripts/cluster-down.sh) stops all of it by the
# recorded PIDs. A second run while it is up only says so. State survives cluster-down /
# cluster-up; `rm -rf out/cluster` starts over.
#   scripts/cluster-up.sh <cohort-binary> [datasets-dir]
# Ports: $COHORT_PORT (8081) for the balancer, the two after it for the API replicas and the three
# after those for the workers' health and metrics; $COHORT_CLUSTER_PG_PORT (15432) for PostgreSQL,
# $COHORT_CLUSTER_S3_PORT (19000) for S3 and the four after it for Swift's servers and memcached,
# $COHORT_CLUSTER_NATS_PORT (14222) and $COHORT_CLUSTER_REDIS_PORT (16379).
# Secrets travel in files only (mode 0600 under DIR), never on a command line.
set -euo pipefail

BIN=$(realpath "$1")
DATA=${2:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${COHORT_CLUSTER_DIR:-out/cluster}
PORT=${COHORT_PORT:-8081}
PG_PORT=${COHORT_CLUSTER_PG_PORT:-15432}
S3_PORT=${COHORT_CLUSTER_S3_PORT:-19000}
NATS_PORT=${COHORT_CLUSTER_NATS_PORT:-14222}
REDIS_PORT=${COHORT_CLUSTER_REDIS_PORT:-16379}
BUCKET=cohort
URL="http://127.0.0.1:$PORT"
# shellcheck source=cluster-procs.sh
. "$ROOT/scripts/cluster-procs.sh"

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
chmod 755 "$DIR" # PostgreSQL runs as the postgres user when we are root: it must reach DIR/pg
# One folder per process: scratch space and a read cache (the state is in PostgreSQL and S3).
for p in "${PROCS[@]}"; do
  mkdir -p "$DIR/$p"
  chmod 700 "$DIR/$p"
done

say_running() {
  local apis="" workers="" i
  for i in $(seq 1 $APIS); do apis+=" http://127.0.0.1:$(port_of "api-$i")"; done
  for i in $(seq 1 $WORKERS); do workers+=" http://127.0.0.1:$(port_of "worker-$i")"; done
  cat <<MSG

  Cohort (cluster mode) is running at $(cat "$DIR/url")/
    HAProxy -> $APIS cohort api:$apis
    $WORKERS cohort worker (health and /metrics):$workers
  Sign in as admin with the password: $(cat "$DIR/admin-password")
  State: PostgreSQL $(cat "$DIR/store-label"), objects in s3://$BUCKET/cohort at http://127.0.0.1:$S3_PORT
  Bus: nats://127.0.0.1:$NATS_PORT (JetStream), redis://127.0.0.1:$REDIS_PORT
  Settings: $DIR/cohort.conf; logs: $DIR/<process>.log, $DIR/lb/haproxy.log, $DIR/pg/server.log, $DIR/s3/log/

  Try:  build/cohort login --server $(cat "$DIR/url") --user admin    (then: build/cohort trainee list)
        curl -s http://127.0.0.1:$(port_of worker-1)/metrics | grep '^cohort_work'
        psql "\$(cat $DIR/psql-url)" -c 'SELECT id, name, version FROM trainees'
  Stop with: make cluster-down   (state is kept; rm -rf $DIR to start over)

MSG
}

# Already up? Every PID file names a live process of ours.
up=0
for p in "${PROCS[@]}"; do
  if ours "$p"; then up=$((up + 1)); fi
done
if [ $up = ${#PROCS[@]} ]; then
  echo "cluster-up: already running"
  say_running
  exit 0
fi

# Not (all) running, but what an earlier run left may be: stop it all (by the recorded PIDs) so
# that everything starts afresh on the ports below.
bash "$ROOT/scripts/cluster-down.sh" >/dev/null 2>&1 || true

fail() {
  echo "cluster-up: $*" >&2
  echo "cluster-up: stopping what was started (make cluster-down)" >&2
  bash "$ROOT/scripts/cluster-down.sh" >/dev/null 2>&1 || true
  exit 1
}

# Passwords made on the first start, kept beside the state, readable by us only.
secret() {
  [ -s "$1" ] || (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=\n' >"$1")
}
secret "$DIR/admin-password"
secret "$DIR/pg-password"

# PostgreSQL. pg-server.sh makes the role and database "cohort"; its password is set here from our
# file (through psql's stdin on the server's own unix socket), and cohort reads it from a passfile.
echo "cluster-up: starting PostgreSQL on 127.0.0.1:$PG_PORT" >&2
bash "$ROOT/scripts/pg-server.sh" start "$DIR/pg" "$PG_PORT" >/dev/null || fail "PostgreSQL did not start"
as_pg=()
[ "$(id -u)" -eq 0 ] && as_pg=(runuser -u postgres --)
printf "ALTER ROLE cohort PASSWORD '%s';\n" "$(cat "$DIR/pg-password")" |
  "${as_pg[@]}" /usr/lib/postgresql/15/bin/psql -X -q -v ON_ERROR_STOP=1 -h "$DIR/pg" -p "$PG_PORT" \
    -U postgres -d postgres -f - >/dev/null || fail "cannot set the cohort role's password"
(umask 077 && printf '127.0.0.1:%s:*:cohort:%s\n' "$PG_PORT" "$(cat "$DIR/pg-password")" >"$DIR/pgpass")
STORE="postgres://cohort@127.0.0.1:$PG_PORT/cohort?sslmode=disable&passfile=$DIR/pgpass"
echo "$STORE" >"$DIR/psql-url"
echo "postgres://cohort@127.0.0.1:$PG_PORT/cohort" >"$DIR/store-label"

# S3: Swift with s3api, a bucket "cohort"; its fixed test credentials come in DIR/s3/env.
echo "cluster-up: starting the S3 server (Swift s3api) on 127.0.0.1:$S3_PORT" >&2
bash "$ROOT/scripts/s3-server.sh" start "$DIR/s3" "$S3_PORT" "$BUCKET" || fail "the S3 server did not start"
ACCESS_KEY=$(sed -n 's/^AWS_ACCESS_KEY_ID=//p' "$DIR/s3/env")
(umask 077 && sed -n 's/^AWS_SECRET_ACCESS_KEY=//p' "$DIR/s3/env" >"$DIR/s3-secret")

echo "cluster-up: starting nats-server (JetStream) on 127.0.0.1:$NATS_PORT, redis-server on 127.0.0.1:$REDIS_PORT" >&2
bash "$ROOT/scripts/nats-server.sh" start "$DIR/nats" "$NATS_PORT" || fail "nats-server did not start"
bash "$ROOT/scripts/redis-server.sh" start "$DIR/redis" "$REDIS_PORT" || fail "redis-server did not start"

# Cohort's settings in one file that every process reads; each gets its listen address, data
# folder and instance name (the pod name on Kubernetes) on its command line.
cat >"$DIR/cohort.conf" <<EOF
# Written by scripts/cluster-up.sh: cohort api + cohort worker on PostgreSQL, S3, NATS and Redis
# (docs/server.md, "Running on PostgreSQL and S3" and "Cluster roles"). Secrets are in the files
# named here, not in this file.
store = $STORE
blobs = s3://$BUCKET/cohort?endpoint=http://127.0.0.1:$S3_PORT&region=us-east-1&addressing=path
s3_access_key_id = $ACCESS_KEY
s3_secret_access_key_file = $DIR/s3-secret
bus = nats://127.0.0.1:$NATS_PORT
bus_redis = redis://127.0.0.1:$REDIS_PORT
admin_user = admin
trusted_proxies = 127.0.0.1
admin_password_file = $DIR/admin-password
EOF
echo "$URL" >"$DIR/url"

ready() { curl -fsS "$1/readyz" >/dev/null 2>&1; }
for p in "${PROCS[@]}"; do
  echo "cluster-up: starting cohort ${p%-*} ($p) on 127.0.0.1:$(port_of "$p")" >&2
  # setsid: each process outlives this script and make; its PID is the one recorded.
  setsid "$BIN" "${p%-*}" --config "$DIR/cohort.conf" --listen "127.0.0.1:$(port_of "$p")" \
    --data_dir "$DIR/$p" --instance "cohort-$p" </dev/null >/dev/null 2>>"$DIR/$p.log" &
  echo $! >"$DIR/$p.pid"
done
for p in "${PROCS[@]}"; do
  ok=0
  for _ in $(seq 1 300); do
    if ready "http://127.0.0.1:$(port_of "$p")"; then
      ok=1
      break
    fi
    ours "$p" || break
    sleep 0.1
  done
  if [ $ok = 0 ]; then
    echo "cluster-up: cohort $p is not ready; last lines of $DIR/$p.log:" >&2
    tail -5 "$DIR/$p.log" >&2
    fail "cohort $p did not start"
  fi
done
apis=()
for i in $(seq 1 $APIS); do apis+=("127.0.0.1:$(port_of "api-$i")"); done
echo "cluster-up: starting HAProxy on $URL" >&2
bash "$ROOT/scripts/haproxy.sh" start "$DIR/lb" "$PORT" "${apis[@]}" || fail "HAProxy did not start"
for _ in $(seq 1 100); do
  ! ready "$URL" || break
  sleep 0.1
done
ready "$URL" || fail "HAProxy does not reach the API replicas (see $DIR/lb/haproxy.log)"

# First start: the demo datasets and two trainees, through the API like any client (as make run).
JAR=$(mktemp)
trap 'rm -f "$JAR"' EXIT
# The password goes to curl on its stdin (printf is a shell builtin): not on a command line.
LOGIN=$(printf '{"username":"admin","password":"%s"}' "$(cat "$DIR/admin-password")" | curl -fsS -c "$JAR" -H 'Content-Type: application/json' -d @- "$URL/v1/auth/login") ||
  fail "cannot sign in as admin"
CSRF=$(printf '%s' "$LOGIN" | sed -n 's/.*"csrf_token":"\([0-9a-f]*\)".*/\1/p')
api() { curl -fsS -b "$JAR" -H "X-CSRF-Token: $CSRF" "$@"; }
if [ "$(api "$URL/v1/datasets")" = '{"datasets":[]}' ]; then
  demo=()
  if [ -n "$DATA" ] && [ -f "$DATA/adult_train.csv" ]; then
    demo+=("adult_train:$DATA/adult_train.csv" "adult_test:$DATA/adult_test.csv")
  fi
  demo+=("penguins:$ROOT/tests/data/penguins.csv")
  for d in "${demo[@]}"; do
    name=${d%%:*}
    file=${d#*:}
    ds=$(api -H 'Content-Type: text/csv' --data-binary "@$file" "$URL/v1/datasets?name=$name") ||
      fail "cannot upload $file"
    id=$(printf '%s' "$ds" | sed -n 's/^{"id":"\([a-z0-9_]*\)".*/\1/p')
    echo "cluster-up: loaded dataset $name ($id)" >&2
    case $name in
    adult_train | penguins)
      api -H 'Content-Type: application/json' -d "{\"name\":\"${name%_train}\",\"dataset\":\"$id\"}" \
        "$URL/v1/trainees" >/dev/null || fail "cannot create trainee ${name%_train}"
      echo "cluster-up: training trainee ${name%_train}" >&2
      ;;
    esac
  done
fi
say_running
