// tools/verify.ts against local stand-ins on 127.0.0.0/8 only: a nodejs-ex
// like page that counts views, a vts-like status page, and a real dnsmasq
// answering *.ingress.<domain> with the stand-ins' address. The swap check:
// its lines from the swap step's check items, the check selection, and the swap
// step's check (steps/swap/swap.sh check) in a sandbox (test/lib/sandbox.ts) with swap on and off.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { DnsmasqServer, startDnsmasq } from "./lib/dnsmasq";
import { SIM_STATE, Sandbox, sandboxSupported } from "./lib/sandbox";
import { CheckItem, parseCheck } from "../tools/lib/ssh";
import { UsageError } from "../tools/lib/pulumi";
import { main } from "../tools/verify";
import { parseCliArgs, resolveOptions, selectedChecks } from "../tools/verify/args";
import {
    CHECKS,
    CheckResult,
    checkPage,
    checkSwap,
    looksLikeVts,
    parseCount,
    runChecks,
    swapResult,
    VerifyOptions,
} from "../tools/verify/checks";

const repo = path.resolve(__dirname, "..");
const domain = "verify.test";
const standIn = "127.42.1.1"; // where the "ingress" stand-ins listen
const dnsAddress = "127.42.1.53";

const servers: Array<http.Server | net.Server> = [];
const sockets = new Set<net.Socket>();

function listen<T extends http.Server | net.Server>(server: T, address = standIn): Promise<number> {
    servers.push(server);
    server.on("connection", (s: net.Socket) => {
        sockets.add(s);
        s.once("close", () => sockets.delete(s));
    });
    return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, address, () => resolve((server.address() as net.AddressInfo).port));
    });
}

const defaultBackend = (res: http.ServerResponse): void => {
    res.writeHead(404, { "Content-Type": "text/plain" });
    res.end("default backend - 404");
};

/** nodejs-ex's page: the count grows with each view, unless frozen; `text` replaces the number. */
function pageServer(mode: { frozen?: number; text?: string } = {}): http.Server {
    let views = 6;
    return http.createServer((req, res) => {
        if (req.headers.host !== `nodejs.ingress.${domain}` || req.url !== "/") return defaultBackend(res);
        views++;
        const shown = mode.text ?? String(mode.frozen ?? views);
        res.writeHead(200, { "Content-Type": "text/html" });
        res.end(
            `<!doctype html>\n<html lang="en">\n<body>\n<p>Page view count:\n` +
                `<span class="code" id="count-value">${shown}</span>\n</p>\n</body>\n</html>\n`,
        );
    });
}

/** The ingress controller's management port: the vts page on /nginx_status. */
function vtsServer(mode: { missing?: boolean; other?: boolean } = {}): http.Server {
    return http.createServer((req, res) => {
        if (mode.missing || req.headers.host !== `mgmt.ingress.${domain}` || req.url !== "/nginx_status") return defaultBackend(res);
        res.writeHead(200, { "Content-Type": "text/html" });
        res.end(
            mode.other
                ? "<html><head><title>Welcome to nginx!</title></head><body>nginx</body></html>"
                : "<!DOCTYPE html><html><head><title>Nginx Vhost Traffic Status Monitor</title></head><body><h1>Nginx Vhost Traffic Status</h1></body></html>",
        );
    });
}

let dir: string;
let dns: DnsmasqServer;
let goodPage: number;
let goodVts: number;

before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-verify-"));
    const conf = path.join(dir, "lab.conf");
    fs.writeFileSync(conf, `address=/.ingress.${domain}/${standIn}\n`);
    dns = await startDnsmasq({ confFile: conf, address: dnsAddress });
    goodPage = await listen(pageServer());
    goodVts = await listen(vtsServer());
});

after(async () => {
    for (const s of sockets) s.destroy();
    await Promise.race([
        Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))),
        new Promise((resolve) => setTimeout(resolve, 5_000)),
    ]);
    await dns?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
});

async function verify(args: string[]): Promise<{ code: number; lines: string[]; ms: number }> {
    const lines: string[] = [];
    const start = Date.now();
    const code = await main(args, (l) => lines.push(l));
    return { code, lines, ms: Date.now() - start };
}

function flags(over: { domain?: string; http?: number; mgmt?: number; timeoutMs?: number; extra?: string[] } = {}): string[] {
    return [
        "--dns-server",
        dns.server,
        "--domain",
        over.domain ?? domain,
        "--http-port",
        String(over.http ?? goodPage),
        "--mgmt-port",
        String(over.mgmt ?? goodVts),
        "--timeout-ms",
        String(over.timeoutMs ?? 2000),
        ...(over.extra ?? []),
    ];
}

