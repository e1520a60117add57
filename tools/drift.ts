// npm run drift: does what each step of the lab made still hold? `remote.Command` has no read, so
// `pulumi refresh` cannot see a host changed by hand; this command runs each step's read-only
// `check` (steps/<step>/<step>.sh) with the options its binding (steps/<step>/step.ts) gives from
// the stack's settings, the very ones `apply` got, and says how to bring each drifted step back.
//
//   per node   the prep steps (components/hostPrep.ts PREP_STEPS)
//   cluster    kubeadm init on the master, each worker's join, every node Ready (wait-nodes)
//   objects    the Kubernetes objects the program registered (the stack's state) are there
//   dns        the DNS host's records file as the step writes it, dnsmasq running
//
// The settings come from `pulumi config --json --show-secrets` (components/config.ts parseConfig,
// as the program reads them). Each host is reached over SSH once, in parallel. One line per host
// and step, `OK <host> <step>` or `DRIFT <host> <step>: expected ..., saw ...`, then for each
// drifted step the `pulumi up --replace` that brings it back, destructive ones marked. Exit
// status: 0 nothing drifted, 1 drift, 2 bad usage, an unreachable host (named) or a failed check.
import * as fs from "node:fs";
import { parseArgs } from "node:util";
import { HostSpec, LabConfig, PROJECT, nodeAddress } from "../components/config";
import { PREP_BINDINGS, PREP_STEPS } from "../components/hostPrep";
import * as initStep from "../steps/kubeadm-init/step";
import * as joinStep from "../steps/kubeadm-join/step";
import * as waitNodesStep from "../steps/wait-nodes/step";
import * as objectsStep from "../steps/kubernetes-objects/step";
import * as recordsStep from "../steps/dnsmasq-records/step";
import { runCli } from "./cli";
import { LabUrns, judge, formatReport } from "./drift/report";
import { StackState, UsageError, hasSsh, privateTempDir, pulumi, readStack } from "./lib/pulumi";
import { CheckItem, StepCheck, expectedHostKeys, openSshAccess, runChecks } from "./lib/ssh";

export const USAGE = `usage: npm run drift -- [--stack <name>] [--cwd <project dir>] [--ssh-config <file>] [--timeout-ms <ms>]
Reads the stack's settings (pulumi config --json --show-secrets: PULUMI_CONFIG_PASSPHRASE for a passphrase stack)
and state, and runs each step's read-only check on its host over SSH.`;

export interface ParsedArgs {
    stack?: string;
    cwd?: string;
    sshConfig?: string;
    timeoutMs: number;
}

export function parseCliArgs(argv: string[]): ParsedArgs {
    const options = {
        stack: { type: "string" },
        cwd: { type: "string" },
        "ssh-config": { type: "string" },
        "timeout-ms": { type: "string" },
    } as const;
    let values: { stack?: string; cwd?: string; "ssh-config"?: string; "timeout-ms"?: string };
    try {
        ({ values } = parseArgs({ args: argv, options, strict: true }));
    } catch (err) {
        throw new UsageError((err as Error).message);
    }
    const { stack, cwd, "ssh-config": sshConfig, "timeout-ms": timeout } = values;
    const timeoutMs = timeout === undefined ? 60_000 : Number(timeout);
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1000 || timeoutMs > 600_000)
        throw new UsageError(`--timeout-ms: "${timeout}" is not 1000-600000`);
    if (stack !== undefined && !/^[A-Za-z0-9_./-]+$/.test(stack)) throw new UsageError(`--stack: "${stack}" is not a stack name`);
    return { stack, cwd, sshConfig, timeoutMs };
}

/**
 * The checks to run, by host: every node's prep steps; on the master also kubeadm init, every
 * node's Ready and the registered Kubernetes objects; on each worker its join; on the DNS host its
 * records (the ingress address from the settings, else the stack's ingressAddress output).
 */
