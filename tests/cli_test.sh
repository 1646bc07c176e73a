#!/usr/bin/env bash
# End-to-end test of the cohort CLI: every `cohort local` verb on penguins.csv (344 rows), the
# --json outputs, round trips (train -> predict -> synthesize -> evaluate -> HTML report) and
# malformed input. Counts checks as it goes and prints "cli: N passed, M failed" at the end.
#   tests/cli_test.sh <cohort-binary> <datasets-dir>
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 <cohort-binary> <datasets-dir>" >&2
  exit 2
fi
BIN=$1
DATA=$2
PENGUINS=$DATA/penguins.csv
if [ ! -x "$BIN" ]; then
  echo "cli: $BIN is not an executable" >&2
  exit 1
fi
if [ ! -f "$PENGUINS" ]; then
  echo "cli: $PENGUINS not found (pass the datasets directory holding penguins.csv)" >&2
  exit 1
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/cohort-cli-test.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W"

PY=python3
passed=0
failed=0
rc=0

pass() { passed=$((passed + 1)); }
fail() {
  failed=$((failed + 1))
  echo "FAIL: $*" >&2
  if [ -s "$W/err" ]; then sed 's/^/    stderr: /' "$W/err" | head -n 5 >&2; fi
}

# run CMD...: runs it with stdout in $W/out, stderr in $W/err and the exit status in $rc.
run() {
  set +e
  "$@" >"$W/out" 2>"$W/err"
  rc=$?
  set -e
}

# expect NAME WANT_RC CMD...
expect() {
  local name=$1 want=$2
  shift 2
  run "$@"
  if [ "$rc" -eq "$want" ]; then pass; else fail "$name: exit $rc, want $want"; fi
}

# check NAME CONDITION-COMMAND...: passes when the command succeeds.
check() {
  local name=$1
  shift
  if "$@" >/dev/null 2>&1; then pass; else fail "$name"; fi
}

