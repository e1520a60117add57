#!/usr/bin/env bash
# delete-daemonsets.sh: delete an add-on's DaemonSets before the Kubernetes provider does
# (runs on the master).
#
#   delete-daemonsets.sh apply --daemonset <namespace>/<name>...    does nothing
#   delete-daemonsets.sh remove --daemonset <namespace>/<name>...   deletes each DaemonSet, then its
#                                                                    pods and ControllerRevisions
#
# Why: @pulumi/kubernetes 3.30.2 deletes with propagationPolicy Foreground, and Kubernetes 1.9's
# DaemonSet controller builds the DaemonSet's ControllerRevision again while the DaemonSet is being
# deleted (its history is made before it looks at deletionTimestamp; later releases check first).
# The garbage collector deletes the revision, the controller makes it again, every 2-3 s, so the
# foreground delete never ends and `pulumi destroy` fails after the provider's 5 minutes (seen
# against the real v1.9.4 API server). So the DaemonSet goes first with its dependents orphaned
# (`--cascade=false`: gone at once, nothing left for the controller to rebuild), then its pods and
# revisions by its selector; the provider's delete then finds nothing, which it takes as deleted.
# remove does nothing for a DaemonSet that is not there, or when the master has no admin.conf.
set -euo pipefail

SCRIPT=delete-daemonsets.sh
# shellcheck source=../lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh" # kubevirt-lab:lib
OPTIONS[apply]='daemonset+'
OPTIONS[remove]='daemonset+'
# shellcheck disable=SC2016 # a go-template, not shell
SELECTOR='{{range $k, $v := .spec.selector.matchLabels}}{{$k}}={{$v}},{{end}}'

apply() {
  :
}

remove() {
  local ds ns name out selector
  if [[ ! -f $ADMIN_CONF ]]; then
    echo "$SCRIPT: $ADMIN_CONF does not exist: no cluster to delete DaemonSets from"
    return 0
  fi
  for ds in "${LIST[@]}"; do
    [[ $ds == */* ]] || die "--daemonset: expected <namespace>/<name>, got '$ds'"
    ns=${ds%%/*} name=${ds#*/}
    if ! out=$(kubectl --kubeconfig="$ADMIN_CONF" get daemonset "$name" -n "$ns" -o go-template="$SELECTOR" 2>&1); then
      [[ $out == *NotFound* || $out == *"not found"* ]] || die "cannot look up DaemonSet $ds: $out"
      echo "$SCRIPT: DaemonSet $ds is not there"
      continue
    fi
    selector=${out%,}
    kubectl --kubeconfig="$ADMIN_CONF" delete daemonset "$name" -n "$ns" --cascade=false
    if [[ -n $selector ]]; then
      kubectl --kubeconfig="$ADMIN_CONF" delete pods,controllerrevisions -n "$ns" -l "$selector" --ignore-not-found
    fi
    changed=changed
  done
}

kvl::main "$@"
