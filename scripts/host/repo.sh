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
# shellcheck source=lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh" # kubevirt-lab:lib
USAGE='apply <baseurl> <gpgkey>... | remove'
REPO_FILE=/etc/yum.repos.d/kubernetes.repo

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

finish
