#!/usr/bin/env bash
# Checkpoint and resume, bit for bit (issue #13). A simulated run whose
# coordinator is stopped after a random round -- SIGKILL (a crash) or
# SIGTERM (a graceful stop: exit 0 after a checkpoint) -- then resumed
# with `fedjets-sim --resume RUN_DIR` must end with exactly the model bytes
# of the same run never interrupted. Before resuming, the newest checkpoint
# is torn, so the resume must fall back to the one before it and say so.
# Rounds take 10-30 ms, so the run is long (30 rounds) and the poll waits
# for any checkpoint of round >= k: the one of round k itself is pruned two
# rounds later and a 50 ms poll could miss it.
#   resume_test.sh BIN_DIR WORK_DIR fedavg|fedjets kill|term
set -euo pipefail
bin=$1 work=$2 algo=$3 how=$4
rm -rf "$work"
mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }

rounds_total=30
args=(--algorithm "$algo" --model mlp --hidden 32 --clients 8 --processes 2
  --clients-per-round 4 --rounds $rounds_total --max-examples 200 --eval-examples 300
  --batch-size 32 --lr 0.05 --threads 1 --seed 5)
if [[ $algo == fedjets ]]; then
  args+=(--partition grouped --num-experts 3 --top-k 2
    --common-expert examples:1000:epochs:1 --eval-client-examples 50
    --common-expert-cache "$work/cache")
else
  args+=(--partition iid)
fi

"$bin/fedjets-sim" "${args[@]}" --run-dir "$work/whole" >"$work/whole.out" 2>&1 ||
  { cat "$work/whole.out"; fail "the uninterrupted run failed"; }

# The same run, stopped once a round >= k (2 or 3) has its checkpoint.
k=$((2 + RANDOM % 2))
cut=$work/cut
"$bin/fedjets-sim" "${args[@]}" --run-dir "$cut" >"$work/cut.out" 2>&1 &
sim=$!
newest_round() {
  local f
  f=$(ls "$cut"/checkpoints/round-*.ckpt 2>/dev/null | tail -1)
  [[ -n $f ]] || { echo 0; return; }
  f=${f##*/round-}
  echo $((10#${f%.ckpt}))
}
for _ in $(seq 1 1200); do
  (($(newest_round) >= k)) && break
  sleep 0.05
done
(($(newest_round) >= k)) ||
  { kill $sim 2>/dev/null; cat "$work/cut.out"; fail "no checkpoint of a round >= $k"; }
signal=KILL
[[ $how == term ]] && signal=TERM
pkill -$signal -f "fedjets-coordinator .*--run-dir $cut" ||
  echo "note: the run finished before the signal; resuming it all the same"
sim_status=0
wait $sim || sim_status=$?
echo "stopped with SIG$signal after round >= $k (newest checkpoint: round $(newest_round)); fedjets-sim exited $sim_status"
if [[ $how == term ]]; then
  ((sim_status == 0)) || { cat "$work/cut.out"; fail "SIGTERM: the coordinator did not exit 0"; }
fi
newest=$(ls "$cut"/checkpoints/*.ckpt | tail -1)
count=$(ls "$cut"/checkpoints/*.ckpt | wc -l)
# The coordinator keeps the newest 2: it writes round r's checkpoint, then
# removes the oldest. A SIGKILL between the two leaves 3, which the resume
# must take as well; a graceful stop always leaves 2.
if [[ $how == kill ]]; then
  ((count == 2 || count == 3)) || fail "expected 2 or 3 checkpoints after SIGKILL, found $count"
else
  ((count == 2)) || fail "expected the newest 2 checkpoints, found $count"
fi
truncate -s 100 "$newest"

"$bin/fedjets-sim" --resume "$cut" >"$work/resume.out" 2>&1 ||
  { cat "$work/resume.out"; fail "the resumed run failed"; }
grep -q "skipping checkpoint $newest" "$work/resume.out" ||
  { cat "$work/resume.out"; fail "no warning about the torn checkpoint"; }

models=(model.pt)
[[ $algo == fedjets ]] && models=(common_expert.pt gate.pt expert-0.pt expert-1.pt expert-2.pt)
for m in "${models[@]}"; do
  cmp "$work/whole/$m" "$cut/$m" || fail "$m differs from the uninterrupted run's"
done
count=$(ls "$cut"/checkpoints/*.ckpt | wc -l)
((count == 2)) || fail "the resumed run left $count checkpoints (want the newest 2)"
rounds=$(grep -c '"event":"round"' "$cut/metrics.jsonl")
starts=$(grep -c '"event":"start"' "$cut/metrics.jsonl")
((rounds == rounds_total && starts == 1)) ||
  fail "metrics.jsonl holds $rounds round events and $starts start events (want $rounds_total and 1)"
echo "PASS: $algo, SIG$signal, resumed: ${models[*]} identical to the uninterrupted run's"
