#!/usr/bin/env bash
# docker-storage.sh: /etc/sysconfig/docker-storage-setup of the post, read by
# docker-storage-setup when docker first starts (so: before services.sh).
#
#   docker-storage.sh apply <device or "">   write it (nothing when no device)
#   docker-storage.sh remove [...]           delete it if it is ours
#
# "Ours" means: exactly the content this script writes, whatever the device.
set -euo pipefail
umask 022

SCRIPT=docker-storage.sh
# shellcheck source=lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh" # kubevirt-lab:lib
USAGE='apply <device or ""> | remove'
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

(($# >= 1)) || usage
action=$1
shift
changed=unchanged

case $action in
  apply)
    (($# == 1)) || usage
    device=$1
    if [[ -z $device ]]; then
      echo "$SCRIPT: no device given: docker keeps its default storage"
    else
      [[ $device =~ ^/dev/[A-Za-z0-9/_.:-]+$ ]] || die "not a device path like /dev/vdb: '$device'"
      want=$(content "$device")$'\n'
      if ! file_is "$CONF" "$want"; then
        write_file "$CONF" "$want"
        changed=changed
      fi
    fi
    ;;
  remove)
    if [[ -f $CONF ]]; then
      devs=""
      while IFS= read -r line || [[ -n $line ]]; do
        if [[ $line == DEVS=* ]]; then devs=${line#DEVS=}; fi
      done <"$CONF"
      if file_is "$CONF" "$(content "$devs")"$'\n'; then
        rm -f -- "$CONF"
        changed=changed
      else
        echo "$SCRIPT: $CONF was not written by kubevirt-lab: left as it is"
      fi
    fi
    ;;
  *) usage ;;
esac

finish
