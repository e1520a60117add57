#!/usr/bin/env bash
# mirror-app.sh WWW ORIGIN: the app's mirror (harness/app-stage.sh's app-mirror, in the data
# plane's cache) into WWW, the folder the mirror host's http.server serves as ORIGIN
# (http://<mirror address>): nodejs-ex's bare git repository at github.com/sclorg/nodejs-ex (git's
# dumb HTTP), and npm's registry at registry.npmjs.org/, its packuments' tarball URLs pointing at
# ORIGIN. Called by harness/simlab.sh for the mirror host, and by the tests with their own.
#
# Without the app's mirror built (harness/dataplane.sh builds it), one line says so and WWW is left
# as it is: the manifests of the mirror work without it, the app stage's git clone does not.
set -euo pipefail

www=${1:?usage: mirror-app.sh WWW ORIGIN}
origin=${2:?usage: mirror-app.sh WWW ORIGIN}
[[ $origin =~ ^https?://[^/]+$ ]] || { echo "mirror-app: ORIGIN '$origin' is not http://<host>[:port]" >&2; exit 2; }
src=${KUBEVIRT_LAB_CACHE:-$HOME/.cache/kubevirt-lab}/dataplane/bin/app-mirror
# the placeholder of harness/lib/npm-mirror.ts (ORIGIN_PLACEHOLDER)
placeholder=@KUBEVIRT_LAB_MIRROR_ORIGIN@

if [[ ! -f $src/registry.npmjs.org/express || ! -d $src/github.com/sclorg/nodejs-ex ]]; then
  echo "mirror-app: no app mirror in $src (bash harness/app-stage.sh makes it): the mirror serves no nodejs-ex nor npm registry" >&2
  exit 0
fi
mkdir -p "$www"
cp -R "$src/github.com" "$src/registry.npmjs.org" "$www/"
# the packuments: every file of the registry but the tarballs under -/
find "$www/registry.npmjs.org" -path "$www/registry.npmjs.org/-" -prune -o -type f -print0 |
  xargs -0 -r sed -i "s|$placeholder|$origin|g"
chmod -R a+rX "$www/github.com" "$www/registry.npmjs.org"
