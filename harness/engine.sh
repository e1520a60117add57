#!/usr/bin/env bash
# harness/engine.sh: the Pulumi engine the lab runs on, at the pinned versions:
#
#   pulumi (CLI)                 3.248.0   github.com/pulumi/pulumi/pkg/v3 (Go module proxy)
#   pulumi-language-nodejs       3.248.0   pulumi-language-nodejs-3.248.0.tar.gz (release source)
#   plugin resource command      1.2.1     pulumi-command-1.2.1.tar.gz (release source)
#   plugin resource kubernetes   3.30.2    pulumi-kubernetes-3.30.2.tar.gz (release source)
#
# For each one, in this order: what is already installed at that version (PATH, the cache,
# ~/.pulumi/plugins); else the official way when its host resolves (get.pulumi.com's installer,
# `pulumi plugin install`); else a build: the CLI from the Go module proxy, the rest from their
# release sources in $KUBEVIRT_LAB_UPSTREAM (default ../shared/upstream beside the repo), each
# archive's sha256 checked before anything is built. Binaries go to the cache, never the repo;
# plugins are installed for the engine (`pulumi plugin install resource NAME VERSION --file ...`).
#
# usage: harness/engine.sh [--print-env | --check]
#   (none)       find, fetch or build what is missing; print how to use the engine
#   --print-env  the same, but print only the lines to `eval` (build progress still on stderr)
#   --check      exit 0 if everything is there at the pinned version, else 1 naming what is
#                missing; never builds
#
# Environment:
#   KUBEVIRT_LAB_CACHE     cache root (default ~/.cache/kubevirt-lab)
#   KUBEVIRT_LAB_UPSTREAM  folder of the release-source archives (default ../shared/upstream)
#   KUBEVIRT_LAB_OFFLINE=1 never try the official downloads, even where their hosts resolve
#   PULUMI_HOME            the engine's home (plugins in $PULUMI_HOME/plugins; default ~/.pulumi)
set -euo pipefail

HARNESS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HARNESS")
# shellcheck source=lib/progress.sh
source "$HARNESS/lib/progress.sh"

readonly PULUMI_VERSION=v3.248.0
readonly PKG_MODULE=github.com/pulumi/pulumi/pkg/v3
readonly SDK_MODULE=github.com/pulumi/pulumi/sdk/v3
readonly VERSION_VAR=github.com/pulumi/pulumi/sdk/v3/go/common/version.Version
readonly COMMAND_VERSION=1.2.1
readonly K8S_VERSION=3.30.2

# The release sources: file, sha256 (from the upstream README: the tags' snapshots).
readonly LANGHOST_ARCHIVE=pulumi-language-nodejs-3.248.0.tar.gz
readonly LANGHOST_SHA=60e05a28f2b9d9618e1520b0f4e03538e39c9cf728605c485b881cc3b1e61e7b
readonly COMMAND_ARCHIVE=pulumi-command-1.2.1.tar.gz
readonly COMMAND_SHA=2806bb1835aa7e8f5acd43816e89c688568c08ebff4fd464fbca3bc6ddaacd47
readonly K8S_ARCHIVE=pulumi-kubernetes-3.30.2.tar.gz
readonly K8S_SHA=b4c1cd2a804ae7445663cee90e289b269606acf18765969d6907cd6760cf285c
# The Kubernetes OpenAPI specs pulumi-gen-kubernetes reads (from the k8s.io/kubernetes module zips).
readonly K8S_SPEC_VERSIONS="1.17.0 1.18.0 1.19.0 1.20.0 1.26.0 1.27.0"

CACHE=${KUBEVIRT_LAB_CACHE:-$HOME/.cache/kubevirt-lab}
UPSTREAM=${KUBEVIRT_LAB_UPSTREAM:-$REPO/../shared/upstream}
ENGINE_DIR=$CACHE/engine
VER_DIR=$ENGINE_DIR/$PULUMI_VERSION
BIN=$VER_DIR/bin
SRC=$VER_DIR/src
PLUGIN_BUILDS=$VER_DIR/plugins
ENV_FILE=$ENGINE_DIR/env.sh
PLUGIN_DIR=${PULUMI_HOME:-$HOME/.pulumi}/plugins

export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export CGO_ENABLED=0

mode=setup
case "${1:-}" in
  "") ;;
  --print-env) mode=print-env ;;
  --check) mode=check ;;
  -h | --help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
  *) echo "engine: unknown option '$1' (use --print-env or --check)" >&2; exit 2 ;;
esac

say() { echo "engine: $*" >&2; }
joined() { local out=$1; shift; for x in "$@"; do out+=", $x"; done; echo "$out"; }
die() { echo "engine: error: $*" >&2; exit 1; }

