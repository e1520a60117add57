#!/bin/bash
# simlab placeholder stand-in.
#
# simlab.sh installs a copy of this script in every simulated host's
# /usr/local/bin under the name of each guarded command (sysctl, systemctl,
# modprobe, ...) for which harness/standins/bin/ has no stand-in of its own, so
# that the real command of the machine can never run from a session. It only
# records the call and succeeds. As `systemctl` it also runs the hook
# /etc/kubevirt-lab-sim/hooks/systemctl-<verb>-<unit> (unit without
# ".service") when that file is executable, and returns its status.
if [ -r /etc/kubevirt-lab-sim/env ]; then
  # shellcheck source=/dev/null
  . /etc/kubevirt-lab-sim/env
fi
name=${0##*/}
calls=${SIM_CALLS:-/var/log/kubevirt-lab/calls.log}
mkdir -p "${calls%/*}" 2>/dev/null
printf '%s placeholder %s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$name" "$*" >>"$calls" 2>/dev/null

if [ "$name" = systemctl ]; then
  verb='' rc=0
  for a in "$@"; do
    case $a in
      -*) continue ;;
    esac
    if [ -z "$verb" ]; then verb=$a; continue; fi
    unit=${a%.service}
    hook=/etc/kubevirt-lab-sim/hooks/systemctl-$verb-$unit
    if [ -x "$hook" ]; then
      "$hook" "$verb" "$unit" || rc=$?
    fi
  done
  exit "$rc"
fi
exit 0
