#!/usr/bin/env bash
# deploy/slurm/fedjets.sbatch on one host, with stand-ins for srun and
# scontrol (no Slurm runs here): a job of three "nodes", all localhost, so
# the coordinator runs as task 0 of one step and two client processes of
# two virtual clients each as tasks 0 and 1 of another. It checks what the
# script itself does: the port handed over through the run directory, the
# certificate and shards each task picks, and that every round gets all
# four clients. Slurm's own placement of tasks on nodes is not exercised.
#   slurm_sbatch_local.sh SOURCE_DIR BIN_DIR WORK_DIR
set -euo pipefail
src=$1 bin=$2 work=$3
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$work"
mkdir -p "$work/shim"

# srun: --ntasks=N copies of the command with SLURM_PROCID 0..N-1, here.
cat > "$work/shim/srun" <<'SHIM'
#!/usr/bin/env bash
ntasks=1
while [[ $1 == --* ]]; do
  case $1 in --ntasks=*) ntasks=${1#--ntasks=} ;; esac
  shift
done
pids=()
for ((i = 0; i < ntasks; ++i)); do SLURM_PROCID=$i "$@" & pids+=($!); done
status=0
for p in "${pids[@]}"; do wait "$p" || status=$?; done
exit "$status"
SHIM
# scontrol show hostnames A,B,C: one name a line.
cat > "$work/shim/scontrol" <<'SHIM'
#!/usr/bin/env bash
[[ $1 == show && $2 == hostnames ]] || exit 1
tr , '\n' <<< "$3"
SHIM
chmod +x "$work/shim/srun" "$work/shim/scontrol"

"$bin/fedjets-certs" run --dir "$work/pki" --clients 2 --host fedjets-coordinator >/dev/null
# Client node I hosts clients 2I and 2I+1: its certificate grants both names
# (docs/PROTOCOL.md, "Identity").
for i in 0 1; do
  "$bin/fedjets-certs" node --ca-dir "$work/pki" --out "$work/pki" --name "client-$i" \
    --role client --client-name "client-$((2 * i))" --client-name "client-$((2 * i + 1))" \
    --force >/dev/null
done
PATH="$work/shim:$PATH" SLURM_JOB_ID=local SLURM_JOB_NODELIST=localhost,localhost,localhost \
  FEDJETS_BIN="$bin" FEDJETS_PKI="$work/pki" FEDJETS_RUN_DIR="$work/run" \
  FEDJETS_ROUNDS=2 FEDJETS_CLIENTS_PER_NODE=2 \
  FEDJETS_COORDINATOR_ARGS="--eval-examples 500" FEDJETS_CLIENT_ARGS="--max-examples 300" \
  bash "$src/deploy/slurm/fedjets.sbatch"

metrics=$work/run/metrics.jsonl
grep -q '"event":"end"' "$metrics" || fail "the federation did not finish ($metrics)"
rounds=$(grep -c '"clients_reported":4,' "$metrics" || true)
[[ $rounds == 2 ]] || fail "$rounds of 2 rounds had all 4 clients reporting ($metrics)"
echo "PASS: fedjets.sbatch ran 2 rounds with 4 clients on 2 client 'nodes'"
