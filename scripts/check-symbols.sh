#!/usr/bin/env bash
# Fails if libcohort defines a global symbol without the project's prefixes (cohort_ public, co_
# internal), or if the shared library exports anything but cohort_*.
set -euo pipefail
static=$1 shared=$2
bad=$(nm -g --defined-only "$static" | awk 'NF==3 {print $3}' | grep -Ev '^(cohort_|co_)' || true)
if [ -n "$bad" ]; then echo "unprefixed symbols in $static:"; echo "$bad"; exit 1; fi
bad=$(nm -D --defined-only "$shared" | awk 'NF==3 {print $3}' | grep -Ev '^cohort_' || true)
if [ -n "$bad" ]; then echo "non-public symbols exported from $shared:"; echo "$bad"; exit 1; fi
echo "symbols: ok ($(nm -D --defined-only "$shared" | grep -c ' T cohort_') exported)"
