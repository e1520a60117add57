// Steps of two kinds. `Steps`: tests that are steps of one scenario, each building on the ones
// before: after a failed step the rest are skipped (said so, not failed again), and each step's
// time is kept for a closing line. Below it, what the tests of the host steps (steps/<step>/, run
// in sandboxes: test/lib/sandbox.ts) share: running a step's script, and the golden files.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";

import { ResolvedArgs, SCRIPT_END, namedArgv, renderScript, scriptFile } from "../../components/remote";
import {
    HOST_SCRIPTS,
    REPO_ROOT,
    RunResult,
    SIM_STATE,
    STANDINS_BIN,
    Sandbox,
    SandboxOptions,
    diffSnapshots,
    sandboxSupported,
    scriptCommand,
} from "./sandbox";
import { stackConfig } from "./stack";
import { seedPreparedHost, sharedApiserver } from "./hosts";
import { parseCheck } from "../../tools/lib/ssh";

export class Steps {
    /** whether a step has failed (the after hook keeps the logs then) */
    failed = false;
    /** milliseconds per step (by `timingKey` of its name), and whatever else the test adds */
    readonly timings: Record<string, number> = {};

    constructor(private readonly timingKey: (name: string) => string = (name) => name) {}

    step(name: string, fn: () => Promise<void> | void, timeoutMs: number): void {
        test(name, { timeout: timeoutMs }, async (t) => {
            if (this.failed) return t.skip("an earlier step failed");
            const t0 = Date.now();
            try {
                await fn();
            } catch (e) {
                this.failed = true;
                throw e;
            } finally {
                this.timings[this.timingKey(name)] = Date.now() - t0;
            }
        });
    }
}

// ---------------------------------------------------------------------------
// The host steps' tests (steps/<step>/<step>.test.ts, and test/steps.test.ts for what is about
// all of them): a step's script run in a sandbox the way the components run it, what that run
// did, and the golden files of the command lines the components write.

/** The words of an action with named arguments, as hostStep writes them: `apply --name value...`. */
export const act = (action: "apply" | "remove", args: ResolvedArgs = {}): string[] => [action, ...namedArgv(args)];
/** The words of a script without actions (its `run`). */
export const run = (args: ResolvedArgs = {}): string[] => namedArgv(args);

/** Why the sandbox tests are skipped on this machine, or false (they need root): a describe's `skip`. */
export function sandboxSkip(): string | false {
    const support = sandboxSupported();
    return support.ok ? false : (support.reason ?? "no sandbox");
}

/** Calls that only look: allowed in a second run. */
const READ_ONLY = [
    /^rpm -q/,
    /^systemctl (is-active|is-enabled|status) /,
    /^getenforce$/,
    /^sysctl -n /,
    /^swapon --show/,
    /^kubectl (--kubeconfig=\S+ )?get /,
    / --help$/,
];
export const stateChanging = (cmds: string[]) => cmds.filter((c) => !READ_ONLY.some((re) => re.test(c)));

