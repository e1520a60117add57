#!/bin/bash
# simlab.sh: a simulated kubevirt-lab of real SSH hosts on this one machine.
#
# Every simulated host is a set of namespaces (network, mount, UTS, PID) with
# its own eth0, private overlays of /etc /var /root /usr/local/bin, a private
# /tmp and /run, the recording stand-ins of harness/standins/bin in
# /usr/local/bin, and a real sshd (plus a real dnsmasq on a DNS host). Hosts
# hang on a bridge that lives in an "operator" network namespace: run anything
# that talks to the hosts (ssh, dig, the Pulumi engine) there, with `op`.
#
# SAFETY: the hosts use the lab's real addresses (172.31.50.x by default).
# No address or route of the lab is ever put in the machine's root network
# namespace, and the operator namespace has no route out, so no packet can
# leave the machine. Root must run this (namespaces, mounts).
#
# See harness/simlab/README.md for the layout of the run directory.
set -Eeuo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
HARNESS=$(dirname "$SELF")
REPO=$(dirname "$HARNESS")
LIBDIR=$HARNESS/simlab
STANDINS_SRC=${SIMLAB_STANDINS:-$REPO/harness/standins/bin}

DEFAULT_HOSTS="km1=172.31.50.221,kn1=172.31.50.231,kn2=172.31.50.232"
DEFAULT_DNS="dns1=172.31.50.10"
# The mirror host (none unless --mirror): an HTTP server whose paths are the upstream URLs'
# host and path (http://<mirror>/raw.githubusercontent.com/coreos/flannel/...), serving the
# post's real upstream manifests from $SIMLAB_MIRROR_SRC.
MIRROR_SRC=${SIMLAB_MIRROR_SRC:-$(dirname "$REPO")/shared/upstream/manifests}
MIRROR=""
# Kubernetes of the lab: "standin" (default: the recording kubeadm and kubectl of
# harness/standins/bin, no API server) or "real" (--kubernetes real: yum "installs" the real
# v1.9.4 kubeadm and kubectl of harness/kubernetes.sh's cache, and systemctl runs the kubelet
# stand-in of harness/standins/kubelet as the kubelet; see harness/simlab/README.md).
KUBERNETES=standin
# Where a host of a real-Kubernetes lab sees the binaries and the repository (read-only binds
# made by host-init.sh inside its own mount namespace), whatever their paths on the machine.
HOST_K8S_BIN=/var/lib/kubevirt-lab-sim/k8s-bin
HOST_REPO=/var/lib/kubevirt-lab-sim/repo
HOST_DP_BIN=/var/lib/kubevirt-lab-sim/dataplane-bin
DOMAIN_DEFAULT=virtomation.com
# Commands whose real binary must never run from a simulated host: a
# placeholder stands in when harness/standins/bin has no stand-in of that name,
# and host-init.sh bind-mounts the stand-in over the real binary's path.
GUARDS="sysctl systemctl modprobe insmod rmmod setenforce getenforce swapoff swapon
reboot shutdown poweroff halt hostnamectl yum rpm dnf kubeadm kubectl kubelet
docker docker-storage-setup"
WAIT_TRIES=${SIMLAB_WAIT_TRIES:-150} # x 0.1 s: bounded wait for a host to come up

NAME=${SIMLAB_NAME:-kvl}

