# shellcheck shell=bash
# Shared logic of tests/cluster/{up,down,status}: a real, small Slurm cluster on this
# machine, for the project's integration tests.
#
# One cluster NAME (default "atlas") = one mount + UTS namespace (kept alive by
# bind-mounted namespace files in .state/NAME/ns) + one network namespace
# "sweepops-NAME" joined to the machine by a veth pair 10.203.N.1 (outside) /
# 10.203.N.2 (inside).  Inside run munged, mariadbd, slurmdbd, slurmctld, two slurmd
# (NAME-node01, NAME-node02, 4 CPUs + 2 fake GPUs each) and an sshd on 10.203.N.2:22.
#
# Inside the cluster's mount namespace:
#   /srv/sweepops-lab          <- .state/NAME/lab     (the "lab root": same path, other disk)
#   /home                      <- .state/NAME/home    (cluster-side home of researcher)
#   /var/lib/sweepops-cluster  <- .state/NAME/cluster (daemon state, configs, logs)
#   /etc/slurm                 <- .state/NAME/cluster/etc/slurm
#   /etc/hosts                 <- .state/NAME/cluster/etc/hosts
#   /run                       =  a private tmpfs
# Daemon paths therefore never depend on where the checkout lives (a fresh CI clone
# may sit under a directory other users cannot traverse).
#
# Network rule: nothing but loopback and 10.203.N.0/24 (our own veth) is ever addressed.
# Processes are only ever ended by PID, after checking that they live in our namespace.

CL_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CL_IN=/var/lib/sweepops-cluster          # the cluster's state dir, as seen inside
CL_LAB=/srv/sweepops-lab
CL_USER=researcher
CL_PASSWORD=${SWEEPOPS_TEST_PASSWORD:-sweepops-test}
CL_SSH_PORT=22
CL_PACKAGES=(slurm-wlm slurmdbd munge mariadb-server openssh-server openssh-client rsync sshpass
             iproute2 util-linux python3 python3-venv charliecloud debootstrap)
CL_DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd-node01 slurmd-node02 sshd)

cl_log() { printf '[cluster %s %s] %s\n' "${CL_NAME:-?}" "$(date +%T)" "$*" >&2; }
cl_die() { cl_log "ERROR: $*"; exit 1; }

# cl_init NAME: set every CL_* variable of one cluster.
cl_init() {
    CL_NAME=${1:-atlas}
    [[ $CL_NAME =~ ^[a-z][a-z0-9]{0,11}$ ]] \
        || cl_die "cluster name must match ^[a-z][a-z0-9]{0,11}\$ (got '$CL_NAME')"
    CL_INDEX=$(cl_index "$CL_NAME")
    CL_STATE_ROOT=${SWEEPOPS_TEST_STATE_ROOT:-$CL_LIB_DIR/.state}
    CL_STATE=$CL_STATE_ROOT/$CL_NAME
    CL_NS=$CL_STATE/ns
    CL_PIDS=$CL_STATE/pids
    CL_CS=$CL_STATE/cluster             # host path of $CL_IN
    CL_NETNS=sweepops-$CL_NAME
    CL_SUBNET=10.203.$CL_INDEX
    CL_HOST_IP=$CL_SUBNET.1
    CL_IP=$CL_SUBNET.2
    CL_VETH_OUT=swo${CL_INDEX}h
    CL_VETH_IN=swo${CL_INDEX}c
    CL_KEY=$CL_STATE/id_ed25519
    CL_KNOWN_HOSTS=$CL_STATE/known_hosts
    CL_INVENTORY=$CL_STATE/inventory.yml
    CL_LOGIN=$CL_NAME-login
    CL_NODES=("$CL_NAME-node01" "$CL_NAME-node02")
}

# Subnet index: fixed for the usual names (stable known_hosts), else from a checksum;
# SWEEPOPS_TEST_CLUSTER_INDEX overrides.
cl_index() {
    if [[ -n ${SWEEPOPS_TEST_CLUSTER_INDEX:-} ]]; then echo "$SWEEPOPS_TEST_CLUSTER_INDEX"; return; fi
    case $1 in
        atlas) echo 1 ;;
        babel) echo 2 ;;
        cirrus) echo 3 ;;
        *) echo $(( 10 + $(printf %s "$1" | cksum | cut -d' ' -f1) % 240 )) ;;
    esac
}

