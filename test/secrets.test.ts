// No secret on a command line or left behind by a killed run, for real: the join token in no
// process's arguments or environment on the worker while kubeadm join runs (sandboxes of
// test/lib/sandbox.ts, the stand-ins' kubeadm slowed down); ansible/run-playbook.sh SIGKILLed with
// its whole process group while Ansible runs: its secrets gone within a second, none in any
// process's arguments; the tools' ssh-agent (npm run drift, npm run verify) SIGKILLed with its
// tool: the agent gone, the key in no file of the temp dir, what the run left removed by the next.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";

import { namedArgv } from "../components/remote";
import { sandboxes, seedPreparedHost, sharedApiserver } from "./lib/hosts";
import { REPO_ROOT, sandboxSupported } from "./lib/sandbox";

const support = sandboxSupported();
const skip = support.ok ? false : support.reason;
const sandbox = sandboxes();
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every process's arguments and environment, as one text per process (read from /proc, in a sandbox or here). */
const PROCESSES = `for p in /proc/[0-9]*; do printf '%s ' "$(tr '\\0' ' ' < $p/cmdline 2>/dev/null)"; tr '\\0' ' ' < $p/environ 2>/dev/null; echo; done`;

/** Files under `dir` whose content holds `secret`. */
function filesHolding(dir: string, secret: string): string[] {
    const r = spawnSync("grep", ["-rlF", "--", secret, dir], { encoding: "utf8" });
    return r.stdout.split("\n").filter((l) => l !== "");
}

describe("no secret in a host's process list", { skip }, () => {
    it("kubeadm join gets its token on stdin (a NodeConfiguration): no process of the worker shows it while the join runs", async () => {
        const api = sharedApiserver();
        const km1 = await sandbox({ hostname: "km1", binds: api.binds });
        const kn1 = await sandbox({ hostname: "kn1", binds: api.binds, env: { SIM_DELAY_KUBEADM: "3" } });
        await seedPreparedHost(km1);
        await seedPreparedHost(kn1);
        const init = { "pod-network-cidr": "10.244.0.0/16", "service-cidr": "10.96.0.0/12", "node-name": "km1" };
        const initArgs = { ...init, "advertise-address": "172.31.50.221", "kubernetes-version": "1.9.4", "ssh-user": "root" };
        assert.equal((await km1.runScriptAsync("kubeadm-init.sh", ["apply", ...namedArgv(initArgs)])).code, 0);
        const line = (await km1.runScriptAsync("join-command.sh", namedArgv({ ttl: "15m" }))).stdout.trim();
        const token = /--token (\S+)/.exec(line)![1];

        const join = kn1.runScriptAsync("kubeadm-join.sh", ["apply", ...namedArgv({ "node-name": "kn1" })], {
            stdin: `${line}\n`,
            timeoutMs: 60_000,
        });
        let seen = 0;
        let sawKubeadm = false;
        for (let i = 0; i < 100; i++) {
            const ps = (await kn1.runAsync(PROCESSES)).stdout;
            seen++;
            sawKubeadm ||= / join --config \/dev\/stdin/.test(ps);
            assert.ok(!ps.includes(token) && !ps.includes(token.split(".")[1]), `a process of kn1 shows the token:\n${ps}`);
            if (sawKubeadm && seen > 5) break;
            await wait(100);
        }
        const r = await join;
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.ok(sawKubeadm, "kubeadm join --config /dev/stdin was seen running");
        assert.ok(!r.stdout.includes(token) && !r.stderr.includes(token), "nor in its output");
    });
});

