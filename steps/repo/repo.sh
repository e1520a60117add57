#!/usr/bin/env bash
# repo.sh: the Kubernetes yum repository of the post.
#
#   repo.sh apply --baseurl <url> --gpgkey <url>...   write /etc/yum.repos.d/kubernetes.repo
#   repo.sh remove                                    delete it, if it is still the lab's
#
# The baseurl is written as given: the post's one ends in a literal $basearch,
# which yum expands. The gpg keys go space-separated on one gpgkey= line. The
# file is the lab's (own_file, lib.sh): a kubernetes.repo that was there before is
# put back by remove, and one changed since apply is left as it is.
set -euo pipefail
umask 022

SCRIPT=repo.sh
# shellcheck source=../lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh" # kubevirt-lab:lib
OPTIONS[apply]='baseurl gpgkey+'
OPTIONS[remove]=''
REPO_FILE=/etc/yum.repos.d/kubernetes.repo

# apply <gpgkey>...
apply() {
  own_file "$REPO_FILE" "$(printf '%s\n' \
    "[kubernetes]" \
    "name=Kubernetes" \
    "baseurl=${ARG[baseurl]}" \
    "enabled=1" \
    "gpgcheck=1" \
    "repo_gpgcheck=1" \
    "gpgkey=$*")"$'\n'
}

remove() {
  disown_file "$REPO_FILE"
}

# kubevirt-lab:check {
# check --baseurl <url> --gpgkey <url>...: the item `file /etc/yum.repos.d/kubernetes.repo`, as
# apply would write it (apply run in check mode: it writes nothing).
OPTIONS[check]=${OPTIONS[apply]}
check() {
  kvl::check_mode
  apply "$@"
}
# kubevirt-lab:check }
kvl::main "$@"
