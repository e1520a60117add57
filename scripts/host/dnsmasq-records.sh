#!/usr/bin/env bash
# dnsmasq-records.sh: the lab's names in the dnsmasq of the home network (dns1).
#
#   dnsmasq-records.sh apply <conf-path> <ingress-domain> <ingress-ip> <fqdn>=<ip>...
#   dnsmasq-records.sh remove <conf-path>
#
# apply writes <conf-path> (e.g. /etc/dnsmasq.d/virtomation.conf) as the post
# shows it: one `address=/<fqdn>/<ip>` line per node, then the wildcard
# `address=/.<ingress-domain>/<ingress-ip>` that sends every
# <name>.<ingress-domain> to the node running the ingress controller. The new
# content is checked with `dnsmasq --test` before it replaces the file, and
# dnsmasq is restarted only when the file changed.
#
# remove deletes <conf-path> if this script wrote it, and restarts dnsmasq.
set -euo pipefail

readonly me=dnsmasq-records.sh
readonly marker="# Managed by kubevirt-lab (scripts/host/dnsmasq-records.sh): local changes are overwritten."

die() {
  echo "$me: $*" >&2
  exit 1
}

usage() {
  cat >&2 <<'EOF'
usage: dnsmasq-records.sh apply <conf-path> <ingress-domain> <ingress-ip> <fqdn>=<ip>...
       dnsmasq-records.sh remove <conf-path>
EOF
  exit 2
}

is_ipv4() {
  local ip=$1 octet
  [[ $ip =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || return 1
  for octet in "${BASH_REMATCH[@]:1}"; do
    # No leading zeros (dnsmasq and humans read 010 differently), at most 255.
    [[ $octet =~ ^(0|[1-9][0-9]*)$ ]] && ((octet <= 255)) || return 1
  done
}

is_domain() {
  local name=$1 label
  ((${#name} >= 1 && ${#name} <= 253)) || return 1
  [[ $name =~ ^[A-Za-z0-9.-]+$ ]] || return 1
  [[ $name != *..* && $name != .* && $name != *. ]] || return 1
  local IFS=.
  for label in $name; do
    [[ $label =~ ^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$ ]] || return 1
  done
}

check_conf_path() {
  local conf=$1
  [[ $conf == /* ]] || die "conf-path '$conf' must be an absolute path"
  [[ $conf != */ && -n ${conf##*/} ]] || die "conf-path '$conf' must name a file"
  [[ ! -d $conf ]] || die "conf-path '$conf' is a directory"
  [[ -d ${conf%/*}/ ]] || die "the directory of conf-path '$conf' does not exist"
}

restart_dnsmasq() {
  systemctl restart dnsmasq
}

apply() {
  [[ $# -ge 4 ]] || usage
  local conf=$1 domain_arg=$2 ingress_ip=$3 domain
  shift 3
  check_conf_path "$conf"
  domain=${domain_arg#.}
  is_domain "$domain" || die "ingress-domain '$domain_arg' is not a domain name (e.g. ingress.virtomation.com)"
  is_ipv4 "$ingress_ip" || die "ingress-ip '$ingress_ip' is not an IPv4 address"

  local records="" record fqdn ip seen=" "
  for record in "$@"; do
    [[ $record == *=* ]] || die "record '$record' is not of the form <fqdn>=<ip>"
    fqdn=${record%%=*}
    ip=${record#*=}
    is_domain "$fqdn" || die "record '$record': '$fqdn' is not a domain name"
    is_ipv4 "$ip" || die "record '$record': '$ip' is not an IPv4 address"
    [[ $seen != *" $fqdn "* ]] || die "record '$record': $fqdn is given twice"
    seen+="$fqdn "
    records+="address=/$fqdn/$ip"$'\n'
  done

  local content
  content="$marker"$'\n'"$records"$'\n'"# Needed for nginx-ingress"$'\n'"address=/.$domain/$ingress_ip"$'\n'

  if [[ -f $conf ]] && [[ "$(cat -- "$conf"; echo x)" == "${content}x" ]]; then
    echo "kubevirt-lab: $me apply: unchanged"
    return 0
  fi

  # A dot-file beside the target: dnsmasq's conf-dir ignores names starting
  # with a dot, and the final mv stays within one file system.
  local dir=${conf%/*} tmp out
  tmp=$(mktemp "$dir/.${conf##*/}.XXXXXX")
  # shellcheck disable=SC2064 # expand now: $tmp is local
  trap "rm -f -- '$tmp'" EXIT
  printf '%s' "$content" > "$tmp"
  if ! out=$(dnsmasq --test --conf-file="$tmp" 2>&1); then
    die "dnsmasq rejects the new records, $conf is left as it was: ${out//"$tmp"/<new $conf>}"
  fi
  chmod 0644 "$tmp"
  mv -f -- "$tmp" "$conf"
  trap - EXIT
  restart_dnsmasq
  echo "kubevirt-lab: $me apply: changed"
}

remove() {
  [[ $# -eq 1 ]] || usage
  local conf=$1 first=""
  [[ $conf == /* ]] || die "conf-path '$conf' must be an absolute path"
  if [[ ! -e $conf ]]; then
    echo "kubevirt-lab: $me remove: unchanged"
    return 0
  fi
  [[ -f $conf ]] || die "conf-path '$conf' is not a regular file"
  IFS= read -r first < "$conf" || true
  if [[ $first != "$marker" ]]; then
    echo "$me: $conf was not written by kubevirt-lab (no marker line): left in place" >&2
    echo "kubevirt-lab: $me remove: unchanged"
    return 0
  fi
  rm -f -- "$conf"
  restart_dnsmasq
  echo "kubevirt-lab: $me remove: changed"
}

[[ $# -ge 1 ]] || usage
action=$1
shift
case $action in
  apply) apply "$@" ;;
  remove) remove "$@" ;;
  *) usage ;;
esac
