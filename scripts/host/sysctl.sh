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
# shellcheck source=lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh" # kubevirt-lab:lib
USAGE='apply [<key = value>...] | remove'
CONF=/etc/sysctl.d/k8s.conf

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

finish
