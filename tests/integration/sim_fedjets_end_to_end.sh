#!/usr/bin/env bash
# FedJETs through the binaries: anchors, routing, a zero-shot evaluation,
# and validation clients cut from the training split (issue #14), whose
# validation_accuracy must be in the eval, round and end events.
#   sim_fedjets_end_to_end.sh BIN_DIR WORK_DIR
set -euo pipefail
bin=$1 run=$2
rm -rf "$run"
"$bin/fedjets-sim" --algorithm fedjets --common-expert examples:2000:epochs:2 \
  --model mlp --clients 12 --clients-per-round 6 --processes 2 --rounds 3 \
  --partition grouped --max-examples 200 --eval-examples 500 \
  --eval-client-examples 200 --validation-clients 2 --run-dir "$run"
metrics="$run/metrics.jsonl"
fail() { echo "FAIL: $*"; exit 1; }
for event in eval round end; do
  grep -E "\"event\": ?\"$event\"" "$metrics" | grep -q '"validation_accuracy":' ||
    fail "no $event event with validation_accuracy in $metrics"
done
[[ $(grep -E '"event": ?"eval"' "$metrics" | tail -1 |
     grep -o '"kind":"validation"' | wc -l) -eq 2 ]] ||
  fail "the last eval event does not score 2 validation clients"
grep -q "held out for 2 validation clients" "$run/partition.txt" ||
  fail "partition.txt does not say what was held out for validation"
grep -q '^validation-clients=2$' "$run/config.ini" ||
  fail "the coordinator's config.ini does not record --validation-clients 2"
echo "PASS"
