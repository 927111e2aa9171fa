#!/usr/bin/env bash
# scripts/experiment.sh on a tiny grid: a base setting and its -paper,
# -generalist-routing and -gw0.2 variants, which must reuse the base's
# FedAvg/FedProx runs, not rerun them; the report must list every setting.
#   experiment_tiny_grid.sh SOURCE_DIR BIN_DIR WORK_DIR
set -euo pipefail
src=$1 bin=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
ROUNDS=2 SEEDS=1 CLIENTS=12 SETTINGS="weak weak-paper weak-generalist-routing weak-gw0.2" \
  RUNS_DIR="$work/runs" OUT="$work/out" CACHE="$work/cache" \
  SIM="$bin/fedjets-sim" REPORT="$bin/fedjets-report" \
  "$src/scripts/experiment.sh" --max-examples 200 --eval-client-examples 200 \
  --eval-examples 500 > "$work/grid.log" 2>&1 || {
  cat "$work/grid.log"; echo "FAIL: the grid failed"; exit 1; }
manifest="$work/runs/manifest.txt"
fail() { echo "FAIL: $*"; cat "$manifest"; exit 1; }
grep -qx "weak fedavg weak/fedavg-seed1" "$manifest" || fail "no weak FedAvg run"
grep -qx "weak-paper fedjets weak-paper/fedjets-seed1" "$manifest" ||
  fail "no weak-paper FedJETs run"
grep -qx "weak-paper fedavg weak/fedavg-seed1" "$manifest" ||
  fail "the variant does not reuse the base's FedAvg run"
[[ ! -e "$work/runs/weak-paper/fedavg-seed1" ]] ||
  fail "FedAvg was run again for the variant"
config="$work/runs/weak-paper/fedjets-seed1/config.ini"
grep -q "normal-gate-lr=-1" "$config" && grep -q "serve-mass=0$" "$config" &&
  grep -q "serve-mixture=false" "$config" ||
  fail "the -paper run lacks the paper's gate and serving"
grep -q "normal-gate-lr=0$" "$work/runs/weak/fedjets-seed1/config.ini" ||
  fail "the default FedJETs run lacks --normal-gate-lr 0"
grep -qx "weak-generalist-routing fedavg weak/fedavg-seed1" "$manifest" ||
  fail "the -generalist-routing variant does not reuse the base's FedAvg run"
config="$work/runs/weak-generalist-routing/fedjets-seed1/config.ini"
grep -q "generalist-expert=true" "$config" ||
  fail "the variant's FedJETs run lacks --generalist-expert"
grep -q "routing-loss=1" "$config" ||
  fail "the variant's FedJETs run lacks --routing-loss 1"
grep -qx "weak-gw0.2 fedavg weak/fedavg-seed1" "$manifest" ||
  fail "the -gw0.2 variant does not reuse the base's FedAvg run"
config="$work/runs/weak-gw0.2/fedjets-seed1/config.ini"
grep -q "generalist-expert=true" "$config" && grep -q "generalist-weight=0.2" "$config" ||
  fail "the -gw0.2 variant's FedJETs run lacks --generalist-weight 0.2"
[[ $(ls "$work/cache" | wc -l) -eq 1 ]] ||
  fail "the runs did not share one cached common expert"
for s in weak weak-paper weak-generalist-routing weak-gw0.2; do
  grep -q "^## Setting: $s\$" "$work/out/RESULTS.md" || fail "RESULTS.md lacks $s"
done
echo "PASS"
