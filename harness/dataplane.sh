#!/usr/bin/env bash
# harness/dataplane.sh: the binaries of the post's data plane, at the versions it ran (April 2018):
#
#   cni/bridge, cni/host-local, cni/loopback,   CNI plugins v0.6.0 (the kubernetes-cni 0.6.0 of
#   cni/portmap, cni/flannel                    Kubernetes 1.9's packages: its bridge gives the
#                                               post's 0a:58:... MACs), Go module proxy
#   flanneld                                    flannel v0.9.1, flannel-0.9.1.tar.gz
#   kube-dns, dnsmasq-nanny, sidecar            kube-dns 1.14.7, kube-dns-1.14.7.tar.gz
#   virt-controller, virt-api, virt-handler     KubeVirt v0.4.1, kubevirt-0.4.1.tar.gz
#   virt-launcher (+ virt-launcher-driver)      the lab's virt-launcher (harness/standins/
#                                               virt-launcher), built in the KubeVirt v0.4.1 tree
#   nginx-ingress-controller                    ingress-nginx 0.13.0, ingress-nginx-0.13.0.tar.gz
#   nginx-modules/ngx_http_vhost_traffic_status_module.so
#                                               nginx-module-vts 0.1.15 (what ingress-nginx
#                                               0.13.0's image built in) for Debian's nginx 1.22.1,
#                                               nginx-module-vts-0.1.15.tar.gz
#   guest-packages/, app-mirror/                what the app stage needs inside the lab (the name
#                                               `app`): the guests' packages (FerretDB v1.24.2
#                                               behind the lab's mongod, mongosh as `mongo`) and the
#                                               mirror of nodejs-ex and its npm tree, made by
#                                               harness/app-stage.sh (its records, its --check)
#
# in $KUBEVIRT_LAB_CACHE/dataplane/bin (default cache ~/.cache/kubevirt-lab), never in the
# repository. For each binary, in this order:
#   1. the one already in that folder, when it answers the right version (quiet, about a second
#      for all on a busy machine; the checks run at once). The CNI plugins v0.6.0, dnsmasq-nanny and KubeVirt's binaries
#      print no version of their own, nor does the VTS module: for them a record written beside
#      them when they were put there (bin/.versions/<name>: version and sha256 of the file) must
#      match (hashed again only when the file's size or mtime changed), the CNI plugins must also
#      answer CNI_COMMAND=VERSION, and Debian's nginx must accept the module (`nginx -t` with a
#      config that loads it);
#   2. the official release download where there is one (the CNI plugins' tgz and flanneld-amd64
#      on github.com; the others were published as images only), only when github.com resolves
#      (`getent hosts`) and KUBEVIRT_LAB_OFFLINE is not 1;
#   3. a build, one binary at a time: the CNI plugins from the Go module proxy (its v0.6.0 zip,
#      in GOPATH mode with the Godeps.json revisions linked into vendor/ from the module cache,
#      as harness/kubernetes.sh builds Kubernetes 1.9.4), the rest from their release sources in
#      $KUBEVIRT_LAB_UPSTREAM/dataplane (default ../shared/upstream beside the repo), each
#      archive's sha256 checked before anything is unpacked, built in GOPATH mode with their own
#      vendor/ and stamped with their versions as their Makefiles do. The work trees stay in
#      $KUBEVIRT_LAB_CACHE/dataplane/src (the GOPATH; with the Go build cache a warm rebuild is
#      quick).
#
# Notes on the builds:
#   - flanneld is built with CGO_ENABLED=1, as its Makefile does: its UDP backend
#     (backend/udp/cproxy.go) is C, and without cgo the package does not compile.
#   - flanneld and kube-dns vendor github.com/ugorji/go, whose code-generator base64 alphabet ends
#     in a duplicate "_" that Go >= 1.22 rejects at start (every binary panics "encoding alphabet
#     includes duplicate symbols"): the last "_" becomes "." in the work tree, as for Kubernetes.
#   - virt-handler builds with CGO_ENABLED=0 (it does not import libvirt-go). The lab's
#     virt-launcher builds with CGO_ENABLED=1 against Debian's libvirt-dev (installed with apt
#     when missing, as root, with isc-dhcp-client, its guest's DHCP client): KubeVirt's cmd
#     server imports virtwrap, which imports libvirt-go.
#   - VTS 0.1.15, not 0.2.2 (which the upstream notes measured): 0.1.15 is what ingress-nginx
#     0.13.0's image built in, and it builds against nginx-dev 1.22.1 and works with Debian's
#     nginx (checked: `nginx -t` loads it, and a server with vhost_traffic_status_zone served
#     /nginx_status in JSON) given one compiler flag, -Wno-error=stringop-overread: GCC 12 takes
#     the nginx idiom of a shared-memory node starting at its rbtree node's `color` byte
#     (ngx_http_vhost_traffic_status_dump.c) for an overread, and nginx builds with -Werror.
#     It is built as Debian builds its nginx modules (dh_nginx): nginx-dev's source tree
#     configured with Debian's own flags (conf_flags, dpkg-buildflags) and --with-compat, then
#     `make modules`.
#
# usage: harness/dataplane.sh [-v] [--print-env | --check] [names...]
#   (none)       provide all of them (or the names given: a name in bin/ such as cni/bridge, its
#                last part such as bridge, a group: cni, kube-dns, kubevirt, ingress-nginx, vts,
#                or app: harness/app-stage.sh's); print where they are, the last line being
#                `export KUBEVIRT_LAB_DATAPLANE_BIN=<dir>`
#   --print-env  the same, but print only that export line
#   --check      exit 0 if they are all there at the right version, else 1 naming the missing
#                ones; never downloads nor builds
#   -v           say what is reused (a warm run prints nothing without it)
# Progress and everything else goes to stderr; build logs to $KUBEVIRT_LAB_CACHE/logs/.
#
# Environment:
#   KUBEVIRT_LAB_CACHE     cache root (default ~/.cache/kubevirt-lab)
#   KUBEVIRT_LAB_UPSTREAM  folder of the release sources; the archives are in its dataplane/
#                          (default ../shared/upstream)
#   KUBEVIRT_LAB_OFFLINE=1 never try the official downloads, even where github.com resolves
#   KUBEVIRT_LAB_APT       the installer of nginx and nginx-dev when they are missing (default
#                          apt-get; only as root)
set -euo pipefail

