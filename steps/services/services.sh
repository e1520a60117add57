#!/usr/bin/env bash
# services.sh: start and enable docker, enable kubelet (the post's
# `systemctl start docker`, `systemctl enable docker`, `systemctl enable kubelet`).
#
#   services.sh apply
#   services.sh remove     does nothing
set -euo pipefail

SCRIPT=services.sh
# shellcheck source=../lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh" # kubevirt-lab:lib
OPTIONS[apply]=''
OPTIONS[remove]=''

apply() {
  if ! systemctl is-active --quiet docker; then
    systemctl start docker
    changed=changed
  fi
  if ! systemctl is-enabled --quiet docker; then
    systemctl enable docker
    changed=changed
  fi
  if ! systemctl is-enabled --quiet kubelet; then
    systemctl enable kubelet
    changed=changed
  fi
}

remove() {
  :
}

# kubevirt-lab:check {
# check: the items `docker active`, `docker enabled`, `kubelet enabled` (systemctl is-active,
# is-enabled).
OPTIONS[check]=${OPTIONS[apply]}
check() {
  local unit state want
  for unit in docker:active docker:enabled kubelet:enabled; do
    want=${unit#*:}
    unit=${unit%:*}
    if [[ $want == active ]]; then
      state=$(systemctl is-active "$unit" 2>/dev/null) || true
    else
      state=$(systemctl is-enabled "$unit" 2>/dev/null) || true
    fi
    state=${state:-unknown}
    check_is "$unit $want" "$unit $want" "$unit $state" "$want" "$state"
  done
}
# kubevirt-lab:check }
kvl::main "$@"
