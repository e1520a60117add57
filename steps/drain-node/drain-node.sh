#!/usr/bin/env bash
# drain-node.sh: take a worker out of the cluster before its `kubeadm reset`
# (runs on the master).
#
#   drain-node.sh apply --node-name <name>     does nothing
#   drain-node.sh remove --node-name <name>    kubectl drain, then kubectl delete node
#
# remove does nothing when the node is not in the cluster or the master has no
# admin.conf any more (lib.sh's drain_node: the drain flags are the 1.9 ones,
# --delete-emptydir-data when this kubectl has it; the drain gives up after 10
# minutes).
set -euo pipefail

SCRIPT=drain-node.sh
# shellcheck source=../lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh" # kubevirt-lab:lib
OPTIONS[apply]='node-name'
OPTIONS[remove]='node-name'

apply() {
  :
}

remove() {
  drain_node "${ARG[node-name]}"
}

kvl::main "$@"
