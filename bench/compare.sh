#!/usr/bin/env bash
# Issue 15, targets 1 and 2: fedjets against a plain single-process PyTorch
# FedAvg loop (bench/pytorch_fedavg.py), same model, recipe, data split and
# client draws, run interleaved (fedjets, loop, fedjets, loop, ...) so that
# both see the same machine load (docs/PERFORMANCE.md).
#
#   bash bench/compare.sh [--smoke] [--reps N] [--rounds R] [--figures 1,2]
#                         [--out DIR]
#
# Figures:
#   1  MLP, 1,000 clients, 100 per round; fedjets-sim over mutual TLS on
#      loopback with 2 client processes of 1 LibTorch thread, the loop with
#      --threads 2 (each side may use both cores).
#   2  CNN, 100 clients, 10 per round; 2 LibTorch threads on both sides
#      (fedjets: one client process, and the coordinator, with --threads 2).
# Round time: for each run, the median of its rounds' times leaving out
# round 1 (warm-up); the figure is the median over the repetitions. fedjets'
# round time is metrics.jsonl's "seconds" (from the draw of the round's
# clients to the aggregated model; the checkpoint written after it is not
# in it); the loop's spans the same steps. Wall time: the whole command,
# process start to exit, as a user waits for it (certificates, data loading,
# start-up and the final evaluation included). Both sides evaluate only
# after the last round (--eval-every R), so round times compare training
# rounds.
#
# Both sides run with OMP_WAIT_POLICY=passive unless the environment sets
# it: with libgomp's default spin-waiting, a 2-thread PyTorch process on a
# 2-core machine that other work shares runs up to 10x slower (its idle
# thread spins on the core the working one needs); fedjets' processes
# suffered far less from it (docs/PERFORMANCE.md).
#
# Every loop run is first checked against the fedjets run before it: the
# same per-client class counts (partition.txt) and the same clients drawn
# in every round (metrics.jsonl); a mismatch stops the script.
#
# --smoke: tiny federations, one repetition, a few seconds: checks that the
# whole path works and the table comes out (ctest bench_compare_smoke).
# Exit code 77 (skipped) when PYTHON cannot import torch.
# Environment: FEDJETS_BIN_DIR (default build/bin), PYTHON (default
# /usr/bin/python3), FIG1_FEDJETS / FIG2_FEDJETS / FIG1_LOOP / FIG2_LOOP to
# override the process and thread settings above.
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=0 reps=3 rounds=5 figures=1,2 out=""
while (($#)); do
  case $1 in
    --smoke) smoke=1 ;;
    --reps) reps=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --figures) figures=$2; shift ;;
    --out) out=$2; shift ;;
    *) echo "usage: bench/compare.sh [--smoke] [--reps N] [--rounds R]" \
         "[--figures 1,2] [--out DIR]" >&2; exit 2 ;;
  esac
  shift
done
python=${PYTHON:-/usr/bin/python3}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
bin=${FEDJETS_BIN_DIR:-build/bin}
if ! "$python" -c 'import torch' 2>/dev/null; then
  echo "compare.sh: SKIPPED: $python cannot import torch (install" \
       "python3-torch: bash scripts/install-deps.sh all)" >&2
  exit 77
fi
for b in fedjets-sim fedjets-coordinator fedjets-client; do
  if [[ ! -x $bin/$b ]]; then
    echo "compare.sh: $bin/$b not found (bash scripts/build.sh fedjets-sim" \
         "fedjets-coordinator fedjets-client, or set FEDJETS_BIN_DIR)" >&2
    exit 1
  fi
done
if ((smoke)); then reps=1; rounds=3; fi
if [[ -z $out ]]; then
  if ((smoke)); then
    out=$(mktemp -d /tmp/fedjets-compare-XXXXXX)
    trap 'rm -rf "$out"' EXIT
  else
    out=runs/compare-$(date +%Y%m%d-%H%M%S)
  fi
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

# Per figure: the federation (both sides), then each side's own settings.
declare -A fed fedjets_own loop_own
if ((smoke)); then
  small="--max-examples 32 --eval-examples 200"
  fed[1]="--model mlp --clients 8 --clients-per-round 4 $small"
  fed[2]="--model cnn --clients 4 --clients-per-round 2 $small"
else
  fed[1]="--model mlp --clients 1000 --clients-per-round 100"
  fed[2]="--model cnn --clients 100 --clients-per-round 10"
fi
fedjets_own[1]=${FIG1_FEDJETS:-"--processes 2 --threads 1"}
fedjets_own[2]=${FIG2_FEDJETS:-"--processes 1 --threads 2"}
if ((smoke)); then  # fedjets' evaluation clients: 11 x 50 test examples
  for f in 1 2; do fedjets_own[$f]+=" --eval-client-examples 50"; done
