#!/usr/bin/env bash
# wait-pods.sh <timeout-seconds> <namespace> <label-selector> <min-ready>
# Runs on the master. Polls until at least <min-ready> pods matching the
# selector are Running and Ready, then prints one line per such pod:
#   <pod-name> <pod-ip> <node-name>
# Exits 1 with what it saw when the timeout passes.
set -euo pipefail

timeout_s=${1:?timeout in seconds}
namespace=${2:?namespace}
selector=${3:?label selector}
min_ready=${4:?minimum number of ready pods}
interval=${WAIT_PODS_INTERVAL:-3}

case "$timeout_s$min_ready" in
  *[!0-9]*) echo "wait-pods.sh: timeout and min-ready must be whole numbers" >&2; exit 2 ;;
esac

kubeconfig=/etc/kubernetes/admin.conf
template='{range .items[*]}{.metadata.name}{" "}{.status.podIP}{" "}{.spec.nodeName}{" "}{.status.phase}{" "}{range .status.conditions[?(@.type=="Ready")]}{.status}{end}{"\n"}{end}'

deadline=$((SECONDS + timeout_s))
max_polls=$((timeout_s / interval + 2))
seen=""
for ((poll = 0; poll < max_polls; poll++)); do
  if seen=$(kubectl --kubeconfig="$kubeconfig" get pods -n "$namespace" -l "$selector" -o jsonpath="$template" 2>&1); then
    ready=$(awk '$4 == "Running" && $5 == "True" { print $1, $2, $3 }' <<<"$seen")
    count=$(grep -c . <<<"$ready" || true)
    if ((count >= min_ready)); then
      printf '%s\n' "$ready"
      exit 0
    fi
  fi
  ((SECONDS < deadline)) || break
  sleep "$interval"
done

echo "wait-pods.sh: fewer than $min_ready ready pods with $selector in $namespace after ${timeout_s}s; last seen:" >&2
printf '%s\n' "${seen:-nothing}" >&2
exit 1
