#!/usr/bin/env bash
# wait-nodes.sh: wait until the named nodes are Ready (`kubectl get nodes`).
#
#   wait-nodes.sh [--interval <seconds>] <timeout-seconds> <node-name>...
#
# Polls every 2 s (or --interval, e.g. 0.5), at most timeout/interval + 1
# times and no longer than the timeout. On timeout it exits 1 naming the nodes
# that are not Ready and showing what kubectl printed last.
set -euo pipefail

SCRIPT=wait-nodes.sh
# shellcheck source=lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh" # kubevirt-lab:lib
USAGE='[--interval <seconds>] <timeout-seconds> <node-name>...'
ADMIN_CONF=/etc/kubernetes/admin.conf

interval=2
if [[ ${1:-} == --interval ]]; then
  (($# >= 2)) || usage
  interval=$2
  shift 2
fi
(($# >= 2)) || usage
timeout=$1
shift
[[ $timeout =~ ^[0-9]+$ ]] || die "the timeout must be whole seconds: '$timeout'"
[[ $interval =~ ^[0-9]+(\.[0-9])?$ && $interval != 0 && $interval != 0.0 ]] || die "the interval must be seconds with at most one decimal, above 0: '$interval'"
for node in "$@"; do
  check_node_name "$node"
done

# whole tenths of a second
tenths=$((10#${interval%.*} * 10))
if [[ $interval == *.* ]]; then tenths=$((tenths + ${interval#*.})); fi
max_polls=$((timeout * 10 / tenths + 1))
start_ms=$(date +%s%3N)
deadline_ms=$((start_ms + timeout * 1000))

polls=0
seen=""
pending=("$@")
while ((polls < max_polls)); do
  polls=$((polls + 1))
  if seen=$(kubectl --kubeconfig="$ADMIN_CONF" get nodes --no-headers 2>&1); then
    declare -A status=()
    while read -r name state _; do
      [[ -n ${name:-} ]] && status[$name]=$state
    done <<<"$seen"
    pending=()
    for node in "$@"; do
      case ${status[$node]:-} in
        Ready | Ready,*) ;;
        "") pending+=("$node (not registered)") ;;
        *) pending+=("$node (${status[$node]})") ;;
      esac
    done
    unset status
    if ((${#pending[@]} == 0)); then
      echo "$SCRIPT: all Ready: $*"
      action=run changed=unchanged
      finish
      exit 0
    fi
  else
    pending=()
    for node in "$@"; do pending+=("$node (kubectl failed)"); done
  fi
  (($(date +%s%3N) + tenths * 100 <= deadline_ms)) || break
  sleep "$interval"
done

not_ready=""
for entry in "${pending[@]}"; do
  not_ready+="${not_ready:+, }$entry"
done
{
  printf '%s: timed out after %ss (%s polls): not Ready: %s\n' "$SCRIPT" "$timeout" "$polls" "$not_ready"
  printf "last 'kubectl get nodes --no-headers' output:\n%s\n" "$seen"
} >&2
exit 1
