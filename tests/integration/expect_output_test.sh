#!/usr/bin/env bash
# Checks expect_output.sh: it passes (status 0) only when both the exit
# status and the output are as expected, and otherwise fails (status 1)
# naming what was wrong.
#   expect_output_test.sh
set -uo pipefail
expect=$(dirname "$0")/expect_output.sh
failures=0
# check WANT_STATUS WANT_REASON EXPECT_ARGS...: runs the wrapper.
check() {
  local want=$1 reason=$2 out status
  shift 2
  out=$("$expect" "$@" 2>&1)
  status=$?
  if [[ $status -ne $want ]] || ! grep -qF -- "$reason" <<<"$out"; then
    echo "FAIL: expect_output.sh $* exited $status (want $want) saying:"
    echo "$out"
    failures=$((failures + 1))
  fi
}
check 0 "PASS" 0 "o+k" -- sh -c "echo ook"
check 0 "PASS" 3 "ok" -- sh -c "echo ok; exit 3"
check 0 "PASS" nonzero "ok" -- sh -c "echo ok >&2; exit 4"
check 1 "exited 0; expected a failure status" nonzero "ok" -- sh -c "echo ok"
check 1 "exited 3; expected 0" 0 "ok" -- sh -c "echo ok; exit 3"
check 1 "exited 2; expected 1" 1 "ok" -- sh -c "echo ok; exit 2"
check 1 "no line matching /ok/" 0 "ok" -- sh -c "echo other"
check 1 "no line matching /ok/" nonzero "ok" -- sh -c "echo other; exit 1"
check 2 "usage" 0 "ok" sh -c "echo ok"
check 2 "bad EXIT" some "ok" -- sh -c "echo ok"
((failures == 0)) || exit 1
echo "PASS: expect_output.sh judges exit status and output"