export function plan(cfg: LabConfig, state: StackState, ingressAddress?: string): Map<HostSpec, StepCheck[]> {
    const nodes = [cfg.master, ...cfg.workers];
    const out = new Map<HostSpec, StepCheck[]>();
    for (const h of nodes)
        out.set(
            h,
            PREP_STEPS.map((step) => ({ step, script: PREP_BINDINGS[step].script, args: PREP_BINDINGS[step].args(cfg.hostPrep) })),
        );
    const c = cfg.cluster;
    out.get(cfg.master)!.push(
        { step: "kubeadm-init", script: initStep.script, args: initStep.args(c, cfg.master, cfg.hostPrep.kubernetesVersion, cfg.ssh.user) },
        {
            step: "wait-nodes",
            script: waitNodesStep.script,
            args: waitNodesStep.args(
                c.nodeReadyTimeoutSeconds,
                nodes.map((h) => h.name),
            ),
        },
    );
    const objects = state.kubernetesObjects();
    if (objects.length > 0)
        out.get(cfg.master)!.push({ step: "kubernetes-objects", script: objectsStep.script, args: objectsStep.args(objects) });
    for (const w of cfg.workers)
        out.get(w)!.push({ step: "kubeadm-join", script: joinStep.script, args: joinStep.args(w, c.kubeadmIgnorePreflightErrors) });
    if (cfg.dns) {
        const ingress = cfg.dns.ingressNode ? nodeAddress(nodes, cfg.dns.ingressNode, "the ingress controller") : ingressAddress;
        const records = {
            step: "dns-records",
            script: recordsStep.script,
            args: recordsStep.args(cfg.dns, cfg.domain, nodes, ingress ?? ""),
        };
        const same = nodes.find((h) => h.address === cfg.dns!.host.address);
        if (same) out.get(same)!.push(records);
        else out.set(cfg.dns.host, [records]);
    }
    return out;
}

/** The CLI: returns the exit status. */
export async function main(argv: string[], print: (line: string) => void = (l) => console.log(l)): Promise<number> {
    let a: ParsedArgs;
    let cfg: LabConfig;
    let stack: string;
    try {
        a = parseCliArgs(argv);
        ({ stack, cfg } = await readStack(a));
    } catch (err) {
        print(`drift: ${(err as Error).message}`);
        if (err instanceof UsageError) print(USAGE);
        return 2;
    }
    if (!(await hasSsh())) {
        print("drift: ssh is missing: install it with: sudo apt-get install -y openssh-client");
        return 2;
    }
    const exported = await pulumi(a, ["stack", "export", "--stack", stack]);
    const state = new StackState(exported.code === 0 ? exported.stdout : undefined);
    let ingressAddress: string | undefined;
    if (cfg.dns && !cfg.dns.ingressNode) {
        const out = await pulumi(a, ["stack", "output", "--stack", stack, "--json"]);
        if (out.code === 0) ingressAddress = (JSON.parse(out.stdout) as { ingressAddress?: string }).ingressAddress;
    }

    const tmp = privateTempDir("drift");
    const access = await openSshAccess(cfg, expectedHostKeys(cfg, state), tmp, a.timeoutMs / 1000 + 60);
    try {
        const hosts = [...plan(cfg, state, ingressAddress)];
        const runs = await Promise.allSettled(hosts.map(([h, steps]) => runChecks(cfg, h, access, steps, a)));
        const seen = new Map<string, Map<string, CheckItem[]>>();
        const unreachable: string[] = [];
        runs.forEach((r, i) => {
            if (r.status === "fulfilled") seen.set(hosts[i][0].name, r.value);
            else unreachable.push((r.reason as Error).message);
        });
        const results = judge(cfg, seen);
        for (const line of formatReport(cfg, new LabUrns(stack, PROJECT, state.urnsByName()), results, unreachable)) print(line);
        if (unreachable.length > 0) return 2;
        return results.some((r) => r.drift) ? 1 : 0;
    } finally {
        await access.close();
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}

if (require.main === module) runCli("drift", main);
