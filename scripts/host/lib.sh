#!/usr/bin/env bash
# lib.sh: the functions the host scripts share. A script sources it on the
# line after SCRIPT=<name>; components/remote.ts puts this file (less its
# first line) in place of that line, so a host receives one self-contained
# script. Only function definitions here: no `set`, nothing runs when sourced.
# The functions read the script's globals: SCRIPT (its file name), USAGE (its
# arguments, for `usage`), action and changed (for `finish`).
# shellcheck disable=SC2154 # SCRIPT, USAGE, action, changed: set by the script

# die <message>...: print "<script>: <message>" on stderr and exit 1.
die() {
  printf '%s: %s\n' "$SCRIPT" "$*" >&2
  exit 1
}

# usage: print "usage: <script> <USAGE>" on stderr and exit 2.
usage() {
  printf 'usage: %s%s\n' "$SCRIPT" "${USAGE:+ $USAGE}" >&2
  exit 2
}

# finish: the closing line "kubevirt-lab: <script> <action>: <changed>".
finish() {
  printf 'kubevirt-lab: %s %s: %s\n' "$SCRIPT" "$action" "$changed"
}

# check_node_name <name>: die unless <name> is a node name (lower-case DNS name).
check_node_name() {
  [[ $1 =~ ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$ ]] || die "not a node name (lower-case DNS name): '$1'"
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

# hide_tokens: copy stdin to stdout with kubeadm bootstrap tokens hidden.
hide_tokens() {
  sed -E 's/[a-z0-9]{6}\.[a-z0-9]{16}/<token hidden by kubevirt-lab>/g'
}

# kubeadm_left_state: did kubeadm init or join leave anything in /etc/kubernetes?
kubeadm_left_state() {
  local f k8s=/etc/kubernetes
  for f in admin.conf kubelet.conf bootstrap-kubelet.conf controller-manager.conf scheduler.conf; do
    [[ -e $k8s/$f ]] && return 0
  done
  for f in manifests pki; do
    [[ -d $k8s/$f && -n $(ls -A -- "$k8s/$f") ]] && return 0
  done
  return 1
}

# kubeadm_reset: `kubeadm reset`, with --force when this kubeadm knows it (1.9 does not), tokens hidden.
kubeadm_reset() {
  local help force=()
  help=$(kubeadm reset --help 2>&1 || true)
  if [[ $help =~ (^|[[:space:],])--force([[:space:]]|$) ]]; then
    force=(--force)
  fi
  kubeadm reset ${force[@]+"${force[@]}"} </dev/null 2>&1 | hide_tokens
}
