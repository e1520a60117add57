// What the tools (npm run drift, verify, diagnose) share about the stack: running pulumi, bounded;
// the stack's settings as the program reads them; its state (`pulumi stack export`), read once.
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LabConfig, PROJECT, parseConfig } from "../../components/config";

/** Bad usage or settings that cannot be read: the tools print their usage and exit 2. */
export class UsageError extends Error {}

export interface Exec {
    code: number;
    stdout: string;
    stderr: string;
}

/** `cmd args`, bounded by `timeoutMs` (then killed: exit 124), `input` on its stdin; 127: no such program. */
export function exec(cmd: string, args: string[], timeoutMs: number, cwd?: string, input?: string): Promise<Exec> {
    return new Promise((resolve) => {
        const p = execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 << 20, cwd, killSignal: "SIGKILL" }, (err, stdout, stderr) => {
            const e = err as (NodeJS.ErrnoException & { code?: number | string; killed?: boolean }) | null;
            const code = !e ? 0 : typeof e.code === "number" ? e.code : e.killed ? 124 : 127;
            resolve({
                code,
                stdout,
                stderr: e?.killed
                    ? `${stderr}\n[no answer within ${timeoutMs} ms]`
                    : stderr || (e && typeof e.code === "string" ? e.message : stderr),
            });
        });
        if (input !== undefined) {
            p.stdin?.on("error", () => undefined); // a program that exits without reading it
            p.stdin?.end(input);
        }
    });
}

/** `pulumi <args>` in the project directory, bounded (verify runs its `stack output` with it too). */
export async function pulumi(a: { cwd?: string }, args: string[]): Promise<Exec> {
    const r = await exec("pulumi", [...(a.cwd ? ["--cwd", a.cwd] : []), "--non-interactive", ...args], 120_000);
    if (r.code === 127) throw new Error("pulumi is not on PATH (source ~/.cache/kubevirt-lab/engine/env.sh, or see npm run setup)");
    return r;
}

/** The stack's settings as the program reads them (`pulumi config --json --show-secrets`: each value, and whether it is a secret). */
export function configFromJson(json: string): LabConfig {
    const raw = JSON.parse(json) as Record<string, { value?: string; secret?: boolean }>;
    const prefix = `${PROJECT}:`;
    return parseConfig({
        get: (key) => raw[`${prefix}${key}`]?.value,
        keys: () =>
            Object.keys(raw)
                .filter((k) => k.startsWith(prefix))
                .map((k) => k.slice(prefix.length)),
        isSecret: (key) => raw[`${prefix}${key}`]?.secret === true,
    });
}

/** The stack (--stack, else the selected one) and its settings, from `pulumi config --json --show-secrets`. */
export async function readStack(a: { stack?: string; cwd?: string }): Promise<{ stack: string; cfg: LabConfig }> {
    const name = a.stack ?? (await pulumi(a, ["stack", "--show-name"])).stdout.trim();
    if (!name) throw new UsageError("no stack: give --stack <name> or `pulumi stack select` one");
    const c = await pulumi(a, ["config", "--stack", name, "--json", "--show-secrets"]);
    if (c.code !== 0) throw new UsageError(`pulumi config --stack ${name} failed: ${c.stderr.trim()}`);
    return { stack: name.split("/").pop()!, cfg: configFromJson(c.stdout) };
}

/** ssh: the one program besides pulumi (tools/need.sh checks it before npm run drift and diagnose). */
export const hasSsh = async (): Promise<boolean> => (await exec("ssh", ["-V"], 10_000)).code !== 127;

/** Pulumi's mark of a secret in a state export; with --show-secrets its `plaintext` is the value's JSON. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** A value of a state export with each secret replaced by its plaintext (undefined without --show-secrets). */
function unsecret(v: unknown): unknown {
    if (Array.isArray(v)) return v.map(unsecret);
    if (v && typeof v === "object") {
        const o = v as Record<string, unknown>;
        if (SECRET_SIG in o) return typeof o.plaintext === "string" ? unsecret(JSON.parse(o.plaintext)) : undefined;
        return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, unsecret(x)]));
    }
    return v;
}

/** A resource of the stack's state. */
export interface StateResource {
    urn: string;
    type: string;
    delete?: boolean;
    inputs?: Record<string, unknown>;
    outputs?: Record<string, unknown>;
}

/** The stack's state (`pulumi stack export`): its resources, and what the tools read of them. */
export class StackState {
    readonly resources: StateResource[];
    constructor(exportJson: string | undefined) {
        const dep = exportJson ? (JSON.parse(exportJson) as { deployment?: { resources?: StateResource[] } }) : {};
        this.resources = (dep.deployment?.resources ?? []).filter((r) => !r.delete);
    }
    /** The resource's name: the last part of its URN. */
    static nameOf(urn: string): string {
        return urn.split("::").pop()!;
    }
    /** URNs by resource name. */
    urnsByName(): Map<string, string> {
        return new Map(this.resources.map((r) => [StackState.nameOf(r.urn), r.urn]));
    }
    /** A command's stdout by resource name, or the first whose name matches (the `<host>-host-key` records, for one). */
    stdoutOf(name: string | RegExp): string | undefined {
        const r = this.resources.find((x) =>
            typeof name === "string" ? StackState.nameOf(x.urn) === name : name.test(StackState.nameOf(x.urn)),
        );
        const out = unsecret(r?.outputs?.stdout);
        return typeof out === "string" ? out : undefined;
    }
    /** The stack's outputs (those of its pulumi:pulumi:Stack resource), secrets in clear when exported with --show-secrets. */
    outputs(): Record<string, unknown> {
        const root = this.resources.find((r) => r.type === "pulumi:pulumi:Stack");
        return (unsecret(root?.outputs ?? {}) as Record<string, unknown>) ?? {};
    }
    /** The Kubernetes objects the program registered: kind (lower case), namespace ("" cluster-scoped), name. */
    kubernetesObjects(): Array<{ kind: string; namespace: string; name: string }> {
        const out: Array<{ kind: string; namespace: string; name: string }> = [];
        for (const r of this.resources) {
            const m = /^kubernetes:[^:]+:([A-Za-z0-9]+)$/.exec(r.type);
            const meta = r.outputs?.metadata as { name?: string; namespace?: string } | undefined;
            if (!m || r.type.startsWith("kubernetes:yaml:") || !meta?.name) continue;
            out.push({ kind: m[1].toLowerCase(), namespace: meta.namespace ?? "", name: meta.name });
        }
        return out;
    }
}

/**
 * A private (0700) temporary directory for a tool's run, `kvl-<tool>-<pid>-...`; the ones an
 * earlier run left (killed before it could remove its own) are removed first, when their pid is
 * gone. They hold nothing secret (known_hosts, an agent's socket), but nothing of ours stays.
 */
export function privateTempDir(tool: string): string {
    const base = os.tmpdir();
    for (const e of fs.readdirSync(base)) {
        const m = new RegExp(`^kvl-${tool}-(\\d+)-`).exec(e);
        if (!m || Number(m[1]) === process.pid) continue;
        try {
            process.kill(Number(m[1]), 0);
        } catch {
            fs.rmSync(path.join(base, e), { recursive: true, force: true });
        }
    }
    return fs.mkdtempSync(path.join(base, `kvl-${tool}-${process.pid}-`));
}
