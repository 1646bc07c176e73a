#!/usr/bin/env bash
# A real S3 server that verifies SigV4 signatures, for tests and for trying the cluster setup:
# OpenStack Swift (proxy + account + container + object servers, one replica each) with its s3api
# and tempauth middleware, and the memcached it needs, all on 127.0.0.1 and everything under DIR.
#   scripts/s3-server.sh start DIR PORT [BUCKET...]  S3 on http://127.0.0.1:PORT; creates the buckets
#   scripts/s3-server.sh stop DIR                     stops what start started (PIDs in DIR/pids)
# The servers listen on PORT (S3), PORT+1..PORT+3 (account, container, object) and PORT+4
# (memcached). start writes DIR/env with the credentials as AWS_* variables:
#   access key "cohort:tester" (Swift's account:user form), secret "cohort-test-secret", region us-east-1.
# Needs Debian's swift-proxy, swift-account, swift-container, swift-object and memcached
# (scripts/install-deps.sh --cluster).
set -euo pipefail

PY=/usr/bin/python3 # Debian's interpreter: the one that has the swift modules
ACCESS_KEY="cohort:tester"
SECRET="cohort-test-secret"

usage() {
  echo "usage: $0 start DIR PORT [BUCKET...] | stop DIR" >&2
  exit 2
}

# Whether PID is still one of ours (a stale PID file may name a reused PID by now).
ours() {
  local dir=$1 pid=$2
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -e "$dir" -e "memcached -l 127.0.0.1"
}

