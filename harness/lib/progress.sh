#!/usr/bin/env bash
# progress.sh: long steps that say what they do. Sourced; defines functions only.
#
#   progress::run "<what>" <usual-seconds> cmd [args...]
#
# Runs cmd (a program or a shell function, run in a subshell) with its stdout and stderr in a log file under
# ${KUBEVIRT_LAB_CACHE:-~/.cache/kubevirt-lab}/logs/ (one file per <what>, overwritten). On stderr
# it prints one line before ("<what>: usually about N min on a 2-core machine (log: FILE)"), then
# every PROGRESS_INTERVAL seconds (default 30) while cmd runs "... still <what>: M s so far
# (usually about N min)", and one line when it ends: "<what>: done in M s", or "FAILED after M s
# (exit RC)" followed by the log's last 40 lines. Returns cmd's exit status. It returns as soon as
# cmd ends (no polling). PROGRESS_PREFIX (default "kubevirt-lab") starts every line.
# On SIGINT/SIGTERM it stops cmd (and the processes cmd started) and exits 130/143.
# As with any bash function, `set -e` does not act inside cmd when progress::run itself is called
# in a condition (`if`, `&&`, `||`): a function meant for such a call ends its steps with `|| return`.
#
#   progress::human SECONDS   prints "about 40 s" (under 90 s) or "about 3 min".

# progress::human SECONDS: "about 40 s" / "about 3 min".
progress::human() {
  if (($1 < 90)); then echo "about $1 s"; else echo "about $((($1 + 30) / 60)) min"; fi
}

# progress::_kill_tree PID: PID and its descendants (children first found, then PID), SIGTERM.
progress::_kill_tree() {
  local child
  if command -v ps >/dev/null 2>&1; then
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do progress::_kill_tree "$child"; done
  fi
  kill "$1" 2>/dev/null || true
}

progress::run() {
  local what=$1 usual=$2 prefix=${PROGRESS_PREFIX:-kubevirt-lab} interval=${PROGRESS_INTERVAL:-30}
  shift 2
  local logdir=${KUBEVIRT_LAB_CACHE:-$HOME/.cache/kubevirt-lab}/logs log start pid ticker rc=0
  local old_int old_term
  mkdir -p "$logdir"
  log=$logdir/$(printf '%s' "$what" | tr -c 'A-Za-z0-9._-' '-' | cut -c1-80).log
  start=$SECONDS
  echo "$prefix: $what: usually $(progress::human "$usual") on a 2-core machine (log: $log)" >&2
  ("$@") >"$log" 2>&1 </dev/null &
  pid=$!
  # The ticker prints the "still" lines; its sleeps hold no descriptor of ours, so a caller
  # reading our stderr to its end is not kept waiting by a leftover sleep.
  (
    while sleep "$interval" >/dev/null 2>&1; do
      kill -0 "$pid" 2>/dev/null || exit 0
      echo "$prefix: ... still $what: $((SECONDS - start)) s so far (usually $(progress::human "$usual"))" >&2
    done
  ) &
  ticker=$!
  old_int=$(trap -p INT) old_term=$(trap -p TERM)
  # shellcheck disable=SC2064 # the pids are meant to be expanded now
  trap "kill $ticker 2>/dev/null; progress::_kill_tree $pid; exit 130" INT
  # shellcheck disable=SC2064
  trap "kill $ticker 2>/dev/null; progress::_kill_tree $pid; exit 143" TERM
  wait "$pid" || rc=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  eval "${old_int:-trap - INT}"
  eval "${old_term:-trap - TERM}"
  if ((rc == 0)); then
    echo "$prefix: $what: done in $((SECONDS - start)) s" >&2
  else
    echo "$prefix: $what: FAILED after $((SECONDS - start)) s (exit $rc); the end of $log:" >&2
    tail -n 40 "$log" | sed 's/^/  | /' >&2
  fi
  return "$rc"
}
