#!/usr/bin/env bash
# libcohort as a user gets it: `cmake --install` into a fresh prefix, then examples/predict.c
# compiled with nothing but `pkg-config --cflags --libs cohort`, linked against the shared library
# (by its SONAME) and against the static one, and run on penguins.csv.
#   tests/install_test.sh <build-dir> <source-dir> <cc> [extra compiler flags...]
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 <build-dir> <source-dir> <cc> [cflags...]" >&2
  exit 2
fi
BUILD=$1 SRC=$2 CC=$3
shift 3
EXTRA=("$@")

W=$(mktemp -d "${TMPDIR:-/tmp}/cohort-install-test.XXXXXX")
trap 'rm -rf "$W"' EXIT
PREFIX=$W/prefix
fail() {
  echo "install: $*" >&2
  exit 1
}

cmake --install "$BUILD" --prefix "$PREFIX" >"$W/install.log" || { cat "$W/install.log"; fail "cmake --install failed"; }
pc=$(find "$PREFIX" -name cohort.pc -path '*/pkgconfig/*')
[ -n "$pc" ] || fail "no cohort.pc installed"
LIBDIR=$(dirname "$(dirname "$pc")")
for f in "$PREFIX/include/cohort/cohort.h" "$LIBDIR/libcohort.a" "$LIBDIR/libcohort.so.0" "$PREFIX/bin/cohort"; do
  [ -e "$f" ] || fail "$f was not installed"
done
readelf -d "$LIBDIR/libcohort.so" | grep -q 'SONAME.*\[libcohort\.so\.0\]' || fail "libcohort.so has no SONAME libcohort.so.0"
"$PREFIX/bin/cohort" --version | grep -q '^cohort ' || fail "the installed cohort binary does not run"

export PKG_CONFIG_PATH=$(dirname "$pc")
flags=$(pkg-config --cflags --libs cohort) || fail "pkg-config cannot resolve cohort"
echo "pkg-config --cflags --libs cohort: $flags"
# shellcheck disable=SC2086 # the flags are words
"$CC" -std=c11 -Wall -Wextra -Werror "${EXTRA[@]}" "$SRC/examples/predict.c" -o "$W/predict" $flags ||
  fail "examples/predict.c does not build against the installed libcohort"
ldd_out=$(LD_LIBRARY_PATH=$LIBDIR ldd "$W/predict")
grep -q "libcohort.so.0 => $LIBDIR/libcohort.so.0" <<<"$ldd_out" || fail "predict is not linked to the installed libcohort.so.0: $ldd_out"

check_run() { # check_run BINARY LABEL
  local out
  out=$(LD_LIBRARY_PATH=$LIBDIR "$1" "$SRC/tests/data/penguins.csv" species) || fail "$2: predict failed"
  echo "$2: $out"
  # Species is nearly decided by the bill and flipper measures: under 0.9 is a broken engine.
  awk '{ if ($3 + 0 < 0.9) exit 1 }' <<<"$out" || fail "$2: accuracy below 0.9"
  grep -q '^species: accuracy .* of 68)' <<<"$out" || fail "$2: unexpected output"
}
check_run "$W/predict" shared

# Static: the same flags with --static (jansson, zlib and the C runtime pieces from Requires.private
# and Libs.private), libcohort taken from its archive.
sflags=$(pkg-config --static --cflags --libs cohort | sed 's/-lcohort\b/-l:libcohort.a/')
# shellcheck disable=SC2086
"$CC" -std=c11 -Wall -Wextra -Werror "${EXTRA[@]}" "$SRC/examples/predict.c" -o "$W/predict-static" $sflags ||
  fail "examples/predict.c does not build against the installed libcohort.a"
if LD_LIBRARY_PATH=$LIBDIR ldd "$W/predict-static" | grep -q libcohort; then fail "predict-static loads libcohort.so"; fi
check_run "$W/predict-static" static

# A bad target fails with the library's message, not a crash.
if LD_LIBRARY_PATH=$LIBDIR "$W/predict" "$SRC/tests/data/penguins.csv" beak 2>"$W/err"; then fail "an unknown target succeeded"; fi
grep -q "no column 'beak'" "$W/err" || fail "unknown target: $(cat "$W/err")"
echo "install: ok"
