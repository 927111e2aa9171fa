#!/usr/bin/env bash
# deploy/slurm/fedjets.sbatch under a real Slurm (Debian slurm-wlm, munge)
# that this test starts on this host: munged with a fresh key, slurmctld,
# and one slurmd per node of a 3-node cluster on loopback (node HOST, named
# after this host, and HOST-c1, HOST-c2; each slurmd -N NODE on its own
# port, each node with this host's CPUs and memory). `sbatch --wait
# --nodes=3` runs the script unchanged: Slurm allocates the nodes, hands
# the script SLURM_JOB_NODELIST, and its two srun steps launch the tasks
# through slurmd and slurmstepd. The tasks start through FEDJETS_EXEC (as
# with an image), here a wrapper that records the node each task runs on.
# Checks: every round had all 4 clients, the coordinator ran on the first
# node only and one client process on each other node. Everything runs as
# root under a temporary directory with ports chosen now; every daemon is
# stopped on exit and its log kept in WORK_DIR/logs.
#   slurm_single_node.sh SOURCE_DIR BIN_DIR WORK_DIR
# Exit 77 (ctest: skipped) when not root or Slurm or munge is not installed,
# 1 on failure.
set -euo pipefail
src=$1 bin=$2 work=$3
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
# shellcheck source-path=SCRIPTDIR source=slurm_job_common.sh
source "$(dirname "$0")/slurm_job_common.sh"
[[ $(id -u) -eq 0 ]] || skip "needs root (slurmd runs the job's tasks as their user)"
for tool in munged slurmctld slurmd sbatch sinfo squeue scancel srun scontrol; do
  command -v "$tool" >/dev/null || skip "$tool not installed (bash scripts/install-deps.sh)"
done
host=$(hostname -s)
# The clients connect to the first node by its name, as on a cluster.
getent hosts "$host" >/dev/null || skip "this host's name '$host' does not resolve"
nodes=("$host" "$host-c1" "$host-c2")
rm -rf "$work"
mkdir -p "$work/logs"
# Unix socket paths are short (108 bytes): the daemons' files go under /tmp.
dir=$(mktemp -d /tmp/fedjets-slurm.XXXXXX)
export SLURM_CONF=$dir/slurm.conf

