#!/usr/bin/env bash
# End-to-end smoke test of kubevirt-lab's pulumi-resource-command under the real Pulumi engine:
# a throw-away Pulumi TypeScript project (local file backend, its own PULUMI_HOME) with a
# local.Command and two remote.Commands against a real sshd started on 127.0.0.1:<high port>.
#
# usage: tools/command-provider/smoke.sh
#   exit 0: all checks passed; 1: a check failed; 77: skipped (not root, no sshd/ssh-keygen,
#   no pulumi engine).
#
# Environment:
#   COMMAND_PROVIDER_BIN   provider binary to test (default: built from this directory)
#   SMOKE_KEEP=1           keep the temp directory (printed) for inspection
# The engine (pulumi, pulumi-language-nodejs) is taken from PATH, else from
# `tools/setup-engine.sh --print-env`.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
readonly HERE ROOT
readonly SECRET=s3cret-value
readonly PULUMI_TIMEOUT=300

say() { echo "smoke: $*" >&2; }
fail() { say "FAIL: $*"; exit 1; }
pass() { say "ok: $*"; }
skip() { say "SKIP: $*"; exit 77; }

[[ $(id -u) == 0 ]] || skip "needs root (sshd)"
[[ -x /usr/sbin/sshd ]] || skip "no /usr/sbin/sshd"
command -v ssh-keygen >/dev/null || skip "no ssh-keygen"
[[ -d $ROOT/node_modules/@pulumi/command ]] || skip "no node_modules/@pulumi/command"
if ! command -v pulumi >/dev/null || ! command -v pulumi-language-nodejs >/dev/null; then
  env_lines=$(bash "$ROOT/tools/setup-engine.sh" --print-env) || skip "no Pulumi engine (tools/setup-engine.sh failed)"
  eval "$env_lines"
fi

