#!/bin/bash
# PID-1 prologue of one simulated host (see tests/harness/hosts.py, Host.start).
#
# Runs as PID 1 of a fresh pid namespace, inside
#   ip netns exec NS unshare --mount --uts --ipc --pid --fork --mount-proc \
#       --propagation private --kill-child=SIGKILL
# sets the host up, tells the harness it is ready, then execs ARGV (which
# therefore becomes PID 1 of the host).
#
# usage: host_init.sh HOSTNAME READY_FD SEED_DIRS [--bind SRC DST]... [--keep PATH]...
#                     [--shm-size SIZE] [--pacemaker-gate GATE] -- ARGV...
#   READY_FD   fd on which "ready" is written once set-up is done (then closed)
#   SEED_DIRS  1: (re)create the directories the Debian packages ship under
#              the bind-mounted paths, with their owner/mode; 0: leave the
#              (possibly empty) persistent directories as they are.
#   --shm-size a size limit for /dev/shm (as Docker's --shm-size; its default is 64m);
#              none: an unlimited tmpfs
#   --pacemaker-gate  lay /usr/lib/pacemaker out as the image does (see image/pacemaker-gate):
#              the daemons GATE stands in for run it, the real ones are under gated/
set -eu

hostname=$1 ready_fd=$2 seed_dirs=$3
shift 3

hostname "$hostname"

# Per-host persistent directories (they survive a restart of the host).
# First: their sources may be under /tmp, which is hidden just below.
while [ "$1" = --bind ]; do
    mount --bind "$2" "$3"
    shift 3
done
# --keep PATH: a path under /tmp (the checkout, its venv) that must survive the private /tmp.
keep=()
while [ "$1" = --keep ]; do
    keep+=("$2")
    shift 2
done
shm_opts=mode=1777,nosuid,nodev
if [ "$1" = --shm-size ]; then
    shm_opts=$shm_opts,size=$2
    shift 2
fi
gate=
if [ "$1" = --pacemaker-gate ]; then
    gate=$2
    shift 2
fi
[ "$1" = -- ] && shift

# Private, empty /run, /dev/shm (libqb IPC buffers live there) and /tmp
# (bind targets must therefore not be under these).
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mkdir -p /run/.keep
for i in "${!keep[@]}"; do
    mkdir "/run/.keep/$i"
    mount --bind "${keep[$i]}" "/run/.keep/$i"
done
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
for i in "${!keep[@]}"; do
    mkdir -p "${keep[$i]}"
    mount --move "/run/.keep/$i" "${keep[$i]}"
done
rmdir /run/.keep/* /run/.keep 2>/dev/null || true
mkdir -p /run/lock
chmod 1777 /run/lock

# A private /dev, as a container has: the launcher binds /dev/log here (the machine's own
# /dev/log must stay untouched), and a shared /dev/shm would mix the hosts' libqb buffers.
mount -t tmpfs -o mode=0755,nosuid tmpfs /dev
for spec in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
    IFS=: read -r name major minor <<<"$spec"
    mknod -m 0666 "/dev/$name" c "$major" "$minor"
done
ln -s /proc/self/fd /dev/fd
for i in 0:stdin 1:stdout 2:stderr; do ln -s "/proc/self/fd/${i%%:*}" "/dev/${i##*:}"; done
mkdir /dev/shm /dev/pts
mount -t tmpfs -o "$shm_opts" tmpfs /dev/shm

# pacemakerd/pacemaker-controld may write 'b' or 'c' there (panic / self-fence):
# that would reboot or crash the whole machine, not just this host.
for f in /proc/sysrq-trigger /proc/sys/kernel/sysrq; do
    if [ -e "$f" ]; then mount --bind /dev/null "$f"; fi
done

# The image's dpkg-divert, in this host's mounts only: a tmpfs over /usr/lib/pacemaker holds
# a link per file, to the gate or to the real file, which the real directory, moved to gated/,
# still holds.
if [ -n "$gate" ]; then
    mkdir /run/.pacemaker
    mount --bind /usr/lib/pacemaker /run/.pacemaker
    mount -t tmpfs -o mode=0755 tmpfs /usr/lib/pacemaker
    gated=" $("$gate" --gated | tr '\n' ' ') "
    for f in /run/.pacemaker/*; do
        n=${f##*/}
        case $gated in
        *" $n "*) ln -s "$gate" "/usr/lib/pacemaker/$n" ;;
        *) ln -s "gated/$n" "/usr/lib/pacemaker/$n" ;;
        esac
    done
    mkdir /usr/lib/pacemaker/gated
    mount --move /run/.pacemaker /usr/lib/pacemaker/gated
    rmdir /run/.pacemaker
fi

# dir OWNER GROUP MODE PATH: like the packages' postinst (dpkg-statoverride).
dir() {
    mkdir -p "$4"
    chown "$1:$2" "$4"
    chmod "$3" "$4"
}
if [ "$seed_dirs" = 1 ]; then
    dir root root 0755 /etc/corosync
    dir root root 0755 /etc/corosync/uidgid.d
    dir root root 0755 /etc/pacemaker
    dir root root 0755 /var/lib/corosync
    dir root root 0755 /var/lib/pacemaker
    for d in cib pengine blackbox cores; do
        dir hacluster haclient 0750 "/var/lib/pacemaker/$d"
    done
    dir root root 0755 /var/log
    dir root root 0755 /var/log/corosync
    dir hacluster haclient 0770 /var/log/pacemaker
    dir hacluster haclient 0770 /var/log/pacemaker/bundles
fi

# (bash, not dash: the fd number may have more than one digit)
echo ready >&"$ready_fd"
exec {ready_fd}>&-
exec "$@"
