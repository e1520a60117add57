#!/usr/bin/env bash
# kubeadm-join.sh: join this worker to the cluster (the post's `kubeadm join`).
#
#   kubeadm-join.sh apply --node-name <name> [--ignore-preflight-errors <check>]...
#                         [--kubelet-timeout <seconds>]      the join line on stdin
#   kubeadm-join.sh remove                       `kubeadm reset`
#
# apply does nothing when this node has joined (joined, below; stdin is not
# read then). Otherwise it reads one line, which must be
#   kubeadm join --token <token> <host:port> --discovery-token-ca-cert-hash sha256:<hex>
# (any order of the arguments, "--flag=value" too), and runs
#   kubeadm join --config /dev/stdin
# with --ignore-preflight-errors=<a>,<b> when checks are given, the token, the
# endpoint, the CA hash and the node name in a NodeConfiguration (kubeadm 1.9's
# kubeadm.k8s.io/v1alpha1) written into kubeadm's stdin by bash's printf: the token
# is never in a process's arguments (ps shows them to every user) nor in a file. 1.9's join writes
# only bootstrap-kubelet.conf (and pki/ca.crt) and starts the kubelet, which
# makes the node's own credentials (the TLS bootstrap) and writes kubelet.conf:
# apply waits for that, at most --kubelet-timeout seconds (default 120), and
# fails naming the kubelet when it does not come. The token is never printed,
# also not under `bash -x`, and kubeadm's output goes through a filter that
# hides tokens. remove resets only when kubeadm left something, with --force
# when this kubeadm has that flag.
#
# A join cut off midway (a killed run, a reboot) can leave pki/ca.crt, bootstrap-kubelet.conf or
# even kubelet.conf without the node in the cluster, so a file alone does not say it joined:
# joined is kubelet.conf there (while bootstrap-kubelet.conf is, the kubelet's TLS bootstrap is
# waited for, at most --kubelet-timeout seconds) and the node registered, as the API server tells
# the node's own credentials (kubectl --kubeconfig=kubelet.conf get node <name>, also waited
# for). What a cut-off join left is reset (kubeadm reset), then it joins again; when the API
# server does not answer, whether the node joined cannot be told: apply fails and leaves it as it
# is. One kubeadm run at a time (kubeadm_lock): a run of an earlier, cut-off step still at work is
# waited for.
set -euo pipefail
umask 022

SCRIPT=kubeadm-join.sh
# shellcheck source=../lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh" # kubevirt-lab:lib
OPTIONS[apply]='node-name ignore-preflight-errors* kubelet-timeout?'
OPTIONS[remove]=''
FORM="kubeadm join --token <token> <host:port> --discovery-token-ca-cert-hash sha256:<hex>"

# refuse <reason>: a bad join line. Nothing of the line itself is shown.
refuse() {
  die "the join line on stdin is not of the form '$FORM': $1 (values are not shown: the line holds a secret)"
}

# node_configuration <token> <endpoint> <ca hash> <node name>: kubeadm 1.9's NodeConfiguration for
# `kubeadm join --config`, printed by a builtin (no process gets the token as an argument). The
# values were checked above (the token, endpoint and hash) and by config.ts (the node name).
node_configuration() {
  printf '%s\n' \
    "apiVersion: kubeadm.k8s.io/v1alpha1" \
    "kind: NodeConfiguration" \
    "token: $1" \
    "discoveryToken: $1" \
    "tlsBootstrapToken: $1" \
    "discoveryTokenAPIServers:" \
    "- $2" \
    "discoveryTokenCACertHashes:" \
    "- $3" \
    "nodeName: $4"
}

# joined <node> <seconds>: has this node joined (see the top)? 0: yes; 1: nothing of a join is
# here; 2: what a join cut off midway left is (said why). Dies when the API server cannot be asked.
joined() {
  local node=$1 timeout=$2 t0=$SECONDS out=""
  if [[ ! -e $KUBELET_CONF && ! -e $BOOTSTRAP_CONF ]]; then
    kubeadm_left_state || return 1
    echo "$SCRIPT: kubeadm left files in $K8S_DIR, but neither $BOOTSTRAP_CONF nor $KUBELET_CONF: a kubeadm join cut off midway"
    return 2
  fi
  while :; do
    if [[ -e $KUBELET_CONF ]] && out=$(kubectl --kubeconfig="$KUBELET_CONF" get node "$node" --request-timeout=10s 2>&1); then
      return 0
    fi
    ((SECONDS - t0 < timeout)) || break
    sleep 1
  done
  if [[ ! -e $KUBELET_CONF ]]; then
    echo "$SCRIPT: $BOOTSTRAP_CONF exists, but no kubelet has written $KUBELET_CONF within ${timeout}s: a kubeadm join cut off midway"
    return 2
  fi
  [[ $out == *NotFound* || $out == *"not found"* ]] ||
    die "cannot ask the API server whether node $node has joined (kubectl --kubeconfig=$KUBELET_CONF get node $node: ${out##*$'\n'}): is the master up?"
  echo "$SCRIPT: $KUBELET_CONF exists, but node $node is not in the cluster after ${timeout}s: a kubeadm join cut off midway"
  return 2
}

