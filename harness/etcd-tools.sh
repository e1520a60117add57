#!/usr/bin/env bash
# etcd-tools.sh: etcdctl 3.5 (and etcd 3.5), built from the Go module proxy into
# ~/.cache/kubevirt-lab/etcd-tools, for test/etcd-snapshot.test.ts: it takes the etcd snapshot of a
# destroy from Kubernetes 1.9.4's etcd 3.1.11 (harness/kubernetes.sh) and restores it, as the README
# tells a user to, with etcdctl. A user's master has its own etcdctl, in the etcd container.
#
#   bash harness/etcd-tools.sh            build what is missing (a few minutes on 2 cores)
#   bash harness/etcd-tools.sh --check    exit 1 when something is missing
set -euo pipefail

VERSION=v3.5.21
OUT=${KUBEVIRT_LAB_CACHE:-$HOME/.cache/kubevirt-lab}/etcd-tools

have() { [[ -x $OUT/etcdctl && $("$OUT/etcdctl" version 2>/dev/null) == *"etcdctl version: ${VERSION#v}"* ]]; }

if [[ ${1:-} == --check ]]; then
  have && exit 0
  echo "etcd-tools: missing: etcdctl ${VERSION#v} in $OUT (bash harness/etcd-tools.sh builds it)" >&2
  exit 1
fi
have && exit 0
command -v go >/dev/null || { echo "etcd-tools: go is missing" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
# A wrapper module: etcdctl's own go.mod has replace directives, which `go install pkg@version` refuses.
printf '%s\n' "module kvl/etcdtools" "" "go 1.22" "" "require go.etcd.io/etcd/etcdctl/v3 $VERSION" >"$work/go.mod"
printf '%s\n' "//go:build tools" "" "package tools" "" 'import _ "go.etcd.io/etcd/etcdctl/v3"' >"$work/tools.go"
mkdir -p -- "$OUT"
echo "etcd-tools: building etcdctl ${VERSION#v} from the Go module proxy (a few minutes)"
(cd "$work" && go mod tidy -e >/dev/null 2>&1 && go build -o "$OUT/etcdctl" go.etcd.io/etcd/etcdctl/v3)
have || { echo "etcd-tools: the build gave no working etcdctl ${VERSION#v}" >&2; exit 1; }
echo "etcd-tools: $OUT/etcdctl"
