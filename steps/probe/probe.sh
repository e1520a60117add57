#!/usr/bin/env bash
# probe.sh: what the lab's steps made on this host, as it is now, for
# `npm run drift` (tools/drift.ts). Read-only: it only reads files and asks
# programs (systemctl is-active/is-enabled, rpm -q, sysctl -n, getenforce,
# swapon --show, kubectl get) what they have; it changes nothing.
#
#   probe.sh --check <check>...
#
# Each check prints machine-readable lines on stdout (the closing line goes to
# stderr); tools/drift.ts compares them with what the stack's settings expect:
#
#   file:<path>        file <path> present <content, base64> | file <path> missing
#   service:<unit>     service <unit> <is-active> <is-enabled>
#   package:<name>     package <name> installed | package <name> missing <what rpm -q <base name> says, or ->
#   sysctl:<key>       sysctl <key> value <value> | sysctl <key> missing
#   selinux            selinux <getenforce's answer, or absent>
#   swap               swap active <area>... ; swap fstab <uncommented swap line of /etc/fstab, base64>...
#   cluster            cluster admin-conf present|missing ; cluster api ok | cluster api fail <message> ;
#                      node <name> <status>... (the nodes of `kubectl get nodes`, with admin.conf)
#   object:<kind>/<namespace>/<name>   (namespace empty: cluster-scoped)
#                      object <kind> <namespace or -> <name> present|missing | ... error <message>
set -euo pipefail

SCRIPT=probe.sh
# shellcheck source=../lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh" # kubevirt-lab:lib
OPTIONS[run]='check+'
# stdout is data
STATUS_FD=2

# one_line <text>: the text on one line (newlines as " / "), for a message field.
one_line() {
  local t=${1//$'\r'/}
  printf '%s' "${t//$'\n'/ / }"
}

probe_file() {
  if [[ -f $1 ]]; then
    printf 'file %s present %s\n' "$1" "$(base64 -w0 <"$1")"
  else
    printf 'file %s missing\n' "$1"
  fi
}

probe_service() {
  local active enabled
  active=$(systemctl is-active "$1" 2>/dev/null) || true
  enabled=$(systemctl is-enabled "$1" 2>/dev/null) || true
  printf 'service %s %s %s\n' "$1" "${active:-unknown}" "${enabled:-not-found}"
}

probe_package() {
  local name=$1 base other=-
  if rpm -q --quiet "$name"; then
    printf 'package %s installed\n' "$name"
    return 0
  fi
  if [[ $name =~ ^(.+)-[0-9][^-]*$ ]]; then
    base=${BASH_REMATCH[1]}
    if rpm -q --quiet "$base"; then other=$(LC_ALL=C rpm -q "$base" | head -n 1); fi
  fi
  printf 'package %s missing %s\n' "$name" "$other"
}

probe_sysctl() {
  local value
  # `sysctl <key>=<value>` would set it: a key is never passed with an = or as an option.
  [[ $1 != *=* && $1 != -* ]] || die "not a sysctl key: '$1'"
  if value=$(sysctl -n "$1" 2>/dev/null); then
    printf 'sysctl %s value %s\n' "$1" "$(one_line "$value")"
  else
    printf 'sysctl %s missing\n' "$1"
  fi
}

probe_selinux() {
  local mode=absent
  if command -v getenforce >/dev/null; then mode=$(getenforce 2>/dev/null) || mode=absent; fi
  printf 'selinux %s\n' "${mode:-absent}"
}

probe_swap() {
  local area line
  while IFS= read -r area; do
    [[ -z $area ]] || printf 'swap active %s\n' "$area"
  done < <(swapon --show=NAME --noheadings)
  [[ -f /etc/fstab ]] || return 0
  while IFS= read -r line; do
    printf 'swap fstab %s\n' "$(printf '%s' "$line" | base64 -w0)"
  done < <(awk '$0 !~ /^[[:space:]]*#/ && $3 == "swap"' /etc/fstab)
}

probe_cluster() {
  local out name status rest
  if [[ ! -f $ADMIN_CONF ]]; then
    printf 'cluster admin-conf missing\n'
    return 0
  fi
  printf 'cluster admin-conf present\n'
  if ! out=$(kubectl --kubeconfig="$ADMIN_CONF" --request-timeout=10s get nodes --no-headers 2>&1); then
    printf 'cluster api fail %s\n' "$(one_line "$out")"
    return 0
  fi
  printf 'cluster api ok\n'
  while read -r name status rest; do
    [[ -z $name || $name == No ]] || printf 'node %s %s\n' "$name" "$status"
  done <<<"$out"
}

probe_object() {
  local spec=$1 kind ns name out
  kind=${spec%%/*}
  spec=${spec#*/}
  ns=${spec%%/*}
  name=${spec#*/}
  local args=(--kubeconfig="$ADMIN_CONF" --request-timeout=10s get "$kind" "$name")
  [[ -z $ns ]] || args+=(-n "$ns")
  if [[ ! -f $ADMIN_CONF ]]; then
    printf 'object %s %s %s error no %s\n' "$kind" "${ns:--}" "$name" "$ADMIN_CONF"
  elif out=$(kubectl "${args[@]}" 2>&1); then
    printf 'object %s %s %s present\n' "$kind" "${ns:--}" "$name"
  elif [[ $out == *NotFound* || $out == *"not found"* ]]; then
    printf 'object %s %s %s missing\n' "$kind" "${ns:--}" "$name"
  else
    printf 'object %s %s %s error %s\n' "$kind" "${ns:--}" "$name" "$(one_line "$out")"
  fi
}

# run <check>...
run() {
  local check
  for check in "$@"; do
    case $check in
      file:/?*) probe_file "${check#file:}" ;;
      service:?*) probe_service "${check#service:}" ;;
      package:?*) probe_package "${check#package:}" ;;
      sysctl:?*) probe_sysctl "${check#sysctl:}" ;;
      selinux) probe_selinux ;;
      swap) probe_swap ;;
      cluster) probe_cluster ;;
      object:?*/*/?*) probe_object "${check#object:}" ;;
      *) die "not a check: '$check' (file:<path>, service:<unit>, package:<name>, sysctl:<key>, selinux, swap, cluster, object:<kind>/<namespace>/<name>)" ;;
    esac
  done
}

kvl::main "$@"
