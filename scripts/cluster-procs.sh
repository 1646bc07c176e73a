# The cohort processes of scripts/cluster-up.sh and scripts/cluster-down.sh (sourced by both,
# with DIR and PORT set): their names, ports, and whether a PID file names a live one of ours.
# shellcheck shell=bash
APIS=2 WORKERS=3
PROCS=()
for i in $(seq 1 $APIS); do PROCS+=("api-$i"); done
for i in $(seq 1 $WORKERS); do PROCS+=("worker-$i"); done

port_of() { # api-1 -> PORT+1 ..., worker-1 -> PORT+APIS+1 ...
  case $1 in
  api-*) echo $((PORT + ${1#api-})) ;;
  worker-*) echo $((PORT + APIS + ${1#worker-})) ;;
  esac
}

# A PID file may outlive its process and the PID be reused: check the command line too.
ours() {
  [ -s "$DIR/$1.pid" ] && { tr '\0' ' ' <"/proc/$(cat "$DIR/$1.pid")/cmdline"; } 2>/dev/null |
    grep -qF -- "--data_dir $DIR/$1 "
}
