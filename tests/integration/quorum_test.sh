#!/usr/bin/env bash
# Deadlines, quorum and late joiners (issue #13; docs/OPERATIONS.md,
# "Deadlines and quorum"), with real processes on loopback: a coordinator
# and one fedjets-client process per client, so that each client can be
# killed, stopped or started late on its own.
#   quorum_test.sh BIN_DIR WORK_DIR SCENARIO
# SCENARIO:
#   kill          6 clients, 2 of them SIGKILLed mid-run: rounds close on
#                 quorum, metrics.jsonl records the drops, and the killed
#                 clients, restarted, are sampled again
#   stale         a client stopped (SIGSTOP) past --round-timeout: its round
#                 closes without it, its update is refused as stale, and it
#                 trains in a later round
#   stale-heartbeats  the same with heartbeats between rounds on
#                 (--client-silence-timeout 10): the late client is not
#                 pinged while its update is read, nor dropped for it, and
#                 its heartbeats start again afterwards
#   retry         the same below quorum: the attempt fails and the round is
#                 tried again, with the client once it is free
#   retry-streaming  the same with --streaming-aggregation: the failed
#                 attempt's folded updates are discarded, the stale one is
#                 never folded, and every round aggregates
#   stop          a client that stays stopped: after --max-failed-rounds
#                 attempts the coordinator stops with a checkpoint and exit
#                 status 3, and --resume completes the run
#   late-fedavg   a client joins after round 1 and is sampled later
#   late-fedjets  an anchor and a normal client join after round 1 and are
#                 sampled later, each in its role
set -euo pipefail
bin=$1 work=$2 scenario=$3
rm -rf "$work"
mkdir -p "$work"
run=$work/run
fail() {
  echo "FAIL: $*"
  tail -n 30 "$work/coordinator.log" || true
  exit 1
}
declare -A client_pid
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill -CONT "$p" 2>/dev/null || true
    kill -9 "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT

"$bin/fedjets-certs" run --dir "$work/certs" --clients 6 --host localhost >/dev/null
tls() { echo --ca "$work/certs/ca.pem" --cert "$work/certs/$1.pem" --key "$work/certs/$1.key"; }
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)

# A small model: a round's training takes well under --round-timeout
# even on a loaded machine. A round then takes 10-30 ms, so the scenarios
# that stop or kill a client once a round has ended (polled every 0.1 s),
# or let one join mid-run (its TLS handshake and Hello come after the
# coordinator is let go), run 100 rounds: the run cannot end before the
# test acts or the late client has joined.
model=(--model mlp --hidden 16 --lr 0.05 --batch-size 32)
layout=(--partition iid)
client_layout=(--partition iid --max-examples 300)
num_shards=6
start_coordinator() {  # start_coordinator FLAG...; sets $coord
  "$bin/fedjets-coordinator" --host 127.0.0.1 --port "$port" --run-dir "$run" \
    "${model[@]}" "${layout[@]}" --eval-examples 300 --threads 1 --seed 3 \
    $(tls coordinator) "$@" >>"$work/coordinator.log" 2>&1 &
  coord=$!
  pids+=("$coord")
}
start_client() {  # start_client SHARD [FLAG...]: one process, one client
  local shard=$1
  shift
  "$bin/fedjets-client" --host 127.0.0.1 --port "$port" --server-name localhost \
    "${client_layout[@]}" --num-shards "$num_shards" --shards "$shard" --threads 1 \
    --connect-timeout 60 $(tls "client-$shard") "$@" >>"$work/client-$shard.log" 2>&1 &
  client_pid[$shard]=$!
  pids+=("$!")
}
connected() { ls -l "/proc/$1/fd" 2>/dev/null | grep -q socket; }
# Starts clients SHARD... while the coordinator is held (SIGSTOP) until each
# has connected, so that they join mid-run however long they take to load
# their data and however short the rounds are.
join_mid_run() {
  kill -STOP "$coord"
  local p
  for p in "$@"; do start_client "$p" --handshake-timeout 300; done
  for p in "$@"; do
    wait_for 300 connected "${client_pid[$p]}" || fail "client $p never connected"
  done
  kill -CONT "$coord"
}
# The newest checkpoint's round (0 when there is none).
rounds_done() {
  local newest
  newest=$(ls "$run"/checkpoints/round-*.ckpt 2>/dev/null | tail -n 1)
  [[ -n $newest ]] || { echo 0; return; }
  newest=${newest##*round-}
  echo $((10#${newest%.ckpt}))
}
after_round() { (($(rounds_done) >= $1)); }
in_log() { grep -q -- "$1" "$work/coordinator.log"; }
wait_for() {  # wait_for SECONDS COMMAND...: polls until COMMAND succeeds
  local end=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < end)) || return 1
    kill -0 "$coord" 2>/dev/null || { echo "the coordinator ended"; return 1; }
    sleep 0.1
  done
}
finish_ok() {  # the coordinator and every client process exit 0
  wait "$coord" || fail "the coordinator exited $?"
  local p
  for p in "${!client_pid[@]}"; do
    wait "${client_pid[$p]}" || { cat "$work/client-$p.log"; fail "client $p exited $?"; }
  done
}
# Runs Python CHECKS over metrics.jsonl, with `events(kind)`, `rounds`
# (the round events), `updates_of(client)` and `expect(cond, what)`.
check_metrics() {
  /usr/bin/python3 - "$run/metrics.jsonl" "$1" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
def events(kind): return [e for e in lines if e["event"] == kind]
def updates_of(client): return [e["round"] for e in events("update") if e["client"] == client]
def expect(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)
rounds = events("round")
exec(sys.argv[2])
EOF
}

case $scenario in
kill)
  start_coordinator --rounds 100 --min-clients 6 --min-update-fraction 0.5 \
    --round-timeout 60 --client-silence-timeout 0
  for p in 0 1 2 3 4 5; do start_client "$p"; done
  wait_for 180 after_round 2 || fail "round 2 never ended"
  kill -9 "${client_pid[4]}" "${client_pid[5]}"
  wait "${client_pid[4]}" "${client_pid[5]}" 2>/dev/null || true
  # Restarted once the coordinator has dropped them (a second session
  # under a live name is refused).
  wait_for 120 in_log "client 'client-4' dropped" || fail "client-4 was not dropped"
  wait_for 120 in_log "client 'client-5' dropped" || fail "client-5 was not dropped"
  join_mid_run 4 5
  finish_ok
  check_metrics '
