#!/usr/bin/env bash
# sysctl.sh: /etc/sysctl.d/k8s.conf of the post (Flannel needs bridged
# traffic to pass iptables), then `sysctl --system`.
#
#   sysctl.sh apply [--setting '<key> = <value>']...   default: the two bridge-nf-call lines
#   sysctl.sh remove                                   delete the file if it is still the lab's, `sysctl --system`
#
# The file holds one line per setting, as given. The br_netfilter module must
# be loaded for the net.bridge keys: on CentOS 7 docker loads it when it
# starts, so this runs after services.sh. A changed file is marked (RELOAD, a
# name sysctl --system does not read) until `sysctl --system` has loaded it, so
# that a run cut off between the two still loads it when run again. The file is
# the lab's (own_file, lib.sh): a k8s.conf that was there before is put back by
# remove, and one changed since apply is left as it is.
set -euo pipefail
umask 022

SCRIPT=sysctl.sh
# shellcheck source=../lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh" # kubevirt-lab:lib
OPTIONS[apply]='setting*'
OPTIONS[remove]=''
CONF=/etc/sysctl.d/k8s.conf
RELOAD=$CONF.kubevirt-lab.reload

# apply [<setting>...]
apply() {
  local want
  if (($# == 0)); then
    set -- "net.bridge.bridge-nf-call-ip6tables = 1" "net.bridge.bridge-nf-call-iptables = 1"
  fi
  want=$(printf '%s\n' "$@")$'\n'
  if ! file_is "$CONF" "$want"; then : >"$RELOAD"; fi
  own_file "$CONF" "$want"
  reload
}

# reload: `sysctl --system` when RELOAD marks a change not yet loaded (then changed=changed).
reload() {
  if [[ -e $RELOAD ]]; then
    sysctl --system
    rm -f -- "$RELOAD"
    changed=changed
  fi
}

remove() {
  if owned "$CONF"; then : >"$RELOAD"; fi
  disown_file "$CONF"
  reload
}

# kubevirt-lab:check {
# check [--setting '<key> = <value>']...: the item `file /etc/sysctl.d/k8s.conf` as apply would
# write it (apply run with own_file checking the file and keeping what it would write; no mark,
# no `sysctl --system`), then `sysctl <key>` for each of
# its lines: the running value (`sysctl -n`) is the file's (blanks aside).
OPTIONS[check]=${OPTIONS[apply]}
check() {
  local written="" line key value have
  own_file() {
    check_file "$1" "$2"
    written=$2
  }
  RELOAD=/dev/null
  reload() { :; }
  apply "$@"
  while IFS= read -r line; do
    [[ $line == *=* ]] || continue
    key=$(kvl::words "${line%%=*}")
    value=$(kvl::words "${line#*=}")
    if ! have=$(sysctl -n "$key" 2>/dev/null); then
      check_drift "sysctl $key" "sysctl $key = $value" "no such key"
    else
      have=$(kvl::words "$have")
      check_is "sysctl $key" "sysctl $key = $value" "$key = $have" "$value" "$have"
    fi
  done <<<"$written"
}
# kubevirt-lab:check }
kvl::main "$@"
