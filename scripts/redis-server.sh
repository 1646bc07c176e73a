#!/usr/bin/env bash
# redis-server for tests and the local cluster, on 127.0.0.1 only, nothing saved to disk.
#   scripts/redis-server.sh start DIR PORT   log DIR/redis.log, PID in DIR/redis.pid; returns once it answers
#   scripts/redis-server.sh stop DIR         SIGTERM, SIGKILL after 10 s
set -euo pipefail

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2; }
pidfile=$dir/redis.pid

case $cmd in
start)
  port=${3:?usage: $0 start DIR PORT}
  mkdir -p "$dir"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "redis-server.sh: already running in $dir (pid $(cat "$pidfile"))" >&2; exit 1
  fi
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
    --logfile "$dir/redis.log" --daemonize no </dev/null >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do # 10 s
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "redis-server.sh: redis-server exited; see $dir/redis.log" >&2; tail -5 "$dir/redis.log" >&2 || true; exit 1
    fi
    if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; then
      echo "$pid" >"$pidfile"
      exit 0
    fi
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  echo "redis-server.sh: port $port not ready after 10 s; see $dir/redis.log" >&2; exit 1
  ;;
stop)
  [ -f "$pidfile" ] || exit 0
  pid=$(cat "$pidfile")
  if kill -TERM "$pid" 2>/dev/null; then
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  ;;
*) echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