export function ok(r: RunResult, what: string): RunResult {
    assert.equal(r.code, 0, `${what} failed (${r.code}):\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    return r;
}

/** The closing line of a script. */
export function status(
    r: RunResult,
    script: string,
    action: string,
    changed: "changed" | "unchanged",
    stream: "stdout" | "stderr" = "stdout",
) {
    const lines = r[stream].trimEnd().split("\n");
    assert.equal(
        lines[lines.length - 1],
        `kubevirt-lab: ${script} ${action}: ${changed}`,
        `last ${stream} line of ${script}:\n${r[stream]}`,
    );
}

/** What one run of a script did. */
export interface StepRun {
    readonly result: RunResult;
    /** Commands the stand-ins logged during the run. */
    readonly calls: string[];
    /** Upper-layer differences made by the run (files and dirs). */
    readonly diff: string[];
}

export interface StepOptions {
    readonly stdin?: string;
    readonly env?: Record<string, string>;
    /** Run the script from another steps root (a mutated copy: `mutant`). */
    readonly scriptsDir?: string;
}

/** Run a script and return what it did. */
export async function step(sb: Sandbox, script: string, args: string[], opts: StepOptions = {}): Promise<StepRun> {
    const before = sb.snapshot();
    const mark = sb.callCount();
    const result = await sb.runAsync(scriptCommand(script, args, opts.scriptsDir ?? HOST_SCRIPTS), opts);
    return { result, calls: sb.commandsSince(mark), diff: diffSnapshots(before, sb.snapshot()) };
}

/** Where lib.sh's own_file keeps its record of the files the lab wrote (test/ownership.test.ts reads it). */
const OWNED = "/var/lib/kubevirt-lab/owned";

/** Files (not directories) a step created, changed or deleted, the simulator's own state and the lab's ownership records left out. */
export function files(s: StepRun): string[] {
    return s.diff.filter((d) => !d.endsWith("(dir)") && !d.includes(` ${SIM_STATE}/`) && !d.includes(` ${OWNED}/`));
}

/** Run the script again: nothing may change, nothing state-changing may be called. */
export async function assertNoop(sb: Sandbox, script: string, args: string[], action: string, opts: StepOptions = {}): Promise<StepRun> {
    const s = await step(sb, script, args, opts);
    ok(s.result, `second ${script} ${args.join(" ")}`);
    assert.deepEqual(s.diff, [], `second run of ${script} changed files`);
    assert.deepEqual(stateChanging(s.calls), [], `second run of ${script} made state-changing calls`);
    status(s.result, script, action, "unchanged");
    return s;
}

/**
 * A steps root with a mutated copy of the script `name` (`<dir>/<step>/<name>`, `mutate` of its text)
 * and lib.sh (`<dir>/lib.sh`), for `fn` to run with `scriptCommand(name, args, dir)` (or `step`'s
 * scriptsDir); removed afterwards. The mutation must change the text.
 */
export async function withMutant(name: string, mutate: (text: string) => string, fn: (dir: string) => Promise<void>): Promise<void> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-mutant-"));
    try {
        const text = fs.readFileSync(scriptFile(name, HOST_SCRIPTS), "utf8");
        const mutant = mutate(text);
        assert.notEqual(mutant, text, "the mutation applies");
        fs.mkdirSync(path.dirname(scriptFile(name, dir)));
        fs.writeFileSync(scriptFile(name, dir), mutant);
        fs.copyFileSync(path.join(HOST_SCRIPTS, "lib.sh"), path.join(dir, "lib.sh"));
        await fn(dir);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/**
 * A bin directory (before the stand-ins in a sandbox's binDirs) with wrappers of cp and sysctl
 * that, once /run/kvl-cut-<prog> exists, do half their work and kill the script that called them:
 * a run cut off midway (a killed engine, a reboot). Removed after the test file's tests.
 */
export function cutBin(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-cut-bin-"));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const cut = (prog: string, half: string, real: string) =>
        fs.writeFileSync(
            path.join(dir, prog),
            `#!/bin/bash\nif [ -e /run/kvl-cut-${prog} ]; then\n  rm -f /run/kvl-cut-${prog}\n  ${half}\n  kill -KILL $PPID\n  exit 137\nfi\nexec ${real} "$@"\n`,
            { mode: 0o755 },
        );
    cut("cp", `src=\${@: -2:1} dst=\${@: -1}; head -c 40 -- "$src" >"$dst"`, "/bin/cp");
    // The stand-in is exec'd through the sandbox's /usr/local/bin: the repo itself may be under
    // /tmp (a CI clone), which the sandbox hides behind its own tmpfs.
    fs.copyFileSync(path.join(STANDINS_BIN, "sysctl"), path.join(dir, "sysctl.standin"));
    cut("sysctl", ":", "/usr/local/bin/sysctl.standin");
    return dir;
}

// The cluster the steps of the master and the workers make (kubeadm-init.sh's arguments of the post).
export const ADMIN_CONF = "/etc/kubernetes/admin.conf";
export const KC = "--kubeconfig=/etc/kubernetes/admin.conf";
export const FLANNEL_URL = "https://raw.githubusercontent.com/coreos/flannel/v0.9.1/Documentation/kube-flannel.yml";
export const INIT_ARGS = {
    "pod-network-cidr": "10.244.0.0/16",
    "service-cidr": "10.96.0.0/12",
    "node-name": "km1",
    "advertise-address": "172.31.50.221",
    "kubernetes-version": "1.9.4",
};

// ---------------------------------------------------------------------------
// The post (section "Kubernetes"): the files the steps write are its heredocs, byte for byte.

