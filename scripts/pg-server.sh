#!/usr/bin/env bash
# A throwaway PostgreSQL 15 for tests and local trials, on 127.0.0.1 only, everything under DIR.
#   scripts/pg-server.sh start DIR PORT   initdb on first use, start, create role and database
#                                         "cohort" (password "cohort"); prints the store URL
#   scripts/pg-server.sh stop DIR         pg_ctl stop -m fast, then the recorded PID if it lingers
#   scripts/pg-server.sh url DIR          prints the store URL of a running server
# initdb refuses to run as root: when root, the server runs as the postgres user (runuser), and
# DIR is made theirs. Set PG_BIN for another installation (default Debian's PostgreSQL 15).
set -euo pipefail

bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
usage() {
  echo "usage: pg-server.sh start DIR PORT | stop DIR | url DIR" >&2
  exit 2
}
[ $# -ge 2 ] || usage
cmd=$1
dir=$2
[ -x "$bin/pg_ctl" ] || { echo "pg-server: no PostgreSQL in $bin (scripts/install-deps.sh installs it)" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "$cmd" in
start)
  [ $# -eq 3 ] || usage
  port=$3
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  # The server (and its unix socket) live in DIR; the postgres user must own it and reach it.
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir" && chmod 0700 "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    # Passwords over TCP (the store URL carries one), trust only on DIR's own unix socket.
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 ||
      { echo "pg-server: initdb failed, see $dir/initdb.log" >&2; tail -5 "$dir/initdb.log" >&2; exit 1; }
  fi
  # fsync off: a test server, stopped cleanly or killed as a process (the OS keeps the writes);
  # synchronous_commit stays on so a killed server still has every acknowledged commit.
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start \
    >/dev/null || { echo "pg-server: start failed, see $dir/server.log" >&2; tail -5 "$dir/server.log" >&2; exit 1; }
  head -1 "$dir/data/postmaster.pid" >"$dir/postgres.pid"
  echo "$port" >"$dir/port"
  psql=("$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres)
  if [ "$(as_owner "${psql[@]}" -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'cohort'")" != 1 ]; then
    as_owner "${psql[@]}" -c "CREATE ROLE cohort LOGIN CREATEDB PASSWORD 'cohort'" \
      -c "CREATE DATABASE cohort OWNER cohort" >/dev/null
  fi
  echo "postgres://cohort:cohort@127.0.0.1:$port/cohort"
  ;;
stop)
  [ -d "$dir/data" ] || exit 0
  if ! as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1; then
    pid=$(cat "$dir/postgres.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -QUIT "$pid" 2>/dev/null || true # immediate shutdown of the postmaster and its children
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
  rm -f "$dir/postgres.pid"
  ;;
url)
  [ -f "$dir/port" ] || { echo "pg-server: no server started in $dir" >&2; exit 1; }
  echo "postgres://cohort:cohort@127.0.0.1:$(cat "$dir/port")/cohort"
  ;;
*) usage ;;
esac
