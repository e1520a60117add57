#!/usr/bin/env bash
# selinux.sh: the SELinux mode of the post: `setenforce 0` now, and
# /etc/selinux/config (the post's file, SELINUX=<mode>) for the next boot.
#
#   selinux.sh apply --mode disabled|permissive|enforcing
#   selinux.sh remove     restore the original /etc/selinux/config
#
# Before its first change the original file is kept as
# /etc/selinux/config.kubevirt-lab.orig (when there was none, the marker
# /etc/selinux/config.kubevirt-lab.none says so). `setenforce 0` runs when the
# mode is disabled or permissive and getenforce says Enforcing; mode
# enforcing leaves the running system alone. remove restores the file only:
# the running mode stays as it is until the next boot.
set -euo pipefail
umask 022

SCRIPT=selinux.sh
# shellcheck source=lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh" # kubevirt-lab:lib
OPTIONS[apply]='mode'
OPTIONS[remove]=''
CONF=/etc/selinux/config
BACKUP=$CONF.kubevirt-lab.orig
NONE_MARKER=$CONF.kubevirt-lab.none

# content <mode>: the post's /etc/selinux/config with SELINUX=<mode>.
content() {
  printf '%s\n' \
    "# This file controls the state of SELinux on the system." \
    "# SELINUX= can take one of these three values:" \
    "#     enforcing - SELinux security policy is enforced." \
    "#     permissive - SELinux prints warnings instead of enforcing." \
    "#     disabled - No SELinux policy is loaded." \
    "SELINUX=$1" \
    "# SELINUXTYPE= can take one of three two values:" \
    "#     targeted - Targeted processes are protected," \
    "#     minimum - Modification of targeted policy. Only selected processes are protected." \
    "#     mls - Multi Level Security protection." \
    "SELINUXTYPE=targeted"
}

apply() {
  local mode=${ARG[mode]} want
  if [[ $mode != enforcing ]] && command -v getenforce >/dev/null && [[ $(getenforce) == Enforcing ]]; then
    setenforce 0
    changed=changed
  fi
  want=$(content "$mode")$'\n'
  file_is "$CONF" "$want" && return 0
  if [[ ! -e $BACKUP && ! -e $NONE_MARKER ]]; then
    if [[ -e $CONF ]]; then
      # through a temporary file: a copy cut off midway must not pass for the backup
      cp -p -- "$CONF" "$BACKUP.kubevirt-lab.tmp"
      mv -f -- "$BACKUP.kubevirt-lab.tmp" "$BACKUP"
    else
      mkdir -p -- "$(dirname -- "$CONF")"
      : >"$NONE_MARKER"
    fi
  fi
  update_file "$CONF" "$want"
}

remove() {
  if [[ -e $BACKUP ]]; then
    mv -f -- "$BACKUP" "$CONF"
    changed=changed
  elif [[ -e $NONE_MARKER ]]; then
    rm -f -- "$CONF" "$NONE_MARKER"
    changed=changed
  fi
}

kvl::main "$@"
