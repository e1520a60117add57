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

kvl::main "$@"
