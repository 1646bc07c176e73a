#!/usr/bin/env bash
# `make cluster-up`: Cohort in cluster mode on this machine, for trying it out. Starts a throwaway
# PostgreSQL 15 (scripts/pg-server.sh), an S3 server that verifies signatures (scripts/s3-server.sh:
# Swift s3api + memcached) and `cohort serve` on them, all on 127.0.0.1 with everything under
# out/cluster (or $COHORT_CLUSTER_DIR). Loads the demo datasets on the first start and prints the
# URL, the administrator's password and how to stop. Runs in the background; `make cluster-down`
# (scripts/cluster-down.sh) stops all of it by the recorded PIDs. A second run while it is up only
# says so. State survives cluster-down / cluster-up; `rm -rf out/cluster` starts over.
#   scripts/cluster-up.sh <cohort-binary> [datasets-dir]
# Ports: $COHORT_PORT (8081) for Cohort, $COHORT_CLUSTER_PG_PORT (15432) for PostgreSQL,
# $COHORT_CLUSTER_S3_PORT (19000) for S3 and the four after it for Swift's servers and memcached.
# Secrets travel in files only (mode 0600 under DIR), never on a command line.
set -euo pipefail

BIN=$(realpath "$1")
DATA=${2:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${COHORT_CLUSTER_DIR:-out/cluster}
PORT=${COHORT_PORT:-8081}
PG_PORT=${COHORT_CLUSTER_PG_PORT:-15432}
S3_PORT=${COHORT_CLUSTER_S3_PORT:-19000}
BUCKET=cohort
URL="http://127.0.0.1:$PORT"

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
chmod 755 "$DIR" # PostgreSQL runs as the postgres user when we are root: it must reach DIR/pg
mkdir -p "$DIR/serve"
chmod 700 "$DIR/serve"

say_running() {
  cat <<MSG

  Cohort (cluster mode) is running at $(cat "$DIR/url")/
  Sign in as admin with the password: $(cat "$DIR/admin-password")
  State: PostgreSQL $(cat "$DIR/store-label"), objects in s3://$BUCKET/cohort at http://127.0.0.1:$S3_PORT
  Settings: $DIR/cohort.conf; logs: $DIR/serve.log, $DIR/pg/server.log, $DIR/s3/log/

  Try:  build/cohort login --server $(cat "$DIR/url") --user admin    (then: build/cohort trainee list)
        psql "\$(cat $DIR/psql-url)" -c 'SELECT id, name, version FROM trainees'
  A second process on the same state (an API replica; its jobs run in the first; Ctrl-C stops it):
        $BIN api --config $DIR/cohort.conf --instance cohort-2 \\
          --listen 127.0.0.1:$((PORT + 1)) --data_dir $DIR/serve-2
  Stop with: make cluster-down   (state is kept; rm -rf $DIR to start over)

MSG
}

# Already up? The PID file names a live cohort serve that uses our config file.
if [ -s "$DIR/serve.pid" ] && tr '\0' ' ' <"/proc/$(cat "$DIR/serve.pid")/cmdline" 2>/dev/null |
  grep -qF "$DIR/cohort.conf"; then
  echo "cluster-up: already running (cohort serve PID $(cat "$DIR/serve.pid"))"
  say_running
  exit 0
fi

# Not running, but a PostgreSQL or S3 server of a run whose cohort serve died may be: stop them
# (by their recorded PIDs) so that they start afresh on the ports below.
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

# Cohort's settings in one file a newcomer can read and reuse for a second process.
cat >"$DIR/cohort.conf" <<EOF
# Written by scripts/cluster-up.sh: cohort serve on PostgreSQL + S3 (docs/server.md,
# "Running on PostgreSQL and S3"). Secrets are in the files named here, not in this file.
listen = 127.0.0.1:$PORT
data_dir = $DIR/serve
instance = cohort-1
store = $STORE
blobs = s3://$BUCKET/cohort?endpoint=http://127.0.0.1:$S3_PORT&region=us-east-1&addressing=path
s3_access_key_id = $ACCESS_KEY
s3_secret_access_key_file = $DIR/s3-secret
admin_user = admin
admin_password_file = $DIR/admin-password
EOF
echo "$URL" >"$DIR/url"

echo "cluster-up: starting cohort serve on $URL" >&2
# setsid: the server outlives this script and make; its PID is the one recorded.
setsid "$BIN" serve --config "$DIR/cohort.conf" </dev/null >/dev/null 2>>"$DIR/serve.log" &
echo $! >"$DIR/serve.pid"
PID=$(cat "$DIR/serve.pid")
ready=0
for _ in $(seq 1 300); do
  if curl -fsS "$URL/readyz" >/dev/null 2>&1; then
    ready=1
    break
  fi
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.1
done
if [ $ready = 0 ]; then
  echo "cluster-up: cohort serve is not ready; last lines of $DIR/serve.log:" >&2
  tail -5 "$DIR/serve.log" >&2
  fail "cohort serve did not start"
fi

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
