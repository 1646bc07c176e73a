#!/usr/bin/env bash
# The benchmark, side by side with its peers, in one run (make bench):
#   bash bench/run.sh <cohort-binary> <datasets-dir>
# Needs the bench programs built next to the binary (<build>/bench/, from bench/CMakeLists.txt;
# rebuilt here when the build dir is a CMake one) and Debian's /usr/bin/python3 with numpy,
# scikit-learn and FAISS (scripts/install-deps.sh --bench).
# Stages (each one may fail without stopping the others; the table marks what is missing):
#   1. sklearn_baseline.py  tuned k-NN quality + the fixed splits     -> sklearn.json, splits/
#   2. bench_quality        engine quality on the same rows           -> cohort_quality.json
#   3. bench_knn            engine k=10 search q/s + geometry dumps    -> knn/knn_cohort.json
#   4. peers_knn.py         FAISS / sklearn on the dumps, correctness  -> knn/knn_peers.json
#   5. bench_synth          adult analyze + synthesize + evaluate, RSS -> synth.json, synth_load.json
#   6. bench_suite          engine on every shared table, scikit-learn's wine and diabetes and a
#                           generated wide table: predict + synthesize  -> suite/cohort_suite.json
#   7. suite_sklearn        baseline, tuned k-NN, gradient boosting, TSTR      -> suite/sklearn_suite.json
# Outputs go to $COHORT_BENCH_OUT (default <build>/bench-out); the tables to bench/RESULTS.md (1-5)
# and bench/SUITE.md (6-7).
# Threads: $COHORT_BENCH_THREADS (default 2) for the engine and every peer.
# Subset: $COHORT_BENCH_STAGES, e.g. "sklearn_baseline bench_quality" (default: all seven); the
# sections of RESULTS.md whose stages did not run are kept from the previous RESULTS.md, and
# SUITE.md is rewritten only when bench_suite or suite_sklearn ran.
# bench_quality reads the splits sklearn_baseline writes, bench_knn's dumps feed peers_knn and
# suite_sklearn reads bench_suite's splits and synthetic rows, so select them in pairs.
set -uo pipefail

if [ $# -lt 2 ]; then
  echo "usage: bash bench/run.sh <cohort-binary> <datasets-dir>" >&2
  exit 2
fi
BIN=$1
DATA=$(cd "$2" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$(cd "$(dirname "$BIN")" && pwd)
BB=$BUILD/bench
OUT=${COHORT_BENCH_OUT:-$BUILD/bench-out}
THREADS=${COHORT_BENCH_THREADS:-2}
PY=/usr/bin/python3
RESULTS=${COHORT_BENCH_RESULTS:-$HERE/RESULTS.md}
SUITE=${COHORT_BENCH_SUITE:-$HERE/SUITE.md}
ALL_STAGES="sklearn_baseline bench_quality bench_knn peers_knn bench_synth bench_suite suite_sklearn"
STAGES=${COHORT_BENCH_STAGES:-$ALL_STAGES}
for s in $STAGES; do
  case " $ALL_STAGES " in
  *" $s "*) ;;
  *)
    echo "run.sh: unknown stage '$s' in COHORT_BENCH_STAGES (known: $ALL_STAGES)" >&2
    exit 2
    ;;
  esac
