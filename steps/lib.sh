#!/usr/bin/env bash
# lib.sh: what the host scripts share. A script sources it on the line after
# SCRIPT=<name>; components/remote.ts puts this file (less its first line) in
# place of that line, so a host receives one self-contained script. Here are
# function definitions, the arrays they fill and the paths of kubeadm's files,
# nothing else: no `set`, no command runs when it is read.
#
# A script declares the options of each action in OPTIONS, defines a function
# per action (`apply` and `remove`, or `run` for a script without actions) and
# ends with `kvl::main "$@"`, which parses the arguments, calls the action and
# prints the closing line. The functions read the script's globals: SCRIPT (its
# file name), OPTIONS, STATUS_FD (2: the closing line goes to stderr, for the
# scripts whose stdout is data), action and changed.
# shellcheck disable=SC2154 # SCRIPT, STATUS_FD: set by the script

# OPTIONS[<action>]: the options of an action, one word each, for `--<name> <value>`:
#   <name>   exactly once        <name>?  at most once (ARG[<name>] is "" without it)
#   <name>+  once or more        <name>*  any number of times
# The values of the options given once go to ARG[<name>]; the values of the
# one repeatable option (at most one per action) are the action's "$@".
declare -A OPTIONS=()
declare -A ARG=()
LIST=()
# The files kubeadm writes, named once for every script (read by the scripts).
K8S_DIR=/etc/kubernetes
# shellcheck disable=SC2034
ADMIN_CONF=$K8S_DIR/admin.conf
# shellcheck disable=SC2034
KUBELET_CONF=$K8S_DIR/kubelet.conf
BOOTSTRAP_CONF=$K8S_DIR/bootstrap-kubelet.conf
# The kubeadm flag ignore_preflight_flag makes.
# shellcheck disable=SC2034 # read by the scripts
PREFLIGHT=()

# die <message>...: print "<script>: <message>" on stderr and exit 1.
die() {
  printf '%s: %s\n' "$SCRIPT" "$*" >&2
  exit 1
}

# usage: print "usage: <script> <the actions and options of OPTIONS>" on stderr and exit 2.
usage() {
  local action word name synopsis="" line
  local -a words
  for action in apply remove run; do
    [[ -n ${OPTIONS[$action]+set} ]] || continue
    line=""
    [[ $action == run ]] || line=$action
    read -r -a words <<<"${OPTIONS[$action]}"
    for word in ${words[@]+"${words[@]}"}; do
      name=${word%[?+*]}
      case ${word#"$name"} in
        "") line+=" --$name <$name>" ;;
        "?") line+=" [--$name <$name>]" ;;
        +) line+=" --$name <$name>..." ;;
        "*") line+=" [--$name <$name>]..." ;;
      esac
    done
    synopsis+="${synopsis:+ | }${line# }"
  done
  printf 'usage: %s%s\n' "$SCRIPT" "${synopsis:+ $synopsis}" >&2
  exit 2
}

