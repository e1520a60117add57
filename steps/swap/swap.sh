#!/usr/bin/env bash
# swap.sh: swap off now and at every boot, as kubeadm 1.9's preflight
# requires (it refuses a host with swap on) and as kubespray does it.
#
#   swap.sh apply     `swapoff -a` when swap is on; each swap line of /etc/fstab
#                     commented out by a prefix of the lab's (MARK)
#   swap.sh remove    those lines, and only those, back as they were (the prefix
#                     dropped), and `swapon -a` when there is swap again
#
# /etc/fstab is the host's file: the lab changes its swap lines one by one and undoes
# them one by one, so that a line added or changed by anyone since is kept. (An
# earlier release kept a copy of the whole file, /etc/fstab.kubevirt-lab.orig: it is
# dropped, the prefixed lines say what to undo.)
set -euo pipefail
umask 022

SCRIPT=swap.sh
# shellcheck source=../lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh" # kubevirt-lab:lib
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

# fstab_unmarked <file>: the file with MARK dropped from the lines that start with it, the rest as it is.
fstab_unmarked() {
  awk -v mark="$MARK" 'index($0, mark) == 1 { print substr($0, length(mark) + 1); next } { print }' "$1"
}

# has_marked_line <file>: a line of the file starts with MARK.
has_marked_line() {
  grep -qF -- "$MARK" "$1"
}

apply() {
  local out
  if [[ -n $(active_swap) ]]; then
    swapoff -a
    changed=changed
  fi
  if [[ -e $BACKUP ]]; then
    rm -f -- "$BACKUP"
    changed=changed
  fi
  [[ -f $FSTAB ]] && has_swap_entry "$FSTAB" || return 0
  out=$(fstab_without_swap "$FSTAB" && printf .) # the dot keeps the file's trailing blank lines
  update_in_place "$FSTAB" "${out%.}"
}

remove() {
  local out
  if [[ -e $BACKUP ]]; then
    rm -f -- "$BACKUP"
    changed=changed
  fi
  [[ -f $FSTAB ]] && has_marked_line "$FSTAB" || return 0
  out=$(fstab_unmarked "$FSTAB" && printf .)
  update_in_place "$FSTAB" "${out%.}"
  if has_swap_entry "$FSTAB"; then
    swapon -a
  fi
}

# kubevirt-lab:check {
# check: the items `swap active` (swapon --show has no area) and `swap fstab` (no uncommented swap
# line in /etc/fstab).
OPTIONS[check]=${OPTIONS[apply]}
check() {
  local areas lines
  areas=$(active_swap | paste -sd ',' | sed 's/,/, /g')
  check_is "swap active" "no active swap (swapon --show empty)" "swap on $areas" "" "$areas"
  lines=""
  if [[ -f $FSTAB ]]; then
    lines=$(awk '$0 !~ /^[[:space:]]*#/ && $3 == "swap"' "$FSTAB")
  fi
  check_is "swap fstab" "no active swap line in $FSTAB" "$(kvl::q "${lines%%$'\n'*}")" "" "$lines"
}
# kubevirt-lab:check }
kvl::main "$@"
