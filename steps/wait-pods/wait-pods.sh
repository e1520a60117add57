#!/usr/bin/env bash
# wait-pods.sh: wait until enough pods of a selector are Running and Ready
# (runs on the master).
#
#   wait-pods.sh --timeout <seconds> --namespace <ns> --selector <labels> --min-ready <n> [--interval <seconds>]
#
# Polls (every 3 s, or --interval) until at least <n> pods matching the
# selector are Running and Ready, then prints one line per such pod:
#   <pod-name> <pod-ip> <node-name>
# stdout is exactly those lines; the closing kubevirt-lab line goes to stderr.
# Exits 1 with what it saw when the timeout passes.
set -euo pipefail

SCRIPT=wait-pods.sh
# shellcheck source=../lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh" # kubevirt-lab:lib
OPTIONS[run]='timeout namespace selector min-ready interval?'
STATUS_FD=2
# A go-template, not jsonpath: kubectl 1.9's jsonpath drops the {"\n"} that follows a nested
# {range}, so every pod came out on one line; and a field not set yet ("-" here) left a column out.
TEMPLATE='{{range .items}}{{.metadata.name}} {{or .status.podIP "-"}} {{or .spec.nodeName "-"}} {{.status.phase}} {{range .status.conditions}}{{if eq .type "Ready"}}{{.status}}{{end}}{{end}}{{"\n"}}{{end}}'

run() {
  local timeout=${ARG[timeout]} selector=${ARG[selector]} min_ready=${ARG[min-ready]} interval=${ARG[interval]:-3}
  local deadline=$((SECONDS + timeout)) max_polls poll seen="" ready count
  max_polls=$((timeout / interval + 2))
  for ((poll = 0; poll < max_polls; poll++)); do
    if seen=$(kubectl --kubeconfig="$ADMIN_CONF" get pods -n "${ARG[namespace]}" -l "$selector" -o go-template="$TEMPLATE" 2>&1); then
      ready=$(awk '$4 == "Running" && $5 == "True" { print $1, $2, $3 }' <<<"$seen")
      count=$(grep -c . <<<"$ready" || true)
      if ((count >= min_ready)); then
        printf '%s\n' "$ready"
        return 0
      fi
    fi
    ((SECONDS < deadline)) || break
    sleep "$interval"
  done
  echo "$SCRIPT: fewer than $min_ready ready pods with $selector in ${ARG[namespace]} after ${timeout}s; last seen:" >&2
  printf '%s\n' "${seen:-nothing}" >&2
  exit 1
}

kvl::main "$@"
