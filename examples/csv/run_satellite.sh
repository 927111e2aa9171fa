#!/usr/bin/env bash
# FedJETs on a CSV with six string-labelled classes (Landsat satellite, from
# Debian's r-cran-mlbench) under Dirichlet(0.1) with 30 clients, with the
# recipe chosen on validation clients (docs/ALGORITHM.md): anchor-only
# gate, soft serving, EM with adaptive K. docs/DATASETS.md has the measured
# table against FedAvg.
#   examples/csv/run_satellite.sh [fedjets-sim flags...]
#   ROUNDS=2 SEED=2 RUN_DIR=/tmp/sat examples/csv/run_satellite.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
sim=${SIM:-build/bin/fedjets-sim}
run=${RUN_DIR:-runs/satellite}
[[ -x $sim ]] || { echo "run_satellite: $sim not built; run scripts/build.sh" >&2; exit 1; }
mkdir -p "$run"
examples/csv/make_satellite_csv.sh "$run/satellite.csv"
"$sim" --dataset csv --data "$run/satellite.csv" --data-option label=classes \
  --partition dirichlet:0.1 --clients 30 --clients-per-round 10 \
  --rounds "${ROUNDS:-30}" --batch-size 16 --lr 0.05 --eval-every 10 \
  --seed "${SEED:-1}" --validation-clients 20 \
  --algorithm fedjets --num-experts 3 --top-k 2 \
  --common-expert examples:300:epochs:2 \
  --normal-gate-lr 0 --serve-mixture --serve-mass 0.97 --serve-max-k 5 \
  --run-dir "$run/fedjets" "$@"
