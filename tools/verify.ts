// npm run verify: what the post does by hand at the end ("Testing our
// application"), against the lab that `pulumi up` built (tools/verify/checks.ts).
//
//   dns   nodejs.ingress.<domain> resolves, through the lab's dnsmasq, to an IPv4
//         (the ingress node's address, when the stack says which)
//   page  http://nodejs.ingress.<domain>:30000/ shows a page-view count that grows
//   vts   http://mgmt.ingress.<domain>:32000/nginx_status is the vhost traffic status page
//   swap  each Kubernetes host's swap step checks clean (steps/swap/swap.sh check:
//         kubeadm 1.9.4's preflight refuses swap)
//
// Inputs come from the stack outputs (`pulumi stack output --json
// --show-secrets=false`) or from a JSON file of them (--outputs); flags win
// (tools/verify/args.ts). The swap check's hosts and SSH settings come from the
// stack's settings (`pulumi config --json --show-secrets`); it runs the swap
// step's check over SSH, as npm run drift does. Each check prints one line
// (swap: one a host), `PASS <check>: ...` or `FAIL <check>: expected ..., saw
// ...`; the exit status is 1 if any check failed, 2 on bad usage or settings
// that cannot be read.
import * as fs from "node:fs";
import type { LabConfig } from "../components/config";
import * as swapStep from "../steps/swap/step";
import { runCli } from "./cli";
import { StackState, UsageError, hasSsh, privateTempDir, pulumi, readStack } from "./lib/pulumi";
import { SshAccess, expectedHostKeys, openSshAccess, runChecks as runStepChecks } from "./lib/ssh";
import { CheckName, CheckResult, StackOutputs, VerifyOptions, checkSwap, runChecks } from "./verify/checks";
import { USAGE, ParsedArgs, parseCliArgs, pulumiStackOutputs, resolveOptions, selectedChecks } from "./verify/args";

/** The SSH check of a host is bounded by this, or --timeout-ms when longer (drift's default bound). */
export const SWAP_PROBE_MS = 60_000;

/** The CLI: returns the exit status. */
export async function main(argv: string[], print: (line: string) => void = (l) => console.log(l)): Promise<number> {
    let o: VerifyOptions | undefined;
    let args: ParsedArgs;
    let checks: CheckName[];
    let cfg: LabConfig | undefined;
    let stack: string | undefined;
    try {
        args = parseCliArgs(argv);
        checks = selectedChecks(args);
        if (checks.some((c) => c !== "swap")) {
            let outputs: StackOutputs = {};
            if (args.outputs !== undefined) {
                try {
                    outputs = JSON.parse(fs.readFileSync(args.outputs, "utf8"));
                } catch (err) {
                    throw new UsageError(`--outputs ${args.outputs}: ${(err as Error).message}`);
                }
            } else if (args.domain === undefined) {
                outputs = await pulumiStackOutputs(args.stack, args.cwd);
            }
            o = resolveOptions(args, outputs);
        }
        if (checks.includes("swap")) {
            ({ cfg, stack } = await readStack(args));
            if (!(await hasSsh())) throw new Error("ssh is missing: install it with: sudo apt-get install -y openssh-client");
        }
    } catch (err) {
        print(`verify: ${(err as Error).message}`);
        if (err instanceof UsageError) print(USAGE);
        return 2;
    }
    const tmp = privateTempDir("verify");
    let access: SshAccess | undefined;
    try {
        const swap = async (): Promise<CheckResult[]> => {
            const a = { sshConfig: args.sshConfig, timeoutMs: Math.max(args.timeoutMs ?? 0, SWAP_PROBE_MS) };
            const exported = await pulumi(args, ["stack", "export", ...(stack ? ["--stack", stack] : [])]);
            const hostKeys = expectedHostKeys(cfg!, new StackState(exported.code === 0 ? exported.stdout : undefined));
            access = await openSshAccess(cfg!, hostKeys, tmp, a.timeoutMs / 1000 + 60);
            const step = { step: "swap", script: swapStep.script, args: swapStep.args() };
            return checkSwap([cfg!.master, ...cfg!.workers], async (h) => (await runStepChecks(cfg!, h, access!, [step], a)).get("swap")!);
        };
        const results = await runChecks(o, checks, swap);
        for (const r of results) print(r.line);
        return results.every((r) => r.ok) ? 0 : 1;
    } finally {
        await access?.close();
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}

if (require.main === module) runCli("verify", main);