usage() {
  cat <<EOF
usage: simlab.sh [--name LAB] COMMAND [ARGS]

  up [--hosts h=ip,...] [--dns h=ip,...] [--mirror h=ip] [--kubernetes standin|real]
     [--domain D] [--gw IP] [--name LAB]
        default hosts: $DEFAULT_HOSTS
        default dns:   $DEFAULT_DNS   (--dns '' for none)
        --mirror:      an HTTP mirror of the upstream manifests (\$SIMLAB_MIRROR_SRC)
        --kubernetes:  standin (default): recording kubeadm/kubectl, no API server;
                       real: the real v1.9.4 kubeadm/kubectl (harness/kubernetes.sh), the
                       kubelet stand-in as the kubelet
  down                   tear everything down (idempotent, works after failures)
  status                 per host: address, holder/sshd alive, reachable from op
  info                   KEY=value lines: run dir, key, ssh_config, netns names...
  exec HOST CMD...       run CMD inside HOST's namespaces (its /etc, /var...)
  op CMD...              run CMD in the operator network namespace
  stop-sshd HOST | start-sshd HOST
  add-host NAME=IP       add a host to a running lab
  sync-standins          copy harness/standins/bin/* again into every host

LAB: [a-z][a-z0-9]{0,10} (default kvl, or \$SIMLAB_NAME)
run dir: \${SIMLAB_DIR:-/tmp/kubevirt-lab-sim/LAB}
EOF
}

die() {
  echo "simlab: $*" >&2
  exit 1
}
log() { echo "simlab: $*" >&2; }

# ---------------------------------------------------------------- names ----

set_names() {
  [[ $NAME =~ ^[a-z][a-z0-9]{0,10}$ ]] ||
    die "lab name '$NAME' must match [a-z][a-z0-9]{0,10} (no '-': netns names are '<lab>-<host>')"
  RUN=${SIMLAB_DIR:-/tmp/kubevirt-lab-sim/$NAME}
  RUN=${RUN%/}
  case $RUN in
    /*) ;;
    *) die "SIMLAB_DIR must be absolute" ;;
  esac
  case $RUN/ in
    /run/* | /proc/* | /sys/* | /dev/* | /etc/* | /usr/local/bin/*) die "run dir $RUN: not under /run /proc /sys /dev /etc /usr/local/bin" ;;
  esac
  OP=$NAME-op
  BR=$NAME-br0
  NETNS_ETC=/etc/netns/$OP
  LOCK=$RUN.lock
}

check_host_name() {
  [[ $1 =~ ^[a-z][a-z0-9-]{0,11}$ ]] || die "host name '$1' must match [a-z][a-z0-9-]{0,11}"
  [ "$1" != op ] || die "host name 'op' is reserved"
}

check_ip() {
  local ip=$1 o
  [[ $ip =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || die "bad IPv4 address '$ip'"
  for o in "${BASH_REMATCH[@]:1}"; do
    [ "$o" -le 255 ] || die "bad IPv4 address '$ip'"
  done
}

net24() { echo "${1%.*}"; }

# ------------------------------------------------------------ lab state ----
# lab.env holds NAME DOMAIN GW HOSTS DNS MIRROR KUBERNETES (HOSTS/DNS/MIRROR: "h=ip h=ip"). An
# older lab's also holds VMS VM_PORTS VM_USER, read and unused: down goes by hosts/ and netns.list.

load_lab() {
  [ -f "$RUN/lab.env" ] || return 1
  # shellcheck source=/dev/null
  . "$RUN/lab.env"
}

save_lab() {
  {
    printf 'LAB_NAME=%q\n' "$NAME"
    printf 'DOMAIN=%q\n' "$DOMAIN"
    printf 'GW=%q\n' "$GW"
    printf 'HOSTS=%q\n' "$HOSTS"
    printf 'DNS=%q\n' "$DNS"
    printf 'MIRROR=%q\n' "$MIRROR"
    printf 'KUBERNETES=%q\n' "$KUBERNETES"
  } >"$RUN/lab.env.tmp"
  mv -f "$RUN/lab.env.tmp" "$RUN/lab.env"
}

all_entries() { echo "$HOSTS $DNS $MIRROR"; }

is_dns() {
  local e
  for e in $DNS; do [ "${e%%=*}" = "$1" ] && return 0; done
  return 1
}

is_mirror() {
  local e
  for e in $MIRROR; do [ "${e%%=*}" = "$1" ] && return 0; done
  return 1
}

# mirror_layout DIR: the upstream manifests under DIR/<host>/<path> of their upstream URLs.
mirror_layout() {
  local www=$1 src=$MIRROR_SRC f gh=raw.githubusercontent.com
  [ -d "$src" ] || die "mirror: no upstream manifests at $src (set SIMLAB_MIRROR_SRC)"
  mkdir -p "$www"
  put() { mkdir -p "$(dirname "$www/$2")" && cp "$src/$1" "$www/$2"; }
  put flannel-v0.9.1/kube-flannel.yml "$gh/coreos/flannel/v0.9.1/Documentation/kube-flannel.yml"
  put kubevirt-v0.4.1/kubevirt.yaml github.com/kubevirt/kubevirt/releases/download/v0.4.1/kubevirt.yaml
  put skydive/skydive.yaml "$gh/skydive-project/skydive/master/contrib/kubernetes/skydive.yaml"
  for f in "$src"/ingress-nginx-0.13.0/*.yaml "$src"/ingress-nginx-0.13.0/provider/baremetal/*.yaml; do
    put "${f#"$src"/}" "$gh/kubernetes/ingress-nginx/nginx-0.13.0/deploy/${f#"$src"/ingress-nginx-0.13.0/}"
  done
  chmod -R a+rX "$www"
}

ip_of() {
  local e
  for e in $HOSTS $DNS $MIRROR; do
    [ "${e%%=*}" = "$1" ] && {
      echo "${e#*=}"
      return 0
    }
  done
  return 1
}

take_lock() {
  mkdir -p "$(dirname "$LOCK")"
  exec 9>"$LOCK"
  flock -w 60 9 || die "another simlab.sh holds $LOCK"
}

# ------------------------------------------------------------ processes ----

# pid of the host's holder (the `unshare` process), if it is alive and ours
holder_pid() {
  local f=$RUN/hosts/$1/holder.pid pid
  [ -r "$f" ] || return 1
  read -r pid <"$f" || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = unshare ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$RUN/hosts/$1 " || return 1
  echo "$pid"
}

# pid (as seen from here) of the host's init: PID 1 of its PID namespace
init_pid() {
  local h pid c
  h=$(holder_pid "$1") || return 1
  pid=$(cat "/proc/$h/task/$h/children" 2>/dev/null) || return 1
  pid=${pid%% *}
  [ -n "$pid" ] || return 1
  c=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  [ "$c" = bash ] || return 1
  echo "$pid"
}

HOST_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# run a command inside a host's namespaces, with a clean root environment
in_host() {
  local host=$1 pid
  shift
  pid=$(init_pid "$host") || {
    log "host $host is not running"
    return 125
  }
  nsenter -t "$pid" -m -u -n -p -- /usr/bin/env -i PATH="$HOST_PATH" HOME=/root USER=root LOGNAME=root \
    SHELL=/bin/bash LANG=C.UTF-8 TERM="${TERM:-dumb}" /bin/bash -c 'cd /root && exec "$@"' simlab-exec "$@"
}

in_op() { ip netns exec "$OP" "$@"; }

tcp_probe() { # ip: sshd banner seen from the operator namespace?
  in_op timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/22" && head -c 4 <&3' simlab-probe "$1" 2>/dev/null |
    grep -q '^SSH-'
}

# ----------------------------------------------------------------- down ----

netns_exists() { [ -e "/run/netns/$1" ]; }

lab_netns() { # every netns this lab may have made
  {
    [ -r "$RUN/netns.list" ] && cat "$RUN/netns.list"
    echo "$OP"
    if [ ! -d "$RUN" ]; then # run dir lost: fall back on the name scheme, and only on namespaces
      # that are this lab's by their links (the op namespace holds the lab's bridge; a host's eth0
      # is a veth whose peer is in the op namespace), never another tool's that shares the prefix.
      local ns
      for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$NAME-[a-z][a-z0-9-]*$"); do
        if [ "$ns" = "$OP" ]; then
          ip -n "$ns" link show "$BR" >/dev/null 2>&1 && echo "$ns"
        elif ip -n "$ns" -o link show eth0 2>/dev/null | grep -q "link-netns $OP\b"; then
          echo "$ns"
        fi
      done
    fi
  } | awk 'NF && !seen[$0]++'
}

gone() { # pid exited (or is a zombie waiting for the machine's init to reap it)
  local st
  st=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 0
  [ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}

do_down() {
  local ns pids pid i h any=0 killed=""
  set +e
  # 1. holders: --kill-child takes each host's PID namespace down with them
  if [ -d "$RUN/hosts" ]; then
    for h in "$RUN"/hosts/*/; do
      [ -d "$h" ] || continue
      h=$(basename "$h")
      if pid=$(holder_pid "$h"); then
        kill -KILL "$pid" 2>/dev/null
        killed="$killed $pid"
        any=1
      fi
    done
  fi
  # 2. anything else still inside one of our network namespaces
  for ns in $(lab_netns); do
    netns_exists "$ns" || continue
    any=1
    for ((i = 0; i < 50; i++)); do # 5 s at most
      pids=$(ip netns pids "$ns" 2>/dev/null)
      [ -z "$pids" ] && break
      # shellcheck disable=SC2086
      kill -KILL $pids 2>/dev/null
      killed="$killed $pids"
      sleep 0.1
    done
    [ -z "$pids" ] || log "warning: processes still in $ns: $pids"
  done
  # wait until every process killed has exited (bounded)
  for pid in $killed; do
    for ((i = 0; i < 50; i++)); do # 5 s at most
      gone "$pid" && break
      sleep 0.1
    done
    gone "$pid" || log "warning: process $pid has not exited"
  done
  # 3. mounts: overlays/tmpfs live in the hosts' private mount namespaces and
  #    vanish with them; unmount anything under the run dir seen from here.
  if [ -d "$RUN" ]; then
    awk -v r="$RUN" 'index($2, r "/") == 1 || $2 == r {print $2}' /proc/mounts | sort -r |
      while read -r m; do umount -l "$m" 2>/dev/null; done
  fi
  # 4. namespaces (their veths and the bridge go with them)
  for ns in $(lab_netns); do
    if netns_exists "$ns"; then
      ip netns del "$ns" 2>/dev/null || log "warning: could not delete netns $ns"
    fi
  done
  [ -d "$NETNS_ETC" ] && rm -rf "$NETNS_ETC"
  rmdir /etc/netns 2>/dev/null # only if now empty
  # 5. run dir (only ours: it carries the marker)
  if [ -d "$RUN" ]; then
    any=1
    if [ -e "$RUN/.simlab" ]; then
      rm -rf "$RUN"
    else
      log "warning: $RUN has no .simlab marker, left in place"
    fi
  fi
  rm -f "$LOCK" # (flock holds the open file: unlinking it is harmless)
  [ "$any" = 1 ] && log "lab $NAME is down" || log "lab $NAME: nothing to tear down"
  return 0
}

