#!/usr/bin/env bash
# The COHORT_BIN that tests/with-cluster.sh gives the test suites: `cohort serve` and `cohort admin`
# get a PostgreSQL database and an S3 key prefix of their own, both named after their data_dir, so a
# restart on the same data_dir finds its state again and no two servers share one (with
# COHORT_TEST_ROLES=1, a `serve` is a cluster of processes: tests/cluster/roles.py). Settings given
# on the command line (--store, --blobs) win; every other verb runs the real binary unchanged.
set -euo pipefail
real=${COHORT_REAL_BIN:?set by tests/with-cluster.sh}
case "${1:-}" in
serve | admin) ;;
*) exec "$real" "$@" ;;
esac
data_dir=cohort-data have_store=0 have_blobs=0 prev=""
for a in "$@"; do
  case "$prev" in
  --data_dir) data_dir=$a ;;
  esac
  case "$a" in
  --data_dir=*) data_dir=${a#--data_dir=} ;;
  --store | --store=*) have_store=1 ;;
  --blobs | --blobs=*) have_blobs=1 ;;
  esac
  prev=$a
done
name=t$(printf %s "$(realpath -m "$data_dir")" | md5sum | cut -c1-20)
extra=()
if [ $have_store = 0 ]; then
  if ! psql "$COHORT_TEST_PG_URL" -qtAc "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1; then
    psql "$COHORT_TEST_PG_URL" -qc "CREATE DATABASE $name" >/dev/null
  fi
  extra+=(--store "${COHORT_TEST_PG_URL%/*}/$name")
fi
[ $have_blobs = 1 ] || extra+=(--blobs "s3://$COHORT_TEST_S3_BUCKET/$name")
# A stable name per data_dir, as a StatefulSet pod keeps its name: a restart re-queues its jobs.
[ "$1" != serve ] || extra+=(--instance "$name")
# COHORT_TEST_ROLES=1: `serve` is played by API replicas behind a balancer and a worker pool.
if [ "$1" = serve ] && [ "${COHORT_TEST_ROLES:-}" = 1 ]; then
  exec /usr/bin/python3 "$(dirname "$0")/roles.py" "$real" "$@" "${extra[@]}"
fi
exec "$real" "$@" "${extra[@]}"
