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
CONF=/etc/sysconfig/docker-storage-setup

usage() {
  printf 'usage: %s apply <device or ""> | remove\n' "$SCRIPT" >&2
  exit 2
}

die() {
  printf '%s: %s\n' "$SCRIPT" "$*" >&2
  exit 1
}

file_is() {
  local current=""
  [[ -f $1 ]] || return 1
  IFS= read -r -d '' current <"$1" || true
  [[ $current == "$2" ]]
}

write_file() {
  mkdir -p -- "$(dirname -- "$1")"
  printf '%s' "$2" >"$1.kubevirt-lab.tmp"
  mv -f -- "$1.kubevirt-lab.tmp" "$1"
}

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

printf 'kubevirt-lab: %s %s: %s\n' "$SCRIPT" "$action" "$changed"
