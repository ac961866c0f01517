#!/usr/bin/env bash
# A throwaway one-node SLURM cluster on localhost, for tests/workflow/test_slurm.py and for trying
# profiles/slurm by hand. Needs root (Debian/Ubuntu: installs slurm-wlm and munge with
# apt-get when they are missing).
#
#   tests/slurm_cluster.sh start    # install if needed, start munged + slurmctld + slurmd
#   tests/slurm_cluster.sh status   # exit 0 when the node answers; prints the node state
#   tests/slurm_cluster.sh env      # prints SLURM_CONF=...: `export $(tests/slurm_cluster.sh env)`
#   tests/slurm_cluster.sh stop     # stop the three daemons (the state dir is kept for logs)
#
# Everything lives in one state directory (RETLAND_SLURM_STATE, default /tmp/retland-slurm):
# its own munge key and socket, slurm.conf, gres.conf, spool, logs, pid files, and
# jobcomp.log (one line per finished job: the job history, since there is no slurmdbd).
# Own munge socket and non-default ports, so a running munge is left alone. One file
# outside the state dir: /etc/slurm/slurm.conf, a symlink to the state dir's slurm.conf,
# because the snakemake jobstep plugin strips SLURM_* variables (SLURM_CONF included)
# before it calls srun inside a job. It is created only where no slurm.conf exists (a
# machine that already has one is refused: exit 2) and removed again by `stop`.
# Clients outside jobs may also use SLURM_CONF (see `env`).
#
# The node: localhost, every CPU of the machine, its memory minus a margin, one
# fake GPU (gres gpu:1 backed by /dev/null) so that GPU requests can be submitted
# and scheduled on a machine without one. Partitions: `debug` (default) and `retland`.
# Completed jobs stay visible to squeue/scontrol for an hour (MinJobAge=3600).
#
# Exit status: 0 done; 1 failed (see the message and the log tails); 2 not possible on
# this machine (not root, no apt-get, packages not installable).
# Every command is idempotent: start on a running cluster and stop on a stopped one do nothing.
set -euo pipefail

STATE=${RETLAND_SLURM_STATE:-/tmp/retland-slurm}
CTLD_PORT=${RETLAND_SLURM_CTLD_PORT:-16817}
SLURMD_PORT=${RETLAND_SLURM_SLURMD_PORT:-16818}
WAIT_S=${RETLAND_SLURM_WAIT_S:-60}
CONF=$STATE/slurm.conf
ETC_CONF=/etc/slurm/slurm.conf  # where Debian's SLURM clients look without SLURM_CONF
MUNGE_SOCKET=$STATE/munge/munge.socket
export SLURM_CONF=$CONF
export PATH=$PATH:/usr/sbin:/sbin