fi
loop_own[1]=${FIG1_LOOP:-"--threads 1"}
loop_own[2]=${FIG2_LOOP:-"--threads 2"}
common="--rounds $rounds --eval-every $rounds --seed 1"

now() { date +%s.%N; }

# Runs fedjets-sim; prints "wall round_median accuracy" to stdout.
run_fedjets() {
  local fig=$1 dir=$out/fedjets-$1-$2 log=$out/fedjets-$1-$2.log
  local t0 t1
  t0=$(now)
  # shellcheck disable=SC2086
  if ! "$bin/fedjets-sim" ${fed[$fig]} ${fedjets_own[$fig]} $common \
    --run-dir "$dir" >"$log" 2>&1; then
    echo "compare.sh: fedjets-sim failed; see $log" >&2
    tail -20 "$log" >&2
    exit 1
  fi
  t1=$(now)
  "$python" - "$dir/metrics.jsonl" "$t0" "$t1" <<'EOF'
import json, statistics, sys
rounds, acc = [], None
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "round":
        rounds.append(e["seconds"])
        acc = e.get("test_accuracy", acc)
if len(rounds) < 2:
    sys.exit(f"{sys.argv[1]}: {len(rounds)} rounds; need at least 2")
print(float(sys.argv[3]) - float(sys.argv[2]),
      statistics.median(rounds[1:]), acc)
EOF
}

# Runs the loop, checked against fedjets run $dir; prints like run_fedjets.
run_loop() {
  local fig=$1 rep=$2 log=$out/loop-$1-$2.log t0 t1
  t0=$(now)
  # shellcheck disable=SC2086
  if ! "$python" bench/pytorch_fedavg.py ${fed[$fig]} ${loop_own[$fig]} \
      $common --check-against "$out/fedjets-$fig-$rep" >"$log" 2>&1; then
    echo "compare.sh: pytorch_fedavg.py failed; see $log" >&2
    tail -20 "$log" >&2
    exit 1
  fi
  t1=$(now)
  "$python" - "$log" "$t0" "$t1" <<'EOF'
import json, statistics, sys
s = [json.loads(l[8:]) for l in open(sys.argv[1]) if l.startswith("SUMMARY ")]
if not s:
    sys.exit(f"{sys.argv[1]}: no SUMMARY line")
print(float(sys.argv[3]) - float(sys.argv[2]),
      statistics.median(s[-1]["round_seconds"][1:]), s[-1]["accuracy"])
EOF
}

echo "compare.sh: $reps repetitions of $rounds rounds; results in $out"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg);" \
     "OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
results=$out/results.txt
: >"$results"
IFS=, read -ra figs <<<"$figures"
for rep in $(seq 1 "$reps"); do
  for fig in "${figs[@]}"; do
    [[ -n ${fed[$fig]:-} ]] || { echo "unknown figure $fig" >&2; exit 2; }
    # (A function in < <(...) cannot end the script: check what it printed.)
    read -r fw fr fa < <(run_fedjets "$fig" "$rep") || true
    [[ -n ${fa:-} ]] || exit 1
    read -r lw lr la < <(run_loop "$fig" "$rep") || true
    [[ -n ${la:-} ]] || exit 1
    printf 'rep %d figure %s: fedjets round %.3f s wall %.2f s acc %s |' \
      "$rep" "$fig" "$fr" "$fw" "$fa"
    printf ' loop round %.3f s wall %.2f s acc %s\n' "$lr" "$lw" "$la"
    echo "$fig $fr $fw $lr $lw" >>"$results"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
for fig in "${figs[@]}"; do
  echo "figure $fig:"
  echo "  fedjets: fedjets-sim ${fed[$fig]} ${fedjets_own[$fig]} $common"
  echo "  loop:    pytorch_fedavg.py ${fed[$fig]} ${loop_own[$fig]} $common"
done
"$python" - "$results" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    fig, *v = line.split()
    rows.setdefault(fig, []).append([float(x) for x in v])
goals = {("1", "round"): 0.5, ("2", "round"): 0.8, ("2", "wall"): 1.2}
names = {"1": "1: MLP", "2": "2: CNN"}
print(f"{'figure':<28} {'fedjets':>9} {'baseline':>9} {'ratio':>6} "
      f"{'goal':>7} {'result':>6}")
for fig, runs in sorted(rows.items()):
    med = [statistics.median(c) for c in zip(*runs)]
    for what, f, b in (("round", med[0], med[2]), ("wall", med[1], med[3])):
        goal = goals.get((fig, what))
        ratio = f / b
        verdict = "-" if goal is None else ("pass" if ratio <= goal else "fail")
        label = f"{names.get(fig, fig)} {what} time (s)"
        print(f"{label:<28} {f:>9.3f} {b:>9.3f} {ratio:>6.2f} "
              f"{'-' if goal is None else '<= %.1f' % goal:>7} {verdict:>6}")
EOF
