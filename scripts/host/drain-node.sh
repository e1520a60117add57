#!/usr/bin/env bash
# drain-node.sh: take a worker out of the cluster before its `kubeadm reset`
# (runs on the master).
#
#   drain-node.sh apply --node-name <name>     does nothing
#   drain-node.sh remove --node-name <name>    kubectl drain, then kubectl delete node
#
# remove does nothing when the node is not in the cluster or the master has no
# admin.conf any more. The drain flags are the 1.9 ones (--delete-local-data
# became --delete-emptydir-data in 1.20: used when this kubectl has it), and
# the drain gives up after 10 minutes.
set -euo pipefail

SCRIPT=drain-node.sh
# shellcheck source=lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh" # kubevirt-lab:lib
OPTIONS[apply]='node-name'
OPTIONS[remove]='node-name'
ADMIN_CONF=/etc/kubernetes/admin.conf

apply() {
  :
}

remove() {
  local node=${ARG[node-name]} out help local_data=--delete-local-data
  if [[ ! -f $ADMIN_CONF ]]; then
    echo "$SCRIPT: $ADMIN_CONF does not exist: no cluster to remove $node from"
  elif ! out=$(kubectl --kubeconfig="$ADMIN_CONF" get node "$node" 2>&1); then
    if [[ $out == *NotFound* || $out == *"not found"* ]]; then
      echo "$SCRIPT: node $node is not in the cluster"
    else
      die "cannot look up node $node: $out"
    fi
  else
    help=$(kubectl --kubeconfig="$ADMIN_CONF" drain --help 2>&1 || true)
    if [[ $help == *--delete-emptydir-data* ]]; then local_data=--delete-emptydir-data; fi
    kubectl --kubeconfig="$ADMIN_CONF" drain "$node" --ignore-daemonsets "$local_data" --force --timeout=600s
    kubectl --kubeconfig="$ADMIN_CONF" delete node "$node"
    changed=changed
  fi
}

kvl::main "$@"
