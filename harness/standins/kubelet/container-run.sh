#!/usr/bin/env bash
# container-run.sh PLAN: one container of a pod, as a container runtime would start it, on a
# simulated lab host that has no container runtime.
#
# The kubelet stand-in (runtime.ts) starts it already inside the pod's network namespace (for a
# pod on the host network: the host's) and in a new mount, UTS, IPC and PID namespace (not the
# PID one for a hostPID pod), as PID 1 of that namespace:
#
#   nsenter --net=/run/netns/<pod> -- unshare --mount --uts --ipc --pid --fork --kill-child \
#     --propagation private -- bash container-run.sh <pod dir>/containers/<name>.plan
#
# It builds the container's root filesystem from the plan, writes its pid as the machine sees it
# to the plan's pidfile, then execs the container's command with its environment, chrooted there:
# the container's main process keeps that pid (this script execs; so do env and unshare), so
# `nsenter --target <pid> --mount --net --uts --ipc --pid --root --wd` enters the container
# (kubectl exec). Like a container's, every process it starts ends with it: when PID 1 of the
# namespace ends, the kernel kills the others; when the stand-in kills the unshare above it,
# --kill-child kills PID 1.
#
# The root is a tmpfs at /mnt (in this private mount namespace only) holding the image's view:
# the host's /usr (under a private writable layer; /bin, /sbin, /lib* are the host's links into it), a private
# /usr/local, a writable overlay of the host's /etc, empty /var, /tmp, /run, /root, /home, a new
# /proc and /sys (sysfs of the pod's own network namespace), /dev (the host's for a privileged
# container, else the usual device nodes), then the pod's volumes and the image's own files
# (the programs the image would carry, from the lab's builds) at their paths.
#
# PLAN: one step a line, fields separated by tabs (paths and values hold no tab or newline):
#   pidfile <path>                        where the container's pid (as the machine sees it) is written
#   hostname <name>                       the UTS host name (a pod's name, unless on the host network)
#   privileged <0|1>                      the host's /dev and a writable /sys when 1
#   bind <source> <path> <ro|rw>          a volume (hostPath, configMap, secret, emptyDir) at <path>
#   file <source> <path>                  an image's file (a program) or directory at <path>, read-only
#   copy <source> <path>                  a file written into the container (resolv.conf, hosts, hostname)
#   env <NAME=value>                      one variable of the container's environment
#   wd <dir>                              the working directory (default /)
#   arg <word>                            the command line, one word a line, command first
set -euo pipefail

PLAN=${1:?usage: container-run.sh PLAN}
BASE=/mnt
ROOT=$BASE/root
SCRATCH=$BASE/scratch

die() {
  echo "container-run: $*" >&2
  exit 127
}

hostname_="" privileged=0 wd=/ pidfile=""
envs=() args=() binds=() files=() copies=()
while IFS=$'\t' read -r op a b c || [[ -n ${op:-} ]]; do
  case $op in
    pidfile) pidfile=$a ;;
    hostname) hostname_=$a ;;
    privileged) privileged=$a ;;
    bind) binds+=("$a" "$b" "$c") ;;
    file) files+=("$a" "$b") ;;
    copy) copies+=("$a" "$b") ;;
    env) envs+=("$a") ;;
    wd) wd=$a ;;
    arg) args+=("$a") ;;
    '' | '#'*) ;;
    *) die "$PLAN: unknown step '$op'" ;;
  esac
