// npm run verify: what the post does by hand at the end ("Testing our
// application"), against the lab that `pulumi up` built.
//
//   dns   nodejs.ingress.<domain> resolves, through the lab's dnsmasq, to an IPv4
//         (the ingress node's address, when the stack says which)
//   page  http://nodejs.ingress.<domain>:30000/ shows a page-view count that grows
//   vts   http://mgmt.ingress.<domain>:32000/nginx_status is the vhost traffic status page
//   swap  each Kubernetes host has no active swap and no swap line in /etc/fstab
//         (kubeadm 1.9.4's preflight refuses swap; steps/swap/swap.sh turns it off)
//
// Inputs come from the stack outputs (`pulumi stack output --json
// --show-secrets=false`) or from a JSON file of them (--outputs); flags win.
// The swap check's hosts and SSH settings come from the stack's settings
// (`pulumi config --json --show-secrets`) and it probes each host with
// steps/probe/probe.sh over SSH, read-only, as npm run drift does (tools/drift.ts).
// Each check prints one line (swap: one a host), `PASS <check>: ...` or `FAIL
// <check>: expected ..., saw ...`; the exit status is 1 if any check failed, 2
// on bad usage or settings that cannot be read.
import * as dns from "node:dns/promises";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import { parseArgs } from "node:util";
import type { HostSpec, LabConfig } from "../components/config";
import * as drift from "./drift";
import { runCli } from "./cli";

export interface VerifyOptions {
    /** "ip" or "ip:port" of the DNS server to ask; unset: the system's resolvers. */
    dnsServer?: string;
    /** The lab's domain, e.g. virtomation.com: names are <x>.ingress.<domain>. */
    domain: string;
    /** NodePort of the ingress controller's http port (the post: 30000). */
    httpPort: number;
    /** NodePort of its http-mgmt port (the post: 32000). */
    mgmtPort: number;
    /** Connect here instead of the resolved address (the Host header stays the name). */
    connect?: string;
    /** The address the ingress names must resolve to (the node running the ingress controller). */
    expectAddress?: string;
    /** Bound of every DNS query and HTTP request. */
    timeoutMs: number;
}

/** The checks, in the order they run and print. */
export const CHECKS = ["dns", "page", "vts", "swap"] as const;
export type CheckName = (typeof CHECKS)[number];
/** What runs when --checks does not say: without the stack (--outputs or --domain, no --stack), swap has no hosts. */
export const STACKLESS_CHECKS: readonly CheckName[] = ["dns", "page", "vts"];

export interface CheckResult {
    check: CheckName;
    ok: boolean;
    /** The line printed: "PASS <check>: ..." or "FAIL <check>: expected ..., saw ...". */
    line: string;
}

/** The stack outputs verify reads (all optional; flags fill in or override). */
export interface StackOutputs {
    /** The DNS host of the lab (dns1): an IP, "ip:port" or a host name. */
    dnsServer?: string;
    domain?: string;
    /** The node address the `.ingress.<domain>` wildcard points at. */
    ingressAddress?: string;
    httpNodePort?: number;
    mgmtNodePort?: number;
}

export const DEFAULTS = { httpPort: 30000, mgmtPort: 32000, timeoutMs: 5000 } as const;

const pass = (check: CheckName, saw: string): CheckResult => ({ check, ok: true, line: `PASS ${check}: ${saw}` });
const fail = (check: CheckName, expected: string, saw: string): CheckResult => ({
    check,
    ok: false,
    line: `FAIL ${check}: expected ${expected}, saw ${saw}`,
});

export const nodejsHost = (o: VerifyOptions): string => `nodejs.ingress.${o.domain}`;
export const mgmtHost = (o: VerifyOptions): string => `mgmt.ingress.${o.domain}`;

