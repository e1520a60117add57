#!/bin/bash
# dnsmasq-ctl start|stop|restart|reload|status
#
# Controls the dnsmasq of a simulated DNS host. Runs INSIDE that host's
# namespaces (from host-init.sh, from the systemctl hooks installed in
# /etc/kubevirt-lab-sim/hooks/, or through `simlab.sh exec`). simlab.sh copies
# it to <run>/hosts/<host>/dnsmasq-ctl.
set -uo pipefail

HOSTDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=/dev/null
. "$HOSTDIR/host.env"
PIDFILE=$HOSTDIR/dnsmasq.pid
LOG=$HOSTDIR/dnsmasq.log
ARGS=(
  '--conf-dir=/etc/dnsmasq.d,*.conf'
  --no-resolv --no-hosts
  --bind-interfaces --listen-address="$SIM_IP" --listen-address=127.0.0.1 --port=53
  --user=root --group=root
  --pid-file="$PIDFILE" --log-facility="$LOG" --log-queries
)

now_ms() { echo $(($(date +%s%N) / 1000000)); }

pid_of() {
  local pid
  [ -r "$PIDFILE" ] || return 1
  read -r pid <"$PIDFILE" || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dnsmasq ] || return 1
  echo "$pid"
}

answering() { # a reply (even NXDOMAIN) means the server is up
  command -v dig >/dev/null || return 0
  dig +time=1 +tries=1 +short -p 53 "@$SIM_IP" simlab-probe.invalid >/dev/null 2>&1
}

do_stop() {
  local pid i
  pid=$(pid_of) || { rm -f "$PIDFILE"; return 0; }
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 50; i++)); do # 5 s at most
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  rm -f "$PIDFILE"
  return 0
}

do_start() {
  local deadline
  if pid_of >/dev/null; then return 0; fi
  # dnsmasq checks its configuration, then daemonizes; a bad file fails here.
  dnsmasq "${ARGS[@]}" </dev/null >>"$LOG" 2>&1 || {
    echo "dnsmasq-ctl: dnsmasq failed to start (see $LOG)" >&2
    tail -n 5 "$LOG" >&2
    return 1
  }
  deadline=$(($(now_ms) + 5000))
  while [ "$(now_ms)" -lt "$deadline" ]; do # 5 s at most
    if pid_of >/dev/null && answering; then return 0; fi
    sleep 0.05
  done
  echo "dnsmasq-ctl: dnsmasq not answering on $SIM_IP:53 after 5 s" >&2
  return 1
}

case ${1:-} in
  start) do_start ;;
  stop) do_stop ;;
  restart) do_stop && do_start ;;
  reload) pid=$(pid_of) && kill -HUP "$pid" ;; # like the unit's ExecReload: conf-dir is NOT re-read
  status) pid=$(pid_of) && answering ;;
  *)
    echo "usage: dnsmasq-ctl start|stop|restart|reload|status" >&2
    exit 2
    ;;
esac
