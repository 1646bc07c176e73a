#!/usr/bin/env bash
# Fails when a layer includes a header of a layer it may not see (see the layer list in
# CMakeLists.txt). Include paths are already private per target; this also catches a relative
# include ("../engine/x.h") that would walk around them.
#   scripts/check-layers.sh SRC_DIR
set -euo pipefail
src=${1:?usage: check-layers.sh SRC_DIR}

# layer: the folders whose headers it may include (besides include/cohort/*.h)
declare -A allowed=(
  [base]="base"
  [engine]="engine base"
  [platform]="platform base"
  [backends]="backends platform base"
  [server]="server platform base"
  [cli]="cli server backends platform base"
)

status=0
for layer in "${!allowed[@]}"; do
  [ -d "$src/$layer" ] || continue
  for file in "$src/$layer"/*.[ch]; do
    [ -e "$file" ] || continue
    while IFS= read -r line; do
      header=$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/' <<<"$line")
      case "$header" in cohort/*) continue ;; esac
      if [[ "$header" == */* ]]; then
        echo "layers: $file includes \"$header\": a path walks around the layers" >&2
        status=1
        continue
      fi
      home=""
      for dir in "$src"/*/; do
        [ -e "$dir$header" ] && home=$(basename "$dir") && break
      done
      [ -n "$home" ] || continue # generated or system header
      if ! grep -qw -- "$home" <<<"${allowed[$layer]}"; then
        echo "layers: $file includes \"$header\" from src/$home: $layer may include only ${allowed[$layer]} (and cohort/*.h)" >&2
        status=1
      fi
    done < <(grep -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" || true)
  done
done
for dir in "$src"/*/; do
  [ -n "${allowed[$(basename "$dir")]+x}" ] || { echo "layers: src/$(basename "$dir") is no known layer" >&2; status=1; }
done
exit $status