describe("against the stand-ins", { timeout: 120_000 }, () => {
    test("the good setup: every check passes", async () => {
        const r = await verify(flags());
        assert.equal(r.code, 0, r.lines.join("\n"));
        assert.equal(r.lines.length, 3);
        assert.equal(r.lines[0], `PASS dns: nodejs.ingress.${domain} -> ${standIn} (via ${dns.server})`);
        assert.match(
            r.lines[1],
            new RegExp(
                `^PASS page: count-value (\\d+) then (\\d+) at http://nodejs\\.ingress\\.verify\\.test:${goodPage}/ \\(via 127\\.42\\.1\\.1\\)$`,
            ),
        );
        const [, a, b] = /count-value (\d+) then (\d+)/.exec(r.lines[1])!;
        assert.equal(Number(b), Number(a) + 1);
        assert.equal(
            r.lines[2],
            `PASS vts: http://mgmt.ingress.${domain}:${goodVts}/nginx_status is the vhost traffic status page (via ${standIn})`,
        );
    });

    test("the count does not grow", async () => {
        const frozen = await listen(pageServer({ frozen: 5 }));
        const r = await verify(flags({ http: frozen }));
        assert.equal(r.code, 1);
        assert.match(r.lines[0], /^PASS dns:/);
        assert.equal(
            r.lines[1],
            `FAIL page: expected the page-view count of http://nodejs.ingress.${domain}:${frozen}/ to grow between two views, saw 5 then 5`,
        );
        assert.match(r.lines[2], /^PASS vts:/);
    });

    test("no database: the count is not a number", async () => {
        const nodb = await listen(pageServer({ text: "No database configured" }));
        const r = await verify(flags({ http: nodb }));
        assert.equal(r.code, 1);
        assert.match(
            r.lines[1],
            /^FAIL page: expected .*, saw count-value "No database configured" instead of a number \(is MongoDB connected\?\)$/,
        );
    });

    test("the name does not resolve", async () => {
        const r = await verify(flags({ domain: "elsewhere.test" }));
        assert.equal(r.code, 1);
        assert.match(
            r.lines[0],
            new RegExp(
                `^FAIL dns: expected an IPv4 address for nodejs\\.ingress\\.elsewhere\\.test \\(via ${dns.server.replace(/\./g, "\\.")}\\), saw EREFUSED$`,
            ),
        );
        assert.match(
            r.lines[1],
            /^FAIL page: expected .*, saw no address to connect to: nodejs\.ingress\.elsewhere\.test does not resolve/,
        );
        assert.match(r.lines[2], /^FAIL vts: expected .*, saw no address to connect to: mgmt\.ingress\.elsewhere\.test does not resolve/);
    });

    test("the port is closed", async () => {
        const probe = net.createServer();
        const closed = await listen(probe);
        await new Promise<void>((resolve) => probe.close(() => resolve()));
        servers.splice(servers.indexOf(probe), 1);
        const r = await verify(flags({ http: closed }));
        assert.equal(r.code, 1);
        assert.match(r.lines[1], new RegExp(`^FAIL page: expected .*, saw ECONNREFUSED from 127\\.42\\.1\\.1:${closed}$`));
    });

    test("a server that never answers fails within the timeout", async () => {
        const hung = net.createServer(() => {
            /* accept, never answer */
        });
        const port = await listen(hung);
        const r = await verify(flags({ http: port, timeoutMs: 400 }));
        assert.equal(r.code, 1);
        assert.match(
            r.lines[1],
            new RegExp(`^FAIL page: expected .*, saw no complete response within 400 ms from 127\\.42\\.1\\.1:${port}$`),
        );
        assert.ok(r.ms < 5_000, `took ${r.ms} ms`);
    });

    test("the vts page is missing", async () => {
        const missing = await listen(vtsServer({ missing: true }));
        const r = await verify(flags({ mgmt: missing }));
        assert.equal(r.code, 1);
        assert.match(r.lines[0], /^PASS dns:/);
        assert.match(r.lines[1], /^PASS page:/);
        assert.equal(
            r.lines[2],
            `FAIL vts: expected HTTP 200 with the nginx vhost traffic status page at http://mgmt.ingress.${domain}:${missing}/nginx_status, saw HTTP 404 (from ${standIn}:${missing})`,
        );
    });

    test("another page where the vts page should be", async () => {
        const other = await listen(vtsServer({ other: true }));
        const r = await verify(flags({ mgmt: other }));
        assert.equal(r.code, 1);
        assert.match(r.lines[2], /^FAIL vts: expected .*, saw HTTP 200 but another page \(title "Welcome to nginx!"\)$/);
    });

    test("--connect overrides the address, the Host header stays the name", async () => {
        // elsewhere.test does not resolve, but the stand-ins answer by Host name:
        // they would 404 if verify sent the wrong Host header.
        const r = await verify(flags({ extra: ["--connect", standIn] }));
        assert.equal(r.code, 0, r.lines.join("\n"));
        const other = await verify(flags({ domain: "elsewhere.test", extra: ["--connect", standIn] }));
        assert.equal(other.code, 1);
        assert.match(other.lines[0], /^FAIL dns:/);
        assert.match(other.lines[1], /^FAIL page: .*saw HTTP 404/);
    });

    test("inputs from a stack-outputs file, flags win", async () => {
        const outputs = path.join(dir, "outputs.json");
        fs.writeFileSync(
            outputs,
            JSON.stringify({
                domain,
                dnsServer: dns.server,
                ingressAddress: standIn,
                httpNodePort: goodPage,
                mgmtNodePort: 1,
                kubeconfig: "[secret]",
            }),
        );
        const r = await verify(["--outputs", outputs, "--mgmt-port", String(goodVts), "--timeout-ms", "2000"]);
        assert.equal(r.code, 0, r.lines.join("\n"));
        assert.equal(r.lines.length, 3);
    });

    test("the name resolves, but not to the ingress node the stack names", async () => {
        const outputs = path.join(dir, "outputs-other-node.json");
        fs.writeFileSync(outputs, JSON.stringify({ domain, dnsServer: dns.server, ingressAddress: "127.42.1.2" }));
        const r = await verify(["--outputs", outputs, "--http-port", String(goodPage), "--mgmt-port", String(goodVts)]);
        assert.equal(r.code, 1);
        assert.equal(
            r.lines[0],
            `FAIL dns: expected nodejs.ingress.${domain} -> 127.42.1.2, the ingress node (via ${dns.server}), saw nodejs.ingress.${domain} -> ${standIn}`,
        );
        // The page is still read where the name points, as a browser would.
        assert.match(r.lines[1], /^PASS page:/);
    });

    test("the CLI exits 0 when all pass and 1 when one fails", { timeout: 60_000 }, async () => {
        const cli = (args: string[]): Promise<{ code: number | null; stdout: string }> =>
            new Promise((resolve, reject) => {
                const child = spawn(process.execPath, ["--import", "tsx", path.join(repo, "tools", "verify.ts"), ...args], {
                    cwd: repo,
                    stdio: ["ignore", "pipe", "pipe"],
                });
                let stdout = "";
                child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
                const timer = setTimeout(() => child.kill("SIGKILL"), 45_000);
                child.on("error", reject);
                child.on("close", (code) => {
                    clearTimeout(timer);
                    resolve({ code, stdout });
                });
            });
        const good = await cli(flags());
        assert.equal(good.code, 0, good.stdout);
        assert.deepEqual(
            good.stdout
                .trim()
                .split("\n")
                .map((l) => l.split(":")[0]),
            ["PASS dns", "PASS page", "PASS vts"],
        );
        const bad = await cli(flags({ mgmt: 1 }));
        assert.equal(bad.code, 1, bad.stdout);
        assert.match(bad.stdout, /^FAIL vts: expected .*, saw ECONNREFUSED from 127\.42\.1\.1:1$/m);
    });
});

