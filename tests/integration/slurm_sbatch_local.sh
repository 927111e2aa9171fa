#!/usr/bin/env bash
# deploy/slurm/fedjets.sbatch on one host with stand-ins for srun and
# scontrol, for hosts without Slurm (slurm_single_node.sh runs the script
# under a real Slurm): a job of three "nodes", all localhost, so the
# coordinator runs as task 0 of one step and two client processes of two
# virtual clients each as tasks 0 and 1 of another. It checks what the
# script itself does: the port handed over through the run directory, the
# certificate and shards each task picks, and that every round gets all
# four clients. Slurm's own placement of tasks on nodes is not exercised.
#   slurm_sbatch_local.sh SOURCE_DIR BIN_DIR WORK_DIR
set -euo pipefail
src=$1 bin=$2 work=$3
fail() { echo "FAIL: $*"; exit 1; }
# shellcheck source-path=SCRIPTDIR source=slurm_job_common.sh
source "$(dirname "$0")/slurm_job_common.sh"
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

make_job_pki "$bin" "$work/pki"
set_job_settings "$bin" "$work/pki" "$work/run"
env "${job_settings[@]}" PATH="$work/shim:$PATH" \
  SLURM_JOB_ID=local SLURM_JOB_NODELIST=localhost,localhost,localhost \
  bash "$src/deploy/slurm/fedjets.sbatch"
check_job_metrics "$work/run"
echo "PASS: fedjets.sbatch ran 2 rounds with 4 clients on 2 client 'nodes'"