TMP=$(mktemp -d /tmp/command-provider-smoke.XXXXXX)
SSHD_PID=""
MADE_PRIVSEP=0
cleanup() {
  local rc=$?
  if [[ -n $SSHD_PID ]] && kill -0 "$SSHD_PID" 2>/dev/null; then
    kill "$SSHD_PID" 2>/dev/null || true
    wait "$SSHD_PID" 2>/dev/null || true
  fi
  if ((MADE_PRIVSEP)); then rmdir /run/sshd 2>/dev/null || true; fi
  if [[ ${SMOKE_KEEP:-0} == 1 ]]; then say "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export PULUMI_HOME=$TMP/pulumi-home
export PULUMI_BACKEND_URL=file://$TMP/state
export PULUMI_CONFIG_PASSPHRASE=x
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_NODEJS_TRANSPILE_ONLY=true
export PULUMI_SKIP_CONFIRMATIONS=true
unset SSH_AUTH_SOCK
mkdir -p "$TMP/state" "$PULUMI_HOME" "$TMP/tmp"
export TMPDIR=$TMP/tmp # what the engine and language host leave behind goes with $TMP
CONSOLE=$TMP/console.log # everything the CLI printed, checked for the secret
: >"$CONSOLE"

# --- the provider --------------------------------------------------------------------------------
BIN=${COMMAND_PROVIDER_BIN:-}
if [[ -z $BIN ]]; then
  BIN=$TMP/bin/pulumi-resource-command
  start=$(date +%s)
  (cd "$HERE" && go build -trimpath -ldflags "-s -w" -o "$BIN" ./) || fail "go build"
  say "built the provider in $(($(date +%s) - start))s"
fi
pulumi plugin install resource command v1.2.1 --file "$BIN" >>"$CONSOLE" 2>&1 || fail "pulumi plugin install"

# --- sshd on 127.0.0.1:<free high port> ----------------------------------------------------------
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=""
for _ in $(seq 1 50); do
  p=$((20000 + RANDOM % 40000))
  if port_free "$p"; then PORT=$p; break; fi
done
[[ -n $PORT ]] || fail "no free port found"

S=$TMP/sshd
mkdir -p "$S"
ssh-keygen -q -t ed25519 -N '' -C smoke-host -f "$S/host_ed25519"
ssh-keygen -q -t rsa -b 2048 -N '' -C smoke-host -f "$S/host_rsa"
ssh-keygen -q -t ed25519 -N '' -C smoke-client -f "$S/client"
cp "$S/client.pub" "$S/authorized_keys"
cat >"$S/sshd_config" <<EOF
ListenAddress 127.0.0.1:$PORT
HostKey $S/host_rsa
HostKey $S/host_ed25519
AuthorizedKeysFile $S/authorized_keys
PidFile $S/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
AllowTcpForwarding yes
AcceptEnv PULUMI_COMMAND_STDOUT PULUMI_COMMAND_STDERR
Subsystem sftp internal-sftp
EOF
if [[ ! -d /run/sshd ]]; then
  mkdir /run/sshd # sshd's privilege separation directory
  chmod 0755 /run/sshd
  MADE_PRIVSEP=1
fi
start_sshd() {
  /usr/sbin/sshd -D -e -f "$S/sshd_config" 2>>"$S/sshd.log" &
  SSHD_PID=$!
  for _ in $(seq 1 50); do
    port_free "$PORT" || return 0
    kill -0 "$SSHD_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$S/sshd.log" >&2
  fail "sshd did not start on 127.0.0.1:$PORT"
}
start_sshd
pass "sshd on 127.0.0.1:$PORT (pid $SSHD_PID)"

# --- the project ---------------------------------------------------------------------------------
P=$TMP/project
mkdir -p "$P"
ln -s "$ROOT/node_modules" "$P/node_modules"
cat >"$P/Pulumi.yaml" <<'EOF'
name: command-provider-smoke
runtime:
  name: nodejs
  options:
    typescript: true
EOF
cat >"$P/package.json" <<'EOF'
{ "name": "command-provider-smoke", "private": true, "main": "index.ts" }
EOF
cat >"$P/tsconfig.json" <<'EOF'
{
  "compilerOptions": {
    "strict": true, "target": "ES2020", "module": "commonjs", "moduleResolution": "node",
    "esModuleInterop": true, "skipLibCheck": true, "types": ["node"]
  },
  "files": ["index.ts"]
}
EOF
cat >"$P/index.ts" <<'EOF'
import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";

const cfg = new pulumi.Config();
const secret = pulumi.secret(cfg.require("secretValue"));
const port = cfg.requireNumber("port");
const privateKey = fs.readFileSync(cfg.require("keyFile"), "utf8");

const loc = new command.local.Command("loc", {
    create: "echo hi",
    delete: "echo bye",
    stdin: secret,
});

const rem = new command.remote.Command("rem", {
    connection: { host: "127.0.0.1", port, privateKey, hostKey: cfg.require("hostKey"), dialErrorLimit: 2, perDialTimeout: 2 },
    create: cfg.get("remoteCreate") ?? "cat",
    stdin: secret,
    triggers: [cfg.get("trigger") ?? "t1"],
    logging: "none",
}, { additionalSecretOutputs: ["stdout"] });

// Through a bastion (the same sshd), with the previous output in the environment on update.
const proxied = new command.remote.Command("proxied", {
    connection: { host: "127.0.0.1", port, privateKey, dialErrorLimit: 2, perDialTimeout: 2,
        proxy: { host: "127.0.0.1", port, privateKey, dialErrorLimit: 2, perDialTimeout: 2 } },
    create: `echo "proxied ${cfg.get("proxiedRun") ?? "1"} prev=$PULUMI_COMMAND_STDOUT"`,
});

export const locStdout = loc.stdout;
export const remStdout = rem.stdout;
export const proxiedStdout = proxied.stdout;
EOF

# pl ARGS...: pulumi in the project, bounded in time, output appended to the console log.
pl() {
  local out=$TMP/last.out rc=0
  (cd "$P" && timeout "$PULUMI_TIMEOUT" pulumi --non-interactive "$@") >"$out" 2>&1 || rc=$?
  cat "$out" >>"$CONSOLE"
  return "$rc"
}
show_last() { sed 's/^/    | /' "$TMP/last.out" >&2; }

pl stack init smoke >/dev/null || { show_last; fail "stack init"; }
pl config set port "$PORT"
pl config set keyFile "$S/client"
pl config set hostKey "$(cat "$S/host_ed25519.pub")"
pl config set --secret secretValue "$SECRET"

# state_check WHEN: the secret and the private key never in plaintext in the state.
state_check() {
  (cd "$P" && pulumi stack export) >"$TMP/state.json" 2>>"$CONSOLE" || fail "stack export ($1)"
  if grep -q "$SECRET" "$TMP/state.json"; then fail "'$SECRET' in plaintext in the state ($1)"; fi
  if grep -q "PRIVATE KEY" "$TMP/state.json"; then fail "the private key in plaintext in the state ($1)"; fi
  pass "state has no plaintext secret ($1)"
}

# op_of NAME: the operation of resource NAME in the last `pulumi preview --json`.
op_of() {
  node -e '
    const out = require("fs").readFileSync(process.argv[1], "utf8");
    const j = JSON.parse(out.slice(out.indexOf("{")));
    const ops = (j.steps || []).filter((s) => s.urn.endsWith("::" + process.argv[2])).map((s) => s.op);
    console.log(ops.join(",") || "same");
  ' "$TMP/last.out" "$1"
}

# 1. up
start=$(date +%s)
pl up --yes || { show_last; fail "pulumi up"; }
say "pulumi up (create) took $(($(date +%s) - start))s"
grep -q "hi" "$TMP/last.out" || fail "the local command's output was not logged"
[[ $(cd "$P" && pulumi stack output locStdout) == hi ]] || fail "locStdout is not 'hi'"
[[ $(cd "$P" && pulumi stack output remStdout --show-secrets) == "$SECRET" ]] || fail "remStdout is not the stdin secret"
[[ $(cd "$P" && pulumi stack output proxiedStdout) == "proxied 1 prev=" ]] || fail "proxiedStdout: $(cd "$P" && pulumi stack output proxiedStdout)"
pass "up: local, remote (stdin, pinned host key) and proxied commands ran"
state_check "after up"
node -e '
  const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const r = s.deployment.resources.find((x) => x.urn.endsWith("::rem"));
  const SIG = "4dabf18193072939515e22adb298388d";
  for (const k of ["connection", "stdin", "stdout"]) {
    if (!r.outputs[k] || r.outputs[k][SIG] === undefined) { console.error("rem." + k + " is not secret"); process.exit(1); }
  }
' "$TMP/state.json" || fail "remote outputs not marked secret"
pass "rem: connection, stdin and stdout are secret in the state"

# 2. no changes
pl preview --expect-no-changes || { show_last; fail "preview --expect-no-changes"; }
pass "preview --expect-no-changes"

# 3. a changed create command is an update in place
pl config set remoteCreate "cat; true"
pl config set proxiedRun 2
pl preview --json || { show_last; fail "preview (create changed)"; }
[[ $(op_of rem) == update ]] || fail "changed create: rem is '$(op_of rem)', want update"
pl preview --diff || { show_last; fail "preview --diff"; }
grep -q "create" "$TMP/last.out" || fail "preview --diff does not show the changed property"
pl up --yes || { show_last; fail "up (update)"; }
[[ $(cd "$P" && pulumi stack output remStdout --show-secrets) == "$SECRET" ]] || fail "remStdout after update"
[[ $(cd "$P" && pulumi stack output proxiedStdout) == "proxied 2 prev=proxied 1 prev=" ]] ||
  fail "proxiedStdout after update: $(cd "$P" && pulumi stack output proxiedStdout)"
pass "update: rem updated in place; proxied re-ran create with PULUMI_COMMAND_STDOUT (sshd AcceptEnv)"
state_check "after update"

# 4. changed triggers replace
pl config set trigger t2
pl preview --json || { show_last; fail "preview (triggers changed)"; }
[[ $(op_of rem) == replace ]] || fail "changed triggers: rem is '$(op_of rem)', want replace"
pl up --yes || { show_last; fail "up (replace)"; }
pass "triggers: rem replaced"
state_check "after replace"

# 5. destroy
pl destroy --yes || { show_last; fail "destroy"; }
grep -q "bye" "$TMP/last.out" || fail "the delete command's output was not logged"
pass "destroy ran the delete command"

# 6. unreachable host: fails within about dialErrorLimit x perDialTimeout, naming the address
kill "$SSHD_PID"
wait "$SSHD_PID" 2>/dev/null || true
SSHD_PID=""
start=$(date +%s)
if pl up --yes --skip-preview; then fail "up succeeded without sshd"; fi
took=$(($(date +%s) - start))
grep -q "failed to dial 127.0.0.1:$PORT after 2 attempts" "$TMP/last.out" || { show_last; fail "dial error does not name 127.0.0.1:$PORT"; }
((took < 60)) || fail "the failing up took ${took}s"
pass "sshd stopped: up failed in ${took}s with 'failed to dial 127.0.0.1:$PORT after 2 attempts'"
pl destroy --yes || { show_last; fail "final destroy"; }

# The secret never reached the console.
if grep -q "$SECRET" "$CONSOLE"; then fail "'$SECRET' appeared in the CLI output"; fi
pass "'$SECRET' never printed by the CLI"
say "PASS"
