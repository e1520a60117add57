#!/usr/bin/env bash
# swap.sh: swap off now and at every boot, as kubeadm 1.9's preflight
# requires (it refuses a host with swap on) and as kubespray does it.
#
#   swap.sh apply     `swapoff -a` when swap is on; the swap lines of /etc/fstab
#                     commented out, the original kept as /etc/fstab.kubevirt-lab.orig
#   swap.sh remove    /etc/fstab put back as it was, and `swapon -a` when it had swap
set -euo pipefail
umask 022

SCRIPT=swap.sh
# shellcheck source=lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh" # kubevirt-lab:lib
OPTIONS[apply]=''
OPTIONS[remove]=''
FSTAB=/etc/fstab
BACKUP=$FSTAB.kubevirt-lab.orig
MARK='#kubevirt-lab: swap off for kubeadm#'

# active_swap: the active swap areas, one per line (none: nothing).
active_swap() {
  swapon --show=NAME --noheadings
}

# has_swap_entry <file>: the file has an uncommented swap entry.
has_swap_entry() {
  awk '$0 !~ /^[[:space:]]*#/ && $3 == "swap" { found = 1 } END { exit !found }' "$1"
}

# fstab_without_swap <file>: the file with each uncommented swap entry commented out by MARK.
fstab_without_swap() {
  awk -v mark="$MARK" '$0 !~ /^[[:space:]]*#/ && $3 == "swap" { print mark $0; next } { print }' "$1"
}

apply() {
  if [[ -n $(active_swap) ]]; then
    swapoff -a
    changed=changed
  fi
  [[ -f $FSTAB ]] && has_swap_entry "$FSTAB" || return 0
  if [[ ! -e $BACKUP ]]; then
    # through a temporary file: a copy cut off midway must not pass for the backup
    cp -p -- "$FSTAB" "$BACKUP.kubevirt-lab.tmp"
    mv -f -- "$BACKUP.kubevirt-lab.tmp" "$BACKUP"
  fi
  update_file "$FSTAB" "$(fstab_without_swap "$FSTAB")"$'\n'
}

remove() {
  [[ -e $BACKUP ]] || return 0
  mv -f -- "$BACKUP" "$FSTAB"
  changed=changed
  if has_swap_entry "$FSTAB"; then
    swapon -a
  fi
}

kvl::main "$@"