describe(
    "no secret left behind by a killed run on the operator's machine",
    { skip: process.platform === "linux" ? false : "Linux only" },
    () => {
        it("run-playbook.sh killed (SIGKILL of its process group) while Ansible runs: its secrets gone, on no command line", async () => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-secrets-"));
            const bin = path.join(dir, "bin");
            const tmp = path.join(dir, "tmp");
            fs.mkdirSync(bin);
            fs.mkdirSync(tmp);
            // an ansible-playbook that stays at work until it is killed
            fs.writeFileSync(path.join(bin, "ansible-playbook"), '#!/bin/sh\necho started > "$TMPDIR/started"\nexec sleep 60\n', {
                mode: 0o755,
            });
            fs.writeFileSync(path.join(dir, "inventory.yml"), "all: {}\n");
            const password = `pw-${process.pid}-a-long-password`;
            try {
                const child = spawn("bash", [path.join(REPO_ROOT, "ansible", "run-playbook.sh"), path.join(dir, "inventory.yml")], {
                    env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, TMPDIR: tmp },
                    detached: true,
                    stdio: ["pipe", "ignore", "ignore"],
                });
                child.stdin.end(JSON.stringify({ mongodb_admin_password: password, mongodb_app_password: password }));
                for (let i = 0; i < 100 && !fs.existsSync(path.join(tmp, "started")); i++) await wait(50);
                assert.ok(fs.existsSync(path.join(tmp, "started")), "ansible-playbook runs");
                assert.equal(filesHolding(tmp, password).length, 1, "the secrets file, while Ansible runs");
                const ps = spawnSync("bash", ["-c", PROCESSES], { encoding: "utf8" }).stdout;
                assert.ok(!ps.includes(password), "no process shows the password");
                process.kill(-child.pid!, "SIGKILL"); // the script, Ansible, all of its group
                for (let i = 0; i < 40 && filesHolding(tmp, password).length > 0; i++) await wait(100);
                assert.deepEqual(filesHolding(tmp, password), [], "the secrets are gone");
                assert.deepEqual(
                    fs.readdirSync(tmp).filter((f) => f.startsWith("kubevirt-lab-ansible.")),
                    [],
                    "its directory too",
                );
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });

        it("npm run drift's ssh-agent holds the stack's secret key in memory only: killed with the tool, the agent goes, no file holds the key, the next run removes the dir", async () => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-secrets-"));
            try {
                spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(dir, "key")]);
                const key = fs.readFileSync(path.join(dir, "key"), "utf8");
                const body = key.split("\n")[2]; // a line of the key's base64, no line of the public key
                fs.rmSync(path.join(dir, "key"));
                const tmp = path.join(dir, "tmp");
                fs.mkdirSync(tmp);
                const script = [
                    'import { parseConfig } from "./components/config";',
                    'import { privateTempDir } from "./tools/lib/pulumi";',
                    'import { openSshAccess } from "./tools/lib/ssh";',
                    'import { sourceOf, stackConfig } from "./test/lib/stack";',
                    "(async () => {",
                    "  const cfg = parseConfig(sourceOf(stackConfig('dev', { sshPrivateKey: process.env.KVL_KEY })));",
                    "  const d = privateTempDir('drift');",
                    "  const a = await openSshAccess(cfg, new Map(), d, 60);",
                    "  console.log(JSON.stringify({ dir: d, identity: a.identity }));",
                    "  setInterval(() => undefined, 1000);",
                    "})();",
                ].join("\n");
                const child = spawn(process.execPath, ["--import", "tsx", "-e", script], {
                    cwd: REPO_ROOT,
                    env: { ...process.env, TMPDIR: tmp, KVL_KEY: key },
                    stdio: ["ignore", "pipe", "inherit"],
                });
                const out = await new Promise<string>((resolve) => child.stdout.on("data", (d: Buffer) => resolve(d.toString())));
                const { dir: toolDir, identity } = JSON.parse(out) as { dir: string; identity: string[] };
                const sock = identity[1].replace("IdentityAgent=", "");
                const listed = spawnSync("ssh-add", ["-l"], { env: { ...process.env, SSH_AUTH_SOCK: sock }, encoding: "utf8" });
                assert.equal(listed.status, 0, `the agent holds the key: ${listed.stderr}`);
                assert.deepEqual(filesHolding(tmp, body), [], "no file holds the key while the tool runs");
                const exited = new Promise((r) => child.on("exit", r));
                child.kill("SIGKILL");
                await exited; // reaped: its pid is gone
                const agentAlive = () => spawnSync("ssh-add", ["-l"], { env: { ...process.env, SSH_AUTH_SOCK: sock } }).status === 0;
                for (let i = 0; i < 40 && agentAlive(); i++) await wait(100);
                assert.equal(agentAlive(), false, "the agent is gone with its tool");
                assert.deepEqual(filesHolding(tmp, body), [], "no file holds the key after the kill");
                // the next run of a tool removes what the killed one left (nothing secret: known_hosts, a socket)
                const next = spawnSync(
                    process.execPath,
                    ["--import", "tsx", "-e", "import { privateTempDir } from './tools/lib/pulumi'; console.log(privateTempDir('drift'))"],
                    {
                        cwd: REPO_ROOT,
                        env: { ...process.env, TMPDIR: tmp },
                        encoding: "utf8",
                    },
                );
                assert.equal(next.status, 0, next.stderr);
                assert.equal(fs.existsSync(toolDir), false, "the killed run's directory removed by the next run");
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });
    },
);
