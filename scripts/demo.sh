#!/usr/bin/env bash
# README command 1: install what is missing, build, and run the demo
# federation (coordinator + 4 client processes over mutual TLS on
# Fashion-MNIST). Extra arguments go to fedjets-sim. Builds only the three
# binaries the demo runs; scripts/test.sh builds the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh --demo
exec build/bin/fedjets-sim --clients 4 --rounds 5 --partition iid \
  --max-examples 6000 --lr 0.05 --batch-size 32 --threads 1 "$@"
