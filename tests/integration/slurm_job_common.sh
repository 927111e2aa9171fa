# shellcheck shell=bash disable=SC2034  # job_settings is for the sourcing test
# Sourced by the tests that run deploy/slurm/fedjets.sbatch
# (slurm_sbatch_local.sh with stand-ins for srun and scontrol,
# slurm_single_node.sh under a Slurm it starts): the same small job of two
# client nodes with two virtual clients each, 2 rounds, and the same check.

# The certificates of a job with 2 client nodes: client node I hosts
# clients 2I and 2I+1, so its certificate grants both names
# (docs/PROTOCOL.md, "Identity").
#   make_job_pki BIN_DIR PKI_DIR
make_job_pki() {
  local bin=$1 pki=$2 i
  "$bin/fedjets-certs" run --dir "$pki" --clients 2 --host fedjets-coordinator >/dev/null
  for i in 0 1; do
    "$bin/fedjets-certs" node --ca-dir "$pki" --out "$pki" --name "client-$i" \
      --role client --client-name "client-$((2 * i))" --client-name "client-$((2 * i + 1))" \
      --force >/dev/null
  done
}

# The script's settings for that job, for `env "${job_settings[@]}" ...`.
#   set_job_settings BIN_DIR PKI_DIR RUN_DIR
set_job_settings() {
  job_settings=(
    FEDJETS_BIN="$1" FEDJETS_PKI="$2" FEDJETS_RUN_DIR="$3"
    FEDJETS_ROUNDS=2 FEDJETS_CLIENTS_PER_NODE=2
    FEDJETS_COORDINATOR_ARGS="--eval-examples 500" FEDJETS_CLIENT_ARGS="--max-examples 300"
  )
}

# The federation finished and each of its 2 rounds had all 4 clients.
#   check_job_metrics RUN_DIR
check_job_metrics() {
  local metrics=$1/metrics.jsonl rounds
  grep -q '"event":"end"' "$metrics" || fail "the federation did not finish ($metrics)"
  rounds=$(grep -c '"clients_reported":4,' "$metrics" || true)
  [[ $rounds == 2 ]] || fail "$rounds of 2 rounds had all 4 clients reporting ($metrics)"
}
