#!/usr/bin/env bash
# harness/kubernetes.sh: real Kubernetes v1.9.4 binaries for the harness (the release of the post):
#
#   etcd (3.1.11, the etcd vendored by Kubernetes 1.9.4), kube-apiserver, kube-controller-manager,
#   kube-scheduler, kubectl, kubeadm, kubelet, kube-proxy, and kubelet-standin-server (the kubelet
#   API of the kubelet stand-in: harness/standins/kubelet-server, with its self-test
#   kubelet-standin-server-selftest beside it)
#
# in $KUBEVIRT_LAB_CACHE/kubernetes/v1.9.4/bin (default cache ~/.cache/kubevirt-lab), never in the
# repository. For each binary, in this order:
#   1. the one already in that folder, when it answers the right version (quiet, well under 1 s);
#   2. the official download, https://dl.k8s.io/v1.9.4/bin/linux/amd64/<name>, only when
#      dl.k8s.io resolves (`getent hosts`) and KUBEVIRT_LAB_OFFLINE is not 1 (not for etcd and
#      kubelet-standin-server: the Kubernetes release has neither);
#   3. a build from the Go module proxy (GOPROXY as the machine has it): k8s.io/kubernetes@v1.9.4 in
#      GOPATH mode, its Godeps roots filled in from the module cache (the table below), two patches
#      (ugorji/go's base64 alphabet, the hawkular-backed InitialResources admission plugin), the
#      OpenAPI definitions generated as 1.9's Makefile.generated_files does, and the version
#      stamped into pkg/version and client-go's pkg/version. The GOPATH work tree stays in
#      $KUBEVIRT_LAB_CACHE/kubernetes/v1.9.4/src (with the Go build cache, a warm rebuild is quick).
#      kubelet-standin-server is built there too, from a copy of the repository's
#      harness/standins/kubelet-server in cmd/kubelet-standin-server (GOPATH mode: only a package
#      inside the tree sees its vendor/); a sha256 of its Go sources, kept beside the binary
#      (kubelet-standin-server.sha256), makes a changed source count as missing: copied and rebuilt.
#
# usage: harness/kubernetes.sh [-v] [--print-env | --check]
#   (none)       provide all nine; print where they are, the last line being
#                `export KUBEVIRT_LAB_K8S_BIN=<dir>`
#   --print-env  the same, but print only that export line
#   --check      exit 0 if all nine are there at the right version (kubelet-standin-server: and
#                built from the repository's current sources), else 1 naming the missing ones;
#                never downloads nor builds
#   -v           say what is reused (a warm run prints nothing without it)
# Progress and everything else goes to stderr; build logs to $KUBEVIRT_LAB_CACHE/logs/.
#
# Environment:
#   KUBEVIRT_LAB_CACHE     cache root (default ~/.cache/kubevirt-lab)
#   KUBEVIRT_LAB_OFFLINE=1 never try the official download, even where dl.k8s.io resolves
set -euo pipefail

HARNESS=$(cd "${BASH_SOURCE[0]%/*}" && pwd)
# shellcheck source=lib/progress.sh
source "$HARNESS/lib/progress.sh"
# shellcheck source=lib/gomod.sh
source "$HARNESS/lib/gomod.sh"
export PROGRESS_PREFIX=kubernetes

readonly K8S_VERSION=v1.9.4
readonly K8S_COMMIT=bee2d1505c4fe820744d26d41ecd3fdd4a3d6546
readonly K8S_BUILD_DATE=2018-03-12T16:03:13Z # the tag's commit time, as the module proxy has it
readonly ETCD_VERSION=3.1.11
readonly DOWNLOAD_HOST=dl.k8s.io
readonly BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kubeadm kubelet kube-proxy kubelet-standin-server)
# The kubelet stand-in's API server: its sources in the repository, its package in the work tree.
readonly STANDIN_SERVER=kubelet-standin-server
readonly STANDIN_SERVER_SRC=$HARNESS/standins/kubelet-server
# Bumped when the work tree's preparation changes, so that an older tree is laid anew.
readonly TREE_FORMAT=2

CACHE=${KUBEVIRT_LAB_CACHE:-$HOME/.cache/kubevirt-lab}
VER_DIR=$CACHE/kubernetes/$K8S_VERSION
BIN=$VER_DIR/bin
GOPATH_DIR=$VER_DIR # the GOPATH: the tree is $VER_DIR/src/k8s.io/kubernetes
TREE=$GOPATH_DIR/src/k8s.io/kubernetes
TOOLS=$VER_DIR/tools

mode=setup verbose=0
for arg in "$@"; do
  case $arg in
    --print-env) mode=print-env ;;
    --check) mode=check ;;
    -v | --verbose) verbose=1 ;;
    -h | --help) sed -n '2,38p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    *) echo "kubernetes: unknown option '$arg' (use --print-env, --check or -v)" >&2; exit 2 ;;
  esac
