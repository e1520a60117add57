// The real Pulumi engine against the simulated lab of harness/simlab.sh: a copy
// of the project in a temp dir (so the repo's stack files stay untouched), a
// file state backend, and every engine run inside the lab's operator network
// namespace, where the hosts are the only thing reachable.
import { execFileSync, spawn } from "node:child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
/** The repository root (this file is harness/lib/simlab.ts). */
export const REPO = path.join(__dirname, "..", "..");

const SIMLAB = path.join(REPO, "harness", "simlab.sh");

/** PATH and settings of the offline engine (harness/engine.sh builds or reuses it). */
export function engineEnv(): Record<string, string> {
    const lines = execFileSync("bash", [path.join(REPO, "harness", "engine.sh"), "--print-env"], {
        encoding: "utf8",
        timeout: 3 * 3600_000,
    });
    const env: Record<string, string> = {};
    for (const m of lines.matchAll(/^export ([A-Z_]+)=(.*)$/gm)) {
        const value = m[2].replace(/^["']|["']$/g, "").replace(/\$PATH|\$\{PATH\}/g, process.env.PATH ?? "");
        env[m[1]] = value;
    }
    return env;
}

/** A resource as `pulumi stack export` has it (the fields the tests read). */
export interface StateResource {
    urn: string;
    type: string;
    id?: string;
    inputs?: Record<string, unknown>;
}

export interface RunResult {
    code: number | null;
    stdout: string;
    stderr: string;
    ms: number;
}

/**
 * Runs a command with a time limit; the process group is killed when it passes. The command leads
 * a session of its own (`onStart` gets its pid, the session's id: see killSession).
 */
export function run(
    cmd: string,
    args: string[],
    opts: { env?: Record<string, string>; cwd?: string; timeoutMs: number; input?: string; onStart?: (sid: number) => void },
): Promise<RunResult> {
    return new Promise((resolve) => {
        const t0 = Date.now();
        const p = spawn(cmd, args, {
            env: { ...process.env, ...opts.env },
            cwd: opts.cwd,
            detached: true,
            stdio: ["pipe", "pipe", "pipe"],
        });
        if (p.pid !== undefined) opts.onStart?.(p.pid);
        let stdout = "";
        let stderr = "";
        p.stdout.on("data", (d) => (stdout += d));
        p.stderr.on("data", (d) => (stderr += d));
        const timer = setTimeout(() => {
            stderr += `\n[killed after ${opts.timeoutMs} ms]`;
            try {
                process.kill(-p.pid!, "SIGKILL");
            } catch {
                /* already gone */
            }
        }, opts.timeoutMs);
        p.on("close", (code) => {
            clearTimeout(timer);
            resolve({ code, stdout, stderr, ms: Date.now() - t0 });
        });
        // A command that exits before reading its stdin closes the pipe: not an error of ours.
        p.stdin.on("error", () => undefined);
        p.stdin.end(opts.input ?? "");
    });
}

/**
 * SIGKILLs every process of the session `sid` (a command started by `run`), by pid, until none is
 * left: what `kill -9` of an engine and a crash leave behind differ only in the plugins, and the
 * Pulumi CLI starts its language host and providers in process groups of their own, so killing
 * the CLI's group alone would leave them (and their SSH connections) running. Processes of the
 * simulated hosts are in sshd's sessions, not in this one. Returns the pids killed.
 */
export function killSession(sid: number): number[] {
    const killed: number[] = [];
    for (let round = 0; round < 20; round++) {
        let found = 0;
        for (const e of fs.readdirSync("/proc")) {
            if (!/^\d+$/.test(e)) continue;
            let stat: string;
            try {
                stat = fs.readFileSync(`/proc/${e}/stat`, "utf8");
            } catch {
                continue;
            }
            // after "(comm)": state ppid pgrp session ...
            const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
            if (Number(f[3]) !== sid || f[0] === "Z") continue;
            found++;
            try {
                process.kill(Number(e), "SIGKILL");
                if (!killed.includes(Number(e))) killed.push(Number(e));
            } catch {
                /* already gone */
            }
        }
        if (found === 0) break;
        execFileSync("sleep", ["0.05"]);
    }
    return killed;
}

/** One simulated lab (namespaces, sshd, stand-ins). */
export class SimLab {
    readonly dir: string;
    constructor(readonly name: string) {
        this.dir = `/tmp/kubevirt-lab-sim/${name}`;
    }

    async cli(args: string[], timeoutMs = 120_000): Promise<RunResult> {
        const r = await run("bash", [SIMLAB, "--name", this.name, ...args], { timeoutMs });
        if (r.code !== 0) throw new Error(`simlab ${args.join(" ")} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
        return r;
    }

    /**
     * Starts the lab: `hosts` and `dns` as `simlab.sh up --hosts/--dns` take them; `kubernetes: "real"`
     * for the real v1.9.4 kubeadm and kubectl with the kubelet stand-in (default: the recording
     * stand-ins, no API server); `mirror` (`name=ip`) for the HTTP mirror of the upstream manifests.
     */
    up(hosts: string, dns = "dns1=172.31.50.10", opts: { kubernetes?: "standin" | "real"; mirror?: string } = {}) {
        return this.cli([
            "up",
            "--hosts",
            hosts,
            "--dns",
            dns,
            ...(opts.kubernetes ? ["--kubernetes", opts.kubernetes] : []),
            ...(opts.mirror ? ["--mirror", opts.mirror] : []),
        ]);
    }

    down() {
        return run("bash", [SIMLAB, "--name", this.name, "down"], { timeoutMs: 120_000 });
    }

    /** The private key the hosts accept. */
    get keyPath(): string {
        return path.join(this.dir, "id_ed25519");
    }

    /** Where a host's /etc or /var file is on this machine (its overlay's upper layer), for polling. */
    upperPath(host: string, file: string): string {
        const m = /^\/(etc|var)\/(.+)$/.exec(file);
        if (!m) throw new Error(`not under /etc or /var: ${file}`);
        return path.join(this.dir, "hosts", host, "ovl", m[1], "upper", m[2]);
    }

    /**
     * Sets (a string) or removes (undefined) settings of a host's stand-ins in its
     * /etc/kubevirt-lab-sim/env (harness/standins/README.md), e.g. SIM_DELAY_YUM, SIM_KUBEADM_CUT.
     */
    async setSimEnv(host: string, vars: Record<string, string | undefined>): Promise<void> {
        const drop = Object.keys(vars).map((k) => `-e '/^${k}=/d'`);
        const add = Object.entries(vars)
            .filter(([, v]) => v !== undefined)
            .map(([k, v]) => `echo '${k}=${v}' >>/etc/kubevirt-lab-sim/env`);
        await this.cli(["exec", host, "sh", "-c", [`sed -i ${drop.join(" ")} /etc/kubevirt-lab-sim/env`, ...add].join(" && ")]);
    }

    /** The calls a host's stand-ins recorded: "<ms> <host> <prog> <args...>". */
    calls(host: string): string[] {
        const p = path.join(this.dir, "hosts", host, "ovl/var/upper/log/kubevirt-lab/calls.log");
        return fs.existsSync(p)
            ? fs
                  .readFileSync(p, "utf8")
                  .split("\n")
                  .filter((l) => l.length > 0)
            : [];
    }

    /** A file as the host sees it, or undefined when it does not exist there. */
    async file(host: string, file: string): Promise<string | undefined> {
        const r = await run(
            "bash",
            [SIMLAB, "--name", this.name, "exec", host, "sh", "-c", `[ -f '${file}' ] && cat '${file}' || echo '<absent>'`],
            { timeoutMs: 30_000 },
        );
        return r.stdout === "<absent>\n" ? undefined : r.stdout;
    }

    /** Runs a command in the operator namespace (`onStart`: see run). */
    op(
        cmd: string[],
        env: Record<string, string> = {},
        timeoutMs = 600_000,
        cwd?: string,
        onStart?: (sid: number) => void,
    ): Promise<RunResult> {
        return run(
            "bash",
            [
                SIMLAB,
                "--name",
                this.name,
                "op",
                "env",
                ...Object.entries({ PATH: process.env.PATH ?? "", ...env }).map(([k, v]) => `${k}=${v}`),
                ...cmd,
            ],
            { timeoutMs, cwd, onStart },
        );
    }
}

/** One step of a preview: its op (same, create, update, replace, ...) and its resource's type and name. */
export interface PreviewStep {
    op: string;
    type: string;
    name: string;
}

/** What a copy of the program holds: the files and folders the engine runs. */
const PROGRAM_FILES = ["Pulumi.yaml", "package.json", "tsconfig.json", "index.ts"];
const PROGRAM_DIRS = ["components", "steps", "scripts", "manifests", "ansible"];

/** A copy of the project with its own stack file and file backend. */
export class Project {
    readonly dir: string;
    readonly state: string;
    readonly env: Record<string, string>;
    /** Every byte the engine printed, for the secret-leak check. */
    console = "";

    /**
     * @param source the program to run: a folder holding the project's files (default: this repo);
     *   the upgrade test passes an older release exported from git.
     */
    constructor(
        readonly lab: SimLab,
        readonly stack: string,
        engine: Record<string, string>,
        source: string = REPO,
    ) {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-e2e-"));
        this.dir = path.join(root, "project");
        this.state = path.join(root, "state");
        fs.mkdirSync(this.dir);
        fs.mkdirSync(this.state);
        this.useProgram(source);
        fs.symlinkSync(path.join(REPO, "node_modules"), path.join(this.dir, "node_modules"));
        this.env = {
            ...engine,
            HOME: process.env.HOME ?? "/root",
            PULUMI_BACKEND_URL: `file://${this.state}`,
            PULUMI_CONFIG_PASSPHRASE: "kubevirt-lab-e2e",
            PULUMI_SKIP_UPDATE_CHECK: "true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        };
    }

    /** Puts the program of `source` in the project (its stack file and state stay). */
    useProgram(source: string): void {
        for (const f of PROGRAM_FILES) fs.copyFileSync(path.join(source, f), path.join(this.dir, f));
        for (const d of PROGRAM_DIRS) {
            fs.rmSync(path.join(this.dir, d), { recursive: true, force: true });
            // a release before steps/ has none (its host scripts were in scripts/host)
            if (fs.existsSync(path.join(source, d))) fs.cpSync(path.join(source, d), path.join(this.dir, d), { recursive: true });
        }
    }

    /**
     * Writes Pulumi.<stack>.yaml: the repo's stack file `base` (the stand-in lab's sim stack, or the
     * whole post's lab stack of `npm run lab`) with `overrides` (keys without the prefix).
     */
    configure(overrides: Record<string, unknown>, base: "sim" | "lab" = "sim"): void {
        const file = path.join(this.dir, `Pulumi.${this.stack}.yaml`);
        const from = YAML.parse(fs.readFileSync(path.join(REPO, `Pulumi.${base}.yaml`), "utf8"));
        const existing = fs.existsSync(file) ? YAML.parse(fs.readFileSync(file, "utf8")) : {};
        const config = { ...from.config, "kubevirt-lab:sshPrivateKeyPath": this.lab.keyPath };
        for (const [k, v] of Object.entries(overrides)) config[`kubevirt-lab:${k}`] = v;
        fs.writeFileSync(file, YAML.stringify({ ...(existing.encryptionsalt ? { encryptionsalt: existing.encryptionsalt } : {}), config }));
    }

    async pulumi(args: string[], timeoutMs = 600_000): Promise<RunResult> {
        const r = await this.lab.op(
            ["pulumi", "--cwd", this.dir, "--non-interactive", "--stack", this.stack, ...args],
            this.env,
            timeoutMs,
            this.dir,
        );
        this.console += r.stdout + r.stderr;
        return r;
    }

    /**
     * `pulumi <args>` killed midway: SIGKILLed with its whole session (killSession: the CLI, its
     * language host, providers and their SSH connections) as soon as `when()` is true (polled every
     * 50 ms). `killed` is false when the command ended first.
     */
    async pulumiKilled(args: string[], when: () => boolean, timeoutMs = 600_000): Promise<RunResult & { killed: boolean }> {
        let sid = 0;
        let killed = false;
        const done = this.lab.op(
            ["pulumi", "--cwd", this.dir, "--non-interactive", "--stack", this.stack, ...args],
            this.env,
            timeoutMs,
            this.dir,
            (s) => (sid = s),
        );
        let finished = false;
        void done.then(() => (finished = true));
        while (!finished) {
            if (when()) {
                killSession(sid);
                killed = true;
                break;
            }
            await new Promise((r) => setTimeout(r, 50));
        }
        const r = await done;
        this.console += r.stdout + r.stderr;
        return { ...r, killed };
    }

    /** The stack's deployment (`pulumi stack export`, secrets still encrypted); a failed export throws. */
    async exportState(): Promise<{ resources?: StateResource[]; pending_operations?: Array<{ type: string; resource: StateResource }> }> {
        const r = await this.pulumi(["stack", "export"]);
        if (r.code !== 0) throw new Error(`pulumi stack export failed (${r.code}):\n${r.stderr}`);
        return JSON.parse(r.stdout).deployment;
    }

    /** The pending operations of the state as "<type> <resource name>" (`creating km1-kubeadm-init`), sorted. */
    async pendingOperations(): Promise<string[]> {
        const ops = (await this.exportState()).pending_operations ?? [];
        return ops.map((o) => `${o.type} ${o.resource.urn.split("::").pop()}`).sort();
    }

    /** `npm run drift` for this stack, in the operator namespace: its exit code, stdout lines, and all it printed. */
    async drift(): Promise<{ code: number | null; lines: string[]; text: string }> {
        const r = await this.lab.op(
            ["npm", "run", "--silent", "drift", "--", "--cwd", this.dir, "--stack", this.stack],
            this.env,
            120_000,
            REPO,
        );
        return { code: r.code, lines: r.stdout.split("\n").filter((l) => l !== ""), text: `${r.stdout}${r.stderr}` };
    }

    /**
     * harness/lib/recover.sh for this stack, as harness/lab.sh runs it (`up`, `destroy` or `keep`):
     * `replace` holds the `--replace <urn>` words it prints for the next up.
     */
    async recover(pending: "up" | "destroy" | "keep"): Promise<RunResult & { replace: string[] }> {
        const r = await this.lab.op(
            [
                "bash",
                path.join(REPO, "harness", "lib", "recover.sh"),
                "--pending",
                pending,
                "--",
                "pulumi",
                "--cwd",
                this.dir,
                "--non-interactive",
                "--stack",
                this.stack,
            ],
            this.env,
            120_000,
            this.dir,
        );
        this.console += r.stdout + r.stderr;
        return { ...r, replace: r.stdout.split("\n").filter((l) => l !== "") };
    }

    async init(): Promise<void> {
        const r = await this.lab.op(
            ["pulumi", "--cwd", this.dir, "--non-interactive", "stack", "init", this.stack],
            this.env,
            120_000,
            this.dir,
        );
        if (r.code !== 0) throw new Error(`pulumi stack init failed:\n${r.stdout}\n${r.stderr}`);
    }

    /** The state file of the stack, as the backend keeps it. */
    stateText(): string {
        const files: string[] = [];
        const walk = (d: string) => {
            for (const e of fs.readdirSync(d, { withFileTypes: true })) {
                const p = path.join(d, e.name);
                if (e.isDirectory()) walk(p);
                else files.push(p);
            }
        };
        walk(this.state);
        return files
            .filter((f) => /\.json(\.gz)?$|\.bak$/.test(f) && !f.endsWith(".gz"))
            .map((f) => fs.readFileSync(f, "utf8"))
            .join("\n");
    }

    /** Every step of `pulumi preview --json`: its op, and the type and name of its resource. */
    async previewSteps(): Promise<PreviewStep[]> {
        const r = await this.pulumi(["preview", "--json"]);
        if (r.code !== 0) throw new Error(`pulumi preview failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
        const out: { steps?: Array<{ op: string; urn: string }> } = JSON.parse(r.stdout);
        return (out.steps ?? []).map((s) => {
            const parts = String(s.urn).split("::");
            return { op: s.op, type: parts[parts.length - 2].split("$").pop()!, name: parts[parts.length - 1] };
        });
    }

    /** Planned operations of `pulumi preview --json`: "<op> <type> <name>" for every step that is not a same. */
    async plan(): Promise<string[]> {
        return (await this.previewSteps())
            .filter((s) => s.op !== "same")
            .map((s) => `${s.op} ${s.type} ${s.name}`)
            .sort();
    }

    cleanup(): void {
        fs.rmSync(path.dirname(this.dir), { recursive: true, force: true });
    }
}

/** Parses "<ms> <host> <prog> <args...>" lines. */
export function parseCalls(lines: string[]): Array<{ t: number; host: string; prog: string; args: string[]; line: string }> {
    return lines.map((line) => {
        const [t, host, prog, ...args] = line.split(" ");
        return { t: Number(t), host, prog, args, line };
    });
}
