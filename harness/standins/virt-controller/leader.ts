// Leader election as KubeVirt v0.4.1's virt-controller does it (watch/application.go with the
// client-go leaderelection of its vendor tree): an Endpoints lock `virt-controller` in the
// controller's namespace, the record in the annotation control-plane.alpha.kubernetes.io/leader
// (JSON holderIdentity, leaseDurationSeconds, acquireTime, renewTime, leaderTransitions); lease
// 15 s, renew deadline 10 s, retry 2 s (leaderelectionconfig's defaults). A candidate takes the lock
// once the record it sees has not changed for a lease; the leader renews it every retry period and
// gives up leading when no renewal succeeded within the renew deadline. Written anew, no code copied.
import { Kube, isNotFound } from "./kube";
import type { Logger } from "./queue";
import { eventFor } from "./render";

export const LEADER_ANNOTATION = "control-plane.alpha.kubernetes.io/leader";
/** client-go's JitterFactor of the acquire loop: each wait is retry × (1 + random × 1.2). */
const JITTER = 1.2;

export interface LeaderRecord {
    holderIdentity: string;
    leaseDurationSeconds: number;
    acquireTime: string;
    renewTime: string;
    leaderTransitions: number;
}

export interface LeaderOptions {
    namespace: string;
    /** the Endpoints object's name: virt-controller */
    name: string;
    identity: string;
    leaseMs: number;
    renewDeadlineMs: number;
    retryMs: number;
}

export const LEADER_DEFAULTS = {
    name: "virt-controller",
    namespace: "kube-system",
    leaseMs: 15_000,
    renewDeadlineMs: 10_000,
    retryMs: 2_000,
};

const sleep = (ms: number, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
        if (signal.aborted) return resolve();
        const done = () => {
            clearTimeout(t);
            signal.removeEventListener("abort", done);
            resolve();
        };
        const t = setTimeout(done, ms);
        signal.addEventListener("abort", done, { once: true });
    });

/** metav1.Time as JSON: RFC 3339, whole seconds. */
const metaNow = () => new Date().toISOString().replace(/\.\d+Z$/, "Z");

export class LeaderElector {
    /** the record last seen, as text, and when it was first seen so (local clock) */
    private observed = "";
    private observedAt = 0;
    private reportedHolder = "";
    private endpoints: any;

    constructor(
        private readonly kube: Kube,
        private readonly o: LeaderOptions,
        private readonly log: Logger,
    ) {}

    get describe(): string {
        return `${this.o.namespace}/${this.o.name}`;
    }

    private get path(): string {
        return `/api/v1/namespaces/${this.o.namespace}/endpoints`;
    }

    /** Tries until it leads (true) or the signal aborts (false). */
    async acquire(signal: AbortSignal): Promise<boolean> {
        this.log(`attempting to acquire leader lease ${this.describe} as ${this.o.identity}...`);
        while (!signal.aborted) {
            if (await this.tryAcquireOrRenew()) {
                this.log(`successfully acquired lease ${this.describe}`);
                void this.event("became leader");
                return true;
            }
            await sleep(this.o.retryMs * (1 + Math.random() * JITTER), signal);
        }
        return false;
    }

    /**
     * Renews every retry period while it leads. Resolves with "lost" once no renewal succeeded for
     * the renew deadline, or with "stopped" when the signal aborts.
     */
    async renew(signal: AbortSignal): Promise<"lost" | "stopped"> {
        let lastOk = Date.now();
        while (!signal.aborted) {
            await sleep(this.o.retryMs, signal);
            if (signal.aborted) break;
            if (await this.tryAcquireOrRenew()) lastOk = Date.now();
            else if (Date.now() - lastOk >= this.o.renewDeadlineMs) {
                this.log(`failed to renew lease ${this.describe}: timed out (no renewal for ${this.o.renewDeadlineMs / 1000} s)`);
                void this.event("stopped leading");
                return "lost";
            }
        }
        return "stopped";
    }