# --- what is there -----------------------------------------------------------------------------

# cli_ok BIN: BIN is a pulumi CLI that reports the pinned version.
cli_ok() { [[ -x $1 ]] && [[ $("$1" version 2>/dev/null) == "$PULUMI_VERSION" ]]; }

# built_with BIN MODULE VERSION: the Go build info of BIN lists MODULE at VERSION (as main module
# or dependency). Official and locally built binaries both carry it; needs `go`.
built_with() {
  [[ -x $1 ]] || return 1
  go version -m "$1" 2>/dev/null | awk -v m="$2" -v v="$3" '($1 == "mod" || $1 == "dep") && $2 == m && $3 == v { f = 1 } END { exit !f }'
}

# langhost_ok BIN: a nodejs language host of the pinned release (it is built against sdk/v3 of
# that release; the one of the v3.68.0 era, which an earlier setup built here, is not).
langhost_ok() { built_with "$1" "$SDK_MODULE" "$PULUMI_VERSION"; }

# plugin_path NAME VERSION: where the engine keeps plugin resource NAME at VERSION.
plugin_path() { echo "$PLUGIN_DIR/resource-$1-v$2/pulumi-resource-$1"; }

# built_from BIN MODULE: BIN's main package is in MODULE (its Go build info's path).
built_from() {
  go version -m "$1" 2>/dev/null | awk -v m="$2" '$1 == "path" && index($2, m) == 1 { f = 1 } END { exit !f }'
}

# plugin_ok NAME VERSION MODULE: installed, complete, and the official provider's code (an
# earlier setup installed our own command provider under the same name and version).
plugin_ok() {
  local p
  p=$(plugin_path "$1" "$2")
  [[ -x $p && ! -e $PLUGIN_DIR/resource-$1-v$2.partial ]] || return 1
  built_from "$p" "$3"
}

readonly COMMAND_MODULE=github.com/pulumi/pulumi-command/provider
readonly K8S_MODULE=github.com/pulumi/pulumi-kubernetes/provider/v3

# find_cli: the pinned CLI on PATH, else in the cache.
find_cli() {
  local p
  if p=$(command -v pulumi 2>/dev/null) && cli_ok "$p"; then echo "$p"; return 0; fi
  cli_ok "$BIN/pulumi" && { echo "$BIN/pulumi"; return 0; }
  return 1
}

# find_langhost CLI_DIR: the pinned language host on PATH, else next to the CLI, else in the cache.
find_langhost() {
  local p
  for p in "$(command -v pulumi-language-nodejs 2>/dev/null || true)" "$1/pulumi-language-nodejs" "$BIN/pulumi-language-nodejs"; do
    [[ -n $p ]] && langhost_ok "$p" && { echo "$p"; return 0; }
  done
  return 1
}

# resolves HOST: the official download host resolves here (no traffic is sent to it otherwise).
resolves() { [[ ${KUBEVIRT_LAB_OFFLINE:-0} != 1 ]] && getent hosts "$1" >/dev/null 2>&1; }

# --- release sources ---------------------------------------------------------------------------

# check_archive FILE SHA: the archive is in $UPSTREAM and has the pinned sha256.
check_archive() {
  local f=$UPSTREAM/$1 got
  [[ -f $f ]] || die "$1 not found in $UPSTREAM (set KUBEVIRT_LAB_UPSTREAM to the folder of the release sources)"
  got=$(sha256sum "$f" | cut -d' ' -f1)
  [[ $got == "$2" ]] || die "$f: sha256 mismatch: expected $2, got $got; not building from it"
}

# unpack FILE: the archive unpacked (once) under $SRC; prints the folder.
unpack() {
  local name=${1%.tar.gz} dir=$SRC/${1%.tar.gz}
  if [[ ! -f $dir/.unpacked ]]; then
    rm -rf "$dir"
    mkdir -p "$SRC"
    tar -xzf "$UPSTREAM/$1" -C "$SRC"
    [[ -d $dir ]] || die "$1 did not unpack into $name/"
    touch "$dir/.unpacked"
  fi
  echo "$dir"
}

# --- builds ------------------------------------------------------------------------------------

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

# go_build_to DIR OUT LDFLAGS PKG: build PKG in module DIR into OUT (through OUT.tmp).
go_build_to() {
  (cd "$1" && go build -trimpath -ldflags "$3" -o "$2.tmp" "$4") || { rm -f "$2.tmp"; return 1; }
  mv -f "$2.tmp" "$2"
}