/** The post's text file, when it is beside the repository. */
export function findPost(): string | undefined {
    return [path.join(REPO_ROOT, "..", "shared"), "/work/shared"]
        .map((d) => path.join(d, "seed", "kubevirt-network-deep-dive.txt"))
        .find((p) => fs.existsSync(p));
}

/** The skip of a test that reads the post: false when it is at hand. */
export const POST_SKIP = !findPost() && "the post is not beside the repository";

/** The post's `cat <<EOF > <target>` heredoc, as the file it writes (`\$` as `$`). */
export function postHeredoc(target: string): string {
    const post = fs.readFileSync(findPost()!, "utf8");
    const m = new RegExp(`cat <<EOF > +${target.replace(/[.]/g, "\\.")}\\n([\\s\\S]*?)\\nEOF\\n`).exec(post);
    assert.ok(m, `heredoc for ${target}`);
    return `${m[1].replace(/\\\$/g, "$")}\n`;
}

// ---------------------------------------------------------------------------
// Golden files (steps/<step>/golden/): the command lines the components write, compared byte for
// byte. After an intended change: UPDATE_GOLDEN=1 node --import tsx --test steps/<step>/<step>.test.ts

/** Compares `actual` with steps/<stem>/golden/<file>; UPDATE_GOLDEN=1 writes it instead. */
export function golden(stem: string, file: string, actual: string): void {
    const dir = path.join(HOST_SCRIPTS, stem, "golden");
    const p = path.join(dir, file);
    if (process.env.UPDATE_GOLDEN === "1") {
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(p, actual);
        return;
    }
    assert.ok(fs.existsSync(p), `${path.relative(REPO_ROOT, p)} is missing: run with UPDATE_GOLDEN=1 to write it`);
    assert.equal(
        actual,
        fs.readFileSync(p, "utf8"),
        `differs from ${path.relative(REPO_ROOT, p)}; if intended, run with UPDATE_GOLDEN=1 and review the diff`,
    );
}

/** A host script command line's script (its first line names it). */
function scriptOf(cmd: string): string {
    const name = /cat >"\$d"\/(\S+) <</.exec(cmd.split("\n", 1)[0])?.[1];
    assert.ok(name, `not a host script command line: ${cmd.split("\n", 1)[0]}`);
    return name;
}

/** A command line with the script's text (checked to be the rendered file) shown as one line naming it. */
function elideScript(cmd: string): string {
    const lines = cmd.split("\n");
    const name = scriptOf(cmd);
    const end = lines.lastIndexOf(SCRIPT_END);
    assert.ok(end > 0, `not a host script command line: ${lines[0]}`);
    assert.equal(
        `${lines.slice(1, end).join("\n")}\n`,
        renderScript(name, HOST_SCRIPTS),
        `${name}: the text carried is the rendered script`,
    );
    const file = path.relative(REPO_ROOT, scriptFile(name, HOST_SCRIPTS));
    return [lines[0], `    <${file} as renderScript makes it>`, ...lines.slice(end)].join("\n");
}

type Graph = Record<string, Record<string, any>>;
let graph: Graph | undefined;

/**
 * The dev stack's resource graph ({"<type> <name>": inputs}), made by test/lib/dump-graph.ts in
 * a process of its own (the program's mocks are global). The step test files of one run share it
 * through a file in the temporary directory named by a hash of the repository's files (those git
 * lists, the tests and golden files left out) and of the config; UPDATE_GOLDEN=1 makes it anew.
 */
