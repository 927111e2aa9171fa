#!/usr/bin/env bash
# Honest tuning (issue #14): runs fedjets-sim once per value of one
# hyper-parameter, with validation clients cut from the training split,
# and chooses the value with the best final validation accuracy. The
# unseen (test) clients' accuracy is printed beside it, never used to
# choose.
#
#   scripts/tune.sh FLAG "VALUE..." [fedjets-sim args...]
#   scripts/tune.sh --routing-loss "0.3 1 3" --algorithm fedjets --rounds 30
#   scripts/tune.sh --prox-mu "0.001 0.01 0.1" --algorithm fedprox \
#       --partition dirichlet:0.1 --clients 100 --clients-per-round 10
#   SEEDS="1 2 3" scripts/tune.sh --gate-lr "0.03 0.1 0.3" --algorithm fedjets
#
# Environment: SEEDS (default 1; a value's score is the mean over them),
# VALIDATION_CLIENTS (default 5), VALIDATION_FRACTION (default 0.1),
# RUNS_DIR (default runs/tune), SIM (default build/bin/fedjets-sim),
# FORCE=1 reruns runs that finished already (they are skipped otherwise).
# Prints one row per value (value, validation %, unseen %) and marks the
# chosen one; the table is also written to RUNS_DIR/<flag>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

usage='usage: scripts/tune.sh FLAG "VALUE..." [fedjets-sim args...]'
[[ $# -ge 2 && $1 == --* && -n $2 ]] || { echo "$usage" >&2; exit 2; }
flag=$1 values=$2
shift 2
SEEDS=${SEEDS:-1}
VALIDATION_CLIENTS=${VALIDATION_CLIENTS:-5}
VALIDATION_FRACTION=${VALIDATION_FRACTION:-0.1}
RUNS_DIR=${RUNS_DIR:-runs/tune}
SIM=${SIM:-build/bin/fedjets-sim}
[[ -x $SIM ]] || { echo "tune.sh: $SIM not built; run scripts/build.sh" >&2; exit 1; }
[[ $VALIDATION_CLIENTS -ge 1 ]] ||
  { echo "tune.sh: VALIDATION_CLIENTS must be >= 1 to tune honestly" >&2; exit 2; }

# One number of the run's `end` event (a fraction), or nothing.
end_value() {
  grep -E '"event": ?"end"' "$1/metrics.jsonl" 2>/dev/null | tail -1 |
    sed -n "s/.*\"$2\": \?\([-0-9.eE+]*\).*/\1/p"
}

name=${flag#--}
table="$RUNS_DIR/$name.txt"
mkdir -p "$RUNS_DIR"
rows=()
for value in $values; do
  val_sum=0 unseen_sum=0 n=0
  for seed in $SEEDS; do
    dir="$RUNS_DIR/$name-$value/seed$seed"
    if [[ -z ${FORCE:-} && -n $(end_value "$dir" validation_accuracy) ]]; then
      echo "= $dir finished already; skipped (FORCE=1 reruns it)"
    else
      rm -rf "$dir"
      mkdir -p "$(dirname "$dir")"
      echo "+ $SIM $flag $value --seed $seed --validation-clients $VALIDATION_CLIENTS ... $*"
      if ! "$SIM" "$@" "$flag" "$value" --seed "$seed" \
          --validation-clients "$VALIDATION_CLIENTS" \
          --validation-fraction "$VALIDATION_FRACTION" --run-dir "$dir" \
          > "$dir.log" 2>&1; then
        echo "tune.sh: the run for $flag $value, seed $seed failed (log: $dir.log):" >&2
        tail -5 "$dir.log" >&2
        exit 1
      fi
    fi
    v=$(end_value "$dir" validation_accuracy)
    u=$(end_value "$dir" unseen_accuracy)
    [[ -n $v ]] || { echo "tune.sh: $dir/metrics.jsonl has no validation_accuracy" >&2; exit 1; }
    val_sum=$(awk -v a="$val_sum" -v b="$v" 'BEGIN { print a + b }')
    unseen_sum=$(awk -v a="$unseen_sum" -v b="${u:-nan}" 'BEGIN { print a + b }')
    n=$((n + 1))
  done
  rows+=("$value $(awk -v s="$val_sum" -v n="$n" 'BEGIN { printf "%.2f", 100 * s / n }') $(awk -v s="$unseen_sum" -v n="$n" 'BEGIN { printf "%.2f", 100 * s / n }')")
done

# The first value with the highest mean validation accuracy wins.
chosen=$(printf '%s\n' "${rows[@]}" |
  awk '$2 + 0 > best || NR == 1 { best = $2 + 0; value = $1 } END { print value }')
{
  echo "# $flag chosen by final validation_accuracy, mean over seeds $SEEDS:"
  echo "# $VALIDATION_CLIENTS validation clients drawn like the unseen ones from"
  echo "# --validation-fraction $VALIDATION_FRACTION of the training split (no client"
  echo "# trains on it); unseen = the test clients, reported, never used to choose."
  echo "# fedjets-sim $* (runs in $RUNS_DIR)"
  printf '%-12s %10s %10s\n' value validation unseen
  for row in "${rows[@]}"; do
    read -r value v u <<< "$row"
    mark=""
    [[ $value == "$chosen" ]] && mark="  <- chosen"
    printf '%-12s %10s %10s%s\n' "$value" "$v" "$u" "$mark"
  done
} | tee "$table"
