#!/usr/bin/env bash
# Runs the application playbook against the inventory that kubevirt-lab's
# Pulumi program writes, with the secrets read from stdin.
#
#   run-playbook.sh <inventory> [--known-hosts <file>] [ansible-playbook option]... < secrets.json
#
# stdin: a YAML or JSON mapping with mongodb_admin_password and
# mongodb_app_password (see README.md). It is written to a 0600 file in a private
# (0700) temporary directory and passed as `-e @<file>`, so that it never appears
# on a command line. The directory goes when the script exits (a trap), and when
# the script is killed without its trap running (SIGKILL, even of its whole
# process group): a guard in a session of its own removes it as soon as the
# script is gone; a next run removes any that a killed machine left.
#
# --known-hosts: the VMs' SSH host keys (known_hosts lines, recorded by the
# program's first run against these VMs): ssh accepts those keys and no other
# (StrictHostKeyChecking=yes). Without it, ssh's own known_hosts apply.
# Extra options go to ansible-playbook (--tags, --skip-tags, -e @file).
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: run-playbook.sh <inventory> [--known-hosts <file>] [ansible-playbook option]... < secrets" >&2
  exit 2
fi
inventory=$1
shift
if [[ ! -r $inventory ]]; then
  echo "run-playbook.sh: inventory '$inventory' is not a readable file" >&2
  exit 2
fi
ssh_args=()
if [[ ${1:-} == --known-hosts ]]; then
  if [[ $# -lt 2 || ! -r $2 ]]; then
    echo "run-playbook.sh: --known-hosts needs a readable known_hosts file" >&2
    exit 2
  fi
  ssh_args=(--ssh-common-args "-o UserKnownHostsFile=$2 -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes")
  shift 2
fi

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
export ANSIBLE_CONFIG="$here/ansible.cfg"

umask 077
tmp=${TMPDIR:-/tmp}
for old in "$tmp"/kubevirt-lab-ansible.*; do # what a killed run on a killed machine left
  pid=${old##*.}
  pid=${pid%%-*}
  if [[ -d $old && $pid =~ ^[0-9]+$ ]] && ! kill -0 "$pid" 2>/dev/null; then rm -rf -- "$old"; fi
done
secrets_dir=$(mktemp -d "$tmp/kubevirt-lab-ansible.$$-XXXXXX")
trap 'rm -rf -- "$secrets_dir"' EXIT
# shellcheck disable=SC2016 # the guard's own script
setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 0.2; done; rm -rf -- "$2"' kvl-secrets-guard $$ "$secrets_dir" \
  </dev/null >/dev/null 2>&1 &
secrets="$secrets_dir/secrets.yml"
cat >"$secrets"
if [[ ! -s $secrets ]]; then
  echo "run-playbook.sh: no secrets on stdin (want mongodb_admin_password and mongodb_app_password)" >&2
  exit 2
fi

# Not exec: the EXIT trap must remove the secrets after the run.
ansible-playbook -i "$inventory" "$here/playbooks/main.yml" -e "@$secrets" ${ssh_args[@]+"${ssh_args[@]}"} "$@"
