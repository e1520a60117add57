# shellcheck shell=bash
# Shared code of the kubevirt-lab recording stand-ins (harness/standins/bin).
#
# Every stand-in (yum, rpm, systemctl, kubeadm, ...) starts with
#
#     source "${BASH_SOURCE[0]%/*}/sim-lib.sh"
#     sim_init <prog> "$@"
#
# so this file must sit in the same directory as them (copy the files, do not
# symlink them from elsewhere). It is not executable and is not a program:
# being in a PATH directory does no harm. Needs bash >= 4.4 and flock; forks
# as little as it can (a stand-in call is bash + flock with bash 5).
#
# Settings (see harness/standins/README.md): taken from the environment, then
# from /etc/kubevirt-lab-sim/env when that file exists (its values win).
#   SIM_HOST       host name written in the calls log      (default: hostname)
#   SIM_CALLS      append-only calls log                   (default: /var/log/kubevirt-lab/calls.log)
#   SIM_STATE      the stand-ins' own state                (default: /var/lib/kubevirt-lab-sim)
#   SIM_APISERVER  directory shared by the hosts of one simulated cluster
#                                                          (default: /var/lib/kubevirt-lab-sim/apiserver)
#   SIM_DELAY_<PROG>  seconds to sleep per call, PROG upper-cased, '-' as '_'
#                  (SIM_DELAY_YUM=0.5, SIM_DELAY_DOCKER_STORAGE_SETUP=1)
#
# Stand-ins write only below /etc, /var, /root, $SIM_STATE, $SIM_APISERVER
# and $SIM_CALLS.

