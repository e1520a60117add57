// Readiness and liveness probes as the 1.9 kubelet's prober runs them: httpGet (from the node to
// the pod's address, or probe.host; HTTP or HTTPS without verifying; 200-399 is success),
// tcpSocket (a connection), exec (the command inside the container, exit 0). initialDelaySeconds,
// periodSeconds (10), timeoutSeconds (1), successThreshold (1), failureThreshold (3). A container
// with no readiness probe is ready once it runs; with one, only after it succeeded. A liveness
// probe that fails failureThreshold times in a row has the container restarted.
import { spawn } from "node:child_process";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";

export interface ProbeTarget {
    podIP: string;
    /** the container's ports (named ports resolve through them) */
    ports: any[];
    /** the container's main process, for exec probes (0: none) */
    pid: () => number;
}

function portOf(port: unknown, ports: any[]): number | undefined {
    if (typeof port === "number") return port;
    if (typeof port === "string" && /^\d+$/.test(port)) return Number(port);
    return ports.find((p) => p.name === port)?.containerPort;
}

/** One probe run: true when it succeeded. */
export async function runProbe(probe: any, t: ProbeTarget): Promise<{ ok: boolean; message: string }> {
    const timeoutMs = Math.max(1, Number(probe.timeoutSeconds ?? 1)) * 1000;
    if (probe.httpGet) {
        const g = probe.httpGet;
        const port = portOf(g.port, t.ports);
        if (!port) return { ok: false, message: `unknown port ${g.port}` };
        const host = g.host || t.podIP;
        const scheme = String(g.scheme ?? "HTTP").toUpperCase();
        const headers: Record<string, string> = { "User-Agent": "kube-probe/1.9" };
        for (const h of (g.httpHeaders ?? []) as any[]) headers[h.name] = h.value;
        return new Promise((resolve) => {
            const lib = scheme === "HTTPS" ? https : http;
            const req = lib.request(
                { host, port, path: g.path || "/", method: "GET", headers, timeout: timeoutMs, rejectUnauthorized: false },
                (res) => {
                    res.resume();
                    const code = res.statusCode ?? 0;
                    resolve({ ok: code >= 200 && code < 400, message: `HTTP probe failed with statuscode: ${code}` });
                },
            );
            req.on("timeout", () => req.destroy(new Error("timeout")));
            req.on("error", (e) =>
                resolve({ ok: false, message: `Get ${scheme.toLowerCase()}://${host}:${port}${g.path || "/"}: ${e.message}` }),
            );
            req.end();
        });
    }
    if (probe.tcpSocket) {
        const port = portOf(probe.tcpSocket.port, t.ports);
        if (!port) return { ok: false, message: `unknown port ${probe.tcpSocket.port}` };
        const host = probe.tcpSocket.host || t.podIP;
        return new Promise((resolve) => {
            const s = net.connect({ host, port, timeout: timeoutMs });
            s.on("connect", () => {
                s.destroy();
                resolve({ ok: true, message: "" });
            });
            s.on("timeout", () => s.destroy(new Error("timeout")));
            s.on("error", (e) => resolve({ ok: false, message: `dial tcp ${host}:${port}: ${e.message}` }));
        });
    }
    if (probe.exec) {
        const pid = t.pid();
        if (!pid) return { ok: false, message: "the container runs no process" };
        const cmd = ((probe.exec.command ?? []) as unknown[]).map(String);
        return new Promise((resolve) => {
            const child = spawn(
                "nsenter",
                ["--target", String(pid), "--mount", "--uts", "--ipc", "--net", "--pid", "--root", "--wd", "--", ...cmd],
                {
                    stdio: ["ignore", "pipe", "pipe"],
                },
            );
            let out = "";
            child.stdout.on("data", (d) => (out += d));
            child.stderr.on("data", (d) => (out += d));
            const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
            child.on("error", (e) => resolve({ ok: false, message: e.message }));
            child.on("close", (code) => {
                clearTimeout(timer);
                resolve({ ok: code === 0, message: out.trim().slice(0, 200) || `exit ${code}` });
            });
        });
    }
    return { ok: true, message: "no handler" };
}

/** A probe's loop for one container start: result() says whether it currently passes. */
export class Prober {
    private timer?: NodeJS.Timeout;
    private successes = 0;
    private failures = 0;
    private passing: boolean;
    private stopped = false;
    lastMessage = "";

    constructor(
        private readonly probe: any,
        private readonly target: ProbeTarget,
        /** readiness: not passing until it succeeds; liveness: passing until it fails */
        private readonly kind: "readiness" | "liveness",
        private readonly onChange: (passing: boolean, message: string) => void,
    ) {
        this.passing = kind === "liveness";
        const delay = Math.max(0, Number(probe.initialDelaySeconds ?? 0)) * 1000;
        this.timer = setTimeout(() => void this.tick(), delay);
    }

    result(): boolean {
        return this.passing;
    }

    stop(): void {
        this.stopped = true;
        clearTimeout(this.timer);
    }

    private async tick(): Promise<void> {
        if (this.stopped) return;
        const r = await runProbe(this.probe, this.target);
        if (this.stopped) return;
        const successThreshold = Math.max(1, Number(this.probe.successThreshold ?? 1));
        const failureThreshold = Math.max(1, Number(this.probe.failureThreshold ?? 3));
        if (r.ok) {
            this.failures = 0;
            this.successes++;
            if (!this.passing && this.successes >= successThreshold) {
                this.passing = true;
                this.onChange(true, "");
            }
        } else {
            this.successes = 0;
            this.failures++;
            this.lastMessage = r.message;
            if (this.passing && this.failures >= failureThreshold) {
                this.passing = false;
                this.onChange(false, r.message);
            }
        }
        const period = Math.max(1, Number(this.probe.periodSeconds ?? 10)) * 1000;
        this.timer = setTimeout(() => void this.tick(), period);
    }
}
