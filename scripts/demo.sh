#!/usr/bin/env bash
# The `make run` demo until the server exists: the whole life of a trainee on the UCI Adult census
# table with the `cohort local` verbs. Writes everything under out/demo (or $COHORT_DEMO_OUT).
#   scripts/demo.sh <cohort-binary> <datasets-dir>
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 <cohort-binary> <datasets-dir>" >&2
  exit 2
fi
BIN=$1
DATA=$2
OUT=${COHORT_DEMO_OUT:-out/demo}
SHOWN_OUT=$OUT

if [ ! -x "$BIN" ]; then
  echo "demo: $BIN is not an executable (build first: make build)" >&2
  exit 1
fi
if [ ! -d "$DATA" ]; then
  echo "demo: datasets directory '$DATA' not found (pass the folder holding adult_train.csv and adult_test.csv)" >&2
  exit 1
fi
for f in adult_train.csv adult_test.csv; do
  if [ ! -f "$DATA/$f" ]; then
    echo "demo: $DATA/$f not found" >&2
    exit 1
  fi
done

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
TRAIN=$DATA/adult_train.csv
TEST=$DATA/adult_test.csv
T=$OUT/adult.cohort
start=$(date +%s)

step() { printf '\n==> %s\n' "$*"; }
show() {
  printf '$ cohort %s\n' "$*" | sed "s#$OUT/#$SHOWN_OUT/#g; s#$DATA/##g"
  "$BIN" "$@"
}
# Prints chosen CSV columns as an aligned table (no quoting in these files).
columns() {
  local file=$1
  shift
  awk -F, -v want="$*" '
    NR == 1 { n = split(want, w, " "); for (i = 1; i <= NF; i++) idx[$i] = i }
    { line = ""; for (j = 1; j <= n; j++) line = line (j > 1 ? "\t" : "") $(idx[w[j]]); print line }' "$file" |
    if command -v column >/dev/null; then column -t -s "$(printf '\t')"; else cat; fi | sed 's/^/  /'
}

echo "Cohort demo: train, predict, find anomalies, synthesize and evaluate on UCI Adult (census 1994)."
echo "Output folder: $OUT"

step "1/5 train a trainee on adult_train.csv and analyze it for predicting income"
show local train "$TRAIN" -o "$T" --target income --k 8,20,30 --p 1,2 --sample 1000

step "2/5 predict income for the first 10 rows of adult_test.csv"
head -n 11 "$TEST" >"$OUT/first10.csv"
show local predict "$T" "$OUT/first10.csv" --target income -o "$OUT/predicted.csv"
columns "$OUT/predicted.csv" age education occupation hours_per_week income income_predicted income_probability

step "3/5 the 5 most anomalous of the first 2000 rows of adult_test.csv"
head -n 2001 "$TEST" >"$OUT/test2000.csv"
show local anomalies "$T" "$OUT/test2000.csv" --top 5

step "4/5 synthesize 2000 rows"
show local synthesize "$T" -n 2000 --seed 1 -o "$OUT/synthetic.csv"
columns <(head -n 6 "$OUT/synthetic.csv") age workclass education occupation sex hours_per_week income

step "5/5 evaluate the synthetic rows against the real ones (holdout: adult_test.csv)"
show local evaluate "$TRAIN" "$OUT/synthetic.csv" --holdout "$TEST" --target income --sample 5000 \
  --report "$OUT/report.html" --report "$OUT/report.json"

echo
echo "Done in $(($(date +%s) - start)) s. Files in $OUT:"
echo "  adult.cohort     the trainee (cohort local info $T)"
echo "  predicted.csv    predictions for the first 10 test rows"
echo "  synthetic.csv    2000 synthetic rows"
echo "  report.html      the synthetic-data report with plots: open $OUT/report.html"
echo "  report.json      the same report as JSON"