function errText(err: unknown): string {
    const e = err as NodeJS.ErrnoException;
    // System and c-ares errors: the code says it (ECONNREFUSED, EREFUSED, ENOTFOUND...).
    if (e && typeof e.code === "string" && /^E[A-Z]+$/.test(e.code)) return e.code;
    return e?.message ?? String(err);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer from ${what} within ${ms} ms`)), ms);
    });
    return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** "ip", "ip:port" or "[v6]:port" → what Resolver.setServers takes; a host name is looked up first. */
async function dnsServerAddress(server: string, timeoutMs: number): Promise<string> {
    if (net.isIP(server) || /^\[[0-9a-fA-F:.]+\](:\d+)?$/.test(server)) return server;
    const m = /^([^:]+)(?::(\d+))?$/.exec(server);
    if (!m) throw new Error(`DNS server "${server}" is not ip, ip:port or host[:port]`);
    const [, host, port] = m;
    if (net.isIP(host)) return server;
    const { address } = await withTimeout(dns.lookup(host, { family: 4 }), timeoutMs, `the lookup of ${host}`);
    return port ? `${address}:${port}` : address;
}

async function resolver(o: VerifyOptions): Promise<dns.Resolver> {
    const r = new dns.Resolver({ timeout: o.timeoutMs, tries: 1 });
    if (o.dnsServer) r.setServers([await dnsServerAddress(o.dnsServer, o.timeoutMs)]);
    return r;
}

/** The first IPv4 address of `name`, through the configured DNS server. */
export async function resolveName(o: VerifyOptions, name: string): Promise<string> {
    const r = await resolver(o);
    try {
        const addrs = await withTimeout(r.resolve4(name), o.timeoutMs + 500, `the DNS server for ${name}`);
        if (addrs.length === 0) throw new Error("no A record");
        return addrs[0];
    } finally {
        r.cancel();
    }
}

function via(o: VerifyOptions): string {
    return o.dnsServer ? `via ${o.dnsServer}` : "via the system resolver";
}

/** Check 1: nodejs.ingress.<domain> resolves to an IPv4. */
export async function checkDns(o: VerifyOptions): Promise<CheckResult & { address?: string }> {
    const name = nodejsHost(o);
    try {
        const address = await resolveName(o, name);
        if (o.expectAddress && address !== o.expectAddress) {
            return { ...fail("dns", `${name} -> ${o.expectAddress}, the ingress node (${via(o)})`, `${name} -> ${address}`), address };
        }
        return { ...pass("dns", `${name} -> ${address} (${via(o)})`), address };
    } catch (err) {
        return fail("dns", `an IPv4 address for ${name} (${via(o)})`, errText(err));
    }
}

export interface HttpResponse {
    status: number;
    body: string;
}

/** GET http://<host>:<port><path>, connecting to `address`, bounded by timeoutMs, body capped at 1 MiB. */
export function httpGet(address: string, port: number, host: string, path: string, timeoutMs: number): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
        let settled = false;
        const done = (err: Error | null, res?: HttpResponse): void => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            if (err) reject(err);
            else resolve(res!);
        };
        const req = http.request(
            {
                host: address,
                port,
                path,
                method: "GET",
                headers: { Host: host, "User-Agent": "kubevirt-lab-verify", Connection: "close" },
                agent: false,
            },
            (res) => {
                const chunks: Buffer[] = [];
                let size = 0;
                res.on("data", (c: Buffer) => {
                    size += c.length;
                    if (size > 1 << 20) {
                        req.destroy(new Error("response larger than 1 MiB"));
                        return;
                    }
                    chunks.push(c);
                });
                res.on("end", () => done(null, { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
                res.on("error", (e) => done(e));
            },
        );
        const timer = setTimeout(() => {
            const e = new Error(`no complete response within ${timeoutMs} ms`);
            req.destroy(e);
            done(e);
        }, timeoutMs);
        req.on("error", (e) => done(e));
        req.end();
    });
}

/** The N of nodejs-ex's `<span class="code" id="count-value">N</span>`, or what stands there instead. */
export function parseCount(body: string): { count?: number; text?: string } {
    const m = /<span class="code" id="count-value">\s*([^<]*?)\s*<\/span>/.exec(body);
    if (!m) return {};
    return /^\d+$/.test(m[1]) ? { count: Number(m[1]), text: m[1] } : { text: m[1] };
}

async function addressFor(o: VerifyOptions, name: string, resolved?: string): Promise<string> {
    if (o.connect) return o.connect;
    if (resolved) return resolved;
    return resolveName(o, name);
}

/** Check 2: two views of the nodejs-ex page; the count must grow. */
export async function checkPage(o: VerifyOptions, resolved?: string): Promise<CheckResult> {
    const name = nodejsHost(o);
    const url = `http://${name}:${o.httpPort}/`;
    const expected = `the page-view count of ${url} to grow between two views`;
    let address: string;
    try {
        address = await addressFor(o, name, resolved);
    } catch (err) {
        return fail("page", expected, `no address to connect to: ${name} does not resolve (${errText(err)})`);
    }
    const counts: number[] = [];
    for (let view = 1; view <= 2; view++) {
        let res: HttpResponse;
        try {
            res = await httpGet(address, o.httpPort, name, "/", o.timeoutMs);
        } catch (err) {
            return fail("page", expected, `${errText(err)} from ${address}:${o.httpPort}`);
        }
        if (res.status !== 200) return fail("page", expected, `HTTP ${res.status} on view ${view} (from ${address}:${o.httpPort})`);
        const { count, text } = parseCount(res.body);
        if (count === undefined) {
            return fail(
                "page",
                expected,
                text === undefined
                    ? `no <span class="code" id="count-value"> in the page (${res.body.length} bytes)`
                    : `count-value "${text}" instead of a number (is MongoDB connected?)`,
            );
        }
        counts.push(count);
    }
    if (counts[1] > counts[0]) return pass("page", `count-value ${counts[0]} then ${counts[1]} at ${url} (via ${address})`);
    return fail("page", expected, `${counts[0]} then ${counts[1]}`);
}

