#!/usr/bin/env bash
# `make cluster-down`: stops what scripts/cluster-up.sh started under out/cluster (or
# $COHORT_CLUSTER_DIR), each by its recorded PID: cohort serve (SIGTERM, so running jobs are
# re-queued; SIGKILL after 30 s), the S3 server, then PostgreSQL. The state stays for the next
# cluster-up; `rm -rf out/cluster` removes it.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${COHORT_CLUSTER_DIR:-out/cluster}
if [ ! -d "$DIR" ]; then
  echo "cluster-down: nothing to stop ($DIR does not exist)"
  exit 0
fi
DIR=$(cd "$DIR" && pwd)

# Only a PID that is still our cohort serve (a stale file may name a reused PID by now).
ours() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF "$DIR/cohort.conf"; }

if [ -s "$DIR/serve.pid" ]; then
  pid=$(cat "$DIR/serve.pid")
  if ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 300); do
      ours "$pid" || break
      sleep 0.1
    done
    if ours "$pid"; then
      echo "cluster-down: cohort serve (PID $pid) did not stop in 30 s: killing it" >&2
      kill -KILL "$pid" 2>/dev/null
    fi
    echo "cluster-down: stopped cohort serve (PID $pid)"
  fi
  rm -f "$DIR/serve.pid"
fi
if compgen -G "$DIR/s3/pids/*.pid" >/dev/null; then
  bash "$ROOT/scripts/s3-server.sh" stop "$DIR/s3" && echo "cluster-down: stopped the S3 server"
fi
if [ -s "$DIR/pg/postgres.pid" ]; then
  bash "$ROOT/scripts/pg-server.sh" stop "$DIR/pg" && echo "cluster-down: stopped PostgreSQL"
fi
exit 0