expect([r["round"] for r in rounds] == list(range(1, 101)), f"round events {rounds}")
expect(not events("round_failed"), "an attempt failed: " + str(events("round_failed")))
expect(sum(r.get("clients_dropped", 0) for r in rounds) == 2,
       "want 2 drops recorded: " + str([r.get("clients_dropped") for r in rounds]))
dropped = max(r["round"] for r in rounds if r.get("clients_dropped"))
expect(all(r["clients_reported"] >= 3 for r in rounds), "a round below quorum")
for c in ["client-4", "client-5"]:
    later = [r for r in updates_of(c) if r > dropped]
    expect(later, f"{c} never trained after round {dropped}: {updates_of(c)}")
expect(len(events("end")) == 1, "no end event")
print(f"dropped in round {dropped}; rejoined and trained again")
'
  ;;
stale | stale-heartbeats | retry | retry-streaming)
  quorum=(--min-updates 2)
  [[ $scenario == retry* ]] && quorum=(--min-updates 3)
  streaming=()
  [[ $scenario == retry-streaming ]] && streaming=(--streaming-aggregation)
  # Longer than client-2 is stopped (about --round-timeout).
  silence=0
  [[ $scenario == stale-heartbeats ]] && silence=10
  start_coordinator --rounds 100 --min-clients 3 "${quorum[@]}" --round-timeout 4 \
    --client-silence-timeout "$silence" --wait-timeout 60 "${streaming[@]}"
  for p in 0 1 2; do start_client "$p"; done
  wait_for 180 after_round 1 || fail "round 1 never ended"
  kill -STOP "${client_pid[2]}"
  wait_for 60 in_log "without 1 of its 3 clients" || fail "no round closed without the stopped client"
  kill -CONT "${client_pid[2]}"
  wait_for 60 in_log "update of client 'client-2' for round .* rejected as stale" ||
    fail "no stale update logged"
  finish_ok
  grep -q "joining again" "$work/client-2.log" && fail "client-2 lost its connection"
  in_log "dropped" && fail "a client was dropped"
  check_metrics '
late = [r for r in rounds if r.get("clients_late")]
failed = events("round_failed")
expect([r["round"] for r in rounds] == list(range(1, 101)), f"round events {rounds}")
stale = sum(e.get("updates_rejected", {}).get("stale", 0) for e in rounds + failed)
expect(stale == 1, f"want 1 stale update counted, got {stale}")
stale_events = [e for e in events("update_rejected") if e["reason"] == "stale"]
expect(len(stale_events) == 1 and stale_events[0]["client"] == "client-2",
       f"stale update_rejected events {stale_events}")
