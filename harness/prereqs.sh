#!/usr/bin/env bash
# harness/prereqs.sh: what a README command needs on this machine, set up when it is missing.
#
#   harness/prereqs.sh lab | test | e2e | bench | lint
#
# Each npm script the README gives runs this first. For the programs it runs for real it checks
# PATH; what is missing is installed from Debian's packages when we are root with apt-get
# (saying what and why), else it stops at once with one line naming what is missing and the
# command that installs it. Then node_modules (npm ci), and where the command needs them, the
# Pulumi engine (harness/engine.sh), Kubernetes 1.9.4's binaries (harness/kubernetes.sh: the
# e2e and the lab of real Kubernetes run them), the post's data-plane binaries
# (harness/dataplane.sh: CNI plugins, flanneld, kube-dns, KubeVirt, ingress-nginx and its VTS
# module) and actionlint (harness/dev-tools.sh). A machine that has everything passes in about a
# second, silently.
#
# Environment: KUBEVIRT_LAB_PREREQS=packages checks the Debian packages only;
# KUBEVIRT_LAB_APT (default apt-get) is the installer (the tests put a recording one there).
set -euo pipefail

HARNESS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HARNESS")
APT=${KUBEVIRT_LAB_APT:-apt-get}

# program|Debian package|why it is needed
readonly LAB_TOOLS="sshd|openssh-server|the simulated hosts run a real OpenSSH server
ssh|openssh-client|the tests reach the simulated hosts over SSH
ssh-keygen|openssh-client|the simulated lab makes its SSH keys
ip|iproute2|the simulated lab is network namespaces joined by veth pairs
unshare|util-linux|the simulated hosts and the script sandboxes are mount namespaces
nsenter|util-linux|commands run inside the simulated hosts
dnsmasq|dnsmasq|dns1 runs a real dnsmasq
dig|dnsutils|the lab's names are checked with dig
curl|curl|the lab's pages are fetched
sudo|sudo|the host scripts run through sudo -n for a non-root SSH user
iptables|iptables|in a lab of real Kubernetes, real kubeadm's preflight needs iptables in PATH and kube-proxy 1.9.4 writes its rules with it
ansible-playbook|ansible|the app stage runs the Ansible roles for real, into the VMs' guests
tcpdump|tcpdump|a learner looks at the lab's packets with it
ping|iputils-ping|npm run diagnose pings the overlay from the nodes and the gateway from the VMs' guests (the lab's hosts and guests run this machine's programs)
conntrack|conntrack|a learner looks at the lab's conntrack table with it
nginx|nginx|ingress-nginx's controller runs Debian's nginx with the VTS module
dumb-init|dumb-init|the lab's ingress-nginx 0.13.0 image runs its controller under dumb-init, the image's entrypoint
setpriv|util-linux|the lab's defaultbackend 1.4 image runs its server as the image's user 65534
/usr/lib/nginx/modules/ndk_http_module.so|libnginx-mod-http-ndk|the ingress-nginx 0.13.0 template loads ngx_devel_kit, which its Lua module needs (built into the image's nginx)
/usr/lib/nginx/modules/ngx_http_lua_module.so|libnginx-mod-http-lua|the ingress-nginx 0.13.0 template runs Lua (init_by_lua_block, a log_by_lua_block in every location)
/usr/lib/nginx/modules/ngx_http_headers_more_filter_module.so|libnginx-mod-http-headers-more-filter|the ingress-nginx 0.13.0 template sets headers with more_set_headers
/usr/lib/nginx/modules/ngx_http_geoip_module.so|libnginx-mod-http-geoip|the ingress-nginx 0.13.0 template's geoip_country (use-geoip is on by default)
/usr/lib/nginx/modules/ngx_stream_module.so|libnginx-mod-stream|the ingress-nginx 0.13.0 template's stream block (TCP and UDP services)
/usr/share/GeoIP/GeoIP.dat|geoip-database|the ingress-nginx image's /etc/nginx/geoip/GeoIP.dat (the country database)"
readonly DIAGNOSE_TOOLS="dot|graphviz|npm run diagnose draws the packet paths with Graphviz's dot (SVG, PNG)"
readonly TEST_TOOLS="shellcheck|shellcheck|every host script is checked by shellcheck
ansible-lint|ansible-lint|the Ansible roles are linted"

case ${1:-} in
  lab | e2e) tools=$LAB_TOOLS$'\n'$DIAGNOSE_TOOLS ;;
  bench) tools=$LAB_TOOLS ;;
  test) tools=$LAB_TOOLS$'\n'$DIAGNOSE_TOOLS$'\n'$TEST_TOOLS ;;
  lint) tools="" ;;
  *) echo "usage: harness/prereqs.sh lab|test|e2e|bench|lint (the user commands check with tools/need.sh)" >&2; exit 2 ;;
esac
what=$1

# have TOOL: a program on PATH, or (an absolute path: a module or a data file) a file there.
have() { if [[ $1 == /* ]]; then [[ -e $1 ]]; else command -v "$1" >/dev/null 2>&1; fi; }

missing_tools=() packages=() reasons=()
while IFS='|' read -r tool package why; do
  [[ -n $tool ]] || continue
  have "$tool" && continue
  missing_tools+=("$tool")
  reasons+=("$tool ($package: $why)")
  [[ " ${packages[*]} " == *" $package "* ]] || packages+=("$package")
done <<<"$tools"

if ((${#missing_tools[@]} > 0)); then
  if [[ $(id -u) == 0 ]] && command -v "$APT" >/dev/null 2>&1; then
    for r in "${reasons[@]}"; do echo "prereqs: installing $r" >&2; done
    "$APT" update -qq >&2
    DEBIAN_FRONTEND=noninteractive "$APT" install -y -qq --no-install-recommends "${packages[@]}" >&2
    for t in "${missing_tools[@]}"; do
      have "$t" || { echo "prereqs: $t is still missing after installing ${packages[*]}" >&2; exit 1; }
    done
  else
    printf -v list '%s, ' "${reasons[@]}"
    echo "prereqs: missing for npm run $what: ${list%, }; install them with: sudo apt-get install -y ${packages[*]}" >&2
    exit 1
  fi
fi
# The distribution's dnsmasq and nginx services are not wanted: the tests and the simulated lab
# start their own.
for service in dnsmasq nginx; do
  if [[ " ${packages[*]} " == *" $service "* ]] && command -v systemctl >/dev/null && systemctl is-enabled "$service" >/dev/null 2>&1; then
    systemctl disable --now "$service" >/dev/null 2>&1 || true
  fi
done
[[ ${KUBEVIRT_LAB_PREREQS:-all} == packages ]] && exit 0

if [[ ! -d $REPO/node_modules/@pulumi/pulumi ]]; then
  echo "prereqs: node_modules is missing: npm ci" >&2
  (cd "$REPO" && npm ci --no-audit --no-fund >&2)
fi
case $what in
  lab | e2e | bench)
    bash "$HARNESS/engine.sh" --check 2>/dev/null || bash "$HARNESS/engine.sh" --print-env >/dev/null
    ;;
esac
case $what in
  lab | e2e | bench)
    bash "$HARNESS/kubernetes.sh" --check >/dev/null 2>&1 || bash "$HARNESS/kubernetes.sh" >&2
    bash "$HARNESS/dataplane.sh" --check >/dev/null 2>&1 || bash "$HARNESS/dataplane.sh" >&2
    ;;
  test) bash "$HARNESS/dev-tools.sh" ;;
esac
