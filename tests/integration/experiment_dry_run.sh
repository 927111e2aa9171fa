#!/usr/bin/env bash
# scripts/experiment.sh with DRY_RUN=1 (prints the fedjets-sim commands,
# runs nothing): the -gwW setting suffix, -paper with suffixes after it, which methods -em gives the
# class-prior EM, the VALIDATION_CLIENTS pass-
# through, and the refusal to reuse a finished run cut otherwise.
#   experiment_dry_run.sh SOURCE_DIR WORK_DIR
set -euo pipefail
src=$1 work=$2
rm -rf "$work"
mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
grid() {  # grid LOG [VAR=VALUE...]: a dry run of three settings
  local log=$1
  shift
  env DRY_RUN=1 ROUNDS=2 SEEDS=1 CLIENTS=12 METHODS="fedjets fedavg" \
    RUNS_DIR="$work/runs" OUT="$work/out" SIM=sim REPORT=report \
    SETTINGS="dirichlet-gw0.2-routing-soft-30-rounds weak-generalist weak-anchor-gate-gw0.4" \
    "$@" "$src/scripts/experiment.sh" > "$log" 2>&1
}
# The command line of one run, by its run directory (relative to RUNS_DIR).
command_of() { grep -E -- "--run-dir $work/runs/$2( |\$)" "$1" || true; }

grid "$work/validation.log" VALIDATION_CLIENTS=3 VALIDATION_FRACTION=0.2 || {
  cat "$work/validation.log"; fail "the dry run failed"; }
log=$work/validation.log
gw=$(command_of "$log" dirichlet-gw0.2-routing-soft-30-rounds/fedjets-seed1)
for flags in "--generalist-expert --generalist-weight 0.2" "--routing-loss 1" \
    "--serve-mixture" "--rounds 30" "--partition dirichlet:0.1"; do
  [[ $gw == *" $flags"* ]] || fail "-gw0.2 setting lacks '$flags': $gw"
done
grep -qx "dirichlet-gw0.2-routing-soft-30-rounds fedavg dirichlet-30-rounds/fedavg-seed1" \
  "$work/runs/manifest.txt" || fail "FedAvg does not reuse the base's runs"
fa=$(command_of "$log" dirichlet-30-rounds/fedavg-seed1)
[[ -n $fa && $fa != *generalist* ]] || fail "FedAvg got generalist flags: $fa"
g=$(command_of "$log" weak-generalist/fedjets-seed1)
[[ $g == *" --generalist-expert"* && $g != *--generalist-weight* ]] ||
  fail "-generalist changed: $g"
ag=$(command_of "$log" weak-anchor-gate-gw0.4/fedjets-seed1)
[[ $ag == *" --generalist-expert --generalist-weight 0.4"* &&
   $ag == *" --normal-gate-lr 0"* ]] || fail "-anchor-gate-gw0.4: $ag"
runs=$(grep -c -- "--run-dir" "$log")
[[ $runs -eq 6 ]] || fail "expected 6 runs, got $runs"
[[ $(grep -c -- " --validation-clients 3 --validation-fraction 0.2" "$log") -eq $runs ]] ||
  fail "not every run got the validation flags"
grep -q "VALIDATION_CLIENTS=3 VALIDATION_FRACTION=0.2" "$work/runs/manifest.txt" ||
  fail "the manifest does not record the validation clients"

# -em: FedJETs' expert prior; FedAvg's class-prior baseline only.
grid "$work/em.log" SETTINGS="dirichlet-em-30-rounds" || {
  cat "$work/em.log"; fail "the -em dry run failed"; }
je=$(command_of "$work/em.log" dirichlet-em-30-rounds/fedjets-seed1)
[[ $je == *" --serve-mass "* && $je != *--serve-label-shift* ]] ||
  fail "FedJETs -em: $je"
fe=$(command_of "$work/em.log" dirichlet-em-30-rounds/fedavg-seed1)
[[ $fe == *" --serve-label-shift"* ]] || fail "FedAvg -em lacks its baseline: $fe"
grep -qx "dirichlet-em-30-rounds fedavg+em dirichlet-em-30-rounds/fedavg-seed1" \
  "$work/runs/manifest.txt" || fail "FedAvg's EM run is not labelled fedavg+em"
grep -qx "dirichlet-em-30-rounds fedjets dirichlet-em-30-rounds/fedjets-seed1" \
  "$work/runs/manifest.txt" || fail "FedJETs' -em run is not labelled fedjets"

# -paper with a suffix after it: that part of fedjets' defaults alone on
# the paper's recipe, each flag given once (a repeated flag is an error).
grid "$work/paper.log" SETTINGS="weak-paper weak-paper-soft weak-paper-anchor-gate weak-paper-em" || {
  cat "$work/paper.log"; fail "the -paper dry run failed"; }
paper_flags() { command_of "$work/paper.log" "$1/fedjets-seed1" | grep -oE -- \
  "--(normal-gate-lr [-0-9]+|serve-hard|serve-mixture|serve-mass [0-9.]+)" | sort | tr '\n' ' '; }
[[ $(paper_flags weak-paper) == "--normal-gate-lr -1 --serve-hard --serve-mass 0 " ]] ||
  fail "-paper: $(paper_flags weak-paper)"
[[ $(paper_flags weak-paper-soft) == "--normal-gate-lr -1 --serve-mass 0 --serve-mixture " ]] ||
  fail "-paper-soft: $(paper_flags weak-paper-soft)"
[[ $(paper_flags weak-paper-anchor-gate) == "--normal-gate-lr 0 --serve-hard --serve-mass 0 " ]] ||
  fail "-paper-anchor-gate: $(paper_flags weak-paper-anchor-gate)"
[[ $(paper_flags weak-paper-em) == "--normal-gate-lr -1 --serve-hard --serve-mass 0.97 " ]] ||
  fail "-paper-em: $(paper_flags weak-paper-em)"

grid "$work/plain.log" || { cat "$work/plain.log"; fail "the plain dry run failed"; }
! grep -q -- "--validation" "$work/plain.log" ||
  fail "validation flags without VALIDATION_CLIENTS"

grid "$work/bad.log" VALIDATION_CLIENTS=x && fail "VALIDATION_CLIENTS=x accepted"
grep -q "VALIDATION_CLIENTS must be a count" "$work/bad.log" || fail "no reason given"

# A finished run without validation clients is skipped by a plain grid and
# refused by one with them.
done_run="$work/runs/weak-generalist/fedjets-seed1"
mkdir -p "$done_run"
echo '{"event":"end"}' > "$done_run/metrics.jsonl"
printf 'rounds=2\nvalidation-clients=0\nvalidation-fraction=0.1\n' > "$done_run/config.ini"
grid "$work/skip.log" || { cat "$work/skip.log"; fail "the skip dry run failed"; }
grep -q "^= $done_run finished already; skipped" "$work/skip.log" ||
  fail "the finished run was not skipped"
grid "$work/refuse.log" VALIDATION_CLIENTS=3 &&
  fail "a finished run without validation clients was reused"
grep -q "finished with validation-clients=0" "$work/refuse.log" ||
  { cat "$work/refuse.log"; fail "the refusal does not say why"; }
echo "PASS"
