#!/usr/bin/env bash
# Test tools built from the Go module proxy into the cache (never the repo):
# actionlint, which checks the PR preview workflow.
set -euo pipefail
cache=${KUBEVIRT_LAB_CACHE:-$HOME/.cache/kubevirt-lab}
bin=$cache/tools/bin
version=v1.7.12
if [[ -x $bin/actionlint ]] && [[ $("$bin/actionlint" -version | head -1) == "$version" ]]; then
  exit 0
fi
mkdir -p "$bin"
echo "setup-tools: building actionlint $version" >&2
GOBIN=$bin go install "github.com/rhysd/actionlint/cmd/actionlint@$version"