# apply [<preflight check to ignore>]...
apply() {
  local xtrace=0 token="" endpoint="" ca_hash="" word i timeout=${ARG[kubelet-timeout]:-120} waited=0
  local -a words=()
  local state=0
  kubeadm_lock
  joined "${ARG[node-name]}" "$timeout" || state=$?
  if ((state == 0)); then
    echo "$SCRIPT: $KUBELET_CONF exists and node ${ARG[node-name]} is in the cluster: this node has already joined"
    return 0
  fi
  if ((state == 2)); then kubeadm_reset; fi
  # From here on the token is in variables: no tracing.
  if [[ $- == *x* ]]; then xtrace=1; fi
  { set +x; } 2>/dev/null
  read -r -t 60 -a words || [[ ${#words[@]} -gt 0 ]] || refuse "no line on stdin"
  if ((${#words[@]} < 2)) || [[ ${words[0]} != kubeadm || ${words[1]} != join ]]; then
    refuse "it does not start with 'kubeadm join'"
  fi
  i=2
  while ((i < ${#words[@]})); do
    word=${words[i]}
    case $word in
      --token=*) [[ -z $token ]] || refuse "--token given twice"; token=${word#*=} ;;
      --token)
        [[ -z $token ]] || refuse "--token given twice"
        ((i + 1 < ${#words[@]})) || refuse "--token without a value"
        i=$((i + 1))
        token=${words[i]}
        ;;
      --discovery-token-ca-cert-hash=*) [[ -z $ca_hash ]] || refuse "--discovery-token-ca-cert-hash given twice"; ca_hash=${word#*=} ;;
      --discovery-token-ca-cert-hash)
        [[ -z $ca_hash ]] || refuse "--discovery-token-ca-cert-hash given twice"
        ((i + 1 < ${#words[@]})) || refuse "--discovery-token-ca-cert-hash without a value"
        i=$((i + 1))
        ca_hash=${words[i]}
        ;;
      -*) refuse "an unexpected option (argument $i)" ;;
      *) [[ -z $endpoint ]] || refuse "more than one API server endpoint"; endpoint=$word ;;
    esac
    i=$((i + 1))
  done
  [[ $token =~ ^[a-z0-9]{6}\.[a-z0-9]{16}$ ]] || refuse "no token of the form [a-z0-9]{6}.[a-z0-9]{16}"
  [[ $endpoint =~ ^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):[0-9]{1,5}$ ]] || refuse "no API server endpoint <host:port>"
  [[ $ca_hash =~ ^sha256:[0-9a-f]{64}$ ]] || refuse "no --discovery-token-ca-cert-hash sha256:<64 hex digits>"
  ignore_preflight_flag "$@"
  node_configuration "$token" "$endpoint" "$ca_hash" "${ARG[node-name]}" |
    kubeadm join --config /dev/stdin ${PREFLIGHT[@]+"${PREFLIGHT[@]}"} 2>&1 | hide_tokens
  token="" words=()
  if ((xtrace)); then set -x; fi
  [[ -f $KUBELET_CONF || -f $BOOTSTRAP_CONF ]] || die "kubeadm join wrote neither $BOOTSTRAP_CONF nor $KUBELET_CONF"
  changed=changed
  while [[ ! -f $KUBELET_CONF ]]; do
    ((waited < timeout * 2)) ||
      die "kubeadm join wrote $BOOTSTRAP_CONF, but the kubelet has not written $KUBELET_CONF (its TLS bootstrap) within ${timeout}s: is it running? (systemctl status kubelet)"
    sleep 0.5
    waited=$((waited + 1))
  done
  if ((waited > 0)); then
    echo "$SCRIPT: the kubelet wrote $KUBELET_CONF (its TLS bootstrap) $((waited / 2)).$((waited % 2 * 5))s after kubeadm join"
  fi
}

remove() {
  kubeadm_lock
  kubeadm_reset
}

# kubevirt-lab:check {
# check <the apply's options>: the item `kubeadm join`: the kubelet's kubelet.conf is there (the
# node's Ready is wait-nodes.sh's check, on the master).
OPTIONS[check]=${OPTIONS[apply]}
check() {
  if [[ -f $KUBELET_CONF ]]; then
    check_ok "kubeadm join"
  else
    check_drift "kubeadm join" "$KUBELET_CONF (kubeadm join done)" "no such file"
  fi
}
# kubevirt-lab:check }
kvl::main "$@"
