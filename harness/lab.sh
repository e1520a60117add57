#!/usr/bin/env bash
# npm run lab: the whole post on this one machine, with no hardware: every stage of kubevirt-lab
# (hosts, cluster, add-ons, workload, app, DNS) against a simulated lab of real Kubernetes 1.9.4.
#
#   harness/lab.sh [up]     set up the engine, the Kubernetes and data-plane binaries, start the
#                         simulated lab (real kubeadm/kubectl/control plane, the kubelet stand-in
#                         running the pods' real programs, the mirror of the upstream manifests),
#                         `pulumi up` the lab stack (Pulumi.lab.yaml), print what exists per stage,
#                         the app's page count and where to look next
#   harness/lab.sh destroy  `pulumi destroy` the lab stack: the lab's objects deleted through the
#                         API, the workers drained and reset, the master reset last
#   harness/lab.sh down     destroy, then tear the simulated lab down
#   harness/lab.sh verify|drift|diagnose [ARGS...]  npm run verify / drift / diagnose for the lab stack,
#                         from inside the lab
#   harness/lab.sh pulumi ARGS...  any pulumi command against the lab stack, from inside the lab
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
# The stack of the lab kvl is `lab` (Pulumi.lab.yaml); another lab's (SIMLAB_NAME) is lab-<name>,
# whose file stack_file writes from Pulumi.lab.yaml with that lab's SSH key (each lab has its own).
stack=lab
[[ $lab == kvl ]] || stack=lab-$lab
# the simulated lab of Pulumi.lab.yaml: its mirror host (the VMs are guests in their virt-launcher pods)
lab_args=(--kubernetes real --mirror mirror=172.31.50.5)

export PULUMI_BACKEND_URL=file://$state
export PULUMI_CONFIG_PASSPHRASE=${PULUMI_CONFIG_PASSPHRASE:-kubevirt-lab-sim}
simlab() { bash "$repo/harness/simlab.sh" --name "$lab" "$@"; }
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true

say() { printf '\n== %s\n' "$*"; }

engine() {
  eval "$(bash "$repo/harness/engine.sh" --print-env)"
  command -v pulumi >/dev/null || { echo "lab: no pulumi after setup" >&2; exit 1; }
}

# pulumi, run in the lab's operator namespace (the only place the hosts are reachable from).
op_run() {
  simlab op \
    env PATH="$PATH" HOME="$HOME" PULUMI_BACKEND_URL="$PULUMI_BACKEND_URL" \
    PULUMI_CONFIG_PASSPHRASE="$PULUMI_CONFIG_PASSPHRASE" PULUMI_SKIP_UPDATE_CHECK=true \
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true "$@"
}
op_pulumi() { op_run pulumi --cwd "$repo" --non-interactive "$@"; }

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

# lab_up: the simulated lab, started anew unless it is up and the whole post's (an older stand-in
# lab is not). A lab started anew has new hosts (new SSH host keys, nothing installed): a state
# left by the lab before describes hosts that are gone, so the stack is started anew too.
lab_up() {
  # (grep without -q: with pipefail, a grep that stops reading early would fail the pipeline)
  if simlab status >/dev/null 2>&1 && simlab info 2>/dev/null | grep -x 'SIMLAB_KUBERNETES=real' >/dev/null; then
    return 0
  fi
  say "starting the simulated lab $lab (km1 kn1 kn2 of real Kubernetes 1.9.4, dns1, the mirror)"
  simlab down >/dev/null 2>&1 || true
  simlab up "${lab_args[@]}"
  if local_pulumi stack select "$stack" >/dev/null 2>&1; then
    echo "lab: the stack's state described the hosts of the lab before this one (gone): removed"
    local_pulumi stack rm --force --yes --preserve-config "$stack" >/dev/null
  fi
}