function devStackGraph(): Graph {
    if (graph) return graph;
    const config = JSON.stringify(stackConfig("dev"));
    const ls = spawnSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
        cwd: REPO_ROOT,
        encoding: "utf8",
        maxBuffer: 64 << 20,
    });
    let cache: string | undefined;
    if (ls.status === 0) {
        const hash = createHash("sha256").update(`${process.version}\0${config}\0`);
        for (const f of ls.stdout.split("\0").sort()) {
            if (!f || /\.(test\.ts|md)$|(^|\/)golden\//.test(f) || !fs.existsSync(path.join(REPO_ROOT, f))) continue;
            hash.update(`${f}\0`)
                .update(fs.readFileSync(path.join(REPO_ROOT, f)))
                .update("\0");
        }
        cache = path.join(os.tmpdir(), `kvl-dev-graph-${hash.digest("hex").slice(0, 32)}.json`);
        if (process.env.UPDATE_GOLDEN !== "1" && fs.existsSync(cache)) return (graph = JSON.parse(fs.readFileSync(cache, "utf8")) as Graph);
    }
    const r = spawnSync(process.execPath, ["--import", "tsx", path.join(REPO_ROOT, "test/lib/dump-graph.ts")], {
        env: { ...process.env, KVL_CONFIG: config },
        encoding: "utf8",
        maxBuffer: 64 << 20,
        timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stderr);
    graph = JSON.parse(r.stdout) as Graph;
    if (cache) {
        for (const old of fs.readdirSync(os.tmpdir()).filter((f) => /^kvl-dev-graph-\w+\.json$/.test(f))) {
            fs.rmSync(path.join(os.tmpdir(), old), { force: true });
        }
        fs.writeFileSync(`${cache}.${process.pid}`, r.stdout);
        fs.renameSync(`${cache}.${process.pid}`, cache);
    }
    return graph;
}

/**
 * The dev stack's host steps by the step whose script they run: for each resource (by name) a
 * section of lines `## <resource> on <address> (logging: ...)`, its create and delete command lines
 * (the script's text elided), and a blank line.
 */
export function hostStepSections(): Map<string, string[][]> {
    const g = devStackGraph();
    const byStem = new Map<string, string[][]>();
    for (const key of Object.keys(g)
        .filter((k) => k.startsWith("command:remote:Command "))
        .sort()) {
        const inputs = g[key];
        const stem = scriptOf(String(inputs.create)).replace(/\.sh$/, "");
        const lines = [
            `## ${key.split(" ")[1]} on ${inputs.connection.host} (logging: ${inputs.logging}${inputs.stdin !== undefined ? ", stdin: a secret" : ""})`,
            "create:",
            elideScript(String(inputs.create)),
        ];
        if (inputs.delete !== undefined) lines.push("delete:", elideScript(String(inputs.delete)));
        lines.push("");
        byStem.set(stem, [...(byStem.get(stem) ?? []), lines]);
    }
    return byStem;
}

/** The command lines of the dev stack's host steps that run `<stem>.sh` against steps/<stem>/golden/commands.txt. */
export function assertCommandsGolden(stem: string): void {
    const sections = hostStepSections().get(stem) ?? [];
    assert.ok(sections.length > 0, `the dev stack has host steps that run ${stem}.sh`);
    golden(stem, "commands.txt", sections.flat().join("\n"));
}

/**
 * A step's read-only check (`<script> check <the apply's options>`, the command line hostStep's
 * code makes, the check part rendered): it exits 0, prints its closing line on stderr, writes
 * nothing and calls only what looks. Its items: item → "ok", or "<expected> / <saw>".
 */
export async function check(sb: Sandbox, script: string, args: ResolvedArgs = {}): Promise<Map<string, string>> {
    const s = await step(sb, script, ["check", ...namedArgv(args)]);
    ok(s.result, `${script} check`);
    status(s.result, script, "check", "unchanged", "stderr");
    assert.deepEqual(s.diff, [], `${script} check wrote nothing`);
    assert.deepEqual(stateChanging(s.calls), [], `${script} check only looked`);
    return new Map(parseCheck(script, s.result.stdout).map((i) => [i.item, i.drift ? `${i.drift.expected} / ${i.drift.saw}` : "ok"]));
}

/** The items of a check that are not ok. */
export const drifted = (items: Map<string, string>): Array<[string, string]> => [...items].filter(([, v]) => v !== "ok");

/**
 * Prepared hosts (seedPreparedHost) named `names` on one simulated API server of their own, made by
 * `sandbox`, the first initialised by kubeadm-init.sh apply (INIT_ARGS, as root).
 */
export async function initializedHosts(
    sandbox: (opts?: SandboxOptions) => Promise<Sandbox>,
    names: readonly string[] = ["km1"],
): Promise<{ api: ReturnType<typeof sharedApiserver>; hosts: Sandbox[] }> {
    const api = sharedApiserver();
    const hosts: Sandbox[] = [];
    for (const hostname of names) {
        const sb = await sandbox({ hostname, binds: api.binds });
        await seedPreparedHost(sb);
        hosts.push(sb);
    }
    ok(await hosts[0].runScriptAsync("kubeadm-init.sh", act("apply", { ...INIT_ARGS, "ssh-user": "root" })), "init");
    return { api, hosts };
}
