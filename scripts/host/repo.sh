#!/usr/bin/env bash
# repo.sh: the Kubernetes yum repository of the post.
#
#   repo.sh apply <baseurl> <gpgkey>...   write /etc/yum.repos.d/kubernetes.repo
#   repo.sh remove [...]                  delete it
#
# The baseurl is written as given: the post's one ends in a literal $basearch,
# which yum expands. The gpg keys go space-separated on one gpgkey= line.
set -euo pipefail
umask 022

SCRIPT=repo.sh
REPO_FILE=/etc/yum.repos.d/kubernetes.repo

usage() {
  printf 'usage: %s apply <baseurl> <gpgkey>... | remove\n' "$SCRIPT" >&2
  exit 2
}

die() {
  printf '%s: %s\n' "$SCRIPT" "$*" >&2
  exit 1
}

# file_is <path> <content>: the file exists and holds exactly <content>.
file_is() {
  local current=""
  [[ -f $1 ]] || return 1
  IFS= read -r -d '' current <"$1" || true
  [[ $current == "$2" ]]
}

# write_file <path> <content>: replace the file through a temporary file.
write_file() {
  mkdir -p -- "$(dirname -- "$1")"
  printf '%s' "$2" >"$1.kubevirt-lab.tmp"
  mv -f -- "$1.kubevirt-lab.tmp" "$1"
}

(($# >= 1)) || usage
action=$1
shift
changed=unchanged

case $action in
  apply)
    (($# >= 2)) || usage
    baseurl=$1
    shift
    for value in "$baseurl" "$@"; do
      [[ -n $value && $value != *[[:space:]]* ]] || die "a baseurl or gpgkey is empty or contains white space: '$value'"
    done
    content=$(printf '%s\n' \
      "[kubernetes]" \
      "name=Kubernetes" \
      "baseurl=$baseurl" \
      "enabled=1" \
      "gpgcheck=1" \
      "repo_gpgcheck=1" \
      "gpgkey=$*")$'\n'
    if ! file_is "$REPO_FILE" "$content"; then
      write_file "$REPO_FILE" "$content"
      changed=changed
    fi
    ;;
  remove)
    if [[ -e $REPO_FILE ]]; then
      rm -f -- "$REPO_FILE"
      changed=changed
    fi
    ;;
  *) usage ;;
esac

printf 'kubevirt-lab: %s %s: %s\n' "$SCRIPT" "$action" "$changed"