if not "'"$scenario"'".startswith("retry"):
    expect(len(late) == 1 and late[0]["clients_reported"] == 2, f"late rounds {late}")
    closed = late[0]["round"]
    expect(not failed, f"failed attempts {failed}")
else:
    expect(not late, f"late rounds {late}")
    expect(len(failed) >= 1 and failed[0]["clients_late"] == 1 and failed[0]["quorum"] == 3,
           f"failed attempts {failed}")
    closed = failed[0]["round"]
    retried = [r for r in rounds if r["round"] == closed][0]
    expect(retried.get("attempts", 1) == len(failed) + 1 and retried["clients_reported"] == 3,
           f"round {closed}: {retried}")
trained = updates_of("client-2")
later = [r for r in trained if r > closed]
expect(later, f"client-2 never trained after round {closed}: {trained}")
print(f"round {closed} closed without client-2; its update was stale; it trained in rounds {later}")
'
  ;;
stop)
  start_coordinator --rounds 100 --min-clients 3 --min-updates 3 --round-timeout 3 \
    --client-silence-timeout 0 --wait-timeout 2 --max-failed-rounds 3
  for p in 0 1 2; do start_client "$p"; done
  wait_for 180 after_round 2 || fail "round 2 never ended"
  kill -STOP "${client_pid[2]}"
  status=0
  wait "$coord" || status=$?
  ((status == 3)) || fail "the coordinator exited $status, want 3 (stopped below quorum)"
  in_log "stopped below quorum: round [0-9]* failed 3 attempts in a row" ||
    fail "no stop message"
  kill -9 "${client_pid[2]}"
  for p in 0 1 2; do wait "${client_pid[$p]}" 2>/dev/null || true; done
  stopped_at=$(rounds_done)
  check_metrics '
failed = events("round_failed")
expect([f["attempt"] for f in failed] == [1, 2, 3], f"attempts {failed}")
expect(len({f["round"] for f in failed}) == 1, "attempts of several rounds")
expect(failed[0]["round"] == '"$stopped_at"' + 1, "the checkpoint is not the round before")
expect(not events("end"), "an end event")
'
  # The stop kept a checkpoint: the run resumes and completes.
  port=$(free_port)
  start_coordinator --resume "$run" --wait-timeout 120
  for p in 0 1 2; do start_client "$p"; done
  finish_ok
  in_log "resumes after round $stopped_at" || fail "did not resume after round $stopped_at"
  check_metrics '
expect([r["round"] for r in rounds] == list(range(1, 101)), f"round events {rounds}")
expect(len(events("round_failed")) == 3 and len(events("end")) == 1, "events after resume")
'
  ;;
late-fedavg | late-fedjets)
  first=(0) late=(1)
  if [[ $scenario == late-fedjets ]]; then
    layout=(--partition grouped --num-clients 6 --algorithm fedjets --num-experts 3
      --top-k 2 --common-expert examples:1000:epochs:1 --eval-client-examples 50)
    client_layout=(--partition grouped --num-experts 3 --max-examples 300)
    first=(0 3) late=(1 4)  # shards 0-2 anchor experts 0-2; 3-5 are normal
  fi
  start_coordinator --rounds 100 --min-clients "${#first[@]}" --client-silence-timeout 0
  for p in "${first[@]}"; do start_client "$p"; done
  wait_for 300 after_round 1 || fail "round 1 never ended"
  join_mid_run "${late[@]}"
  finish_ok
  check_metrics '
expect([r["round"] for r in rounds] == list(range(1, 101)), f"round events {rounds}")
algorithm = "'"${scenario#late-}"'"
# fedjets: client-1 anchors expert 1, client-4 is a normal client.
want = {"client-1": {"anchor"}, "client-4": {"normal"}} if algorithm == "fedjets" else {"client-1": {None}}
for c, roles_wanted in want.items():
    rs = updates_of(c)
    expect(rs and min(rs) >= 2, f"{c} trained in rounds {rs}")
    roles = {e.get("role") for e in events("update") if e["client"] == c}
    expect(roles == roles_wanted, f"{c} roles {roles}, want {roles_wanted}")
    print(f"{c} joined late and trained in rounds {rs} as {roles}")
expect(max(r["clients_sampled"] for r in rounds) == 2 * len(want), "late joiners not sampled")
'
  ;;
*)
  fail "unknown scenario '$scenario'"
  ;;
esac
echo "PASS: $scenario"