/** What marks nginx-module-vts's status page (HTML or its JSON format). */
export function looksLikeVts(body: string): boolean {
    if (/nginx vhost traffic status/i.test(body)) return true;
    try {
        const j = JSON.parse(body);
        return typeof j === "object" && j !== null && "nginxVersion" in j && "serverZones" in j;
    } catch {
        return false;
    }
}

/** Check 3: the ingress controller's vts page on the management port. */
export async function checkVts(o: VerifyOptions): Promise<CheckResult> {
    const name = mgmtHost(o);
    const url = `http://${name}:${o.mgmtPort}/nginx_status`;
    const expected = `HTTP 200 with the nginx vhost traffic status page at ${url}`;
    let address: string;
    try {
        address = await addressFor(o, name);
    } catch (err) {
        return fail("vts", expected, `no address to connect to: ${name} does not resolve (${errText(err)})`);
    }
    let res: HttpResponse;
    try {
        res = await httpGet(address, o.mgmtPort, name, "/nginx_status", o.timeoutMs);
    } catch (err) {
        return fail("vts", expected, `${errText(err)} from ${address}:${o.mgmtPort}`);
    }
    if (res.status !== 200) return fail("vts", expected, `HTTP ${res.status} (from ${address}:${o.mgmtPort})`);
    if (!looksLikeVts(res.body)) {
        const title = /<title>([^<]*)<\/title>/i.exec(res.body)?.[1];
        return fail(
            "vts",
            expected,
            `HTTP 200 but another page (${title ? `title "${title}"` : `${res.body.length} bytes, no vts marker`})`,
        );
    }
    return pass("vts", `${url} is the vhost traffic status page (via ${address})`);
}

/** A swap check line from what probe.sh's `swap` check saw on `host` (drift.ts's parseProbe), or why it could not look. */
export function swapResult(host: string, seen: drift.Facts | Error): CheckResult {
    const expected = `off on ${host}`;
    if (seen instanceof Error) return fail("swap", expected, seen.message);
    const saw: string[] = [];
    if (seen.swapActive.length > 0) saw.push(`active swap on ${seen.swapActive.join(", ")}`);
    if (seen.swapFstab.length > 0)
        saw.push(`/etc/fstab line${seen.swapFstab.length > 1 ? "s" : ""} ${seen.swapFstab.map((l) => JSON.stringify(l)).join(", ")}`);
    if (saw.length > 0) return fail("swap", expected, saw.join(" and "));
    return pass("swap", `${expected} (no active swap, no swap line in /etc/fstab)`);
}

