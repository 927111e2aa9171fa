#!/usr/bin/env bash
# fedjets-sim --common-expert fedavg:R: R FedAvg rounds of the same
# federation first (RUN_DIR/warmup), then FedJETs with that model frozen as
# the common expert. The FedJETs run's common expert must be exactly the
# warm-up's final model: same test accuracy on the same test examples.
#   sim_fedavg_warmup.sh BIN_DIR WORK_DIR
set -euo pipefail
bin=$1 run=$2
rm -rf "$run"
"$bin/fedjets-sim" --algorithm fedjets --common-expert fedavg:2 --model mlp \
  --clients 12 --clients-per-round 6 --processes 2 --rounds 2 \
  --partition grouped --max-examples 200 --eval-examples 500 \
  --eval-client-examples 100 --run-dir "$run"
fail() { echo "FAIL: $*"; exit 1; }
[[ -f "$run/warmup/model.pt" ]] || fail "no warm-up model"
warm=$(grep -o '"final_test_accuracy":[0-9.e-]*' "$run/warmup/metrics.jsonl" | cut -d: -f2)
common=$(grep -o '"common_expert_accuracy":[0-9.e-]*' "$run/metrics.jsonl" | head -1 | cut -d: -f2)
[[ -n $warm && -n $common ]] || fail "accuracies missing (warm-up '$warm', common expert '$common')"
[[ $warm == "$common" ]] ||
  fail "the common expert ($common) is not the warm-up's model ($warm)"
grep -q "common-expert=\"file:$run/warmup/model.pt\"" "$run/config.ini" ||
  fail "the FedJETs coordinator did not load the warm-up model"
grep -q '"event":"end"' "$run/metrics.jsonl" || fail "the FedJETs run did not finish"
echo "PASS: common expert = warm-up model, test accuracy $common"
