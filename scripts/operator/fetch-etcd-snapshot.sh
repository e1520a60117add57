#!/usr/bin/env bash
# fetch-etcd-snapshot.sh: on the operator's machine, before `pulumi destroy` resets the master:
# runs the master's steps/etcd-snapshot/etcd-snapshot.sh over SSH and keeps what it prints in a 0600
# file of a 0700 directory, and prints that file's path (README, "Restoring the etcd snapshot").
#
#   fetch-etcd-snapshot.sh --address <ip> --port <n> --user <user> --host-key '<type> <base64>'
#                          --node <name> --dir <directory> --prefix <file name prefix>
#                          --remote <file> [--key-file <path>]
#
# The file is <directory>/<prefix>-<UTC time>.db. --remote: the command line that runs
# etcd-snapshot.sh on the master (components/remote.ts hostScript, as every host step). The master must offer --host-key (no other key is accepted).
# The SSH key: --key-file, else the private key on stdin, which only an ssh-agent of this script
# holds (in memory; the agent ends with the script, however it ends). The snapshot lands in a private temporary
# directory first and is moved into --dir only once whole; the temporary directory goes when
# the script ends, and a next run removes what a killed one left (its pid gone).
set -euo pipefail
umask 077

die() {
  printf 'fetch-etcd-snapshot.sh: %s\n' "$*" >&2
  exit 1
}

declare -A arg=([key-file]="")
while (($#)); do
  [[ $1 == --* && $# -ge 2 ]] || die "usage: fetch-etcd-snapshot.sh --address <ip> --port <n> --user <user> --host-key <key> --node <name> --dir <dir> --prefix <prefix> --remote <file> [--key-file <path>]"
  arg[${1#--}]=$2
  shift 2
done
for k in address port user host-key node dir prefix remote; do [[ -n ${arg[$k]:-} ]] || die "--$k is required"; done

tmp_base=${TMPDIR:-/tmp}
for old in "$tmp_base"/kubevirt-lab-etcd.*; do
  [[ -d $old ]] || continue
  pid=${old##*.}
  pid=${pid%%-*}
  if [[ $pid =~ ^[0-9]+$ ]] && ! kill -0 "$pid" 2>/dev/null; then rm -rf -- "$old"; fi
done
work=$(mktemp -d "$tmp_base/kubevirt-lab-etcd.$$-XXXXXX")
trap 'rm -rf -- "$work"' EXIT
trap 'exit 130' INT TERM

port=${arg[port]}
target=${arg[address]}
[[ $port == 22 ]] || target="[$target]:$port"
printf '%s %s\n' "$target" "${arg[host-key]}" >"$work/known_hosts"
ssh_opts=(-o BatchMode=yes -o ConnectTimeout=15 -o LogLevel=ERROR -o StrictHostKeyChecking=yes
  -o "UserKnownHostsFile=$work/known_hosts" -o GlobalKnownHostsFile=/dev/null -p "$port" -l "${arg[user]}")
if [[ -n ${arg[key-file]} ]]; then
  ssh_opts+=(-i "${arg[key-file]}")
else
  # The agent holds the key in memory; a guard in a session of its own ends it, and removes the
  # work directory, as soon as this script is gone, however it ended (SIGKILL of its group too).
  # shellcheck disable=SC2016 # the guard's own script
  setsid bash -c 'ssh-agent -D -a "$1" >/dev/null 2>&1 & a=$!
    while kill -0 "$2" 2>/dev/null && kill -0 "$a" 2>/dev/null; do sleep 0.2; done
    kill "$a" 2>/dev/null; rm -rf -- "${1%/*}"' kvl-agent-guard "$work/agent.sock" $$ </dev/null >/dev/null 2>&1 &
  for _ in $(seq 100); do
    if [[ -S $work/agent.sock ]]; then break; fi
    sleep 0.05
  done
  SSH_AUTH_SOCK=$work/agent.sock ssh-add -q -t 600 - || die "ssh-add could not hold the SSH key (given on stdin) in memory"
  ssh_opts+=(-o "IdentityAgent=$work/agent.sock")
fi

# shellcheck disable=SC2029 # the command line is meant to expand here: it is the one the master runs
ssh "${ssh_opts[@]}" "${arg[address]}" "$(cat -- "${arg[remote]}")" </dev/null >"$work/snapshot.db" ||
  die "no etcd snapshot of ${arg[node]}: the master's etcd-snapshot.sh failed (see above); nothing was reset"
if [[ ! -s $work/snapshot.db ]]; then
  echo "kubevirt-lab: no etcd snapshot of ${arg[node]}: it has no etcd data"
  exit 0
fi
dir=${arg[dir]}
mkdir -p -- "$dir"
chmod 700 -- "$dir"
file=$dir/${arg[prefix]}-$(date -u +%Y%m%dT%H%M%SZ).db
mv -- "$work/snapshot.db" "$file"
echo "kubevirt-lab: etcd snapshot of ${arg[node]} kept at $file ($(stat -c %s -- "$file") bytes; README, \"Restoring the etcd snapshot\")"
