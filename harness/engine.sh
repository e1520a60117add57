#!/usr/bin/env bash
# Make the Pulumi engine available offline: the `pulumi` CLI, the nodejs language host and the
# provider plugins, built from Go modules of the Go module proxy into a cache outside the repo.
#
# usage: harness/engine.sh [--print-env | --check]
#   (none)       find or build what is missing, install the provider plugins, print the env lines
#   --print-env  the same, but print only the env lines (progress only while building)
#   --check      exit 0 if the engine (pulumi, language host) is present, 1 otherwise; never builds
#
# stdout carries only lines to `eval` (also written to $CACHE/engine/env.sh for `source`);
# all progress goes to stderr.
#
# Environment:
#   KUBEVIRT_LAB_CACHE         cache root (default ~/.cache/kubevirt-lab)
#   PULUMI_TRY_INSTALLER=1     try get.pulumi.com before building (fails without internet)
#   KUBEVIRT_LAB_ENGINE_RETRY=1  retry optional parts remembered as unavailable
#   GOMODCACHE/GOCACHE/GOPROXY are used as the machine has them.
set -euo pipefail

readonly PULUMI_VERSION=v3.248.0
readonly PKG_MODULE=github.com/pulumi/pulumi/pkg/v3
readonly SDK_MODULE=github.com/pulumi/pulumi/sdk/v3
readonly VERSION_VAR=github.com/pulumi/pulumi/sdk/v3/go/common/version.Version

# The nodejs language host lives in its own untagged module. Its pseudo-version for tag v3.248.0
# (commit a88168d865b7, 2026-06-24T12:07:34Z) is tried first; the module proxy reachable here does
# not serve that module, so the fallback builds the language host package that sdk/v3 still
# contained up to v3.68.0 (it moved to its own module in v3.69.0). The engine talks to older
# language hosts (GetRequiredPackages falls back to GetRequiredPlugins, Handshake is optional).
readonly LANGHOST_MODULE=github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3
readonly LANGHOST_PSEUDO=v3.0.0-20260624120734-a88168d865b7
readonly LANGHOST_FALLBACK_SDK=v3.68.0
readonly LANGHOST_FALLBACK_PKG=github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs

# The provider plugin `command` v1.2.1 (used through @pulumi/command 1.2.1). The module proxy
# reachable here refuses the official provider module github.com/pulumi/pulumi-command/provider
# at every version (403), so tools/command-provider/ is our own implementation of the subset that
# kubevirt-lab uses (command:local:Command, command:remote:Command), built from modules the proxy
# serves and installed under the official name and version. A plugin of that name and version
# installed from elsewhere (e.g. the official one) is left alone.
readonly COMMAND_VERSION=1.2.1
COMMAND_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/command-provider
readonly COMMAND_SRC
readonly COMMAND_MARKER="kubevirt-lab tools/command-provider" # a string in our binary

# pulumi-kubernetes 3.30.2 (optional): provider module .../provider/v3, tried at v3.30.2; the module
# proxy here refuses that module's version list, so no pseudo-version can be looked up either.
readonly K8S_VERSION=3.30.2
readonly K8S_MODULE=github.com/pulumi/pulumi-kubernetes/provider/v3
readonly K8S_MODVER=v3.30.2

CACHE=${KUBEVIRT_LAB_CACHE:-$HOME/.cache/kubevirt-lab}
ENGINE_DIR=$CACHE/engine
VER_DIR=$ENGINE_DIR/$PULUMI_VERSION
BIN=$VER_DIR/bin
SRC=$VER_DIR/src
PLUGINS=$VER_DIR/plugins
MARKS=$VER_DIR/unavailable
ENV_FILE=$ENGINE_DIR/env.sh
PULUMI_PLUGIN_DIR=${PULUMI_HOME:-$HOME/.pulumi}/plugins

export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true

mode=setup
case "${1:-}" in
  "") ;;
  --print-env) mode=print-env ;;
  --check) mode=check ;;
  -h | --help) sed -n '2,17p' "$0" >&2; exit 0 ;;
  *) echo "setup-engine: unknown option '$1' (use --print-env or --check)" >&2; exit 2 ;;
esac

quiet=0
[[ $mode == print-env ]] && quiet=1
log() { [[ $quiet == 1 ]] || echo "setup-engine: $*" >&2; }
say() { echo "setup-engine: $*" >&2; }   # always shown (building, failures)
die() { echo "setup-engine: error: $*" >&2; exit 1; }