is_json() { $PY -c 'import json,sys; json.load(sys.stdin)' <"$1"; }
# pyjson FILE EXPR: evaluates a Python expression over the parsed document `d`; passes if truthy.
pyjson() { $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2"; }

# expect_json NAME EXPR CMD...: exit 0, stdout is JSON and EXPR holds.
expect_json() {
  local name=$1 expr=$2
  shift 2
  run "$@"
  if [ "$rc" -ne 0 ]; then
    fail "$name: exit $rc, want 0"
  elif ! is_json "$W/out" 2>/dev/null; then
    fail "$name: stdout is not valid JSON"
  elif ! pyjson "$W/out" "$expr" 2>/dev/null; then
    fail "$name: JSON does not satisfy: $expr"
  else
    pass
  fi
}

C() { "$BIN" "$@"; }

# ---------------------------------------------------------------- top level
expect "version" 0 C version
check "version names libcohort" grep -q libcohort "$W/out"
expect_json "version --json" "'cohort' in d and 'libcohort' in d" C version --json
expect "help" 0 C help
expect "local help" 0 C local help
expect "help local train" 0 C help local train
check "help local train shows usage" grep -q "Usage: cohort local train" "$W/out"
expect "no command" 2 C
expect "unknown command" 2 C frobnicate
expect "unknown local verb" 2 C local frobnicate
for verb in train schema analyze train-more remove edit info predict importance anomalies impute synthesize evaluate; do
  expect "$verb --help" 0 C local "$verb" --help
  check "$verb --help shows usage" grep -q "Usage: cohort local $verb" "$W/out"
done

# ---------------------------------------------------------------- schema
expect "schema" 0 C local schema "$PENGUINS"
check "schema table lists species as nominal" grep -Eq "species +nominal" "$W/out"
check "schema table lists body_mass_g as continuous" grep -Eq "body_mass_g +continuous" "$W/out"
expect_json "schema --json" "isinstance(d, (dict, list))" C local schema "$PENGUINS" --json
expect "schema with overrides" 0 C local schema "$PENGUINS" --ignore island --order sex=female,male
check "schema --ignore flags island" grep -Eq "island .*ignored" "$W/out"
check "schema --order makes sex ordinal" grep -Eq "sex +ordinal" "$W/out"

# ---------------------------------------------------------------- train
expect "train --target species" 0 C local train "$PENGUINS" -o p.cohort --target species
check "train wrote the trainee" test -s p.cohort
check "train prints the schema table" grep -Eq "flipper_length_mm +continuous" "$W/out"
check "train prints k and p" grep -Eq "k=[0-9]+ p=" "$W/out"
expect_json "train --json" "d['cases'] == 344 and d['analyzed'] and d['output'] == 'pj.cohort'" \
  C local train "$PENGUINS" -o pj.cohort --analyze --json --threads 1
expect "train --quiet" 0 C local train "$PENGUINS" -o q.cohort --quiet
check "train --quiet prints nothing" test ! -s "$W/out"
expect_json "train with overrides" "d['features'] == 6" \
  C local train "$PENGUINS" -o o.cohort --ignore island --order sex=female,male --type flipper_length_mm=continuous \
  --na NA --json
# weights column: every row gets weight 1 or 2
awk -F, 'NR == 1 { print $0 ",w"; next } { print $0 "," (NR % 2 + 1) }' "$PENGUINS" >weighted.csv
expect_json "train --weights-column" "d['cases'] == 344 and d['features'] == 7 and d['weights_column'] == 'w'" \
  C local train weighted.csv -o w.cohort --weights-column w --json
expect "train without -o" 2 C local train "$PENGUINS"

# ---------------------------------------------------------------- info, analyze
expect "info" 0 C local info p.cohort
check "info shows cases" grep -Eq "cases: +344" "$W/out"
expect_json "info --json" "d['cases'] == 344 and d['features'] == 7 and d['analyzed']" C local info p.cohort --json
expect_json "info --json --target" "d['params'][0]['target'] == 'species' and d['params'][0]['k'] >= 1" \
  C local info p.cohort --json --target species
expect "analyze -o" 0 C local analyze q.cohort --target species --k 3,5 --p 1,2 --sample 200 --seed 7 -o qa.cohort
check "analyze prints the weight table" grep -Eq "bill_length_mm +continuous" "$W/out"
check "analyze prints k" grep -Eq "species: k=(3|5) p=(1|2)" "$W/out"
expect_json "analyze --json in place" "d['output'] == 'q.cohort' and d['analyzed'] and len(d['params']) == 1" \
  C local analyze q.cohort --json
expect "analyze --k 0" 2 C local analyze q.cohort --k 0
expect "analyze --k abc" 2 C local analyze q.cohort --k 3,abc

# ---------------------------------------------------------------- predict
expect "predict to stdout" 0 C local predict p.cohort "$PENGUINS" --target species
check "predict header" grep -q "^species,island,.*,species_predicted,species_uncertainty,species_probability$" "$W/out"
check "predict row count" test "$(wc -l <"$W/out")" -eq 345
check "predict reports accuracy" grep -q "species: accuracy" "$W/err"
expect "predict -o with details" 0 C local predict p.cohort "$PENGUINS" --target species --details cases,contributions -o pred.csv
check "predict -o wrote the file" test -s pred.csv
check "predict details columns" grep -q "species_contribution_island.*influential_cases" pred.csv
expect "predict continuous and categorical" 0 C local predict p.cohort "$PENGUINS" --target body_mass_g --target sex -o pred2.csv
check "continuous target has uncertainty, no probability" \
  bash -c "head -1 pred2.csv | grep -q 'body_mass_g_predicted,body_mass_g_uncertainty,sex_predicted' && ! head -1 pred2.csv | grep -q body_mass_g_probability"
expect_json "predict --json" \
  "len(d) == 344 and abs(sum(d[0]['predictions']['species']['probabilities'].values()) - 1) < 1e-6 and 'influential_cases' in d[0] and 'contributions' in d[0]['predictions']['species']" \
  C local predict p.cohort "$PENGUINS" --target species --details all --json
expect_json "predict --json -o" "d['rows'] == 344 and d['scores']['species']['metric'] == 'accuracy'" \
  C local predict p.cohort "$PENGUINS" --target species --json -o pred.json
check "predict --json -o wrote a JSON array" pyjson pred.json "len(d) == 344"
expect "predict --context" 0 C local predict p.cohort "$PENGUINS" --target species --context bill_length_mm,flipper_length_mm -o pred3.csv
expect "predict without --target" 2 C local predict p.cohort "$PENGUINS"
expect "predict unknown detail" 2 C local predict p.cohort "$PENGUINS" --target species --details everything

# ---------------------------------------------------------------- importance, anomalies
expect "importance" 0 C local importance p.cohort --target species
check "importance lists bill_length_mm" grep -q bill_length_mm "$W/out"
expect_json "importance --json" "d['target'] == 'species' and len(d['features']) == 6" \
  C local importance p.cohort --target species --json
expect "anomalies of cases" 0 C local anomalies p.cohort --top 5
check "anomalies shows 5 rows" test "$(grep -cE '^ +[0-9]+ +[0-9.en/a-]+ ' "$W/out")" -eq 5
expect_json "anomalies of rows --json" \
  "d['source'] == 'rows' and d['count'] == 344 and len(d['anomalies']) == 3 and d['anomalies'][0]['conviction'] <= d['anomalies'][2]['conviction']" \
  C local anomalies p.cohort "$PENGUINS" --top 3 --json
expect "anomalies -o" 0 C local anomalies p.cohort --top 0 -o anomalies.csv
check "anomalies -o wrote every case" test "$(wc -l <anomalies.csv)" -eq 345

# ---------------------------------------------------------------- impute
expect "impute rows" 0 C local impute p.cohort "$PENGUINS" -o imputed.csv
check "impute wrote every row" test "$(wc -l <imputed.csv)" -eq 345
expect_json "impute --json" "d['filled'] > 0 and d['rows'] == 344 and len(d['data']) == 344" \
  C local impute p.cohort "$PENGUINS" --json
expect_json "impute --cases" "d['filled'] > 0 and d['output'] == 'pi.cohort'" C local impute p.cohort --cases -o pi.cohort --json
expect "impute with neither file nor --cases" 2 C local impute p.cohort

# ---------------------------------------------------------------- incremental: edit, remove, train-more
cp p.cohort inc.cohort
expect_json "edit --set" "d['case'] == 3 and any(c['feature'] == 'body_mass_g' and c['after'] == '4000' for c in d['changes'])" \
  C local edit inc.cohort --case 3 --set body_mass_g=4000 --json
expect "edit --unset and --weight" 0 C local edit inc.cohort --case 3 --unset sex --weight 2
expect "edit case out of range" 1 C local edit inc.cohort --case 999 --set sex=male
expect "edit unknown feature" 1 C local edit inc.cohort --case 3 --set wingspan=3
check "edit unknown feature is named" grep -q wingspan "$W/err"
expect_json "remove" "d['removed'] == 4 and d['cases'] == 340" C local remove inc.cohort --cases 1,5,9-10 --json
expect "remove out of range" 1 C local remove inc.cohort --cases 400
expect "remove without --cases" 2 C local remove inc.cohort
expect_json "train-more" "d['added'] == 344 and d['cases'] == 684" C local train-more inc.cohort "$PENGUINS" --json
expect_json "info after incremental ops" "d['cases'] == 684" C local info inc.cohort --json

# ---------------------------------------------------------------- synthesize, evaluate (round trip)
expect "synthesize" 0 C local synthesize p.cohort -n 300 -o synth.csv --seed 3
check "synthesize wrote 300 rows" test "$(wc -l <synth.csv)" -eq 301
check "synthesize keeps the columns" test "$(head -1 synth.csv)" = "$(head -1 "$PENGUINS" | tr -d '"')"
expect "synthesize same seed" 0 C local synthesize p.cohort -n 300 -o synth2.csv --seed 3
check "synthesize is deterministic for a seed" cmp -s synth.csv synth2.csv
expect "synthesize --fix" 0 C local synthesize p.cohort -n 50 --fix species=Gentoo --conviction 2 --k 10 -o fixed.csv
check "synthesize --fix holds" test "$(tail -n +2 fixed.csv | cut -d, -f1 | sort -u)" = "Gentoo"
expect "synthesize --privacy local" 0 C local synthesize p.cohort -n 50 --privacy local -o local.csv
check "synthesize --privacy local wrote 50 rows" test "$(wc -l <local.csv)" -eq 51
expect "synthesize --privacy bogus" 2 C local synthesize p.cohort -n 5 --privacy bogus
expect "synthesize --no-privacy-gate to stdout" 0 C local synthesize p.cohort -n 20 --no-privacy-gate
check "synthesize to stdout" test "$(wc -l <"$W/out")" -eq 21
expect_json "synthesize --json" "d['rows'] == 10 and len(d['data']) == 10" C local synthesize p.cohort -n 10 --json
expect "synthesize -n abc" 2 C local synthesize p.cohort -n abc
expect "synthesize -n 0" 2 C local synthesize p.cohort -n 0
expect "synthesize --fix unknown feature" 1 C local synthesize p.cohort -n 5 --fix beak=long

expect "evaluate" 0 C local evaluate "$PENGUINS" synth.csv --holdout "$PENGUINS" --target species \
  --report report.html --report report.json
check "evaluate prints quality" grep -q "quality (current pair rule)" "$W/out"
check "evaluate prints DCR" grep -q "DCR overfitting protection" "$W/out"
check "evaluate prints TSTR" grep -Eq "TSTR +[0-9]" "$W/out"
check "evaluate wrote the HTML report" test -s report.html
check "HTML report has plots" grep -q "<svg" report.html
check "JSON report is JSON" is_json report.json
expect_json "evaluate --json" \
  "0 <= d['scores']['quality'] <= 1 and d['scores']['identical_rows'] >= 0 and d['rows']['synthetic'] == 300" \
  C local evaluate "$PENGUINS" synth.csv --target species --holdout "$PENGUINS" --json
expect "evaluate --json FILE hints --report" 2 C local evaluate "$PENGUINS" synth.csv --json out.json
check "evaluate --json FILE hint names --report" grep -q -- "--report" "$W/err"

# ---------------------------------------------------------------- malformed input
expect "missing file" 1 C local train "$W/no/such.csv" -o x.cohort
check "missing file is named" grep -q "no/such.csv" "$W/err"
printf 'a,b\n1,2\n3,"unterminated\n5,6\n' >bad.csv
expect "unterminated quote" 1 C local train bad.csv -o x.cohort
check "unterminated quote names the line" grep -qi "line [0-9]" "$W/err"
check "error is one line" test "$(wc -l <"$W/err")" -eq 1
expect "unknown flag" 2 C local train "$PENGUINS" -o x.cohort --frobnicate
check "unknown flag hints --help" grep -q -- "--help" "$W/err"
expect "unknown target" 1 C local predict p.cohort "$PENGUINS" --target wingspan
check "unknown target is named" grep -q "wingspan" "$W/err"
expect "unknown analyze target" 1 C local analyze q.cohort --target wingspan
head -c 200 p.cohort >truncated.cohort
expect "truncated trainee" 1 C local info truncated.cohort
check "truncated trainee error names the file" grep -q "truncated.cohort" "$W/err"
printf 'this is not a trainee\n' >foreign.cohort
expect "foreign trainee" 1 C local predict foreign.cohort "$PENGUINS" --target species
cp p.cohort flipped.cohort
size=$(wc -c <flipped.cohort)
printf '\xff' | dd of=flipped.cohort bs=1 seek=$((size / 2)) conv=notrunc status=none
expect "corrupt trainee (flipped byte)" 1 C local info flipped.cohort
expect "missing trainee" 1 C local info "$W/none.cohort"
expect "-n without value" 2 C local synthesize p.cohort -n
expect "--threads abc" 2 C local info p.cohort --threads abc
expect "extra argument" 2 C local info p.cohort extra
expect "bad --type" 2 C local train "$PENGUINS" -o x.cohort --type species=colour
expect "--type unknown feature" 1 C local train "$PENGUINS" -o x.cohort --type wingspan=nominal
expect "unwritable output" 1 C local train "$PENGUINS" -o "$W/no/dir/x.cohort" --quiet
: >empty.csv
run C local train empty.csv -o x.cohort
if [ "$rc" -eq 1 ]; then pass; else fail "empty CSV: exit $rc, want 1"; fi

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
