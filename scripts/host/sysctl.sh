#!/usr/bin/env bash
# sysctl.sh: /etc/sysctl.d/k8s.conf of the post (Flannel needs bridged
# traffic to pass iptables), then `sysctl --system`.
#
#   sysctl.sh apply [--setting '<key> = <value>']...   default: the two bridge-nf-call lines
#   sysctl.sh remove                                   delete the file, `sysctl --system`
#
# The file holds one line per setting, as given. The br_netfilter module must
# be loaded for the net.bridge keys: on CentOS 7 docker loads it when it
# starts, so this runs after services.sh.
set -euo pipefail
umask 022

SCRIPT=sysctl.sh
# shellcheck source=lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh" # kubevirt-lab:lib
OPTIONS[apply]='setting*'
OPTIONS[remove]=''
CONF=/etc/sysctl.d/k8s.conf

# apply [<setting>...]
apply() {
  if (($# == 0)); then
    set -- "net.bridge.bridge-nf-call-ip6tables = 1" "net.bridge.bridge-nf-call-iptables = 1"
  fi
  update_file "$CONF" "$(printf '%s\n' "$@")"$'\n'
  if [[ $changed == changed ]]; then
    sysctl --system
  fi
}

remove() {
  remove_file "$CONF"
  if [[ $changed == changed ]]; then
    sysctl --system
  fi
}

kvl::main "$@"
