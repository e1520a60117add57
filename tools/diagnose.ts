// npm run diagnose: the post's deep dive as a command. Read-only, over SSH and the API with the
// stack's settings, as npm run drift reads them: every layer of the post (Kubernetes objects, the
// hosts, the virt-launcher pods, the VMs' guests, the ingress) collected at once
// (tools/diagnose/collect.ts), the known faults of that network flagged with their evidence, what
// they break, the fix and the sources (rules.ts), and the post's two packet paths drawn from the
// facts (draw.ts: Graphviz's dot for SVG and PNG).
//
//   npm run diagnose -- [--stack <name>] [--cwd <dir>] [--ssh-config <file>] [--timeout-ms <ms>]
//                       [--kubectl <path>] [--out <dir>] [--no-pictures] [--json] [--facts <file.json>]
//
// --facts judges and draws recorded facts (the `facts` of a --json output) instead of the lab.
// Exit status: 0 nothing but warnings, 1 a fault, 2 bad usage, or a node, the API or a launcher pod
// that could not be read (what it would have shown is missing from the findings).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import * as stackLib from "./lib/pulumi";
import * as sshLib from "./lib/ssh";
import { runCli } from "./cli";
import { collect, findKubectl, run } from "./diagnose/collect";
import { Facts } from "./diagnose/facts";
import { Finding, judge } from "./diagnose/rules";
import { PacketPath, pathDot, paths } from "./diagnose/draw";
import { reportText } from "./diagnose/report";

export const USAGE = `usage: npm run diagnose -- [--stack <name>] [--cwd <project dir>] [--ssh-config <file>] [--timeout-ms <ms>]
                           [--kubectl <path>] [--out <dir>] [--no-pictures] [--json] [--facts <file.json>]
Reads the stack's settings and outputs (pulumi config --json --show-secrets, stack output --show-secrets: the
kubeconfig), then every node over SSH (steps/netfacts/netfacts.sh, read-only), the API (kubectl, and kubectl exec into
the virt-launcher pods' compute container), each VM's guest over SSH through its NodePort, and the DNS host.
Prints the facts layer by layer, the faults found with their fix and sources, and the packet paths; the pictures
(SVG, PNG) go to --out (default: ${path.join(os.tmpdir(), "kubevirt-lab-diagnose", "<stack>")}).`;

export interface ParsedArgs {
    stack?: string;
    cwd?: string;
    sshConfig?: string;
    timeoutMs: number;
    kubectl?: string;
    out?: string;
    json: boolean;
    facts?: string;
    /** The paths as text (and JSON) only, not drawn. */
    noPictures: boolean;
}

export function parseCliArgs(argv: string[]): ParsedArgs {
    let v: Record<string, string | boolean | undefined>;
    try {
        ({ values: v } = parseArgs({
            args: argv,
            strict: true,
            options: {
                stack: { type: "string" },
                cwd: { type: "string" },
                "ssh-config": { type: "string" },
                "timeout-ms": { type: "string" },
                kubectl: { type: "string" },
                out: { type: "string" },
                json: { type: "boolean" },
                facts: { type: "string" },
                "no-pictures": { type: "boolean" },
            },
        }));
    } catch (err) {
        throw new stackLib.UsageError((err as Error).message);
    }
    const timeoutMs = v["timeout-ms"] === undefined ? 20_000 : Number(v["timeout-ms"]);
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1000 || timeoutMs > 600_000)
        throw new stackLib.UsageError(`--timeout-ms: "${v["timeout-ms"]}" is not 1000-600000`);
    const stack = v.stack as string | undefined;
    if (stack !== undefined && !/^[A-Za-z0-9_./-]+$/.test(stack)) throw new stackLib.UsageError(`--stack: "${stack}" is not a stack name`);
    return {
        stack,
        cwd: v.cwd as string | undefined,
        sshConfig: v["ssh-config"] as string | undefined,
        timeoutMs,
        kubectl: v.kubectl as string | undefined,
        out: v.out as string | undefined,
        json: v.json === true,
        facts: v.facts as string | undefined,
        noPictures: v["no-pictures"] === true,
    };
}

