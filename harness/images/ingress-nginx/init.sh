#!/bin/bash
# /kubevirt-lab/init in the lab's image of the ingress-nginx 0.13.0 controller: the image's
# entrypoint (dumb-init) and the container's command follow it as arguments, and it execs them
# once it has laid what the image's layers had but the lab's container cannot bind read-only
# (container-run.sh binds an image's files read-only; the container's /etc is a private,
# writable overlay of the host's, /var an empty tmpfs):
#
#   /etc/nginx/nginx.conf   the image's (rootfs/etc/nginx/nginx.conf, bound at
#                           /kubevirt-lab/nginx.conf): nginx starts with it, and the controller
#                           writes the generated configuration over it
#   /var/log/nginx          access.log -> /dev/stdout, error.log -> /dev/stderr (rootfs/Dockerfile)
#   /var/lib/nginx          the temp paths' parent, which the image's build.sh made (Debian's
#                           nginx has the same compiled-in paths and makes the folders inside)
#
# and /dev/stdout, /dev/stderr, /dev/stdin (-> /proc/self/fd/1, 2, 0), which a container runtime
# makes in every container and container-run.sh does not (yet): without them the log links above
# would make regular files in /dev.
set -euo pipefail

for fd in 0:stdin 1:stdout 2:stderr; do
  [[ -e /dev/${fd#*:} || -L /dev/${fd#*:} ]] || ln -s "/proc/self/fd/${fd%%:*}" "/dev/${fd#*:}"
done
mkdir -p /etc/nginx /var/log/nginx /var/lib/nginx
cp /kubevirt-lab/nginx.conf /etc/nginx/nginx.conf
ln -sfn /dev/stdout /var/log/nginx/access.log
ln -sfn /dev/stderr /var/log/nginx/error.log
exec "$@"
