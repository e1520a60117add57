#!/usr/bin/env bash
# tools/need.sh: what a user command (npm run verify, drift, diagnose) needs on the operator's
# machine, checked before it runs. It installs no system package: a missing program stops the
# command at once with one line naming it, its Debian package and the install line. The project's
# node modules are installed (npm ci) when missing, as the README's first step does.
#
#   tools/need.sh verify | drift | diagnose
#
# The development harness (harness/prereqs.sh) does the same for the developers' commands; a user
# of real hosts never runs it.
set -euo pipefail
REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)

readonly SSH="ssh|openssh-client|it reads the hosts over SSH"
case ${1:-} in
  verify) tools="" ;;
  drift) tools=$SSH ;;
  diagnose) tools="$SSH (and the VMs' guests through their NodePorts)"$'\n'"dot|graphviz|it draws the packet paths with Graphviz's dot (SVG, PNG)" ;;
  *)
    echo "usage: tools/need.sh verify|drift|diagnose" >&2
    exit 2
    ;;
esac
what=$1

missing=() packages=()
while IFS='|' read -r tool package why; do
  [[ -n $tool ]] || continue
  command -v "$tool" >/dev/null 2>&1 && continue
  missing+=("$tool ($package: $why)")
  packages+=("$package")
done <<<"$tools"
if ((${#missing[@]} > 0)); then
  printf -v list '%s, ' "${missing[@]}"
  echo "kubevirt-lab: missing for npm run $what: ${list%, }; install them with: sudo apt-get install -y ${packages[*]}" >&2
  exit 1
fi

if [[ ! -d $REPO/node_modules/@pulumi/pulumi ]]; then
  echo "kubevirt-lab: node_modules is missing: npm ci" >&2
  (cd "$REPO" && npm ci --no-audit --no-fund >&2)
fi
