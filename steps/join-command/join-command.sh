#!/usr/bin/env bash
# join-command.sh: print a fresh join line for a worker (a secret):
# `kubeadm token create --ttl <ttl> --print-join-command` (new in 1.9).
#
#   join-command.sh --ttl <ttl>      a Go duration: 1h, 30m, 24h0m0s
#
# stdout is exactly that line; the closing kubevirt-lab line goes to stderr.
set -euo pipefail

SCRIPT=join-command.sh
# shellcheck source=../lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh" # kubevirt-lab:lib
OPTIONS[run]='ttl'
STATUS_FD=2

run() {
  local line
  changed=changed
  line=$(kubeadm token create --ttl "${ARG[ttl]}" --print-join-command)
  if [[ $line != "kubeadm join "* || $line == *$'\n'* ]]; then
    die "kubeadm token create --print-join-command did not print one 'kubeadm join' line"
  fi
  printf '%s\n' "$line"
}

kvl::main "$@"
