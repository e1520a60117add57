#!/usr/bin/env bash
# flannel.sh: the pod network of the post: `kubectl apply -f <flannel manifest>`.
#
#   flannel.sh apply --manifest-url <url>
#   flannel.sh remove     leaves the cluster alone (kubeadm reset removes it);
#                         deletes only this script's record
#
# A record, /var/lib/kubevirt-lab/flannel.applied, holds the manifest URL and
# the sha256 of the cluster CA it was applied to: the same URL on the same
# cluster is not applied again, a new URL or a re-initialized cluster is.
set -euo pipefail
umask 022

SCRIPT=flannel.sh
# shellcheck source=../lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh" # kubevirt-lab:lib
OPTIONS[apply]='manifest-url'
OPTIONS[remove]=''
CA=$K8S_DIR/pki/ca.crt
RECORD=/var/lib/kubevirt-lab/flannel.applied

apply() {
  local url=${ARG[manifest-url]} ca_sum record current=""
  [[ -f $ADMIN_CONF && -f $CA ]] || die "$ADMIN_CONF or $CA missing: the master is not initialized (kubeadm init has not run)"
  ca_sum=$(sha256sum <"$CA")
  record="${ca_sum%% *} $url"
  if [[ -f $RECORD ]]; then current=$(cat -- "$RECORD"); fi
  if [[ $current != "$record" ]]; then
    kubectl --kubeconfig="$ADMIN_CONF" apply -f "$url"
    write_file "$RECORD" "$record"$'\n'
    changed=changed
  fi
}

remove() {
  remove_file "$RECORD"
}

# kubevirt-lab:check {
# check --manifest-url <url>: the item `file /var/lib/kubevirt-lab/flannel.applied`: that manifest
# applied to this cluster (its CA), as apply records it.
OPTIONS[check]=${OPTIONS[apply]}
check() {
  local ca_sum
  if [[ ! -f $CA ]]; then
    check_drift "file $RECORD" "$CA (kubeadm init done)" "no such file"
    return 0
  fi
  ca_sum=$(sha256sum <"$CA")
  check_file "$RECORD" "${ca_sum%% *} ${ARG[manifest-url]}"$'\n'
}
# kubevirt-lab:check }
kvl::main "$@"
