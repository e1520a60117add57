#!/usr/bin/env bash
# sysctl.sh: /etc/sysctl.d/k8s.conf of the post (Flannel needs bridged
# traffic to pass iptables), then `sysctl --system`.
#
#   sysctl.sh apply [<key = value>...]   default: the two bridge-nf-call lines
#   sysctl.sh remove [...]               delete the file, `sysctl --system`
#
# The br_netfilter module must be loaded for the net.bridge keys: on CentOS 7
# docker loads it when it starts, so this runs after services.sh.
set -euo pipefail
umask 022

SCRIPT=sysctl.sh
CONF=/etc/sysctl.d/k8s.conf

usage() {
  printf 'usage: %s apply [<key = value>...] | remove\n' "$SCRIPT" >&2
  exit 2
}

die() {
  printf '%s: %s\n' "$SCRIPT" "$*" >&2
  exit 1
}

file_is() {
  local current=""
  [[ -f $1 ]] || return 1
  IFS= read -r -d '' current <"$1" || true
  [[ $current == "$2" ]]
}

write_file() {
  mkdir -p -- "$(dirname -- "$1")"
  printf '%s' "$2" >"$1.kubevirt-lab.tmp"
  mv -f -- "$1.kubevirt-lab.tmp" "$1"
}

(($# >= 1)) || usage
action=$1
shift
changed=unchanged

case $action in
  apply)
    if (($# == 0)); then
      set -- "net.bridge.bridge-nf-call-ip6tables = 1" "net.bridge.bridge-nf-call-iptables = 1"
    fi
    want=""
    for setting in "$@"; do
      [[ $setting != *$'\n'* && $setting =~ ^[[:space:]]*([A-Za-z0-9_][A-Za-z0-9_./-]*)[[:space:]]*=[[:space:]]*(.*[^[:space:]])[[:space:]]*$ ]] ||
        die "not a 'key = value' setting: '$setting'"
      want+="${BASH_REMATCH[1]} = ${BASH_REMATCH[2]}"$'\n'
    done
    if ! file_is "$CONF" "$want"; then
      write_file "$CONF" "$want"
      sysctl --system
      changed=changed
    fi
    ;;
  remove)
    if [[ -e $CONF ]]; then
      rm -f -- "$CONF"
      sysctl --system
      changed=changed
    fi
    ;;
  *) usage ;;
esac

printf 'kubevirt-lab: %s %s: %s\n' "$SCRIPT" "$action" "$changed"
