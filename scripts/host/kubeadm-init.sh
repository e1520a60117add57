#!/usr/bin/env bash
# kubeadm-init.sh: the master of the post: `kubeadm init`, then admin.conf
# copied to the SSH user's ~/.kube/config.
#
#   kubeadm-init.sh apply <pod-cidr> <service-cidr> <node-name> <advertise-address> <kubernetes-version> <ssh-user>
#   kubeadm-init.sh remove [<same arguments>]   `kubeadm reset`, then delete the
#                                              SSH user's ~/.kube/config (the
#                                              SSH user is the last argument)
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
USAGE='apply <pod-cidr> <service-cidr> <node-name> <advertise-address> <kubernetes-version> <ssh-user> | remove [...] <ssh-user>'
ADMIN_CONF=/etc/kubernetes/admin.conf

# user_field <user> <n>: field n of the user's passwd entry.
user_field() {
  local entry
  entry=$(getent passwd "$1") || return 1
  cut -d: -f"$2" <<<"$entry"
}

(($# >= 1)) || usage
action=$1
shift
changed=unchanged

case $action in
  apply)
    (($# == 6)) || usage
    pod_cidr=$1 service_cidr=$2 node_name=$3 address=$4 version=${5#v} ssh_user=$6
    cidr_re='^[0-9a-fA-F.:]+/[0-9]{1,3}$'
    [[ $pod_cidr =~ $cidr_re ]] || die "not a CIDR: pod network '$pod_cidr'"
    [[ $service_cidr =~ $cidr_re ]] || die "not a CIDR: service network '$service_cidr'"
    check_node_name "$node_name"
    [[ $address =~ ^[0-9a-fA-F.:]+$ ]] || die "not an IP address: '$address'"
    [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "not a Kubernetes version like 1.9.4: '$version'"
    home=$(user_field "$ssh_user" 6) || die "no such user: '$ssh_user'"
    uid=$(user_field "$ssh_user" 3)
    gid=$(user_field "$ssh_user" 4)
    [[ -n $home && $home == /* ]] || die "user '$ssh_user' has no home directory"

    if [[ -e $ADMIN_CONF ]]; then
      echo "$SCRIPT: $ADMIN_CONF exists: the cluster is already initialized"
    else
      kubeadm init --pod-network-cidr="$pod_cidr" --service-cidr="$service_cidr" \
        --node-name="$node_name" --apiserver-advertise-address="$address" \
        --kubernetes-version="v$version" 2>&1 | hide_tokens
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
    current=""
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
    ;;
  remove)
    (($# >= 1)) || usage
    ssh_user=${!#}
    if kubeadm_left_state; then
      kubeadm_reset
      changed=changed
    fi
    if home=$(user_field "$ssh_user" 6) && [[ -n $home && -e $home/.kube/config ]]; then
      rm -f -- "$home/.kube/config"
      changed=changed
    fi
    ;;
  *) usage ;;
esac

finish
