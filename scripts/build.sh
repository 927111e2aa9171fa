#!/usr/bin/env bash
# Installs what is missing and builds fedjets (Release) into build/.
#   scripts/build.sh               every target: libraries, binaries, tests
#   scripts/build.sh TARGET...     only these targets and what they need
#   scripts/build.sh --demo        the three binaries, with only the packages
#                                  they need (README command 1, scripts/demo.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
# Ninja for a new build directory (an existing one keeps its generator;
# CMAKE_GENERATOR=... chooses another). Ninja compiles a target's units as
# soon as the headers they need exist, without waiting for the libraries
# the target links to, so both cores stay busy: the demo's three binaries
# built cold in 184 s with Ninja against 294 s with Makefiles, for the same
# 356 s of compiler CPU (docs/OPERATIONS.md).
export CMAKE_GENERATOR=${CMAKE_GENERATOR:-Ninja}
if [[ ${1:-} == --demo ]]; then
  bash scripts/install-deps.sh demo
  # Tests, benchmarks and examples off: their packages are not installed.
  # scripts/test.sh turns them back on in the same build directory; the
  # objects built here are reused.
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DFEDJETS_BUILD_TESTS=OFF \
    -DFEDJETS_BUILD_BENCH=OFF -DFEDJETS_BUILD_EXAMPLES=OFF >/dev/null
  exec cmake --build build -j"$(nproc)" --target fedjets-sim \
    fedjets-coordinator fedjets-client
fi
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DFEDJETS_BUILD_TESTS=ON \
  -DFEDJETS_BUILD_BENCH=ON -DFEDJETS_BUILD_EXAMPLES=ON >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build build -j"$(nproc)" "${targets[@]}"