describe("inputs and parsing", { timeout: 60_000 }, () => {
    test("usage errors exit 2 with every problem named", async () => {
        const r = await verify(["--http-port", "70000"]);
        assert.equal(r.code, 2);
        assert.match(r.lines[0], /--http-port: "70000" is not a port/);
        const empty = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "kvl-verify-empty-")), "o.json");
        fs.writeFileSync(empty, JSON.stringify({ httpNodePort: "x", ingressAddress: "not-an-ip" }));
        const r2 = await verify(["--outputs", empty]);
        assert.equal(r2.code, 2);
        assert.match(r2.lines[0], /domain: give --domain or a `domain` stack output/);
        assert.match(r2.lines[0], /httpNodePort: "x" is not a port/);
        assert.match(r2.lines[0], /ingressAddress: "not-an-ip" is not an IPv4 address/);
        fs.rmSync(path.dirname(empty), { recursive: true, force: true });
        const r3 = await verify(["--bogus"]);
        assert.equal(r3.code, 2);
    });

    test("defaults are the post's NodePorts", () => {
        const o: VerifyOptions = resolveOptions({}, { domain: "virtomation.com" });
        assert.deepEqual(o, {
            dnsServer: undefined,
            domain: "virtomation.com",
            httpPort: 30000,
            mgmtPort: 32000,
            connect: undefined,
            expectAddress: undefined,
            timeoutMs: 5000,
        });
    });

    test("parseCount reads nodejs-ex's span", () => {
        assert.deepEqual(parseCount('<p>Page view count:\n<span class="code" id="count-value">7</span>\n</p>'), { count: 7, text: "7" });
        assert.deepEqual(parseCount('<span class="code" id="count-value"></span>'), { text: "" });
        assert.deepEqual(parseCount("<p>nothing</p>"), {});
    });

    test("looksLikeVts accepts the HTML page and its JSON format", () => {
        assert.ok(looksLikeVts("<title>Nginx Vhost Traffic Status Monitor</title>"));
        assert.ok(looksLikeVts(JSON.stringify({ nginxVersion: "1.13.12", serverZones: {} })));
        assert.ok(!looksLikeVts("<title>Welcome to nginx!</title>"));
    });

    test("checkPage needs no DNS when given an address", async () => {
        const r = await checkPage({ domain, httpPort: goodPage, mgmtPort: goodVts, timeoutMs: 2000 }, standIn);
        assert.equal(r.ok, true, r.line);
    });
});

