#!/usr/bin/env bash
# kubeadm-init.sh: the master of the post: `kubeadm init`, then admin.conf
# copied to the SSH user's ~/.kube/config.
#
#   kubeadm-init.sh apply --pod-network-cidr <cidr> --service-cidr <cidr> --node-name <name>
#                         --advertise-address <ip> --kubernetes-version <v> --ssh-user <user>
#   kubeadm-init.sh remove --ssh-user <user>    `kubeadm reset`, then delete the
#                                               SSH user's ~/.kube/config
#
# apply does not init again when /etc/kubernetes/admin.conf exists. kubeadm's
# output goes through a filter that hides bootstrap tokens (kubeadm init
# prints a join line). remove resets only when kubeadm left something
# (kubeconfig files, manifests, certificates), with --force when this
# kubeadm has that flag (1.9 has none and does not ask; later ones ask).
set -euo pipefail
umask 022

SCRIPT=kubeadm-init.sh
# shellcheck source=lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh" # kubevirt-lab:lib
OPTIONS[apply]='pod-network-cidr service-cidr node-name advertise-address kubernetes-version ssh-user'
OPTIONS[remove]='ssh-user'
ADMIN_CONF=/etc/kubernetes/admin.conf

# user_field <user> <n>: field n of the user's passwd entry.
user_field() {
  local entry
  entry=$(getent passwd "$1") || return 1
  cut -d: -f"$2" <<<"$entry"
}

apply() {
  local ssh_user=${ARG[ssh-user]} home uid gid kube_dir config admin current=""
  home=$(user_field "$ssh_user" 6) || die "no such user: '$ssh_user'"
  uid=$(user_field "$ssh_user" 3)
  gid=$(user_field "$ssh_user" 4)
  [[ -n $home && $home == /* ]] || die "user '$ssh_user' has no home directory"

  if [[ -e $ADMIN_CONF ]]; then
    echo "$SCRIPT: $ADMIN_CONF exists: the cluster is already initialized"
  else
    kubeadm init --pod-network-cidr="${ARG[pod-network-cidr]}" --service-cidr="${ARG[service-cidr]}" \
      --node-name="${ARG[node-name]}" --apiserver-advertise-address="${ARG[advertise-address]}" \
      --kubernetes-version="v${ARG[kubernetes-version]}" 2>&1 | hide_tokens
    [[ -f $ADMIN_CONF ]] || die "kubeadm init did not write $ADMIN_CONF"
    changed=changed
  fi

  # The post: mkdir -p $HOME/.kube; cp admin.conf $HOME/.kube/config; chown.
  kube_dir=$home/.kube
  config=$kube_dir/config
  if [[ ! -d $kube_dir ]]; then
    mkdir -p -- "$kube_dir"
    chown -- "$uid:$gid" "$kube_dir"
    changed=changed
  fi
  admin=$(cat -- "$ADMIN_CONF" && printf x)
  if [[ -f $config ]]; then current=$(cat -- "$config" && printf x); fi
  if [[ $current != "$admin" ]]; then
    cp -- "$ADMIN_CONF" "$config.kubevirt-lab.tmp"
    chown -- "$uid:$gid" "$config.kubevirt-lab.tmp"
    chmod 600 -- "$config.kubevirt-lab.tmp"
    mv -f -- "$config.kubevirt-lab.tmp" "$config"
    changed=changed
  fi
  if [[ $(stat -c %u:%g -- "$config") != "$uid:$gid" ]]; then
    chown -- "$uid:$gid" "$config"
    changed=changed
  fi
  if [[ $(stat -c %a -- "$config") != 600 ]]; then
    chmod 600 -- "$config"
    changed=changed
  fi
}

remove() {
  local home
  kubeadm_reset
  if home=$(user_field "${ARG[ssh-user]}" 6) && [[ -n $home ]]; then
    remove_file "$home/.kube/config"
  fi
}

kvl::main "$@"