cmd_down() {
  take_lock
  do_down
}

# ------------------------------------------------------------------- up ----

# find_real_kubernetes: K8S_SRC (the v1.9.4 binaries of harness/kubernetes.sh's cache) and
# NODE_BIN (the Node.js that runs the kubelet stand-in), both checked, for --kubernetes real.
find_real_kubernetes() {
  local out
  out=$(bash "$HARNESS/kubernetes.sh" --check 2>&1) ||
    die "--kubernetes real: the Kubernetes v1.9.4 binaries are not built (bash harness/kubernetes.sh builds them): ${out##*$'\n'}"
  out=$(bash "$HARNESS/kubernetes.sh" --print-env) || die "--kubernetes real: harness/kubernetes.sh --print-env failed"
  K8S_SRC=${out#*KUBEVIRT_LAB_K8S_BIN=}
  K8S_SRC=${K8S_SRC%%$'\n'*}
  K8S_SRC=${K8S_SRC//[\"\']/}
  [ -x "$K8S_SRC/kubeadm" ] || die "--kubernetes real: no kubeadm in '$K8S_SRC' (from harness/kubernetes.sh --print-env)"
  out=$(bash "$HARNESS/dataplane.sh" --print-env 2>&1) ||
    die "--kubernetes real: the data plane's binaries are not built (bash harness/dataplane.sh builds them): ${out##*$'\n'}"
  DP_SRC=${out##*KUBEVIRT_LAB_DATAPLANE_BIN=}
  DP_SRC=${DP_SRC//[\"\']/}
  [ -e "$REPO/node_modules/tsx/dist/loader.mjs" ] ||
    die "--kubernetes real: $REPO/node_modules has no tsx (npm ci): the kubelet stand-in needs it"
  NODE_BIN=$(command -v node) && NODE_BIN=$(readlink -f "$NODE_BIN") || die "--kubernetes real: no node on PATH (the kubelet stand-in is Node.js)"
  # a host sees the machine's files, except under its private /root /tmp /run /usr/local/bin
  case $NODE_BIN in
    /root/* | /tmp/* | /run/* | /usr/local/bin/*)
      die "--kubernetes real: node is $NODE_BIN, which the simulated hosts cannot see (private /root /tmp /run /usr/local/bin): put a node in /usr/bin"
      ;;
  esac
  command -v openssl >/dev/null || die "--kubernetes real: no openssl (the kubelet stand-in's TLS bootstrap uses it)"
}

write_keys() { # the RSA key is made in the background: finish_keys waits for it
  ssh-keygen -q -t ed25519 -N '' -C "simlab-$NAME" -f "$RUN/id_ed25519"
  cp "$RUN/id_ed25519.pub" "$RUN/authorized_keys"
  ssh-keygen -q -t rsa -b 2048 -m PEM -N '' -C "simlab-$NAME" -f "$RUN/id_rsa" </dev/null >/dev/null 2>&1 9>&- &
  RSA_PID=$!
}

finish_keys() {
  local e
  wait "$RSA_PID" || die "ssh-keygen (RSA) failed"
  RSA_PID=""
  cat "$RUN/id_ed25519.pub" "$RUN/id_rsa.pub" >"$RUN/authorized_keys"
  chmod 600 "$RUN/id_ed25519" "$RUN/id_rsa"
  for e in $(all_entries); do cp "$RUN/authorized_keys" "$RUN/hosts/${e%%=*}/authorized_keys"; done
}

write_standins() {
  local n placeholder
  mkdir -p "$RUN/standins" "$RUN/lib/guard"
  placeholder=$(<"$LIBDIR/placeholder.sh")
  for n in $GUARDS; do # builtins only: this runs for every guard
    printf '%s\n' "$placeholder" >"$RUN/standins/$n"
    printf '#!/bin/sh\n# simlab guard: the real %s never runs on a simulated host\nexec /usr/local/bin/%s "$@"\n' \
      "$n" "$n" >"$RUN/lib/guard/$n"
  done
  chmod 0755 "$RUN"/standins/* "$RUN"/lib/guard/*
  if [ -d "$STANDINS_SRC" ] && [ -n "$(ls -A "$STANDINS_SRC")" ]; then
    # copies (dereferenced), so editing the repo does not change a running lab
    cp -rL "$STANDINS_SRC"/. "$RUN/standins/"
    chmod -R a+rX "$RUN/standins"
    log "stand-ins from $STANDINS_SRC: $(cd "$STANDINS_SRC" && echo *)"
  else
    log "stand-ins: none in $STANDINS_SRC, placeholders only"
  fi
}

write_skel() {
  mkdir -p "$RUN/skel/root/.ssh" "$RUN/skel/opt"
  chmod 700 "$RUN/skel/root" "$RUN/skel/root/.ssh"
  cat >"$RUN/skel/root/.bashrc" <<'EOF'
# .bashrc of root on a simulated kubevirt-lab host (simlab)
EOF
  cat >"$RUN/skel/root/.bash_profile" <<'EOF'
# .bash_profile of root on a simulated kubevirt-lab host (simlab)
[ -f ~/.bashrc ] && . ~/.bashrc
EOF
}

resolv_conf() {
  local e
  echo "# simlab $NAME"
  echo "search $DOMAIN"
  if [ -n "$DNS" ]; then
    for e in $DNS; do echo "nameserver ${e#*=}"; done
  else
    echo "nameserver 127.0.0.1"
  fi
  echo "options timeout:1 attempts:1"
}

write_op_etc() { # /etc/netns/<op>/: `ip netns exec <op>` binds these over /etc
  local e
  mkdir -p "$NETNS_ETC"
  {
    echo "127.0.0.1 localhost"
    echo "::1 localhost ip6-localhost ip6-loopback"
    for e in $(all_entries); do echo "${e#*=} ${e%%=*}.$DOMAIN ${e%%=*}"; done
  } >"$NETNS_ETC/hosts"
  resolv_conf >"$NETNS_ETC/resolv.conf"
}

write_client_files() {
  local e h ip
  {
    echo "# simlab $NAME: ip netns exec $OP ssh -F $RUN/ssh_config <host> hostname"
    for e in $(all_entries); do
      h=${e%%=*} ip=${e#*=}
      echo "Host $h $h.$DOMAIN $ip"
      echo "  HostName $ip"
    done
    echo "Host *"
    echo "  User root"
    echo "  IdentityFile $RUN/id_ed25519"
    echo "  IdentitiesOnly yes"
    echo "  BatchMode yes"
    echo "  StrictHostKeyChecking no"
    echo "  UserKnownHostsFile /dev/null"
    echo "  GlobalKnownHostsFile /dev/null"
    echo "  ConnectTimeout 3"
    echo "  LogLevel ERROR"
  } >"$RUN/ssh_config"
  : >"$RUN/known_hosts"
  for e in $(all_entries); do
    h=${e%%=*} ip=${e#*=}
    [ -r "$RUN/hosts/$h/ssh_host_ed25519_key.pub" ] || continue
    echo "$ip,$h,$h.$DOMAIN $(cut -d' ' -f1-2 "$RUN/hosts/$h/ssh_host_ed25519_key.pub")" >>"$RUN/known_hosts"
  done
}

make_op() {
  echo "$OP" >>"$RUN/netns.list"
  ip netns add "$OP"
  ip -n "$OP" link set lo up
  in_op sh -c 'echo 0 >/proc/sys/net/ipv4/ip_forward'
  ip -n "$OP" link add "$BR" type bridge stp_state 0 forward_delay 0
  ip -n "$OP" addr add "$GW/24" dev "$BR"
  ip -n "$OP" link set "$BR" up
}

prepare_host() { # name ip role (0 host, 1 dns, 2 mirror)
  local h=$1 ip=$2 dns=$3 mirror=0 hd=$RUN/hosts/$1 fqdn=$1.$DOMAIN d
  [ "$dns" = 2 ] && dns=0 mirror=1
  mkdir -p "$hd"
  for d in etc var root opt usrlocalbin; do mkdir -p "$hd/ovl/$d/upper" "$hd/ovl/$d/work"; done
  chmod 0700 "$hd/ovl/root/upper" # the upper dir's mode is the mount's: /root is 0700
  ssh-keygen -q -t ed25519 -N '' -C "root@$fqdn" -f "$hd/ssh_host_ed25519_key"
  cp "$RUN/authorized_keys" "$hd/authorized_keys"
  cat >"$hd/sshd_config" <<EOF
# simlab $NAME: sshd of $fqdn (runs inside its namespaces)
ListenAddress $ip:22
HostKey $hd/ssh_host_ed25519_key
PidFile $hd/sshd.pid
AuthorizedKeysFile $hd/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
LogLevel VERBOSE
PrintMotd no
PrintLastLog no
X11Forwarding no
AcceptEnv ${SIMLAB_ACCEPT_ENV:-LANG LC_*}
MaxStartups 64:30:128
MaxSessions 64
Subsystem sftp internal-sftp
EOF
  # host.env: read by host-init.sh and dnsmasq-ctl
  {
    printf 'SIM_RUN=%q\n' "$RUN"
    printf 'SIM_NAME=%q\n' "$NAME"
    printf 'SIM_SHORT=%q\n' "$h"
    printf 'SIM_FQDN=%q\n' "$fqdn"
    printf 'SIM_IP=%q\n' "$ip"
    printf 'SIM_DNS=%q\n' "$dns"
    printf 'SIM_MIRROR=%q\n' "$mirror"
    printf 'SIM_GUARDS=%q\n' "$(echo $GUARDS)"
    printf 'SIM_KUBERNETES=%q\n' "$KUBERNETES"
    if [ "$KUBERNETES" = real ]; then
      printf 'SIM_K8S_SRC=%q\n' "$K8S_SRC"
      printf 'SIM_REPO_SRC=%q\n' "$REPO"
      printf 'SIM_K8S_BIN=%q\n' "$HOST_K8S_BIN"
      printf 'SIM_REPO=%q\n' "$HOST_REPO"
      printf 'SIM_DP_SRC=%q\nSIM_DP_BIN=%q\n' "$DP_SRC" "$HOST_DP_BIN"
    fi
  } >"$hd/host.env"
  # /etc of the host (overlay upper)
  local etc=$hd/ovl/etc/upper
  mkdir -p "$etc/kubevirt-lab-sim/hooks" "$etc/sudoers.d" "$etc/dnsmasq.d"
  echo "$fqdn" >"$etc/hostname"
  {
    echo "127.0.0.1 localhost localhost.localdomain"
    echo "::1 localhost ip6-localhost ip6-loopback"
    echo "$ip $fqdn $h"
  } >"$etc/hosts"
  resolv_conf >"$etc/resolv.conf"
  cat >"$etc/kubevirt-lab-sim/env" <<EOF
SIM_HOST=$fqdn
SIM_CALLS=/var/log/kubevirt-lab/calls.log
SIM_STATE=/var/lib/kubevirt-lab-sim
SIM_APISERVER=$RUN/apiserver
SIM_LAB=$NAME
SIM_IP=$ip
SIM_KUBERNETES=$KUBERNETES
EOF
  if [ "$KUBERNETES" = real ]; then
    cat >>"$etc/kubevirt-lab-sim/env" <<EOF
SIM_K8S_BIN=$HOST_K8S_BIN
SIM_REPO=$HOST_REPO
SIM_NODE=$NODE_BIN
SIM_DP_BIN=$HOST_DP_BIN
EOF
  fi
  printf 'Defaults secure_path="%s"\n' "$HOST_PATH" >"$etc/sudoers.d/kubevirt-lab-sim"
  chmod 0440 "$etc/sudoers.d/kubevirt-lab-sim"
  if [ "$dns" = 1 ]; then
    install -m 0755 "$LIBDIR/dnsmasq-ctl.sh" "$hd/dnsmasq-ctl"
    local verb action
    for verb in start stop restart reload status is-active; do
      case $verb in status | is-active) action=status ;; *) action=$verb ;; esac
      printf '#!/bin/bash\n# simlab: systemctl %s dnsmasq on %s\nexec %q %s\n' \
        "$verb" "$fqdn" "$hd/dnsmasq-ctl" "$action" >"$etc/kubevirt-lab-sim/hooks/systemctl-$verb-dnsmasq"
      chmod 0755 "$etc/kubevirt-lab-sim/hooks/systemctl-$verb-dnsmasq"
      ln -sf "systemctl-$verb-dnsmasq" "$etc/kubevirt-lab-sim/hooks/systemctl-$verb-dnsmasq.service"
    done
  fi
  [ "$mirror" = 1 ] && mirror_layout "$hd/www"
  [ "$mirror" = 1 ] && bash "$LIBDIR/mirror-app.sh" "$hd/www" "http://$ip" # nodejs-ex (git) and its npm tree
  # /var of the host
  mkdir -p "$hd/ovl/var/upper/log/kubevirt-lab" "$hd/ovl/var/upper/lib/kubevirt-lab-sim"
}

start_host() { # name ip role (0 host, 1 dns, 2 mirror)
  local h=$1 ip=$2 ns=$NAME-$1 hd=$RUN/hosts/$1
  prepare_host "$@"
  # network: created directly inside the namespaces, never in the root one
  echo "$ns" >>"$RUN/netns.list"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$ns" link add eth0 type veth peer name "v-$h" netns "$OP"
  ip -n "$OP" link set "v-$h" master "$BR"
  ip -n "$OP" link set "v-$h" up
  ip -n "$ns" addr add "$ip/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via "$GW"
  # the holder: PID 1 of the host is host-init.sh, killed with unshare
  setsid ip netns exec "$ns" unshare --mount --uts --pid --fork --kill-child --mount-proc \
    --propagation private -- /bin/bash "$RUN/lib/host-init.sh" "$hd" </dev/null >"$hd/init.log" 2>&1 9>&- &
  echo $! >"$hd/holder.pid"
  disown $!
}

probe_all() { # ip...: prints those whose sshd does not answer from the op netns
  # one process in the operator namespace for all hosts (this runs often)
  # shellcheck disable=SC2016
  in_op timeout 10 bash -c 'for ip; do
      if ! { exec 3<>"/dev/tcp/$ip/22" && head -c 4 <&3 | grep -q "^SSH-"; } 2>/dev/null; then echo "$ip"; fi
      exec 3<&- 3>&-
    done' simlab-probe "$@" || echo "$@"
}

wait_hosts() { # name=ip...: bounded wait until every host is ready and answers ssh
  local e h i pending failing
  pending="$*"
  for ((i = 0; i < WAIT_TRIES; i++)); do
    local still=""
    for e in $pending; do
      h=${e%%=*}
      if ! kill -0 "$(cat "$RUN/hosts/$h/holder.pid")" 2>/dev/null; then
        sed 's/^/  | /' "$RUN/hosts/$h/init.log" >&2
        die "host $h: its holder died during start (log above: $RUN/hosts/$h/init.log)"
      fi
      [ -e "$RUN/hosts/$h/ready" ] || still="$still $e"
    done
    pending=${still# }
    [ -z "$pending" ] && break
    sleep 0.1
  done
  [ -z "$pending" ] || die "hosts not ready after $((WAIT_TRIES / 10)) s: $pending (see $RUN/hosts/<host>/init.log)"
  # sshd daemonizes once it listens, before host-init writes ready: one check
  for ((i = 0; i < 20; i++)); do
    # shellcheck disable=SC2046
    failing=$(probe_all $(for e in "$@"; do echo "${e#*=}"; done))
    [ -z "$failing" ] && break
    sleep 0.1
  done
  [ -z "$failing" ] || die "sshd not answering from $OP on: $failing"
  for e in "$@"; do
    init_pid "${e%%=*}" >/dev/null || die "host ${e%%=*}: cannot find its init process"
  done
}

assert_root_ns_clean() {
  if ip -4 addr show | grep -q 'inet 172\.31\.' || ip -4 route show table all | grep -q '172\.31\.'; then
    die "SAFETY: a 172.31. address or route is in the root network namespace"
  fi
  local e
  for e in $(all_entries); do
    if ip -4 addr show | grep -qF "inet ${e#*=}/" || ip -4 route show table all | grep -qwF "${e#*=}"; then
      die "SAFETY: lab address ${e#*=} appears in the root network namespace"
    fi
  done
}

UP_DONE=1
RSA_PID=""
START_PIDS=()
up_exit() { # EXIT trap of up: an error, a die or a signal mid-way undoes it all
  local rc=$?
  trap - EXIT
  trap '' INT TERM # the teardown itself is not interruptible (but by SIGKILL)
  set +e
  local p
  for p in ${RSA_PID:-} "${START_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in ${RSA_PID:-} "${START_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  if [ "$UP_DONE" != 1 ]; then
    log "up failed (status $rc): tearing down what was made"
    do_down
    [ "$rc" != 0 ] || rc=1
  fi
  exit "$rc"
}

parse_entries() { # "h=ip,h=ip" -> "h=ip h=ip" (validated)
  local out="" e
  IFS=, read -r -a arr <<<"$1"
  for e in "${arr[@]}"; do
    [ -n "$e" ] || continue
    [[ $e == *=* ]] || die "expected NAME=IP, got '$e'"
    check_host_name "${e%%=*}"
    check_ip "${e#*=}"
    out="$out ${e%%=*}=${e#*=}"
  done
  echo "${out# }"
}

check_entries() {
  local seen_n=" " seen_ip=" " e n ip net
  net=$(net24 "$GW")
  for e in $(all_entries); do
    n=${e%%=*} ip=${e#*=}
    [[ $seen_n != *" $n "* ]] || die "host $n given twice"
    [[ $seen_ip != *" $ip "* ]] || die "address $ip given twice"
    [ "$ip" != "$GW" ] || die "address $ip is the gateway"
    [ "$(net24 "$ip")" = "$net" ] || die "$n=$ip is not in $net.0/24 (the gateway's /24)"
    seen_n="$seen_n$n " seen_ip="$seen_ip$ip "
  done
}

cmd_up() {
  local hosts=$DEFAULT_HOSTS dns=$DEFAULT_DNS mirror="" gw="" e t0
  DOMAIN=$DOMAIN_DEFAULT
  while [ $# -gt 0 ]; do
    case $1 in
      --hosts) hosts=${2?}; shift 2 ;;
      --dns) dns=${2?}; shift 2 ;;
      --mirror) mirror=${2?}; shift 2 ;;
      --kubernetes) KUBERNETES=${2?}; shift 2 ;;
      --vms | --vm-ports | --vm-user)
        die "up: $1: the VMs are no hosts of the lab but guests in their virt-launcher pods (see harness/standins/virt-launcher/README.md): ssh -p 30022 fedora@<any node>" ;;
      --domain) DOMAIN=${2?}; shift 2 ;;
      --gw) gw=${2?}; shift 2 ;;
      --name) NAME=${2?}; set_names; shift 2 ;;
      *) die "up: unknown argument '$1'" ;;
    esac
  done
  [ "$(id -u)" = 0 ] || die "must run as root"
  HOSTS=$(parse_entries "$hosts")
  DNS=$(parse_entries "$dns")
  MIRROR=$(parse_entries "$mirror")
  [ -n "$HOSTS$DNS" ] || die "no hosts"
  if [ -z "$gw" ]; then
    e=$(all_entries)
    e=${e# }
    e=${e%% *}
    gw=$(net24 "${e#*=}").1
  fi
  check_ip "$gw"
  GW=$gw
  check_entries
  case $KUBERNETES in
    standin) ;;
    real) find_real_kubernetes ;;
    *) die "--kubernetes: expected standin or real, got '$KUBERNETES'" ;;
  esac
  t0=$(date +%s%N)

  take_lock
  if [ -e "$RUN" ] || netns_exists "$OP"; then
    if [ -d "$RUN/hosts" ] && [ -n "$(for h in "$RUN"/hosts/*/; do holder_pid "$(basename "$h")"; done 2>/dev/null)" ]; then
      die "lab $NAME is already up (run dir $RUN); 'simlab.sh --name $NAME down' first"
    fi
    log "stale lab $NAME found: cleaning it first"
    do_down
    set -e
  fi

  UP_DONE=0
  trap up_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  mkdir -p "$RUN/hosts" "$RUN/lib" "$RUN/apiserver/nodes" "$RUN/apiserver/tokens"
  : >"$RUN/.simlab"
  : >"$RUN/netns.list"
  save_lab
  install -m 0755 "$LIBDIR/host-init.sh" "$RUN/lib/host-init.sh"
  write_keys
  write_standins
  write_skel
  make_op
  write_op_etc
  # hosts are made in parallel (each in a subshell; netns.list appends are
  # single short lines), then waited for together
  local p
  for e in $HOSTS; do start_host "${e%%=*}" "${e#*=}" 0 & START_PIDS+=("$!"); done
  for e in $DNS; do start_host "${e%%=*}" "${e#*=}" 1 & START_PIDS+=("$!"); done
  for e in $MIRROR; do start_host "${e%%=*}" "${e#*=}" 2 & START_PIDS+=("$!"); done
  for p in "${START_PIDS[@]}"; do wait "$p" || die "making a host failed (see above)"; done
  START_PIDS=()
  finish_keys
  # shellcheck disable=SC2046
  wait_hosts $(all_entries)
  write_client_files
  assert_root_ns_clean
  UP_DONE=1
  trap - EXIT INT TERM
  log "lab $NAME up in $((($(date +%s%N) - t0) / 1000000)) ms: $(all_entries)"
  [ "$KUBERNETES" = standin ] || log "Kubernetes: real v1.9.4 kubeadm and kubectl from $K8S_SRC, the kubelet stand-in as the kubelet"
  e=$(all_entries)
  e=${e# }
  log "try: $SELF --name $NAME op ssh -F $RUN/ssh_config ${e%%=*} hostname"
}

# ------------------------------------------------------------- add-host ----

add_host_exit() { # EXIT trap of add-host: remove the half-made host
  local rc=$? pid h=$ADD_HOST ns=$NAME-$ADD_HOST
  trap - EXIT
  trap '' INT TERM
  set +e
  log "add-host failed (status $rc): removing $h"
  pid=$(holder_pid "$h") && kill -KILL "$pid" 2>/dev/null
  if netns_exists "$ns"; then
    # shellcheck disable=SC2046
    kill -KILL $(ip netns pids "$ns") 2>/dev/null
    sleep 0.2
    ip netns del "$ns" 2>/dev/null
  fi
  rm -rf "${RUN:?}/hosts/$h"
  [ "$rc" != 0 ] || rc=1
  exit "$rc"
}

cmd_add_host() {
  local e h ip
  [ $# -eq 1 ] || die "usage: add-host NAME=IP"
  e=$(parse_entries "$1")
  h=${e%%=*} ip=${e#*=}
  take_lock
  load_lab || die "lab $NAME is not up"
  [ -z "$(ip_of "$h")" ] || die "host $h already exists"
  [ "$KUBERNETES" != real ] || find_real_kubernetes
  HOSTS="$HOSTS $e"
  HOSTS=${HOSTS# }
  check_entries
  ADD_HOST=$h
  trap add_host_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  start_host "$h" "$ip" 0
  cp "$RUN/authorized_keys" "$RUN/hosts/$h/authorized_keys"
  wait_hosts "$e"
  trap - EXIT INT TERM
  save_lab
  write_op_etc
  write_client_files
  assert_root_ns_clean
  log "host $h.$DOMAIN added at $ip"
}

# ----------------------------------------------------------- sshd control --

cmd_stop_sshd() {
  local h=${1:?usage: stop-sshd HOST}
  load_lab || die "lab $NAME is not up"
  # shellcheck disable=SC2016
  in_host "$h" bash -c 'pid=$(cat "$1" 2>/dev/null) || exit 0
    kill -TERM "$pid" 2>/dev/null || exit 0
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.1; done
    kill -KILL "$pid"' _ "$RUN/hosts/$h/sshd.pid"
  rm -f "$RUN/hosts/$h/sshd.pid"
  log "sshd of $h stopped"
}

cmd_start_sshd() {
  local h=${1:?usage: start-sshd HOST} ip i
  load_lab || die "lab $NAME is not up"
  ip=$(ip_of "$h") || die "no host $h"
  if ! tcp_probe "$ip"; then
    in_host "$h" /usr/sbin/sshd -f "$RUN/hosts/$h/sshd_config" -E "$RUN/hosts/$h/sshd.log"
  fi
  for ((i = 0; i < WAIT_TRIES; i++)); do
    tcp_probe "$ip" && {
      log "sshd of $h answering"
      return 0
    }
    sleep 0.1
  done
  die "sshd of $h not answering"
}

# --------------------------------------------------------------- status ----

cmd_status() {
  local e h ip hp sshd reach extra bad=0
  if ! load_lab; then
    echo "lab $NAME: not up (no $RUN/lab.env)"
    netns_exists "$OP" && echo "  but netns $OP exists: run down"
    return 3
  fi
  echo "lab $NAME  run=$RUN  domain=$DOMAIN"
  if netns_exists "$OP"; then
    echo "operator netns $OP: bridge $BR $GW/24"
  else
    echo "operator netns $OP: MISSING"
    bad=1
  fi
  printf '%-12s %-16s %-14s %-8s %-12s %s\n' HOST ADDRESS HOLDER SSHD FROM-OP EXTRA
  local failing=" "
  if netns_exists "$OP"; then
    # shellcheck disable=SC2046
    failing=" $(probe_all $(for e in $(all_entries); do echo "${e#*=}"; done) | tr '\n' ' ')"
  fi
  for e in $(all_entries); do
    h=${e%%=*} ip=${e#*=} extra=""
    if hp=$(holder_pid "$h"); then
      # shellcheck disable=SC2016
      if in_host "$h" bash -c 'kill -0 "$(cat "$1")"' _ "$RUN/hosts/$h/sshd.pid" 2>/dev/null; then
        sshd=alive
      else
        sshd=dead bad=1
      fi
      if is_dns "$h"; then
        if in_host "$h" "$RUN/hosts/$h/dnsmasq-ctl" status 2>/dev/null; then
          extra="dnsmasq answering"
        else
          extra="dnsmasq DOWN" bad=1
        fi
      fi
      if is_mirror "$h"; then
        # shellcheck disable=SC2016
        if in_host "$h" bash -c 'kill -0 "$(cat "$1")"' _ "$RUN/hosts/$h/http.pid" 2>/dev/null; then
          extra="http mirror serving"
        else
          extra="http mirror DOWN" bad=1
        fi
      fi
      hp="alive($hp)"
    else
      hp=dead sshd=- bad=1
    fi
    if netns_exists "$OP" && [[ $failing != *" $ip "* ]]; then reach=reachable; else reach=unreachable bad=1; fi
    printf '%-12s %-16s %-14s %-8s %-12s %s\n' "$h" "$ip" "$hp" "$sshd" "$reach" "$extra"
  done
  if (assert_root_ns_clean) 2>/dev/null; then
    echo "root netns: no lab address or route (ok)"
  else
    echo "root netns: LAB ADDRESS OR ROUTE PRESENT"
    bad=1
  fi
  return "$bad"
}

cmd_info() {
  load_lab || die "lab $NAME is not up"
  local e h
  echo "SIMLAB_NAME=$NAME"
  echo "SIMLAB_RUN=$RUN"
  echo "SIMLAB_OP_NETNS=$OP"
  echo "SIMLAB_KEY=$RUN/id_ed25519"
  echo "SIMLAB_KEY_RSA_PEM=$RUN/id_rsa"
  echo "SIMLAB_SSH_CONFIG=$RUN/ssh_config"
  echo "SIMLAB_KNOWN_HOSTS=$RUN/known_hosts"
  echo "SIMLAB_APISERVER=$RUN/apiserver"
  echo "SIMLAB_DOMAIN=$DOMAIN"
  echo "SIMLAB_GW=$GW"
  echo "SIMLAB_HOSTS=$HOSTS"
  echo "SIMLAB_DNS=$DNS"
  echo "SIMLAB_MIRROR=$MIRROR"
  echo "SIMLAB_KUBERNETES=$KUBERNETES"
  for e in $(all_entries); do
    h=${e%%=*}
    echo "SIMLAB_CALLS_${h//-/_}=$RUN/hosts/$h/ovl/var/upper/log/kubevirt-lab/calls.log"
  done
}

cmd_sync_standins() {
  local e h
  load_lab || die "lab $NAME is not up"
  [ -d "$STANDINS_SRC" ] || die "no $STANDINS_SRC"
  for e in $(all_entries); do
    h=${e%%=*}
    # through the host's overlay (copy-up), not by editing the shared lower dir
    if [ "$KUBERNETES" = real ]; then
      # what the kube packages put there (the real kubeadm and kubectl, the kubelet stand-in) stays
      # shellcheck disable=SC2016
      in_host "$h" bash -c 'for f in "$1"/*; do
          n=${f##*/}
          case $n in kubeadm | kubectl | kubelet) [ -f "/var/lib/kubevirt-lab-sim/rpmdb/$n" ] && continue ;; esac
          cp -rL --remove-destination "$f" /usr/local/bin/
        done' simlab-sync "$STANDINS_SRC"
    else
      in_host "$h" cp -rL --remove-destination "$STANDINS_SRC"/. /usr/local/bin/
    fi
    log "stand-ins copied again into $h:/usr/local/bin"
  done
}

# ----------------------------------------------------------------- main ----

main() {
  while [ $# -gt 0 ]; do
    case $1 in
      --name) NAME=${2?--name needs a value}; shift 2 ;;
      -h | --help) usage; return 0 ;;
      *) break ;;
    esac
  done
  [ $# -gt 0 ] || {
    usage >&2
    return 2
  }
  local cmd=$1
  shift
  if [ "${1:-}" = --name ] && [ "$cmd" != up ]; then
    NAME=${2?--name needs a value}
    shift 2
  fi
  set_names
  case $cmd in
    up) cmd_up "$@" ;;
    down) cmd_down ;;
    status) cmd_status ;;
    info) cmd_info ;;
    exec)
      [ $# -ge 2 ] || die "usage: exec HOST CMD..."
      load_lab || die "lab $NAME is not up"
      in_host "$@"
      ;;
    op)
      [ $# -ge 1 ] || die "usage: op CMD..."
      netns_exists "$OP" || die "lab $NAME is not up (no netns $OP)"
      in_op "$@"
      ;;
    stop-sshd) cmd_stop_sshd "$@" ;;
    start-sshd) cmd_start_sshd "$@" ;;
    add-host) cmd_add_host "$@" ;;
    sync-standins) cmd_sync_standins ;;
    help) usage ;;
    *)
      usage >&2
      return 2
      ;;
  esac
}

main "$@"