/** The swap step's check items: active areas, the first swap line of the fstab. */
const swapFacts = (active: string[], fstab: string[]): CheckItem[] => [
    active.length === 0
        ? { item: "swap active" }
        : { item: "swap active", drift: { expected: "no active swap", saw: `swap on ${active.join(", ")}` } },
    fstab.length === 0
        ? { item: "swap fstab" }
        : { item: "swap fstab", drift: { expected: "no active swap line", saw: JSON.stringify(fstab[0]) } },
];
const PASS_KM1 = "PASS swap: off on km1.virtomation.com (swap active, swap fstab: as the swap step makes them)";
const km1 = { name: "km1.virtomation.com", address: "172.31.50.221" };
const kn1 = { name: "kn1.virtomation.com", address: "172.31.50.231" };

describe("the swap check", { timeout: 60_000 }, () => {
    test("one line per host from the swap step's check items", () => {
        assert.deepEqual(swapResult(km1.name, swapFacts([], [])), {
            check: "swap",
            ok: true,
            line: PASS_KM1,
        });
        assert.equal(
            swapResult(km1.name, swapFacts(["/dev/vda2", "/swapfile"], [])).line,
            "FAIL swap: expected off on km1.virtomation.com, saw swap active: swap on /dev/vda2, /swapfile",
        );
        assert.equal(
            swapResult(kn1.name, swapFacts([], ["/dev/vda2 swap swap defaults 0 0"])).line,
            'FAIL swap: expected off on kn1.virtomation.com, saw swap fstab: "/dev/vda2 swap swap defaults 0 0"',
        );
        const both = swapResult(kn1.name, swapFacts(["/dev/vda2"], ["/dev/vda2 swap swap defaults 0 0", "/swapfile none swap sw 0 0"]));
        assert.equal(both.ok, false);
        assert.equal(
            both.line,
            'FAIL swap: expected off on kn1.virtomation.com, saw swap active: swap on /dev/vda2 and swap fstab: "/dev/vda2 swap swap defaults 0 0"',
        );
        const unreachable = new Error("kn1 (root@172.31.50.231:22): cannot reach it over SSH: Connection timed out");
        assert.equal(
            swapResult(kn1.name, unreachable).line,
            "FAIL swap: expected off on kn1.virtomation.com, saw kn1 (root@172.31.50.231:22): cannot reach it over SSH: Connection timed out",
        );
    });

    test("checkSwap probes every host, an unreachable one is its own FAIL", async () => {
        const asked: string[] = [];
        const lines = await checkSwap([km1, kn1], async (h) => {
            asked.push(h.name);
            if (h === kn1) throw new Error("kn1 (root@172.31.50.231:22): cannot reach it over SSH: refused");
            return swapFacts([], []);
        });
        assert.deepEqual(asked, [km1.name, kn1.name]);
        assert.deepEqual(
            lines.map((r) => r.line),
            [
                PASS_KM1,
                "FAIL swap: expected off on kn1.virtomation.com, saw kn1 (root@172.31.50.231:22): cannot reach it over SSH: refused",
            ],
        );
    });

    test("check selection: --checks, and the defaults with and without the stack", async () => {
        assert.deepEqual([...CHECKS], ["dns", "page", "vts", "swap"]);
        assert.deepEqual(selectedChecks(parseCliArgs([])), ["dns", "page", "vts", "swap"], "inputs from the stack: all");
        assert.deepEqual(selectedChecks(parseCliArgs(["--domain", "x.test"])), ["dns", "page", "vts"], "no stack: no hosts");
        assert.deepEqual(selectedChecks(parseCliArgs(["--outputs", "o.json"])), ["dns", "page", "vts"]);
        assert.deepEqual(selectedChecks(parseCliArgs(["--outputs", "o.json", "--stack", "lab"])), ["dns", "page", "vts", "swap"]);
        assert.deepEqual(selectedChecks(parseCliArgs(["--checks", "swap,dns", "--domain", "x.test"])), ["dns", "swap"], "in CHECKS order");
        assert.deepEqual(selectedChecks(parseCliArgs(["--checks", "vts", "--checks", "swap"])), ["vts", "swap"]);
        assert.throws(
            () => parseCliArgs(["--checks", "dns,disk"]),
            (e: Error) => e instanceof UsageError && /"disk" is not a check/.test(e.message),
        );
        assert.throws(() => parseCliArgs(["--checks", ""]), UsageError);
        assert.throws(() => parseCliArgs(["--stack", "a b"]), UsageError);
        assert.deepEqual(parseCliArgs(["--stack", "organization/kubevirt-lab/lab", "--cwd", "/p", "--ssh-config", "/c"]), {
            stack: "organization/kubevirt-lab/lab",
            cwd: "/p",
            sshConfig: "/c",
        });
        // swap alone needs no outputs: runChecks runs only what is selected
        const swapLine: CheckResult = swapResult(km1.name, swapFacts([], []));
        assert.deepEqual(await runChecks(undefined, ["swap"], async () => [swapLine]), [swapLine]);
        const r = await verify(["--checks", "dns,bogus"]);
        assert.equal(r.code, 2);
        assert.match(r.lines[0], /^verify: --checks: "bogus" is not a check \(dns, page, vts, swap\)$/);
        assert.match(r.lines.join("\n"), /--checks <check>/);
    });

    test("--checks without swap against the stand-ins: the three lines, no stack asked", async () => {
        const r = await verify(flags({ extra: ["--checks", "dns,page,vts"] }));
        assert.equal(r.code, 0, r.lines.join("\n"));
        assert.deepEqual(
            r.lines.map((l) => l.split(":")[0]),
            ["PASS dns", "PASS page", "PASS vts"],
        );
        const vtsOnly = await verify(flags({ extra: ["--checks", "vts"] }));
        assert.deepEqual(
            vtsOnly.lines.map((l) => l.split(":")[0]),
            ["PASS vts"],
        );
    });
});

