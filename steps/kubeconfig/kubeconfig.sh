#!/usr/bin/env bash
# kubeconfig.sh: print /etc/kubernetes/admin.conf of the master (a secret).
#
#   kubeconfig.sh
#
# stdout is exactly the file; the closing kubevirt-lab line goes to stderr.
set -euo pipefail

SCRIPT=kubeconfig.sh
# shellcheck source=../lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh" # kubevirt-lab:lib
OPTIONS[run]=''
STATUS_FD=2

run() {
  [[ -f $ADMIN_CONF ]] || die "$ADMIN_CONF does not exist: the master is not initialized (kubeadm init has not run)"
  cat -- "$ADMIN_CONF"
}

kvl::main "$@"
