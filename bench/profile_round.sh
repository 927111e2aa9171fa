#!/usr/bin/env bash
# Where a fedjets round's time goes (issue 15; docs/PERFORMANCE.md, "fedjets
# vs a plain PyTorch loop"): runs fedjets-sim as bench/compare.sh does for a
# figure, and once round 2 is over
#   - records the coordinator and client processes with `perf record -g`
#     for SECONDS seconds (rounds 3 on, steady state), and
#   - reads each process's CPU time (user and system, /proc/PID/stat) at
#     the end of round 2 and of the last round but one,
# then prints CPU seconds per round for each process next to the rounds'
# wall time, and the perf profile's top symbols per process.
#
#   bash bench/profile_round.sh [--figure 1|2] [--rounds R] [--seconds S]
#                               [--out DIR]
#
# Needs perf (Debian linux-perf) and root or kernel.perf_event_paranoid <= 1.
set -euo pipefail
cd "$(dirname "$0")/.."
figure=1 rounds=8 seconds=4 out=runs/profile-$(date +%Y%m%d-%H%M%S)
while (($#)); do
  case $1 in
    --figure) figure=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --seconds) seconds=$2; shift ;;
    --out) out=$2; shift ;;
    *) echo "usage: bench/profile_round.sh [--figure 1|2] [--rounds R]" \
         "[--seconds S] [--out DIR]" >&2; exit 2 ;;
  esac
  shift
done
bin=${FEDJETS_BIN_DIR:-build/bin}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}  # as bench/compare.sh
case $figure in
  1) args="--model mlp --clients 1000 --clients-per-round 100 --processes 2 --threads 1" ;;
  2) args="--model cnn --clients 100 --clients-per-round 10 --processes 1 --threads 2" ;;
  *) echo "unknown figure $figure" >&2; exit 2 ;;
esac
mkdir -p "$out"
out=$(cd "$out" && pwd)
run=$out/run metrics=$run/metrics.jsonl log=$out/sim.log
rounds_done() {
  local n
  n=$(grep -c '"event":"round"' "$metrics" 2>/dev/null || true)
  echo "${n:-0}"
}

# shellcheck disable=SC2086
"$bin/fedjets-sim" $args --rounds "$rounds" --eval-every "$rounds" \
  --seed 1 --run-dir "$run" >"$log" 2>&1 &
sim=$!
until (($(rounds_done) >= 2)); do
  kill -0 "$sim" 2>/dev/null || { echo "fedjets-sim ended early; see $log" >&2; exit 1; }
  sleep 0.1
done
pids=$(pgrep -P "$sim" | paste -sd,)
# utime + stime in clock ticks, per process.
cpu_ticks() {
  for p in ${pids//,/ }; do
    echo "$p $(awk '{print $14 + $15}' "/proc/$p/stat") $(tr '\0' ' ' <"/proc/$p/cmdline" | cut -d' ' -f1 | xargs basename)"
  done
}
cpu_ticks >"$out/cpu-start.txt"
start_round=$(rounds_done)
perf record -g -o "$out/perf.data" -p "$pids" -- sleep "$seconds" \
  >"$out/perf-record.log" 2>&1
until (($(rounds_done) >= rounds - 1)); do sleep 0.05; done
end_round=$(rounds_done)
cpu_ticks >"$out/cpu-end.txt"
wait "$sim" || { echo "fedjets-sim failed; see $log" >&2; exit 1; }

hz=$(getconf CLK_TCK)
wall=$(jq -s --argjson a "$start_round" --argjson b "$end_round" \
  '[.[] | select(.event == "round" and .round > $a and .round <= $b) | .seconds] | add' \
  "$metrics")
n=$((end_round - start_round))
awk -v w="$wall" -v n="$n" -v a=$((start_round + 1)) -v b="$end_round" \
  'BEGIN { printf "rounds %d-%d: %.3f s wall per round\n", a, b, w / n }'
awk -v hz="$hz" -v n="$n" 'NR == FNR { start[$1] = $2; next }
  { printf "  %-20s pid %-7s %.3f CPU s per round\n", $3, $1,
           ($2 - start[$1]) / hz / n }' "$out/cpu-start.txt" "$out/cpu-end.txt"
echo "perf profile (rounds $((start_round + 1)) on, $seconds s): $out/perf.data"
perf report -i "$out/perf.data" --no-children --sort comm,dso,sym \
  --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -40
