// A small Kubernetes REST client: a kubeconfig's cluster and user (client certificate, bearer
// token or basic auth over https; Node's http/https, no other dependency than `yaml`) or a plain
// http server URL, JSON requests with a timeout each, and watch streams. What it has in common with
// the kubelet stand-in's client is in ../lib/kube.ts.
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as path from "node:path";
import * as YAML from "yaml";
import { ApiError, isConflict, isGone, isNotFound, lineSplitter, readRef, userToken } from "../lib/kube";

export { ApiError, isConflict, isGone, isNotFound };

export interface ClusterAccess {
    server: URL;
    agent: http.Agent;
    headers: Record<string, string>;
    /** Where it came from, for the log. */
    describe: string;
}

function readData(dataB64: unknown, file: unknown, base: string, what: string): Buffer | undefined {
    try {
        return readRef(dataB64, file, base).buf;
    } catch (e) {
        const p = path.isAbsolute(String(file)) ? String(file) : path.join(base, String(file));
        throw new Error(`kubeconfig: cannot read ${what} ${p}: ${(e as Error).message}`);
    }
}

/** The cluster and credentials of a kubeconfig's current context (or of `context`). */
export function fromKubeconfig(file: string, context?: string): ClusterAccess {
    let cfg: any;
    try {
        cfg = YAML.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
        throw new Error(`kubeconfig ${file}: ${(e as Error).message}`);
    }
    const base = path.dirname(path.resolve(file));
    const ctxName = context ?? cfg?.["current-context"];
    const ctx = (cfg?.contexts ?? []).find((c: any) => c.name === ctxName)?.context;
    if (!ctx) throw new Error(`kubeconfig ${file}: no context ${JSON.stringify(ctxName ?? "")}`);
    const cluster = (cfg.clusters ?? []).find((c: any) => c.name === ctx.cluster)?.cluster;
    if (!cluster?.server)
        throw new Error(`kubeconfig ${file}: context ${ctxName} names cluster ${JSON.stringify(ctx.cluster)}, which has no server`);
    const user = (cfg.users ?? []).find((u: any) => u.name === ctx.user)?.user ?? {};
    const server = new URL(cluster.server);
    const headers: Record<string, string> = {};
    const token = userToken(user, base);
    if (token) headers.Authorization = `Bearer ${token}`;
    else if (user.username) headers.Authorization = `Basic ${Buffer.from(`${user.username}:${user.password ?? ""}`).toString("base64")}`;
    let agent: http.Agent;
    if (server.protocol === "https:") {
        agent = new https.Agent({
            keepAlive: true,
            ca: readData(cluster["certificate-authority-data"], cluster["certificate-authority"], base, "certificate-authority"),
            cert: readData(user["client-certificate-data"], user["client-certificate"], base, "client-certificate"),
            key: readData(user["client-key-data"], user["client-key"], base, "client-key"),
            rejectUnauthorized: cluster["insecure-skip-tls-verify"] !== true,
            servername: cluster["tls-server-name"],
        });
    } else if (server.protocol === "http:") {
        agent = new http.Agent({ keepAlive: true });
    } else throw new Error(`kubeconfig ${file}: server ${cluster.server} is neither http nor https`);
    return { server, agent, headers, describe: `${cluster.server} (kubeconfig ${file}, context ${ctxName})` };
}

/** A server URL without credentials (the insecure port of a test API server). */
export function fromServer(url: string): ClusterAccess {
    const server = new URL(url);
    if (server.protocol !== "http:" && server.protocol !== "https:") throw new Error(`--server ${url}: not an http(s) URL`);
    const agent = server.protocol === "https:" ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    return { server, agent, headers: {}, describe: url };
}

export interface RequestOptions {
    query?: Record<string, string | undefined>;
    contentType?: string;
    timeoutMs?: number;
    signal?: AbortSignal;
}

export class Kube {
    constructor(
        public readonly access: ClusterAccess,
        private readonly timeoutMs = 30_000,
    ) {}