# has_version BIN: true if `BIN version` prints $PULUMI_VERSION.
has_version() {
  local out
  out=$("$1" version 2>/dev/null) || return 1
  [[ $out == "$PULUMI_VERSION" ]]
}

# module_dir MOD@VER: download a module and print its directory in the module cache.
module_dir() {
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p'
}

# nonlocal_replaces GOMOD: the replace directives of GOMOD whose target is not a local path.
nonlocal_replaces() {
  awk '
    /^replace[ \t]*\([ \t]*$/ { inb = 1; next }
    inb && /^[ \t]*\)/ { inb = 0; next }
    {
      l = ""
      if (inb) l = $0
      else if ($0 ~ /^replace[ \t]/) { l = $0; sub(/^replace[ \t]+/, "", l) }
      sub(/[ \t]*\/\/.*$/, "", l); gsub(/^[ \t]+|[ \t]+$/, "", l)
      if (l == "" || index(l, "=>") == 0) next
      rhs = substr(l, index(l, "=>") + 2); gsub(/^[ \t]+/, "", rhs)
      if (rhs ~ /^(\.|\/)/) next
      print "replace " l
    }' "$1"
}

# go_line GOMOD: the `go` directive of GOMOD.
go_line() { grep -m1 '^go [0-9]' "$1" || echo "go 1.21"; }

# timed NAME CMD...: run CMD, report how long it took.
timed() {
  local name=$1 start rc=0
  shift
  start=$(date +%s)
  "$@" || rc=$?
  local result=ok
  ((rc == 0)) || result=FAILED
  say "$name: $result in $(($(date +%s) - start))s"
  return "$rc"
}

# mark_unavailable NAME REASON / is_marked NAME: remember optional parts that cannot be had here,
# so that warm runs do not ask the module proxy again.
mark_unavailable() { mkdir -p "$MARKS"; printf '%s\n' "$2" >"$MARKS/$1"; }
is_marked() { [[ -f $MARKS/$1 && ${KUBEVIRT_LAB_ENGINE_RETRY:-0} != 1 ]]; }

# write_wrapper DIR MODULE GOLINE REQUIRES REPLACES IMPORTS: a small module that requires what
# is to be built and blank-imports its main packages, so that `go build` can use replaces.
write_wrapper() {
  local dir=$1 module=$2 goline=$3 requires=$4 replaces=$5 imports=$6 imp
  mkdir -p "$dir"
  {
    echo "module $module"
    echo
    echo "$goline"
    echo
    echo "require ("
    while IFS= read -r imp; do [[ -n $imp ]] && printf '\t%s\n' "$imp"; done <<<"$requires"
    echo ")"
    echo
    [[ -n $replaces ]] && printf '%s\n' "$replaces"
  } >"$dir/go.mod.new"
  {
    echo "//go:build tools"
    echo
    echo "// Package tools pins the main packages built by harness/engine.sh."
    echo "package tools"
    echo
    echo "import ("
    while IFS= read -r imp; do [[ -n $imp ]] && printf '\t_ "%s"\n' "$imp"; done <<<"$imports"
    echo ")"
  } >"$dir/tools.go"
  # Keep a go.mod/go.sum tidied earlier for the same inputs (warm rebuilds skip `go mod tidy`).
  if [[ -f $dir/go.mod.in ]] && cmp -s "$dir/go.mod.new" "$dir/go.mod.in" && [[ -f $dir/go.sum ]]; then
    rm -f "$dir/go.mod.new"
    return 0
  fi
  cp "$dir/go.mod.new" "$dir/go.mod.in"
  mv "$dir/go.mod.new" "$dir/go.mod"
  rm -f "$dir/go.sum"
  (cd "$dir" && go mod tidy) || { rm -f "$dir/go.mod.in"; return 1; }
}

# go_build DIR OUT LDFLAGS PKG: build PKG of the wrapper module in DIR into OUT.
go_build() {
  local dir=$1 out=$2 ldflags=$3 pkg=$4
  (cd "$dir" && go build -trimpath -ldflags "$ldflags" -o "$out.tmp" "$pkg") || { rm -f "$out.tmp"; return 1; }
  mv -f "$out.tmp" "$out"
}

pkg_replaces=""
langhost_in_pulumi_wrapper=0