# stack_file: Pulumi.lab-<name>.yaml of a lab other than kvl: Pulumi.lab.yaml with the lab's run
# directory in place of kvl's (its SSH key), keeping the salt the stack was made with.
stack_file() {
  [[ $stack == lab ]] && return 0
  local f=$repo/Pulumi.$stack.yaml salt tmp
  salt=$(grep -s '^encryptionsalt:' "$f" || true)
  tmp=$(mktemp "$f.XXXXXX")
  sed "s|/tmp/kubevirt-lab-sim/kvl/|$run/|g" "$repo/Pulumi.lab.yaml" | grep -v '^encryptionsalt:' >"$tmp" || true
  if [[ -n $salt ]]; then echo "$salt" >>"$tmp"; else grep '^encryptionsalt:' "$repo/Pulumi.lab.yaml" >>"$tmp" || true; fi
  mv -f "$tmp" "$f"
}

select_stack() {
  mkdir -p "$state"
  stack_file
  local_pulumi stack select "$stack" >/dev/null 2>&1 || local_pulumi stack init "$stack" >/dev/null
}

# kubectl 1.9.4 on km1, with the cluster's admin.conf (where kubeadm put it)
km1_kubectl() { simlab exec km1 kubectl --kubeconfig /etc/kubernetes/admin.conf "$@"; }

# guest_ssh PORT COMMAND: COMMAND in a VM's guest as fedora, through a node's NodePort PORT (kube-proxy
# to the virt-launcher pod, then KubeVirt's bridge to the guest), from the operator namespace.
guest_ssh() {
  local kh
  kh=$(mktemp)
  simlab op ssh -q -i "$run/id_ed25519" -o BatchMode=yes -o ConnectTimeout=5 -o StrictHostKeyChecking=accept-new \
    -o UserKnownHostsFile="$kh" -p "$1" fedora@172.31.50.231 "$2"
  local rc=$?
  rm -f "$kh"
  return $rc
}

