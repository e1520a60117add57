// A small Kubernetes REST client for the kubelet stand-in: a kubeconfig's server, CA and
// credentials (client certificate + key, or a bearer token), JSON requests, and watches
// (newline-delimited JSON events). Only what a kubelet of 1.9 does against its API server. What it
// has in common with the virt-controller stand-in's client is in ../lib/kube.ts.
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as path from "node:path";
import * as YAML from "yaml";
import { ApiError, lineSplitter, readRef, userToken } from "../lib/kube";

export { ApiError };

/** One line on stderr per action: `kubelet-standin[<node>] <time> <message>`. */
let logPrefix = "kubelet-standin";
export function setLogPrefix(p: string): void {
    logPrefix = p;
}
export function log(msg: string): void {
    process.stderr.write(`${logPrefix} ${new Date().toISOString()} ${msg}\n`);
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise((resolve) => {
        if (signal?.aborted) return resolve();
        const t = setTimeout(done, ms);
        function done() {
            clearTimeout(t);
            signal?.removeEventListener("abort", done);
            resolve();
        }
        signal?.addEventListener("abort", done, { once: true });
    });

/** What the stand-in needs from a kubeconfig: where the API is and who we are. */
export interface Credentials {
    server: string;
    ca?: Buffer;
    insecure?: boolean;
    cert?: Buffer;
    key?: Buffer;
    token?: string;
    /** the files the certificate and key came from, if any */
    certFile?: string;
    keyFile?: string;
}

/** Reads a kubeconfig (its current context, else its first one). Throws when it is incomplete. */
export function loadKubeconfig(file: string): Credentials {
    const doc = YAML.parse(fs.readFileSync(file, "utf8")) as Record<string, any> | null;
    if (!doc || typeof doc !== "object") throw new Error(`${file}: not a kubeconfig`);
    const base = path.dirname(file);
    const contexts: any[] = doc.contexts ?? [];
    const ctx = contexts.find((c) => c?.name === doc["current-context"]) ?? contexts[0];
    const clusterName = ctx?.context?.cluster;
    const userName = ctx?.context?.user;
    const cluster = ((doc.clusters ?? []) as any[]).find((c) => c?.name === clusterName)?.cluster ?? doc.clusters?.[0]?.cluster;
    const user = ((doc.users ?? []) as any[]).find((u) => u?.name === userName)?.user ?? {};
    if (!cluster?.server) throw new Error(`${file}: no cluster server`);
    const ca = readRef(cluster["certificate-authority-data"], cluster["certificate-authority"], base);
    const cert = readRef(user["client-certificate-data"], user["client-certificate"], base);
    const key = readRef(user["client-key-data"], user["client-key"], base);
    const token = userToken(user, base);
    return {
        server: String(cluster.server).replace(/\/+$/, ""),
        ca: ca.buf,
        insecure: cluster["insecure-skip-tls-verify"] === true,
        cert: cert.buf,
        key: key.buf,
        token,
        certFile: cert.file,
        keyFile: key.file,
    };
}

export interface RequestOptions {
    contentType?: string;
    timeoutMs?: number;
}

export interface WatchEvent {
    type: "ADDED" | "MODIFIED" | "DELETED" | "ERROR" | "BOOKMARK";
    object: any;
}

export class Client {
    private readonly agent: http.Agent;
    private readonly isHttps: boolean;
    private readonly url: URL;

    constructor(public readonly creds: Credentials) {
        this.url = new URL(creds.server);
        this.isHttps = this.url.protocol === "https:";
        this.agent = this.isHttps
            ? new https.Agent({
                  keepAlive: true,
                  maxSockets: 8,
                  ca: creds.ca,
                  cert: creds.cert,
                  key: creds.key,
                  rejectUnauthorized: !creds.insecure,
              })
            : new http.Agent({ keepAlive: true, maxSockets: 8 });
    }

    close(): void {
        this.agent.destroy();
    }

    private open(method: string, p: string, headers: Record<string, string>): http.ClientRequest {
        const h: Record<string, string> = { Accept: "application/json", "User-Agent": "kubelet-standin/v1.9.4", ...headers };
        if (this.creds.token) h.Authorization = `Bearer ${this.creds.token}`;
        const opts: https.RequestOptions = {
            method,
            host: this.url.hostname.replace(/^\[|\]$/g, ""),
            port: this.url.port || (this.isHttps ? 443 : 80),
            path: this.url.pathname.replace(/\/$/, "") + p,
            headers: h,
            agent: this.agent,
        };
        return this.isHttps ? https.request(opts) : http.request(opts);
    }

    /** One JSON request; resolves with the decoded body of a 2xx answer, else rejects with ApiError. */
    request<T = any>(method: string, p: string, body?: unknown, opts: RequestOptions = {}): Promise<T> {
        return new Promise((resolve, reject) => {
            const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
            const headers: Record<string, string> = {};
            if (payload) {
                headers["Content-Type"] = opts.contentType ?? "application/json";
                headers["Content-Length"] = String(payload.length);
            }
            const req = this.open(method, p, headers);
            const timer = setTimeout(
                () => req.destroy(new Error(`${method} ${p}: no answer in ${opts.timeoutMs ?? 15000} ms`)),
                opts.timeoutMs ?? 15000,
            );
            req.on("error", (e) => {
                clearTimeout(timer);
                reject(e);
            });
            req.on("response", (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (c: Buffer) => chunks.push(c));
                res.on("error", (e) => {
                    clearTimeout(timer);
                    reject(e);
                });
                res.on("end", () => {
                    clearTimeout(timer);
                    const text = Buffer.concat(chunks).toString("utf8");
                    let decoded: any = undefined;
                    try {
                        decoded = text ? JSON.parse(text) : undefined;
                    } catch {
                        decoded = undefined;
                    }
                    const status = res.statusCode ?? 0;
                    if (status >= 200 && status < 300) return resolve(decoded as T);
                    const msg = decoded?.message ?? text.slice(0, 300);
                    reject(new ApiError(status, decoded?.reason ?? "", `${method} ${p}: ${status} ${msg}`));
                });
            });
            if (payload) req.write(payload);
            req.end();
        });
    }

    /**
     * One watch request: calls onEvent for each event until the server ends the stream (its
     * timeoutSeconds), the signal aborts, or an error. Resolves on a clean end; rejects otherwise.
     */
    watch(p: string, onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<void> {
        return new Promise((resolve, reject) => {
            const req = this.open("GET", p, {});
            let settled = false;
            const finish = (err?: Error) => {
                if (settled) return;
                settled = true;
                signal.removeEventListener("abort", onAbort);
                clearInterval(idle);
                if (err) reject(err);
                else resolve();
            };
            const onAbort = () => {
                req.destroy();
                finish();
            };
            signal.addEventListener("abort", onAbort, { once: true });
            // A watch that stays silent far longer than its own timeoutSeconds is dead.
            let last = Date.now();
            const idle = setInterval(() => {
                if (Date.now() - last > 400_000) req.destroy(new Error(`watch ${p}: silent for 400 s`));
            }, 10_000);
            req.on("error", (e) => finish(e));
            req.on("response", (res) => {
                const status = res.statusCode ?? 0;
                if (status < 200 || status >= 300) {
                    const chunks: Buffer[] = [];
                    res.on("data", (c: Buffer) => chunks.push(c));
                    res.on("end", () =>
                        finish(new ApiError(status, "", `watch ${p}: ${status} ${Buffer.concat(chunks).toString("utf8").slice(0, 300)}`)),
                    );
                    return;
                }
                const feed = lineSplitter(
                    (line) => onEvent(JSON.parse(line) as WatchEvent),
                    (e) => req.destroy(e instanceof Error ? e : new Error(String(e))),
                );
                res.setEncoding("utf8");
                res.on("data", (chunk: string) => {
                    last = Date.now();
                    feed(chunk);
                });
                res.on("end", () => finish());
                res.on("error", (e) => finish(e));
                res.on("aborted", () => finish(new Error(`watch ${p}: aborted`)));
            });
            req.end();
        });
    }
}

/** Retries fn with exponential backoff (base doubling up to max) at most `attempts` times. */
export async function retry<T>(
    what: string,
    fn: () => Promise<T>,
    o: { attempts: number; baseMs: number; maxMs: number; signal?: AbortSignal },
): Promise<T> {
    let delay = o.baseMs;
    for (let i = 1; ; i++) {
        try {
            return await fn();
        } catch (e) {
            if (i >= o.attempts || o.signal?.aborted) throw e;
            log(`${what} failed (attempt ${i}/${o.attempts}, again in ${delay} ms): ${errText(e)}`);
            await sleep(delay, o.signal);
            delay = Math.min(delay * 2, o.maxMs);
        }
    }
}

export function errText(e: unknown): string {
    if (e instanceof Error) return e.message;
    return String(e);
}

export const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, "Z");

/** A Normal Event of the kubelet on `host` about involvedObject, counted once, stamped now. */
export function eventBody(e: {
    namespace: string;
    name: string;
    involvedObject: object;
    reason: string;
    message: string;
    host: string;
}): object {
    const t = now();
    return {
        apiVersion: "v1",
        kind: "Event",
        metadata: { name: e.name, namespace: e.namespace },
        involvedObject: e.involvedObject,
        reason: e.reason,
        message: e.message,
        source: { component: "kubelet", host: e.host },
        firstTimestamp: t,
        lastTimestamp: t,
        count: 1,
        type: "Normal",
    };
}
