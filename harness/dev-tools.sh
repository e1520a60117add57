#!/usr/bin/env bash
# harness/dev-tools.sh: test tools built from the Go module proxy into the cache (never the repo):
# actionlint, which checks the PR preview workflow. Quiet when it is there.
set -euo pipefail
# shellcheck source=lib/progress.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/progress.sh"
cache=${KUBEVIRT_LAB_CACHE:-$HOME/.cache/kubevirt-lab}
bin=$cache/tools/bin
version=v1.7.12
if [[ -x $bin/actionlint ]] && [[ $("$bin/actionlint" -version | head -1) == "$version" ]]; then
  exit 0
fi
mkdir -p "$bin"
GOBIN=$bin progress::run "building actionlint $version (it checks the PR preview workflow)" 60 \
  go install "github.com/rhysd/actionlint/cmd/actionlint@$version"
