#!/usr/bin/env bash
# Heartbeats between rounds and client signals (issue #13), with real
# fedjets-coordinator and fedjets-client processes on loopback, mutual TLS.
# The coordinator runs with --client-silence-timeout 2: it pings waiting
# clients every 0.5 s, drops one silent for 2 s, and clients take a
# coordinator silent for 2 s for gone. --min-clients 3 keeps the first
# clients waiting between rounds (before round 1) while the test acts.
#   heartbeat_signals_test.sh BIN_DIR WORK_DIR CASE
# CASE:
#   client_frozen       a client stopped (SIGSTOP) is dropped; continued
#                       (SIGCONT), it joins again under its name
#   coordinator_frozen  a stopped coordinator is found by its clients: one
#                       with --no-reconnect exits with a clear message, one
#                       joins again once the coordinator continues
#   client_signals      SIGTERM: a waiting client says goodbye and exits 0,
#                       and its name is free at once; a training client
#                       finishes its round first; a second signal exits at
#                       once (128 + 15)
# Every wait is bounded (wait_for); no timing is asserted.
set -euo pipefail
bin=$1 work=$2 case=$3
rm -rf "$work"
mkdir -p "$work"
fail() {
  echo "FAIL: $*"
  for f in "$work"/*.log; do echo "----- $f"; cat "$f"; done
  exit 1
}
pids=()
cleanup() { kill -CONT "${pids[@]}" 2>/dev/null || true; kill -9 "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT

"$bin/fedjets-certs" run --dir "$work/certs" --clients 3 --host localhost >/dev/null
tls() { echo --ca "$work/certs/ca.pem" --cert "$work/certs/$1.pem" --key "$work/certs/$1.key"; }

# wait_for FILE REGEX [SECONDS]: until FILE has a line matching REGEX.
wait_for() {
  local limit=${3:-60}
  for _ in $(seq 1 $((limit * 10))); do
    grep -Eq "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "$1 shows no line matching '$2' within $limit s"
}
# wait_exit PID [SECONDS]: until the process ended; sets $status to its
# exit status (not in a subshell: only this shell can wait for it).
status=0
wait_exit() {
  local limit=${2:-60}
  for _ in $(seq 1 $((limit * 10))); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$1" 2>/dev/null && fail "process $1 still runs after $limit s"
  status=0
  wait "$1" || status=$?
}
coord_pid=
start_coordinator() {  # ROUNDS [extra flags...]
  local rounds=$1
  shift
  "$bin/fedjets-coordinator" --host 127.0.0.1 --port 0 \
    --port-file "$work/port" --run-dir "$work/run" --rounds "$rounds" --min-clients 3 \
    --model mlp --hidden 16 --eval-examples 200 --threads 1 --seed 1 \
    --client-silence-timeout 2 --wait-timeout 120 $(tls coordinator) "$@" \
    >"$work/coordinator.log" 2>&1 &
  coord_pid=$!
  pids+=("$coord_pid")
  wait_for "$work/port" '^[0-9]+$' 120
}
declare -A client_pid
# start_client P LOG [extra flags...]: client-P on shard P (EXAMPLES
# examples, default 200), output to LOG.log
start_client() {
  local p=$1 log=$2
  shift 2
  "$bin/fedjets-client" --host 127.0.0.1 --port "$(cat "$work/port")" \
    --server-name localhost --partition iid --num-shards 3 --shards "$p" \
    --max-examples "${EXAMPLES:-200}" --threads 1 $(tls "client-$p") "$@" \
    >"$work/$log.log" 2>&1 &
  client_pid[$p]=$!
  pids+=("$!")
}
joined() { grep -c "client 'client-$1' joined" "$work/coordinator.log" || true; }
expect_run_completed() {  # ROUNDS REPORTED
  wait_exit "$coord_pid" 120
  ((status == 0)) || fail "the coordinator exited $status"
  local rounds
  rounds=$(grep -c '"event":"round"' "$work/run/metrics.jsonl" || true)
  ((rounds == $1)) || fail "metrics.jsonl holds $rounds round events, want $1"
  local full  # metrics.jsonl's keys are sorted
  full=$(grep '"event":"round"' "$work/run/metrics.jsonl" |
    grep -c "\"clients_reported\":$2," || true)
  ((full == $1)) || fail "not every round had $2 updates"
}

case $case in
client_frozen)
  start_coordinator 2
  start_client 0 client-0
  start_client 1 client-1
  wait_for "$work/coordinator.log" "client 'client-0' joined"
  wait_for "$work/coordinator.log" "client 'client-1' joined"
  kill -STOP "${client_pid[0]}"
  wait_for "$work/coordinator.log" \
    "client 'client-0' dropped: .*silent for 2 s between rounds \(--client-silence-timeout\)" 60
  kill -CONT "${client_pid[0]}"
  wait_for "$work/client-0.log" "lost the coordinator .*joining again" 60
  for _ in $(seq 1 600); do (($(joined 0) == 2)) && break; sleep 0.1; done
  (($(joined 0) == 2)) || fail "client-0 did not join again"
  grep -q "client 'client-1' dropped" "$work/coordinator.log" &&
    fail "client-1, never stopped, was dropped"
  start_client 2 client-2
  expect_run_completed 2 3
  for p in 0 1 2; do
    wait_exit "${client_pid[$p]}" 60
    ((status == 0)) || fail "client-$p exited $status"
  done
  echo "PASS: the frozen client was dropped, then joined again and trained"
  ;;
coordinator_frozen)
  start_coordinator 2
  start_client 0 client-0 --no-reconnect
  start_client 1 client-1 --connect-timeout 120
  wait_for "$work/client-0.log" "joined run"
  wait_for "$work/client-1.log" "joined run"
  kill -STOP "$coord_pid"
  wait_exit "${client_pid[0]}" 60
  ((status == 1)) || fail "client-0 (--no-reconnect) exited $status, want 1"
  grep -q "the coordinator sent nothing for 2 s (Welcome.silence_seconds): taken for gone" \
    "$work/client-0.log" || fail "client-0 does not say the coordinator went silent"
  wait_for "$work/client-1.log" "lost the coordinator .*sent nothing for 2 s.*joining again" 60
  kill -CONT "$coord_pid"
  start_client 0 client-0-again
  start_client 2 client-2
  expect_run_completed 2 3
  for p in 0 1 2; do
    wait_exit "${client_pid[$p]}" 60
    ((status == 0)) || fail "client-$p exited $status"
  done
  n=$(grep -c "joined run" "$work/client-1.log")
  ((n == 2)) || fail "client-1 joined $n times, want 2 (once more after the freeze)"
  echo "PASS: both clients found the frozen coordinator; one exited, one joined again"
  ;;
client_signals)
  # 100 local epochs: a round takes long enough to signal a client while
  # it trains (if the signal comes after, it is a goodbye between rounds).
  # 500 rounds: the run must still be on when client-1 joins a third time
  # (rounds of the two other clients take about 0.15 s; 20 rounds were
  # sometimes over before it had loaded its shard). The coordinator is
  # stopped by SIGTERM at the end.
  start_coordinator 500 --local-epochs 100
  start_client 0 client-0
  start_client 1 client-1 --log-level debug
  wait_for "$work/coordinator.log" "client 'client-0' joined"
  wait_for "$work/coordinator.log" "client 'client-1' joined"
  # The coordinator logs the join before the client has read its Welcome:
  # a signal in between would end a client that has not joined yet.
  wait_for "$work/client-0.log" "joined run"
  # Waiting between rounds: goodbye, exit 0, and the name is free at once.
  kill -TERM "${client_pid[0]}"
  wait_exit "${client_pid[0]}" 60
  ((status == 0)) || fail "client-0 exited $status after SIGTERM, want 0"
  grep -q "said goodbye to the coordinator after 0 rounds" "$work/client-0.log" ||
    fail "client-0 did not say goodbye"
  start_client 0 client-0-again
  wait_for "$work/coordinator.log" \
    "client 'client-0' said goodbye between rounds: .*client stopped \(signal 15\)"
  for _ in $(seq 1 600); do (($(joined 0) == 2)) && break; sleep 0.1; done
  (($(joined 0) == 2)) || fail "client-0, restarted, did not join again"
  # Training in round 1: it finishes the round, then says goodbye.
  start_client 2 client-2
  wait_for "$work/client-1.log" "round 1: task received, training"
  kill -TERM "${client_pid[1]}"
  wait_exit "${client_pid[1]}" 120
  ((status == 0)) || fail "client-1 exited $status after SIGTERM in a round, want 0"
  grep -q "round 1: trained on" "$work/client-1.log" ||
    fail "client-1 did not finish round 1"
  grep -q "said goodbye to the coordinator after 1 rounds" "$work/client-1.log" ||
    fail "client-1 did not say goodbye after its round"
  grep -q '"client":"client-1","event":"update","round":1,' "$work/run/metrics.jsonl" ||
    fail "the coordinator did not count client-1's round-1 update"
  # Training again, on its whole shard (20000 examples x 100 epochs: far
  # longer than the test): a second signal exits at once.
  EXAMPLES=0 start_client 1 client-1-again --log-level debug
  wait_for "$work/client-1-again.log" "round [0-9]+: task received, training" 120
  kill -TERM "${client_pid[1]}"
  wait_for "$work/client-1-again.log" "signal 15 received: leaving the run"
  kill -TERM "${client_pid[1]}"
  wait_exit "${client_pid[1]}" 60
  ((status == 143)) || fail "client-1 exited $status after a second SIGTERM, want 143"
  grep -q "second signal 15: exiting now" "$work/client-1-again.log" ||
    fail "client-1 does not say it exits at once"
  kill -TERM "$coord_pid" 2>/dev/null || true  # it may have finished
  wait_exit "$coord_pid" 120
  ((status == 0)) || fail "the coordinator exited $status after SIGTERM"
  echo "PASS: goodbye between rounds, after a round, and exit at a second signal"
  ;;
*)
  echo "unknown case '$case'"
  exit 2
  ;;
esac