    private url(p: string, query?: Record<string, string | undefined>): URL {
        const base = this.access.server.pathname.replace(/\/$/, "");
        const u = new URL(this.access.server.origin + base + p);
        for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, v);
        return u;
    }

    private open(method: string, u: URL, body: string | undefined, o: RequestOptions, timeoutMs: number): Promise<http.IncomingMessage> {
        const mod = u.protocol === "https:" ? https : http;
        const headers: Record<string, string> = { Accept: "application/json", ...this.access.headers };
        if (body !== undefined) {
            headers["Content-Type"] = o.contentType ?? "application/json";
            headers["Content-Length"] = String(Buffer.byteLength(body));
        }
        return new Promise((resolve, reject) => {
            const req = mod.request(u, { method, headers, agent: this.access.agent, signal: o.signal }, resolve);
            req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${u.pathname}: no answer in ${timeoutMs} ms`)));
            req.on("error", reject);
            if (body !== undefined) req.write(body);
            req.end();
        });
    }

    private static async readAll(res: http.IncomingMessage): Promise<string> {
        const chunks: Buffer[] = [];
        for await (const c of res) chunks.push(c as Buffer);
        return Buffer.concat(chunks).toString("utf8");
    }

    private static error(method: string, p: string, status: number, text: string): ApiError {
        let reason = "";
        let message = text.trim().slice(0, 500);
        try {
            const st = JSON.parse(text);
            reason = st.reason ?? "";
            message = st.message ?? message;
        } catch {
            /* not a Status */
        }
        return new ApiError(status, reason, `${method} ${p}: HTTP ${status}${reason ? ` ${reason}` : ""}: ${message}`);
    }

    /** One JSON request; an ApiError for any non-2xx answer. */
    async request<T = any>(method: string, p: string, body?: unknown, o: RequestOptions = {}): Promise<T> {
        const u = this.url(p, o.query);
        const text = body === undefined ? undefined : JSON.stringify(body);
        const res = await this.open(method, u, text, o, o.timeoutMs ?? this.timeoutMs);
        const out = await Kube.readAll(res);
        const status = res.statusCode ?? 0;
        if (status < 200 || status >= 300) throw Kube.error(method, p, status, out);
        return (out ? JSON.parse(out) : undefined) as T;
    }

    get = <T = any>(p: string, query?: Record<string, string | undefined>) => this.request<T>("GET", p, undefined, { query });
    post = <T = any>(p: string, body: unknown) => this.request<T>("POST", p, body);
    put = <T = any>(p: string, body: unknown) => this.request<T>("PUT", p, body);
    mergePatch = <T = any>(p: string, body: unknown) => this.request<T>("PATCH", p, body, { contentType: "application/merge-patch+json" });
    delete = <T = any>(p: string, query?: Record<string, string | undefined>, body?: unknown) =>
        this.request<T>("DELETE", p, body, { query });

    /**
     * A watch: calls onEvent for each event line until the server ends the stream (resolves) or the
     * connection fails (rejects). The connection is given up after `idleMs` without data.
     */
    async watch(
        p: string,
        query: Record<string, string | undefined>,
        onEvent: (ev: { type: string; object: any }) => void,
        signal: AbortSignal,
        idleMs: number,
    ): Promise<void> {
        const u = this.url(p, { ...query, watch: "true" });
        const res = await this.open("GET", u, undefined, { signal }, idleMs);
        const status = res.statusCode ?? 0;
        if (status !== 200) throw Kube.error("WATCH", p, status, await Kube.readAll(res));
        res.setEncoding("utf8");
        await new Promise<void>((resolve, reject) => {
            res.on(
                "data",
                lineSplitter(
                    (line) => {
                        let ev: any;
                        try {
                            ev = JSON.parse(line);
                        } catch {
                            throw new Error(`watch ${p}: not JSON: ${line.slice(0, 200)}`);
                        }
                        onEvent(ev);
                    },
                    (e) => res.destroy(e as Error),
                ),
            );
            res.on("end", () => resolve());
            res.on("error", reject);
            res.on("close", () => resolve());
        });
    }
}
