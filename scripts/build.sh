#!/usr/bin/env bash
# Installs what is missing and builds fedjets (Release) into build/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DFEDJETS_BUILD_TESTS=ON >/dev/null
cmake --build build -j"$(nproc)"
