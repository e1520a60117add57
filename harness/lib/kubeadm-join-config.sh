#!/bin/bash
# kubeadm 1.9's `kubeadm join --config <file>` (a kubeadm.k8s.io/v1alpha1 NodeConfiguration) for the
# recording kubeadm stand-in of harness/standins/bin, which knows only join's flags: installed as
# `kubeadm` beside the stand-in, renamed `kubeadm.standin` (harness/lib/standins.ts makes that
# directory). For `join --config <file>` it reads the file here (steps/kubeadm-join/kubeadm-join.sh gives
# /dev/stdin) and runs the stand-in *in this process* (sourced) with the flags it knows, so that
# no process gets the token as an argument, as with the real kubeadm; every other call is the
# stand-in's as it is. The stand-in's calls log then shows the join with its flags.
# A bridge until the stand-in reads the file itself.
set -euo pipefail
standin=${BASH_SOURCE[0]%/*}/kubeadm.standin
if [[ ${1:-} == join && " $* " == *" --config "* ]]; then
  config="" rest=()
  shift
  while (($#)); do
    case $1 in
      --config) config=$2; shift ;;
      --config=*) config=${1#*=} ;;
      *) rest+=("$1") ;;
    esac
    shift
  done
  token="" endpoint="" hash="" node="" list=""
  while IFS= read -r line || [[ -n $line ]]; do
    case $line in
      "token: "*) token=${line#token: } ;;
      "nodeName: "*) node=${line#nodeName: } ;;
      discoveryTokenAPIServers:) list="endpoint" ;;
      discoveryTokenCACertHashes:) list="hash" ;;
      "- "*) if [[ $list == endpoint ]]; then endpoint=${line#- }; elif [[ $list == hash ]]; then hash=${line#- }; fi ;;
      *) list="" ;;
    esac
  done <"$config"
  set -- join --token "$token" "$endpoint" --discovery-token-ca-cert-hash "$hash" --node-name "$node" ${rest[@]+"${rest[@]}"}
fi
# shellcheck source=/dev/null
source "$standin" "$@"
