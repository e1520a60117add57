#!/usr/bin/env bash
# netfacts.sh: the host's network as the post's deep dive reads it, for `npm run diagnose`
# (tools/diagnose.ts). Read-only: it only lists (ip, bridge, iptables-save, ss) and reads files
# (/proc/sys, /run/flannel/subnet.env); the pings it sends to the other nodes' flannel.1 addresses
# (one each, one second at most) change nothing either.
#
#   netfacts.sh
#
# stdout is one section per fact, each opened by a line `### netfacts <name> <exit status>` and
# holding that command's output as it printed it (mostly JSON: ip -j, bridge -j):
#
#   ip-link ip-addr ip-route bridge-link   ip -j -d link, ip -j addr, ip -j route, bridge -j link
#   fdb-flannel neigh-flannel              bridge -j fdb / ip -j neigh of flannel.1 (the VTEPs)
#   iptables-version iptables-save         `iptables -V` (which backend `iptables` is) and its rules
#   iptables-legacy-save iptables-nft-save each backend's rules, where the host has both programs
#   sysctl                                 `<key> <value>` or `<key> missing`, read from /proc/sys
#                                          (sysctl -n says the same; a missing key: br_netfilter not loaded)
#   subnet-env                             /run/flannel/subnet.env (flanneld's lease of this node)
#   listen                                 ss -Hltnp: the TCP ports listened on (kube-proxy's NodePorts)
#   netns                                  ip -j netns list: the pods' network namespaces (CNI's, /run/netns)
#   netns-addr <name>                      ip -j addr in each of them
#   ping <address>                         one ping of each flannel.1 gateway of the routes (the other
#                                          nodes' flannel.1), its exit status only (0: answered)
set -euo pipefail

SCRIPT=netfacts.sh
# shellcheck source=../lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh" # kubevirt-lab:lib
OPTIONS[run]=''
# stdout is data
STATUS_FD=2

# section <name> <command...>: the command's output under its header line (stderr dropped).
section() {
  local name=$1 out rc=0
  shift
  out=$("$@" 2>/dev/null) || rc=$?
  printf '### netfacts %s %s\n%s\n' "$name" "$rc" "$out"
}

# sysctls: the keys the deep dive needs, read from /proc/sys (what `sysctl -n <key>` reads).
sysctls() {
  local key file
  for key in net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables net.ipv4.ip_forward; do
    file=/proc/sys/${key//.//}
    if [[ -r $file ]]; then printf '%s %s\n' "$key" "$(<"$file")"; else printf '%s missing\n' "$key"; fi
  done
}

# gateways: the `via` addresses of the routes through flannel.1 (each another node's flannel.1).
gateways() {
  ip route show dev flannel.1 2>/dev/null | awk '$2 == "via" { print $3 }' | sort -u
}

run() {
  local ns gw
  section ip-link ip -j -d link show
  section ip-addr ip -j addr show
  section ip-route ip -j route show
  section bridge-link bridge -j link show
  if ip link show dev flannel.1 >/dev/null 2>&1; then
    section fdb-flannel bridge -j fdb show dev flannel.1
    section neigh-flannel ip -j neigh show dev flannel.1
  fi
  section iptables-version iptables -V
  section iptables-save iptables-save
  if command -v iptables-legacy-save >/dev/null; then section iptables-legacy-save iptables-legacy-save; fi
  if command -v iptables-nft-save >/dev/null; then section iptables-nft-save iptables-nft-save; fi
  section sysctl sysctls
  section subnet-env cat /run/flannel/subnet.env
  section listen ss -Hltnp
  section netns ip -j netns list
  while read -r ns; do
    if [[ -n $ns ]]; then section "netns-addr $ns" ip -n "$ns" -j addr show; fi
  done < <(ip netns list 2>/dev/null | awk '{ print $1 }')
  # the pings run at once; each one's exit status (0: answered) is its section, in order
  local gws=() pids=() i rc
  mapfile -t gws < <(gateways)
  for gw in "${gws[@]}"; do
    ping -n -q -c 1 -W 1 "$gw" >/dev/null 2>&1 &
    pids+=($!)
  done
  for i in "${!gws[@]}"; do
    rc=0
    wait "${pids[$i]}" || rc=$?
    printf '### netfacts ping %s %s\n\n' "${gws[$i]}" "$rc"
  done
}

kvl::main "$@"
