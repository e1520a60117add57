#!/usr/bin/env bash
# harness/lib/recover.sh: a stack of a file backend made usable again after its engine was killed
# (kill -9, a crash, a closed terminal), so that one plain `pulumi up` (or destroy) then converges.
#
#   harness/lib/recover.sh [--pending up|destroy|keep] -- PULUMI...
#
# PULUMI is how to run pulumi for the stack, e.g. `pulumi --cwd . --non-interactive --stack sim`;
# only local commands are run with it (stack --show-name, stack export, stack import): no host and
# no provider is contacted. PULUMI_BACKEND_URL must be the file:// backend of the stack.
#
# 1. The locks. The file backend's engine writes <backend>/.pulumi/locks/<org>/<project>/<stack>/
#    <uuid>.json, {"pid","username","hostname","timestamp"}, when it takes the stack, and deletes
#    it when it ends; a SIGKILLed engine leaves it, and every later command of the stack then
#    fails with "the stack is currently locked". A lock of this machine whose pid is gone (or is
#    now another program, or a pulumi started after the lock was written) is removed, the lock
#    file by its own name (not `pulumi cancel`, which deletes every lock of the stack, a live
#    engine's too), with one line saying why that is safe. A lock of a running engine, or of
#    another machine, is reported and left alone: exit 1.
# 2. The pending operations (--pending up or destroy). A killed engine leaves in the state the
#    operations it had begun (creating, updating, deleting). `pulumi up` carries pending creates
#    into every later state and warns about them on every run ("interrupted while creating"),
#    and never finishes an interrupted delete of a resource the program still has. They are
#    listed, then cleared with `pulumi stack export` | `pulumi stack import` (import drops every
#    pending operation; nothing else changes, no host is contacted). Then:
#      creating: the resource is not in the state: the next up creates it again (host steps are
#                safe to run again, also after a run cut off midway). A Kubernetes object is
#                different: its create may have reached the API server before the kill (the
#                provider then awaits it: a Service's endpoints, a Deployment's rollout), and
#                creating it again fails with AlreadyExists. So it is kept in the state under the
#                id the provider gives it (<namespace>/<name>, or <name> when its inputs have no
#                namespace): for the next up (--pending up), `--refresh` is printed on stdout
#                (`pulumi up --refresh` reads it back first, keeps it if it exists and drops it,
#                so that it is created, if it does not); the next destroy deletes it;
#      updating: the state keeps the old inputs: the next up updates it again;
#      deleting: the resource is still in the state: the next destroy deletes it again; for the
#                next up (--pending up) its URN is printed on stdout after a `--replace` line, so
#                that the caller's `pulumi up --replace <urn>` runs its remove and then its
#                create again instead of taking the half-removed step for done.
#    --pending keep (the default) leaves them as they are.
#
# stdout: only the words for the next up: `--refresh`, and `--replace` / URN lines. Messages go
# to stderr, prefixed "recover:".
# Exit: 0 the stack can be used; 1 a live or foreign lock (reported), or a failed command.
set -euo pipefail

pending=keep
while (($#)); do
  case $1 in
    --pending)
      [[ ${2:-} == up || ${2:-} == destroy || ${2:-} == keep ]] || { echo "recover: --pending up|destroy|keep" >&2; exit 2; }
      pending=$2
      shift 2
      ;;
    --) shift; break ;;
    *) echo "usage: recover.sh [--pending up|destroy|keep] -- PULUMI..." >&2; exit 2 ;;
  esac