# kvl::args <spec> <word>...: read the words `--<name> <value>`... as the
# options <spec> declares (see OPTIONS) into ARG and LIST. usage on a word that
# is not one of those options, an option without a value, a once-only option
# given twice or a required one missing. The values are not checked here: the
# TypeScript that writes the command line did (components/config.ts).
kvl::args() {
  local spec=$1 word name list=""
  local -a words
  local -A kind=()
  shift
  read -r -a words <<<"$spec"
  for word in ${words[@]+"${words[@]}"}; do
    name=${word%[?+*]}
    kind[$name]=${word#"$name"}
    case ${kind[$name]} in [+*]) list=$name ;; esac
  done
  ARG=()
  LIST=()
  while (($#)); do
    name=${1#--}
    [[ $1 == --?* && -n ${kind[$name]+set} && $# -ge 2 ]] || usage
    # One value is one line of a file at most: a newline or any other control character in it
    # would write a line of its own (components/config.ts refuses them; this parser too).
    if [[ $2 == *[[:cntrl:]]* ]]; then
      printf '%s: --%s: a value with a control character (newline, carriage return, tab, ...) is refused\n' "$SCRIPT" "$name" >&2
      exit 2
    fi
    if [[ $name == "$list" ]]; then
      LIST+=("$2")
    else
      [[ -z ${ARG[$name]+set} ]] || usage
      ARG[$name]=$2
    fi
    shift 2
  done
  for name in ${kind[@]+"${!kind[@]}"}; do
    case ${kind[$name]} in
      "") [[ -n ${ARG[$name]+set} ]] || usage ;;
      "?") ARG[$name]=${ARG[$name]-} ;;
      +) ((${#LIST[@]})) || usage ;;
    esac
  done
}

# kvl::main "$@": with an `apply` function, the first argument is the action
# (apply or remove), else the action is `run` and there is no action word; the
# rest are its options (kvl::args). Calls the action's function, which sets
# changed=changed when it changed something, then prints the closing line.
kvl::main() {
  if declare -F apply >/dev/null; then
    (($# >= 1)) || usage
    action=$1
    shift
    [[ $action == apply || $action == remove ]] || usage
  else
    action=run
  fi
  [[ -n ${OPTIONS[$action]+set} ]] || usage
  kvl::args "${OPTIONS[$action]}" "$@"
  changed=unchanged
  "$action" ${LIST[@]+"${LIST[@]}"}
  finish >&"${STATUS_FD:-1}"
}

# finish: the closing line "kubevirt-lab: <script> <action>: <changed>".
finish() {
  printf 'kubevirt-lab: %s %s: %s\n' "$SCRIPT" "$action" "$changed"
}

# file_is <path> <content>: the file exists and holds exactly <content>.
file_is() {
  local current=""
  [[ -f $1 ]] || return 1
  IFS= read -r -d '' current <"$1" || true
  [[ $current == "$2" ]]
}

# write_file <path> <content>: replace the file through a temporary file.
write_file() {
  mkdir -p -- "$(dirname -- "$1")"
  printf '%s' "$2" >"$1.kubevirt-lab.tmp"
  mv -f -- "$1.kubevirt-lab.tmp" "$1"
}

# remove_file <path>: delete the file if it is there (then changed=changed).
remove_file() {
  if [[ -e $1 || -L $1 ]]; then
    rm -f -- "$1"
    changed=changed
  fi
}

# update_in_place <path> <content>: a file of the host's own (fstab, SELinux's config) replaced
# through a temporary copy that keeps its mode and owner, unless it holds exactly <content> (then
# changed=changed).
update_in_place() {
  if ! file_is "$1" "$2"; then
    cp -p -- "$1" "$1.kubevirt-lab.tmp"
    printf '%s' "$2" >"$1.kubevirt-lab.tmp"
    mv -f -- "$1.kubevirt-lab.tmp" "$1"
    changed=changed
  fi
}

# The lab's record of the files it writes (own_file): per file, the sha256 of what it last wrote
# (<OWNED>/<path, / as %>.sha256) and the file that was there before, if it was not the lab's
# (<...>.orig, kept to be put back). A file is the lab's only while it holds what the lab wrote.
OWNED=/var/lib/kubevirt-lab/owned

# owned_record <path>: the record's name of a file (without .sha256 / .orig).
owned_record() {
  printf '%s/%s' "$OWNED" "${1//\//%}"
}

# owned <path>: the file holds exactly what the lab last wrote there.
owned() {
  local record sum
  record=$(owned_record "$1")
  [[ -f $1 && -f $record.sha256 ]] || return 1
  sum=$(sha256sum <"$1")
  [[ ${sum%% *} == "$(<"$record.sha256")" ]]
}

# own_file <path> <content> [<mode> [<owner>]]: the file holds <content> (and <mode>, <owner>) as
# the lab's (then changed=changed when anything was done). Before the lab first writes over a file
# that is not its own, that file is kept to be put back by disown_file. A file already holding
# <content> (written by an earlier release, which kept no record) is taken as the lab's.
own_file() {
  local path=$1 content=$2 mode=${3:-644} owner=${4:-} record sum
  record=$(owned_record "$path")
  (umask 077 && mkdir -p -- "$OWNED") # the originals kept there may be private (a kubeconfig)
  if ! file_is "$path" "$content"; then
    if [[ -e $path ]] && ! owned "$path" && [[ ! -e $record.orig ]]; then
      cp -p -- "$path" "$record.orig.kubevirt-lab.tmp" # through a temporary file: a copy cut off midway is no original
      mv -f -- "$record.orig.kubevirt-lab.tmp" "$record.orig"
    fi
    mkdir -p -- "$(dirname -- "$path")"
    (umask 077 && printf '%s' "$content" >"$path.kubevirt-lab.tmp")
    chmod "$mode" -- "$path.kubevirt-lab.tmp"
    if [[ -n $owner ]]; then chown -- "$owner" "$path.kubevirt-lab.tmp"; fi
    mv -f -- "$path.kubevirt-lab.tmp" "$path"
    changed=changed
  fi
  if [[ $(stat -c %a -- "$path") != "$mode" ]]; then
    chmod "$mode" -- "$path"
    changed=changed
  fi
  if [[ -n $owner && $(stat -c %u:%g -- "$path") != "$owner" ]]; then
    chown -- "$owner" "$path"
    changed=changed
  fi
  sum=$(sha256sum <"$path")
  if [[ ! -f $record.sha256 || $(<"$record.sha256") != "${sum%% *}" ]]; then
    printf '%s\n' "${sum%% *}" >"$record.sha256.kubevirt-lab.tmp"
    mv -f -- "$record.sha256.kubevirt-lab.tmp" "$record.sha256"
  fi
}

# disown_file <path>: what own_file wrote goes: while the file still holds what the lab wrote, it
# is removed, or replaced by the file that was there before (then changed=changed); a file changed
# since, or never the lab's, is left as it is (said so). The record goes.
disown_file() {
  local path=$1 record
  record=$(owned_record "$path")
  if [[ ! -f $record.sha256 ]]; then
    [[ ! -e $path ]] || echo "$SCRIPT: $path was not written by kubevirt-lab: left as it is"
  elif [[ ! -e $path ]]; then
    if [[ -e $record.orig ]]; then
      mv -f -- "$record.orig" "$path"
      changed=changed
    fi
  elif ! owned "$path"; then
    echo "$SCRIPT: $path was changed since kubevirt-lab wrote it: left as it is"
  elif [[ -e $record.orig ]]; then
    mv -f -- "$record.orig" "$path"
    echo "$SCRIPT: $path: the file that was there before kubevirt-lab is back"
    changed=changed
  else
    rm -f -- "$path"
    changed=changed
  fi
  rm -f -- "$record.sha256" "$record.orig"
}

# hide_tokens: copy stdin to stdout with kubeadm bootstrap tokens hidden.
hide_tokens() {
  sed -E 's/[a-z0-9]{6}\.[a-z0-9]{16}/<token hidden by kubevirt-lab>/g'
}

# kubeadm_left_state: did kubeadm init or join leave anything in /etc/kubernetes?
kubeadm_left_state() {
  local f k8s=$K8S_DIR
  for f in admin.conf kubelet.conf bootstrap-kubelet.conf controller-manager.conf scheduler.conf; do
    [[ -e $k8s/$f ]] && return 0
  done
  for f in manifests pki; do
    [[ -d $k8s/$f && -n $(ls -A -- "$k8s/$f") ]] && return 0
  done
  return 1
}

# kubeadm_reset: when kubeadm left something (kubeadm_left_state), `kubeadm reset`, with --force
# when this kubeadm knows it (1.9 does not, and does not ask), tokens hidden; then changed=changed.
# 1.9's reset leaves the bootstrap-kubelet.conf of `kubeadm join` behind (it deletes only admin,
# kubelet, controller-manager and scheduler.conf): it goes too, so that nothing of kubeadm's is left.
kubeadm_reset() {
  local help force=()
  kubeadm_left_state || return 0
  help=$(kubeadm reset --help 2>&1 || true)
  if [[ $help =~ (^|[[:space:],])--force([[:space:]]|$) ]]; then
    force=(--force)
  fi
  kubeadm reset ${force[@]+"${force[@]}"} </dev/null 2>&1 | hide_tokens
  rm -f -- "$BOOTSTRAP_CONF"
  pod_network_reset
  changed=changed
}

# pod_network_reset: what the pod network left that kubeadm 1.9's reset does not remove (it
# removes the containers and /etc/cni/net.d, not the host's side of the network): the cni0 bridge
# and flannel.1 VXLAN device, kube-proxy's KUBE-* chains and the rules jumping to them, flanneld's
# --ip-masq rules for its network (read from /run/flannel/subnet.env), the CNI plugins' and
# flanneld's state (/var/lib/cni, /run/flannel) and KubeVirt's runtime folders (/var/run/kubevirt,
# /var/run/kubevirt-private). Other rules and devices are left alone.
pod_network_reset() {
  local link table dump kept net="" subnet="" sn="" env=/run/flannel/subnet.env
  if [[ -f $env ]]; then
    net=$(sed -n 's/^FLANNEL_NETWORK=//p' "$env")
    subnet=$(sed -n 's/^FLANNEL_SUBNET=//p' "$env")
    [[ $subnet =~ ^([0-9]+\.[0-9]+\.[0-9]+)\.[0-9]+/([0-9]+)$ ]] && sn="${BASH_REMATCH[1]}.0/${BASH_REMATCH[2]}"
  fi
  for link in cni0 flannel.1; do
    if ip link show dev "$link" >/dev/null 2>&1; then
      ip link delete dev "$link"
      echo "$SCRIPT: deleted $link"
    fi
  done
  if command -v iptables-save >/dev/null 2>&1; then
    for table in nat filter mangle; do
      dump=$(iptables-save -t "$table" 2>/dev/null) || continue
      kept=$(printf '%s\n' "$dump" | grep -v -e '-j KUBE-' -e '^:KUBE-' -e '^-A KUBE-' |
        { if [[ -n $net ]]; then grep -v -x -F -e "-A POSTROUTING -s $net -d $net -j RETURN" \
          -e "-A POSTROUTING -s $net ! -d 224.0.0.0/4 -j MASQUERADE" -e "-A POSTROUTING ! -s $net -d $sn -j RETURN" \
          -e "-A POSTROUTING ! -s $net -d $net -j MASQUERADE"; else cat; fi; } || true)
      if [[ $kept != "$dump" ]]; then
        printf '%s\n' "$kept" | iptables-restore
        echo "$SCRIPT: removed kube-proxy's and flannel's rules from the $table table"
      fi
    done
  fi
  # KubeVirt's runtime folders on the node (virt-handler's and the launchers' sockets, the VMs' private data)
  rm -rf -- /var/lib/cni /run/flannel /var/run/kubevirt /var/run/kubevirt-private
}

# kubeadm_lock: one kubeadm init, join or reset of ours at a time on this host. A killed engine
# leaves its step's command running on the host (without a terminal nothing stops it), so the
# step run again may find the first run still at work: it waits for that run to end (saying so,
# at most 15 minutes), then looks at what it left. The lock is a flock on
# /run/lock/kubevirt-lab-kubeadm.lock, held until this script (and what it runs) ends.
kubeadm_lock() {
  local fd
  mkdir -p /run/lock
  exec {fd}>>/run/lock/kubevirt-lab-kubeadm.lock
  flock -n "$fd" && return 0
  echo "$SCRIPT: an earlier kubeadm run of kubevirt-lab on this host is still at work (its pulumi was cut off?): waiting for it to end"
  flock -w 900 "$fd" || die "an earlier kubeadm run of kubevirt-lab on this host still runs after 15 minutes (a flock on /run/lock/kubevirt-lab-kubeadm.lock): see what runs there (ps -ef | grep kubeadm)"
}

# ignore_preflight_flag <check>...: PREFLIGHT=(--ignore-preflight-errors=<check>,<check>) for
# kubeadm init and join, or () without checks (kubeadm then ignores none).
# shellcheck disable=SC2034 # PREFLIGHT is read by the scripts
ignore_preflight_flag() {
  local IFS=,
  PREFLIGHT=()
  (($#)) && PREFLIGHT=("--ignore-preflight-errors=$*")
  return 0
}

# drain_node <node> [warn]: on the master, take a node out of the cluster: `kubectl drain` (the 1.9
# flags; --delete-local-data became --delete-emptydir-data in 1.20, used when this kubectl has
# it; at most 10 minutes), then `kubectl delete node`, then changed=changed. Nothing when the
# master has no admin.conf or the node is not in the cluster. When the node cannot be looked up
# (the API does not answer), die, or with `warn` say so and go on.
drain_node() {
  local node=$1 out help local_data=--delete-local-data admin=$ADMIN_CONF
  if [[ ! -f $admin ]]; then
    echo "$SCRIPT: $admin does not exist: no cluster to remove $node from"
  elif ! out=$(kubectl --kubeconfig="$admin" get node "$node" 2>&1); then
    if [[ $out == *NotFound* || $out == *"not found"* ]]; then
      echo "$SCRIPT: node $node is not in the cluster"
    elif [[ ${2:-} == warn ]]; then
      echo "$SCRIPT: cannot look up node $node, not drained: $out"
    else
      die "cannot look up node $node: $out"
    fi
  else
    help=$(kubectl --kubeconfig="$admin" drain --help 2>&1 || true)
    if [[ $help == *--delete-emptydir-data* ]]; then local_data=--delete-emptydir-data; fi
    kubectl --kubeconfig="$admin" drain "$node" --ignore-daemonsets "$local_data" --force --timeout=600s
    kubectl --kubeconfig="$admin" delete node "$node"
    changed=changed
  fi
}
# kubevirt-lab:check {
# The check action: `<script> check <the options of its apply>` is read-only. It prints on stdout
# one line per item the step owns (a file, a service, a package, a sysctl key...):
#   ok<TAB><item>                                  as apply makes it
#   drift<TAB><item><TAB><expected><TAB><saw>      not so: what apply would make, what is there
# and nothing else (what the step's functions say goes to stderr), then the closing line
# `kubevirt-lab: <script> check: unchanged` on stderr. A script declares it with
# `OPTIONS[check]=${OPTIONS[apply]}` (the same options, from the same binding) or its own options,
# and a `check` function. This part, and the script's own check part, reaches a host only with
# the check action (components/remote.ts renderScript): what apply and remove send is as it was.

# kvl::main (the one above) becomes kvl::main_without_check, and kvl::main is kvl::check_main, which
# gains the check action (both through eval: shellcheck would take the first kvl::main for dead code).
_kvl_main=$(declare -f kvl::main)
eval "kvl::main_without_check${_kvl_main#kvl::main}"
unset _kvl_main
eval 'kvl::main() { kvl::check_main "$@"; }'
# shellcheck disable=SC2317 # called through the eval above
kvl::check_main() {
  if [[ ${1-} != check ]]; then
    kvl::main_without_check "$@"
    return
  fi
  shift
  action=check
  [[ -n ${OPTIONS[check]+set} ]] || usage
  kvl::args "${OPTIONS[check]}" "$@"
  changed=unchanged
  # the items go to the stdout the script was given (fd 3); anything else the step prints, to stderr
  exec 3>&1 1>&2
  check ${LIST[@]+"${LIST[@]}"}
  finish >&2
}

# kvl::q <text>: the text in double quotes, as JSON writes a string.
kvl::q() {
  local t=$1
  t=${t//\\/\\\\}
  t=${t//\"/\\\"}
  t=${t//$'\t'/\\t}
  t=${t//$'\r'/\\r}
  t=${t//$'\n'/\\n}
  printf '"%s"' "$t"
}

# kvl::line <text>: the text on one line (tabs and newlines as spaces), for a field of an item.
kvl::line() {
  local t=${1//$'\t'/ }
  t=${t//$'\r'/ }
  printf '%s' "${t//$'\n'/ }"
}

# kvl::words <text>: its words, one blank between them (blanks at the ends dropped).
kvl::words() {
  local -a w
  read -r -d '' -a w <<<"$1" || true
  printf '%s' "${w[*]}"
}

# check_ok <item>, check_drift <item> <expected> <saw>: one item's line.
check_ok() {
  printf 'ok\t%s\n' "$(kvl::line "$1")" >&3
}
check_drift() {
  printf 'drift\t%s\t%s\t%s\n' "$(kvl::line "$1")" "$(kvl::line "$2")" "$(kvl::line "$3")" >&3
}

# check_is <item> <expected> <saw> <want> <have>: ok when <have> is <want>, else the drift.
check_is() {
  if [[ $4 == "$5" ]]; then check_ok "$1"; else check_drift "$1" "$2" "$3"; fi
}

# check_file <path> <content>: the item `file <path>`: the file holds exactly <content>; else its
# first line that differs (or that it is missing, ends early, goes on, has other line endings).
check_file() {
  local path=$1 have="" i n
  local -a a b
  if [[ ! -f $path ]]; then
    check_drift "file $path" "$path as the step writes it" "no such file"
    return 0
  fi
  IFS= read -r -d '' have <"$path" || true
  if [[ $have == "$2" ]]; then
    check_ok "file $path"
    return 0
  fi
  mapfile -t a <<<"$2"
  mapfile -t b <<<"$have"
  for ((i = 0; i < (${#a[@]} > ${#b[@]} ? ${#a[@]} : ${#b[@]}); i++)); do
    if ((i < ${#a[@]} && i < ${#b[@]})) && [[ ${a[i]} == "${b[i]}" ]]; then continue; fi
    n=$((i + 1))
    if ((i >= ${#b[@]})) || { [[ -z ${b[i]} ]] && ((i == ${#b[@]} - 1)); }; then
      check_drift "file $path" "$path line $n $(kvl::q "${a[i]}")" "the file ends before it"
    elif ((i >= ${#a[@]})) || { [[ -z ${a[i]} ]] && ((i == ${#a[@]} - 1)); }; then
      check_drift "file $path" "$path to end after line $i" "line $n $(kvl::q "${b[i]}")"
    else
      check_drift "file $path" "$path line $n $(kvl::q "${a[i]}")" "$(kvl::q "${b[i]}")"
    fi
    return 0
  done
  check_drift "file $path" "$path as the step writes it" "other line endings"
}

# kvl::check_mode: apply run after this writes nothing: the functions that write a file (own_file,
# write_file, update_in_place) check it instead (check_file), so that a check computes exactly
# what its apply would write. Only for an apply whose other commands are read-only.
# shellcheck disable=SC2317 # the functions it defines are called by apply
kvl::check_mode() {
  own_file() { check_file "$1" "$2"; }
  write_file() { check_file "$1" "$2"; }
  update_in_place() { check_file "$1" "$2"; }
}
# kubevirt-lab:check }
