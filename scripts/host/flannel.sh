#!/usr/bin/env bash
# flannel.sh: the pod network of the post: `kubectl apply -f <flannel manifest>`.
#
#   flannel.sh apply <manifest-url>
#   flannel.sh remove [...]     leaves the cluster alone (kubeadm reset removes
#                               it); deletes only this script's record
#
# A record, /var/lib/kubevirt-lab/flannel.applied, holds the manifest URL and
# the sha256 of the cluster CA it was applied to: the same URL on the same
# cluster is not applied again, a new URL or a re-initialized cluster is.
set -euo pipefail
umask 022

SCRIPT=flannel.sh
# shellcheck source=lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh" # kubevirt-lab:lib
USAGE='apply <manifest-url> | remove'
ADMIN_CONF=/etc/kubernetes/admin.conf
CA=/etc/kubernetes/pki/ca.crt
RECORD=/var/lib/kubevirt-lab/flannel.applied

(($# >= 1)) || usage
action=$1
shift
changed=unchanged

case $action in
  apply)
    (($# == 1)) || usage
    url=$1
    [[ -n $url && $url != *[[:space:]]* ]] || die "not a manifest URL: '$url'"
    [[ -f $ADMIN_CONF && -f $CA ]] || die "$ADMIN_CONF or $CA missing: run kubeadm-init.sh apply first"
    ca_sum=$(sha256sum <"$CA")
    record="${ca_sum%% *} $url"
    current=""
    if [[ -f $RECORD ]]; then current=$(cat -- "$RECORD"); fi
    if [[ $current != "$record" ]]; then
      kubectl --kubeconfig="$ADMIN_CONF" apply -f "$url"
      mkdir -p -- "$(dirname -- "$RECORD")"
      printf '%s\n' "$record" >"$RECORD"
      changed=changed
    fi
    ;;
  remove)
    if [[ -e $RECORD ]]; then
      rm -f -- "$RECORD"
      changed=changed
    fi
    ;;
  *) usage ;;
esac

finish