const skipSandbox = sandboxSupported().ok ? false : "needs root, unshare and overlayfs (test/lib/sandbox.ts)";

describe("the swap step's check in a sandbox", { skip: skipSandbox, timeout: 120_000 }, () => {
    let sb: Sandbox;
    before(async () => {
        sb = await Sandbox.create({ hostname: "km1" });
    });
    after(async () => {
        await sb?.dispose();
    });

    /** The swap step's check, as verify runs it over SSH (tools/lib/ssh.ts runChecks), judged. */
    async function swapLine(): Promise<CheckResult> {
        const r = await sb.runScriptAsync("swap.sh", ["check"]);
        assert.equal(r.code, 0, r.stderr);
        return swapResult(km1.name, parseCheck("swap.sh", r.stdout));
    }

    test("swap on is FAIL; after swap.sh apply it is PASS", async () => {
        const on = await sb.runAsync(`set -e
            mkdir -p ${SIM_STATE}
            echo /dev/vda2 > ${SIM_STATE}/swaps
            echo '/dev/vda2 swap swap defaults 0 0' >> /etc/fstab`);
        assert.equal(on.code, 0, on.stderr);
        const fail = await swapLine();
        assert.equal(fail.ok, false);
        assert.equal(
            fail.line,
            'FAIL swap: expected off on km1.virtomation.com, saw swap active: swap on /dev/vda2 and swap fstab: "/dev/vda2 swap swap defaults 0 0"',
        );
        const off = await sb.runScriptAsync("swap.sh", ["apply"]);
        assert.equal(off.code, 0, off.stderr);
        assert.deepEqual(await swapLine(), {
            check: "swap",
            ok: true,
            line: PASS_KM1,
        });
    });
});