prepare_pulumi_wrapper() {
  local pkgdir requires imports
  pkgdir=$(module_dir "$PKG_MODULE@$PULUMI_VERSION") || return 1
  [[ -n $pkgdir && -f $pkgdir/go.mod ]] || return 1
  pkg_replaces=$(nonlocal_replaces "$pkgdir/go.mod")
  requires="$PKG_MODULE $PULUMI_VERSION
$SDK_MODULE $PULUMI_VERSION"
  imports="$PKG_MODULE/cmd/pulumi"
  if ((langhost_in_pulumi_wrapper)); then
    requires+=$'\n'"$LANGHOST_MODULE $LANGHOST_PSEUDO"
    imports+=$'\n'"$LANGHOST_MODULE"
  fi
  write_wrapper "$SRC/pulumi" kubevirt-lab/engine-build/pulumi "$(go_line "$pkgdir/go.mod")" \
    "$requires" "$pkg_replaces" "$imports"
}

prepare_langhost_fallback_wrapper() {
  local sdkdir
  sdkdir=$(module_dir "$SDK_MODULE@$LANGHOST_FALLBACK_SDK") || return 1
  [[ -n $sdkdir && -d $sdkdir/nodejs/cmd/pulumi-language-nodejs ]] || return 1
  write_wrapper "$SRC/langhost" kubevirt-lab/engine-build/langhost "$(go_line "$sdkdir/go.mod")" \
    "$SDK_MODULE $LANGHOST_FALLBACK_SDK" "$(nonlocal_replaces "$sdkdir/go.mod")" "$LANGHOST_FALLBACK_PKG"
}

build_engine() {
  mkdir -p "$BIN" "$SRC"
  say "building the Pulumi engine $PULUMI_VERSION into $BIN (GOMODCACHE=$(go env GOMODCACHE))"
  if go mod download "$LANGHOST_MODULE@$LANGHOST_PSEUDO" >/dev/null 2>&1; then
    langhost_in_pulumi_wrapper=1
  else
    say "note: $LANGHOST_MODULE@$LANGHOST_PSEUDO is not served by the module proxy;" \
      "building the nodejs language host of $SDK_MODULE@$LANGHOST_FALLBACK_SDK instead"
  fi
  timed "go mod tidy (pulumi wrapper)" prepare_pulumi_wrapper || die "could not prepare the pulumi wrapper module"
  timed pulumi go_build "$SRC/pulumi" "$BIN/pulumi" "-X $VERSION_VAR=$PULUMI_VERSION" "$PKG_MODULE/cmd/pulumi" ||
    die "building pulumi failed"
  if ((langhost_in_pulumi_wrapper)); then
    timed pulumi-language-nodejs go_build "$SRC/pulumi" "$BIN/pulumi-language-nodejs" \
      "-X $VERSION_VAR=$PULUMI_VERSION" "$LANGHOST_MODULE" || die "building pulumi-language-nodejs failed"
  else
    timed "go mod tidy (language host wrapper)" prepare_langhost_fallback_wrapper ||
      die "could not prepare the language host wrapper module"
    timed pulumi-language-nodejs go_build "$SRC/langhost" "$BIN/pulumi-language-nodejs" \
      "-X $VERSION_VAR=$LANGHOST_FALLBACK_SDK" "$LANGHOST_FALLBACK_PKG" || die "building pulumi-language-nodejs failed"
  fi
}

try_installer() {
  local script
  script=$(mktemp)
  if ! curl -fsSL --max-time 20 -o "$script" https://get.pulumi.com/install.sh; then
    rm -f "$script"
    say "note: get.pulumi.com is not reachable; building from source"
    return 1
  fi
  mkdir -p "$VER_DIR"
  if ! timeout 300 sh "$script" --version "${PULUMI_VERSION#v}" --install-root "$VER_DIR" --no-edit-path --silent >&2; then
    rm -f "$script"
    say "note: the Pulumi installer failed; building from source"
    return 1
  fi
  rm -f "$script"
  [[ -x $BIN/pulumi && -x $BIN/pulumi-language-nodejs ]] && has_version "$BIN/pulumi"
}

# The dynamic provider host that Pulumi ships next to its binary (as in @pulumi/pulumi's own copy):
# found as a bundled plugin next to `pulumi`, it serves pulumi.dynamic resources.
write_dynamic_provider_shim() {
  local f=$1/pulumi-resource-pulumi-nodejs
  [[ -x $f ]] && return 0
  # shellcheck disable=SC2016 # the $ are for the generated script
  printf '%s\n' '#!/bin/sh' \
    'PULUMI_DYNAMIC_PROVIDER_SCRIPT_PATH=$(node -e "console.log(require.resolve('"'"'@pulumi/pulumi/cmd/dynamic-provider'"'"'))")' \
    'if [ -n "$PULUMI_DYNAMIC_PROVIDER_SCRIPT_PATH" ]; then' \
    '    exec node "$PULUMI_DYNAMIC_PROVIDER_SCRIPT_PATH" "$@"' \
    'fi' >"$f.tmp"
  chmod 0755 "$f.tmp"
  mv -f "$f.tmp" "$f"
}

