#!/usr/bin/env bash
# kubeadm-join.sh: join this worker to the cluster (the post's `kubeadm join`).
#
#   kubeadm-join.sh apply --node-name <name>     the join line on stdin
#   kubeadm-join.sh remove                       `kubeadm reset`
#
# apply does nothing when /etc/kubernetes/kubelet.conf exists (stdin is not
# read then). Otherwise it reads one line, which must be
#   kubeadm join --token <token> <host:port> --discovery-token-ca-cert-hash sha256:<hex>
# (any order of the arguments, "--flag=value" too), and runs
#   kubeadm join --token <token> <host:port> --discovery-token-ca-cert-hash sha256:<hex> --node-name <node-name>
# The token is never printed, also not under `bash -x`, and kubeadm's output
# goes through a filter that hides tokens. remove resets only when kubeadm
# left something, with --force when this kubeadm has that flag.
set -euo pipefail
umask 022

SCRIPT=kubeadm-join.sh
# shellcheck source=lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh" # kubevirt-lab:lib
OPTIONS[apply]='node-name'
OPTIONS[remove]=''
KUBELET_CONF=/etc/kubernetes/kubelet.conf
FORM="kubeadm join --token <token> <host:port> --discovery-token-ca-cert-hash sha256:<hex>"

# refuse <reason>: a bad join line. Nothing of the line itself is shown.
refuse() {
  die "the join line on stdin is not of the form '$FORM': $1 (values are not shown: the line holds a secret)"
}

apply() {
  local xtrace=0 token="" endpoint="" ca_hash="" word i
  local -a words=()
  if [[ -e $KUBELET_CONF ]]; then
    echo "$SCRIPT: $KUBELET_CONF exists: this node has already joined"
    return 0
  fi
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
  kubeadm join --token "$token" "$endpoint" --discovery-token-ca-cert-hash "$ca_hash" \
    --node-name "${ARG[node-name]}" 2>&1 | hide_tokens
  token="" words=()
  if ((xtrace)); then set -x; fi
  [[ -f $KUBELET_CONF ]] || die "kubeadm join did not write $KUBELET_CONF"
  changed=changed
}

remove() {
  kubeadm_reset
}

kvl::main "$@"
