#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine for tests/workflow/test_slurm.py (and CI).
#
# Installs Debian's slurmctld, slurmd, slurm-client and munge if missing, writes a one-node
# slurm.conf (select/cons_tres, no accounting), starts munged, slurmctld and slurmd without
# systemd and waits until the node is idle. Idempotent: running it again on a working
# cluster changes nothing. Needs root. Usage: tests/slurm/setup_slurm.sh
set -euo pipefail

CONF=/etc/slurm/slurm.conf
# Not "main" nor any name the profile could know: profiles/slurm/config.yaml names no partition,
# so its jobs must land in the cluster's default one.
PARTITION=${EMBDIM_SLURM_PARTITION:-debug}
log() { echo "setup_slurm: $*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

if [ "$(id -u)" != 0 ]; then
    log "must run as root (installs packages, starts daemons)"; exit 1
fi

if ! have slurmctld || ! have slurmd || ! have sbatch || ! have munged; then
    log "installing slurmctld slurmd slurm-client munge"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        slurmctld slurmd slurm-client munge >/dev/null
fi

# --- munge ---------------------------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
    log "creating /etc/munge/munge.key"
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.2; done
fi

# --- slurm.conf ----------------------------------------------------------------------------
HOST=$(hostname -s)
MEM_MB=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)  # a bit under MemTotal
# The node line as slurmd detects it (CPUs, sockets, cores, threads), with our address and memory.
NODE=$(slurmd -C 2>/dev/null | head -n1 | sed -E "s/ RealMemory=[0-9]+//")
NEW=$(cat <<CONFEOF
# Written by tests/slurm/setup_slurm.sh: one node, no accounting, no cgroups.
ClusterName=embdim
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# squeue must still know finished jobs when the executor checks (>= 3 x its first-check delay).
MinJobAge=300
${NODE} RealMemory=${MEM_MB} NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=${PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONFEOF
)
CHANGED=0
if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$NEW" ]; then
    log "writing $CONF"
    mkdir -p /etc/slurm
    printf '%s\n' "$NEW" > "$CONF"
    CHANGED=1
fi
mkdir -p /var/spool/slurmctld /var/spool/slurmd /var/log/slurm

# --- daemons -------------------------------------------------------------------------------
running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if running /run/slurmctld.pid && [ "$CHANGED" = 1 ]; then
    log "configuration changed: reconfiguring"
    scontrol reconfigure || true
fi
if ! running /run/slurmctld.pid; then
    log "starting slurmctld"
    slurmctld
fi
for _ in $(seq 50); do scontrol ping >/dev/null 2>&1 && break; sleep 0.2; done
if ! running /run/slurmd.pid; then
    log "starting slurmd"
    slurmd
fi

# --- wait for the node -------------------------------------------------------------------
for _ in $(seq 120); do
    state=$(sinfo -h -N -o %t 2>/dev/null | head -n1 || true)
    case "$state" in
        idle|mix|alloc) log "node ${HOST} is ${state}"; exit 0 ;;
        down*|drain*|drng*|fail*) scontrol update NodeName="${HOST}" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 0.5
done
log "node did not become idle; see /var/log/slurm/slurmctld.log and slurmd.log"
sinfo -N -l >&2 || true
exit 1
