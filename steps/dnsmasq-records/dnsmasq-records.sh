#!/usr/bin/env bash
# dnsmasq-records.sh: the lab's names in the dnsmasq of the home network (dns1).
#
#   dnsmasq-records.sh apply --conf-path <file> --ingress-domain <domain> --ingress-ip <ip> --record <fqdn>=<ip>...
#   dnsmasq-records.sh remove --conf-path <file>
#
# apply writes <file> (e.g. /etc/dnsmasq.d/virtomation.conf) as the post
# shows it, below a marker line: one `address=/<fqdn>/<ip>` line per record,
# then the wildcard `address=/.<domain>/<ip>` that sends every <name>.<domain>
# to the node running the ingress controller. The new content is checked with
# `dnsmasq --test` before it replaces the file, and dnsmasq is restarted only
# when the file changed. A change is marked (a dot-file beside the file, which
# conf-dir ignores) until dnsmasq has been restarted, so that a run cut off
# between the two still restarts it when run again.
#
# remove deletes <file> if it starts with the marker line (else it is left in
# place), and restarts dnsmasq.
#
# The values were checked by components/config.ts; here only what the host
# decides: the file's directory must exist and the file must not be one. And,
# whatever the argument: the file is one of dnsmasq's conf-dir, directly in
# /etc/dnsmasq.d (no other file of the host is ever written or deleted), and apply
# never replaces a file there that does not start with the marker line.
set -euo pipefail

SCRIPT=dnsmasq-records.sh
# shellcheck source=../lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh" # kubevirt-lab:lib
OPTIONS[apply]='conf-path ingress-domain ingress-ip record+'
OPTIONS[remove]='conf-path'
MARKER="# Managed by kubevirt-lab (scripts/host/dnsmasq-records.sh): local changes are overwritten."
# dnsmasq's conf-dir; test/dnsmasq.test.ts runs the script on this machine with a folder of its own
# (no environment reaches the script over SSH or through sudo).
CONF_DIR=${DNSMASQ_CONF_DIR:-/etc/dnsmasq.d}

# in_conf_dir <path>: the path names a file directly in CONF_DIR (no /, no dot-file, no ..).
in_conf_dir() {
  local name=${1#"$CONF_DIR"/}
  [[ $1 == "$CONF_DIR"/* && $name != */* && $name != .* && -n $name ]] ||
    die "conf-path '$1' is not a file directly in $CONF_DIR: refused"
}

# ours <path>: the file starts with the marker line.
ours() {
  local first=""
  IFS= read -r first <"$1" || true
  [[ $first == "$MARKER" ]]
}

# restart <conf>: `systemctl restart dnsmasq` when a change of <conf> is marked as not yet read by
# dnsmasq (then changed=changed), and the mark dropped.
restart() {
  local mark=${1%/*}/.${1##*/}.restart
  [[ -e $mark ]] || return 0
  systemctl restart dnsmasq
  rm -f -- "$mark"
  changed=changed
}

# apply <fqdn>=<ip>...
apply() {
  local conf=${ARG[conf-path]} records="" record content dir tmp out
  in_conf_dir "$conf"
  for record in "$@"; do
    [[ $record == *=* ]] || die "record '$record' is not of the form <fqdn>=<ip>"
    records+="address=/${record%%=*}/${record#*=}"$'\n'
  done
  content="$MARKER"$'\n'"$records"$'\n'"# Needed for nginx-ingress"$'\n'
  content+="address=/.${ARG[ingress-domain]#.}/${ARG[ingress-ip]}"$'\n'
  if file_is "$conf" "$content"; then
    restart "$conf"
    return 0
  fi

  [[ ! -d $conf ]] || die "conf-path '$conf' is a directory"
  if [[ -e $conf ]] && ! ours "$conf"; then
    die "$conf exists and was not written by kubevirt-lab (no marker line): refusing to replace it (move it away, or set another dnsConfigPath)"
  fi
  dir=${conf%/*}
  [[ -d $dir/ ]] || die "the directory of conf-path '$conf' does not exist"
  # A dot-file beside the target: dnsmasq's conf-dir ignores names starting
  # with a dot, and the final mv stays within one file system.
  tmp=$(mktemp "$dir/.${conf##*/}.XXXXXX")
  # shellcheck disable=SC2064 # expand now: $tmp is local
  trap "rm -f -- '$tmp'" EXIT
  printf '%s' "$content" >"$tmp"
  if ! out=$(dnsmasq --test --conf-file="$tmp" 2>&1); then
    die "dnsmasq rejects the new records, $conf is left as it was: ${out//"$tmp"/<new $conf>}"
  fi
  chmod 0644 "$tmp"
  : >"$dir/.${conf##*/}.restart"
  mv -f -- "$tmp" "$conf"
  trap - EXIT
  changed=changed
  restart "$conf"
}

remove() {
  local conf=${ARG[conf-path]}
  in_conf_dir "$conf"
  if [[ ! -e $conf ]]; then
    restart "$conf"
    return 0
  fi
  [[ -f $conf ]] || die "conf-path '$conf' is not a regular file"
  if ! ours "$conf"; then
    echo "$SCRIPT: $conf was not written by kubevirt-lab (no marker line): left in place" >&2
    return 0
  fi
  : >"${conf%/*}/.${conf##*/}.restart"
  remove_file "$conf"
  restart "$conf"
}

# kubevirt-lab:check {
# check <the apply's options>: the item `file <conf-path>` as apply would write it (apply run in
# check mode: it stops at the comparison, restarts nothing).
OPTIONS[check]=${OPTIONS[apply]}
check() {
  file_is() {
    check_file "$1" "$2"
    return 0
  }
  restart() { :; }
  apply "$@"
}
# kubevirt-lab:check }
kvl::main "$@"
