#!/bin/bash
# host-init.sh HOSTDIR
#
# PID 1 of one simulated host. simlab.sh starts it as
#   ip netns exec <lab>-<host> unshare --mount --uts --pid --fork --kill-child \
#       --mount-proc --propagation private -- bash host-init.sh HOSTDIR
# so everything below happens inside the host's own network, mount, UTS and
# PID namespaces: nothing here is visible from the machine's root namespaces.
# It makes the private filesystem view, names the host, starts sshd (and dnsmasq on a DNS
# host), writes HOSTDIR/ready and then stays as the namespace's init (reaping orphans) until
# simlab.sh down kills it.
set -euo pipefail

HOSTDIR=${1:?usage: host-init.sh HOSTDIR}
# shellcheck source=/dev/null
. "$HOSTDIR/host.env" # SIM_RUN SIM_NAME SIM_SHORT SIM_FQDN SIM_IP SIM_DNS SIM_GUARDS SIM_KUBERNETES...

echo "host-init: $SIM_FQDN ($SIM_IP) starting"

# 1. A private /run; stage the two run-dir folders the host must keep seeing
#    (its own folder: sshd config, keys, logs; the lab's shared apiserver dir)
#    before /tmp is hidden by a private tmpfs.
mount -t tmpfs -o mode=0755,size=64m simlab-run /run
mkdir -p /run/.simlab/host /run/.simlab/api /run/sshd /run/lock
mount --bind "$HOSTDIR" /run/.simlab/host
mount --bind "$SIM_RUN/apiserver" /run/.simlab/api
#    A lab of real Kubernetes (simlab.sh up --kubernetes real): the v1.9.4 binaries and the
#    repository (the kubelet stand-in), read-only, wherever they are on the machine (a CI clone
#    may be under /tmp or /root, which are private here).
real_k8s=0
if [ "${SIM_KUBERNETES:-standin}" = real ]; then
  real_k8s=1
  mkdir -p /run/.simlab/k8s-bin /run/.simlab/repo /run/.simlab/dp-bin
  mount --bind "$SIM_K8S_SRC" /run/.simlab/k8s-bin
  mount -o remount,bind,ro /run/.simlab/k8s-bin
  mount --bind "$SIM_DP_SRC" /run/.simlab/dp-bin
  mount -o remount,bind,ro /run/.simlab/dp-bin
  mount --bind "$SIM_REPO_SRC" /run/.simlab/repo
  mount -o remount,bind,ro /run/.simlab/repo
fi

# 2. Private overlays. /etc and /var: lower is the machine's real directory.
#    /root, /opt and /usr/local/bin: lower is a lab skeleton (a clean root home; an empty
#    /opt, where packages put /opt/cni/bin; the stand-ins), so neither the machine's root
#    dotfiles nor its real /opt and /usr/local/bin tools appear on a simulated host.
ovl() { # target lowerdir name
  local d="$HOSTDIR/ovl/$3"
  mount -t overlay "simlab-$3" -o "lowerdir=$2,upperdir=$d/upper,workdir=$d/work" "$1"
}
ovl /etc /etc etc
ovl /var /var var
ovl /root "$SIM_RUN/skel/root" root
ovl /opt "$SIM_RUN/skel/opt" opt
ovl /usr/local/bin "$SIM_RUN/standins" usrlocalbin

# 3. Shadow the real binaries of dangerous commands, so that even an absolute
#    path (/usr/sbin/sysctl) never reaches the real machine: bind over each a
#    two-line wrapper that execs /usr/local/bin/<name> (a wrapper, not the
#    stand-in itself, so a stand-in still finds its siblings by its own path).
bound=" "
for n in $SIM_GUARDS; do
  [ -x "/usr/local/bin/$n" ] && [ -f "$SIM_RUN/lib/guard/$n" ] || continue
  for d in /usr/sbin /usr/bin /sbin /bin; do
    # skip /sbin, /bin when they are links to /usr (merged /usr)
    [ -L "$d" ] && continue
    p=$d/$n
    [ -f "$p" ] || continue
    case $bound in *" $p "*) continue ;; esac
    mount --bind "$SIM_RUN/lib/guard/$n" "$p"
    bound="$bound$p "
  done
done
echo "host-init: guarded:$bound"

# 4. A private /tmp.
mount -t tmpfs -o mode=1777,size=256m simlab-tmp /tmp

# 5. Put the staged folders back at their own paths (inside whatever now
#    covers them), so paths written in configs are the same inside and out.
mkdir -p "$HOSTDIR" "$SIM_RUN/apiserver"
mount --move /run/.simlab/host "$HOSTDIR"
mount --move /run/.simlab/api "$SIM_RUN/apiserver"
rmdir /run/.simlab/host /run/.simlab/api
if [ "$real_k8s" = 1 ]; then # at fixed paths in the host's private /var
  mkdir -p "$SIM_K8S_BIN" "$SIM_REPO" "$SIM_DP_BIN"
  mount --move /run/.simlab/k8s-bin "$SIM_K8S_BIN"
  mount --move /run/.simlab/repo "$SIM_REPO"
  mount --move /run/.simlab/dp-bin "$SIM_DP_BIN"
  rmdir /run/.simlab/k8s-bin /run/.simlab/repo /run/.simlab/dp-bin
  echo "host-init: Kubernetes v1.9.4 binaries at $SIM_K8S_BIN, the data plane's at $SIM_DP_BIN, the repository at $SIM_REPO (read-only)"
fi
rmdir /run/.simlab

# 6. Name.
hostname "$SIM_FQDN"

# 7. Services.
/usr/sbin/sshd -f "$HOSTDIR/sshd_config" -E "$HOSTDIR/sshd.log"
if [ "$SIM_DNS" = 1 ]; then
  "$HOSTDIR/dnsmasq-ctl" start
fi
if [ "${SIM_MIRROR:-0}" = 1 ]; then
  # The lab's mirror of the upstream manifests: Python's http.server on port 80, one log line a request.
  python3 -m http.server 80 --bind "$SIM_IP" --directory "$HOSTDIR/www" >"$HOSTDIR/http.log" 2>&1 &
  echo $! >"$HOSTDIR/http.pid"
  for _ in $(seq 1 100); do # bounded: 10 s
    python3 -c "import socket,sys; socket.create_connection((sys.argv[1], 80), 0.2).close()" "$SIM_IP" 2>/dev/null && break
    sleep 0.1
  done
fi

echo "host-init: $SIM_FQDN ready"
: >"$HOSTDIR/ready"

# 8. Stay as init: bash reaps re-parented orphans while it waits.
set +e
trap 'exit 0' TERM INT
while :; do
  sleep 3600 &
  wait $!
done