done

say() { echo "kubernetes: $*" >&2; }
info() { if ((verbose)); then say "$@"; fi; }
die() { echo "kubernetes: error: $*" >&2; exit 1; }

# --- the dependency table ------------------------------------------------------------------------
# <import path in vendor/> <module> <version>: one row per Godeps root of v1.9.4, at the commit
# Godeps.json names (as the proxy's canonical pseudo-version), or a stand-in where that commit is
# not served (munnerz/goautoneg for bitbucket.org/ww/goautoneg, fvbommel/util for vbom.ml/util,
# govmomi v0.15.0, a 2018 google.golang.org/api, a newer k8s.io/gengo with identical output,
# golang.org/x/crypto of 2018-02-22 for cfssl, blang/semver v3.5.0). The rows after
# "# nodes" are what kubeadm, kubelet and kube-proxy need besides.
deps_table() {
  cat <<'EOF'
bitbucket.org/ww/goautoneg github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822
cloud.google.com/go cloud.google.com/go v0.0.0-20160913182117-3b1ae45394a2
github.com/Azure/azure-sdk-for-go github.com/Azure/azure-sdk-for-go v11.1.1-beta+incompatible
github.com/Azure/go-ansiterm github.com/Azure/go-ansiterm v0.0.0-20170629204627-19f72df4d05d
github.com/Azure/go-autorest github.com/Azure/go-autorest v9.1.0+incompatible
github.com/MakeNowJust/heredoc github.com/MakeNowJust/heredoc v0.0.0-20170808103936-bb23615498cd
github.com/NYTimes/gziphandler github.com/NYTimes/gziphandler v0.0.0-20170623195520-56545f4a5d46
github.com/PuerkitoBio/purell github.com/PuerkitoBio/purell v1.0.0
github.com/PuerkitoBio/urlesc github.com/PuerkitoBio/urlesc v0.0.0-20160726150825-5bd2802263f2
github.com/asaskevich/govalidator github.com/asaskevich/govalidator v0.0.0-20160715170612-593d64559f76
github.com/aws/aws-sdk-go github.com/aws/aws-sdk-go v1.12.7
github.com/beorn7/perks github.com/beorn7/perks v0.0.0-20160229213445-3ac7bf7a47d1
github.com/blang/semver github.com/blang/semver v3.5.0+incompatible
github.com/chai2010/gettext-go github.com/chai2010/gettext-go v0.0.0-20160711120539-c6fed771bfd5
github.com/cloudflare/cfssl github.com/cloudflare/cfssl v0.0.0-20180223231731-4e2dcbde5004
github.com/clusterhq/flocker-go github.com/clusterhq/flocker-go v0.0.0-20160920122132-2b8b7259d313
github.com/cockroachdb/cmux github.com/cockroachdb/cmux v0.0.0-20160228191917-112f0506e774
github.com/codedellemc/goscaleio github.com/codedellemc/goscaleio v0.0.0-20170830184815-20e2ce2cf885
github.com/container-storage-interface/spec github.com/container-storage-interface/spec v0.1.0
github.com/coreos/bbolt github.com/coreos/bbolt v1.3.1-coreos.6
github.com/coreos/etcd github.com/coreos/etcd v3.1.11+incompatible
github.com/coreos/go-oidc github.com/coreos/go-oidc v0.0.0-20170711233713-a4973d9a4225
github.com/coreos/go-semver github.com/coreos/go-semver v0.0.0-20150304020126-568e959cd898
github.com/coreos/go-systemd github.com/coreos/go-systemd v0.0.0-20161114122254-48702e0da86b
github.com/coreos/pkg github.com/coreos/pkg v0.0.0-20160620232715-fa29b1d70f0b
github.com/cpuguy83/go-md2man github.com/cpuguy83/go-md2man v1.0.4
github.com/d2g/dhcp4 github.com/d2g/dhcp4 v0.0.0-20170904100407-a1d1b6c41b1c
github.com/d2g/dhcp4client github.com/d2g/dhcp4client v0.0.0-20170829104524-6e570ed0a266
github.com/davecgh/go-spew github.com/davecgh/go-spew v0.0.0-20170626231645-782f4967f2dc
github.com/daviddengcn/go-colortext github.com/daviddengcn/go-colortext v0.0.0-20160507010035-511bcaf42ccd
github.com/dgrijalva/jwt-go github.com/dgrijalva/jwt-go v0.0.0-20160705203006-01aeca54ebda
github.com/docker/distribution github.com/docker/distribution v0.0.0-20170726174610-edc3ab29cdff
github.com/docker/docker github.com/docker/docker v0.0.0-20170731201938-4f3616fb1c11
github.com/docker/go-connections github.com/docker/go-connections v0.3.0
github.com/docker/go-units github.com/docker/go-units v0.0.0-20170127094116-9e638d38cf69
github.com/docker/spdystream github.com/docker/spdystream v0.0.0-20160310174837-449fdfce4d96
github.com/elazarl/go-bindata-assetfs github.com/elazarl/go-bindata-assetfs v0.0.0-20150624150248-3dcc96556217
github.com/emicklei/go-restful github.com/emicklei/go-restful v0.0.0-20170410110728-ff4f55a20633
github.com/emicklei/go-restful-swagger12 github.com/emicklei/go-restful-swagger12 v0.0.0-20170208215640-dcef7f557305
github.com/evanphx/json-patch github.com/evanphx/json-patch v0.0.0-20170719203123-944e07253867
github.com/exponent-io/jsonpath github.com/exponent-io/jsonpath v0.0.0-20151013193312-d6023ce2651d
github.com/fatih/camelcase github.com/fatih/camelcase v0.0.0-20160318181535-f6a740d52f96
github.com/fsnotify/fsnotify github.com/fsnotify/fsnotify v0.0.0-20160816051541-f12c6236fe7b
github.com/ghodss/yaml github.com/ghodss/yaml v0.0.0-20150909031657-73d445a93680
github.com/go-ini/ini github.com/go-ini/ini v1.25.4
github.com/go-openapi/analysis github.com/go-openapi/analysis v0.0.0-20160815203709-b44dc874b601
github.com/go-openapi/errors github.com/go-openapi/errors v0.0.0-20160704190347-d24ebc2075ba
github.com/go-openapi/jsonpointer github.com/go-openapi/jsonpointer v0.0.0-20160704185906-46af16f9f7b1
github.com/go-openapi/jsonreference github.com/go-openapi/jsonreference v0.0.0-20160704190145-13c6e3589ad9
github.com/go-openapi/loads github.com/go-openapi/loads v0.0.0-20170520182102-a80dea3052f0
github.com/go-openapi/runtime github.com/go-openapi/runtime v0.0.0-20160704190703-11e322eeecc1
github.com/go-openapi/spec github.com/go-openapi/spec v0.0.0-20170914061247-7abd5745472f
github.com/go-openapi/strfmt github.com/go-openapi/strfmt v0.0.0-20160812050534-d65c7fdb29ec
github.com/go-openapi/swag github.com/go-openapi/swag v0.0.0-20170606142751-f3f9494671f9
github.com/go-openapi/validate github.com/go-openapi/validate v0.0.0-20160704191746-deaf2c9013bc
github.com/gogo/protobuf github.com/gogo/protobuf v0.0.0-20170330071051-c0656edd0d9e
github.com/golang/glog github.com/golang/glog v0.0.0-20141105023935-44145f04b68c
github.com/golang/groupcache github.com/golang/groupcache v0.0.0-20160516000752-02826c3e7903
github.com/golang/mock github.com/golang/mock v0.0.0-20160127222235-bd3c8e81be01
github.com/golang/protobuf github.com/golang/protobuf v0.0.0-20171021043952-1643683e1b54
github.com/google/btree github.com/google/btree v0.0.0-20160524151835-7d79101e329e
github.com/google/certificate-transparency-go github.com/google/certificate-transparency-go v1.0.10
github.com/google/gofuzz github.com/google/gofuzz v0.0.0-20161122191042-44d81051d367
github.com/googleapis/gnostic github.com/googleapis/gnostic v0.0.0-20170729233727-0c5108395e2d
github.com/gophercloud/gophercloud github.com/gophercloud/gophercloud v0.0.0-20171127235222-8183543f90d1
github.com/gorilla/websocket github.com/gorilla/websocket v0.0.0-20150714140627-6eb6ad425a89
github.com/gregjones/httpcache github.com/gregjones/httpcache v0.0.0-20170728041850-787624de3eb7
github.com/grpc-ecosystem/go-grpc-prometheus github.com/grpc-ecosystem/go-grpc-prometheus v0.0.0-20170330212424-2500245aa611
github.com/grpc-ecosystem/grpc-gateway github.com/grpc-ecosystem/grpc-gateway v1.1.1-0.20161105223513-84398b94e188
github.com/hashicorp/golang-lru github.com/hashicorp/golang-lru v0.0.0-20160207214719-a0d98a5f2880
github.com/heketi/heketi github.com/heketi/heketi v0.0.0-20170623005005-aaf40619d85f
github.com/howeyc/gopass github.com/howeyc/gopass v0.0.0-20170109162249-bf9dde6d0d2c
github.com/imdario/mergo github.com/imdario/mergo v0.0.0-20141206190957-6633656539c1
github.com/inconshreveable/mousetrap github.com/inconshreveable/mousetrap v0.0.0-20141017200713-76626ae9c91c
github.com/influxdata/influxdb github.com/influxdata/influxdb v1.1.1
github.com/jmespath/go-jmespath github.com/jmespath/go-jmespath v0.0.0-20160202185014-0b12d6b521d8
github.com/jonboulle/clockwork github.com/jonboulle/clockwork v0.0.0-20141017032234-72f9bd7c4e0c
github.com/json-iterator/go github.com/json-iterator/go v0.0.0-20170829155851-36b14963da70
github.com/juju/ratelimit github.com/juju/ratelimit v0.0.0-20170523012141-5b9ff8664717
github.com/kardianos/osext github.com/kardianos/osext v0.0.0-20150410034420-8fef92e41e22
github.com/karlseguin/ccache github.com/karlseguin/ccache v2.0.3-0.20170217060820-3ba9789cfd2c+incompatible
github.com/kr/fs github.com/kr/fs v0.0.0-20131111012553-2788f0dbd169
github.com/libopenstorage/openstorage github.com/libopenstorage/openstorage v0.0.0-20170906232338-093a0c388875
github.com/lpabon/godbc github.com/lpabon/godbc v0.0.0-20140613165803-9577782540c1
github.com/mailru/easyjson github.com/mailru/easyjson v0.0.0-20170624190925-2f5df55504eb
github.com/matttproud/golang_protobuf_extensions github.com/matttproud/golang_protobuf_extensions v0.0.0-20150406173934-fc2b8d3a73c4
github.com/mitchellh/go-wordwrap github.com/mitchellh/go-wordwrap v0.0.0-20150314170334-ad45545899c7
github.com/mitchellh/mapstructure github.com/mitchellh/mapstructure v0.0.0-20170307201123-53818660ed49
github.com/mohae/deepcopy github.com/mohae/deepcopy v0.0.0-20170603005431-491d3605edfb
github.com/mreiferson/go-httpclient github.com/mreiferson/go-httpclient v0.0.0-20160630210159-31f0106b4474
github.com/mxk/go-flowrate github.com/mxk/go-flowrate v0.0.0-20140419014527-cca7078d478f
github.com/opencontainers/go-digest github.com/opencontainers/go-digest v0.0.0-20170106003457-a6d0ee40d420
github.com/opencontainers/image-spec github.com/opencontainers/image-spec v0.0.0-20170604055404-372ad780f634
github.com/pborman/uuid github.com/pborman/uuid v0.0.0-20150603214016-ca53cad383ca
github.com/peterbourgon/diskv github.com/peterbourgon/diskv v2.0.1+incompatible
github.com/pkg/errors github.com/pkg/errors v0.8.0
github.com/pkg/sftp github.com/pkg/sftp v0.0.0-20160930220758-4d0e916071f6
github.com/pmezard/go-difflib github.com/pmezard/go-difflib v0.0.0-20151028094244-d8ed2627bdf0
github.com/prometheus/client_golang github.com/prometheus/client_golang v0.0.0-20170531130054-e7e903064f5e
github.com/prometheus/client_model github.com/prometheus/client_model v0.0.0-20150212101744-fa8ad6fec335
github.com/prometheus/common github.com/prometheus/common v0.0.0-20170427095455-13ba4ddd0caa
github.com/prometheus/procfs github.com/prometheus/procfs v0.0.0-20170519190837-65c1f6f8f0fc
github.com/quobyte/api github.com/quobyte/api v0.0.0-20171020135407-f2b94aa4aa4f
github.com/renstrom/dedent github.com/renstrom/dedent v0.0.0-20150819195903-020d11c3b9c0
github.com/robfig/cron github.com/robfig/cron v0.0.0-20170309132418-df38d32658d8
github.com/rubiojr/go-vhd github.com/rubiojr/go-vhd v0.0.0-20160810183302-0bfd3b39853c
github.com/russross/blackfriday github.com/russross/blackfriday v0.0.0-20151117072312-300106c228d5
github.com/satori/uuid github.com/satori/uuid v0.0.0-20170321230731-5bf94b69c6b6
github.com/shurcooL/sanitized_anchor_name github.com/shurcooL/sanitized_anchor_name v0.0.0-20151028001915-10ef21a441db
github.com/sirupsen/logrus github.com/sirupsen/logrus v0.0.0-20170822132746-89742aefa4b2
github.com/spf13/afero github.com/spf13/afero v0.0.0-20160816080757-b28a7effac97
github.com/spf13/cobra github.com/spf13/cobra v0.0.0-20160722081547-f62e98d28ab7
github.com/spf13/pflag github.com/spf13/pflag v0.0.0-20170130214245-9ff6c6923cff
github.com/square/go-jose github.com/square/go-jose v0.0.0-20160903044734-789a4c4bd4c1
github.com/storageos/go-api github.com/storageos/go-api v0.0.0-20180126153955-3a4032328d99
github.com/ugorji/go github.com/ugorji/go v0.0.0-20170107133203-ded73eae5db7
github.com/vmware/govmomi github.com/vmware/govmomi v0.15.0
github.com/vmware/photon-controller-go-sdk github.com/vmware/photon-controller-go-sdk v0.0.0-20170310013346-4a435daef6cc
github.com/xanzy/go-cloudstack github.com/xanzy/go-cloudstack v0.0.0-20160728180336-1e2cbf647e57
github.com/xiang90/probing github.com/xiang90/probing v0.0.0-20160813154853-07dd2e8dfe18
golang.org/x/crypto golang.org/x/crypto v0.0.0-20180222182404-49796115aa4b
golang.org/x/net golang.org/x/net v0.0.0-20170809000501-1c05540f6879
golang.org/x/oauth2 golang.org/x/oauth2 v0.0.0-20170412232759-a6bd8cefa181
golang.org/x/sys golang.org/x/sys v0.0.0-20171031081856-95c657629925
golang.org/x/text golang.org/x/text v0.0.0-20170810154203-b19bf474d317
golang.org/x/time golang.org/x/time v0.0.0-20161028155119-f51c12702a4d
golang.org/x/tools golang.org/x/tools v0.0.0-20170428054726-2382e3994d48
google.golang.org/api google.golang.org/api v0.0.0-20180603000442-8e296ef26005
google.golang.org/genproto google.golang.org/genproto v0.0.0-20170731182057-09f6ed296fc6
google.golang.org/grpc google.golang.org/grpc v1.3.0
gopkg.in/gcfg.v1 gopkg.in/gcfg.v1 v1.2.0
gopkg.in/inf.v0 gopkg.in/inf.v0 v0.9.0
gopkg.in/natefinch/lumberjack.v2 gopkg.in/natefinch/lumberjack.v2 v2.0.0-20150622162204-20b71e5b60d7
gopkg.in/warnings.v0 gopkg.in/warnings.v0 v0.1.1
gopkg.in/yaml.v2 gopkg.in/yaml.v2 v2.0.0-20150924142314-53feefa2559f
k8s.io/gengo k8s.io/gengo v0.0.0-20180702041517-fdcf9f9480fd
k8s.io/heapster k8s.io/heapster v1.2.0-beta.1
k8s.io/kube-openapi k8s.io/kube-openapi v0.0.0-20171101183504-39a7bf85c140
k8s.io/utils k8s.io/utils v0.0.0-20171122000934-aedf551cdb8b
vbom.ml/util github.com/fvbommel/util v0.0.0-20160121211510-db5cfe13f5cc
# nodes
github.com/dchest/safefile github.com/dchest/safefile v0.0.0-20151022103144-855e8d98f185
github.com/docker/libtrust github.com/docker/libtrust v0.0.0-20150526203908-9cbd2a1374f4
github.com/google/cadvisor github.com/google/cadvisor v0.28.3
github.com/kr/pty github.com/kr/pty v0.0.0-20151007230424-f7ee69f31298
github.com/opencontainers/runc github.com/opencontainers/runc v1.0.0-rc4
golang.org/x/exp golang.org/x/exp v0.0.0-20160623011055-292a51b8d262
github.com/godbus/dbus github.com/godbus/dbus v0.0.0-20151105175453-c7fdd8b5cd55
github.com/opencontainers/runtime-spec github.com/opencontainers/runtime-spec v1.0.0
github.com/docker/libnetwork github.com/docker/libnetwork v0.0.0-20170905174201-ba46b9284449
github.com/vishvananda/netlink github.com/vishvananda/netlink v0.0.0-20170808154308-f5a6f697a596
github.com/vishvananda/netns github.com/vishvananda/netns v0.0.0-20170707011535-86bef332bfc3
github.com/Nvveen/Gotty github.com/Nvveen/Gotty v0.0.0-20120604004816-cd527374f1e5
github.com/appc/spec github.com/appc/spec v0.8.10
github.com/armon/circbuf github.com/armon/circbuf v0.0.0-20150827004946-bbbad097214e
github.com/containernetworking/cni github.com/containernetworking/cni v0.6.0
github.com/coreos/rkt github.com/coreos/rkt v1.25.0
github.com/mistifyio/go-zfs github.com/mistifyio/go-zfs v0.0.0-20151009155749-1b4ae6fb4e77
github.com/opencontainers/selinux github.com/opencontainers/selinux v0.0.0-20170621221121-4a2974bf1ee9
github.com/rancher/go-rancher github.com/rancher/go-rancher v0.0.0-20160922212217-09693a8743ba
go4.org go4.org v0.0.0-20160314031811-03efcb870d84
EOF
}