SIM_ENV_FILE=/etc/kubevirt-lab-sim/env
# Directory of the stand-ins themselves, to call a sibling (never a real program).
# shellcheck disable=SC2034 # used by the stand-ins that source this file
SIM_BIN=${BASH_SOURCE[0]%/*}

# sim_die <exit-code> <message>: print the message on stderr and exit.
sim_die() {
  local code=$1
  shift
  printf '%s\n' "$*" >&2
  exit "$code"
}

# sim_init <prog> <args...>: load settings, record the call, apply the delay.
sim_init() {
  SIM_PROG=$1
  shift
  if [[ -f $SIM_ENV_FILE ]]; then
    # shellcheck disable=SC1090
    source "$SIM_ENV_FILE"
  fi
  if [[ -z ${SIM_HOST:-} ]]; then
    read -r SIM_HOST </proc/sys/kernel/hostname || SIM_HOST=$(uname -n)
  fi
  SIM_CALLS=${SIM_CALLS:-/var/log/kubevirt-lab/calls.log}
  SIM_STATE=${SIM_STATE:-/var/lib/kubevirt-lab-sim}
  SIM_APISERVER=${SIM_APISERVER:-/var/lib/kubevirt-lab-sim/apiserver}
  export SIM_HOST SIM_CALLS SIM_STATE SIM_APISERVER
  sim_log "$@"
  local var=${SIM_PROG^^}
  var=SIM_DELAY_${var//-/_}
  if [[ -n ${!var:-} ]]; then
    sleep "${!var}"
  fi
}

# sim_log <args...>: append "<epoch-ms> <host> <prog> <args...>" to $SIM_CALLS,
# under flock. Arguments are written with bash's printf %q, so plain words
# appear as they are and an argument with a space or a newline stays one word
# on one line.
sim_log() {
  local line arg fd t q
  if [[ -n ${EPOCHREALTIME:-} ]]; then
    t=${EPOCHREALTIME/,/.}
    t=${t%.*}${t#*.}
    t=${t:0:13}
  else
    t=$(date +%s%3N)
  fi
  line="$t $SIM_HOST $SIM_PROG"
  for arg in "$@"; do
    printf -v q '%q' "$arg"
    line+=" $q"
  done
  [[ -d ${SIM_CALLS%/*} ]] || mkdir -p "${SIM_CALLS%/*}"
  exec {fd}>>"$SIM_CALLS"
  flock "$fd"
  printf '%s\n' "$line" >&"$fd"
  exec {fd}>&-
}

# Functions named *v set the variable named by their first argument instead of
# printing: no subshell, no fork (a stand-in call should cost two process
# starts, bash and flock).

# sim_write <path> <content>: write a file (parents created).
sim_write() {
  local path=$1
  [[ -d ${path%/*} ]] || mkdir -p "${path%/*}"
  printf '%s' "$2" >"$path"
}

# sim_getv <var> <file> <key>: var=value of "key=value" in a state file.
sim_getv() {
  local _sim_line
  [[ -f $2 ]] || return 1
  while IFS= read -r _sim_line || [[ -n $_sim_line ]]; do
    if [[ $_sim_line == "$3="* ]]; then
      printf -v "$1" '%s' "${_sim_line#"$3="}"
      return 0
    fi
  done <"$2"
  return 1
}

# sim_get <file> <key>: print the value of "key=value" in a state file.
sim_get() {
  local value
  sim_getv value "$1" "$2" || return 1
  printf '%s\n' "$value"
}

# sim_set <file> <key> <value>: set "key=value" in a state file.
sim_set() {
  local file=$1 key=$2 value=$3 line out=""
  if [[ -f $file ]]; then
    while IFS= read -r line || [[ -n $line ]]; do
      [[ $line == "$key="* ]] || out+="$line"$'\n'
    done <"$file"
  fi
  out+="$key=$value"$'\n'
  sim_write "$file" "$out"
}

# sim_rpm_versionv <var> <name>: var="<version>-<release>" of an installed package.
sim_rpm_versionv() {
  local _sim_f="$SIM_STATE/rpmdb/$2" _sim_v=""
  [[ -f $_sim_f ]] || return 1
  IFS= read -r _sim_v <"$_sim_f" || true
  printf -v "$1" '%s' "$_sim_v"
}

# sim_rpm_version <name>: print "<version>-<release>" of an installed package.
sim_rpm_version() {
  local v
  sim_rpm_versionv v "$1" || return 1
  printf '%s\n' "$v"
}

# sim_kube_versionv <var>: the version (no "v") of the installed kubeadm, or 1.9.4.
sim_kube_versionv() {
  local _sim_kv
  if sim_rpm_versionv _sim_kv kubeadm; then
    printf -v "$1" '%s' "${_sim_kv%%-*}"
  else
    printf -v "$1" '%s' 1.9.4
  fi
}

# sim_kube_version: print it.
sim_kube_version() {
  local v
  sim_kube_versionv v
  printf '%s\n' "$v"
}

# sim_unitv <var> <name>: normalised systemd unit name (docker -> docker.service).
sim_unitv() {
  case $2 in
    *.service | *.socket | *.target | *.timer | *.mount | *.path) printf -v "$1" '%s' "$2" ;;
    *) printf -v "$1" '%s.service' "$2" ;;
  esac
}

# sim_unit_active <name>: is the unit active in the simulated systemd?
sim_unit_active() {
  local u
  sim_unitv u "$1"
  [[ -f $SIM_STATE/systemd/$u.active ]]
}

# sim_randomv <var> <length> [<alphabet>]: random characters (lower-case
# letters and digits by default).
sim_randomv() {
  local _sim_chars=${3:-abcdefghijklmnopqrstuvwxyz0123456789} _sim_out="" _sim_i
  for ((_sim_i = 0; _sim_i < $2; _sim_i++)); do
    _sim_out+=${_sim_chars:RANDOM%${#_sim_chars}:1}
  done
  printf -v "$1" '%s' "$_sim_out"
}

# sim_b64v <var> <ascii-text>: var=base64 of the text (like base64 -w0).
sim_b64v() {
  local _in=$2 _out="" _a _b _c _n _i _len=${#2}
  local _t=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/
  for ((_i = 0; _i < _len; _i += 3)); do
    printf -v _a '%d' "'${_in:_i:1}"
    _b=0 _c=0
    if ((_i + 1 < _len)); then printf -v _b '%d' "'${_in:_i+1:1}"; fi
    if ((_i + 2 < _len)); then printf -v _c '%d' "'${_in:_i+2:1}"; fi
    _n=$((_a << 16 | _b << 8 | _c))
    _out+=${_t:_n>>18&63:1}${_t:_n>>12&63:1}
    if ((_i + 1 < _len)); then _out+=${_t:_n>>6&63:1}; else _out+="="; fi
    if ((_i + 2 < _len)); then _out+=${_t:_n&63:1}; else _out+="="; fi
  done
  printf -v "$1" '%s' "$_out"
}

# SIM_NOW: seconds since the epoch, when the stand-in started.
# shellcheck disable=SC2034 # used by the stand-ins that source this file
SIM_NOW=${EPOCHSECONDS:-$(date +%s)}
