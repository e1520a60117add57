#!/usr/bin/env bash
# Debian packages kubevirt-lab's tools and tests run for real, installed when
# missing (root; apt-get update once, only when something is missing).
#
#   harness/packages.sh lab     what the simulated lab needs: sshd, dnsmasq, ip, dig, sudo
#   harness/packages.sh test    that, plus shellcheck, ansible and ansible-lint
set -euo pipefail

lab=(openssh-server openssh-client dnsmasq iproute2 dnsutils sudo util-linux curl)
case ${1:-test} in
  lab) packages=("${lab[@]}") ;;
  test) packages=("${lab[@]}" shellcheck ansible ansible-lint) ;;
  *) echo "usage: setup-packages.sh [lab|test]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  [[ $(id -u) == 0 ]] || { echo "setup-packages: missing ${missing[*]}; run as root to install them" >&2; exit 1; }
  echo "setup-packages: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The distribution's dnsmasq service is not wanted: the tests and the simulated lab start their own.
if command -v systemctl >/dev/null && systemctl is-enabled dnsmasq >/dev/null 2>&1; then
  systemctl disable --now dnsmasq >/dev/null 2>&1 || true
fi