cl_require_root() { [[ $(id -u) -eq 0 ]] || cl_die "must run as root (namespaces, daemons, apt)"; }

# Serialise up/down of one cluster. fd 9 is closed in every daemon (cl_spawn).
cl_lock() {
    mkdir -p "$CL_STATE_ROOT"
    exec 9>"$CL_STATE_ROOT/.$CL_NAME.lock"
    flock -w 300 9 || cl_die "could not lock $CL_STATE_ROOT/.$CL_NAME.lock"
}

# ---------------------------------------------------------------- namespaces / processes
cl_nsexec() {
    nsenter --mount="$CL_NS/mnt" --uts="$CL_NS/uts" --net="/run/netns/$CL_NETNS" -- "$@"
}

cl_ns_mounted() { mountpoint -q "$CL_NS/mnt" 2>/dev/null; }
cl_mntns_id() { cl_ns_mounted && stat -L -c %i "$CL_NS/mnt"; }
cl_netns_exists() { [[ -e /run/netns/$CL_NETNS ]]; }
# Ours = the netns this state dir created (a cluster of the same NAME may run from another
# checkout: never touch its processes).
cl_netns_ours() {
    cl_netns_exists && [[ -s $CL_STATE/netns.id ]] \
        && [[ $(stat -L -c %i "/run/netns/$CL_NETNS") == "$(cat "$CL_STATE/netns.id")" ]]
}
cl_netns_busy() { cl_netns_exists && [[ -n $(ip netns pids "$CL_NETNS" 2>/dev/null) ]]; }

# PIDs of every process in this cluster's mount or network namespace.
cl_ns_pids() {
    local id p
    id=$(cl_mntns_id || true)
    if [[ -n $id ]]; then
        for p in /proc/[0-9]*; do
            [[ $(readlink "$p/ns/mnt" 2>/dev/null) == "mnt:[$id]" ]] && echo "${p#/proc/}"
        done
    fi
    if cl_netns_ours; then ip netns pids "$CL_NETNS" 2>/dev/null || true; fi
}

# cl_pid_ours PID: alive and inside our mount namespace (guards against PID reuse).
cl_pid_ours() {
    local id
    id=$(cl_mntns_id) || return 1
    [[ $(readlink "/proc/$1/ns/mnt" 2>/dev/null) == "mnt:[$id]" ]]
}

# cl_spawn NAME CMD...: start CMD inside the cluster, in its own session, detached from
# our stdout (so `eval "$(up)"` and subprocess pipes never wait for it); record its PID.
# nsenter and setsid both exec, so $! is the daemon itself.
cl_spawn() {
    local name=$1; shift
    local log=$CL_CS/log/$name.log
    # (not via the cl_nsexec function: a backgrounded function is a forked subshell)
    nsenter --mount="$CL_NS/mnt" --uts="$CL_NS/uts" --net="/run/netns/$CL_NETNS" -- \
        setsid "$@" </dev/null >>"$log" 2>&1 3>&- 9>&- &
    echo $! >"$CL_PIDS/$name.pid"
}

cl_pidof() { local f=$CL_PIDS/$1.pid; [[ -s $f ]] && cat "$f"; }

# cl_wait DESC TIMEOUT CMD...: poll CMD every 0.1 s.
cl_wait() {
    local desc=$1 timeout=$2; shift 2
    local end=$(( $(date +%s%N) + timeout * 1000000000 ))
    until "$@" >/dev/null 2>&1; do
        if (( $(date +%s%N) > end )); then
            cl_log "timed out after ${timeout}s waiting for $desc"
            return 1
        fi
        sleep 0.1
    done
}

cl_daemon_alive() { local p; p=$(cl_pidof "$1") && cl_pid_ours "$p"; }

# ---------------------------------------------------------------- host preparation
cl_install_packages() {
    local missing=() p
    for p in "${CL_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    cl_log "installing packages: ${missing[*]}"
    # policy-rc.d exiting 101: package scripts must not start daemons on the workstation
    local policy=/usr/sbin/policy-rc.d backup=""
    if [[ -e $policy ]]; then backup=$(mktemp); cp -p "$policy" "$backup"; fi
    printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"
    local rc=0
    {
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
    } >&2 || rc=$?
    if [[ -n $backup ]]; then cp -p "$backup" "$policy"; rm -f "$backup"; else rm -f "$policy"; fi
    ((rc == 0)) || cl_die "apt-get install failed ($rc)"
}

