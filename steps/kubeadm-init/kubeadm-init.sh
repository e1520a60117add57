#!/usr/bin/env bash
# kubeadm-init.sh: the master of the post: `kubeadm init`, then admin.conf
# copied to the SSH user's ~/.kube/config.
#
#   kubeadm-init.sh apply --pod-network-cidr <cidr> --service-cidr <cidr> --node-name <name>
#                         --advertise-address <ip> --kubernetes-version <v> --ssh-user <user>
#                         [--ignore-preflight-errors <check>]... [--api-timeout <seconds>]
#   kubeadm-init.sh remove --ssh-user <user> --node-name <name>
#                         the master's own Node drained and deleted (the workers'
#                         were before), `kubeadm reset`, then the SSH user's
#                         ~/.kube/config deleted if it is still the lab's copy
#                         (a config of the user's own there before is put back)
#
# apply does not init again when a finished init is there (init_finished). The
# preflight checks given are passed as --ignore-preflight-errors=<a>,<b> (none:
# kubeadm ignores none). kubeadm's output goes through a filter that hides
# bootstrap tokens (kubeadm init prints a join line). remove resets only when
# kubeadm left something (kubeconfig files, manifests, certificates), with
# --force when this kubeadm has that flag (1.9 has none and does not ask; later
# ones ask).
#
# A kubeadm init cut off midway (a killed run, a reboot) leaves admin.conf, certificates or
# manifests without a working control plane: apply takes admin.conf for a finished init only
# when the SSH user's ~/.kube/config is its copy (made only after kubeadm init succeeded), or
# when the cluster it names answers and has kube-proxy, the last thing kubeadm init makes (the
# API server is waited for at most --api-timeout seconds, default 180, while its manifest is
# there). Anything else kubeadm left is reset (kubeadm reset), then kubeadm init runs. One kubeadm
# run at a time (kubeadm_lock): a run of an earlier, cut-off step still at work is waited for.
set -euo pipefail
umask 022

SCRIPT=kubeadm-init.sh
# shellcheck source=../lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh" # kubevirt-lab:lib
OPTIONS[apply]='pod-network-cidr service-cidr node-name advertise-address kubernetes-version ssh-user ignore-preflight-errors* api-timeout?'
OPTIONS[remove]='ssh-user node-name'

# user_field <user> <n>: field n of the user's passwd entry.
user_field() {
  local entry
  entry=$(getent passwd "$1") || return 1
  cut -d: -f"$2" <<<"$entry"
}

# init_finished <kubeconfig of the SSH user> <seconds>: did a kubeadm init finish here (see the top)?
# Says why not when something of an init is there.
init_finished() {
  local config=$1 timeout=$2 t0=$SECONDS out
  [[ -f $ADMIN_CONF ]] || return 1
  if cmp -s -- "$config" "$ADMIN_CONF"; then
    return 0
  fi
  if [[ ! -f $K8S_DIR/manifests/kube-apiserver.yaml ]]; then
    echo "$SCRIPT: $ADMIN_CONF exists, but no control plane manifest: a kubeadm init cut off midway"
    return 1
  fi
  until out=$(kubectl --kubeconfig="$ADMIN_CONF" get nodes --request-timeout=10s 2>&1); do
    if ((SECONDS - t0 >= timeout)); then
      echo "$SCRIPT: $ADMIN_CONF exists, but its API server has not answered within ${timeout}s: a kubeadm init cut off midway (last answer: ${out##*$'\n'})"
      return 1
    fi
    sleep 2
  done
  if kubectl --kubeconfig="$ADMIN_CONF" get daemonset kube-proxy -n kube-system --request-timeout=10s >/dev/null 2>&1; then
    return 0
  fi
  echo "$SCRIPT: $ADMIN_CONF exists and its API server answers, but it has no kube-proxy (the last thing kubeadm init makes): a kubeadm init cut off midway"
  return 1
}

# apply [<preflight check to ignore>]...
apply() {
  local ssh_user=${ARG[ssh-user]} home uid gid kube_dir config admin=""
  home=$(user_field "$ssh_user" 6) || die "no such user: '$ssh_user'"
  uid=$(user_field "$ssh_user" 3)
  gid=$(user_field "$ssh_user" 4)
  [[ -n $home && $home == /* ]] || die "user '$ssh_user' has no home directory"

  kubeadm_lock
  if init_finished "$home/.kube/config" "${ARG[api-timeout]:-180}"; then
    echo "$SCRIPT: $ADMIN_CONF exists: the cluster is already initialized"
  else
    kubeadm_reset # what an init cut off midway left, if anything
    ignore_preflight_flag "$@"
    kubeadm init --pod-network-cidr="${ARG[pod-network-cidr]}" --service-cidr="${ARG[service-cidr]}" \
      --node-name="${ARG[node-name]}" --apiserver-advertise-address="${ARG[advertise-address]}" \
      --kubernetes-version="v${ARG[kubernetes-version]}" ${PREFLIGHT[@]+"${PREFLIGHT[@]}"} 2>&1 | hide_tokens
    [[ -f $ADMIN_CONF ]] || die "kubeadm init did not write $ADMIN_CONF"
    changed=changed
  fi

  # The post: mkdir -p $HOME/.kube; cp admin.conf $HOME/.kube/config; chown. The copy is the lab's
  # (own_file, lib.sh): a config the user had there is kept and put back by remove.
  kube_dir=$home/.kube
  config=$kube_dir/config
  if [[ ! -d $kube_dir ]]; then
    mkdir -p -- "$kube_dir"
    changed=changed
  fi
  if [[ $(stat -c %u:%g -- "$kube_dir") != "$uid:$gid" ]]; then # also after a run cut off right after mkdir
    chown -- "$uid:$gid" "$kube_dir"
    changed=changed
  fi
  IFS= read -r -d '' admin <"$ADMIN_CONF" || true
  own_file "$config" "$admin" 600 "$uid:$gid"
}

remove() {
  local home left
  kubeadm_lock
  # kubeadm's teardown of a node, the master's too: drained and deleted, then reset. A master
  # whose API does not answer any more is still reset.
  if kubeadm_left_state; then
    drain_node "${ARG[node-name]}" warn
    if [[ -f $ADMIN_CONF ]] && left=$(kubectl --kubeconfig="$ADMIN_CONF" get nodes -o name 2>/dev/null) && [[ -n $left ]]; then
      echo "$SCRIPT: Nodes still in the cluster at its reset (their hosts keep credentials of a cluster that is gone): ${left//$'\n'/ }"
    fi
  fi
  kubeadm_reset
  if home=$(user_field "${ARG[ssh-user]}" 6) && [[ -n $home ]]; then
    disown_file "$home/.kube/config"
  fi
}

# kubevirt-lab:check {
# check <the apply's options>: the items `kubeadm init` (admin.conf is there) and `control plane`
# (it answers `kubectl get nodes` with admin.conf). Each node's Ready is wait-nodes.sh's check.
OPTIONS[check]=${OPTIONS[apply]}
check() {
  local out
  if [[ ! -f $ADMIN_CONF ]]; then
    check_drift "kubeadm init" "$ADMIN_CONF (kubeadm init done)" "no such file"
    return 0
  fi
  check_ok "kubeadm init"
  if out=$(kubectl --kubeconfig="$ADMIN_CONF" get nodes --no-headers 2>&1); then
    check_ok "control plane"
  else
    check_drift "control plane" "the control plane answering kubectl get nodes" "${out:-no answer}"
  fi
}
# kubevirt-lab:check }
kvl::main "$@"