# --- what is there -------------------------------------------------------------------------------

# version_ok NAME FILE: FILE is an executable that answers NAME's expected version;
# kubelet-standin-server: also with its self-test beside it, built from the repository's current
# sources (the sum kept beside it).
version_ok() {
  local name=$1 file=$2
  answers_version "$name" "$file" || return 1
  [[ $name == "$STANDIN_SERVER" ]] || return 0
  [[ -x $file-selftest && -f $file.sha256 && $(<"$file.sha256") == "$(standin_server_sum)" ]]
}

# answers_version NAME FILE: FILE is an executable that answers NAME's expected version.
answers_version() {
  local name=$1 file=$2 out
  [[ -f $file && -x $file ]] || return 1
  case $name in
    "$STANDIN_SERVER") out=$("$file" --version 2>/dev/null) || return 1
      [[ $out == "$STANDIN_SERVER Kubernetes $K8S_VERSION" ]] ;;
    etcd) out=$("$file" --version 2>/dev/null) || return 1
      [[ $out == *"etcd Version: $ETCD_VERSION"* ]] ;;
    kubectl) out=$("$file" version --client --short 2>/dev/null) || return 1
      [[ $out == "Client Version: $K8S_VERSION" ]] ;;
    kubeadm) out=$("$file" version -o short 2>/dev/null) || return 1
      [[ $out == "$K8S_VERSION" ]] ;;
    *) out=$("$file" --version 2>/dev/null) || return 1
      [[ $out == "Kubernetes $K8S_VERSION" ]] ;;
  esac
}

