#!/usr/bin/env bash
# kubeconfig.sh: print /etc/kubernetes/admin.conf of the master (a secret).
#
#   kubeconfig.sh
#
# stdout is exactly the file; the closing kubevirt-lab line goes to stderr.
set -euo pipefail

SCRIPT=kubeconfig.sh
ADMIN_CONF=/etc/kubernetes/admin.conf

if (($# != 0)); then
  printf 'usage: %s\n' "$SCRIPT" >&2
  exit 2
fi
if [[ ! -f $ADMIN_CONF ]]; then
  printf '%s: %s does not exist: the master is not initialized (run kubeadm-init.sh apply first)\n' "$SCRIPT" "$ADMIN_CONF" >&2
  exit 1
fi
cat -- "$ADMIN_CONF"
printf 'kubevirt-lab: %s run: unchanged\n' "$SCRIPT" >&2