say() { echo "slurm_cluster: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }
impossible() { say "CANNOT: $*"; exit 2; }

pid_alive() {  # pid_alive FILE: the pid in FILE is a running process
    [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

logs() {  # last lines of every daemon log, for error messages
    local f
    for f in "$STATE"/log/*.log; do
        [[ -f $f ]] || continue
        echo "---- $f (last 15 lines)" >&2
        tail -n 15 "$f" >&2
    done
}

node_state() {  # node state as sinfo reports it ("idle", "down*", ...), empty if no answer
    timeout 10 sinfo -h -n localhost -o %T 2>/dev/null | head -n 1 || true
}

is_up() {
    pid_alive "$STATE/run/slurmctld.pid" && pid_alive "$STATE/run/slurmd.pid" \
        && [[ $(node_state) =~ ^(idle|mixed|allocated|completing) ]]
}

install_packages() {
    local missing=()
    local b
    for b in munged mungekey slurmctld slurmd sbatch squeue sinfo scontrol; do
        command -v "$b" >/dev/null || missing+=("$b")
    done
    ((${#missing[@]} == 0)) && return 0
    [[ $(id -u) == 0 ]] || impossible "not root, and ${missing[*]} not installed (needs: apt-get install slurm-wlm munge)"
    command -v apt-get >/dev/null || impossible "${missing[*]} not installed and no apt-get on this machine"
    say "installing slurm-wlm and munge (missing: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    if ! timeout 600 apt-get install -y -q slurm-wlm munge >"$STATE/log/apt.log" 2>&1; then
        timeout 300 apt-get update -q >>"$STATE/log/apt.log" 2>&1 || true
        timeout 600 apt-get install -y -q slurm-wlm munge >>"$STATE/log/apt.log" 2>&1 \
            || { tail -n 20 "$STATE/log/apt.log" >&2; impossible "apt-get install slurm-wlm munge failed (log: $STATE/log/apt.log)"; }
    fi
    for b in munged mungekey slurmctld slurmd sbatch; do
        command -v "$b" >/dev/null || impossible "$b still missing after apt-get install slurm-wlm munge"
    done
}

write_config() {
    local mem cpus node
    mem=$(free -m | awk '/^Mem:/ {print $2}')
    mem=$((mem - (mem / 10 > 1024 ? mem / 10 : 1024)))  # margin: 10% of the memory, at least 1 GiB
    ((mem >= 1024)) || impossible "too little memory for a test node (${mem} MB after the margin)"
    # The node's real topology (sockets, cores, threads) as slurmd detects it, renamed
    # localhost; fall back to the CPU count alone.
    node=$(slurmd -C 2>/dev/null | head -n 1 | grep -o 'CPUs=.*ThreadsPerCore=[0-9]*' || true)
    cpus=$(nproc)
    [[ -n $node ]] || node="CPUs=$cpus"
    cat >"$CONF" <<EOF
# Written by tests/slurm_cluster.sh: throwaway one-node cluster, state in $STATE
ClusterName=retland-test
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/jobcomp.log
MinJobAge=3600
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=10
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 NodeHostname=localhost $node RealMemory=$mem Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=retland Nodes=localhost Default=NO MaxTime=INFINITE State=UP
EOF
    # A fake GPU (SLURM needs a device file; /dev/null stands in): lets --gpus=1 jobs be
    # scheduled. Nothing computes on it; JAX in the jobs finds no GPU and uses the CPU.
    echo "NodeName=localhost Name=gpu Count=1 File=/dev/null" >"$STATE/gres.conf"
}

link_etc_conf() {  # /etc/slurm/slurm.conf -> $CONF, never over someone else's file
    if [[ -L $ETC_CONF && $(readlink "$ETC_CONF") == "$CONF" ]]; then return 0; fi
    [[ -e $ETC_CONF || -L $ETC_CONF ]] \
        && impossible "$ETC_CONF already exists (another SLURM configuration on this machine); not touching it"
    mkdir -p "$(dirname "$ETC_CONF")"
    ln -s "$CONF" "$ETC_CONF"
}

start_munge() {
    if pid_alive "$STATE/run/munged.pid"; then return 0; fi
    mkdir -p "$STATE/munge"
    chmod 0755 "$STATE/munge"  # clients need to reach the socket; the key itself is 0600
    if [[ ! -s $STATE/munge/munge.key ]]; then
        mungekey --create --keyfile="$STATE/munge/munge.key" 2>/dev/null \
            || dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1024 count=1 status=none
    fi
    chmod 0600 "$STATE/munge/munge.key"
    rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
    munged --force --socket="$MUNGE_SOCKET" --key-file="$STATE/munge/munge.key" \
        --pid-file="$STATE/run/munged.pid" --log-file="$STATE/log/munged.log" \
        --seed-file="$STATE/munge/munged.seed" \
        || { logs; die "munged did not start"; }
    local i
    for ((i = 0; i < 50; i++)); do
        if munge -n -S "$MUNGE_SOCKET" 2>/dev/null | unmunge -S "$MUNGE_SOCKET" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    logs
    die "munged started but does not answer on $MUNGE_SOCKET"
}

start() {
    if [[ -f $CONF ]] && is_up; then
        say "already running (SLURM_CONF=$CONF)"
        return 0
    fi
    [[ $(id -u) == 0 ]] || impossible "SLURM daemons need root (running as uid $(id -u))"
    mkdir -p "$STATE"/{run,log,ctld,spool}
    chmod 0755 "$STATE"
    install_packages
    write_config
    link_etc_conf
    start_munge
    # -c: start from an empty job table (job ids from 1; jobcomp.log keeps the history)
    pid_alive "$STATE/run/slurmctld.pid" || slurmctld -c -f "$CONF" || { logs; die "slurmctld did not start"; }
    pid_alive "$STATE/run/slurmd.pid" || slurmd -f "$CONF" -N localhost || { logs; die "slurmd did not start"; }
    local i state=""
    for ((i = 0; i < WAIT_S; i++)); do
        state=$(node_state)
        case $state in
            idle | mixed | allocated)
                say "up: node localhost $state, partitions debug (default) and retland; SLURM_CONF=$CONF"
                return 0 ;;
            inval*)
                break ;;  # the node's hardware does not match slurm.conf: will not recover
            down* | drain* | fail*)
                # ReturnToService=2 normally brings it back; nudge it once in a while.
                ((i % 5 == 4)) && scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true ;;
        esac
        sleep 1
    done
    logs
    die "node localhost not idle after ${WAIT_S}s (sinfo says: '${state:-no answer}')"
}

stop_one() {  # stop_one NAME: TERM, bounded wait, then KILL
    local pidfile=$STATE/run/$1.pid pid i
    pid_alive "$pidfile" || { rm -f "$pidfile"; return 0; }
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }
        sleep 0.2
    done
    say "$1 (pid $pid) ignored TERM for 10s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
}

stop() {
    [[ -d $STATE/run ]] || { say "not running (no $STATE)"; return 0; }
    # Jobs still running on the node are cancelled first (their processes belong to slurmstepd).
    if pid_alive "$STATE/run/slurmctld.pid"; then
        local jobs
        jobs=$(timeout 10 squeue -h -t PD,R,CG,S -o %A 2>/dev/null || true)
        [[ -z $jobs ]] || timeout 10 scancel $jobs 2>/dev/null || true
    fi
    stop_one slurmd
    stop_one slurmctld
    stop_one munged
    if [[ -L $ETC_CONF && $(readlink "$ETC_CONF") == "$CONF" ]]; then rm -f "$ETC_CONF"; fi
    say "stopped (logs kept in $STATE/log)"
}

status() {
    if [[ -f $CONF ]] && is_up; then
        say "running: node localhost $(node_state); SLURM_CONF=$CONF"
        return 0
    fi
    local d
    for d in munged slurmctld slurmd; do
        pid_alive "$STATE/run/$d.pid" && say "$d running" || say "$d not running"
    done
    return 1
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    status) status ;;
    env) echo "SLURM_CONF=$CONF" ;;
    *) echo "usage: $0 start|stop|status|env" >&2; exit 64 ;;
esac
