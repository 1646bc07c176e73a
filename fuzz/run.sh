#!/usr/bin/env bash
# Runs every libFuzzer binary built in <build-dir>/fuzz for <seconds> each, over a scratch copy of
# its seed corpus fuzz/corpus/<name without fuzz_>/ (the repository's corpus is never written).
# Fails if any fuzzer finds a crash, leak, timeout or out-of-memory; its artifacts are copied to
# <build-dir>/fuzz-artifacts/.
#   fuzz/run.sh build-fuzz 60
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 <build-dir> <seconds>" >&2
  exit 2
fi
build=$1
seconds=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/cohort-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

status=0
ran=0
for bin in "$build"/fuzz/fuzz_*; do
  [ -f "$bin" ] && [ -x "$bin" ] || continue
  name=$(basename "$bin")
  target=${name#fuzz_}
  corpus="$work/corpus-$target"
  artifacts="$work/artifacts-$target"
  mkdir -p "$corpus" "$artifacts"
  if [ -d "$here/corpus/$target" ]; then
    cp -R "$here/corpus/$target/." "$corpus/"
  fi
  echo "fuzz: $name for ${seconds}s ($(find "$corpus" -type f | wc -l) seeds)"
  rc=0
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" \
  UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}" \
    "$bin" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=30 \
      -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" >"$work/$name.log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ] || [ -n "$(ls -A "$artifacts")" ]; then
    echo "fuzz: $name FAILED (exit $rc)"
    tail -n 60 "$work/$name.log"
    mkdir -p "$build/fuzz-artifacts"
    cp -R "$artifacts/." "$build/fuzz-artifacts/" 2>/dev/null || true
    status=1
  else
    grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$work/$name.log" | tail -n 2 || true
    echo "fuzz: $name ok"
  fi
  ran=$((ran + 1))
done

if [ "$ran" -eq 0 ]; then
  echo "fuzz: no fuzzers found in $build/fuzz" >&2
  exit 1
fi
exit "$status"
