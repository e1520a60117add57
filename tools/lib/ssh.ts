// How the tools reach the hosts over SSH, as the components do (components/remote.ts connection):
// the stack's user, port and key (held by an ssh-agent of this process, never in a file), each
// host's expected key and no other; and running steps' checks on a host, in one SSH session.
import { execFile, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { HostSpec, LabConfig, shortName } from "../../components/config";
import { keyLine, parseKeyscan, preferredKey, sshHosts } from "../../components/hostKeys";
import { ResolvedArgs, hostScript, namedArgv } from "../../components/remote";
import { parsePublicKey } from "../../components/values";
import { Exec, StackState, exec } from "./pulumi";

/** The stack's secret key, in memory (for ssh-add's stdin). */
const secretText = (o: LabConfig["ssh"]["privateKey"]): Promise<string> => new Promise((res) => o.apply((v) => (res(v), v)));

/**
 * The host key each host's steps expect, by address (`<type> <base64>`), as the program pins them
 * (components/hostKeys.ts): the host object's hostKey, else the record the first `up` left in the
 * state (`pulumi stack export`: the stdout of `<host>-host-key`). A host with neither has none.
 */
export function expectedHostKeys(cfg: LabConfig, state: StackState): Map<string, string> {
    const recorded = new Map<string, string>();
    for (const h of sshHosts(cfg)) {
        const k = preferredKey(parseKeyscan(state.stdoutOf(`${shortName(h.name)}-host-key`) ?? ""));
        if (k) recorded.set(shortName(h.name), keyLine(k));
    }
    const out = new Map<string, string>();
    for (const h of sshHosts(cfg)) {
        const pinned = h.hostKey === undefined ? undefined : parsePublicKey(h.hostKey);
        const key = pinned ? keyLine(pinned) : recorded.get(shortName(h.name));
        if (key) out.set(h.address, key);
    }
    return out;
}

/** How ssh reaches the hosts: its identity options, the known_hosts of the expected keys; close() ends what it started. */
export interface SshAccess {
    identity: string[];
    knownHosts: string;
    /** address → expected key: a host without one is not contacted. */
    hostKeys: ReadonlyMap<string, string>;
    close(): Promise<void>;
}

/**
 * The SSH access of the tools, in `dir` (a private temporary directory): known_hosts with each
 * host's expected key (no other key is accepted), and the key: the stack's key file when it gives
 * sshPrivateKeyPath, else its secret key held in memory only, by an ssh-agent of this process
 * (never written to a file). The agent ends with close(), and also when this process is killed by
 * any signal, SIGKILL included: a guard shell holds the read end of a pipe from this process and
 * kills the agent at end of file; its key lives at most `lifetimeSeconds` there anyway.
 */
export async function openSshAccess(
    cfg: LabConfig,
    hostKeys: ReadonlyMap<string, string>,
    dir: string,
    lifetimeSeconds: number,
): Promise<SshAccess> {
    const knownHosts = path.join(dir, "known_hosts");
    const port = cfg.ssh.port;
    fs.writeFileSync(knownHosts, [...hostKeys].map(([a, k]) => `${port === 22 ? a : `[${a}]:${port}`} ${k}\n`).join(""));
    if (cfg.ssh.privateKeyPath) return { identity: ["-i", cfg.ssh.privateKeyPath], knownHosts, hostKeys, close: async () => undefined };
    const sock = path.join(dir, "agent.sock");
    const guard = spawn(
        "sh",
        ["-c", 'ssh-agent -D -a "$1" >/dev/null 2>&1 & a=$!; trap \'kill "$a" 2>/dev/null\' EXIT; read -r _ || :', "kvl-agent-guard", sock],
        {
            stdio: ["pipe", "ignore", "ignore"],
        },
    );
    const close = () =>
        new Promise<void>((resolve) => {
            if (guard.exitCode !== null || guard.signalCode !== null) return resolve();
            guard.once("exit", () => resolve());
            guard.stdin!.end();
        });
    for (let i = 0; i < 100 && !fs.existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
    const added = await new Promise<Exec>((resolve) => {
        const p = execFile(
            "ssh-add",
            ["-q", "-t", String(lifetimeSeconds), "-"],
            { env: { ...process.env, SSH_AUTH_SOCK: sock }, timeout: 10_000 },
            (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }),
        );
        void secretText(cfg.ssh.privateKey).then((key) => p.stdin!.end(`${key.trim()}\n`));
    });
    if (added.code !== 0) {
        await close();
        throw new Error(`ssh-add could not hold the stack's sshPrivateKey in memory: ${added.stderr.trim()}`);
    }
    return { identity: ["-o", `IdentityAgent=${sock}`], knownHosts, hostKeys, close };
}

/**
 * OpenSSH's words for a host, as the components connect (components/remote.ts connection): the
 * stack's user, port and key, the host's expected key and no other, bounded dialing.
 */
export function sshArgs(cfg: LabConfig, host: HostSpec, access: Pick<SshAccess, "identity" | "knownHosts">, sshConfig?: string): string[] {
    const s = cfg.ssh;
    const options = [
        "BatchMode=yes",
        `ConnectTimeout=${s.perDialTimeout}`,
        `ConnectionAttempts=${Math.min(s.dialErrorLimit, 10)}`,
        "ServerAliveInterval=10",
        "LogLevel=ERROR",
        `UserKnownHostsFile=${access.knownHosts}`,
        "GlobalKnownHostsFile=/dev/null",
        "StrictHostKeyChecking=yes",
    ];
    return [
        ...(sshConfig ? ["-F", sshConfig] : []),
        ...options.flatMap((o) => ["-o", o]),
        ...access.identity,
        "-p",
        String(s.port),
        "-l",
        s.user,
        host.address,
    ];
}

/** A step's check to run on a host: its script and the options its binding gives (apply's, run's). */
export interface StepCheck {
    /** What the report calls it (repo, kubeadm-init, ...). */
    step: string;
    script: string;
    args: ResolvedArgs;
}

/** One item a check printed: ok, or what was expected and what is there. */
export interface CheckItem {
    item: string;
    drift?: { expected: string; saw: string };
}

/** The lines of a check (steps/lib.sh, check): `ok<TAB><item>` or `drift<TAB><item><TAB><expected><TAB><saw>`. */
export function parseCheck(script: string, stdout: string): CheckItem[] {
    return stdout
        .split("\n")
        .filter((l) => l !== "")
        .map((line) => {
            const f = line.split("\t");
            if (f[0] === "ok" && f.length === 2) return { item: f[1] };
            if (f[0] === "drift" && f.length === 4) return { item: f[1], drift: { expected: f[2], saw: f[3] } };
            throw new Error(`${script} check printed a line that is not an item: ${JSON.stringify(line)}`);
        });
}

const STEP_MARK = "kubevirt-lab-step-end";
/** The line after a step's check: its index among the steps and its exit status. */
const STEP_END = new RegExp(`^${STEP_MARK} (\\d+) (\\d+)$`);

/**
 * Runs the checks of `steps` on a host, in one SSH session: a shell reads, on its stdin, each
 * step's check command line (components/remote.ts hostScript: the script with its check part, as
 * root) in a subshell of its own, and a line marking its end and exit status after it. Bounded by
 * `timeoutMs`. Each step's items, or an error naming the host.
 */
export async function runChecks(
    cfg: LabConfig,
    host: HostSpec,
    access: Pick<SshAccess, "identity" | "knownHosts" | "hostKeys">,
    steps: readonly StepCheck[],
    opts: { sshConfig?: string; timeoutMs: number },
): Promise<Map<string, CheckItem[]>> {
    const where = `${cfg.ssh.user}@${host.address}:${cfg.ssh.port}`;
    if (!access.hostKeys.has(host.address))
        throw new Error(
            `${shortName(host.name)} (${where}): no host key to expect: neither a hostKey in its host object nor one recorded by pulumi up (run pulumi up first)`,
        );
    const script = steps
        .map(
            (s, i) =>
                `(\n${hostScript(s.script, ["check", ...namedArgv(s.args)], cfg.ssh.user)}\n) </dev/null\necho "${STEP_MARK} ${i} $?"\n`,
        )
        .join("");
    const r = await exec("ssh", [...sshArgs(cfg, host, access, opts.sshConfig), "sh -s"], opts.timeoutMs, undefined, script);
    const fail = (why: string) =>
        new Error(`${shortName(host.name)} (${where}): ${why}: ${r.stderr.trim().split("\n").slice(-3).join(" / ")}`);
    if (r.code === 255) throw fail("cannot reach it over SSH");
    const out = new Map<string, CheckItem[]>();
    let lines: string[] = [];
    for (const line of r.stdout.split("\n")) {
        const m = STEP_END.exec(line);
        if (!m) {
            lines.push(line);
            continue;
        }
        const s = steps[Number(m[1])];
        if (m[2] !== "0") throw fail(`${s.script} check failed there (exit ${m[2]})`);
        out.set(s.step, parseCheck(s.script, lines.join("\n")));
        lines = [];
    }
    if (out.size !== steps.length) throw fail(r.code === 124 ? "no answer in time" : `the checks ended early (exit ${r.code})`);
    return out;
}