daemon_pids=()
# The daemons, slurmstepd and the tasks all carry this Slurm's SLURM_CONF.
# (grep and sed without it, so that they do not find themselves)
own_processes() {
  local conf=$SLURM_CONF
  (
    unset SLURM_CONF
    grep -l -z -s -F -x "SLURM_CONF=$conf" /proc/[0-9]*/environ |
      sed 's|^/proc/\([0-9]*\)/environ$|\1|' || true
  )
}
stop_daemons() {
  local status=$? waited pid leftover
  if [[ -n ${sbatch_pid:-} ]]; then kill "$sbatch_pid" 2>/dev/null || true; fi
  # The job first, while slurmctld and slurmd can still end it.
  if [[ -n ${ctld_pid:-} ]] && kill -0 "$ctld_pid" 2>/dev/null; then
    timeout 10 scancel --quiet --full --user=root 2>/dev/null || true
    for ((waited = 0; waited < 20; ++waited)); do
      [[ -z $(timeout 5 squeue -h -o %A 2>/dev/null) ]] && break
      sleep 1
    done
  fi
  for pid in "${daemon_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${daemon_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  # Each slurmstepd ends a moment after its job; what still runs after 20 s
  # is killed.
  for ((waited = 0; waited < 20; ++waited)); do
    [[ -z $(own_processes) ]] && break
    sleep 1
  done
  mapfile -t leftover < <(own_processes)
  if ((${#leftover[@]})); then
    echo "killing what is left of this Slurm: ${leftover[*]}"
    kill -KILL "${leftover[@]}" 2>/dev/null || true
  fi
  cp -r "$dir/log/." "$work/logs/" 2>/dev/null || true
  rm -rf "$dir"
  if ((status != 0 && status != 77)); then
    tail -n 20 "$work"/logs/*.log "$work"/job-*.out 2>/dev/null || true
  fi
  exit "$status"
}
trap stop_daemons EXIT
trap "exit 130" INT
trap "exit 143" TERM

# munged with its own key, socket, pid, seed and log files.
# Clients reach munged's socket only when every directory above it can be
# entered; the key itself is readable by root alone.
chmod 755 "$dir"
mkdir -m 755 "$dir/munge"
mkdir -m 700 "$dir/log" "$dir/state" "$dir/spool"
head -c 1024 /dev/urandom > "$dir/munge/munge.key"
chmod 400 "$dir/munge/munge.key"
munged --foreground --key-file="$dir/munge/munge.key" --socket="$dir/munge/socket" \
  --pid-file="$dir/munge/munged.pid" --seed-file="$dir/munge/munged.seed" \
  > "$dir/log/munged.log" 2>&1 &
daemon_pids+=($!)
for ((waited = 0; waited < 50; ++waited)); do
  [[ -S $dir/munge/socket ]] && break
  sleep 0.2
done
[[ -S $dir/munge/socket ]] || fail "munged did not create its socket"

# Free ports now: slurmctld's and one per slurmd.
read -r ctld_port node_ports < <(/usr/bin/python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')
read -ra node_ports <<< "$node_ports"
# This host's CPUs, sockets, cores and memory, as slurmd sees them.
hardware=$(slurmd -C | head -n 1 | sed 's/^NodeName=[^ ]* //')
{
  cat <<EOF
ClusterName=fedjets-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
PropagateResourceLimits=NONE
ReturnToService=2
MailProg=/bin/true
EOF
  for i in 0 1 2; do
    echo "NodeName=${nodes[i]} NodeHostname=$host NodeAddr=127.0.0.1 Port=${node_ports[i]} $hardware"
  done
  echo "PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
} > "$SLURM_CONF"

slurmctld -D -f "$SLURM_CONF" > "$dir/log/slurmctld.out" 2>&1 &
ctld_pid=$!
daemon_pids+=("$ctld_pid")
for node in "${nodes[@]}"; do
  mkdir -p "$dir/spool/$node"
  slurmd -D -N "$node" -f "$SLURM_CONF" > "$dir/log/slurmd-$node.out" 2>&1 &
  daemon_pids+=($!)
done
for ((waited = 0; waited < 30; ++waited)); do
  idle=$(sinfo -h -N -t idle -o %N 2>/dev/null | wc -l || true)
  ((idle == 3)) && break
  kill -0 "$ctld_pid" 2>/dev/null || fail "slurmctld stopped"
  sleep 1
done
((idle == 3)) || fail "$idle of 3 nodes idle after 30 s: $(sinfo -N 2>&1)"
echo "slurm: $(sinfo -h -o '%D nodes %T: %N')"

# FEDJETS_EXEC: note the node, then the binary by name from BIN_DIR.
cat > "$dir/on-node" <<EOF
#!/usr/bin/env bash
echo "\$SLURMD_NODENAME \$1" >> "$work/placement"
PATH="$bin:\$PATH" exec "\$@"
EOF
chmod +x "$dir/on-node"

make_job_pki "$bin" "$work/pki"
set_job_settings "$bin" "$work/pki" "$work/run"
# --cpus-per-task=1: the script asks for 4, which this host may not have.
env "${job_settings[@]}" FEDJETS_EXEC="$dir/on-node" \
  timeout 150 sbatch --wait --nodes=3 --cpus-per-task=1 --time=5 \
  --chdir="$work" --output="$work/job-%j.out" "$src/deploy/slurm/fedjets.sbatch" &
# (wait, not the foreground: a signal then stops the test at once)
sbatch_pid=$!
wait "$sbatch_pid" || fail "sbatch --wait: the job failed (status $?)"
sbatch_pid=
cat "$work"/job-*.out
check_job_metrics "$work/run"
expected="$host fedjets-coordinator, $host-c1 fedjets-client, $host-c2 fedjets-client"
placement=$(LC_ALL=C sort "$work/placement" | paste -sd, | sed 's/,/, /g')
[[ $placement == "$expected" ]] ||
  fail "tasks ran on the wrong nodes: got [$placement], expected [$expected]"
echo "PASS: under Slurm, the coordinator on $host, 4 clients on $host-c1 and $host-c2, 2 rounds"
