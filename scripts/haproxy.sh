#!/usr/bin/env bash
# The load balancer in front of the `cohort api` replicas of a local cluster: Debian's HAProxy,
# round-robin over the replicas that answer /readyz, on 127.0.0.1.
#   scripts/haproxy.sh config DIR PORT HOST:PORT...   writes DIR/haproxy.cfg (and its error pages)
#   scripts/haproxy.sh start DIR PORT HOST:PORT...    config, then runs it in the background (DIR/haproxy.pid)
#   scripts/haproxy.sh stop DIR                       stops it by that PID
# A request whose replica cannot be reached is sent to another (`option redispatch`, retries on
# connection failures only: a request that reached a replica is never sent twice). While no replica
# is ready, clients get Cohort's own JSON error object (503 "unavailable", Retry-After), not an HTML
# page. Timeouts are long on the client and server sides because job event streams (SSE) stay open.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || {
  echo "usage: $0 config|start DIR PORT HOST:PORT... | stop DIR" >&2
  exit 2
}
pidfile=$dir/haproxy.pid

error_page() { # STATUS REASON MESSAGE
  printf 'HTTP/1.0 %s %s\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: application/json\r\nRetry-After: 1\r\n\r\n{"error":{"code":"unavailable","message":"%s","field":null}}\n' \
    "$1" "$2" "$3" >"$dir/error-$1.http"
}

write_config() {
  local port=$1
  shift
  [ $# -gt 0 ] || {
    echo "haproxy.sh: no backend given" >&2
    exit 2
  }
  mkdir -p "$dir"
  error_page 502 "Bad Gateway" "the API replica failed to answer; try again"
  error_page 503 "Service Unavailable" "no API replica is ready; try again"
  error_page 504 "Gateway Timeout" "the API replica did not answer in time; try again"
  {
    cat <<EOF
# Written by scripts/haproxy.sh.
global
  maxconn 4096

defaults
  mode http
  option forwardfor
  option redispatch
  retries 2
  timeout connect 2s
  timeout queue 10s
  timeout http-request 60s
  timeout client 1h
  timeout server 1h
  errorfile 502 $dir/error-502.http
  errorfile 503 $dir/error-503.http
  errorfile 504 $dir/error-504.http

frontend cohort
  bind 127.0.0.1:$port
  default_backend api

backend api
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server check inter 500ms fall 2 rise 1
EOF
    local i=0
    for b in "$@"; do
      i=$((i + 1))
      echo "  server api-$i $b"
    done
  } >"$dir/haproxy.cfg"
}

case $cmd in
config)
  write_config "${@:3}"
  ;;
start)
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "haproxy.sh: already running in $dir (pid $(cat "$pidfile"))" >&2
    exit 1
  fi
  write_config "${@:3}"
  haproxy -c -q -f "$dir/haproxy.cfg" || exit 1
  # -db: stay in the foreground (a child of ours with a known PID), logs to DIR/haproxy.log.
  haproxy -db -f "$dir/haproxy.cfg" </dev/null >"$dir/haproxy.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do # 10 s
    kill -0 "$pid" 2>/dev/null || {
      echo "haproxy.sh: haproxy exited; see $dir/haproxy.log" >&2
      exit 1
    }
    if (exec 3<>"/dev/tcp/127.0.0.1/$3") 2>/dev/null; then
      echo "$pid" >"$pidfile"
      exit 0
    fi
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  echo "haproxy.sh: port $3 not open after 10 s; see $dir/haproxy.log" >&2
  exit 1
  ;;
stop)
  [ -f "$pidfile" ] || exit 0
  pid=$(cat "$pidfile")
  if kill -TERM "$pid" 2>/dev/null; then
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  ;;
*)
  echo "usage: $0 config|start DIR PORT HOST:PORT... | stop DIR" >&2
  exit 2
  ;;
esac
