#!/usr/bin/env bash
# Installs what is missing and builds fedjets (Release) into build/.
#   scripts/build.sh            every target: libraries, binaries, tests
#   scripts/build.sh TARGET...  only these targets and what they need
#                               (scripts/demo.sh builds the three binaries)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DFEDJETS_BUILD_TESTS=ON >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build build -j"$(nproc)" "${targets[@]}"
