#!/usr/bin/env bash
# Runs a command and passes only when both its exit status and its output
# are what the test expects (ctest's PASS_REGULAR_EXPRESSION alone ignores
# the exit status). The command's output is streamed through for ctest's log.
#   expect_output.sh EXIT REGEX -- COMMAND [ARG...]
# EXIT is a number, or "nonzero" for any failure status; REGEX is an
# extended regular expression (grep -E) that some output line must match.
set -uo pipefail
usage="usage: expect_output.sh EXIT|nonzero REGEX -- COMMAND [ARG...]"
[[ $# -ge 4 && $3 == "--" ]] || { echo "$usage" >&2; exit 2; }
expected=$1 regex=$2
shift 3
[[ $expected == nonzero || $expected =~ ^[0-9]+$ ]] ||
  { echo "expect_output.sh: bad EXIT '$expected'; $usage" >&2; exit 2; }
log=$(mktemp) || exit 2
trap 'rm -f "$log"' EXIT
"$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
fail() { echo "FAIL: $*" >&2; exit 1; }
if [[ $expected == nonzero ]]; then
  [[ $status -ne 0 ]] || fail "'$1' exited 0; expected a failure status"
else
  [[ $status -eq $expected ]] ||
    fail "'$1' exited $status; expected $expected"
fi
grep -qE -- "$regex" "$log" ||
  fail "the output of '$1' has no line matching /$regex/"
echo "PASS: '$1' exited $status with output matching /$regex/"
