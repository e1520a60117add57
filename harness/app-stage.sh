#!/usr/bin/env bash
# harness/app-stage.sh: what the app stage (ansible/, every tag but `packages`) needs inside the
# simulated lab, where there is no Fedora repository, no GitHub and no npm registry:
#
#   guest-packages/   the layer of the lab's guests (the virt-launcher image binds it; guest-root.sh
#                     lays it under the guest's /usr/local and /etc): what the post's dnf installs
#                     would have put there, see harness/images/guest-packages/README.md:
#                       usr/local/bin/mongod          the lab's mongod (harness/images/guest-packages/
#                                                     mongod: mongod's command line and file in front
#                                                     of FerretDB, OP_QUERY commands translated)
#                       usr/local/libexec/ferretdb    FerretDB v1.24.2 (SQLite), Go module proxy
#                       usr/local/bin/mongo           mongosh with the legacy shell's db.auth()
#                       usr/local/lib/mongosh/        mongosh 2.12.0 and its locked tree (npm)
#                       usr/local/lib/{systemd/system,tmpfiles.d,sysusers.d}, etc/  the package's
#                                                     unit, directories, user and files
#   app-mirror/       what the lab's mirror host serves for the app (harness/simlab/mirror-app.sh
#                     copies it into the mirror's www/), see harness/app-mirror/README.md:
#                       github.com/sclorg/nodejs-ex/  a bare git repository (dumb HTTP): the tree of
#                                                     nodejs-ex at 93fc25f, branch master, tag 93fc25f
#                       registry.npmjs.org/           the app's locked npm tree as a static registry
#
# in $KUBEVIRT_LAB_CACHE/dataplane/bin (default cache ~/.cache/kubevirt-lab), beside the data
# plane's binaries (harness/dataplane.sh, which runs this). Each is recorded in bin/.versions/ with
# the sha256 of everything it is made of (pinned versions, the repository's sources and lockfiles,
# the release source's archive); a different record counts it as missing. The parts are kept in
# $KUBEVIRT_LAB_CACHE/dataplane/guest-build (ferretdb, mongod, mongosh/), each made again only when
# its own inputs change; the layer is laid from them (hard links) and the repository's files.
#
# Network, on this machine only: the Go module proxy (FerretDB and the mongod's modules) and the
# npm registry (mongosh; the app's tarballs, with `npm pack`). Nothing inside the lab is reached.
#
# usage: harness/app-stage.sh [-v] [--check] [guest-packages|app-mirror...]
#   (none)     provide both (or the ones named)
#   --check    exit 0 if they are there and current, else 1 naming the others; builds nothing
#   -v         say what is reused
set -euo pipefail

HARNESS=$(cd "${BASH_SOURCE[0]%/*}" && pwd)
REPO=$(dirname "$HARNESS")
# shellcheck source=lib/progress.sh
source "$HARNESS/lib/progress.sh"
export PROGRESS_PREFIX=app-stage

readonly FERRETDB_MODULE=github.com/FerretDB/FerretDB
readonly FERRETDB_VERSION=v1.24.2
readonly MONGOSH_VERSION=2.12.0
readonly NPM_REGISTRY=https://registry.npmjs.org/
# The app: sclorg/nodejs-ex at the post's commit, from its release source (a snapshot of the tree).
readonly NODEJS_EX_REPO=github.com/sclorg/nodejs-ex
readonly NODEJS_EX_COMMIT=93fc25fd35068aa311f4722e4d7e5187b06edd7b
readonly NODEJS_EX_TAG=93fc25f
readonly NODEJS_EX_ARCHIVE=nodejs-ex-93fc25f.tar.gz
readonly NODEJS_EX_SHA=609db19b6a06d2ec13cfddad2e8ba84e7b3067c0dc723e567521d3fd4d195c34
# Bumped when how a part is made changes, so that an older one is made anew.
readonly FORMAT=1

SRC=$HARNESS/images/guest-packages
MIRROR_SRC=$HARNESS/app-mirror
CACHE=${KUBEVIRT_LAB_CACHE:-$HOME/.cache/kubevirt-lab}
UPSTREAM=${KUBEVIRT_LAB_UPSTREAM:-$REPO/../shared/upstream}/dataplane
DP_DIR=$CACHE/dataplane
BIN=$DP_DIR/bin
VERSIONS=$BIN/.versions
PARTS=$DP_DIR/guest-build
LAYER=$BIN/guest-packages
MIRROR=$BIN/app-mirror

