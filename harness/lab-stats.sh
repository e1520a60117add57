#!/usr/bin/env bash
# harness/lab-stats.sh: what a simulated lab costs this machine once it is up. For each host, the
# processes of its holder and all their descendants (sshd, the control plane, the kubelet stand-in
# and its API, the pods' containers, the VMs' guests, dnsmasq, the mirror): their count, their
# memory (the sum of their PSS, so shared pages are counted once) and the CPU they used over a
# window; then the machine's load average and available memory. Reads /proc only.
#
#   harness/lab-stats.sh [--name LAB] [--seconds N]     (defaults: kvl, npm run lab's lab; 60 s)
set -euo pipefail

name=${SIMLAB_NAME:-kvl} seconds=60
while (($# > 0)); do
  case $1 in
    --name) name=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    *) echo "usage: harness/lab-stats.sh [--name LAB] [--seconds N]" >&2; exit 2 ;;
  esac
done
if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds < 1 || seconds > 600)); then
  echo "lab-stats: --seconds: 1 to 600" >&2
  exit 2
fi
run=${SIMLAB_DIR:-/tmp/kubevirt-lab-sim/$name}
[[ -d $run/hosts ]] || { echo "lab-stats: no lab $name ($run)" >&2; exit 1; }

# descendants PID: PID and every process below it (at most 20000)
descendants() {
  local queue=("$1") i=0 p children
  while ((i < ${#queue[@]} && i < 20000)); do
    p=${queue[i]}
    i=$((i + 1))
    echo "$p"
    read -r -a children <<<"$(cat /proc/"$p"/task/*/children 2>/dev/null)" || true
    queue+=("${children[@]}")
  done
}
# cpu_ticks PID...: the sum of their utime and stime (clock ticks); gone processes count 0
cpu_ticks() {
  local p sum=0 stat rest
  for p in "$@"; do
    stat=$(cat /proc/"$p"/stat 2>/dev/null) || continue
    rest=${stat##*) } # fields from the 3rd on (the command may hold spaces)
    read -r -a f <<<"$rest"
    sum=$((sum + f[11] + f[12]))
  done
  echo "$sum"
}
# pss_kb PID...: the sum of their PSS
pss_kb() {
  local p sum=0 v
  for p in "$@"; do
    v=$(awk '/^Pss:/ { print $2; exit }' /proc/"$p"/smaps_rollup 2>/dev/null) || continue
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}

declare -A pids ticks0
hosts=()
for d in "$run"/hosts/*/; do
  h=$(basename "$d")
  read -r holder <"$d/holder.pid" 2>/dev/null || continue
  [[ $(cat /proc/"$holder"/comm 2>/dev/null) == unshare ]] || continue
  hosts+=("$h")
  pids[$h]=$(descendants "$holder" | tr '\n' ' ')
  # shellcheck disable=SC2086
  ticks0[$h]=$(cpu_ticks ${pids[$h]})
done
((${#hosts[@]} > 0)) || { echo "lab-stats: lab $name has no running host" >&2; exit 1; }
read -r load1 _ </proc/loadavg
sleep "$seconds"
hz=$(getconf CLK_TCK)
# row NAME PROCESSES PSS_KB TICKS
row() { awk -v h="$1" -v n="$2" -v kb="$3" -v t="$4" -v hz="$hz" -v s="$seconds" 'BEGIN { printf "%-8s %9d %10.1f %12.1f\n", h, n, kb / 1024, 100 * t / hz / s }'; }
total_n=0 total_kb=0 total_ticks=0
printf '%-8s %9s %10s %12s\n' host processes "PSS MiB" "CPU % (1 core)"
for h in "${hosts[@]}"; do
  # shellcheck disable=SC2086
  set -- ${pids[$h]}
  n=$#
  kb=$(pss_kb "$@")
  t=$(($(cpu_ticks "$@") - ticks0[$h]))
  ((t >= 0)) || t=0
  total_n=$((total_n + n)) total_kb=$((total_kb + kb)) total_ticks=$((total_ticks + t))
  row "$h" "$n" "$kb" "$t"
done
row all "$total_n" "$total_kb" "$total_ticks"
read -r load1b load5 _ </proc/loadavg
avail=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
total=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
echo "over ${seconds} s; the machine: $(nproc) cores, load average $load1 then $load1b (5 min: $load5), memory available $((avail / 1024)) of $((total / 1024)) MiB"
