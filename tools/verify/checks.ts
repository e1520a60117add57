// npm run verify's checks (tools/verify.ts): the post's "Testing our application" by hand, as code:
// the DNS name, the page count that grows, the vts page; and the swap step's check on each host.
import * as dns from "node:dns/promises";
import * as http from "node:http";
import * as net from "node:net";
import { CheckItem } from "../lib/ssh";
import type { HostSpec } from "../../components/config";

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

/** A swap check line from the items of the swap step's check on `host` (steps/swap/swap.sh check), or why it could not look. */
export function swapResult(host: string, seen: readonly CheckItem[] | Error): CheckResult {
    const expected = `off on ${host}`;
    if (seen instanceof Error) return fail("swap", expected, seen.message);
    const saw = seen.filter((i) => i.drift).map((i) => `${i.item}: ${i.drift!.saw}`);
    if (saw.length > 0) return fail("swap", expected, saw.join(" and "));
    return pass("swap", `${expected} (${seen.map((i) => i.item).join(", ")}: as the swap step makes them)`);
}

/** Runs the swap step's check on one host. */
export type SwapCheck = (host: HostSpec) => Promise<readonly CheckItem[]>;

/** Check 4: one line per Kubernetes host, the hosts checked in parallel. */
export async function checkSwap(hosts: readonly HostSpec[], probe: SwapCheck): Promise<CheckResult[]> {
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
