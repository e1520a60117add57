#!/usr/bin/env bash
# npm run lab: the whole kubevirt-lab on this one machine, with no hardware.
#
#   harness/lab.sh [up]     set up the engine, start the simulated lab, `pulumi up` the sim stack,
#                         print what each host did and the stack outputs
#   harness/lab.sh destroy  `pulumi destroy` the sim stack (the hosts record their kubeadm reset)
#   harness/lab.sh down     destroy, then tear the simulated lab down
#   harness/lab.sh pulumi ARGS...  any pulumi command against the sim stack, from inside the lab
#                         (cancel, stack and config, which talk to no host, also while the lab is down)
#
# Before pulumi runs, harness/lib/recover.sh makes the stack usable again after a killed engine
# (kill -9, a crash): a lock left by an engine that no longer runs on this machine is removed (one
# line says so and why that is safe), a running engine's lock is reported with its pid and we stop;
# for up, destroy and down the pending operations of the killed run are also cleared (an
# interrupted delete is replaced by the next up), so that one plain `npm run lab` converges.
#
# The simulated hosts (harness/simlab.sh) use the post's addresses inside network
# namespaces; the engine runs in the lab's operator namespace, so no packet
# leaves the machine. State: $KUBEVIRT_LAB_STATE (default ~/.kubevirt-lab/state).
# The sim stack's passphrase is public on purpose: it guards nothing real.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
lab=${SIMLAB_NAME:-kvl}
run=/tmp/kubevirt-lab-sim/$lab
state=${KUBEVIRT_LAB_STATE:-$HOME/.kubevirt-lab/state}
stack=sim

export PULUMI_BACKEND_URL=file://$state
export PULUMI_CONFIG_PASSPHRASE=${PULUMI_CONFIG_PASSPHRASE:-kubevirt-lab-sim}
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true

say() { printf '\n== %s\n' "$*"; }

engine() {
  eval "$(bash "$repo/harness/engine.sh" --print-env)"
  command -v pulumi >/dev/null || { echo "lab: no pulumi after setup" >&2; exit 1; }
}

# pulumi, run in the lab's operator namespace (the only place the hosts are reachable from).
op_pulumi() {
  bash "$repo/harness/simlab.sh" --name "$lab" op \
    env PATH="$PATH" HOME="$HOME" PULUMI_BACKEND_URL="$PULUMI_BACKEND_URL" \
    PULUMI_CONFIG_PASSPHRASE="$PULUMI_CONFIG_PASSPHRASE" PULUMI_SKIP_UPDATE_CHECK=true \
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true \
    pulumi --cwd "$repo" --non-interactive "$@"
}

# pulumi for the commands that only read or write the state (stack select/init/output, export,
# import, cancel, config): they reach no host, so they run here, also while the lab is down.
local_pulumi() {
  pulumi --cwd "$repo" --non-interactive "$@"
}

# recover up|destroy|keep: harness/lib/recover.sh for the sim stack; its stdout (for up: the
# `--replace <urn>` words of interrupted deletes) in the array `replace`. Stops on a live lock.
replace=()
recover() {
  local out
  out=$(bash "$repo/harness/lib/recover.sh" --pending "$1" -- pulumi --cwd "$repo" --non-interactive --stack "$stack") || exit 1
  replace=()
  if [[ -n $out ]]; then mapfile -t replace <<<"$out"; fi
}

lab_up() {
  if ! bash "$repo/harness/simlab.sh" --name "$lab" status >/dev/null 2>&1; then
    say "starting the simulated lab $lab (km1 kn1 kn2 dns1)"
    bash "$repo/harness/simlab.sh" --name "$lab" down >/dev/null 2>&1 || true
    bash "$repo/harness/simlab.sh" --name "$lab" up
  fi
}

select_stack() {
  mkdir -p "$state"
  local_pulumi stack select "$stack" >/dev/null 2>&1 || local_pulumi stack init "$stack" >/dev/null
}

report() {
  say "what each host did (recorded by its stand-ins)"
  local h log
  for h in km1 kn1 kn2 dns1; do
    log=$run/hosts/$h/ovl/var/upper/log/kubevirt-lab/calls.log
    [[ -f $log ]] || continue
    printf '%s (%s calls):' "$h" "$(wc -l <"$log")"
    # "<ms> <host> <prog> <args...>": count each program with its first non-option argument.
    awk '{ sub_ = ""; for (i = 4; i <= NF; i++) if ($i !~ /^-/) { sub_ = " " $i; break }; print $3 sub_ }' "$log" |
      sort | uniq -c | awk '{ n = $1; $1 = ""; printf "%s%s x%d", sep, $0, n; sep = "," } END { print "" }'

  done
  say "stack outputs"
  local_pulumi stack output
  cat <<EOT

Next:
  npm run lab -- pulumi preview    # nothing to do: the lab matches the stack file
  npm run lab -- destroy           # pulumi destroy: workers drained and reset, master reset last
  npm run lab -- down              # destroy, then remove the simulated hosts
  harness/simlab.sh exec km1 cat /etc/yum.repos.d/kubernetes.repo
Real hosts: a Pulumi.<stack>.yaml with their addresses (see README, "Point a stack at real hosts").
EOT
}

cmd=${1:-up}
[[ $# -gt 0 ]] && shift
case $cmd in
  up)
    bash "$repo/harness/prereqs.sh" lab
    engine
    lab_up
    select_stack
    recover up
    say "pulumi up (stack $stack)"
    op_pulumi up --yes --skip-preview ${replace[@]+"${replace[@]}"}
    report
    ;;
  destroy)
    engine
    select_stack
    recover destroy
    op_pulumi destroy --yes --skip-preview
    ;;
  down)
    engine
    if bash "$repo/harness/simlab.sh" --name "$lab" status >/dev/null 2>&1; then
      select_stack
      recover destroy
      op_pulumi destroy --yes --skip-preview || echo "lab: destroy failed; tearing the lab down anyway" >&2
    fi
    bash "$repo/harness/simlab.sh" --name "$lab" down
    ;;
  pulumi)
    engine
    select_stack
    # stale locks only (pending operations are left to the command); a live lock is reported,
    # and pulumi then says the same; `cancel` is the user's own way out: nothing before it
    if [[ ${1:-} != cancel ]]; then
      bash "$repo/harness/lib/recover.sh" -- pulumi --cwd "$repo" --non-interactive --stack "$stack" || true
    fi
    if bash "$repo/harness/simlab.sh" --name "$lab" status >/dev/null 2>&1; then
      op_pulumi "$@"
    else
      case ${1:-} in
        cancel | stack | config) local_pulumi "$@" ;;
        *)
          echo "lab: the simulated lab $lab is not up, and pulumi ${1:-} talks to its hosts, which exist only inside it: npm run lab starts it" >&2
          exit 1
          ;;
      esac
    fi
    ;;
  *)
    echo "usage: harness/lab.sh [up|destroy|down|pulumi ARGS...]" >&2
    exit 2
    ;;
esac