report() {
  say "hosts: what each host did (recorded by its stand-ins; kubeadm and kubectl are the real ones)"
  local h log
  for h in km1 kn1 kn2 dns1; do
    log=$run/hosts/$h/ovl/var/upper/log/kubevirt-lab/calls.log
    [[ -f $log ]] || continue
    printf '%s (%s calls):' "$h" "$(wc -l <"$log")"
    # "<ms> <host> <prog> <args...>": count each program with its first non-option argument.
    awk '{ sub_ = ""; for (i = 4; i <= NF; i++) if ($i !~ /^-/) { sub_ = " " $i; break }; print $3 sub_ }' "$log" |
      sort | uniq -c | awk '{ n = $1; $1 = ""; printf "%s%s x%d", sep, $0, n; sep = "," } END { print "" }'
  done
  say "cluster, add-ons and workload: kubectl get nodes,pods --all-namespaces -o wide (on km1)"
  km1_kubectl get nodes,pods --all-namespaces -o wide || true
  say "add-ons and workload: Services, Ingresses, OfflineVirtualMachines and VMs"
  km1_kubectl get services,ingresses --all-namespaces || true
  km1_kubectl get offlinevirtualmachines,virtualmachines --all-namespaces 2>/dev/null || true
  say "VMs: the guests in their virt-launcher pods, as Ansible reaches them (ssh -p <NodePort> fedora@<node>, through kube-proxy)"
  local vm port
  for vm in nodejs:30022 mongodb:30122; do
    port=${vm#*:} vm=${vm%%:*}
    # shellcheck disable=SC2016 # expanded in the guest
    guest_ssh "$port" 'echo "$(hostname): $(ip -4 -o addr show dev eth0 | awk "{print \$4}") mtu $(cat /sys/class/net/eth0/mtu); $(systemctl is-active mongod nodejs 2>/dev/null | paste -sd" " -)"' |
      sed "s/^/$vm (NodePort $port): /" || true
  done
  say "DNS: dnsmasq on dns1"
  for n in km1 kn1 kn2 nodejs.ingress mgmt.ingress; do
    printf '%-40s %s\n' "$n.virtomation.com" "$(simlab op dig @172.31.50.10 +short +time=2 +tries=1 "$n.virtomation.com" | tr '\n' ' ')"
  done
  say "the post's check: curl http://nodejs.ingress.virtomation.com:30000/ (twice: the count grows)"
  local _
  for _ in 1 2; do
    simlab op curl -s --max-time 10 http://nodejs.ingress.virtomation.com:30000/ | grep -o '<span class="code" id="count-value">[0-9]*</span>' ||
      echo "no page view count in the answer (see npm run lab -- verify)"
  done
  say "stack outputs"
  local_pulumi stack output
  cat <<EOT

kubectl against the lab (the API server is reachable only inside the lab's namespaces):
  harness/simlab.sh exec km1 kubectl --kubeconfig /etc/kubernetes/admin.conf get pods --all-namespaces
or from the operator namespace with the stack's kubeconfig and kubectl 1.9.4:
  mkdir -p ~/.kube && npm run --silent lab -- pulumi stack output --show-secrets kubeconfig > ~/.kube/kubevirt-lab-sim.conf
  eval "\$(bash harness/kubernetes.sh --print-env)"
  harness/simlab.sh op "\$KUBEVIRT_LAB_K8S_BIN/kubectl" --kubeconfig ~/.kube/kubevirt-lab-sim.conf get nodes -o wide

Next:
  npm run lab -- pulumi preview    # nothing to do: the lab matches the stack file
  npm run lab -- drift             # npm run drift: every host step, node, DNS record and object still as made
  npm run lab -- verify            # npm run verify: DNS, the page count growing, vts and swap
  npm run lab -- diagnose          # npm run diagnose: the deep dive's layers, known faults with their fix, the packet paths drawn
  npm run lab -- destroy           # pulumi destroy: the lab's objects, then the workers drained and reset, master last
  npm run lab -- down              # destroy, then remove the simulated hosts
  harness/simlab.sh exec km1 cat /etc/yum.repos.d/kubernetes.repo
  README, "Following a VM's packets": the deep dive's commands, run against this lab
No container runtime and no hardware virtualization here: README, "The simulated lab", says what is real and what stands in.
Real hosts: a Pulumi.<stack>.yaml with their addresses (see README, "Point a stack at real hosts").
EOT
}

cmd=${1:-up}
[[ $# -gt 0 ]] && shift
case $cmd in
  up)
    bash "$repo/harness/prereqs.sh" lab
    engine
    mkdir -p "$state"
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
    if simlab status >/dev/null 2>&1; then
      select_stack
      recover destroy
      op_pulumi destroy --yes --skip-preview || echo "lab: destroy failed; tearing the lab down anyway" >&2
    fi
    simlab down
    ;;
  verify | drift | diagnose)
    # npm run verify / drift / diagnose for the lab stack, from the operator namespace (the only
    # place its hosts, guests and DNS server answer); diagnose's kubectl is Kubernetes 1.9.4's
    engine
    [[ $cmd != diagnose ]] || eval "$(bash "$repo/harness/kubernetes.sh" --print-env)"
    select_stack
    simlab status >/dev/null 2>&1 || { echo "lab: the simulated lab $lab is not up: npm run lab starts it" >&2; exit 1; }
    cd "$repo"
    op_run ${KUBEVIRT_LAB_K8S_BIN:+KUBEVIRT_LAB_K8S_BIN="$KUBEVIRT_LAB_K8S_BIN"} npm run --silent "$cmd" -- --stack "$stack" --cwd "$repo" "$@"
    ;;
  pulumi)
    engine
    select_stack
    # stale locks only (pending operations are left to the command); a live lock is reported,
    # and pulumi then says the same; `cancel` is the user's own way out: nothing before it
    if [[ ${1:-} != cancel ]]; then
      bash "$repo/harness/lib/recover.sh" -- pulumi --cwd "$repo" --non-interactive --stack "$stack" || true
    fi
    if simlab status >/dev/null 2>&1; then
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
    echo "usage: harness/lab.sh [up|destroy|down|verify|drift|diagnose|pulumi ARGS...]" >&2
    exit 2
    ;;
esac
