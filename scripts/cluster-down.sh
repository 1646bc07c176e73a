#!/usr/bin/env bash
# `make cluster-down`: stops what scripts/cluster-up.sh started under out/cluster (or
# $COHORT_CLUSTER_DIR), each by its recorded PID: HAProxy first (no new requests), then every
# cohort process at once with SIGTERM (workers hand their trainees back and re-queue running jobs;
# SIGKILL after 30 s), then redis-server, nats-server, the S3 server and PostgreSQL. The state
# stays for the next cluster-up; `rm -rf out/cluster` removes it.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${COHORT_CLUSTER_DIR:-out/cluster}
PORT=${COHORT_PORT:-8081}
if [ ! -d "$DIR" ]; then
  echo "cluster-down: nothing to stop ($DIR does not exist)"
  exit 0
fi
DIR=$(cd "$DIR" && pwd)
# shellcheck source=cluster-procs.sh
. "$ROOT/scripts/cluster-procs.sh"

if [ -s "$DIR/lb/haproxy.pid" ]; then
  bash "$ROOT/scripts/haproxy.sh" stop "$DIR/lb" && echo "cluster-down: stopped HAProxy"
fi
stopping=()
for p in "${PROCS[@]}"; do
  if ours "$p"; then
    kill -TERM "$(cat "$DIR/$p.pid")" 2>/dev/null && stopping+=("$p")
  else
    rm -f "$DIR/$p.pid"
  fi
done
for p in "${stopping[@]}"; do
  for _ in $(seq 1 300); do
    ours "$p" || break
    sleep 0.1
  done
  if ours "$p"; then
    echo "cluster-down: cohort $p (PID $(cat "$DIR/$p.pid")) did not stop in 30 s: killing it" >&2
    kill -KILL "$(cat "$DIR/$p.pid")" 2>/dev/null
  fi
  echo "cluster-down: stopped cohort $p"
  rm -f "$DIR/$p.pid"
done
if [ -s "$DIR/redis/redis.pid" ]; then
  bash "$ROOT/scripts/redis-server.sh" stop "$DIR/redis" && echo "cluster-down: stopped redis-server"
fi
if [ -s "$DIR/nats/nats.pid" ]; then
  bash "$ROOT/scripts/nats-server.sh" stop "$DIR/nats" && echo "cluster-down: stopped nats-server"
fi
if compgen -G "$DIR/s3/pids/*.pid" >/dev/null; then
  bash "$ROOT/scripts/s3-server.sh" stop "$DIR/s3" && echo "cluster-down: stopped the S3 server"
fi
if [ -s "$DIR/pg/postgres.pid" ]; then
  bash "$ROOT/scripts/pg-server.sh" stop "$DIR/pg" && echo "cluster-down: stopped PostgreSQL"
fi
exit 0
