#!/usr/bin/env bash
# Issue 15, target 3: a model's round trip coordinator -> client ->
# coordinator over mutual TLS on loopback, next to the single-core speed of
# the cipher TLS 1.3 negotiates here (AES-256-GCM), both measured in this
# run (docs/PERFORMANCE.md).
#
#   bash bench/transfer.sh [--smoke] [BYTES]
#
# BYTES (default 104857600, 100 MiB) is the model size. The round trip is
# the real Connection / SendParameters / ReceiveParameters code, each end
# on its own thread (fedjets-microbench BM_MtlsRoundTrip); the cipher is
# `openssl speed -evp aes-256-gcm` on its largest block (16 KiB, one TLS
# record). --smoke: a tiny model and a short cipher run, to check that the
# script works.
#
# openssl speed divides by CPU time; on a machine shared with other work
# the round trip's wall clock measures the scheduler too, so it is also
# given per CPU second of its busier end (each end has its own thread:
# with a core each, that is the speed the round trip would reach).
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=0
if [[ "${1:-}" == "--smoke" ]]; then smoke=1; shift; fi
bytes=${1:-104857600}
seconds=3
if ((smoke)); then bytes=65536; seconds=1; fi
bench=${FEDJETS_MICROBENCH:-build/bin/fedjets-microbench}
[[ -x "$bench" ]] || bash scripts/build.sh fedjets-microbench >/dev/null

cipher_line=$(openssl speed -evp aes-256-gcm -bytes 16384 -seconds "$seconds" \
  2>/dev/null | grep -i '^aes-256-gcm')
# "AES-256-GCM  2875432.12k": thousands of bytes per second.
cipher_kbs=$(awk '{ v = $NF; sub(/k$/, "", v); print v }' <<<"$cipher_line")

json=$("$bench" --benchmark_filter="BM_MtlsRoundTrip/${bytes}(/|\$)" \
  --benchmark_format=json --benchmark_repetitions=$((smoke ? 1 : 3)) \
  --benchmark_min_time=$( ((smoke)) && echo 0.001 || echo 4) 2>/dev/null)
read -r trip_bs cpu_mbs < <(/usr/bin/python3 -c '
import json, sys
runs = [b for b in json.load(sys.stdin)["benchmarks"]
        if b.get("run_type") == "iteration"]
if not runs or any("error_message" in b for b in runs):
    sys.exit("BM_MtlsRoundTrip failed: %s" % runs)
best = max(runs, key=lambda b: b["bytes_per_second"])
print(best["bytes_per_second"], max(b["cpu_MBps"] for b in runs))' <<<"$json")

awk -v trip="$trip_bs" -v cpu="$cpu_mbs" -v cipher="$cipher_kbs" \
    -v bytes="$bytes" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" 'BEGIN {
  c = cipher / 1000
  printf "model %.1f MB each way; load average %s\n", bytes / 1e6, load
  printf "%-52s %9.1f MB/s\n", "mTLS round trip, wall clock (both directions)", trip / 1e6
  printf "%-52s %9.1f MB/s\n", "mTLS round trip per CPU second of the busier end", cpu
  printf "%-52s %9.1f MB/s\n", "openssl speed -evp aes-256-gcm, 16 KiB, one core", c
  printf "%-52s %9.2f\n", "ratio, wall clock", trip / 1e6 / c
  printf "%-52s %9.2f (goal >= 0.50: %s)\n", "ratio, CPU time", cpu / c, (cpu / c >= 0.5 ? "pass" : "fail")
}'
