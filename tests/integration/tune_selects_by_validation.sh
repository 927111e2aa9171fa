#!/usr/bin/env bash
# scripts/tune.sh chooses by validation accuracy, never by the unseen
# (test) accuracy, and passes --validation-clients to every run. A stand-in
# for fedjets-sim writes the end event each value would give: value 2 has
# the best validation accuracy, values 1 and 3 the best unseen ones.
#   tune_selects_by_validation.sh SOURCE_DIR WORK_DIR
set -euo pipefail
src=$1 work=$2
rm -rf "$work"
mkdir -p "$work"
fake="$work/fake-sim"
cat > "$fake" <<'SIM'
#!/usr/bin/env bash
set -euo pipefail
dir="" value="" validation=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --run-dir) dir=$2; shift ;;
    --knob) value=$2; shift ;;
    --validation-clients) validation=$2; shift ;;
  esac
  shift
done
[[ $validation -ge 1 ]] || { echo "no --validation-clients" >&2; exit 1; }
case $value in
  1) v=0.6 u=0.9 ;;
  2) v=0.8 u=0.5 ;;
  3) v=0.7 u=0.95 ;;
esac
mkdir -p "$dir"
echo "{\"event\":\"end\",\"rounds\":1,\"unseen_accuracy\":$u,\"validation_accuracy\":$v}" \
  > "$dir/metrics.jsonl"
SIM
chmod +x "$fake"
out=$(SIM="$fake" RUNS_DIR="$work/runs" "$src/scripts/tune.sh" --knob "1 2 3")
echo "$out"
fail() { echo "FAIL: $*"; exit 1; }
grep -Eq '^2 +80\.00 +50\.00 +<- chosen$' <<< "$out" ||
  fail "value 2 (best validation accuracy) was not chosen"
[[ $(grep -c 'chosen$' <<< "$out") -eq 1 ]] || fail "not exactly one chosen row"
grep -Eq '^3 +70\.00 +95\.00$' <<< "$out" || fail "no row for value 3"
[[ -f "$work/runs/knob.txt" ]] || fail "the table was not written to RUNS_DIR"
echo "PASS"
