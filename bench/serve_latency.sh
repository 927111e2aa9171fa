#!/usr/bin/env bash
# Issue 15, target 6: just-in-time serving latency (docs/PERFORMANCE.md).
# Starts a FedJETs coordinator with --linger over mutual TLS on loopback
# (its common expert pretrained once and kept in
# runs/serve-latency-common-expert), trains it for 3 rounds with 7 clients
# (one fedjets-client process), and once the run is over and the
# coordinator only serves, starts a new serving client (`fedjets-client
# --serve`, shard 7: 200 examples no client trained on) RUNS times, one
# after the other, and times each one from process start to its accuracy.
#
#   bash bench/serve_latency.sh [--runs N] [--baseline-bin DIR] [--perf]
#                               [--out DIR] [--smoke]
#
# --baseline-bin DIR: also run the federation of DIR's fedjets-coordinator
#   and fedjets-client (e.g. a build of main) and alternate its serving
#   client with this build's, A B A B ..., so that both see the same load.
# --perf: also record each serving client with `perf record` (one sample
#   per CPU millisecond) and print its CPU time per phase and the profile's
#   shares by library (needs perf; kernel.perf_event_paranoid <= 1, or root,
#   for kernel samples). perf's start-up and its writing of the samples
#   count in the wall and exit times of such a run.
# --smoke: one serving client, a smaller common expert pretrained afresh,
#   everything in a temporary folder: checks that the whole path works and
#   the table comes out (ctest bench_serve_latency_smoke).
#
# Per run (milliseconds): wall_ms, from process start to the client's line
# with its accuracy (the first prediction; the accuracy is printed again
# on stdout once the client has left); exit_ms, to the process's end;
# cpu_ms, its CPU time (user + system); and the phases, from the
# timestamps of the client's --log-level debug lines: start (process start
# to main: loading LibTorch, the ~290 libraries it pulls in and their
# static initialisers), data (loading the local data), join (TCP and TLS
# handshake, Hello, Welcome), common (the common expert received, checked
# and loaded), gate (the gate received), embed (the local data through the
# common expert), experts (picked, requested and received), predict (the
# prediction, up to the accuracy line) and exit (leaving: Goodbye, threads
# joined, the accuracy printed, the process torn down). Then p50 and p90 of
# each column per client binary, and the load average before and after: on
# a shared machine the wall clock measures the scheduler as much as the
# client, so read the CPU column too.
# Environment: FEDJETS_BIN_DIR (default build/bin).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=20 baseline="" perf=0 smoke=0 out=""
while (($#)); do
  case $1 in
    --smoke) smoke=1 ;;
    --runs) runs=$2; shift ;;
    --baseline-bin) baseline=$(cd "$2" && pwd); shift ;;
    --perf) perf=1 ;;
    --out) out=$2; shift ;;
    *) echo "usage: bench/serve_latency.sh [--runs N] [--baseline-bin DIR]" \
         "[--perf] [--out DIR] [--smoke]" >&2; exit 2 ;;
  esac
  shift
done
bin=$(cd "${FEDJETS_BIN_DIR:-build/bin}" && pwd)
for b in fedjets-certs fedjets-coordinator fedjets-client; do
  [[ -x $bin/$b ]] || { echo "serve_latency.sh: $bin/$b not found" \
    "(bash scripts/build.sh fedjets-certs fedjets-coordinator" \
    "fedjets-client)" >&2; exit 1; }
done
for b in fedjets-coordinator fedjets-client; do
  [[ -z $baseline || -x $baseline/$b ]] ||
    { echo "serve_latency.sh: $baseline/$b not found" >&2; exit 1; }
done
common_expert=examples:2000:epochs:2
common_expert_cache=runs/serve-latency-common-expert
if ((smoke)); then
  runs=1 common_expert=examples:500:epochs:1
  [[ -n $out ]] || out=$(mktemp -d /tmp/fedjets-serve-latency-XXXXXX)
  common_expert_cache=$out/common-expert
fi
[[ -n $out ]] || out=runs/serve-latency-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
out=$(cd "$out" && pwd)
pki=$out/pki
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if ((smoke)); then rm -rf "$out"; fi
}
trap cleanup EXIT

# The federation: 8 shards of Fashion-MNIST in the grouped layout, 5
# experts (shards 0-4 anchor them), shards 0-6 train, shard 7 is served.
"$bin/fedjets-certs" ca --dir "$pki" >/dev/null
"$bin/fedjets-certs" node --ca-dir "$pki" --out "$pki" --name coordinator \
  --role server --host localhost >/dev/null