HARNESS=$(cd "${BASH_SOURCE[0]%/*}" && pwd)
REPO=$(dirname "$HARNESS")
# shellcheck source=lib/progress.sh
source "$HARNESS/lib/progress.sh"
# shellcheck source=lib/gomod.sh
source "$HARNESS/lib/gomod.sh"
export PROGRESS_PREFIX=dataplane

readonly CNI_VERSION=v0.6.0
readonly FLANNEL_VERSION=v0.9.1
readonly KUBEDNS_VERSION=1.14.7
readonly KUBEVIRT_VERSION=v0.4.1
readonly INGRESS_VERSION=0.13.0
readonly INGRESS_COMMIT=git-73d6c26 # `git rev-parse --short HEAD` of 73d6c263c60c, as its Makefile stamps
readonly INGRESS_REPO=https://github.com/kubernetes/ingress-nginx
readonly VTS_VERSION=0.1.15
readonly DOWNLOAD_HOST=github.com
readonly VTS_MODULE=ngx_http_vhost_traffic_status_module.so
readonly NAMES=(cni/bridge cni/host-local cni/loopback cni/portmap cni/flannel flanneld
  kube-dns dnsmasq-nanny sidecar virt-controller virt-api virt-handler virt-launcher nginx-ingress-controller
  "nginx-modules/$VTS_MODULE")
# Bumped when a work tree's preparation changes, so that an older tree is laid anew.
readonly TREE_FORMAT=1

# The release sources: file, sha256 (from the upstream README: the tags' snapshots).
readonly FLANNEL_ARCHIVE=flannel-0.9.1.tar.gz
readonly FLANNEL_SHA=ac529cdb3fbf49d088ed230056a8676d1e2a19528840f8d7d54652e68d50e518
readonly KUBEDNS_ARCHIVE=kube-dns-1.14.7.tar.gz
readonly KUBEDNS_SHA=2b3edc2c77c873257fd169295904a10ad4d90f233526f7399018a7bc6c19922b
readonly KUBEVIRT_ARCHIVE=kubevirt-0.4.1.tar.gz
readonly KUBEVIRT_SHA=ee916c86b9b2535565efadffa53e7f039cd8d233a61f69d0cf7647420baecb3b
readonly INGRESS_ARCHIVE=ingress-nginx-0.13.0.tar.gz
readonly INGRESS_SHA=e0e5126f3d9fd403bc168cd81304b8a20ceca65967823283fefd9bcc32a5fe86
readonly VTS_ARCHIVE=nginx-module-vts-0.1.15.tar.gz
readonly VTS_SHA=0695ff927dfb56681942af4876cd870fcad55c28e97d6c3f2d6501f1acbd83d6

CACHE=${KUBEVIRT_LAB_CACHE:-$HOME/.cache/kubevirt-lab}
UPSTREAM=${KUBEVIRT_LAB_UPSTREAM:-$REPO/../shared/upstream}/dataplane
DP_DIR=$CACHE/dataplane
BIN=$DP_DIR/bin
VERSIONS=$BIN/.versions
GOPATH_DIR=$DP_DIR # the GOPATH: the trees are $DP_DIR/src/<import path>
APT=${KUBEVIRT_LAB_APT:-apt-get}

say() { echo "dataplane: $*" >&2; }
die() { echo "dataplane: error: $*" >&2; exit 1; }

# GROUP[NAME]: the release NAME comes from; VERSION[NAME]: the version it is provided at. (Arrays,
# not functions: a warm run is mostly these lookups, and a command substitution is a fork.)
declare -A GROUP=() VERSION=()
for name in "${NAMES[@]}"; do
  case $name in
    cni/*) GROUP[$name]=cni VERSION[$name]=$CNI_VERSION ;;
    flanneld) GROUP[$name]=flanneld VERSION[$name]=$FLANNEL_VERSION ;;
    kube-dns | dnsmasq-nanny | sidecar) GROUP[$name]=kube-dns VERSION[$name]=$KUBEDNS_VERSION ;;
    virt-*) GROUP[$name]=kubevirt VERSION[$name]=$KUBEVIRT_VERSION ;;
    nginx-ingress-controller) GROUP[$name]=ingress-nginx VERSION[$name]=$INGRESS_VERSION ;;
    nginx-modules/*) GROUP[$name]=vts VERSION[$name]=$VTS_VERSION ;;
  esac
done

mode=setup verbose=0 wanted=() app=0
for arg in "$@"; do
  case $arg in
    --print-env) mode=print-env ;;
    --check) mode=check ;;
    -v | --verbose) verbose=1 ;;
    app) app=1 ;; # the app stage's parts (harness/app-stage.sh)
    -h | --help) sed -n '2,72p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    -*) echo "dataplane: unknown option '$arg' (use --print-env, --check or -v)" >&2; exit 2 ;;
    *)
      found=0
      for name in "${NAMES[@]}"; do
        if [[ $arg == "$name" || $arg == "${name##*/}" || $arg == "${GROUP[$name]}" ]]; then
          [[ " ${wanted[*]} " == *" $name "* ]] || wanted+=("$name")
          found=1
        fi
      done
      ((found)) || { echo "dataplane: unknown name '$arg' (one of: ${NAMES[*]}, or a group: cni kube-dns kubevirt ingress-nginx vts)" >&2; exit 2; }
      ;;
  esac