plugin_installed() { # KIND NAME VERSION
  [[ -x $PULUMI_PLUGIN_DIR/$1-$2-v$3/pulumi-$1-$2 && ! -e $PULUMI_PLUGIN_DIR/$1-$2-v$3.partial ]]
}

install_plugin() { # NAME VERSION BINARY
  plugin_installed resource "$1" "$2" && { log "plugin resource $1 v$2 already installed"; return 0; }
  "$PULUMI_BIN" plugin install resource "$1" "v$2" --file "$3" >&2
}

# command_sources_hash: a hash of what the command provider binary is built from (its Go sources
# without tests, go.mod, go.sum, and the Go version), stored beside the binary.
command_sources_hash() {
  local f
  {
    go env GOVERSION
    for f in "$COMMAND_SRC"/*.go "$COMMAND_SRC"/go.mod "$COMMAND_SRC"/go.sum; do
      [[ -f $f && $f != *_test.go ]] || continue
      printf '%s\n' "${f##*/}"
      cat "$f"
    done
  } | sha256sum | cut -d' ' -f1
}

# is_our_command_provider FILE: FILE is a build of tools/command-provider.
is_our_command_provider() { grep -aqF "$COMMAND_MARKER" "$1" 2>/dev/null; }

# build_command_provider: build tools/command-provider into $PLUGINS unless the binary there is
# already built from the current sources.
build_command_provider() {
  local bin=$PLUGINS/pulumi-resource-command want
  if ! command -v go >/dev/null; then
    [[ -x $bin ]] && { say "note: go is not on PATH: using the command provider built before"; return 0; }
    say "note: go is not on PATH: cannot build the command provider"
    return 1
  fi
  want=$(command_sources_hash)
  if [[ -x $bin && -f $bin.src-hash && $(cat "$bin.src-hash") == "$want" ]]; then
    log "command provider in $PLUGINS is up to date with $COMMAND_SRC"
    return 0
  fi
  mkdir -p "$PLUGINS"
  (cd "$COMMAND_SRC" && timed pulumi-resource-command go build -trimpath -buildvcs=false -ldflags "-s -w" -o "$bin.tmp" ./) ||
    { rm -f "$bin.tmp"; return 1; }
  mv -f "$bin.tmp" "$bin"
  printf '%s\n' "$want" >"$bin.src-hash"
}

# setup_command_provider: build our command provider and install it as plugin command v1.2.1,
# replacing an older build of ours; a plugin of that version not built here is kept.
setup_command_provider() {
  local bin=$PLUGINS/pulumi-resource-command
  local installed=$PULUMI_PLUGIN_DIR/resource-command-v$COMMAND_VERSION/pulumi-resource-command
  rm -f "$MARKS/command" # from the time the official provider module was tried
  if plugin_installed resource command "$COMMAND_VERSION" && ! is_our_command_provider "$installed"; then
    log "plugin resource command v$COMMAND_VERSION: installed, not built here: kept"
    return 0
  fi
  if ! build_command_provider; then
    say "error: building the command provider from $COMMAND_SRC failed"
    return 1
  fi
  if plugin_installed resource command "$COMMAND_VERSION"; then
    if cmp -s "$installed" "$bin"; then
      log "plugin resource command v$COMMAND_VERSION: installed (built from $COMMAND_SRC)"
      return 0
    fi
    log "plugin resource command v$COMMAND_VERSION: replacing an older build"
    "$PULUMI_BIN" plugin rm resource command "$COMMAND_VERSION" --yes >&2 || return 1
  fi
  install_plugin command "$COMMAND_VERSION" "$bin"
}

build_kubernetes_provider() {
  if ! go mod download "$K8S_MODULE@$K8S_MODVER" >/dev/null 2>&1; then
    mark_unavailable kubernetes "$K8S_MODULE@$K8S_MODVER is not served by the module proxy (nor its version list)"
    return 1
  fi
  mark_unavailable kubernetes "$K8S_MODULE@$K8S_MODVER is served, but building it (go generate of its schema) is not automated here"
  return 1
}