/** Probes the swap of one host: drift.ts's probeHost with only probe.sh's `swap` check. */
export type SwapProbe = (host: HostSpec) => Promise<drift.Facts>;

/** Check 4: one line per Kubernetes host, the hosts probed in parallel. */
export async function checkSwap(hosts: readonly HostSpec[], probe: SwapProbe): Promise<CheckResult[]> {
    const seen = await Promise.allSettled(hosts.map((h) => probe(h)));
    return seen.map((p, i) => swapResult(hosts[i].name, p.status === "fulfilled" ? p.value : (p.reason as Error)));
}

/** The selected checks in order; the page check reuses the dns check's address; `swap` runs the swap check. */
export async function runChecks(
    o: VerifyOptions | undefined,
    checks: readonly CheckName[] = STACKLESS_CHECKS,
    swap: () => Promise<CheckResult[]> = async () => [],
): Promise<CheckResult[]> {
    const out: CheckResult[] = [];
    let address: string | undefined;
    if (o && checks.includes("dns")) {
        const d = await checkDns(o);
        address = d.address;
        out.push(d);
    }
    if (o && checks.includes("page")) out.push(await checkPage(o, address));
    if (o && checks.includes("vts")) out.push(await checkVts(o));
    if (checks.includes("swap")) out.push(...(await swap()));
    return out;
}

export class UsageError extends Error {}

export const USAGE = `usage: npm run verify -- [--outputs <file.json>] [--dns-server <ip[:port]>] [--domain <domain>]
                         [--http-port <port>] [--mgmt-port <port>] [--connect <ip>]
                         [--expect-address <ip>] [--timeout-ms <ms>] [--checks <check>[,<check>...]]
                         [--stack <name>] [--cwd <project dir>] [--ssh-config <file>]
Without --outputs and --domain, the inputs come from \`pulumi stack output --json --show-secrets=false\`
(keys: domain, dnsServer, ingressAddress, httpNodePort, mgmtNodePort).
Checks: ${CHECKS.join(", ")}; all of them by default, only ${STACKLESS_CHECKS.join(", ")} when --outputs or --domain
gives the inputs and --stack is not given. swap reads the stack's settings (pulumi config --json --show-secrets:
PULUMI_CONFIG_PASSPHRASE for a passphrase stack) and probes each Kubernetes host over SSH (steps/probe/probe.sh).`;

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
    const r = await drift.pulumi({ cwd }, ["stack", "output", "--json", "--show-secrets=false", ...(stack ? ["--stack", stack] : [])]);
    if (r.code !== 0) throw new Error(`pulumi stack output failed: ${r.stderr.trim()}`);
    try {
        return JSON.parse(r.stdout) as StackOutputs;
    } catch (e) {
        throw new Error(`pulumi stack output did not print JSON: ${(e as Error).message}`);
    }
}

/** The SSH probe of a host is bounded by this, or --timeout-ms when longer (drift's default bound). */
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
            ({ cfg, stack } = await drift.readStack(args));
            if (!(await drift.hasSsh())) throw new Error("ssh is missing: install it with: sudo apt-get install -y openssh-client");
        }
    } catch (err) {
        print(`verify: ${(err as Error).message}`);
        if (err instanceof UsageError || err instanceof drift.UsageError) print(USAGE);
        return 2;
    }
    const tmp = drift.privateTempDir("verify");
    let access: drift.SshAccess | undefined;
    try {
        const swap = async (): Promise<CheckResult[]> => {
            const hosts = [cfg!.master, ...cfg!.workers];
            const a = { sshConfig: args.sshConfig, timeoutMs: Math.max(args.timeoutMs ?? 0, SWAP_PROBE_MS) };
            const exported = await drift.pulumi(args, ["stack", "export", ...(stack ? ["--stack", stack] : [])]);
            const hostKeys = drift.expectedHostKeys(cfg!, exported.code === 0 ? exported.stdout : undefined);
            access = await drift.openSshAccess(cfg!, hostKeys, tmp, a.timeoutMs / 1000 + 60);
            return checkSwap(hosts, (h) => drift.probeHost(cfg!, h, access!, a, ["swap"]));
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