"$bin/fedjets-certs" node --ca-dir "$pki" --out "$pki" --name trainers \
  --role client $(for s in 0 1 2 3 4 5 6; do echo --client-name client-$s; done) >/dev/null
"$bin/fedjets-certs" node --ca-dir "$pki" --out "$pki" --name client-7 \
  --role client >/dev/null
tls() { echo --ca "$pki/ca.pem" --cert "$pki/$1.pem" --key "$pki/$1.key"; }
layout=(--partition grouped --num-shards 8 --num-experts 5 --max-examples 200)
declare -A port
# Starts the coordinator of BIN_DIR, trains it with that directory's client
# and waits until it only serves; sets port[TAG].
start_federation() {  # start_federation BIN_DIR TAG
  local dir=$1 tag=$2 coord
  "$dir/fedjets-coordinator" --host 127.0.0.1 --port 0 \
    --port-file "$out/port-$tag" --run-dir "$out/run-$tag" $(tls coordinator) \
    --algorithm fedjets --linger --rounds 3 --min-clients 7 \
    --partition grouped --num-clients 8 --num-experts 5 --model mlp \
    --hidden 64 --lr 0.05 --batch-size 32 \
    --common-expert "$common_expert" \
    --common-expert-cache "$common_expert_cache" \
    --eval-examples 500 --eval-client-examples 100 --threads 1 --seed 1 \
    >"$out/coordinator-$tag.log" 2>&1 &
  coord=$!
  pids+=("$coord")
  until [[ -s $out/port-$tag ]]; do
    kill -0 "$coord" 2>/dev/null ||
      { echo "the coordinator ended; see $out/coordinator-$tag.log" >&2; exit 1; }
    sleep 0.1
  done
  port[$tag]=$(cat "$out/port-$tag")
  "$dir/fedjets-client" --host 127.0.0.1 --server-name localhost \
    --port "${port[$tag]}" "${layout[@]}" --threads 1 \
    --shards 0,1,2,3,4,5,6 $(tls trainers) >"$out/trainers-$tag.log" 2>&1 &
  pids+=($!)
  until grep -q "serving just-in-time clients" "$out/coordinator-$tag.log"; do
    kill -0 "$coord" 2>/dev/null ||
      { echo "the coordinator ended; see $out/coordinator-$tag.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "serve_latency: $tag coordinator ($dir) trained, lingering on port" \
    "${port[$tag]}; load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

# Milliseconds since the epoch of the first spdlog line of file $2 that
# matches $1 ("[YYYY-MM-DD HH:MM:SS.mmm] ..."), or nothing.
log_ms() {
  local when
  when=$(sed -n "s/^\[\([0-9-]* [0-9:.]*\)\].*$1.*/\1/p" "$2" | head -n 1)
  [[ -z $when ]] || date -d "$when" +%s%3N
}
# The phases' marks in the client's debug log, in order; the last one is
# the client's own line with its accuracy. A binary without some of them (an
# older build) gets "-" for those phases, whose time goes to the next one.
marks=("fedjets-client starting" "local examples loaded" "joined run"
       "common expert ready" "gate received" "local data embedded"
       "experts received" "just in time: experts")
# One serving client: prints "wall_ms exit_ms cpu_ms" and the phases'
# milliseconds, after checking that it printed its accuracy.
serve_once() {  # serve_once BIN_DIR TAG I
  local dir=$1 tag=$2 i=$3 log=$out/serve-$2-$3.log
  local wrap=()
  # One sample per millisecond of CPU, time-stamped on the log's clock.
  ((perf)) && wrap=(perf record -q -e cpu-clock -c 1000000 -k CLOCK_REALTIME
                    -o "$out/perf-$tag-$i.data" --)
  local t0 t1
  t0=${EPOCHREALTIME/./}
  "${wrap[@]}" /usr/bin/time -f "%U %S" -o "$out/time-$tag-$i.txt" \
    "$dir/fedjets-client" --host 127.0.0.1 --server-name localhost \
    --port "${port[$tag]}" "${layout[@]}" --threads 1 --shards 7 --serve \
    $(tls client-7) --log-level debug >"$log" 2>&1
  t1=${EPOCHREALTIME/./}
  grep -q "zero-shot accuracy" "$log" ||
    { echo "serving client $tag $i printed no accuracy; see $log" >&2; exit 1; }
  local phases="" spans="" start=$((t0 / 1000)) prev=$((t0 / 1000)) m t
  for m in "${marks[@]}"; do
    t=$(log_ms "$m" "$log")
    if [[ -z $t ]]; then phases+=" -" spans+=" -"; continue; fi
    phases+=" $((t - prev))" spans+=" $prev:$t"
    prev=$t
  done
  spans+=" $prev:$((t1 / 1000 + 1))"
  if ((perf)); then  # CPU milliseconds per phase: samples in its span
    echo "$i $tag $(perf script -i "$out/perf-$tag-$i.data" -F time 2>/dev/null |
      awk -v spans="$spans" 'BEGIN { n = split(spans, s, " ") }
        { t = $1 * 1000; for (k = 1; k <= n; ++k) if (s[k] != "-") {
            split(s[k], ab, ":"); if (t >= ab[1] && t < ab[2]) { c[k]++; break } } }
        END { for (k = 1; k <= n; ++k) printf "%s ", s[k] == "-" ? "-" : c[k] + 0 }')" \
      >>"$out/perf-phases.txt"
  fi
  echo "$((prev - start)) $((t1 / 1000 - start))" \
    "$(awk '{printf "%d", ($1 + $2) * 1000}' "$out/time-$tag-$i.txt")$phases" \
    "$((t1 / 1000 - prev))"
}
tags=(new) dirs=("$bin")
if [[ -n $baseline ]]; then tags=(base new) dirs=("$baseline" "$bin"); fi
for k in "${!tags[@]}"; do start_federation "${dirs[$k]}" "${tags[$k]}"; done
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
header="run client wall_ms exit_ms cpu_ms start data join common gate embed experts predict exit"
echo "$header" | tee "$out/runs.txt"
for ((i = 1; i <= runs; ++i)); do
  for k in "${!tags[@]}"; do
    echo "$i ${tags[$k]} $(serve_once "${dirs[$k]}" "${tags[$k]}" "$i")" |
      tee -a "$out/runs.txt"
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
for tag in "${tags[@]}"; do
  echo "$tag client printed: $(grep -h "zero-shot accuracy" "$out"/serve-"$tag"-*.log |
    sort | uniq -c | sed 's/^ *//' | paste -sd';')"
done
echo
echo "p50 / p90 over $runs runs (ms); load average $load_before before," \
  "$load_after after"
echo "client $header" | cut -d' ' -f1,4- | tr ' ' '\t'
# The q-th percentile (nearest rank) of column c of tag's rows, or "-".
percentile() {  # percentile TAG COLUMN Q [FILE]
  awk -v tag="$1" -v c="$2" '$2 == tag && $c ~ /^-?[0-9]+$/ { print $c }' \
    "${4:-$out/runs.txt}" | sort -n |
    awk -v q="$3" '{ v[NR] = $1 } END {
      if (NR == 0) { print "-"; exit }
      r = int((NR * q + 99) / 100); if (r < 1) r = 1; print v[r] }'
}
for tag in "${tags[@]}"; do
  for q in 50 90; do
    row="$tag-p$q"
    for ((c = 3; c <= 14; ++c)); do row+="\t$(percentile "$tag" "$c" "$q")"; done
    echo -e "$row"
  done
done
if ((perf)); then
  echo
  echo "CPU ms per phase (perf samples, 1 a CPU millisecond), p50 / p90"
  echo "client start data join common gate embed experts predict exit" |
    tr ' ' '\t'
  for tag in "${tags[@]}"; do
    for q in 50 90; do
      row="$tag-p$q"
      for ((c = 3; c <= 11; ++c)); do
        row+="\t$(percentile "$tag" "$c" "$q" "$out/perf-phases.txt")"
      done
      echo -e "$row"
    done
  done
  for tag in "${tags[@]}"; do
    echo
    echo "perf: $tag client, all runs, share of CPU samples by library"
    for f in "$out"/perf-"$tag"-*.data; do
      perf report -i "$f" --no-children --sort dso --stdio 2>/dev/null |
        awk '/^ +[0-9]/ { sub("%", "", $1); print $2, $1 }'
    done | awk '{ s[$1] += $2 } END { for (d in s) printf "%6.1f%% %s\n", s[d] / '"$runs"', d }' |
      sort -rn | head -12
  done
fi
((smoke)) || echo "serve_latency: files in $out"