/** The lab's facts: the stack's settings, host keys and kubeconfig read at once, then every layer. */
export async function labFacts(a: ParsedArgs): Promise<Facts> {
    const t0 = Date.now();
    const stackName = a.stack ?? (await stackLib.pulumi(a, ["stack", "--show-name"])).stdout.trim();
    if (!stackName) throw new stackLib.UsageError("no stack: give --stack <name> or `pulumi stack select` one");
    // two pulumi commands at once: the settings, and the state with its outputs in clear (the kubeconfig)
    const [{ stack, cfg }, exported] = await Promise.all([
        stackLib.readStack({ ...a, stack: stackName }),
        stackLib.pulumi(a, ["stack", "export", "--stack", stackName, "--show-secrets"]),
    ]);
    const pulumiMs = Date.now() - t0;
    if (!(await stackLib.hasSsh())) throw new Error("ssh is missing: install it with: sudo apt-get install -y openssh-client");
    const state = new stackLib.StackState(exported.code === 0 ? exported.stdout : undefined);
    const outputs = state.outputs();
    const kubeconfig = typeof outputs.kubeconfig === "string" ? outputs.kubeconfig : undefined;
    const launcherHints: Record<string, string> = {};
    for (const [vm, v] of Object.entries((outputs.vms ?? {}) as Record<string, { pod?: string } | undefined>))
        if (v?.pod) launcherHints[vm] = v.pod;
    // the VMs' host keys the app stage recorded (its `<name>-vm-host-keys` step: ssh-keyscan's lines)
    const guestKnownHosts = state.stdoutOf(/-vm-host-keys$/);
    const tmp = stackLib.privateTempDir("diagnose");
    const hostKeys = sshLib.expectedHostKeys(cfg, state);
    const ssh = await sshLib.openSshAccess(cfg, hostKeys, tmp, a.timeoutMs / 1000 + 60);
    try {
        const access = {
            cfg,
            ssh,
            sshConfig: a.sshConfig,
            kubectl: findKubectl(a.kubectl),
            kubeconfig,
            launcherHints,
            guestKnownHosts,
            timeoutMs: a.timeoutMs,
        };
        const facts = await collect(access, stack);
        facts.timings = { pulumi: pulumiMs, ...facts.timings, total: Date.now() - t0 };
        return facts;
    } finally {
        await ssh.close();
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}

/** Each path as <out>/<name>.dot, and .svg and .png by dot when it is there; the files written. */
export async function drawPictures(f: Facts, ps: PacketPath[], out: string): Promise<{ files: string[]; note?: string }> {
    fs.mkdirSync(out, { recursive: true });
    const files: string[] = [];
    let note: string | undefined;
    await Promise.all(
        ps.map(async (p) => {
            const dot = path.join(out, `${p.name}.dot`);
            fs.writeFileSync(dot, pathDot(p, f));
            for (const fmt of ["svg", "png"]) {
                const file = path.join(out, `${p.name}.${fmt}`);
                const r = await run("dot", [`-T${fmt}`, "-o", file, dot], { timeoutMs: 30_000 });
                if (r.code === 0) files.push(file);
                else if (r.code === 127)
                    note = "dot (Graphviz) is missing: the .dot files are written; apt-get install graphviz draws them";
                else note = `dot -T${fmt} failed: ${r.stderr.trim().split("\n").pop()}`;
            }
            if (!files.some((x) => x.startsWith(path.join(out, `${p.name}.`)))) files.push(dot);
        }),
    );
    return { files: files.sort(), ...(note ? { note } : {}) };
}

export interface Diagnosis {
    facts: Facts;
    findings: Finding[];
    paths: PacketPath[];
    pictures: string[];
}

/** The CLI: returns the exit status. */
export async function main(argv: string[], print: (line: string) => void = (l) => console.log(l)): Promise<number> {
    let a: ParsedArgs;
    let facts: Facts;
    try {
        a = parseCliArgs(argv);
        if (a.facts) {
            // a --json output (its `facts`), or the facts alone
            const read = JSON.parse(fs.readFileSync(a.facts, "utf8")) as Facts | { facts: Facts };
            facts = "facts" in read ? read.facts : read;
        } else facts = await labFacts(a);
    } catch (err) {
        print(`diagnose: ${(err as Error).message}`);
        if (err instanceof stackLib.UsageError) print(USAGE);
        return 2;
    }
    const findings = judge(facts);
    const ps = paths(facts, findings);
    const out = a.out ?? path.join(os.tmpdir(), "kubevirt-lab-diagnose", facts.lab.stack);
    const pics = a.noPictures ? { files: [] as string[], note: undefined } : await drawPictures(facts, ps, out);
    if (a.json) print(JSON.stringify({ facts, findings, paths: ps, pictures: pics.files }, null, 2));
    else {
        for (const l of reportText(facts, findings, ps, pics.files)) print(l);
        if (pics.note) print(`diagnose: ${pics.note}`);
    }
    // a layer that could not be read: the findings may miss what it would have shown
    if (facts.nodes.some((n) => n.error) || facts.k8sError || facts.launchers.some((l) => l.error)) return 2;
    return findings.some((x) => x.severity === "fault") ? 1 : 0;
}

if (require.main === module) runCli("diagnose", main);