done
(($#)) || { echo "usage: recover.sh [--pending up|destroy|keep] -- PULUMI..." >&2; exit 2; }
PULUMI=("$@")

say() { printf 'recover: %s\n' "$*" >&2; }

url=${PULUMI_BACKEND_URL:-}
if [[ $url != file://* ]]; then
  say "PULUMI_BACKEND_URL is not a file:// backend ('$url'): locks and pending operations left to pulumi"
  exit 0
fi
backend=${url#file://}
backend=${backend%%\?*}
[[ $backend == "~"* ]] && backend=$HOME${backend#"~"}

fq=$("${PULUMI[@]}" stack --show-name --fully-qualify-stack-names)
stack=${fq##*/}
lockdir=$backend/.pulumi/locks/$fq

# ---- 1. locks
clk=$(getconf CLK_TCK)
live=0
shopt -s nullglob
for lock in "$lockdir"/*.json; do
  # state<TAB>pid<TAB>user@host<TAB>timestamp<TAB>why
  IFS=$'\t' read -r state pid who when why < <(node - "$lock" "$clk" <<'JS'
const fs = require("fs");
const os = require("os");
const [file, clk] = process.argv.slice(2);
const l = JSON.parse(fs.readFileSync(file, "utf8"));
const who = `${l.username}@${l.hostname}`;
const at = Date.parse(l.timestamp) / 1000;
let state = "live";
let why = "";
if (l.hostname !== os.hostname()) {
    state = "foreign";
} else {
    let stat = "";
    try {
        stat = fs.readFileSync(`/proc/${l.pid}/stat`, "utf8");
    } catch {
        stat = "";
    }
    if (stat === "") {
        state = "stale";
        why = `no process ${l.pid} runs on this machine any more`;
    } else {
        const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
        const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // f[0] is field 3 (state)
        const btime = Number(/^btime (\d+)$/m.exec(fs.readFileSync("/proc/stat", "utf8"))[1]);
        const started = btime + Number(f[19]) / Number(clk); // field 22: start time in clock ticks
        if (f[0] === "Z") {
            state = "stale";
            why = `process ${l.pid} has ended (a zombie)`;
        } else if (comm !== "pulumi") {
            state = "stale";
            why = `pid ${l.pid} is now '${comm}', not a pulumi engine`;
        } else if (started > at + 2) {
            state = "stale";
            why = `pid ${l.pid} is a pulumi started after the lock was written`;
        }
    }
}
console.log([state, l.pid, who, l.timestamp, why].join("\t"));
JS
  )
  case $state in
    stale)
      rm -f -- "$lock" "$lock.attrs"
      say "removed the stale lock of stack $stack ($lock, pid $pid, $who, $when): $why, so no engine holds the stack; safe because a lock only marks a running engine, and the state it left is whole (each checkpoint is written to a temporary file and renamed)"
      ;;
    live)
      live=1
      say "stack $stack is in use by a running pulumi (pid $pid, $who, since $when): left alone; wait for it to end, or stop it (Ctrl-C in its terminal, or kill -INT $pid) and run this again"
      ;;
    foreign)
      live=1
      say "stack $stack is locked by pid $pid on another machine ($who, since $when; this is $(hostname)): whether it still runs cannot be told from here; if it does not: ${PULUMI[*]} cancel --yes (removes every lock of the stack)"
      ;;
  esac
done
((live == 0)) || exit 1

# ---- 2. pending operations
[[ $pending != keep ]] || exit 0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"${PULUMI[@]}" stack export --file "$tmp/state.json"
# type<TAB>urn<TAB>id, one line per pending operation; id only for the create of a Kubernetes
# object, which is then put in the state under it, as the next import keeps it
ops=$(node - "$tmp/state.json" <<'JS'
const fs = require("fs");
const [file] = process.argv.slice(2);
const d = JSON.parse(fs.readFileSync(file, "utf8"));
const dep = d.deployment || {};
for (const op of dep.pending_operations || []) {
    const r = op.resource;
    const md = (r.inputs && r.inputs.metadata) || {};
    const k8s = op.type === "creating" && r.custom && /^kubernetes:/.test(r.type) && typeof md.name === "string";
    const id = k8s ? (md.namespace ? `${md.namespace}/${md.name}` : md.name) : "";
    if (k8s) dep.resources = [...(dep.resources || []), { ...r, id, outputs: r.outputs || r.inputs }];
    console.log(`${op.type}\t${r.urn}\t${id}`);
}
fs.writeFileSync(file, JSON.stringify(d));
JS
)
[[ -n $ops ]] || exit 0
replace=() refresh=()
while IFS=$'\t' read -r type urn id; do
  case $type in
    creating)
      if [[ -n $id && $pending == up ]]; then
        next="a Kubernetes object whose create may have reached the API server: kept in the state as $id; the next up reads it back first (--refresh), and creates it only if it is not there"
        refresh=(--refresh)
      elif [[ -n $id ]]; then
        next="a Kubernetes object whose create may have reached the API server: kept in the state as $id; the next destroy deletes it (a delete of an object that is not there succeeds)"
      else
        next="not in the state: the next up creates it again"
      fi
      ;;
    updating) next="the state keeps its old inputs: the next up updates it again" ;;
    deleting)
      if [[ $pending == up ]]; then
        next="still in the state: the next up replaces it (--replace), its remove and its create run again"
        replace+=(--replace "$urn")
      else
        next="still in the state: the next destroy deletes it again"
      fi
      ;;
    *) next="the next run does it again" ;;
  esac
  say "interrupted while $type: ${urn##*::} ($urn): $next"
done <<<"$ops"
if ! out=$("${PULUMI[@]}" stack import --file "$tmp/state.json" 2>&1); then
  say "pulumi stack import failed; the pending operations are still in the state:"
  printf '%s\n' "$out" >&2
  exit 1
fi
say "$(wc -l <<<"$ops") pending operation(s) of a killed run cleared from the state of stack $stack (pulumi stack export, then pulumi stack import, which drops them)"
if ((${#refresh[@]} + ${#replace[@]})); then printf '%s\n' ${refresh[@]+"${refresh[@]}"} ${replace[@]+"${replace[@]}"}; fi