done
if ((${#wanted[@]} == 0 && !app)); then wanted=("${NAMES[@]}") app=1; fi

info() { if ((verbose)); then say "$@"; fi; }

# --- what is there -------------------------------------------------------------------------------

# recorded_ok NAME FILE: the record of NAME (written when FILE was put in bin/) names its version
# and FILE's sha256. The record also keeps FILE's size and mtime: when STAT[FILE] (read for all
# files at once) has the same, the hash is not computed again (a warm run hashes nothing).
declare -A STAT=()
recorded_ok() {
  local version sha stat
  [[ -f $VERSIONS/$1 ]] || return 1
  read -r version sha stat <"$VERSIONS/$1" || return 1
  [[ $version == "${VERSION[$1]}" ]] || return 1
  [[ -n $stat && $stat == "${STAT[$2]:-}" ]] && return 0
  [[ $sha == "$(sha256sum "$2" | cut -d' ' -f1)" ]]
}

# record NAME FILE: write that record.
record() {
  mkdir -p "$(dirname "$VERSIONS/$1")"
  echo "${VERSION[$1]} $(sha256sum "$2" | cut -d' ' -f1) $(stat -c %s:%Y "$2")" >"$VERSIONS/$1.tmp"
  mv -f "$VERSIONS/$1.tmp" "$VERSIONS/$1"
}

# The CNI VERSION answer of the v0.6.0 plugins (portmap's list starts with "", as in that release).
readonly CNI_ANSWER='{"cniVersion":"0.3.1","supportedVersions":["0.1.0","0.2.0","0.3.0","0.3.1"]}'
readonly CNI_ANSWER_PORTMAP='{"cniVersion":"0.3.1","supportedVersions":["","0.1.0","0.2.0","0.3.0","0.3.1"]}'

# answers NAME FILE: FILE runs and answers as NAME at its version does.
answers() {
  local name=$1 file=$2 out
  [[ -f $file && -x $file ]] || return 1
  case $name in
    cni/portmap) out=$(CNI_COMMAND=VERSION "$file" </dev/null 2>/dev/null) || return 1
      [[ $out == "$CNI_ANSWER_PORTMAP" ]] ;;
    cni/*) out=$(CNI_COMMAND=VERSION "$file" </dev/null 2>/dev/null) || return 1
      [[ $out == "$CNI_ANSWER" ]] ;;
    flanneld) out=$("$file" --version 2>&1 >/dev/null) || return 1
      [[ $out == "$FLANNEL_VERSION" ]] ;;
    kube-dns) out=$("$file" --version 2>/dev/null) || return 1
      [[ $out == "Kube-DNS $KUBEDNS_VERSION" ]] ;;
    sidecar) out=$("$file" --logtostderr --version 2>/dev/null) || return 1
      [[ $out == "Kube-DNS $KUBEDNS_VERSION" ]] ;;
    nginx-ingress-controller) out=$("$file" --version 2>/dev/null) || return 1
      [[ $out == *"Release:    $INGRESS_VERSION"$'\n'*"Build:      $INGRESS_COMMIT"* ]] ;;
    nginx-modules/*) nginx_accepts "$file" ;;
    virt-launcher) virt_launcher check ;; # and its record: built from the repository's sources
    *) return 0 ;; # dnsmasq-nanny and KubeVirt's binaries print no version: their record says it
  esac
}

# recorded NAME: NAME's version is known from its record only (it prints none of its own).
recorded() {
  case $1 in
    cni/* | dnsmasq-nanny | virt-* | nginx-modules/*) return 0 ;;
    *) return 1 ;;
  esac
}

# version_ok NAME FILE: FILE is NAME at the right version.
version_ok() {
  answers "$1" "$2" || return 1
  if recorded "$1"; then recorded_ok "$1" "$2"; fi
}

# nginx_accepts MODULE: Debian's nginx loads MODULE and takes a vhost_traffic_status_zone
# (`nginx -t` on a tiny config in a temporary folder).
nginx_accepts() {
  local nginx tmp rc=0
  nginx=$(PATH=$PATH:/usr/sbin:/sbin command -v nginx) || return 1
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/dataplane-nginx.XXXXXX") || return 1
  cat >"$tmp/nginx.conf" <<EOF
load_module $1;
pid $tmp/nginx.pid;
error_log stderr;
events {}
http {
  access_log off;
  client_body_temp_path $tmp/body;
  proxy_temp_path $tmp/proxy;
  fastcgi_temp_path $tmp/fastcgi;
  uwsgi_temp_path $tmp/uwsgi;
  scgi_temp_path $tmp/scgi;
  vhost_traffic_status_zone;
  server {
    listen 127.0.0.1:8080;
    location /nginx_status { vhost_traffic_status_display; vhost_traffic_status_display_format html; }
  }
}
EOF
  "$nginx" -t -q -e stderr -p "$tmp" -c "$tmp/nginx.conf" >/dev/null 2>"$tmp/err" || rc=1
  ((rc == 0)) || cat "$tmp/err" >&2
  rm -rf "$tmp"
  return "$rc"
}

# missing_binaries: prints the names (space-separated) of the wanted ones not in $BIN at the
# right version. The checks run at once (each is a process start; a file is hashed only when it
# changed since its record).
missing_binaries() {
  local name pids=() missing=() i files=() line
  for name in "${wanted[@]}"; do
    if recorded "$name" && [[ -f $BIN/$name ]]; then files+=("$BIN/$name"); fi
  done
  if ((${#files[@]})); then
    while IFS='|' read -r name line; do STAT[$name]=$line; done < <(stat -c '%n|%s:%Y' "${files[@]}" 2>/dev/null)
  fi
  for name in "${wanted[@]}"; do
    version_ok "$name" "$BIN/$name" 2>/dev/null &
    pids+=("$!")
  done
  for i in "${!wanted[@]}"; do
    if wait "${pids[$i]}"; then info "${wanted[$i]}: in $BIN at ${VERSION[${wanted[$i]}]}"; else missing+=("${wanted[$i]}"); fi
  done
  echo "${missing[*]}"
}

# --- official downloads --------------------------------------------------------------------------

# download_cni NAME...: the release tgz, the plugins NAME (cni/<plugin>) taken out of it.
download_cni() {
  local tmp=$DP_DIR/.cni-download name
  rm -rf "$tmp"
  mkdir -p "$tmp" "$BIN/cni"
  curl -fsSL --retry 2 --connect-timeout 20 -o "$tmp/cni.tgz" \
    "https://$DOWNLOAD_HOST/containernetworking/plugins/releases/download/$CNI_VERSION/cni-plugins-amd64-$CNI_VERSION.tgz" || return
  tar -xzf "$tmp/cni.tgz" -C "$tmp" || return
  for name in "$@"; do
    answers "$name" "$tmp/${name#cni/}" || { echo "the download's ${name#cni/} does not answer as CNI plugins $CNI_VERSION" >&2; return 1; }
    mv -f "$tmp/${name#cni/}" "$BIN/$name"
    record "$name" "$BIN/$name"
  done
  rm -rf "$tmp"
}

download_flanneld() {
  local tmp=$BIN/.flanneld.download
  mkdir -p "$BIN"
  curl -fsSL --retry 2 --connect-timeout 20 -o "$tmp" \
    "https://$DOWNLOAD_HOST/coreos/flannel/releases/download/$FLANNEL_VERSION/flanneld-amd64" || return
  chmod 0755 "$tmp" || return
  answers flanneld "$tmp" || { echo "the download of flanneld does not answer $FLANNEL_VERSION" >&2; rm -f "$tmp"; return 1; }
  mv -f "$tmp" "$BIN/flanneld"
}

# --- release sources -----------------------------------------------------------------------------

# archive_of GROUP / sha_of GROUP: the release source a group is built from (none for cni).
archive_of() {
  case $1 in
    flanneld) echo "$FLANNEL_ARCHIVE" ;;
    kube-dns) echo "$KUBEDNS_ARCHIVE" ;;
    kubevirt) echo "$KUBEVIRT_ARCHIVE" ;;
    ingress-nginx) echo "$INGRESS_ARCHIVE" ;;
    vts) echo "$VTS_ARCHIVE" ;;
  esac
}
sha_of() {
  case $1 in
    flanneld) echo "$FLANNEL_SHA" ;;
    kube-dns) echo "$KUBEDNS_SHA" ;;
    kubevirt) echo "$KUBEVIRT_SHA" ;;
    ingress-nginx) echo "$INGRESS_SHA" ;;
    vts) echo "$VTS_SHA" ;;
  esac
}

# check_archive FILE SHA: the archive is in $UPSTREAM and has the pinned sha256.
check_archive() {
  local f=$UPSTREAM/$1 got
  [[ -f $f ]] || die "$1 not found in $UPSTREAM (set KUBEVIRT_LAB_UPSTREAM to the folder of the release sources)"
  got=$(sha256sum "$f" | cut -d' ' -f1)
  [[ $got == "$2" ]] || die "$f: sha256 mismatch: expected $2, got $got; not building from it"
}

# tree_of GROUP: the GOPATH work tree of a group (import path of its repository), or its folder.
tree_of() {
  case $1 in
    cni) echo "$GOPATH_DIR/src/github.com/containernetworking/plugins" ;;
    flanneld) echo "$GOPATH_DIR/src/github.com/coreos/flannel" ;;
    kube-dns) echo "$GOPATH_DIR/src/k8s.io/dns" ;;
    kubevirt) echo "$GOPATH_DIR/src/kubevirt.io/kubevirt" ;;
    ingress-nginx) echo "$GOPATH_DIR/src/k8s.io/ingress-nginx" ;;
    vts) echo "$DP_DIR/src/nginx-module-vts-$VTS_VERSION" ;;
  esac
}

# tree_ready GROUP: its work tree is laid (and patched) for this format and this archive.
tree_ready() {
  local t
  t=$(tree_of "$1")
  [[ -f $t/.kubevirt-lab-tree && $(<"$t/.kubevirt-lab-tree") == "$TREE_FORMAT $(sha_of "$1")" ]]
}

# unpack_tree GROUP: the archive unpacked into the group's work tree (through TREE.tmp), then the
# group's patches; idempotent.
unpack_tree() {
  local group=$1 tree tmp
  tree_ready "$group" && return 0
  tree=$(tree_of "$group")
  tmp=$tree.tmp
  if [[ -d $tree ]]; then chmod -R u+w "$tree"; rm -rf "$tree"; fi
  if [[ -d $tmp ]]; then chmod -R u+w "$tmp"; rm -rf "$tmp"; fi
  mkdir -p "$tmp"
  tar -xzf "$UPSTREAM/$(archive_of "$group")" -C "$tmp" --strip-components=1
  case $group in
    flanneld | kube-dns) patch_ugorji "$tmp" || return 1 ;;
  esac
  mv "$tmp" "$tree"
  echo "$TREE_FORMAT $(sha_of "$group")" >"$tree/.kubevirt-lab-tree"
}

# The one patch: github.com/ugorji/go/codec's code-generator alphabet ends in "__", a duplicate
# symbol that Go >= 1.22 rejects when the package initialises. The last "_" as "." (as
# harness/kubernetes.sh does for Kubernetes 1.9.4): patch_ugorji (harness/lib/gomod.sh).

# --- the CNI plugins from the Go module proxy ----------------------------------------------------

# <import path in vendor/> <module> <version>: the Godeps.json roots of plugins v0.6.0 that the
# five plugins import, at the commit Godeps.json names (a tag where Godeps' comment is one, else
# the proxy's canonical pseudo-version). Not here: d2g/dhcp4, d2g/dhcp4client and
# coreos/go-systemd (the dhcp plugin only), onsi/ginkgo and onsi/gomega (tests only).
cni_deps_table() {
  cat <<'EOF'
github.com/containernetworking/cni github.com/containernetworking/cni v0.6.0-rc1
github.com/coreos/go-iptables github.com/coreos/go-iptables v0.2.0
github.com/j-keck/arping github.com/j-keck/arping v0.0.0-20160618110441-2cf9dc699c56
github.com/mattn/go-shellwords github.com/mattn/go-shellwords v1.0.3
github.com/vishvananda/netlink github.com/vishvananda/netlink v0.0.0-20170630184320-6e453822d85e
github.com/vishvananda/netns github.com/vishvananda/netns v0.0.0-20170219233438-54f0e4339ce7
golang.org/x/sys golang.org/x/sys v0.0.0-20160601133225-076b54675315
EOF
}

readonly CNI_MODULE=github.com/containernetworking/plugins

# cni_modules_to_download: the plugins module and its table's, those not in the module cache yet.
cni_modules_to_download() {
  local m
  while read -r m; do
    [[ -d $(module_dir "${m%@*}" "${m#*@}") ]] || echo "$m"
  done < <(echo "$CNI_MODULE@$CNI_VERSION"; cni_deps_table | awk 'NF == 3 { print $2 "@" $3 }')
}

download_modules() { download_modules_in "$DP_DIR" "$@"; }

# prepare_cni_tree: the GOPATH work tree of the plugins, copied from the read-only module cache
# (whose zip has no vendor/), its dependencies linked into vendor/.
cni_tree_ready() {
  local tree
  tree=$(tree_of cni)
  [[ -f $tree/.kubevirt-lab-tree && $(<"$tree/.kubevirt-lab-tree") == "$TREE_FORMAT $CNI_VERSION" ]]
}

prepare_cni_tree() {
  local tree tmp src path module version mdir
  cni_tree_ready && return 0
  tree=$(tree_of cni)
  src=$(module_dir "$CNI_MODULE" "$CNI_VERSION")
  [[ -f $src/Godeps/Godeps.json ]] || { echo "not in the module cache: $src" >&2; return 1; }
  tmp=$tree.tmp
  if [[ -d $tree ]]; then chmod -R u+w "$tree"; rm -rf "$tree"; fi
  if [[ -d $tmp ]]; then chmod -R u+w "$tmp"; rm -rf "$tmp"; fi
  mkdir -p "${tree%/*}"
  cp -R "$src" "$tmp"
  chmod -R u+w "$tmp"
  while read -r path module version; do
    mdir=$(module_dir "$module" "$version")
    [[ -d $mdir ]] || { echo "not in the module cache: $module@$version" >&2; return 1; }
    mkdir -p "$(dirname "$tmp/vendor/$path")"
    ln -sfn "$mdir" "$tmp/vendor/$path"
  done < <(cni_deps_table)
  mv "$tmp" "$tree"
  echo "$TREE_FORMAT $CNI_VERSION" >"$tree/.kubevirt-lab-tree"
}

# --- builds --------------------------------------------------------------------------------------

# gopath_go TREE ARGS: go in GOPATH mode in a work tree.
gopath_go() {
  local tree=$1
  shift
  (cd "$tree" && GOPATH=$GOPATH_DIR GO111MODULE=off GOFLAGS=-buildvcs=false go "$@")
}

# package_of NAME: the Go package NAME is built from (relative to its tree).
package_of() {
  case $1 in
    cni/bridge | cni/loopback) echo "./plugins/main/${1#cni/}" ;;
    cni/host-local) echo ./plugins/ipam/host-local ;;
    cni/portmap | cni/flannel) echo "./plugins/meta/${1#cni/}" ;;
    flanneld) echo . ;;
    kube-dns | dnsmasq-nanny | sidecar | virt-*) echo "./cmd/$1" ;;
    nginx-ingress-controller) echo ./cmd/nginx ;;
  esac
}

# ldflags_of NAME: the version stamp its own build gives it (flannel's and ingress-nginx's
# Makefiles, kube-dns's build/build.sh), all stripped (-s -w) as flannel's and ingress-nginx's are.
ldflags_of() {
  case ${GROUP[$1]} in
    flanneld) echo "-s -w -X github.com/coreos/flannel/version.Version=$FLANNEL_VERSION" ;;
    kube-dns) echo "-s -w -X k8s.io/dns/pkg/version.VERSION=$KUBEDNS_VERSION" ;;
    ingress-nginx)
      local pkg=k8s.io/ingress-nginx/version
      echo "-s -w -X $pkg.RELEASE=$INGRESS_VERSION -X $pkg.COMMIT=$INGRESS_COMMIT -X $pkg.REPO=$INGRESS_REPO" ;;
    *) echo "-s -w" ;; # the CNI plugins v0.6.0 and KubeVirt v0.4.1 stamp no version
  esac
}

# build_go NAME: one Go binary, checked, into $BIN (through a temporary file).
build_go() {
  local name=$1 group tree tmp cgo=0
  group=${GROUP[$name]}
  tree=$(tree_of "$group")
  tmp=$BIN/.${name//\//_}.build
  [[ $name == flanneld ]] && cgo=1
  mkdir -p "$(dirname "$BIN/$name")"
  CGO_ENABLED=$cgo gopath_go "$tree" build -trimpath -ldflags "$(ldflags_of "$name")" -o "$tmp" "$(package_of "$name")"
  answers "$name" "$tmp" || { echo "the built $name does not answer its version" >&2; return 1; }
  mv -f "$tmp" "$BIN/$name"
  if recorded "$name"; then record "$name" "$BIN/$name"; fi
}

# The VTS module: a dynamic module built as Debian builds its nginx modules (dh_nginx's
# nginx_mod build system): nginx-dev's source tree, configured with the flags Debian's nginx was
# (conf_flags: --with-compat among them) and Debian's compiler flags, then `make modules`; in a
# copy of that tree (configure writes into it).
readonly NGINX_DEV_SRC=/usr/share/nginx/src
# GCC 12 takes the VTS dump code's node-from-`color` idiom for an overread; nginx uses -Werror.
readonly VTS_CFLAGS=-Wno-error=stringop-overread

configure_nginx_modules() {
  local module=$1 cflags="-O2" ldflags=""
  if command -v dpkg-buildflags >/dev/null 2>&1; then
    cflags="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
    ldflags=$(dpkg-buildflags --get LDFLAGS)
  fi
  # shellcheck disable=SC1091 # nginx-dev's conf_flags: NGX_CONF_FLAGS, the flags of Debian's nginx
  . ./conf_flags
  ./configure --with-cc-opt="$cflags -fPIC $VTS_CFLAGS" --with-ld-opt="$ldflags -fPIC" \
    "${NGX_CONF_FLAGS[@]}" --add-dynamic-module="$module" --builddir=objs
}

build_vts() {
  local name=nginx-modules/$VTS_MODULE module nbuild
  module=$(tree_of vts)
  nbuild=$DP_DIR/src/nginx-dev
  rm -rf "$nbuild"
  cp -R "$NGINX_DEV_SRC" "$nbuild"
  (cd "$nbuild" && configure_nginx_modules "$module" && make -f objs/Makefile modules)
  mkdir -p "$BIN/nginx-modules"
  cp "$nbuild/objs/$VTS_MODULE" "$BIN/.vts.build"
  answers "$name" "$BIN/.vts.build" || { echo "Debian's nginx does not accept the built $VTS_MODULE" >&2; return 1; }
  mv -f "$BIN/.vts.build" "$BIN/$name"
  record "$name" "$BIN/$name"
}

apt_install() {
  "$APT" update -qq
  DEBIAN_FRONTEND=noninteractive "$APT" install -y -qq --no-install-recommends "$@"
}

# ensure_nginx_dev: Debian's nginx (the check) and nginx-dev (the build) for the VTS module;
# installed with apt when missing and we are root, as harness/prereqs.sh does.
ensure_nginx_dev() {
  local packages=()
  [[ -x $NGINX_DEV_SRC/configure && -f $NGINX_DEV_SRC/conf_flags ]] || packages+=(nginx-dev)
  PATH=$PATH:/usr/sbin:/sbin command -v nginx >/dev/null 2>&1 || packages+=(nginx)
  ((${#packages[@]})) || return 0
  if [[ $(id -u) == 0 ]] && command -v "$APT" >/dev/null 2>&1; then
    say "installing ${packages[*]} from Debian (the VTS module is built against nginx-dev and checked with Debian's nginx)"
    progress::run "installing ${packages[*]} with $APT" 60 apt_install "${packages[@]}"
    # The distribution's nginx service is not wanted: the lab runs its own nginx.
    if command -v systemctl >/dev/null 2>&1 && systemctl is-enabled nginx >/dev/null 2>&1; then
      systemctl disable --now nginx >/dev/null 2>&1 || true
    fi
    [[ -x $NGINX_DEV_SRC/configure ]] || die "nginx-dev installed, but there is no $NGINX_DEV_SRC/configure"
  else
    die "the VTS module needs Debian's ${packages[*]}: sudo apt-get install -y ${packages[*]}"
  fi
}

# --- the lab's virt-launcher ---------------------------------------------------------------------

# virt_launcher check|deps|build: the lab's virt-launcher (harness/standins/virt-launcher, the
# "compute" container's /entrypoint.sh of the kubevirt/virt-launcher:v0.4.1 image in
# harness/standins/kubelet/images.ts), built in the KubeVirt v0.4.1 work tree as
# cmd/virt-launcher-lab with cgo (KubeVirt's cmd server imports virtwrap, which imports
# libvirt-go: Debian's libvirt-dev, linked and never connected to), and beside it
# virt-launcher-driver (its driver/, cmd/virt-launcher-lab-driver: KubeVirt's cmd client and
# notify server, for test/virt-launcher.test.ts). The sha256 of the Go sources is recorded beside
# the binary (.versions/virt-launcher.sources): when the repository's differ, it counts as missing.
#   check    the record of the sources matches, the driver is there, and so is the node's
#            /usr/sbin/dhclient (isc-dhcp-client), which the guest runs
#   deps     Debian's libvirt-dev (the build) and isc-dhcp-client installed (apt, as root), else
#            stop naming them
#   build    both built from the repository's sources, then recorded
virt_launcher() {
  local src=$HARNESS/standins/virt-launcher tree sum
  sum=$(cd "$src" && find . -name '*.go' -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
  case $1 in
    check)
      [[ -x $BIN/virt-launcher-driver && -x /usr/sbin/dhclient && -f $VERSIONS/virt-launcher.sources &&
        $(<"$VERSIONS/virt-launcher.sources") == "$sum" ]] ;;
    deps)
      command -v cc >/dev/null 2>&1 || die "the lab's virt-launcher is built with cgo: 'cc' is not on PATH (sudo apt-get install -y gcc)"
      local packages=()
      pkg-config --exists libvirt 2>/dev/null || packages+=(libvirt-dev pkg-config)
      [[ -x /usr/sbin/dhclient ]] || packages+=(isc-dhcp-client)
      ((${#packages[@]})) || return 0
      if [[ $(id -u) != 0 ]] || ! command -v "$APT" >/dev/null 2>&1; then
        die "the lab's virt-launcher is built with Debian's libvirt-dev (libvirt-go, cgo) and its guest runs isc-dhcp-client: sudo apt-get install -y ${packages[*]}"
      fi
      progress::run "installing ${packages[*]} with $APT (the lab's virt-launcher and its guest)" 30 apt_install "${packages[@]}"
      ;;
    build)
      tree=$(tree_of kubevirt)
      rm -rf "$tree/cmd/virt-launcher-lab" "$tree/cmd/virt-launcher-lab-driver"
      mkdir -p "$tree/cmd/virt-launcher-lab" "$tree/cmd/virt-launcher-lab-driver" "$VERSIONS"
      cp "$src"/*.go "$tree/cmd/virt-launcher-lab/"
      cp "$src"/driver/*.go "$tree/cmd/virt-launcher-lab-driver/"
      CGO_ENABLED=1 gopath_go "$tree" build -trimpath -ldflags "-s -w" -o "$BIN/.virt-launcher.build" ./cmd/virt-launcher-lab || return
      CGO_ENABLED=0 gopath_go "$tree" build -trimpath -ldflags "-s -w" -o "$BIN/.virt-launcher-driver.build" ./cmd/virt-launcher-lab-driver || return
      mv -f "$BIN/.virt-launcher-driver.build" "$BIN/virt-launcher-driver"
      mv -f "$BIN/.virt-launcher.build" "$BIN/virt-launcher"
      record virt-launcher "$BIN/virt-launcher"
      echo "$sum" >"$VERSIONS/virt-launcher.sources"
      ;;
  esac
}

# usual_seconds NAME: how long building NAME usually takes on a 2-core machine, in this order
# (each later one sharing the build cache of the ones before); measured cold (harness/README.md).
usual_seconds() {
  case $1 in
    cni/bridge) echo 40 ;; # the first Go build: the standard library too, when the build cache is cold
    cni/*) echo 2 ;;
    flanneld) echo 300 ;;
    kube-dns) echo 150 ;;
    dnsmasq-nanny | sidecar) echo 3 ;;
    virt-controller) echo 60 ;;
    virt-api | virt-handler) echo 10 ;;
    virt-launcher) echo 200 ;; # libvirt-go's cgo, once; then about 10 s
    nginx-ingress-controller) echo 150 ;;
    nginx-modules/*) echo 45 ;;
  esac
}

build_missing() {
  local names=("$@") name group groups=() modules
  for name in "${names[@]}"; do
    group=${GROUP[$name]}
    [[ " ${groups[*]} " == *" $group "* ]] || groups+=("$group")
  done
  mkdir -p "$BIN"
  [[ ${groups[*]} == vts ]] || go_env
  for group in "${groups[@]}"; do
    case $group in
      cni)
        mapfile -t modules < <(cni_modules_to_download)
        if ((${#modules[@]})); then
          progress::run "downloading ${#modules[@]} Go modules (CNI plugins $CNI_VERSION and its dependencies)" 20 download_modules "${modules[@]}"
        fi
        cni_tree_ready || progress::run "laying the GOPATH work tree in $(tree_of cni)" 1 prepare_cni_tree
        ;;
      vts)
        tree_ready vts || progress::run "unpacking $VTS_ARCHIVE into $(tree_of vts)" 1 unpack_tree vts
        ;;
      *) tree_ready "$group" || progress::run "unpacking $(archive_of "$group") into $(tree_of "$group")" 2 unpack_tree "$group" ;;
    esac
    for name in "${names[@]}"; do
      [[ ${GROUP[$name]} == "$group" ]] || continue
      if [[ $group == vts ]]; then
        progress::run "building $VTS_MODULE $VTS_VERSION against Debian's nginx-dev" "$(usual_seconds "$name")" build_vts
      elif [[ $name == virt-launcher ]]; then
        progress::run "building the lab's virt-launcher in the KubeVirt $KUBEVIRT_VERSION tree" "$(usual_seconds "$name")" virt_launcher build
      else
        progress::run "building $name ${VERSION[$name]}" "$(usual_seconds "$name")" build_go "$name"
      fi
    done
  done
}

# --- the lab's images of ingress-nginx 0.13.0 and its default backend ------------------------------

# ingress_image check|build: what the lab's images of the ingress-nginx 0.13.0 controller and of
# defaultbackend 1.4 need beside nginx-ingress-controller and the VTS module (harness/images/
# README.md; their IMAGES entries in harness/standins/kubelet/images.ts), in $BIN:
#   ingress-nginx-image/   0.13.0's rootfs/etc/nginx/{nginx.conf,lua/,template/nginx.tmpl} and
#                          rootfs/ingress-controller/*.sh, taken from the release source, the
#                          template fitted to Debian's nginx by harness/images/ingress-nginx/
#                          nginx.tmpl.patch; etc/nginx/geoip/GeoIP.dat, Debian's geoip-database
#   404-server             images/404-server of the 0.13.0 tree (defaultbackend:1.4), built as
#                          its Makefile does (CGO_ENABLED=0, -w -s) with its own vendor/
#   ingress-nginx-offline  harness/images/ingress-nginx/offline (the controller's nginx steps
#                          without an API server), built in the tree as cmd/kubevirt-lab-offline
# `check` is a record (.versions/ingress-nginx-image: the archive's and the inputs' sha256) and
# the files being there; `build` lays them anew (each through a temporary name) and checks that
# the patched template renders the post's configuration (ingress-nginx-offline -print).
ingress_image() {
  local image=$BIN/ingress-nginx-image rec=$VERSIONS/ingress-nginx-image
  local patch=$HARNESS/images/ingress-nginx/nginx.tmpl.patch offline=$HARNESS/images/ingress-nginx/offline/main.go
  local geoip=/usr/share/GeoIP/GeoIP.dat stamp tree tmp out
  stamp="$INGRESS_SHA $(cat "$patch" "$offline" "$geoip" 2>/dev/null | sha256sum | cut -d' ' -f1)"
  if [[ $1 == check ]]; then
    [[ -f $rec && $(<"$rec") == "$stamp" && -f $image/etc/nginx/template/nginx.tmpl && -d $image/etc/nginx/lua &&
      -f $image/etc/nginx/geoip/GeoIP.dat && -x $BIN/404-server && -x $BIN/ingress-nginx-offline ]]
    return
  fi
  [[ -f $geoip ]] || die "the ingress-nginx image needs Debian's GeoIP country database $geoip: sudo apt-get install -y geoip-database"
  command -v patch >/dev/null 2>&1 || die "the ingress-nginx image's template is patched with 'patch': sudo apt-get install -y patch"
  command -v go >/dev/null 2>&1 || die "the ingress-nginx image's 404-server and ingress-nginx-offline are built with 'go', not on PATH"
  check_archive "$INGRESS_ARCHIVE" "$INGRESS_SHA"
  go_env
  tree=$(tree_of ingress-nginx)
  tree_ready ingress-nginx || progress::run "unpacking $INGRESS_ARCHIVE into $tree" 2 unpack_tree ingress-nginx
  # the image's rootfs files, from the archive (not the work tree, whose files a build may touch)
  tmp=$DP_DIR/src/ingress-nginx-image.tmp
  rm -rf "$tmp" "$image.tmp"
  mkdir -p "$tmp" "$image.tmp/etc/nginx/geoip" "$(dirname "$rec")"
  tar -xzf "$UPSTREAM/$INGRESS_ARCHIVE" -C "$tmp" --strip-components=1 --wildcards '*/rootfs/etc/nginx/*' '*/rootfs/ingress-controller/*'
  (cd "$tmp" && patch -p1 --forward --no-backup-if-mismatch --quiet <"$patch") || die "$patch does not apply to $INGRESS_ARCHIVE's rootfs/etc/nginx/template/nginx.tmpl"
  cp -R "$tmp/rootfs/etc/nginx/nginx.conf" "$tmp/rootfs/etc/nginx/lua" "$tmp/rootfs/etc/nginx/template" "$image.tmp/etc/nginx/"
  cp -R "$tmp/rootfs/ingress-controller" "$image.tmp/"
  cp "$geoip" "$image.tmp/etc/nginx/geoip/GeoIP.dat"
  rm -rf "$tmp"
  mkdir -p "$tree/cmd/kubevirt-lab-offline"
  cp "$offline" "$tree/cmd/kubevirt-lab-offline/main.go"
  progress::run "building 404-server (defaultbackend 1.4) from $INGRESS_ARCHIVE" 15 \
    gopath_go "$tree" build -trimpath -ldflags "-w -s" -o "$BIN/.404-server.build" ./images/404-server
  progress::run "building ingress-nginx-offline in the ingress-nginx $INGRESS_VERSION tree" 20 \
    gopath_go "$tree" build -trimpath -ldflags "-s -w" -o "$BIN/.ingress-nginx-offline.build" ./cmd/kubevirt-lab-offline
  out=$("$BIN/.ingress-nginx-offline.build" -print -template "$image.tmp/etc/nginx/template/nginx.tmpl" \
    -configmap enable-vts-status=true -rule "nodejs-ex nodejs nodejs.ingress.virtomation.com / nodejs 8080 127.0.0.1:8080" 2>&1) ||
    die "the patched template does not render: $out"
  [[ $out == *"load_module /etc/nginx/modules/$VTS_MODULE;"* && $out == *"vhost_traffic_status_zone shared:"* ]] ||
    die "the patched template renders without the VTS module or its zone"
  rm -rf "$image"
  mv "$image.tmp" "$image"
  mv -f "$BIN/.404-server.build" "$BIN/404-server"
  mv -f "$BIN/.ingress-nginx-offline.build" "$BIN/ingress-nginx-offline"
  echo "$stamp" >"$rec"
}

# --- main ----------------------------------------------------------------------------------------

export_line() { echo "export KUBEVIRT_LAB_DATAPLANE_BIN=$BIN"; }

read -r -a missing <<<"$(missing_binaries)"

if [[ $mode == check ]]; then
  if ((${#missing[@]})); then
    echo "dataplane: missing or not at their versions in $BIN: ${missing[*]}" >&2
    exit 1
  fi
  if [[ " ${wanted[*]} " == *" nginx-ingress-controller "* ]] && ! ingress_image check; then
    echo "dataplane: missing or not current in $BIN: ingress-nginx-image (the ingress-nginx images' files)" >&2
    exit 1
  fi
  if ((app)) && ! bash "$HARNESS/app-stage.sh" --check; then exit 1; fi
  info "all of ${wanted[*]} in $BIN"
  exit 0
fi

if ((${#missing[@]})); then
  if [[ ${KUBEVIRT_LAB_OFFLINE:-0} != 1 ]] && resolves "$DOWNLOAD_HOST"; then
    still=() cni=()
    for name in "${missing[@]}"; do
      case $name in
        cni/*) cni+=("$name") ;;
        flanneld) progress::run "downloading flanneld $FLANNEL_VERSION from $DOWNLOAD_HOST" 20 download_flanneld || still+=("$name") ;;
        *) still+=("$name") ;;
      esac
    done
    if ((${#cni[@]})); then
      progress::run "downloading the CNI plugins $CNI_VERSION from $DOWNLOAD_HOST" 20 download_cni "${cni[@]}" || still+=("${cni[@]}")
    fi
    missing=("${still[@]}")
    why="the download from $DOWNLOAD_HOST failed or there is no such release binary"
  else
    why="$DOWNLOAD_HOST does not resolve"
    [[ ${KUBEVIRT_LAB_OFFLINE:-0} != 1 ]] || why="KUBEVIRT_LAB_OFFLINE=1"
    info "$why: building ${missing[*]}"
  fi
fi

if ((${#missing[@]})); then
  if [[ " ${missing[*]} " != " nginx-modules/$VTS_MODULE " ]]; then
    command -v go >/dev/null 2>&1 ||
      die "missing in $BIN: ${missing[*]} ($why, and there is no 'go' on PATH to build them)"
  fi
  # Every archive a build needs is checked before anything is unpacked or built.
  checked=()
  for name in "${missing[@]}"; do
    group=${GROUP[$name]}
    [[ $group == cni || " ${checked[*]} " == *" $group "* ]] && continue
    check_archive "$(archive_of "$group")" "$(sha_of "$group")"
    checked+=("$group")
  done
  if [[ " ${missing[*]} " == *" flanneld "* || " ${missing[*]} " == *" nginx-modules/"* ]]; then
    { command -v cc && command -v make; } >/dev/null 2>&1 ||
      die "missing in $BIN: ${missing[*]} ($why, and flanneld's cgo and the VTS module need 'cc' and 'make' on PATH: sudo apt-get install -y gcc make)"
  fi
  # Debian's nginx and nginx-dev before any build (installed here, or named if we cannot).
  [[ " ${missing[*]} " != *" nginx-modules/"* ]] || ensure_nginx_dev
  [[ " ${missing[*]} " != *" virt-launcher "* ]] || virt_launcher deps
  build_missing "${missing[@]}"
fi
# The ingress-nginx images' files come with the controller (the group ingress-nginx).
if [[ " ${wanted[*]} " == *" nginx-ingress-controller "* ]] && ! ingress_image check; then
  ingress_image build
fi

# The app stage's parts (the guests' packages, the app's mirror), each made when it is not current.
if ((app)); then
  if ((verbose)); then bash "$HARNESS/app-stage.sh" -v; else bash "$HARNESS/app-stage.sh"; fi || exit 1
fi

if [[ $mode == setup ]]; then
  echo "# the post's data plane: CNI plugins $CNI_VERSION, flanneld $FLANNEL_VERSION, kube-dns $KUBEDNS_VERSION, KubeVirt $KUBEVIRT_VERSION, ingress-nginx $INGRESS_VERSION, VTS $VTS_VERSION: ${wanted[*]}"
fi
export_line
