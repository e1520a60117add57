#!/usr/bin/env bash
# wait-nodes.sh: wait until the named nodes are Ready (`kubectl get nodes`).
#
#   wait-nodes.sh --timeout <seconds> --node <name>... [--interval <seconds>]
#
# Polls every 2 s (or --interval, e.g. 0.5: at most one decimal), at most
# timeout/interval + 1 times and no longer than the timeout. On timeout it
# exits 1 naming the nodes that are not Ready and showing what kubectl printed
# last.
set -euo pipefail

SCRIPT=wait-nodes.sh
# shellcheck source=../lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh" # kubevirt-lab:lib
OPTIONS[run]='timeout node+ interval?'

# run <node>...
run() {
  local timeout=${ARG[timeout]} interval=${ARG[interval]:-2} tenths max_polls start_ms deadline_ms
  local polls=0 seen="" node name state entry not_ready=""
  local -a pending=("$@")
  local -A status
  # whole tenths of a second
  tenths=$((10#${interval%.*} * 10))
  if [[ $interval == *.* ]]; then tenths=$((tenths + ${interval#*.})); fi
  max_polls=$((timeout * 10 / tenths + 1))
  start_ms=$(date +%s%3N)
  deadline_ms=$((start_ms + timeout * 1000))

  while ((polls < max_polls)); do
    polls=$((polls + 1))
    pending=()
    if seen=$(kubectl --kubeconfig="$ADMIN_CONF" get nodes --no-headers 2>&1); then
      status=()
      while read -r name state _; do
        [[ -n ${name:-} ]] && status[$name]=$state
      done <<<"$seen"
      for node in "$@"; do
        case ${status[$node]:-} in
          Ready | Ready,*) ;;
          "") pending+=("$node (not registered)") ;;
          *) pending+=("$node (${status[$node]})") ;;
        esac
      done
      if ((${#pending[@]} == 0)); then
        echo "$SCRIPT: all Ready: $*"
        return 0
      fi
    else
      for node in "$@"; do pending+=("$node (kubectl failed)"); done
    fi
    (($(date +%s%3N) + tenths * 100 <= deadline_ms)) || break
    sleep "$interval"
  done

  for entry in "${pending[@]}"; do
    not_ready+="${not_ready:+, }$entry"
  done
  {
    printf '%s: timed out after %ss (%s polls): not Ready: %s\n' "$SCRIPT" "$timeout" "$polls" "$not_ready"
    printf "last 'kubectl get nodes --no-headers' output:\n%s\n" "$seen"
  } >&2
  exit 1
}

# kubevirt-lab:check {
# check <the run's options>: the item `node <name>` for each node: Ready in `kubectl get nodes`
# (one look, no wait).
OPTIONS[check]=${OPTIONS[run]}
check() {
  local seen="" name state node
  local -A status=()
  if [[ -f $ADMIN_CONF ]] && seen=$(kubectl --kubeconfig="$ADMIN_CONF" get nodes --no-headers 2>/dev/null); then
    while read -r name state _; do
      [[ -n ${name:-} ]] && status[$name]=$state
    done <<<"$seen"
  else
    for node in "$@"; do check_drift "node $node" "node $node Ready" "no control plane to ask"; done
    return 0
  fi
  for node in "$@"; do
    case ${status[$node]:-} in
      Ready | Ready,*) check_ok "node $node" ;;
      "") check_drift "node $node" "node $node Ready" "not in kubectl get nodes" ;;
      *) check_drift "node $node" "node $node Ready" "${status[$node]}" ;;
    esac
  done
}
# kubevirt-lab:check }
kvl::main "$@"