cl_ensure_user() {
    if ! id "$CL_USER" >/dev/null 2>&1; then
        cl_log "creating user $CL_USER"
        useradd --create-home --shell /bin/bash "$CL_USER"
    fi
    echo "$CL_USER:$CL_PASSWORD" | chpasswd
    # workstation side of the lab root: a plain directory
    if [[ ! -d $CL_LAB ]]; then
        install -d -m 755 -o "$CL_USER" -g "$CL_USER" "$CL_LAB"
    fi
    mkdir -p "$CL_IN"          # mount point only; empty on the workstation side
}

# Directories, keys and config files (idempotent; keys made once).
cl_prepare_state() {
    local uid gid n node
    uid=$(id -u "$CL_USER"); gid=$(id -g "$CL_USER")
    install -d -m 755 "$CL_STATE" "$CL_NS" "$CL_PIDS" "$CL_CS"
    install -d -m 755 "$CL_CS"/{etc,etc/slurm,etc/ssh,log,slurm,slurm/ctld,slurm/spool,bin,mail}
    install -d -m 755 "$CL_STATE/home"
    install -d -m 755 -o "$uid" -g "$gid" "$CL_STATE/lab"
    install -d -m 700 -o "$uid" -g "$gid" "$CL_STATE/home/$CL_USER" "$CL_STATE/home/$CL_USER/.ssh"
    install -d -m 700 -o munge -g munge "$CL_CS/munge"
    install -d -m 750 -o mysql -g mysql "$CL_CS/mysql"
    chmod 700 "$CL_CS/etc/ssh"

    # workstation key (root's) -> researcher's authorized_keys on the cluster side
    [[ -s $CL_KEY ]] || ssh-keygen -q -t ed25519 -N '' -C "sweepops-test@$CL_NAME" -f "$CL_KEY"
    local ak=$CL_STATE/home/$CL_USER/.ssh/authorized_keys
    grep -qxF "$(cat "$CL_KEY.pub")" "$ak" 2>/dev/null || cat "$CL_KEY.pub" >>"$ak"
    chown "$uid:$gid" "$ak"; chmod 600 "$ak"
    [[ -e $CL_STATE/home/$CL_USER/.bashrc ]] \
        || install -m 644 -o "$uid" -g "$gid" /etc/skel/.bashrc "$CL_STATE/home/$CL_USER/.bashrc"
    [[ -e $CL_STATE/home/$CL_USER/.profile ]] \
        || install -m 644 -o "$uid" -g "$gid" /etc/skel/.profile "$CL_STATE/home/$CL_USER/.profile"

    # cluster host key; known_hosts pre-seeded (accept-new also set in the inventory)
    local hk=$CL_CS/etc/ssh/ssh_host_ed25519_key
    [[ -s $hk ]] || ssh-keygen -q -t ed25519 -N '' -C "$CL_LOGIN" -f "$hk"
    printf '%s %s\n' "$CL_IP" "$(cut -d' ' -f1,2 "$hk.pub")" >"$CL_KNOWN_HOSTS"

    # munge key
    if [[ ! -s $CL_CS/munge/munge.key ]]; then
        dd if=/dev/urandom of="$CL_CS/munge/munge.key" bs=1024 count=1 status=none
    fi
    chown munge:munge "$CL_CS/munge/munge.key"; chmod 400 "$CL_CS/munge/munge.key"
    touch "$CL_CS/log/munged.log" "$CL_CS/log/mariadbd.log"
    chown munge:munge "$CL_CS/log/munged.log"; chown mysql:mysql "$CL_CS/log/mariadbd.log"

    # fake GPUs: character devices (a plain file is refused by slurmd)
    for node in "${CL_NODES[@]}"; do
        install -d -m 755 "$CL_CS/dev/$node" "$CL_CS/slurm/spool/$node"
        for n in 0 1; do
            [[ -c $CL_CS/dev/$node/nvidia$n ]] || { rm -f "$CL_CS/dev/$node/nvidia$n"; mknod -m 666 "$CL_CS/dev/$node/nvidia$n" c 1 3; }
        done
    done

    [[ -s $CL_CS/dbpass ]] || { head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$CL_CS/dbpass"; }
    chmod 600 "$CL_CS/dbpass"

    cl_write_configs
}

cl_write_configs() {
    local e=$CL_CS/etc dbpass
    dbpass=$(cat "$CL_CS/dbpass")
    cat >"$e/hosts" <<EOF
127.0.0.1 localhost
$CL_IP $CL_LOGIN ${CL_NODES[*]}
$CL_HOST_IP workstation
EOF
    # JobAcctGatherFrequency=task=1: jobacct_gather/linux samples a job's processes every
    # second; with the default 30 s a job of a few seconds is never sampled and sacct's
    # MaxRSS stays empty (proctrack/linuxproc cannot read exited processes at the end).
    # JobAcctGatherParams=OverMemoryKill: a job above its --mem is killed (OUT_OF_MEMORY), as
    # cgroups would on a real cluster; it needs memory to be a consumable resource
    # (CR_Core_Memory; DefMemPerCPU=1000 so that a job without --mem does not take a whole
    # node). The cpu partition has a MaxTime (1 day), so that a `time` above a partition's
    # limit can be tested.
    cat >"$e/slurm/slurm.conf" <<EOF
# Generated by tests/cluster/lib.sh for the test cluster $CL_NAME.
ClusterName=$CL_NAME
SlurmctldHost=$CL_LOGIN($CL_IP)
SlurmUser=root
SlurmctldPort=6817
AuthType=auth/munge
StateSaveLocation=$CL_IN/slurm/ctld
SlurmdSpoolDir=$CL_IN/slurm/spool/%n
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd-%n.pid
SlurmctldLogFile=$CL_IN/log/slurmctld.log
SlurmdLogFile=$CL_IN/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
MinJobAge=600
KillWait=5
InactiveLimit=0
GresTypes=gpu
MailProg=$CL_IN/bin/mail
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
TaskProlog=$CL_IN/bin/task_prolog
NodeName=${CL_NODES[0]} NodeAddr=$CL_IP Port=6818 CPUs=4 RealMemory=4000 Gres=gpu:2 State=UNKNOWN
NodeName=${CL_NODES[1]} NodeAddr=$CL_IP Port=6828 CPUs=4 RealMemory=4000 Gres=gpu:2 State=UNKNOWN
PartitionName=gpu Nodes=${CL_NODES[0]},${CL_NODES[1]} Default=YES MaxTime=INFINITE State=UP
PartitionName=cpu Nodes=${CL_NODES[0]},${CL_NODES[1]} MaxTime=1-00:00:00 State=UP
EOF
    # A node the administrator marks broken (a file $CL_IN/broken/NODE, i.e.
    # .state/NAME/cluster/broken/NODE on the workstation) runs its tasks with a Python path
    # whose wandb cannot be imported, as on a node whose software image lost a library: every
    # program that imports wandb fails there, the same programs work on the other node.
    install -d -m 755 "$CL_CS/broken" "$CL_CS/broken-site/wandb"
    cat >"$CL_CS/broken-site/wandb/__init__.py" <<'EOF'
raise ImportError(
    "libstdc++.so.6: cannot open shared object file: No such file or directory "
    "(this test node is marked broken: tests/cluster/lib.sh)"
)
EOF
    cat >"$CL_CS/bin/task_prolog" <<EOF
#!/bin/sh
# slurmd's TaskProlog (tests/cluster/lib.sh): its "export" lines enter each task's environment.
if [ -n "\$SLURMD_NODENAME" ] && [ -e "$CL_IN/broken/\$SLURMD_NODENAME" ]; then
    echo "export PYTHONPATH=$CL_IN/broken-site"
fi
EOF
    chmod 755 "$CL_CS/bin/task_prolog"
    cat >"$e/slurm/gres.conf" <<EOF
AutoDetect=off
NodeName=${CL_NODES[0]} Name=gpu File=$CL_IN/dev/${CL_NODES[0]}/nvidia[0-1]
NodeName=${CL_NODES[1]} Name=gpu File=$CL_IN/dev/${CL_NODES[1]}/nvidia[0-1]
EOF
    cat >"$e/slurm/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
LogFile=$CL_IN/log/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3306
StorageUser=slurm
StoragePass=$dbpass
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$e/slurm/slurmdbd.conf"
    chmod 644 "$e/slurm/slurm.conf" "$e/slurm/gres.conf" "$e/hosts"
    cat >"$e/ssh/sshd_config" <<EOF
Port $CL_SSH_PORT
ListenAddress $CL_IP
ListenAddress 127.0.0.1
HostKey $CL_IN/etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin no
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
UsePAM yes
PrintMotd no
X11Forwarding no
AcceptEnv LANG LC_*
MaxStartups 100:30:200
MaxSessions 100
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
    chmod 600 "$e/ssh/sshd_config"
    # MailProg: record mails instead of sending them
    cat >"$CL_CS/bin/mail" <<EOF
#!/bin/sh
printf '%s\t%s\n' "\$(date +%FT%T)" "\$*" >>$CL_IN/mail/mail.log
cat >/dev/null
EOF
    chmod 755 "$CL_CS/bin/mail"
}

# ---------------------------------------------------------------- bring-up pieces
cl_net_up() {
    if cl_netns_exists; then
        ! cl_netns_busy \
            || cl_die "network namespace $CL_NETNS is in use by processes we did not record (a cluster '$CL_NAME' from another checkout?): run its tests/cluster/down first"
        ip netns del "$CL_NETNS"
    fi
    ip link del "$CL_VETH_OUT" 2>/dev/null || true
    if ip -o -4 addr show | grep -q " $CL_HOST_IP/"; then
        cl_die "$CL_HOST_IP is already in use on this machine; set SWEEPOPS_TEST_CLUSTER_INDEX"
    fi
    ip netns add "$CL_NETNS"
    stat -L -c %i "/run/netns/$CL_NETNS" >"$CL_STATE/netns.id"
    ip link add "$CL_VETH_OUT" type veth peer name "$CL_VETH_IN" netns "$CL_NETNS"
    ip addr add "$CL_HOST_IP/24" dev "$CL_VETH_OUT"
    ip link set "$CL_VETH_OUT" up
    ip -n "$CL_NETNS" link set lo up
    ip -n "$CL_NETNS" addr add "$CL_IP/24" dev "$CL_VETH_IN"
    ip -n "$CL_NETNS" link set "$CL_VETH_IN" up
    # no default route inside: the cluster reaches only itself and 10.203.N.1
}

cl_mntns_up() {
    mountpoint -q "$CL_NS" || { mount --bind "$CL_NS" "$CL_NS"; mount --make-private "$CL_NS"; }
    touch "$CL_NS/mnt" "$CL_NS/uts"
    unshare --mount="$CL_NS/mnt" --uts="$CL_NS/uts" --propagation private true
    cl_nsexec bash -s -- "$CL_LOGIN" "$CL_CS" "$CL_IN" "$CL_STATE" "$CL_LAB" <<'EOF'
set -euo pipefail
login=$1 cs=$2 in=$3 state=$4 lab=$5
hostname "$login"
# Drop the copies of every namespace file mount (other clusters', ip netns'): they would
# keep those namespaces alive after their owners went down.
sed -n 's/^[0-9]* [0-9]* [^ ]* [^ ]* \([^ ]*\) .* - nsfs .*/\1/p' /proc/self/mountinfo |
    sort -r | while read -r m; do umount -l "$(printf '%b' "$m")" 2>/dev/null || true; done
mount -t tmpfs -o mode=755,nosuid tmpfs /run
install -d -m 755 -o munge -g munge /run/munge
install -d -m 755 -o mysql -g mysql /run/mysqld
install -d -m 755 /run/sshd
mount --bind "$cs" "$in"
mount --bind "$in/etc/slurm" /etc/slurm
mount --bind "$in/etc/hosts" /etc/hosts
mount --bind "$state/home" /home
mount --bind "$state/lab" "$lab"
EOF
    cl_mntns_id >"$CL_STATE/mntns.id"
}

cl_start_daemons() {
    local t
    t=$(date +%s%N)
    cl_spawn munged setpriv --reuid=munge --regid=munge --init-groups \
        /usr/sbin/munged -F --force --key-file="$CL_IN/munge/munge.key" \
        --socket=/run/munge/munge.socket.2 --pid-file=/run/munge/munged.pid \
        --log-file="$CL_IN/log/munged.log" --seed-file="$CL_IN/munge/munged.seed"
    cl_spawn sshd /usr/sbin/sshd -D -e -f "$CL_IN/etc/ssh/sshd_config"

    if [[ ! -d $CL_CS/mysql/mysql ]]; then
        cl_log "initialising MariaDB data dir"
        cl_nsexec mariadb-install-db --no-defaults --user=mysql --datadir="$CL_IN/mysql" \
            --auth-root-authentication-method=socket --skip-test-db >>"$CL_CS/log/mariadb-install.log" 2>&1 \
            || cl_die "mariadb-install-db failed, see $CL_CS/log/mariadb-install.log"
    fi
    cl_spawn mariadbd /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$CL_IN/mysql" \
        --socket=/run/mysqld/mysqld.sock --pid-file=/run/mysqld/mysqld.pid \
        --log-error="$CL_IN/log/mariadbd.log" --bind-address=127.0.0.1 --port=3306 \
        --skip-name-resolve --skip-log-bin --innodb-buffer-pool-size=64M \
        --innodb-log-file-size=16M --innodb-lock-wait-timeout=900

    cl_wait munged 10 cl_nsexec test -S /run/munge/munge.socket.2 || cl_die "munged did not start (log: $CL_CS/log/munged.log)"
    cl_wait mariadbd 60 cl_nsexec mariadb-admin --no-defaults --socket=/run/mysqld/mysqld.sock ping \
        || cl_die "mariadbd did not start (log: $CL_CS/log/mariadbd.log)"
    local dbpass; dbpass=$(cat "$CL_CS/dbpass")
    cl_nsexec mariadb --no-defaults --socket=/run/mysqld/mysqld.sock -u root <<EOF
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$dbpass';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$dbpass';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
EOF
    cl_spawn slurmdbd /usr/sbin/slurmdbd -D
    cl_wait slurmdbd 30 cl_nsexec bash -c 'echo >/dev/tcp/127.0.0.1/6819' \
        || cl_die "slurmdbd did not start (log: $CL_CS/log/slurmdbd.log)"
    if ! cl_nsexec sacctmgr -n -P show cluster format=cluster 2>/dev/null | grep -qx "$CL_NAME"; then
        cl_nsexec sacctmgr -i add cluster "$CL_NAME" >&2
    fi
    cl_spawn slurmctld /usr/sbin/slurmctld -D -i
    cl_wait slurmctld 30 cl_nsexec scontrol ping || cl_die "slurmctld did not start (log: $CL_CS/log/slurmctld.log)"
    local node
    for node in "${CL_NODES[@]}"; do
        cl_spawn "slurmd-${node#"$CL_NAME"-}" /usr/sbin/slurmd -D -N "$node"
    done
    cl_wait "both nodes idle" 60 cl_nodes_idle || {
        cl_nsexec sinfo -N >&2 || true
        cl_die "nodes not idle (logs: $CL_CS/log/slurmd-*.log)"
    }
    cl_wait sshd 10 bash -c "echo >/dev/tcp/$CL_IP/$CL_SSH_PORT" || cl_die "sshd did not start (log: $CL_CS/log/sshd.log)"
    cl_log "daemons up in $(( ($(date +%s%N) - t) / 1000000 )) ms"
}

cl_nodes_idle() {
    local out node
    out=$(cl_nsexec sinfo -h -N -p gpu -o '%N %T') || return 1
    for node in "${CL_NODES[@]}"; do
        if grep -qx "$node drained" <<<"$out"; then
            cl_nsexec scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true
        fi
        grep -qx "$node idle" <<<"$out" || return 1
    done
}

# ---------------------------------------------------------------- health / outputs
cl_healthy() {
    cl_ns_mounted && cl_netns_ours || return 1
    local d
    for d in "${CL_DAEMONS[@]}"; do cl_daemon_alive "$d" || return 1; done
    cl_nsexec scontrol ping >/dev/null 2>&1 || return 1
    bash -c "echo >/dev/tcp/$CL_IP/$CL_SSH_PORT" 2>/dev/null
}

cl_write_inventory() {
    local ssh_args="-o UserKnownHostsFile=$CL_KNOWN_HOSTS -o StrictHostKeyChecking=accept-new"
    cat >"$CL_INVENTORY" <<EOF
# Generated by tests/cluster/up for the test cluster $CL_NAME.
all:
  children:
    $CL_NAME:
      hosts:
        $CL_LOGIN:
          ansible_host: $CL_IP
          ansible_port: $CL_SSH_PORT
          ansible_user: $CL_USER
          ansible_ssh_private_key_file: $CL_KEY
          ansible_ssh_common_args: "$ssh_args"
          # replaces Ansible's default (ControlPersist=60s): masters die soon after a run
          ansible_ssh_args: "-C -o ControlMaster=auto -o ControlPersist=5s"
          ansible_python_interpreter: /usr/bin/python3
      vars:
        scheduler: slurm
        lab_root: $CL_LAB
        partition: gpu
        gres: "gpu:1"
        cpus_per_task: 1
        mem: 1G
        time: "00:10:00"
EOF
}

cl_exports() {
    local k v
    for k in CLUSTER LOGIN_HOST SSH_PORT USER PASSWORD KEY LAB STATE INVENTORY; do
        case $k in
            CLUSTER) v=$CL_NAME ;; LOGIN_HOST) v=$CL_IP ;; SSH_PORT) v=$CL_SSH_PORT ;;
            USER) v=$CL_USER ;; PASSWORD) v=$CL_PASSWORD ;; KEY) v=$CL_KEY ;;
            LAB) v=$CL_LAB ;; STATE) v=$CL_STATE ;; INVENTORY) v=$CL_INVENTORY ;;
        esac
        printf 'export SWEEPOPS_TEST_%s=%q\n' "$k" "$v"
    done
}

