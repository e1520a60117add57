# shellcheck shell=bash
# harness/lib/gomod.sh: what harness/kubernetes.sh and harness/dataplane.sh share to build old Go
# trees from the module proxy: the go environment, the module cache's paths, module downloads and
# the ugorji fix both Kubernetes 1.9.4 and flanneld v0.9.1 need. Sourced, not run.

# go_env: the environment of every go command (on top of the machine's own go env).
go_env() {
  export CGO_ENABLED=0 GOWORK=off
  GOMODCACHE=$(go env GOMODCACHE)
  export GOMODCACHE
  # Resolve the build cache before GOPATH changes, so it stays the machine's (shared, warm).
  GOCACHE=$(go env GOCACHE)
  export GOCACHE
}

# escape PATH: the module cache's spelling of a module path or version (capitals as !lower).
escape() {
  local s=$1 out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    if [[ $c == [A-Z] ]]; then out+="!${c,}"; else out+=$c; fi
  done
  echo "$out"
}

# module_dir MODULE VERSION: where the module cache keeps that module's tree.
module_dir() { echo "$GOMODCACHE/$(escape "$1")@$(escape "$2")"; }

# resolves HOST: whether this machine resolves that name (a download is worth trying).
resolves() { command -v getent >/dev/null 2>&1 && getent hosts "$1" >/dev/null 2>&1; }

# download_modules_in DIR MODULE@VERSION...: go mod download, from a module folder of ours (DIR).
download_modules_in() {
  local dir=$1
  shift
  echo "downloading $# modules: $*"
  (cd "$dir" && GO111MODULE=on GOFLAGS=-mod=mod go mod download -x "$@")
}

# patch_ugorji TREE: the vendored github.com/ugorji/go/codec's code-generator alphabet ends in "__",
# a duplicate symbol that Go >= 1.22 rejects when the package initialises (every binary panics
# "encoding alphabet includes duplicate symbols"); the last "_" becomes ".". A vendored link to the
# read-only module cache is made a private copy first. Idempotent.
patch_ugorji() {
  local dir=$1/vendor/github.com/ugorji/go target
  if [[ -L $dir ]]; then
    target=$(readlink "$dir")
    rm "$dir"
    cp -R "$target" "$dir"
    chmod -R u+w "$dir"
  fi
  sed -i 's|0123456789__")|0123456789_.")|' "$dir/codec/gen.go"
  grep -q '0123456789_\.")' "$dir/codec/gen.go" || { echo "ugorji patch did not apply to $dir/codec/gen.go" >&2; return 1; }
}