    private async tryAcquireOrRenew(): Promise<boolean> {
        const t = metaNow();
        const want: LeaderRecord = {
            holderIdentity: this.o.identity,
            leaseDurationSeconds: Math.floor(this.o.leaseMs / 1000),
            acquireTime: t,
            renewTime: t,
            leaderTransitions: 0,
        };
        const timeoutMs = this.o.renewDeadlineMs;
        let ep: any;
        try {
            ep = await this.kube.request("GET", `${this.path}/${this.o.name}`, undefined, { timeoutMs });
        } catch (e) {
            if (!isNotFound(e)) {
                this.log(`error retrieving resource lock ${this.describe}: ${(e as Error).message}`);
                return false;
            }
            try {
                this.endpoints = await this.kube.request(
                    "POST",
                    this.path,
                    {
                        apiVersion: "v1",
                        kind: "Endpoints",
                        metadata: {
                            name: this.o.name,
                            namespace: this.o.namespace,
                            annotations: { [LEADER_ANNOTATION]: JSON.stringify(want) },
                        },
                    },
                    { timeoutMs },
                );
            } catch (e2) {
                this.log(`error initially creating leader election record: ${(e2 as Error).message}`);
                return false;
            }
            this.see(JSON.stringify(want));
            return true;
        }
        const text: string = ep.metadata?.annotations?.[LEADER_ANNOTATION] ?? "";
        let old: Partial<LeaderRecord> = {};
        try {
            old = text ? JSON.parse(text) : {};
        } catch (e) {
            this.log(`resource lock ${this.describe}: annotation ${LEADER_ANNOTATION} is not JSON: ${(e as Error).message}`);
            return false;
        }
        if (text !== this.observed) this.see(text);
        const holder = old.holderIdentity ?? "";
        if (holder && holder !== this.o.identity && this.observedAt + this.o.leaseMs > Date.now()) return false;
        if (holder === this.o.identity) {
            want.acquireTime = old.acquireTime ?? t;
            want.leaderTransitions = old.leaderTransitions ?? 0;
        } else want.leaderTransitions = (old.leaderTransitions ?? 0) + 1;
        ep.metadata.annotations = { ...(ep.metadata.annotations ?? {}), [LEADER_ANNOTATION]: JSON.stringify(want) };
        try {
            this.endpoints = await this.kube.request("PUT", `${this.path}/${this.o.name}`, ep, { timeoutMs });
        } catch (e) {
            this.log(`failed to update lock ${this.describe}: ${(e as Error).message}`);
            return false;
        }
        this.see(JSON.stringify(want));
        return true;
    }

    /** A record seen for the first time: its lease runs from now; a new holder is logged once. */
    private see(text: string): void {
        this.observed = text;
        this.observedAt = Date.now();
        let holder = "";
        try {
            holder = (JSON.parse(text) as LeaderRecord).holderIdentity ?? "";
        } catch {
            /* checked by the caller */
        }
        if (holder && holder !== this.reportedHolder) {
            this.reportedHolder = holder;
            if (holder !== this.o.identity) this.log(`new leader elected: ${holder} holds lease ${this.describe}`);
        }
    }

    /** The Event client-go's EndpointsLock records: on the Endpoints, reason LeaderElection, from component virt-controller. */
    private async event(what: string): Promise<void> {
        const ep = this.endpoints;
        if (!ep?.metadata) return;
        try {
            await this.kube.post(
                `/api/v1/namespaces/${this.o.namespace}/events`,
                eventFor(
                    ep,
                    { apiVersion: "v1", kind: "Endpoints" },
                    { component: "virt-controller", type: "Normal", reason: "LeaderElection", message: `${this.o.identity} ${what}` },
                ),
            );
        } catch (e) {
            this.log(`event LeaderElection (${what}) not recorded: ${(e as Error).message}`);
        }
    }
}
