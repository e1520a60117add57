#!/usr/bin/env bash
# selinux.sh: the SELinux mode of the post: `setenforce 0` now, and the
# SELINUX=<mode> line of /etc/selinux/config for the next boot.
#
#   selinux.sh apply --mode disabled|permissive|enforcing
#   selinux.sh remove     the SELINUX= line back as it was, if it is still the lab's
#
# /etc/selinux/config is the host's file: apply changes its SELINUX= line only (as
# the post's sed does), and writes above it a line that says what it replaced:
#   #kubevirt-lab: SELINUX=disabled replaced: SELINUX=enforcing
# remove puts that line back (or drops the lab's line when there was none) while the
# SELINUX= line is still the lab's, and drops the note; the other lines, and any
# line changed since, stay as they are. A host without the file gets the post's file,
# the lab's as a whole (own_file, lib.sh): remove deletes it while it is unchanged.
# `setenforce 0` runs when the mode is disabled or permissive and getenforce says
# Enforcing; mode enforcing leaves the running system alone. remove changes the file
# only: the running mode stays as it is until the next boot.
#
# An earlier release replaced the whole file and kept the original as
# /etc/selinux/config.kubevirt-lab.orig (or marked a missing one with
# config.kubevirt-lab.none): apply puts that original back first and edits its line.
set -euo pipefail
umask 022

SCRIPT=selinux.sh
# shellcheck source=../lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh" # kubevirt-lab:lib
OPTIONS[apply]='mode'
OPTIONS[remove]=''
CONF=/etc/selinux/config
OLD_BACKUP=$CONF.kubevirt-lab.orig
OLD_NONE=$CONF.kubevirt-lab.none
NOTE='#kubevirt-lab: '

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

# edited <file> <mode>: the file with its last SELINUX= line replaced by SELINUX=<mode> and the
# lab's note right above it (at the end when it has none). A note already there keeps what the
# first change replaced.
edited() {
  awk -v want="SELINUX=$2" -v note="$NOTE" -v sep=" replaced: " '
    { line[NR] = $0 }
    /^[[:space:]]*SELINUX=/ { last = NR }
    index($0, note) == 1 { noted = NR; rest = substr($0, length(note) + 1); before = substr(rest, index(rest, sep) + length(sep)) }
    END {
      for (i = 1; i <= NR; i++) {
        if (i == noted) continue
        if (i == last) { print note want sep (noted ? before : line[i]); print want }
        else print line[i]
      }
      if (!last) { print note want sep (noted ? before : "nothing"); print want }
    }' "$1"
}

# restored <file>: the file without the lab's note, and the line below the note put back as the
# note says when it is still the lab's (else that line stays).
restored() {
  awk -v note="$NOTE" -v sep=" replaced: " '
    index($0, note) == 1 {
      rest = substr($0, length(note) + 1); ours = substr(rest, 1, index(rest, sep) - 1)
      before = substr(rest, index(rest, sep) + length(sep)); pending = 1; next
    }
    pending { pending = 0; if ($0 == ours) { if (before != "nothing") print before; next } }
    { print }' "$1"
}

# from_earlier_release: undo the whole-file change of an earlier release (see the top), once.
from_earlier_release() {
  if [[ -e $OLD_BACKUP ]]; then
    mv -f -- "$OLD_BACKUP" "$CONF"
    changed=changed
  elif [[ -e $OLD_NONE ]]; then
    rm -f -- "$CONF" "$OLD_NONE"
    changed=changed
  fi
}

apply() {
  local mode=${ARG[mode]} out
  if [[ $mode != enforcing ]] && command -v getenforce >/dev/null && [[ $(getenforce) == Enforcing ]]; then
    setenforce 0
    changed=changed
  fi
  from_earlier_release
  if [[ ! -e $CONF ]] || owned "$CONF"; then
    own_file "$CONF" "$(content "$mode")"$'\n'
    return 0
  fi
  out=$(edited "$CONF" "$mode" && printf .) # the dot keeps the file's trailing blank lines
  update_in_place "$CONF" "${out%.}"
}

remove() {
  local note ours below out
  from_earlier_release
  if [[ -e $(owned_record "$CONF").sha256 ]]; then
    disown_file "$CONF"
    return 0
  fi
  [[ -f $CONF ]] && note=$(grep -m1 -F -- "$NOTE" "$CONF") || return 0
  ours=${note#"$NOTE"}
  ours=${ours%% replaced: *}
  below=$(grep -m1 -A1 -F -- "$NOTE" "$CONF" | sed -n 2p)
  if [[ $below != "$ours" ]]; then
    echo "$SCRIPT: $CONF: '$below' is not the line kubevirt-lab wrote ($ours): left as it is"
  fi
  out=$(restored "$CONF" && printf .)
  update_in_place "$CONF" "${out%.}"
}

# kubevirt-lab:check {
# check --mode <mode>: the items `selinux config` (the last SELINUX= line of /etc/selinux/config is
# SELINUX=<mode>) and `selinux running` (getenforce is not Enforcing, unless the mode is enforcing).
OPTIONS[check]=${OPTIONS[apply]}
check() {
  local mode=${ARG[mode]} line="" saw running=absent
  if [[ -f $CONF ]]; then
    line=$(grep -E '^SELINUX=' "$CONF" | tail -n 1) || true
    saw=${line:-no SELINUX= line}
  else
    saw="no such file"
  fi
  check_is "selinux config" "SELINUX=$mode in $CONF" "$saw" "SELINUX=$mode" "$line"
  if command -v getenforce >/dev/null; then running=$(getenforce 2>/dev/null) || running=absent; fi
  if [[ $mode == enforcing || $running != Enforcing ]]; then
    check_ok "selinux running"
  else
    check_drift "selinux running" "getenforce not Enforcing" "getenforce $running"
  fi
}
# kubevirt-lab:check }
kvl::main "$@"
