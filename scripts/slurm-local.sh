#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for trying and testing `attnlab sweep --launcher
# slurm`: Debian's slurmctld, slurmd and munge, with every file (config, keys, state, logs) in one
# folder and no system paths touched.
#   scripts/slurm-local.sh start [DIR]   start it (DIR: $ATTNLAB_SLURM_DIR or /tmp/attnlab-slurm)
#   scripts/slurm-local.sh stop [DIR]    stop it (the folder stays, with the daemons' logs)
#   scripts/slurm-local.sh env [DIR]     print the export line clients need
# Clients find the cluster through SLURM_CONF=DIR/slurm.conf. Ports: $ATTNLAB_SLURM_PORT (default
# 16817) for slurmctld and the next one for slurmd. Needs root (the daemons run as root here).
set -euo pipefail

command=${1:-}
dir=${2:-${ATTNLAB_SLURM_DIR:-/tmp/attnlab-slurm}}
port=${ATTNLAB_SLURM_PORT:-16817}

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }

case "$command" in
  -h|--help|"") usage; [ -n "$command" ] && exit 0 || exit 2 ;;
  start|stop|env) ;;
  *) echo "slurm-local.sh: unknown command '$command'" >&2; usage >&2; exit 2 ;;
esac

dir=$(realpath -m "$dir")
conf=$dir/slurm.conf

if [ "$command" = env ]; then
  echo "export SLURM_CONF=$conf"
  exit 0
fi

if [ "$command" = stop ]; then
  if [ -f "$conf" ]; then
    SLURM_CONF=$conf scontrol shutdown >/dev/null 2>&1 || true
  fi
  for pidfile in "$dir/slurmctld.pid" "$dir/slurmd.pid" "$dir/munge/munged.pid"; do
    if [ -f "$pidfile" ]; then
      pid=$(cat "$pidfile")
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill "$pid" 2>/dev/null || true
      rm -f "$pidfile"
    fi
  done
  echo "stopped the local Slurm cluster in $dir"
  exit 0
fi

for tool in munged slurmctld slurmd sbatch squeue scontrol sinfo; do
  command -v "$tool" >/dev/null || {
    echo "slurm-local.sh: $tool not found; scripts/setup.sh installs slurmctld, slurmd, slurm-client and munge" >&2
    exit 1
  }
done
if [ "$(id -u)" != 0 ]; then
  echo "slurm-local.sh: the local cluster runs its daemons as root; run as root" >&2
  exit 1
fi

# Already running? (start is safe to run twice)
if [ -f "$conf" ] && SLURM_CONF=$conf scontrol ping 2>/dev/null | grep -q UP; then
  echo "a local Slurm cluster is already running: export SLURM_CONF=$conf"
  exit 0
fi

mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
chmod 700 "$dir/munge"
if [ ! -f "$dir/munge/munge.key" ]; then
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$dir/munge/munge.key"
fi
socket=$dir/munge/munge.socket
# --force: munged refuses a key and socket outside its usual, root-owned paths otherwise.
munged --force --key-file="$dir/munge/munge.key" --socket="$socket" \
  --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
  --seed-file="$dir/munge/munged.seed"

node=$(slurmd -C | head -n 1)  # NodeName=<host> CPUs=... RealMemory=...
host=$(echo "$node" | sed -n 's/^NodeName=\([^ ]*\).*/\1/p')
cat > "$conf" <<CONF
# A one-node cluster written by scripts/slurm-local.sh.
ClusterName=attnlab
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
MinJobAge=600
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

export SLURM_CONF=$conf
slurmctld -f "$conf"
slurmd -f "$conf"
for _ in $(seq 100); do
  state=$(sinfo -h -o %T 2>/dev/null | head -n 1 || true)
  case "$state" in
    idle*|mixed*|allocated*) echo "local Slurm cluster up ($host, $dir): export SLURM_CONF=$conf"; exit 0 ;;
    down*|drain*) scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true ;;
  esac
  sleep 0.2
done
echo "slurm-local.sh: the node did not come up; logs: $dir/slurmctld.log $dir/slurmd.log" >&2
tail -n 5 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
exit 1