# standin_server_sum: the sha256 of kubelet-standin-server's Go sources in the repository (their
# paths and contents).
standin_server_sum() {
  (cd "$STANDIN_SERVER_SRC" && find . -type f -name '*.go' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
}

# missing_binaries: prints the names (space-separated) of those not in $BIN at the right version.
# The nine checks run at once (each is a process start of a large binary).
missing_binaries() {
  local name pids=() missing=()
  for name in "${BINARIES[@]}"; do
    version_ok "$name" "$BIN/$name" &
    pids+=("$!")
  done
  local i
  for i in "${!BINARIES[@]}"; do
    if wait "${pids[$i]}"; then info "${BINARIES[$i]}: in $BIN at the right version"; else missing+=("${BINARIES[$i]}"); fi
  done
  echo "${missing[*]}"
}


# --- official download ---------------------------------------------------------------------------

download_one() {
  local name=$1 tmp=$BIN/.$1.download
  curl -fsSL --retry 2 --connect-timeout 20 -o "$tmp" "https://$DOWNLOAD_HOST/$K8S_VERSION/bin/linux/amd64/$name" || return
  chmod 0755 "$tmp" || return
  version_ok "$name" "$tmp" || { echo "the download of $name does not answer $K8S_VERSION" >&2; rm -f "$tmp"; return 1; }
  mv -f "$tmp" "$BIN/$name"
}

# --- build from the Go module proxy --------------------------------------------------------------



# all_modules: "<module>@<version>" of k8s.io/kubernetes and of every row of the table.
all_modules() {
  echo "k8s.io/kubernetes@$K8S_VERSION"
  deps_table | awk '!/^#/ && NF == 3 { print $2 "@" $3 }' | sort -u
}

# modules_to_download: those of all_modules not in the module cache yet, one a line.
modules_to_download() {
  local m
  while read -r m; do
    [[ -d $(module_dir "${m%@*}" "${m#*@}") ]] || echo "$m"
  done < <(all_modules)
}

# download_modules MODULE@VERSION...: fetch them into the module cache.
download_modules() { download_modules_in "$VER_DIR" "$@"; }

# prepare_tree: the GOPATH work tree, laid from the read-only module cache and patched. Each step
# is idempotent; the stamp file says the whole is done.
tree_ready() { [[ -f $TREE/.kubevirt-lab-tree && $(<"$TREE/.kubevirt-lab-tree") == "$TREE_FORMAT" ]]; }

prepare_tree() {
  local stamp=$TREE/.kubevirt-lab-tree
  tree_ready && return 0
  local src tmp
  src=$(module_dir k8s.io/kubernetes "$K8S_VERSION")
  [[ -f $src/Godeps/Godeps.json ]] || { echo "not in the module cache: $src" >&2; return 1; }
  if [[ -d $TREE ]]; then chmod -R u+w "$TREE"; rm -rf "$TREE"; fi
  tmp=$TREE.tmp
  if [[ -d $tmp ]]; then chmod -R u+w "$tmp"; rm -rf "$tmp"; fi
  mkdir -p "${TREE%/*}"
  cp -R "$src" "$tmp"
  chmod -R u+w "$tmp"
  # vendor/k8s.io/<x>: the staging repositories, as 1.9's own tree links them.
  mkdir -p "$tmp/vendor/k8s.io"
  local dir name
  for dir in "$tmp"/staging/src/k8s.io/*/; do
    name=$(basename "$dir")
    ln -sfn "../../staging/src/k8s.io/$name" "$tmp/vendor/k8s.io/$name"
  done
  # vendor/<import path>: the dependency modules (links into the module cache).
  local path module version mdir
  while read -r path module version; do
    [[ -z $path || $path == \#* ]] && continue
    mdir=$(module_dir "$module" "$version")
    [[ -d $mdir ]] || { echo "not in the module cache: $module@$version" >&2; return 1; }
    mkdir -p "$(dirname "$tmp/vendor/$path")"
    ln -sfn "$mdir" "$tmp/vendor/$path"
  done < <(deps_table)
  patch_ugorji "$tmp" || return 1
  patch_plugins "$tmp" || return 1
  mv "$tmp" "$TREE"
  echo "$TREE_FORMAT" >"$stamp"
}

# Patch 1: github.com/ugorji/go/codec's code-generator alphabet ends in "__", a duplicate symbol
# that Go >= 1.22 rejects when the package initialises (every binary panics "encoding alphabet
# includes duplicate symbols"). A private copy, with the last "_" as ".": patch_ugorji
# (harness/lib/gomod.sh).

# Patch 2: the alpha InitialResources admission plugin needs github.com/hawkular/hawkular-client-go,
# which the proxy does not serve: its import and registration lines go. Idempotent.
patch_plugins() {
  local file=$1/cmd/kube-apiserver/app/options/plugins.go
  sed -i -e '\|"k8s.io/kubernetes/plugin/pkg/admission/initialresources"|d' \
    -e '/initialresources\.Register(plugins)/d' "$file"
  ! grep -q initialresources "$file" || { echo "plugins patch did not apply" >&2; return 1; }
}

# gopath_go ARGS: go in GOPATH mode over the work tree.
gopath_go() {
  (cd "$TREE" && GOPATH=$GOPATH_DIR GO111MODULE=off GOFLAGS=-buildvcs=false go "$@")
}

build_openapi_gen() {
  mkdir -p "$TOOLS"
  gopath_go build -o "$TOOLS/openapi-gen" ./vendor/k8s.io/code-generator/cmd/openapi-gen
}

# openapi_dirs: the packages tagged +k8s:openapi-gen= (as Makefile.generated_files finds them:
# the tree without vendor/, staging/, docs/, examples/, _* and .*, plus the staging repositories
# under their vendor/k8s.io names), one import path a line.
openapi_dirs() {
  (
    cd "$TREE"
    find -H . ./vendor/k8s.io/apimachinery ./vendor/k8s.io/apiserver ./vendor/k8s.io/kube-aggregator \
      ./vendor/k8s.io/apiextensions-apiserver ./vendor/k8s.io/metrics ./vendor/k8s.io/sample-apiserver \
      ./vendor/k8s.io/api ./vendor/k8s.io/client-go ./vendor/k8s.io/code-generator ./vendor/k8s.io/sample-controller \
      -not \( \( -path ./vendor -o -path ./staging -o -path './_*' -o -path './.*' -o -path ./docs -o -path ./examples \) -prune \) \
      -type f -name '*.go' -print0 |
      { xargs -0 -r grep -l '^// *+k8s:' || true; } | { xargs -r grep -l '+k8s:openapi-gen=' || true; } |
      sed -e 's|/[^/]*$||' -e 's|^\./|k8s.io/kubernetes/|' | LC_ALL=C sort -u
  )
}

generate_openapi() {
  local dirs
  dirs=$(openapi_dirs | paste -sd, -)
  [[ -n $dirs ]] || { echo "no +k8s:openapi-gen packages found" >&2; return 1; }
  echo "openapi-gen over $(tr , '\n' <<<"$dirs" | wc -l) packages"
  (cd "$TREE" && GOPATH=$GOPATH_DIR GO111MODULE=off "$TOOLS/openapi-gen" \
    --logtostderr \
    -i "$dirs" \
    -p k8s.io/kubernetes/pkg/generated/openapi \
    -O zz_generated.openapi \
    -o "$GOPATH_DIR/src" \
    -h "$TREE/hack/boilerplate/boilerplate.go.txt")
  grep -q 'func GetOpenAPIDefinitions' "$TREE/pkg/generated/openapi/zz_generated.openapi.go"
}

ldflags() {
  local pkg flags="-s -w"
  for pkg in k8s.io/kubernetes/pkg/version k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=9"
    flags+=" -X $pkg.gitCommit=$K8S_COMMIT -X $pkg.gitTreeState=clean -X $pkg.buildDate=$K8S_BUILD_DATE"
  done
  echo "$flags"
}

# package_of NAME: the Go package NAME is built from.
package_of() {
  case $1 in
    etcd) echo ./vendor/github.com/coreos/etcd ;;
    kube-scheduler) echo ./plugin/cmd/kube-scheduler ;;
    "$STANDIN_SERVER") echo "./cmd/$STANDIN_SERVER" ;;
    *) echo "./cmd/$1" ;;
  esac
}

# copy_standin_server: the repository's harness/standins/kubelet-server as the work tree's
# cmd/kubelet-standin-server (laid anew; its selftest/ inside). Prints the sources' sum.
copy_standin_server() {
  local dest=$TREE/cmd/$STANDIN_SERVER
  rm -rf "$dest"
  mkdir -p "$dest"
  cp -R "$STANDIN_SERVER_SRC/." "$dest/"
  standin_server_sum
}

build_one() {
  local name=$1 tmp=$BIN/.$1.build sum=""
  if [[ $name == "$STANDIN_SERVER" ]]; then
    sum=$(copy_standin_server) || return
    gopath_go build -trimpath -ldflags "$(ldflags)" -o "$tmp-selftest" "./cmd/$STANDIN_SERVER/selftest" || return
    mv -f "$tmp-selftest" "$BIN/$name-selftest"
  fi
  gopath_go build -trimpath -ldflags "$(ldflags)" -o "$tmp" "$(package_of "$name")"
  answers_version "$name" "$tmp" || { echo "the built $name does not answer its version:" >&2; "$tmp" --version >&2 || true; return 1; }
  mv -f "$tmp" "$BIN/$name"
  if [[ -n $sum ]]; then echo "$sum" >"$BIN/$name.sha256"; fi
}

# usual_seconds NAME: how long building NAME usually takes on a 2-core machine, in this order
# (etcd first, each later one sharing the build cache of the ones before); measured cold: between
# an idle machine and one busy with other builds (see harness/README.md).
usual_seconds() {
  case $1 in
    etcd) echo 60 ;;
    kube-apiserver) echo 240 ;;
    kube-controller-manager) echo 30 ;;
    kube-scheduler) echo 10 ;;
    kubectl) echo 10 ;;
    kubeadm) echo 30 ;;
    kubelet) echo 20 ;;
    kube-proxy) echo 5 ;;
    "$STANDIN_SERVER") echo 30 ;;
  esac
}

build_missing() {
  local names=("$@") name
  go_env
  export GONOSUMDB=github.com/quobyte/api # not in the checksum database
  mkdir -p "$VER_DIR"
  local modules
  mapfile -t modules < <(modules_to_download)
  if ((${#modules[@]})); then
    progress::run "downloading ${#modules[@]} Go modules (Kubernetes $K8S_VERSION and its dependencies)" 60 download_modules "${modules[@]}"
  fi
  tree_ready || progress::run "laying and patching the GOPATH work tree in $TREE" 5 prepare_tree
  if [[ ! -s $TREE/pkg/generated/openapi/zz_generated.openapi.go ]]; then
    [[ -x $TOOLS/openapi-gen ]] || progress::run "building openapi-gen" 45 build_openapi_gen
    progress::run "generating pkg/generated/openapi (openapi-gen)" 10 generate_openapi
  fi
  for name in "${names[@]}"; do
    progress::run "building $name" "$(usual_seconds "$name")" build_one "$name"
  done
}

# --- main ----------------------------------------------------------------------------------------

export_line() { echo "export KUBEVIRT_LAB_K8S_BIN=$BIN"; }

read -r -a missing <<<"$(missing_binaries)"

if [[ $mode == check ]]; then
  if ((${#missing[@]})); then
    echo "kubernetes: missing or not at $K8S_VERSION in $BIN: ${missing[*]}" >&2
    exit 1
  fi
  info "all of ${BINARIES[*]} in $BIN"
  exit 0
fi

if ((${#missing[@]})); then
  if [[ ${KUBEVIRT_LAB_OFFLINE:-0} != 1 ]] && resolves "$DOWNLOAD_HOST"; then
    mkdir -p "$BIN"
    still=()
    for name in "${missing[@]}"; do
      if [[ $name != etcd && $name != "$STANDIN_SERVER" ]] && progress::run "downloading $name $K8S_VERSION from $DOWNLOAD_HOST" 20 download_one "$name"; then
        continue
      fi
      still+=("$name")
    done
    missing=("${still[@]}")
    why="the download from $DOWNLOAD_HOST failed or has no such binary"
  else
    why="$DOWNLOAD_HOST does not resolve"
    [[ ${KUBEVIRT_LAB_OFFLINE:-0} != 1 ]] || why="KUBEVIRT_LAB_OFFLINE=1"
    info "$why: building ${missing[*]}"
  fi
fi

if ((${#missing[@]})); then
  command -v go >/dev/null 2>&1 ||
    die "missing in $BIN: ${missing[*]} ($why, and there is no 'go' on PATH to build them)"
  mkdir -p "$BIN"
  build_missing "${missing[@]}"
fi

if [[ $mode == setup ]]; then
  echo "# Kubernetes $K8S_VERSION (etcd $ETCD_VERSION): ${BINARIES[*]}"
fi
export_line
