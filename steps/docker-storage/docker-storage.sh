#!/usr/bin/env bash
# docker-storage.sh: /etc/sysconfig/docker-storage-setup of the post, read by
# docker-storage-setup when docker first starts (so: before services.sh).
#
#   docker-storage.sh apply [--device <path>]   write it (nothing without a device)
#   docker-storage.sh remove                    delete it if it is still the lab's
#
# The file is the lab's (own_file, lib.sh): one that was there before is put back
# by remove, one changed since apply is left as it is. A file an earlier release
# wrote (exactly this content for its device, no record) counts as the lab's.
set -euo pipefail
umask 022

SCRIPT=docker-storage.sh
# shellcheck source=../lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh" # kubevirt-lab:lib
OPTIONS[apply]='device?'
OPTIONS[remove]=''
CONF=/etc/sysconfig/docker-storage-setup

# content <device>: the file of the post for that device.
content() {
  printf '%s\n' \
    "STORAGE_DRIVER=overlay2" \
    "DEVS=$1" \
    "CONTAINER_ROOT_LV_NAME=dockerlv" \
    "CONTAINER_ROOT_LV_SIZE=100%FREE" \
    "CONTAINER_ROOT_LV_MOUNT_PATH=/var/lib/docker" \
    "VG=dockervg"
}

apply() {
  if [[ -z ${ARG[device]} ]]; then
    echo "$SCRIPT: no device given: docker keeps its default storage"
  else
    own_file "$CONF" "$(content "${ARG[device]}")"$'\n'
  fi
}

remove() {
  local devs="" line
  if [[ -f $CONF && ! -e $(owned_record "$CONF").sha256 ]]; then
    # written by an earlier release, which kept no record: the lab's if it is exactly its content
    while IFS= read -r line || [[ -n $line ]]; do
      if [[ $line == DEVS=* ]]; then devs=${line#DEVS=}; fi
    done <"$CONF"
    if file_is "$CONF" "$(content "$devs")"$'\n'; then own_file "$CONF" "$(content "$devs")"$'\n'; fi
  fi
  disown_file "$CONF"
}

# kubevirt-lab:check {
# check [--device <path>]: the item `file /etc/sysconfig/docker-storage-setup`, as apply would write
# it (apply run in check mode); nothing without a device.
OPTIONS[check]=${OPTIONS[apply]}
check() {
  kvl::check_mode
  apply "$@"
}
# kubevirt-lab:check }
kvl::main "$@"
