#!/usr/bin/env bash
# README command 2: install what is missing, build, check the formatting
# (scripts/check-format.sh) and run the tests.
#   scripts/test.sh          every test, then the sanitizer stage (what CI
#                            runs)
#   scripts/test.sh LABEL    only the tests labelled LABEL: unit (one unit at
#                            a time, no sockets or federations; seconds),
#                            integration (real sockets and processes, whole
#                            federations) or slow (over a minute each)
#   scripts/test.sh sanitize only the sanitizer stage (scripts/sanitize.sh:
#                            unit tests under ASan+UBSan, then each fuzz
#                            target for 60 s; its own build-sanitize/)
set -euo pipefail
label=${1:-}
case $label in
  "" | unit | integration | slow | sanitize) ;;
  *) echo "usage: scripts/test.sh [unit|integration|slow|sanitize]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
if [[ $label == sanitize ]]; then
  exec bash scripts/sanitize.sh
fi
bash scripts/build.sh
bash scripts/check-format.sh
cd build
# Every test carries one of the labels, so the three runs cover the suite.
unlabelled=$(ctest -N -LE '^(unit|integration|slow)$' | grep 'Test *#' || true)
if [[ -n $unlabelled ]]; then
  echo "tests without a unit, integration or slow label:" >&2
  echo "$unlabelled" >&2
  exit 1
fi
if [[ -z $label ]]; then
  ctest --output-on-failure --timeout 900 -j2
  cd ..
  bash scripts/sanitize.sh
else
  ctest --output-on-failure --timeout 900 -j2 -L "^${label}\$"
fi
