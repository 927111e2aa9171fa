#!/usr/bin/env bash
# Reconnect (issue #13): a coordinator killed (SIGKILL) under connected
# clients and restarted with --resume on the same port is joined again by
# the same client processes on their own, with back-off; the run continues
# and ends with exactly the model bytes of a run never interrupted.
#   reconnect_test.sh BIN_DIR WORK_DIR
set -euo pipefail
bin=$1 work=$2
rm -rf "$work"
mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
pids=()
cleanup() { kill -9 "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT

"$bin/fedjets-certs" run --dir "$work/certs" --clients 4 --host localhost >/dev/null
tls() { echo --ca "$work/certs/ca.pem" --cert "$work/certs/$1.pem" --key "$work/certs/$1.key"; }
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
coordinator() {  # coordinator RUN_DIR PORT [extra flags...]; run it with &: it execs
  local run=$1 port=$2
  shift 2
  exec "$bin/fedjets-coordinator" --host 127.0.0.1 --port "$port" --run-dir "$run" \
    --rounds 8 --min-clients 4 --clients-per-round 2 --algorithm fedavg \
    --model cnn --lr 0.05 --eval-examples 300 --threads 1 \
    --seed 3 --log-level warn $(tls coordinator) "$@"
}
clients() {  # clients PORT LOG_PREFIX: four processes, one client each
  local p
  for p in 0 1 2 3; do
    "$bin/fedjets-client" --host 127.0.0.1 --port "$1" --server-name localhost \
      --partition iid --num-shards 4 --shards "$p" --max-examples 1000 \
      --threads 1 --connect-timeout 60 $(tls client-$p) >"$2-client-$p.log" 2>&1 &
    pids+=($!)
  done
}

# The run never interrupted.
port=$(free_port)
coordinator "$work/whole" "$port" >"$work/whole.log" 2>&1 &
pids+=($!)
clients "$port" "$work/whole"
wait "${pids[@]}" || fail "the uninterrupted run failed (see $work/whole*.log)"
pids=()

# The same run; the coordinator is killed once round 2 is checkpointed and
# restarted on the same port while the clients wait.
port=$(free_port)
coordinator "$work/cut" "$port" >"$work/cut.log" 2>&1 &
coord=$!
pids+=($coord)
clients "$port" "$work/cut"
client_pids=("${pids[@]:1}")
for _ in $(seq 1 1200); do
  [[ -f $work/cut/checkpoints/round-000002.ckpt ]] && break
  sleep 0.05
done
[[ -f $work/cut/checkpoints/round-000002.ckpt ]] || fail "no checkpoint of round 2"
kill -0 $coord 2>/dev/null || fail "the run ended before it could be killed: make rounds longer"
kill -9 $coord
wait $coord || true
sleep 1
"$bin/fedjets-coordinator" --resume "$work/cut" >"$work/resumed.log" 2>&1 &
coord=$!
pids=($coord "${client_pids[@]}")
wait $coord || { cat "$work/resumed.log"; fail "the resumed coordinator failed"; }
for p in "${client_pids[@]}"; do
  wait "$p" || { cat "$work"/cut-client-*.log; fail "a client process did not finish the run"; }
done
grep -q "joining again" "$work"/cut-client-*.log || fail "no client logged joining again"
grep -q "resumes after round" "$work/resumed.log" || true
cmp "$work/whole/model.pt" "$work/cut/model.pt" ||
  fail "model.pt differs from the uninterrupted run's"
rounds=$(grep -c '"event":"round"' "$work/cut/metrics.jsonl")
((rounds == 8)) || fail "metrics.jsonl holds $rounds round events, want 8"
echo "PASS: the clients joined the restarted coordinator; model.pt identical"