stop() {
  local dir=$1
  [ -d "$dir/pids" ] || return 0
  dir=$(cd "$dir" && pwd)
  local f pid
  for f in "$dir"/pids/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    if ours "$dir" "$pid"; then kill -TERM "$pid" 2>/dev/null || true; else rm -f "$f"; fi
  done
  # Bounded wait, then KILL whatever is left.
  for _ in $(seq 1 50); do
    local alive=0
    for f in "$dir"/pids/*.pid; do
      [ -e "$f" ] || continue
      kill -0 "$(cat "$f")" 2>/dev/null && alive=1
    done
    [ $alive -eq 0 ] && break
    sleep 0.1
  done
  for f in "$dir"/pids/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    ! ours "$dir" "$pid" || kill -KILL "$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

# One Swift server in the foreground of a background job; its PID goes to DIR/pids/NAME.pid.
# The launcher points Swift at DIR/swift.conf instead of /etc/swift/swift.conf.
launch() {
  local dir=$1 name=$2 conf=$3
  "$PY" -c '
import sys
from swift.common import utils
utils.set_swift_dir(sys.argv[1])
from swift.common.wsgi import run_wsgi
sys.exit(run_wsgi(sys.argv[2], sys.argv[3]))' "$dir" "$conf" "$name" </dev/null >>"$dir/log/$name.log" 2>&1 &
  echo $! >"$dir/pids/$name.pid"
}

write_configs() {
  local dir=$1 port=$2
  local mport=$((port + 4))
  # The hash suffix only needs to be stable for this DIR.
  [ -s "$dir/hash-suffix" ] || head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/hash-suffix"
  cat >"$dir/swift.conf" <<EOF
[swift-hash]
swift_hash_path_suffix = $(cat "$dir/hash-suffix")
[storage-policy:0]
name = Policy-0
default = yes
EOF
  local common="[DEFAULT]
bind_ip = 127.0.0.1
workers = 0
swift_dir = $dir
devices = $dir/srv
mount_check = false
log_facility = LOG_LOCAL0
log_level = WARNING
log_address = /nonexistent"
  local kind p
  for kind in account container object; do
    case $kind in account) p=$((port + 1)) ;; container) p=$((port + 2)) ;; object) p=$((port + 3)) ;; esac
    cat >"$dir/$kind-server.conf" <<EOF
$common
bind_port = $p

[pipeline:main]
pipeline = $kind-server

[app:$kind-server]
use = egg:swift#$kind
EOF
  done
  # s3api before tempauth, slo for multipart uploads, cache (memcached) for s3api and tempauth.
  cat >"$dir/proxy-server.conf" <<EOF
$common
bind_port = $port

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:s3api]
use = egg:swift#s3api
location = us-east-1
# Virtual-host addressing: BUCKET.localhost:PORT (curl sends *.localhost to loopback itself).
storage_domain = localhost

[filter:tempauth]
use = egg:swift#tempauth
user_${ACCESS_KEY%%:*}_${ACCESS_KEY#*:} = $SECRET .admin

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$mport

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
EOF
}

make_rings() {
  local dir=$1 port=$2 kind p
  for kind in account container object; do
    case $kind in account) p=$((port + 1)) ;; container) p=$((port + 2)) ;; object) p=$((port + 3)) ;; esac
    rm -f "$dir/$kind.builder" "$dir/$kind.ring.gz"
    # part power 6, one replica, no min hours between moves; one device d1 on this server.
    swift-ring-builder "$dir/$kind.builder" create 6 1 0 >/dev/null
    swift-ring-builder "$dir/$kind.builder" add "r1z1-127.0.0.1:$p/d1" 100 >/dev/null
    swift-ring-builder "$dir/$kind.builder" rebalance >/dev/null 2>&1 || true
    [ -s "$dir/$kind.ring.gz" ] || { echo "s3-server: cannot build the $kind ring" >&2; return 1; }
  done
}

port_free() {
  "$PY" -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1])))' "$1" 2>/dev/null
}

wait_port() {
  local port=$1 what=$2 dir=$3
  for _ in $(seq 1 600); do
    "$PY" -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1])),0.2)' "$port" \
      2>/dev/null && return 0
    sleep 0.1
  done
  echo "s3-server: $what did not start on 127.0.0.1:$port; see $dir/log" >&2
  return 1
}

start() {
  local dir=$1 port=$2
  shift 2
  for cmd in swift-ring-builder memcached; do
    command -v $cmd >/dev/null || { echo "s3-server: $cmd missing: run scripts/install-deps.sh --cluster" >&2; exit 1; }
  done
  mkdir -p "$dir/pids" "$dir/log" "$dir/srv/d1" "$dir/cache"
  dir=$(cd "$dir" && pwd)
  stop "$dir"
  for p in "$port" $((port + 1)) $((port + 2)) $((port + 3)) $((port + 4)); do
    port_free "$p" || { echo "s3-server: port $p on 127.0.0.1 is in use" >&2; exit 1; }
  done
  write_configs "$dir" "$port"
  make_rings "$dir" "$port"
  local user=()
  [ "$(id -u)" -eq 0 ] && user=(-u root)
  memcached -l 127.0.0.1 -p $((port + 4)) -U 0 -m 32 "${user[@]}" </dev/null >>"$dir/log/memcached.log" 2>&1 &
  echo $! >"$dir/pids/memcached.pid"
  launch "$dir" account-server "$dir/account-server.conf"
  launch "$dir" container-server "$dir/container-server.conf"
  launch "$dir" object-server "$dir/object-server.conf"
  launch "$dir" proxy-server "$dir/proxy-server.conf"
  wait_port $((port + 4)) memcached "$dir" || { stop "$dir"; exit 1; }
  wait_port $((port + 1)) account-server "$dir" || { stop "$dir"; exit 1; }
  wait_port $((port + 2)) container-server "$dir" || { stop "$dir"; exit 1; }
  wait_port $((port + 3)) object-server "$dir" || { stop "$dir"; exit 1; }
  wait_port "$port" proxy-server "$dir" || { stop "$dir"; exit 1; }

  # Buckets are Swift containers: made through Swift's own API with a tempauth token.
  if [ $# -gt 0 ]; then
    local hdr token url
    hdr=$(curl -fsS -D - -o /dev/null -H "X-Auth-User: $ACCESS_KEY" -H "X-Auth-Key: $SECRET" \
      "http://127.0.0.1:$port/auth/v1.0") || { echo "s3-server: tempauth login failed" >&2; stop "$dir"; exit 1; }
    token=$(printf '%s' "$hdr" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-auth-token"{print $2}')
    url=$(printf '%s' "$hdr" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-storage-url"{print $2}')
    for b in "$@"; do
      curl -fsS -X PUT -H "X-Auth-Token: $token" "$url/$b" -o /dev/null ||
        { echo "s3-server: cannot create bucket $b" >&2; stop "$dir"; exit 1; }
    done
  fi
  umask 077
  cat >"$dir/env" <<EOF
AWS_ENDPOINT_URL=http://127.0.0.1:$port
AWS_REGION=us-east-1
AWS_ACCESS_KEY_ID=$ACCESS_KEY
AWS_SECRET_ACCESS_KEY=$SECRET
EOF
}

case "${1:-}" in
start)
  [ $# -ge 3 ] || usage
  start "${@:2}"
  ;;
stop)
  [ $# -eq 2 ] || usage
  stop "$2"
  ;;
*) usage ;;
esac
