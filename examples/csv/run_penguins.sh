#!/usr/bin/env bash
# The CSV example end to end: builds penguins.csv from Debian's
# r-cran-palmerpenguins (make_penguins_csv.sh) and trains it with FedAvg in
# fedjets-sim. The species name (a string) is the label; features are
# standardised with train statistics; 20% of each species is held out as
# the test split (seeded). Extra arguments go to fedjets-sim.
#
# Usage: examples/csv/run_penguins.sh [more fedjets-sim flags...]
# Env:   BUILD (build), OUT (runs/penguins), CLIENTS (4),
#        PARTITION (dirichlet:1.0), ROUNDS (30)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD:-build}
out=${OUT:-runs/penguins}
mkdir -p "$out"
examples/csv/make_penguins_csv.sh "$out/penguins.csv"
exec "$build/bin/fedjets-sim" --dataset csv --data "$out/penguins.csv" \
  --data-option label=species --clients "${CLIENTS:-4}" \
  --partition "${PARTITION:-dirichlet:1.0}" --rounds "${ROUNDS:-30}" \
  --batch-size 16 --lr 0.05 --run-dir "$out/run" "$@"
