#!/usr/bin/env bash
# `make run`: starts `cohort serve` on 127.0.0.1 with its state under out/serve (or
# $COHORT_DATA_DIR), loads the demo datasets and a trainee on the first start, and prints the URL
# and the administrator's credentials. Runs in the foreground; Ctrl-C stops the server cleanly.
#   scripts/run-server.sh <cohort-binary> <datasets-dir>
set -euo pipefail

BIN=$1
DATA=${2:-}
DIR=${COHORT_DATA_DIR:-out/serve}
PORT=${COHORT_PORT:-8080}
URL="http://127.0.0.1:$PORT"
mkdir -p "$DIR"
chmod 700 "$DIR"

# No built-in password: the first start makes one and keeps it beside the state, readable by you only.
PWFILE="$DIR/admin-password"
if [ ! -s "$PWFILE" ]; then
  (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=\n' >"$PWFILE")
fi
PASSWORD=$(cat "$PWFILE")

"$BIN" serve --listen "127.0.0.1:$PORT" --data_dir "$DIR" --admin_user admin \
  --admin_password_file "$PWFILE" 2>>"$DIR/server.log" &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; exit 0' INT TERM

for _ in $(seq 1 100); do
  curl -fsS "$URL/readyz" >/dev/null 2>&1 && break
  if ! kill -0 $PID 2>/dev/null; then
    echo "run: cohort serve stopped; last lines of $DIR/server.log:" >&2
    tail -5 "$DIR/server.log" >&2
    exit 1
  fi
  sleep 0.1
done

# First start: the demo datasets and a trainee, through the API like any client.
JAR=$(mktemp)
trap 'rm -f "$JAR"; kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; exit 0' INT TERM
# The body goes through standard input (printf is a shell builtin): an argument of curl's would show
# the password to every local user in ps.
LOGIN=$(printf '{"username":"admin","password":"%s"}' "$PASSWORD" |
  curl -fsS -c "$JAR" -H 'Content-Type: application/json' --data-binary @- "$URL/v1/auth/login")
CSRF=$(printf '%s' "$LOGIN" | sed -n 's/.*"csrf_token":"\([0-9a-f]*\)".*/\1/p')
api() { curl -fsS -b "$JAR" -H "X-CSRF-Token: $CSRF" "$@"; }
if [ "$(api "$URL/v1/datasets")" = '{"datasets":[]}' ]; then
  demo=()
  if [ -n "$DATA" ] && [ -f "$DATA/adult_train.csv" ]; then
    demo+=("adult_train:$DATA/adult_train.csv" "adult_test:$DATA/adult_test.csv")
  fi
  demo+=("penguins:tests/data/penguins.csv")
  for d in "${demo[@]}"; do
    name=${d%%:*}
    file=${d#*:}
    ds=$(api -H 'Content-Type: text/csv' --data-binary "@$file" "$URL/v1/datasets?name=$name")
    id=$(printf '%s' "$ds" | sed -n 's/^{"id":"\([a-z0-9_]*\)".*/\1/p')
    echo "run: loaded dataset $name ($id)"
    case $name in
    adult_train | penguins)
      api -H 'Content-Type: application/json' -d "{\"name\":\"${name%_train}\",\"dataset\":\"$id\"}" \
        "$URL/v1/trainees" >/dev/null
      echo "run: training trainee ${name%_train}"
      ;;
    esac
  done
fi
rm -f "$JAR"

cat <<MSG

  Cohort is running at $URL/
  Sign in as admin with the password: $PASSWORD
  (kept in $PWFILE; logs in $DIR/server.log; state in $DIR)

  Try:  curl $URL/healthz
        build/cohort login --server $URL --user admin    (then: build/cohort trainee list)
  Stop with Ctrl-C.

MSG
wait $PID