done <"$PLAN"
((${#args[@]})) || die "$PLAN: no command"

[[ -n $hostname_ ]] && hostname "$hostname_"

# inroot PATH: PATH with the root's symbolic links resolved inside the root (/var/run is /run
# there), so that a mount lands where the container sees it.
inroot() {
  unshare --root="$ROOT" realpath -m -- "$1"
}

# mkpoint PATH KIND: the mount point PATH inside the root (PATH resolved), a directory or (KIND=file) an empty file.
mkpoint() {
  if [[ $2 == file ]]; then
    mkdir -p "$(dirname "$ROOT$1")"
    [[ -e $ROOT$1 ]] || : >"$ROOT$1"
  else
    mkdir -p "$ROOT$1"
  fi
}

mount -t tmpfs -o mode=0755 kvl-container "$BASE"
mkdir -p "$ROOT" "$SCRATCH"

# The image's view of the system: the host's /usr under a private writable layer (a volume may
# need a mount point there: kube-proxy's /lib/modules), links as the host has them.
for d in usr bin sbin lib lib32 lib64 libx32; do
  if [[ -L /$d ]]; then
    ln -s "$(readlink "/$d")" "$ROOT/$d"
  elif [[ -d /$d ]]; then
    mkdir -p "$ROOT/$d" "$SCRATCH/$d/upper" "$SCRATCH/$d/work"
    mount -t overlay "kvl-$d" -o "lowerdir=/$d,upperdir=$SCRATCH/$d/upper,workdir=$SCRATCH/$d/work" "$ROOT/$d"
  fi
done
# /usr/local is the image's, not the host's (a simulated host has its stand-ins there).
mount -t tmpfs -o mode=0755 kvl-usr-local "$ROOT/usr/local"
mkdir -p "$ROOT/usr/local/bin" "$ROOT/usr/local/sbin"
# /etc: the host's, writable, changes private to the container.
mkdir -p "$ROOT/etc" "$SCRATCH/etc/upper" "$SCRATCH/etc/work"
mount -t overlay kvl-etc -o "lowerdir=/etc,upperdir=$SCRATCH/etc/upper,workdir=$SCRATCH/etc/work" "$ROOT/etc"
for d in var tmp run root home opt srv mnt media; do mkdir -p "$ROOT/$d"; done
chmod 1777 "$ROOT/tmp"
ln -s /run "$ROOT/var/run"
ln -s /run/lock "$ROOT/var/lock"
mkdir -p "$ROOT/proc" "$ROOT/sys" "$ROOT/dev"
mount -t proc proc "$ROOT/proc"
# A lab host is a network namespace, where the kernel makes nf_conntrack_max (an init-namespace
# knob) read-only: the container sees a private writable copy, so kube-proxy's write of it
# succeeds and goes nowhere (on a real host kube-proxy is in the init namespace and sets it).
if [[ -f /proc/sys/net/netfilter/nf_conntrack_max ]]; then
  cp /proc/sys/net/netfilter/nf_conntrack_max "$SCRATCH/nf_conntrack_max"
  mount --bind "$SCRATCH/nf_conntrack_max" "$ROOT/proc/sys/net/netfilter/nf_conntrack_max"
fi
if [[ $privileged == 1 ]]; then
  mount -t sysfs sysfs "$ROOT/sys"
  mount --rbind /dev "$ROOT/dev"
else
  mount -t sysfs -o ro sysfs "$ROOT/sys"
  mount -t tmpfs -o mode=0755,nosuid kvl-dev "$ROOT/dev"
  for n in null zero full random urandom tty; do
    : >"$ROOT/dev/$n"
    mount --bind "/dev/$n" "$ROOT/dev/$n"
  done
  mkdir -p "$ROOT/dev/pts" "$ROOT/dev/shm"
  mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$ROOT/dev/pts"
  ln -s pts/ptmx "$ROOT/dev/ptmx"
  mount -t tmpfs -o mode=1777,nosuid,nodev kvl-shm "$ROOT/dev/shm"
  ln -s /proc/self/fd "$ROOT/dev/fd"
  ln -s /proc/self/fd/0 "$ROOT/dev/stdin"
  ln -s /proc/self/fd/1 "$ROOT/dev/stdout"
  ln -s /proc/self/fd/2 "$ROOT/dev/stderr"
fi

# Files written into the container (resolv.conf, hosts, hostname), before the volumes.
for ((i = 0; i < ${#copies[@]}; i += 2)); do
  dst=$(inroot "${copies[i + 1]}")
  mkpoint "$dst" file
  cp -- "${copies[i]}" "$ROOT$dst"
done
# The volumes, in the order of the container's volumeMounts.
for ((i = 0; i < ${#binds[@]}; i += 3)); do
  src=${binds[i]} dst=$(inroot "${binds[i + 1]}") mode=${binds[i + 2]}
  if [[ -d $src ]]; then mkpoint "$dst" dir; else mkpoint "$dst" file; fi
  mount --rbind "$src" "$ROOT$dst"
  if [[ $mode == ro ]]; then mount -o remount,bind,ro "$ROOT$dst"; fi
done
# The image's programs and files.
for ((i = 0; i < ${#files[@]}; i += 2)); do
  dst=$(inroot "${files[i + 1]}")
  if [[ -d ${files[i]} ]]; then mkpoint "$dst" dir; else mkpoint "$dst" file; fi
  mount --rbind "${files[i]}" "$ROOT$dst"
  mount -o remount,bind,ro "$ROOT$dst"
done

# The machine's /proc is still mounted at /proc here: its "self" is this shell as the machine sees
# it (read by a redirection of bash itself, not by a child process).
if [[ -n $pidfile ]]; then
  read -r stat </proc/self/stat
  printf '%s\n' "${stat%% *}" >"$pidfile.tmp" && mv -f "$pidfile.tmp" "$pidfile"
fi
exec env -i "${envs[@]}" unshare --root="$ROOT" --wd="$wd" -- "${args[@]}"
