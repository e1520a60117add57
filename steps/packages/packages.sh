#!/usr/bin/env bash
# packages.sh: the packages of the post, installed with yum.
#
#   packages.sh apply --yum-update yes|no --kubernetes-version <v> [--package <name>]...
#   packages.sh remove        leaves the packages installed
#
# Installs kubelet-<v>, kubeadm-<v>, kubectl-<v> and the other packages (the
# post: docker ansible git curl wget), only those that `rpm -q` does not find
# (one query for all), and checks with `rpm -q` that yum installed them.
# `yum update -y` (with --yum-update yes) runs once, at the first provisioning:
# when something is missing and kubelet is not installed in any version yet,
# so a re-run never upgrades the pinned Kubernetes packages behind our back.
set -euo pipefail
umask 022

SCRIPT=packages.sh
# shellcheck source=../lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh" # kubevirt-lab:lib
OPTIONS[apply]='yum-update kubernetes-version package*'
OPTIONS[remove]=''

# missing_packages <pkg>...: set missing=(those that one `rpm -q` does not find).
missing_packages() {
  local out line
  missing=()
  out=$(LC_ALL=C rpm -q "$@" || true)
  while IFS= read -r line; do
    if [[ $line =~ ^package\ (.+)\ is\ not\ installed$ ]]; then
      missing+=("${BASH_REMATCH[1]}")
    fi
  done <<<"$out"
}

# apply [<package>...]
apply() {
  local version=${ARG[kubernetes-version]} to_install
  missing_packages "kubelet-$version" "kubeadm-$version" "kubectl-$version" "$@"
  if ((${#missing[@]})); then
    if [[ ${ARG[yum-update]} == yes ]] && ! rpm -q --quiet kubelet; then
      yum update -y
    fi
    to_install=("${missing[@]}")
    yum install -y "${to_install[@]}"
    missing_packages "${to_install[@]}"
    if ((${#missing[@]})); then
      die "yum did not install: ${missing[*]} (not available in the repositories? an older version needs 'yum downgrade')"
    fi
    changed=changed
  fi
}

remove() {
  :
}

# kubevirt-lab:check {
# check <the apply's options>: the item `package <name>` for each package apply installs: installed
# (`rpm -q`), else what is installed instead. apply runs with missing_packages reporting each
# package and finding none missing, so it installs nothing.
OPTIONS[check]=${OPTIONS[apply]}
check() {
  missing_packages() {
    local name base other
    for name in "$@"; do
      if rpm -q --quiet "$name"; then
        check_ok "package $name"
        continue
      fi
      other="not installed"
      if [[ $name =~ ^(.+)-[0-9][^-]*$ ]]; then
        base=${BASH_REMATCH[1]}
        if rpm -q --quiet "$base"; then other="$(LC_ALL=C rpm -q "$base" | head -n 1) instead"; fi
      fi
      check_drift "package $name" "$name installed" "$other"
    done
    missing=()
  }
  apply "$@"
}
# kubevirt-lab:check }
kvl::main "$@"
