#!/usr/bin/env bash
# Runs the application playbook against the inventory that kubevirt-lab's
# Pulumi program writes, with the secrets read from stdin.
#
#   run-playbook.sh <inventory> [ansible-playbook option]... < secrets.json
#
# stdin: a YAML or JSON mapping with mongodb_admin_password and
# mongodb_app_password (see README.md). It is written to a 0600 file in a
# private temporary directory, passed as `-e @<file>`, and removed when the
# script exits, whatever the outcome. The passwords never appear on a command
# line. Extra options go to ansible-playbook (--tags, --skip-tags, -e @file).
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: run-playbook.sh <inventory> [ansible-playbook option]... < secrets" >&2
  exit 2
fi
inventory=$1
shift
if [[ ! -r $inventory ]]; then
  echo "run-playbook.sh: inventory '$inventory' is not a readable file" >&2
  exit 2
fi

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
export ANSIBLE_CONFIG="$here/ansible.cfg"

umask 077
secrets_dir=$(mktemp -d "${TMPDIR:-/tmp}/kubevirt-lab-ansible.XXXXXX")
trap 'rm -rf -- "$secrets_dir"' EXIT
secrets="$secrets_dir/secrets.yml"
cat > "$secrets"
if [[ ! -s $secrets ]]; then
  echo "run-playbook.sh: no secrets on stdin (want mongodb_admin_password and mongodb_app_password)" >&2
  exit 2
fi

# Not exec: the EXIT trap must remove the secrets after the run.
ansible-playbook -i "$inventory" "$here/playbooks/main.yml" -e "@$secrets" "$@"
