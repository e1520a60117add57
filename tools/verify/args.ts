// npm run verify's command line and inputs: flags over stack outputs over defaults.
import * as net from "node:net";
import { parseArgs } from "node:util";
import { UsageError, pulumi } from "../lib/pulumi";
import { CHECKS, CheckName, DEFAULTS, STACKLESS_CHECKS, StackOutputs, VerifyOptions } from "./checks";

export const USAGE = `usage: npm run verify -- [--outputs <file.json>] [--dns-server <ip[:port]>] [--domain <domain>]
                         [--http-port <port>] [--mgmt-port <port>] [--connect <ip>]
                         [--expect-address <ip>] [--timeout-ms <ms>] [--checks <check>[,<check>...]]
                         [--stack <name>] [--cwd <project dir>] [--ssh-config <file>]
Without --outputs and --domain, the inputs come from \`pulumi stack output --json --show-secrets=false\`
(keys: domain, dnsServer, ingressAddress, httpNodePort, mgmtNodePort).
Checks: ${CHECKS.join(", ")}; all of them by default, only ${STACKLESS_CHECKS.join(", ")} when --outputs or --domain
gives the inputs and --stack is not given. swap reads the stack's settings (pulumi config --json --show-secrets:
PULUMI_CONFIG_PASSPHRASE for a passphrase stack) and runs the swap step's check on each Kubernetes host over SSH.`;

export interface ParsedArgs {
    outputs?: string;
    dnsServer?: string;
    domain?: string;
    httpPort?: number;
    mgmtPort?: number;
    connect?: string;
    expectAddress?: string;
    timeoutMs?: number;
    checks?: CheckName[];
    stack?: string;
    cwd?: string;
    sshConfig?: string;
}

function port(flag: string, v: unknown): number {
    const n = typeof v === "number" ? v : Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`${flag}: "${v}" is not a port (1-65535)`);
    return n;
}

export function parseCliArgs(argv: string[]): ParsedArgs {
    let values: Record<string, string | string[] | boolean | undefined>;
    try {
        ({ values } = parseArgs({
            args: argv,
            strict: true,
            allowPositionals: false,
            options: {
                outputs: { type: "string" },
                "dns-server": { type: "string" },
                domain: { type: "string" },
                "http-port": { type: "string" },
                "mgmt-port": { type: "string" },
                connect: { type: "string" },
                "expect-address": { type: "string" },
                "timeout-ms": { type: "string" },
                checks: { type: "string", multiple: true },
                stack: { type: "string" },
                cwd: { type: "string" },
                "ssh-config": { type: "string" },
            },
        }));
    } catch (err) {
        throw new UsageError((err as Error).message);
    }
    const out: ParsedArgs = {};
    if (values.outputs !== undefined) out.outputs = String(values.outputs);
    if (values["dns-server"] !== undefined) out.dnsServer = String(values["dns-server"]);
    if (values.domain !== undefined) out.domain = String(values.domain);
    if (values["http-port"] !== undefined) out.httpPort = port("--http-port", values["http-port"]);
    if (values["mgmt-port"] !== undefined) out.mgmtPort = port("--mgmt-port", values["mgmt-port"]);
    if (values.connect !== undefined) {
        if (!net.isIP(String(values.connect))) throw new UsageError(`--connect: "${values.connect}" is not an IP address`);
        out.connect = String(values.connect);
    }
    if (values["expect-address"] !== undefined) {
        if (!net.isIPv4(String(values["expect-address"])))
            throw new UsageError(`--expect-address: "${values["expect-address"]}" is not an IPv4 address`);
        out.expectAddress = String(values["expect-address"]);
    }
    if (values["timeout-ms"] !== undefined) {
        const t = Number(values["timeout-ms"]);
        if (!Number.isInteger(t) || t < 1 || t > 600_000) throw new UsageError(`--timeout-ms: "${values["timeout-ms"]}" is not 1-600000`);
        out.timeoutMs = t;
    }
    if (values.checks !== undefined) out.checks = parseChecks(values.checks as string[]);
    if (values.stack !== undefined) {
        if (!/^[A-Za-z0-9_./-]+$/.test(String(values.stack))) throw new UsageError(`--stack: "${values.stack}" is not a stack name`);
        out.stack = String(values.stack);
    }
    if (values.cwd !== undefined) out.cwd = String(values.cwd);
    if (values["ssh-config"] !== undefined) out.sshConfig = String(values["ssh-config"]);
    return out;
}

/** --checks a,b --checks c → the named checks, in their order of CHECKS. */
export function parseChecks(lists: readonly string[]): CheckName[] {
    const names = lists.flatMap((l) => l.split(",")).map((n) => n.trim());
    const bad = names.filter((n) => !(CHECKS as readonly string[]).includes(n));
    if (bad.length > 0 || names.length === 0)
        throw new UsageError(`--checks: ${bad.map((n) => `"${n}"`).join(", ") || "nothing"} is not a check (${CHECKS.join(", ")})`);
    return CHECKS.filter((c) => names.includes(c));
}

/** The checks to run: --checks, else all when the stack gives the inputs or --stack is given. */
export function selectedChecks(args: ParsedArgs): CheckName[] {
    if (args.checks) return args.checks;
    const stackless = (args.outputs !== undefined || args.domain !== undefined) && args.stack === undefined;
    return [...(stackless ? STACKLESS_CHECKS : CHECKS)];
}

/** Flags over stack outputs over defaults; every error reported at once. */
export function resolveOptions(args: ParsedArgs, outputs: StackOutputs): VerifyOptions {
    const errors: string[] = [];
    const domain = (args.domain ?? outputs.domain)?.replace(/^\.+|\.+$/g, "");
    if (!domain) errors.push("domain: give --domain or a `domain` stack output");
    else if (!/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(domain)) errors.push(`domain: "${domain}" is not a domain name`);
    const num = (key: string, v: unknown): number | undefined => {
        if (v === undefined || v === null) return undefined;
        try {
            return port(key, v);
        } catch (err) {
            errors.push((err as Error).message);
            return undefined;
        }
    };
    const httpPort = args.httpPort ?? num("httpNodePort", outputs.httpNodePort) ?? DEFAULTS.httpPort;
    const mgmtPort = args.mgmtPort ?? num("mgmtNodePort", outputs.mgmtNodePort) ?? DEFAULTS.mgmtPort;
    const expectAddress = args.expectAddress ?? outputs.ingressAddress ?? undefined;
    if (expectAddress !== undefined && !net.isIPv4(expectAddress)) errors.push(`ingressAddress: "${expectAddress}" is not an IPv4 address`);
    if (errors.length) throw new UsageError(errors.join("\n"));
    return {
        dnsServer: args.dnsServer ?? outputs.dnsServer ?? undefined,
        domain: domain!,
        httpPort,
        mgmtPort,
        connect: args.connect,
        expectAddress,
        timeoutMs: args.timeoutMs ?? DEFAULTS.timeoutMs,
    };
}

/** The stack outputs of the current stack (or `stack`), secrets left encrypted. */
export async function pulumiStackOutputs(stack?: string, cwd?: string): Promise<StackOutputs> {
    const r = await pulumi({ cwd }, ["stack", "output", "--json", "--show-secrets=false", ...(stack ? ["--stack", stack] : [])]);
    if (r.code !== 0) throw new Error(`pulumi stack output failed: ${r.stderr.trim()}`);
    try {
        return JSON.parse(r.stdout) as StackOutputs;
    } catch (e) {
        throw new Error(`pulumi stack output did not print JSON: ${(e as Error).message}`);
    }
}
