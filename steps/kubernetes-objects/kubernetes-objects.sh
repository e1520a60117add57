#!/usr/bin/env bash
# kubernetes-objects.sh: the check of the lab's Kubernetes objects (runs on the master). The
# objects are made by the Kubernetes provider, not by a host step: this script has the check
# action only, and `npm run drift` gives it the objects the program registered (the stack's
# state), never a list of its own.
#
#   kubernetes-objects.sh check --object <kind>/<namespace>/<name>...   (namespace empty: cluster-scoped)
#
# Each object is the item `object <kind> <namespace>/<name>`: there (`kubectl get`), or missing,
# or what kubectl said. Without admin.conf every object is `no control plane to ask`.
set -euo pipefail

SCRIPT=kubernetes-objects.sh
# shellcheck source=../lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh" # kubevirt-lab:lib
# kubevirt-lab:check {
OPTIONS[check]='object+'
check() {
  local ref kind ns name item out
  local -a where
  for ref in "$@"; do
    kind=${ref%%/*}
    ns=${ref#*/}
    name=${ns#*/}
    ns=${ns%%/*}
    item="object $kind ${ns:+$ns/}$name"
    where=()
    [[ -z $ns ]] || where=(--namespace "$ns")
    if [[ ! -f $ADMIN_CONF ]]; then
      check_drift "$item" "$kind ${ns:+$ns/}$name present" "no control plane to ask"
    elif out=$(kubectl --kubeconfig="$ADMIN_CONF" get "$kind" "$name" ${where[@]+"${where[@]}"} --request-timeout=10s 2>&1); then
      check_ok "$item"
    elif [[ $out == *NotFound* || $out == *"not found"* ]]; then
      check_drift "$item" "$kind ${ns:+$ns/}$name present" "missing"
    else
      check_drift "$item" "$kind ${ns:+$ns/}$name present" "error $out"
    fi
  done
}
# kubevirt-lab:check }
kvl::main "$@"
