#!/usr/bin/env bash
# nats-server with JetStream for tests and the local cluster, on 127.0.0.1 only.
#   scripts/nats-server.sh start DIR PORT   JetStream file storage under DIR/js, log DIR/nats.log,
#                                           PID in DIR/nats.pid; returns once the port accepts
#   scripts/nats-server.sh stop DIR         SIGTERM (JetStream flushes), SIGKILL after 10 s
# Starting again on the same DIR keeps the streams, consumers and unacknowledged messages.
set -euo pipefail

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2; }
pidfile=$dir/nats.pid

case $cmd in
start)
  port=${3:?usage: $0 start DIR PORT}
  mkdir -p "$dir/js"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "nats-server.sh: already running in $dir (pid $(cat "$pidfile"))" >&2; exit 1
  fi
  nats-server -js -sd "$dir/js" -a 127.0.0.1 -p "$port" -l "$dir/nats.log" -P "$pidfile" \
    </dev/null >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do # 10 s
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "nats-server.sh: nats-server exited; see $dir/nats.log" >&2; tail -5 "$dir/nats.log" >&2 || true; exit 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && grep -q "Server is ready" "$dir/nats.log" 2>/dev/null; then
      echo "$pid" >"$pidfile"
      exit 0
    fi
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  echo "nats-server.sh: port $port not ready after 10 s; see $dir/nats.log" >&2; exit 1
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
