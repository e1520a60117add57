#!/usr/bin/env bash
# etcd-snapshot.sh: a snapshot of the master's etcd, on stdout (a secret: etcd holds the
# cluster's Secrets), taken before `pulumi destroy` resets the master. The operator's side
# (scripts/operator/fetch-etcd-snapshot.sh) keeps it in a 0600 file and prints its path.
#
#   etcd-snapshot.sh      stdout: the snapshot (`etcdctl snapshot save`), or nothing when
#                         this host has no etcd data (/var/lib/etcd/member)
#
# kubeadm 1.9's etcd (3.1) is a static pod listening on http://127.0.0.1:2379 with its data in
# /var/lib/etcd. The snapshot is taken by the etcdctl of this host if there is one, else by the
# one in the etcd container (docker exec, the file written in /var/lib/etcd, which the pod
# mounts). When neither can take one (etcd is down), the database file itself is copied: etcd
# is not writing it then (restore it with --skip-hash-check). The snapshot's file is private
# (/var/lib/etcd/.kubevirt-lab-snapshot.*, root's), removed when the script ends, and a next
# run removes what a killed one left. The closing line goes to stderr: stdout is the snapshot.
set -euo pipefail

SCRIPT=etcd-snapshot.sh
# shellcheck source=../lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh" # kubevirt-lab:lib
OPTIONS[run]=''
STATUS_FD=2
DATA=/var/lib/etcd
ENDPOINT=http://127.0.0.1:2379

# save <file>: `etcdctl snapshot save <file>` by this host's etcdctl or the etcd container's, when
# that etcdctl finds etcd healthy (within 10 seconds: an etcd that is down would keep etcdctl
# waiting); 1 when neither can.
save() {
  local id ctl=(env ETCDCTL_API=3 etcdctl --endpoints="$ENDPOINT")
  if command -v etcdctl >/dev/null && timeout 10 "${ctl[@]}" endpoint health >&2 2>&1; then
    timeout 600 "${ctl[@]}" snapshot save "$1" >&2 && return 0
  fi
  if command -v docker >/dev/null && id=$(docker ps -q --filter label=io.kubernetes.container.name=etcd 2>/dev/null) && [[ -n $id ]] &&
    timeout 10 docker exec "${id%%$'\n'*}" "${ctl[@]}" endpoint health >&2 2>&1; then
    timeout 600 docker exec "${id%%$'\n'*}" "${ctl[@]}" snapshot save "$1" >&2 && return 0
  fi
  return 1
}

run() {
  local work
  rm -rf -- "$DATA"/.kubevirt-lab-snapshot.* # what a killed run left
  if [[ ! -d $DATA/member ]]; then
    echo "$SCRIPT: no etcd data in $DATA on this host: no snapshot" >&2
    return 0
  fi
  work=$(umask 077 && mktemp -d "$DATA/.kubevirt-lab-snapshot.XXXXXX")
  # shellcheck disable=SC2064 # expand now: $work is local
  trap "rm -rf -- '$work'" EXIT
  if save "$work/snapshot.db"; then
    echo "$SCRIPT: etcd snapshot taken (etcdctl snapshot save)" >&2
  elif [[ -f $DATA/member/snap/db ]]; then
    cp -- "$DATA/member/snap/db" "$work/snapshot.db"
    echo "$SCRIPT: etcd does not answer at $ENDPOINT: its database file copied (restore it with --skip-hash-check)" >&2
  else
    die "no etcd snapshot could be taken: etcd does not answer at $ENDPOINT and $DATA/member/snap/db is missing"
  fi
  cat -- "$work/snapshot.db"
}

kvl::main "$@"