# The CLI: a small wrapper module requiring pkg/v3 at the release with pkg's own non-local replace
# directives (a dependency's replaces do not apply to its dependents), then `go build`.
prepare_cli_module() {
  local dir=$SRC/pulumi pkgdir
  pkgdir=$(go mod download -json "$PKG_MODULE@$PULUMI_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  [[ -f $pkgdir/go.mod ]] || return 1
  mkdir -p "$dir"
  {
    printf 'module kubevirt-lab/engine-build/pulumi\n\n%s\n\n' "$(grep -m1 '^go [0-9]' "$pkgdir/go.mod")"
    printf 'require (\n\t%s %s\n\t%s %s\n)\n\n' "$PKG_MODULE" "$PULUMI_VERSION" "$SDK_MODULE" "$PULUMI_VERSION"
    nonlocal_replaces "$pkgdir/go.mod"
  } >"$dir/go.mod.want"
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s/cmd/pulumi"\n' "$PKG_MODULE" >"$dir/tools.go"
  if [[ -f $dir/go.sum ]] && cmp -s "$dir/go.mod.want" "$dir/go.mod.in"; then return 0; fi
  cp "$dir/go.mod.want" "$dir/go.mod"
  cp "$dir/go.mod.want" "$dir/go.mod.in"
  rm -f "$dir/go.sum"
  (cd "$dir" && go mod tidy)
}

build_cli() {
  mkdir -p "$BIN"
  progress::run "preparing the pulumi $PULUMI_VERSION module (downloads)" 90 prepare_cli_module
  progress::run "building pulumi $PULUMI_VERSION from $PKG_MODULE" 300 \
    go_build_to "$SRC/pulumi" "$BIN/pulumi" "-s -w -X $VERSION_VAR=$PULUMI_VERSION" "$PKG_MODULE/cmd/pulumi"
}

# The language host: its go.mod points pkg/v3 and sdk/v3 at the monorepo; require both at the
# release from the module proxy instead.
prepare_langhost_module() {
  local dir=$1
  if [[ ! -f $dir/.kubevirt-lab-tidy ]]; then
    awk '
      /^replace[ \t]*\(/ { inb = 1; print; next }
      inb && /^[ \t]*\)/ { inb = 0; print; next }
      (inb || /^replace[ \t]/) && /github\.com\/pulumi\/pulumi\/(pkg|sdk)\/v3[ \t]*=>[ \t]*\./ { next }
      { print }' "$dir/go.mod" >"$dir/go.mod.tmp"
    mv "$dir/go.mod.tmp" "$dir/go.mod"
    (cd "$dir" && go mod edit -require="$PKG_MODULE@$PULUMI_VERSION" -require="$SDK_MODULE@$PULUMI_VERSION" && go mod tidy)
    touch "$dir/.kubevirt-lab-tidy"
  fi
}

build_langhost() {
  local dir
  dir=$(unpack "$LANGHOST_ARCHIVE")/sdk/nodejs/cmd/pulumi-language-nodejs
  mkdir -p "$BIN"
  progress::run "preparing the nodejs language host module" 20 prepare_langhost_module "$dir"
  progress::run "building pulumi-language-nodejs $PULUMI_VERSION from $LANGHOST_ARCHIVE" 30 \
    go_build_to "$dir" "$BIN/pulumi-language-nodejs" "-s -w -X $VERSION_VAR=$PULUMI_VERSION" .
}

# plugin_build NAME VERSION: where the build of plugin NAME goes.
plugin_build() { echo "$PLUGIN_BUILDS/$1-$2/pulumi-resource-$1"; }

build_command() {
  local dir out
  out=$(plugin_build command "$COMMAND_VERSION")
  dir=$(unpack "$COMMAND_ARCHIVE")/provider
  mkdir -p "$(dirname "$out")"
  GOFLAGS="-mod=mod -buildvcs=false" progress::run "building pulumi-resource-command $COMMAND_VERSION from $COMMAND_ARCHIVE" 60 \
    go_build_to "$dir" "$out" "-s -w -X $COMMAND_MODULE/pkg/version.Version=$COMMAND_VERSION" ./cmd/pulumi-resource-command
}

# The Kubernetes provider embeds a schema generated from Kubernetes' OpenAPI specs: put the specs
# the generator reads in place (from the k8s.io/kubernetes module zips), generate the schema,
# `go generate` the embedding, then build.
k8s_specs() {
  local provider=$1 v dir
  mkdir -p "$provider/pkg/gen/openapi-specs"
  for v in $K8S_SPEC_VERSIONS; do
    [[ -s $provider/pkg/gen/openapi-specs/swagger-v$v.json ]] && continue
    dir=$(go mod download -json "k8s.io/kubernetes@v$v" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
    [[ -f $dir/api/openapi-spec/swagger.json ]] || { echo "no api/openapi-spec/swagger.json in k8s.io/kubernetes@v$v" >&2; return 1; }
    cp "$dir/api/openapi-spec/swagger.json" "$provider/pkg/gen/openapi-specs/swagger-v$v.json.tmp"
    mv "$provider/pkg/gen/openapi-specs/swagger-v$v.json.tmp" "$provider/pkg/gen/openapi-specs/swagger-v$v.json"
  done
}

k8s_schema() {
  local provider=$1 schema=$1/cmd/pulumi-resource-kubernetes/schema.json
  [[ -s $schema && -f $provider/.kubevirt-lab-generated ]] && return 0
  (cd "$provider" && GOFLAGS="-mod=mod -buildvcs=false" go build -trimpath -o "$provider/pulumi-gen-kubernetes" ./cmd/pulumi-gen-kubernetes)
  (cd "$provider" && ./pulumi-gen-kubernetes schema pkg/gen/openapi-specs/swagger-v1.27.0.json "$(dirname "$provider")")
  [[ -s $schema ]] || { echo "pulumi-gen-kubernetes wrote no $schema" >&2; return 1; }
  (cd "$provider/cmd/pulumi-resource-kubernetes" && VERSION=$K8S_VERSION GOFLAGS="-mod=mod -buildvcs=false" go generate ./main.go)
  touch "$provider/.kubevirt-lab-generated"
}

build_kubernetes() {
  local provider out
  out=$(plugin_build kubernetes "$K8S_VERSION")
  provider=$(unpack "$K8S_ARCHIVE")/provider
  mkdir -p "$(dirname "$out")"
  export GOFLAGS="-mod=mod -buildvcs=false"
  progress::run "fetching the Kubernetes OpenAPI specs for the kubernetes provider's schema" 15 k8s_specs "$provider"
  progress::run "generating the kubernetes provider's schema (pulumi-gen-kubernetes)" 240 k8s_schema "$provider"
  progress::run "building pulumi-resource-kubernetes $K8S_VERSION from $K8S_ARCHIVE" 30 \
    go_build_to "$provider" "$out" "-s -w -X $K8S_MODULE/pkg/version.Version=$K8S_VERSION" ./cmd/pulumi-resource-kubernetes
}

# --- plugins -----------------------------------------------------------------------------------

# setup_plugin NAME VERSION MODULE BUILDFN: the plugin installed (it was found missing).
setup_plugin() {
  local name=$1 version=$2 module=$3 build=$4 out
  if [[ -e $(plugin_path "$name" "$version") || -e $PLUGIN_DIR/resource-$name-v$version.partial ]]; then
    say "plugin resource $name v$version: the installed one is not the official provider's build; replacing it"
    "$PULUMI" plugin rm resource "$name" "$version" --yes >&2 || rm -rf "$PLUGIN_DIR/resource-$name-v$version" "$PLUGIN_DIR/resource-$name-v$version".*
  fi
  if resolves get.pulumi.com && progress::run "pulumi plugin install resource $name v$version (official)" 30 \
    "$PULUMI" plugin install resource "$name" "v$version"; then
    return 0
  fi
  out=$(plugin_build "$name" "$version")
  # A build made earlier (of the official sources, by this script) is installed again as it is.
  built_from "$out" "$module" || "$build"
  "$PULUMI" plugin install resource "$name" "v$version" --file "$out" >&2
  plugin_ok "$name" "$version" "$module" || die "plugin resource $name v$version: installed, but not found as expected at $(plugin_path "$name" "$version")"
}

# The dynamic provider host that Pulumi ships next to its binary (as in @pulumi/pulumi's own copy).
write_dynamic_provider_shim() {
  local f=$1/pulumi-resource-pulumi-nodejs
  [[ -x $f ]] && return 0
  # shellcheck disable=SC2016 # the $ are for the generated script
  printf '%s\n' '#!/bin/sh' \
    'PULUMI_DYNAMIC_PROVIDER_SCRIPT_PATH=$(node -e "console.log(require.resolve('"'"'@pulumi/pulumi/cmd/dynamic-provider'"'"'))")' \
    'exec node "$PULUMI_DYNAMIC_PROVIDER_SCRIPT_PATH" "$@"' >"$f.tmp"
  chmod 0755 "$f.tmp"
  mv -f "$f.tmp" "$f"
}

env_lines() {
  # shellcheck disable=SC2016 # $PATH is expanded by whoever evals the line
  printf 'export PATH=%q:$PATH\n' "$1"
  echo 'export PULUMI_SKIP_UPDATE_CHECK=true'
  echo 'export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true'
}

# --- main --------------------------------------------------------------------------------------

command -v go >/dev/null || [[ $mode == check ]] || die "go is not on PATH (expected /usr/local/go/bin); it builds what is missing"

PULUMI=$(find_cli || true)
LANGHOST=""
[[ -n $PULUMI ]] && LANGHOST=$(find_langhost "$(dirname "$PULUMI")" || true)
missing=()
[[ -n $PULUMI ]] || missing+=("pulumi $PULUMI_VERSION")
[[ -n $LANGHOST ]] || missing+=("pulumi-language-nodejs $PULUMI_VERSION")
# Each plugin is looked at once (its build info is read with go): 1 when it is there.
command_ok=0 k8s_ok=0
plugin_ok command "$COMMAND_VERSION" "$COMMAND_MODULE" && command_ok=1
plugin_ok kubernetes "$K8S_VERSION" "$K8S_MODULE" && k8s_ok=1
((command_ok)) || missing+=("plugin resource command v$COMMAND_VERSION")
((k8s_ok)) || missing+=("plugin resource kubernetes v$K8S_VERSION")

if [[ $mode == check ]]; then
  ((${#missing[@]} == 0)) && exit 0
  say "missing: $(joined "${missing[@]}") (looked on PATH, in $BIN and $PLUGIN_DIR; harness/engine.sh sets them up)"
  exit 1
fi

if ((${#missing[@]} > 0)); then
  say "setting up: $(joined "${missing[@]}")"
  # Every archive a build may need is checked before anything is built.
  [[ -n $LANGHOST ]] || resolves get.pulumi.com || check_archive "$LANGHOST_ARCHIVE" "$LANGHOST_SHA"
  ((command_ok)) || resolves get.pulumi.com || check_archive "$COMMAND_ARCHIVE" "$COMMAND_SHA"
  ((k8s_ok)) || resolves get.pulumi.com || check_archive "$K8S_ARCHIVE" "$K8S_SHA"
fi

if [[ -z $PULUMI ]]; then
  if resolves get.pulumi.com && progress::run "installing pulumi $PULUMI_VERSION with the official installer" 60 \
    bash -c "curl -fsSL --max-time 60 https://get.pulumi.com | sh -s -- --version ${PULUMI_VERSION#v} --install-root '$VER_DIR' --no-edit-path --silent"; then
    :
  else
    build_cli
  fi
  cli_ok "$BIN/pulumi" || die "$BIN/pulumi does not report $PULUMI_VERSION"
  PULUMI=$BIN/pulumi
fi
ENGINE_BIN=$(dirname "$PULUMI")
if [[ -z $LANGHOST ]]; then
  LANGHOST=$(find_langhost "$ENGINE_BIN" || true)
  if [[ -z $LANGHOST ]]; then
    build_langhost
    langhost_ok "$BIN/pulumi-language-nodejs" || die "$BIN/pulumi-language-nodejs is not the $PULUMI_VERSION language host"
    LANGHOST=$BIN/pulumi-language-nodejs
  fi
fi
# The engine looks for language hosts next to itself and on PATH: the env lines put both dirs there.
LANGHOST_BIN=$(dirname "$LANGHOST")
[[ $ENGINE_BIN == "$BIN" ]] && write_dynamic_provider_shim "$BIN"

((command_ok)) || setup_plugin command "$COMMAND_VERSION" "$COMMAND_MODULE" build_command
((k8s_ok)) || setup_plugin kubernetes "$K8S_VERSION" "$K8S_MODULE" build_kubernetes

mkdir -p "$ENGINE_DIR"
{
  [[ $LANGHOST_BIN != "$ENGINE_BIN" ]] && env_lines "$LANGHOST_BIN" | head -1
  env_lines "$ENGINE_BIN"
} >"$ENV_FILE.tmp"
mv -f "$ENV_FILE.tmp" "$ENV_FILE"

if [[ $mode == print-env ]]; then
  cat "$ENV_FILE"
  exit 0
fi
((${#missing[@]} == 0)) || say "ready: pulumi $PULUMI_VERSION, nodejs language host $PULUMI_VERSION, plugins command v$COMMAND_VERSION and kubernetes v$K8S_VERSION"
cat >&2 <<EOT
engine: to use it in this shell:
  source $ENV_FILE      # or: eval "\$(bash harness/engine.sh --print-env)"
  pulumi version        # $PULUMI_VERSION
  pulumi plugin ls      # command $COMMAND_VERSION, kubernetes $K8S_VERSION
EOT