# setup_provider NAME VERSION BUILDFN REQUIRED
setup_provider() {
  local name=$1 version=$2 build=$3 required=$4 bin
  bin=$PLUGINS/pulumi-resource-$name
  if plugin_installed resource "$name" "$version"; then
    log "plugin resource $name v$version: installed"
    return 0
  fi
  if [[ ! -x $bin ]]; then
    if is_marked "$name"; then
      log "note: $name provider v$version unavailable: $(cat "$MARKS/$name") (KUBEVIRT_LAB_ENGINE_RETRY=1 to retry)"
      return 0
    fi
    if ! "$build"; then
      say "note: $name provider v$version not built: $(cat "$MARKS/$name" 2>/dev/null || echo 'build failed')"
      [[ $required == 1 ]] && return 1
      return 0
    fi
  fi
  install_plugin "$name" "$version" "$bin"
}

env_lines() {
  # shellcheck disable=SC2016 # $PATH is expanded by whoever evals the line
  printf 'export PATH=%q:$PATH\n' "$1"
  echo 'export PULUMI_SKIP_UPDATE_CHECK=true'
  echo 'export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true'
}

# --- find the engine ---------------------------------------------------------------------------
PULUMI_BIN=""
ENGINE_BIN_DIR=""
if p=$(command -v pulumi) && has_version "$p" && command -v pulumi-language-nodejs >/dev/null; then
  PULUMI_BIN=$p
  ENGINE_BIN_DIR=$(dirname "$p")
  log "using pulumi $PULUMI_VERSION from PATH: $p"
elif [[ -x $BIN/pulumi && -x $BIN/pulumi-language-nodejs ]] && has_version "$BIN/pulumi"; then
  PULUMI_BIN=$BIN/pulumi
  ENGINE_BIN_DIR=$BIN
  log "using cached engine in $BIN"
fi

if [[ $mode == check ]]; then
  ok=1
  if [[ -z $PULUMI_BIN ]]; then
    echo "setup-engine: missing: pulumi $PULUMI_VERSION and pulumi-language-nodejs (looked on PATH and in $BIN)" >&2
    ok=0
  elif [[ $ENGINE_BIN_DIR == "$BIN" && ! -x $BIN/pulumi-resource-pulumi-nodejs ]]; then
    echo "setup-engine: missing: $BIN/pulumi-resource-pulumi-nodejs" >&2
    ok=0
  fi
  # Provider plugins are optional (their sources may not be served): reported, not required.
  for pv in "command $COMMAND_VERSION" "kubernetes $K8S_VERSION"; do
    read -r name version <<<"$pv"
    plugin_installed resource "$name" "$version" ||
      echo "setup-engine: note: plugin resource $name v$version is not installed" >&2
  done
  installed=$PULUMI_PLUGIN_DIR/resource-command-v$COMMAND_VERSION/pulumi-resource-command
  if plugin_installed resource command "$COMMAND_VERSION" && is_our_command_provider "$installed" &&
    command -v go >/dev/null && [[ $(cat "$PLUGINS/pulumi-resource-command.src-hash" 2>/dev/null) != "$(command_sources_hash)" ]]; then
    echo "setup-engine: note: plugin resource command v$COMMAND_VERSION is older than $COMMAND_SRC (run harness/engine.sh)" >&2
  fi
  ((ok)) && exit 0
  exit 1
fi

if [[ -z $PULUMI_BIN ]]; then
  command -v go >/dev/null || die "go is not on PATH (expected /usr/local/go/bin)"
  if [[ ${PULUMI_TRY_INSTALLER:-0} == 1 ]] && try_installer; then
    log "installed pulumi $PULUMI_VERSION with the official installer"
  else
    total_start=$(date +%s)
    build_engine
    say "engine built in $(($(date +%s) - total_start))s"
  fi
  has_version "$BIN/pulumi" || die "$BIN/pulumi does not report $PULUMI_VERSION"
  PULUMI_BIN=$BIN/pulumi
  ENGINE_BIN_DIR=$BIN
fi
if [[ $ENGINE_BIN_DIR == "$BIN" ]]; then
  write_dynamic_provider_shim "$BIN"
fi

# --- provider plugins --------------------------------------------------------------------------
# Installed into the plugin cache ($PULUMI_HOME/plugins), not put on PATH: a provider found on PATH
# is used whatever version the program asks for, with a warning on every run.
setup_command_provider || die "plugin resource command v$COMMAND_VERSION is required (see $COMMAND_SRC)"
setup_provider kubernetes "$K8S_VERSION" build_kubernetes_provider 0

# --- env lines ---------------------------------------------------------------------------------
mkdir -p "$ENGINE_DIR"
env_lines "$ENGINE_BIN_DIR" >"$ENV_FILE.tmp"
mv -f "$ENV_FILE.tmp" "$ENV_FILE"
log "env written to $ENV_FILE"
env_lines "$ENGINE_BIN_DIR"
