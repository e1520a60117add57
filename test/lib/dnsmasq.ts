// A real dnsmasq on a loopback address, for tests: started in the foreground
// with only the given configuration file (no /etc/dnsmasq.conf, no
// /etc/hosts, no upstream servers), polled until it answers, stopped by pid.
import { ChildProcess, spawn } from "node:child_process";
import * as dgram from "node:dgram";
import { Resolver } from "node:dns/promises";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

export interface DnsmasqServer {
    /** The loopback address it listens on. */
    readonly address: string;
    readonly port: number;
    /** "address:port", what Resolver.setServers and verify's --dns-server take. */
    readonly server: string;
    /** What dnsmasq logged so far (its --log-facility is stderr). */
    log(): string;
    /** A resolver that asks only this server. */
    resolver(timeoutMs?: number): Resolver;
    stop(): Promise<void>;
}

export interface StartDnsmasqOptions {
    /** The configuration file to serve, passed as --conf-file. */
    confFile: string;
    /** A 127.0.0.0/8 address; default 127.42.0.1. */
    address?: string;
    /** Give up if dnsmasq does not answer within this time (default 10 s). */
    timeoutMs?: number;
}

const running = new Set<ChildProcess>();
process.once("exit", () => {
    for (const child of running) child.kill("SIGKILL");
});

/** A port free for both UDP and TCP on `address`, as far as one can tell. */
async function freePort(address: string): Promise<number> {
    const port = await new Promise<number>((resolve, reject) => {
        const sock = dgram.createSocket("udp4");
        sock.once("error", reject);
        sock.bind(0, address, () => {
            const p = sock.address().port;
            sock.close(() => resolve(p));
        });
    });
    await new Promise<void>((resolve, reject) => {
        const srv = net.createServer();
        srv.once("error", reject);
        srv.listen(port, address, () => srv.close(() => resolve()));
    });
    return port;
}

function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

function resolverFor(server: string, timeoutMs: number): Resolver {
    const r = new Resolver({ timeout: timeoutMs, tries: 1 });
    r.setServers([server]);
    return r;
}

/**
 * Starts dnsmasq and waits (bounded by time and by a number of attempts)
 * until it answers a query. Any DNS answer counts, NXDOMAIN or REFUSED
 * included: only silence or a refused connection mean it is not up yet.
 */
export async function startDnsmasq(opts: StartDnsmasqOptions): Promise<DnsmasqServer> {
    const address = opts.address ?? "127.42.0.1";
    if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address)) {
        throw new Error(`startDnsmasq: ${address} is not a 127.0.0.0/8 address`);
    }
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    let lastLog = "";

    // A port can be taken between freePort and dnsmasq's bind: a few attempts.
    for (let attempt = 1; attempt <= 5 && Date.now() < deadline; attempt++) {
        const port = await freePort(address);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-dnsmasq-"));
        const server = `${address}:${port}`;
        const child = spawn(
            "dnsmasq",
            [
                "--keep-in-foreground",
                `--conf-file=${opts.confFile}`,
                `--listen-address=${address}`,
                "--bind-interfaces",
                `--port=${port}`,
                "--no-resolv",
                "--no-hosts",
                `--pid-file=${path.join(dir, "dnsmasq.pid")}`,
                "--log-facility=-",
            ],
            { stdio: ["ignore", "pipe", "pipe"] },
        );
        running.add(child);
        let log = "";
        child.stdout!.setEncoding("utf8").on("data", (d: string) => (log += d));
        child.stderr!.setEncoding("utf8").on("data", (d: string) => (log += d));
        let exited = false;
        const exit = new Promise<void>((resolve) =>
            child.once("exit", () => {
                exited = true;
                running.delete(child);
                resolve();
            }),
        );
        child.once("error", (err) => {
            log += `\nspawn error: ${err.message}`;
        });

        const stop = async (): Promise<void> => {
            if (!exited) {
                child.kill("SIGTERM");
                await Promise.race([exit, sleep(5_000)]);
                if (!exited) {
                    child.kill("SIGKILL");
                    await Promise.race([exit, sleep(5_000)]);
                }
            }
            fs.rmSync(dir, { recursive: true, force: true });
        };

        // Poll: at most 100 queries, each bounded by 300 ms, until the deadline.
        for (let i = 0; i < 100 && !exited && Date.now() < deadline; i++) {
            let up: boolean;
            try {
                await resolverFor(server, 300).resolve4("kubevirt-lab-probe.invalid");
                up = true;
            } catch (err) {
                const code = (err as NodeJS.ErrnoException).code;
                up = code !== undefined && code !== "ETIMEOUT" && code !== "ECONNREFUSED";
            }
            if (up) {
                return {
                    address,
                    port,
                    server,
                    log: () => log,
                    resolver: (t = 2_000) => resolverFor(server, t),
                    stop,
                };
            }
            await sleep(50);
        }
        lastLog = log;
        await stop();
    }
    throw new Error(`dnsmasq did not answer on ${address} within ${timeoutMs} ms; its log:\n${lastLog}`);
}
