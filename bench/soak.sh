#!/usr/bin/env bash
# Soak (issue #13): a long run of a tiny model must not grow the
# coordinator's memory. Runs fedjets-sim with 20 clients (virtual clients
# of one process, 10 sampled per round, so clients also wait between
# rounds and exchange heartbeats), a 784-8-10 MLP on 20 Fashion-MNIST
# examples each, evaluation every 100 rounds on 100 test examples, and
# reads the coordinator's resident set size from each round's event in
# metrics.jsonl (rss_bytes). Fails when RSS at the last round is more than
# 10% above RSS at round 100 (the first 100 rounds are warm-up: allocator
# pools, LibTorch's caches, the run log's buffers).
#   bench/soak.sh [BIN_DIR] [RUN_DIR] [ROUNDS]
# Defaults: build/bin, runs/soak, 1000. Not part of ctest's default run;
# about 5 minutes on a quiet 2-core machine (docs/OPERATIONS.md, "Soak").
set -euo pipefail
bin=${1:-build/bin} run=${2:-runs/soak} rounds=${3:-1000}
((rounds >= 200)) || { echo "ROUNDS must be at least 200"; exit 2; }
rm -rf "$run"
mkdir -p "$(dirname "$run")"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
if ! "$bin/fedjets-sim" --clients 20 --processes 1 --clients-per-round 10 \
  --rounds "$rounds" --model mlp --hidden 8 --max-examples 20 \
  --batch-size 20 --eval-examples 100 --eval-client-examples 20 \
  --eval-every 100 --seed 1 --run-dir "$run" >"$run.log" 2>&1; then
  tail -20 "$run.log"
  echo "FAIL: fedjets-sim failed (log: $run.log)"
  exit 1
fi
end=$(date +%s)
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$rounds rounds in $((end - start)) s"
/usr/bin/python3 - "$run/metrics.jsonl" "$rounds" <<'EOF'
import json
import sys

path, last = sys.argv[1], int(sys.argv[2])
rss = {}
with open(path) as f:
    for line in f:
        e = json.loads(line)
        if e.get("event") == "round" and "rss_bytes" in e:
            rss[e["round"]] = e["rss_bytes"]
missing = [r for r in (100, last) if r not in rss]
if missing:
    sys.exit(f"FAIL: no rss_bytes for round(s) {missing} in {path}")
mib = lambda b: b / (1 << 20)
for r in (1, 100, last // 2, last):
    if r in rss:
        print(f"round {r:5d}: coordinator RSS {mib(rss[r]):8.1f} MiB")
ratio = rss[last] / rss[100]
print(f"RSS round {last} / round 100 = {ratio:.4f} (limit 1.10)")
if ratio > 1.10:
    sys.exit("FAIL: the coordinator's memory grew by more than 10%")
print("PASS")
EOF