say() { echo "app-stage: $*" >&2; }
die() { echo "app-stage: error: $*" >&2; exit 1; }

mode=setup verbose=0 wanted=()
for arg in "$@"; do
  case $arg in
    --check) mode=check ;;
    -v | --verbose) verbose=1 ;;
    -h | --help) sed -n '2,39p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    guest-packages | app-mirror) wanted+=("$arg") ;;
    *) echo "app-stage: unknown argument '$arg' (--check, -v, guest-packages, app-mirror)" >&2; exit 2 ;;
  esac
done
((${#wanted[@]})) || wanted=(guest-packages app-mirror)
info() { if ((verbose)); then say "$@"; fi; }

# sum FILE...: one sha256 of the files' names and contents.
sum() {
  local f
  for f in "$@"; do printf '%s\n' "${f#"$REPO"/}"; cat "$f"; done | sha256sum | cut -d' ' -f1
}

# files_under DIR: every file under DIR, sorted (the inputs of a part).
files_under() { find "$1" -type f | LC_ALL=C sort; }

# The stamps: what each part is made of. A part whose record differs is made again.
ferretdb_stamp() { echo "$FORMAT $FERRETDB_MODULE@$FERRETDB_VERSION"; }
mongod_stamp() { echo "$FORMAT $(sum "$SRC"/mongod/go.mod "$SRC"/mongod/go.sum "$SRC"/mongod/*.go)"; }
mongosh_stamp() { echo "$FORMAT $(sum "$SRC"/mongosh/package.json "$SRC"/mongosh/package-lock.json)"; }
layer_stamp() {
  local layer_files
  mapfile -t layer_files < <(files_under "$SRC/layer")
  echo "$FORMAT $(ferretdb_stamp) $(mongod_stamp) $(mongosh_stamp) $(sum "${layer_files[@]}")"
}
mirror_stamp() {
  local how
  # how it is made: those functions of this script
  how=$(sed -n '/^git_mirror() {/,/^}/p;/^npm_mirror() {/,/^}/p;/^build_mirror() {/,/^}/p' "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)
  echo "$FORMAT $NODEJS_EX_SHA $NODEJS_EX_TAG $how $(sum "$MIRROR_SRC"/nodejs-ex/package-lock.json "$HARNESS/lib/npm-mirror.ts")"
}

recorded() { [[ -f $VERSIONS/$1 && $(<"$VERSIONS/$1") == "$2" ]]; }
record() {
  mkdir -p "$VERSIONS"
  echo "$2" >"$VERSIONS/$1.tmp"
  mv -f "$VERSIONS/$1.tmp" "$VERSIONS/$1"
}

# --- the guests' packages -------------------------------------------------------------------------

go_env() {
  export CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false
}

# build_ferretdb: FerretDB's own module at its tag, from the Go module proxy, built as its release
# is (cmd/ferretdb, no cgo) in a work tree where build/version/version.txt says the version (the
# module's zip lacks that generated file, without which FerretDB stops at start).
build_ferretdb() {
  local dir tree=$PARTS/src/ferretdb-$FERRETDB_VERSION
  go_env
  mkdir -p "$PARTS/src"
  dir=$(cd "$PARTS" && GO111MODULE=on GOFLAGS=-mod=mod go mod download -json "$FERRETDB_MODULE@$FERRETDB_VERSION" |
    sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [[ -d $dir ]] || { echo "go mod download gave no directory for $FERRETDB_MODULE@$FERRETDB_VERSION" >&2; return 1; }
  if [[ -d $tree ]]; then chmod -R u+w "$tree"; rm -rf "$tree"; fi
  cp -R "$dir" "$tree"
  chmod -R u+w "$tree"
  echo "$FERRETDB_VERSION" >"$tree/build/version/version.txt"
  echo kubevirt-lab >"$tree/build/version/package.txt"
  (cd "$tree" && GOFLAGS="-mod=mod -buildvcs=false" go build -trimpath -ldflags "-s -w" -o "$PARTS/.ferretdb.build" ./cmd/ferretdb) || return
  "$PARTS/.ferretdb.build" --version | grep -x "version: $FERRETDB_VERSION" >/dev/null ||
    { echo "the built FerretDB does not say version: $FERRETDB_VERSION" >&2; return 1; }
  mv -f "$PARTS/.ferretdb.build" "$PARTS/ferretdb"
}

# build_mongod: the lab's mongod from harness/images/guest-packages/mongod (its go.sum pins the
# modules: FerretDB's wire library, yaml.v3, xdg-go/scram).
build_mongod() {
  go_env
  (cd "$SRC/mongod" && GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath -ldflags "-s -w" -o "$PARTS/.mongod.build" .) || return
  mv -f "$PARTS/.mongod.build" "$PARTS/mongod"
}

# build_mongosh: mongosh and its locked tree (npm ci of harness/images/guest-packages/mongosh),
# without install scripts (its optional native modules stay unbuilt; mongosh works without them).
build_mongosh() {
  local tmp=$PARTS/.mongosh.build
  rm -rf "$tmp"
  mkdir -p "$tmp"
  cp "$SRC/mongosh/package.json" "$SRC/mongosh/package-lock.json" "$tmp/"
  (cd "$tmp" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --registry="$NPM_REGISTRY" --cache "$PARTS/npm-cache") || return
  [[ $(node -p 'require(process.argv[1]).version' "$tmp/node_modules/mongosh/package.json") == "$MONGOSH_VERSION" ]] ||
    { echo "npm ci installed another mongosh than $MONGOSH_VERSION" >&2; return 1; }
  rm -rf "$PARTS/mongosh"
  mv "$tmp" "$PARTS/mongosh"
}

# lay_layer: the layer, from the parts (hard links) and the repository's files.
lay_layer() {
  local tmp=$LAYER.tmp
  rm -rf "$tmp"
  mkdir -p "$tmp"
  cp -R "$SRC/layer/." "$tmp/"
  mkdir -p "$tmp/usr/local/bin" "$tmp/usr/local/libexec" "$tmp/usr/local/lib"
  cp -l "$PARTS/mongod" "$tmp/usr/local/bin/mongod"
  cp -l "$PARTS/ferretdb" "$tmp/usr/local/libexec/ferretdb"
  cp -al "$PARTS/mongosh" "$tmp/usr/local/lib/mongosh"
  ln -s ../lib/mongosh/node_modules/mongosh/bin/mongosh.js "$tmp/usr/local/bin/mongosh"
  chmod -R a+rX "$tmp"
  # A running lab's guests have the layer bound (its folder, not its path): the one replaced is
  # moved aside, whole, and removed by a later build once it is a day old.
  mkdir -p "$PARTS/replaced"
  find "$PARTS/replaced" -mindepth 1 -maxdepth 1 -mtime +0 -exec rm -rf {} +
  if [[ -d $LAYER ]]; then
    local old
    old=$PARTS/replaced/guest-packages.$(date +%s)
    mv "$LAYER" "$old"
    touch "$old"
  fi
  mv "$tmp" "$LAYER"
}

guest_packages() {
  local stamp
  stamp=$(layer_stamp)
  if [[ $1 == check ]]; then
    recorded guest-packages "$stamp" && [[ -x $LAYER/usr/local/bin/mongod && -x $LAYER/usr/local/libexec/ferretdb &&
      -f $LAYER/usr/local/lib/mongosh/node_modules/mongosh/package.json ]]
    return
  fi
  command -v go >/dev/null 2>&1 || die "the guests' mongod and FerretDB are built with 'go', not on PATH"
  command -v npm >/dev/null 2>&1 || die "the guests' mongosh is installed with 'npm', not on PATH"
  mkdir -p "$PARTS"
  if recorded guest-ferretdb "$(ferretdb_stamp)" && [[ -x $PARTS/ferretdb ]]; then
    info "FerretDB $FERRETDB_VERSION: in $PARTS"
  else
    progress::run "building FerretDB $FERRETDB_VERSION (Go module proxy)" 150 build_ferretdb || die "FerretDB did not build"
    record guest-ferretdb "$(ferretdb_stamp)"
  fi
  if recorded guest-mongod "$(mongod_stamp)" && [[ -x $PARTS/mongod ]]; then
    info "the lab's mongod: in $PARTS"
  else
    progress::run "building the lab's mongod (harness/images/guest-packages/mongod)" 20 build_mongod || die "the lab's mongod did not build"
    record guest-mongod "$(mongod_stamp)"
  fi
  if recorded guest-mongosh "$(mongosh_stamp)" && [[ -d $PARTS/mongosh/node_modules ]]; then
    info "mongosh $MONGOSH_VERSION: in $PARTS"
  else
    progress::run "installing mongosh $MONGOSH_VERSION (npm ci of its lockfile)" 150 build_mongosh || die "mongosh did not install"
    record guest-mongosh "$(mongosh_stamp)"
  fi
  lay_layer
  record guest-packages "$stamp"
}

# --- the app's mirror ---------------------------------------------------------------------------

# git_mirror DIR: the bare repository of nodejs-ex at 93fc25f: one commit holding the archive's
# tree, made reproducibly (author, committer and dates fixed, no user or system git configuration),
# on branch master with the tag 93fc25f, packed, and served by dumb HTTP (update-server-info). A
# commit made from the tree cannot have the original hash (its parents, author and message are not
# in the archive): its message says whose tree it is.
git_mirror() {
  local dst=$1 tree date
  tree=$(mktemp -d "${TMPDIR:-/tmp}/app-stage-tree.XXXXXX")
  tar -xzf "$UPSTREAM/$NODEJS_EX_ARCHIVE" -C "$tree" --strip-components=1
  # the commit's date: the archive's (its files' mtime is the commit's)
  date=$(date -u -r "$tree/package.json" +%Y-%m-%dT%H:%M:%SZ)
  (
    export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_SYSTEM=/dev/null GIT_CONFIG_NOSYSTEM=1 HOME=$tree
    export GIT_AUTHOR_NAME=kubevirt-lab GIT_AUTHOR_EMAIL=kubevirt-lab@localhost GIT_AUTHOR_DATE=$date
    export GIT_COMMITTER_NAME=kubevirt-lab GIT_COMMITTER_EMAIL=kubevirt-lab@localhost GIT_COMMITTER_DATE=$date
    git init -q --bare --initial-branch=master "$dst"
    export GIT_DIR=$dst GIT_WORK_TREE=$tree
    git add -A
    git commit -q -m "nodejs-ex at sclorg/nodejs-ex@$NODEJS_EX_COMMIT" \
      -m "The tree of $NODEJS_EX_ARCHIVE (sha256 $NODEJS_EX_SHA), a snapshot of that commit of https://$NODEJS_EX_REPO, for the simulated lab of kubevirt-lab." \
      -m "This commit cannot have the original's hash: its parents, author and message are not in the archive. Check out the tag $NODEJS_EX_TAG (or master)."
    git tag -a -m "the post's commit $NODEJS_EX_COMMIT of $NODEJS_EX_REPO (its tree; the hash differs)" "$NODEJS_EX_TAG"
    git repack -a -d -q
    git prune-packed
    rm -rf "$dst/index" "$dst/COMMIT_EDITMSG" "$dst/logs" "$dst/hooks"
    git update-server-info
  ) || { rm -rf "$tree"; return 1; }
  rm -rf "$tree"
}

# npm_mirror DIR: the app's locked tree (harness/app-mirror/nodejs-ex/package-lock.json, made by
# npm for the archive's package.json with --omit=dev) as a static registry (harness/lib/
# npm-mirror.ts), its tarballs fetched with `npm pack` from the public registry. The lockfile must
# be the app's: its root's dependencies are the archive's package.json's.
npm_mirror() {
  local dst=$1 work lock=$MIRROR_SRC/nodejs-ex/package-lock.json specs
  work=$(mktemp -d "${TMPDIR:-/tmp}/app-stage-npm.XXXXXX")
  tar -xzf "$UPSTREAM/$NODEJS_EX_ARCHIVE" -C "$work" --strip-components=1 --wildcards '*/package.json'
  # shellcheck disable=SC2016 # JavaScript
  node -e '
    const [pkg, lock] = process.argv.slice(1).map((f) => require(f));
    const want = JSON.stringify(pkg.dependencies), got = JSON.stringify(lock.packages[""].dependencies);
    if (want !== got) { console.error(`the lockfile is not of the app: ${got} != ${want}`); process.exit(1); }
  ' "$work/package.json" "$lock" || { rm -rf "$work"; return 1; }
  # shellcheck disable=SC2016 # JavaScript
  mapfile -t specs < <(node -e '
    const l = require(process.argv[1]); const s = new Set();
    for (const [k, v] of Object.entries(l.packages)) if (k) s.add(`${v.name || k.slice(k.lastIndexOf("node_modules/") + 13)}@${v.version}`);
    console.log([...s].sort().join("\n"));
  ' "$lock")
  mkdir -p "$work/tgz"
  (cd "$work" && npm pack --registry="$NPM_REGISTRY" --cache "$PARTS/npm-cache" --pack-destination "$work/tgz" "${specs[@]}" >/dev/null) ||
    { rm -rf "$work"; return 1; }
  (cd "$REPO" && node --import tsx harness/lib/npm-mirror.ts --lock "$lock" --tarballs "$work/tgz" --out "$dst") ||
    { rm -rf "$work"; return 1; }
  rm -rf "$work"
}

build_mirror() {
  local tmp=$MIRROR.tmp
  rm -rf "$tmp"
  mkdir -p "$tmp/$(dirname "$NODEJS_EX_REPO")" "$PARTS"
  git_mirror "$tmp/$NODEJS_EX_REPO" || return
  npm_mirror "$tmp/registry.npmjs.org" || return
  chmod -R a+rX "$tmp"
  rm -rf "$MIRROR"
  mv "$tmp" "$MIRROR"
}

app_mirror() {
  local stamp
  stamp=$(mirror_stamp)
  if [[ $1 == check ]]; then
    recorded app-mirror "$stamp" && [[ -f $MIRROR/$NODEJS_EX_REPO/info/refs && -f $MIRROR/registry.npmjs.org/express ]]
    return
  fi
  local f=$UPSTREAM/$NODEJS_EX_ARCHIVE got
  [[ -f $f ]] || die "$NODEJS_EX_ARCHIVE not found in $UPSTREAM (set KUBEVIRT_LAB_UPSTREAM to the folder of the release sources)"
  got=$(sha256sum "$f" | cut -d' ' -f1)
  [[ $got == "$NODEJS_EX_SHA" ]] || die "$f: sha256 mismatch: expected $NODEJS_EX_SHA, got $got; not using it"
  [[ -e $REPO/node_modules/tsx ]] || die "the npm mirror is written by harness/lib/npm-mirror.ts: $REPO/node_modules has no tsx (npm ci)"
  progress::run "making the app's mirror (nodejs-ex at $NODEJS_EX_TAG as git, its npm tree)" 40 build_mirror || die "the app's mirror was not made"
  record app-mirror "$stamp"
}

# --- main ---------------------------------------------------------------------------------------

# part NAME check|build
part() {
  case $1 in
    guest-packages) guest_packages "$2" ;;
    app-mirror) app_mirror "$2" ;;
  esac
}

# missing_parts NAME...: those not there or not current
missing_parts() {
  local p
  for p in "$@"; do part "$p" check || echo "$p"; done
}

mapfile -t missing < <(missing_parts "${wanted[@]}")
if [[ $mode == check ]]; then
  if ((${#missing[@]})); then
    echo "app-stage: missing or out of date in $BIN: ${missing[*]}" >&2
    exit 1
  fi
  info "${wanted[*]}: in $BIN"
  exit 0
fi
# one build at a time (another dataplane.sh or app-stage.sh may be at it: then its result is taken)
if ((${#missing[@]})); then
  mkdir -p "$DP_DIR"
  exec 9>"$DP_DIR/.app-stage.lock"
  flock -w 1800 9 || die "another harness/app-stage.sh holds $DP_DIR/.app-stage.lock"
  mapfile -t missing < <(missing_parts "${missing[@]}")
fi
for p in ${missing[@]+"${missing[@]}"}; do part "$p" build; done
for p in "${wanted[@]}"; do
  [[ " ${missing[*]} " == *" $p "* ]] || info "$p: in $BIN"
done