# ---------------------------------------------------------------- tear-down
# cl_stop: end every process of the cluster (recorded PIDs first, then anything else in
# its namespaces), unmount, delete the netns and veth. Idempotent.
cl_stop() {
    local pids=() p d i m left
    if cl_ns_mounted; then
        for d in "${CL_DAEMONS[@]}"; do
            p=$(cl_pidof "$d") || continue
            cl_pid_ours "$p" && pids+=("$p")
        done
        mapfile -t pids < <({ printf '%s\n' "${pids[@]}"; cl_ns_pids; } | grep . | sort -un)
    elif cl_netns_ours; then
        mapfile -t pids < <(cl_ns_pids | sort -un)
    fi
    local all=("${pids[@]}")
    if ((${#pids[@]})); then
        cl_log "stopping ${#pids[@]} process(es)"
        for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
        for ((i = 0; i < 100; i++)); do
            [[ -z $(cl_ns_pids) ]] && break
            sleep 0.1
        done
        mapfile -t pids < <(cl_ns_pids | sort -un)
        if ((${#pids[@]})); then
            cl_log "killing ${#pids[@]} process(es) that ignored SIGTERM"
            for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
            for ((i = 0; i < 50; i++)); do [[ -z $(cl_ns_pids) ]] && break; sleep 0.1; done
        fi
    fi
    [[ -z $(cl_ns_pids) ]] || cl_log "WARNING: processes left: $(cl_ns_pids | tr '\n' ' ')"
    # exited daemons are zombies until init reaps them (our parent is gone): wait a little
    for ((i = 0; i < 30; i++)); do
        left=0
        for p in "${all[@]}"; do [[ -e /proc/$p ]] && left=1; done
        ((left)) || break
        sleep 0.1
    done
    for m in "$CL_NS/mnt" "$CL_NS/uts" "$CL_NS"; do
        if mountpoint -q "$m" 2>/dev/null; then umount "$m" 2>/dev/null || umount -l "$m"; fi
    done
    if cl_netns_ours || ! cl_netns_busy; then
        if cl_netns_exists; then ip netns del "$CL_NETNS" || true; fi
        ip link del "$CL_VETH_OUT" 2>/dev/null || true
    else
        cl_log "network namespace $CL_NETNS belongs to another checkout's cluster: left alone"
    fi
    rm -f "$CL_PIDS"/*.pid "$CL_STATE/mntns.id" "$CL_STATE/netns.id" 2>/dev/null || true
}

cl_purge() {
    if grep -qF " $CL_STATE" /proc/self/mountinfo; then
        cl_die "something is still mounted under $CL_STATE; not deleting it"
    fi
    rm -rf "$CL_STATE"
    rm -f "$CL_STATE_ROOT/.$CL_NAME.lock"
}