done
wanted() { case " $STAGES " in *" $1 "*) return 0 ;; *) return 1 ;; esac }
# RESULTS.md sections to render: those with at least one stage run (the others are kept as they are).
SECTIONS=""
wanted sklearn_baseline || wanted bench_quality && SECTIONS="$SECTIONS,quality"
wanted bench_knn || wanted peers_knn && SECTIONS="$SECTIONS,knn"
wanted bench_synth && SECTIONS="$SECTIONS,synth"
SECTIONS=${SECTIONS#,}

rm -rf "$OUT"
mkdir -p "$OUT/splits" "$OUT/knn" "$OUT/synth" "$OUT/suite" "$OUT/logs"
cat /proc/loadavg >"$OUT/loadavg_start"
: >"$OUT/notes.txt"
note() { echo "$*" | tee -a "$OUT/notes.txt" >&2; }

if [ -f "$BUILD/CMakeCache.txt" ]; then
  echo "== building bench programs in $BUILD" >&2
  targets=""
  wanted bench_quality && targets="$targets bench_quality"
  wanted bench_knn && targets="$targets bench_knn"
  wanted bench_synth && targets="$targets bench_synth"
  wanted bench_suite && targets="$targets bench_suite"
  # shellcheck disable=SC2086
  [ -z "$targets" ] || cmake --build "$BUILD" --target $targets >"$OUT/logs/build.log" 2>&1 ||
    note "build: some bench programs failed to build (see $OUT/logs/build.log)"
fi

# Python peers: FAISS/numpy timed with the OpenBLAS CPU overrides unset; if that crashes, keep them.
py() {
  local log=$1
  shift
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PY" "$@" 2>"$log"
  local rc=$?
  if [ $rc -ge 128 ]; then
    note "python crashed (rc $rc) with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset; rerun with them set: $*"
    "$PY" "$@" 2>"$log"
    rc=$?
  fi
  return $rc
}

# stage NAME COMMAND...: runs it, records seconds and exit status, never aborts the run.
stage() {
  local name=$1
  shift
  wanted "$name" || return 0
  echo "== $name" >&2
  local t0 t1 rc
  t0=$(date +%s.%N)
  "$@"
  rc=$?
  t1=$(date +%s.%N)
  echo "$name rc=$rc seconds=$(awk "BEGIN{printf \"%.1f\", $t1 - $t0}")" >>"$OUT/stages.txt"
  [ $rc -eq 0 ] || note "$name failed (rc $rc); see $OUT/logs/"
  return 0
}

need() {
  if [ ! -x "$BB/$1" ]; then
    note "$1 not built ($BB/$1 missing)"
    return 1
  fi
}

run_sklearn() {
  py "$OUT/logs/sklearn.log" "$HERE/sklearn_baseline.py" "$DATA" --out "$OUT/sklearn.json" --splits "$OUT/splits" \
    --jobs "$THREADS" >/dev/null
}
run_quality() {
  need bench_quality || return 1
  "$BB/bench_quality" "$DATA" "$OUT/splits" --threads "$THREADS" --out "$OUT/cohort_quality.json" \
    >/dev/null 2>"$OUT/logs/quality.log"
}
run_knn() {
  need bench_knn || return 1
  "$BB/bench_knn" "$OUT/knn" "$DATA" --threads "$THREADS" --queries 10000 --k 10 >/dev/null 2>"$OUT/logs/knn.log"
}
run_peers() {
  py "$OUT/logs/peers.log" "$HERE/peers_knn.py" --dir "$OUT/knn" --threads "$THREADS" --k 10 --kd-queries 2000 \
    --out "$OUT/knn/knn_peers.json" >/dev/null
}
run_synth() {
  need bench_synth || return 1
  /usr/bin/time -v -o "$OUT/synth.time" "$BB/bench_synth" "$DATA" "$OUT/synth" --threads "$THREADS" \
    >"$OUT/synth.json" 2>"$OUT/logs/synth.log" || return 1
  /usr/bin/time -v -o "$OUT/synth_load.time" "$BB/bench_synth" --load "$OUT/synth/adult.cohort" \
    >"$OUT/synth_load.json" 2>"$OUT/logs/synth_load.log"
}

run_suite() {
  need bench_suite || return 1
  # wine and diabetes from Debian's python3-sklearn, converted into the bench's work folder (the
  # datasets folder may be read-only); the wide table bench_suite generates itself.
  "$PY" "$HERE/suite_tables.py" "$OUT/suite/data" 2>"$OUT/logs/suite_tables.log" ||
    note "suite_tables.py failed (see $OUT/logs/suite_tables.log): wine and diabetes skipped"
  "$BB/bench_suite" "$DATA" "$OUT/suite" --threads "$THREADS" >/dev/null 2>"$OUT/logs/suite.log"
}
run_suite_sklearn() {
  py "$OUT/logs/suite_sklearn.log" "$HERE/suite_sklearn.py" "$OUT/suite" --jobs "$THREADS" >/dev/null
}

T0=$(date +%s)
stage sklearn_baseline run_sklearn
stage bench_quality run_quality
stage bench_knn run_knn
stage peers_knn run_peers
stage bench_synth run_synth
stage bench_suite run_suite
stage suite_sklearn run_suite_sklearn
T1=$(date +%s)
echo "total_seconds=$((T1 - T0))" >>"$OUT/stages.txt"
cat /proc/loadavg >"$OUT/loadavg_end"

if [ -n "$SECTIONS" ]; then
  "$PY" "$HERE/report.py" "$OUT" "$RESULTS" --threads "$THREADS" --repo "$HERE/.." --sections "$SECTIONS" || exit 1
  cat "$RESULTS"
fi
if wanted bench_suite || wanted suite_sklearn; then
  cp /proc/loadavg "$OUT/suite/loadavg_end"
  cp "$OUT/loadavg_start" "$OUT/suite/loadavg_start"
  "$PY" "$HERE/suite_report.py" "$OUT/suite" "$SUITE" --threads "$THREADS" --repo "$HERE/.." || exit 1
  cat "$SUITE"
fi
