// The pods bound to this node, without containers: each one gets the status a kubelet would report
// for it once its containers run (Running, Ready, an IP from the node's spec.podCIDR, .2 upward and
// stable per pod UID; hostNetwork pods get the node's IP), a pod whose deletion was asked for is
// deleted at once (grace period 0: there is nothing to stop), and the static pods of
// --pod-manifest-path are mirrored into the API (mirror pods) with the state of their processes.
import { ApiError, Client, errText, eventBody, log, now, sleep } from "./api";
import type { ContainerState } from "./processes";
import type { CtrView, PodRuntime } from "./runtime";
import type { StaticPods, StaticPodView } from "./static-pods";

const MIRROR = "kubernetes.io/config.mirror";

/** IPv4 addresses of one pod CIDR: .2 upward (.0 is the network, .1 the node's bridge), stable per pod UID. */
export class PodIPs {
    private base = 0;
    private size = 0;
    cidr?: string;
    private byUid = new Map<string, number>();
    private used = new Map<number, string>();

    setCIDR(cidr: string): void {
        const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr);
        if (!m) throw new Error(`pod CIDR ${cidr}: not IPv4 a.b.c.d/n`);
        const bits = Number(m[5]);
        if (bits < 8 || bits > 30) throw new Error(`pod CIDR ${cidr}: prefix /${bits} not supported`);
        const ip = ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
        this.size = 2 ** (32 - bits);
        this.base = ip - (ip % this.size);
        this.cidr = cidr;
        this.byUid.clear();
        this.used.clear();
    }

    private offsetOf(ip: string): number | undefined {
        const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
        if (!m || !this.cidr) return undefined;
        const v = ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
        const off = v - this.base;
        return off >= 2 && off < this.size - 1 ? off : undefined;
    }

    private text(off: number): string {
        const v = this.base + off;
        return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join(".");
    }

    /** Keeps the address a pod already has (after a restart of the stand-in), if it is ours and free. */
    adopt(uid: string, ip: string): void {
        if (this.byUid.has(uid)) return;
        const off = this.offsetOf(ip);
        if (off === undefined || this.used.has(off)) return;
        this.byUid.set(uid, off);
        this.used.set(off, uid);
    }

    /** The pod's address: the one it has, else the lowest free one; undefined while there is no CIDR or none is free. */
    get(uid: string): string | undefined {
        if (!this.cidr) return undefined;
        const have = this.byUid.get(uid);
        if (have !== undefined) return this.text(have);
        for (let off = 2; off < this.size - 1; off++) {
            if (this.used.has(off)) continue;
            this.byUid.set(uid, off);
            this.used.set(off, uid);
            return this.text(off);
        }
        return undefined;
    }

    release(uid: string): void {
        const off = this.byUid.get(uid);
        if (off === undefined) return;
        this.byUid.delete(uid);
        this.used.delete(off);
    }
}

export interface PodSyncOptions {
    nodeName: string;
    nodeIP: string;
    staticPods: StaticPods;
    /** runs the node's pods: sandboxes, volumes, containers */
    runtime: PodRuntime;
    signal: AbortSignal;
}

const key = (ns: string, name: string) => `${ns}/${name}`;

function readyOf(status: any): string {
    return ((status?.conditions ?? []) as any[]).find((c) => c.type === "Ready")?.status ?? "";
}

/** What decides whether a status must be written again. */
function signature(status: any): string {
    return JSON.stringify([
        status?.phase ?? "",
        status?.podIP ?? "",
        status?.hostIP ?? "",
        readyOf(status),
        ((status?.containerStatuses ?? []) as any[]).map((c) => [
            c.name,
            !!c.ready,
            c.restartCount ?? 0,
            Object.keys(c.state ?? {})[0] ?? "",
        ]),
        ((status?.initContainerStatuses ?? []) as any[]).map((c) => [c.name, Object.keys(c.state ?? {})[0] ?? ""]),
    ]);
}

/** A container's status from its process's state (undefined: not started yet). */
function statusOf(name: string, image: string, st: ContainerState | undefined, ready: boolean, prev: any): any {
    const out: any = { name, image, imageID: "", ready: ready && !!st?.running, restartCount: st?.restarts ?? 0 };
    if (st?.running) out.state = { running: { startedAt: st.startedAt ?? prev?.state?.running?.startedAt } };
    else out.state = { waiting: { reason: st?.waiting?.reason ?? "ContainerCreating", message: st?.waiting?.message } };
    if (st?.lastExit)
        out.lastState = {
            terminated: { exitCode: st.lastExit.exitCode, signal: 0, reason: "Error", finishedAt: st.lastExit.finishedAt, startedAt: null },
        };
    return out;
}

export class PodSync {
    readonly ips = new PodIPs();
    private pods = new Map<string, any>(); // uid -> pod
    private dirty = new Set<string>();
    private all = true;
    private wake?: () => void;
    private synced = false;
    private announced = new Set<string>();
    private mirrorTried = new Map<string, number>(); // ns/name@hash -> time of the last create
    private deleting = new Set<string>();
    private client?: Client;

    constructor(private readonly o: PodSyncOptions) {}

    /** Starts the list/watch of the node's pods and the worker that writes their status. */
    start(client: Client): void {
        this.client = client;
        void this.informer();
        void this.worker();
    }

    setPodCIDR(cidr: string): void {
        if (this.ips.cidr === cidr) return;
        this.ips.setCIDR(cidr);
        log(`pod CIDR ${cidr}: pod IPs from .2 upward`);
        this.kick();
    }

    /** Every pod (and mirror pod) is looked at again soon. */
    kick(): void {
        this.all = true;
        this.wake?.();
    }

    private mark(uid: string): void {
        this.dirty.add(uid);
        this.wake?.();
    }

    private upsert(pod: any): void {
        const uid = pod?.metadata?.uid;
        if (!uid) return;
        this.pods.set(uid, pod);
        this.mark(uid);
    }

    private remove(uid: string, why: string): void {
        const pod = this.pods.get(uid);
        if (!pod) return;
        this.pods.delete(uid);
        this.ips.release(uid);
        this.announced.delete(uid);
        this.deleting.delete(uid);
        log(`pod ${key(pod.metadata.namespace, pod.metadata.name)}: gone (${why})`);
        void this.o.runtime.stop(uid, `the pod is ${why}`);
        this.kick();
    }

    private async informer(): Promise<void> {
        const client = this.client!;
        const sel = encodeURIComponent(`spec.nodeName=${this.o.nodeName}`);
        let backoff = 1000;
        while (!this.o.signal.aborted) {
            try {
                const list = await client.request<any>("GET", `/api/v1/pods?fieldSelector=${sel}`);
                const seen = new Set<string>();
                for (const p of list.items ?? []) {
                    seen.add(p.metadata.uid);
                    this.upsert(p);
                }
                for (const uid of [...this.pods.keys()]) if (!seen.has(uid)) this.remove(uid, "not listed any more");
                await this.o.runtime.sweep(seen);
                if (!this.synced) log(`pods: ${seen.size} bound to ${this.o.nodeName}; watching`);
                this.synced = true;
                this.kick();
                let rv: string = list.metadata?.resourceVersion ?? "";
                backoff = 1000;
                let relist = false;
                while (!this.o.signal.aborted && !relist) {
                    const t0 = Date.now();
                    let events = 0;
                    await client.watch(
                        `/api/v1/pods?fieldSelector=${sel}&watch=true&resourceVersion=${encodeURIComponent(rv)}&timeoutSeconds=300`,
                        (ev) => {
                            events++;
                            if (ev.type === "ERROR") {
                                relist = true;
                                if (ev.object?.code !== 410)
                                    log(`pods: watch error ${ev.object?.code ?? ""} ${ev.object?.message ?? ""}; listing again`);
                                return;
                            }
                            const p = ev.object;
                            if (p?.metadata?.resourceVersion) rv = p.metadata.resourceVersion;
                            if (ev.type === "DELETED") this.remove(p.metadata.uid, "deleted from the API");
                            else if (ev.type === "ADDED" || ev.type === "MODIFIED") this.upsert(p);
                        },
                        this.o.signal,
                    );
                    // a watch that ends at once without a word is not tried again in a tight loop
                    if (events === 0 && Date.now() - t0 < 1000) await sleep(1000, this.o.signal);
                }
            } catch (e) {
                if (this.o.signal.aborted) return;
                log(`pods: list/watch failed: ${errText(e)}; again in ${backoff / 1000} s`);
                await sleep(backoff, this.o.signal);
                backoff = Math.min(backoff * 2, 10_000);
            }
        }
    }

    private async worker(): Promise<void> {
        let lastFull = 0;
        while (!this.o.signal.aborted) {
            if (Date.now() - lastFull >= 10_000) this.all = true;
            if (!this.all && this.dirty.size === 0) {
                await new Promise<void>((r) => {
                    const t = setTimeout(r, 1000);
                    this.wake = () => {
                        clearTimeout(t);
                        r();
                    };
                });
                this.wake = undefined;
                continue;
            }
            let todo: string[];
            if (this.all) {
                todo = [...this.pods.keys()];
                this.all = false;
                lastFull = Date.now();
            } else todo = [...this.dirty];
            this.dirty.clear();
            // addresses pods hold already are kept before any new one is handed out
            for (const p of this.pods.values()) if (p.status?.podIP && !p.spec?.hostNetwork) this.ips.adopt(p.metadata.uid, p.status.podIP);
            for (const uid of todo) {
                if (this.o.signal.aborted) return;
                const pod = this.pods.get(uid);
                if (!pod) continue;
                try {
                    await this.syncPod(pod);
                } catch (e) {
                    log(`pod ${key(pod.metadata.namespace, pod.metadata.name)}: ${errText(e)}`);
                }
            }
            if (this.synced) {
                try {
                    await this.syncMirrors();
                } catch (e) {
                    log(`mirror pods: ${errText(e)}`);
                }
            }
            // a short pause so that bursts of events are taken together
            await sleep(50, this.o.signal);
        }
    }

    private staticFor(pod: any): StaticPodView | undefined {
        return this.o.staticPods.list().find((s) => s.name === pod.metadata.name && s.namespace === pod.metadata.namespace);
    }

    private async syncPod(pod: any): Promise<void> {
        const { namespace: ns, name, uid } = pod.metadata;
        if (pod.metadata.deletionTimestamp) {
            if (this.deleting.has(uid)) return;
            this.deleting.add(uid);
            log(`pod ${key(ns, name)}: deletion asked for; stopping its containers, then deleting it with grace period 0`);
            await this.o.runtime.stop(uid, "the pod is being deleted");
            await this.deleteNow(ns, name, uid);
            return;
        }
        const phase = pod.status?.phase;
        if (phase === "Succeeded" || phase === "Failed") {
            await this.o.runtime.stop(uid, `the pod is ${phase}`);
            return;
        }
        const isMirror = !!pod.metadata.annotations?.[MIRROR];
        let sp: StaticPodView | undefined;
        if (isMirror) {
            sp = this.staticFor(pod);
            if (!sp || sp.hash !== pod.metadata.annotations[MIRROR]) return; // syncMirrors replaces or deletes it
        }
        const t = now();
        const prev = pod.status ?? {};
        const prevCond = (type: string) => ((prev.conditions ?? []) as any[]).find((c) => c.type === type);
        const cond = (type: string, status: string, reason?: string, message?: string) => {
            const p = prevCond(type);
            const c: any = { type, status, lastProbeTime: null, lastTransitionTime: p && p.status === status ? p.lastTransitionTime : t };
            if (reason) c.reason = reason;
            if (message) c.message = message;
            return c;
        };
        const startTime = prev.startTime ?? t;
        const prevCs = (list: any[] | undefined, n: string) => ((list ?? []) as any[]).find((c) => c.name === n);
        let podIP: string | undefined;
        let containerStatuses: any[];
        let initStatuses: any[] | undefined;
        let waiting: { reason: string; message: string } | undefined;
        if (sp) {
            // a static pod: the processes of its manifest
            podIP = pod.spec?.hostNetwork ? this.o.nodeIP : undefined;
            containerStatuses = ((pod.spec?.containers ?? []) as any[]).map((c) => {
                const st = sp.containers.find((x) => x.name === c.name);
                return statusOf(c.name, c.image, st, !!st?.running, prevCs(prev.containerStatuses, c.name));
            });
        } else {
            const view = this.o.runtime.ensure(pod, this.client!);
            if (!view) return;
            podIP = view.podIP;
            waiting = view.waiting;
            const fromView = (v: CtrView, prevList: any[] | undefined, init: boolean) => {
                const p = prevCs(prevList, v.name);
                if (init && v.completed)
                    return {
                        name: v.name,
                        image: v.image,
                        imageID: "",
                        ready: true,
                        restartCount: v.state?.restarts ?? 0,
                        state: {
                            terminated: {
                                exitCode: 0,
                                reason: "Completed",
                                startedAt: p?.state?.terminated?.startedAt ?? startTime,
                                finishedAt: p?.state?.terminated?.finishedAt ?? t,
                            },
                        },
                    };
                if (v.terminated)
                    return {
                        name: v.name,
                        image: v.image,
                        imageID: "",
                        ready: false,
                        restartCount: v.state?.restarts ?? 0,
                        state: {
                            terminated: {
                                exitCode: v.terminated.exitCode,
                                reason: v.terminated.exitCode === 0 ? "Completed" : "Error",
                                startedAt: p?.state?.running?.startedAt ?? p?.state?.terminated?.startedAt ?? startTime,
                                finishedAt: v.terminated.finishedAt,
                            },
                        },
                    };
                if (v.reported && !waiting)
                    return {
                        name: v.name,
                        image: v.image,
                        imageID: "",
                        ready: true,
                        restartCount: 0,
                        state: { running: { startedAt: p?.state?.running?.startedAt ?? t } },
                    };
                const st: ContainerState | undefined =
                    v.state ?? (waiting ? { name: v.name, image: v.image, running: false, restarts: 0, waiting } : undefined);
                return statusOf(v.name, v.image, st, v.ready, p);
            };
            initStatuses = view.inits.length ? view.inits.map((v) => fromView(v, prev.initContainerStatuses, true)) : undefined;
            const initsDone = view.inits.every((v) => v.completed);
            containerStatuses = view.containers.map((v) =>
                initsDone || v.state
                    ? fromView(v, prev.containerStatuses, false)
                    : statusOf(
                          v.name,
                          v.image,
                          {
                              name: v.name,
                              image: v.image,
                              running: false,
                              restarts: 0,
                              waiting: { reason: "PodInitializing", message: "" },
                          },
                          false,
                          undefined,
                      ),
            );
        }
        const ready = containerStatuses.length > 0 && containerStatuses.every((c) => c.ready);
        const initialized = !initStatuses || initStatuses.every((c) => c.state.terminated);
        // every container ended and none will start again: Succeeded when all exited 0, else Failed
        const ended = containerStatuses.length > 0 && containerStatuses.every((c) => c.state.terminated);
        const phaseNew = ended
            ? containerStatuses.every((c) => c.state.terminated.exitCode === 0)
                ? "Succeeded"
                : "Failed"
            : containerStatuses.some((c) => c.state.running || c.state.terminated)
              ? "Running"
              : "Pending";
        const status: any = {
            ...prev,
            phase: phaseNew,
            conditions: [
                initialized
                    ? cond("Initialized", "True")
                    : cond("Initialized", "False", "ContainersNotInitialized", "containers with incomplete status"),
                ready ? cond("Ready", "True") : cond("Ready", "False", "ContainersNotReady", "containers with unready status"),
                cond("PodScheduled", "True"),
            ],
            hostIP: this.o.nodeIP,
            startTime,
            containerStatuses,
        };
        if (podIP) status.podIP = podIP;
        else delete status.podIP;
        delete status.message;
        delete status.reason;
        if (initStatuses) status.initContainerStatuses = initStatuses;
        else delete status.initContainerStatuses;
        if (signature(status) === signature(prev)) return;
        await this.writeStatus(pod, status);
        const states = containerStatuses.map((c) => `${c.name} ${Object.keys(c.state)[0]}${c.ready ? " ready" : ""}`).join(", ");
        log(`pod ${key(ns, name)}: status ${phaseNew}${ready ? ", Ready" : ", not Ready"}, IP ${podIP ?? "-"} (${states})`);
        if (!sp && !this.announced.has(uid) && phaseNew === "Running") {
            this.announced.add(uid);
            const reported = this.o.runtime.reportedOnly(pod);
            const all = ((pod.spec?.containers ?? []) as any[]).length;
            if (reported.length)
                void this.event(
                    pod,
                    "NoContainerRun",
                    `kubelet stand-in on ${this.o.nodeName}: container(s) ${reported.join(", ")} of ${all}: their image is not one the lab runs (no container runtime, no registry); only reported running, with IP ${podIP}`,
                );
            if (reported.length < all)
                void this.event(
                    pod,
                    "StandInContainers",
                    `kubelet stand-in on ${this.o.nodeName}: the other containers run their images' programs, built by the lab, as local processes in the pod's namespaces`,
                );
        }
    }

    /** PUT of pods/status (the verb a 1.9 node may use), from the cached pod, again from a fresh one on a conflict. */
    private async writeStatus(pod: any, status: any): Promise<void> {
        const client = this.client!;
        const { namespace: ns, name } = pod.metadata;
        let cur = pod;
        for (let attempt = 1; attempt <= 4; attempt++) {
            try {
                const updated = await client.request("PUT", `/api/v1/namespaces/${ns}/pods/${name}/status`, { ...cur, status });
                if (updated?.metadata?.uid === pod.metadata.uid) this.pods.set(pod.metadata.uid, updated);
                return;
            } catch (e) {
                if (e instanceof ApiError && e.status === 404) return;
                if (e instanceof ApiError && e.status === 409 && attempt < 4) {
                    cur = await client.request("GET", `/api/v1/namespaces/${ns}/pods/${name}`);
                    if (cur?.metadata?.uid !== pod.metadata.uid || cur.metadata.deletionTimestamp) return;
                    continue;
                }
                if (attempt < 4 && !(e instanceof ApiError && e.status < 500)) {
                    await sleep(250 * attempt, this.o.signal);
                    continue;
                }
                throw e;
            }
        }
    }

    private async event(pod: any, reason: string, message: string): Promise<void> {
        const { namespace: ns, name, uid } = pod.metadata;
        try {
            await this.client!.request(
                "POST",
                `/api/v1/namespaces/${ns}/events`,
                eventBody({
                    namespace: ns,
                    name: `${name}.${Date.now().toString(16)}${Math.floor(Math.random() * 4096).toString(16)}`,
                    involvedObject: { apiVersion: "v1", kind: "Pod", namespace: ns, name, uid },
                    reason,
                    message,
                    host: this.o.nodeName,
                }),
            );
        } catch (e) {
            log(`pod ${key(ns, name)}: event ${reason} not recorded: ${errText(e)}`);
        }
    }

    /** Mirror pods: one per static pod, replaced when its manifest changed, deleted when it went. */
    private async syncMirrors(): Promise<void> {
        const client = this.client!;
        const statics = this.o.staticPods.list();
        const byKey = new Map<string, any>();
        for (const p of this.pods.values()) byKey.set(key(p.metadata.namespace, p.metadata.name), p);
        for (const sp of statics) {
            const k = key(sp.namespace, sp.name);
            const cur = byKey.get(k);
            if (cur && cur.metadata.annotations?.[MIRROR] === sp.hash) continue;
            if (cur && !cur.metadata.deletionTimestamp) {
                if (!this.deleting.has(cur.metadata.uid)) {
                    this.deleting.add(cur.metadata.uid);
                    log(`mirror pod ${k}: does not match ${sp.file} any more; deleting it`);
                    await this.deletePod(cur);
                }
                continue;
            }
            if (cur) continue; // being deleted; created again once it is gone
            const tried = this.mirrorTried.get(`${k}@${sp.hash}`) ?? 0;
            if (Date.now() - tried < 15_000) continue;
            this.mirrorTried.set(`${k}@${sp.hash}`, Date.now());
            const m = sp.manifest;
            const spec = {
                ...m.spec,
                nodeName: this.o.nodeName,
                tolerations: [...(m.spec.tolerations ?? []), { operator: "Exists", effect: "NoExecute" }],
            };
            try {
                await client.request("POST", `/api/v1/namespaces/${sp.namespace}/pods`, {
                    apiVersion: "v1",
                    kind: "Pod",
                    metadata: {
                        name: sp.name,
                        namespace: sp.namespace,
                        labels: m.metadata.labels,
                        annotations: {
                            ...(m.metadata.annotations ?? {}),
                            "kubernetes.io/config.hash": sp.hash,
                            [MIRROR]: sp.hash,
                            "kubernetes.io/config.seen": sp.seenAt,
                            "kubernetes.io/config.source": "file",
                        },
                    },
                    spec,
                });
                log(`mirror pod ${k}: created for ${sp.file}`);
            } catch (e) {
                if (e instanceof ApiError && e.status === 409) continue;
                log(`mirror pod ${k}: not created (again in 15 s): ${errText(e)}`);
            }
        }
        for (const p of this.pods.values()) {
            if (!p.metadata.annotations?.[MIRROR] || p.metadata.deletionTimestamp) continue;
            const k = key(p.metadata.namespace, p.metadata.name);
            if (statics.some((s) => key(s.namespace, s.name) === k)) continue;
            if (this.deleting.has(p.metadata.uid)) continue;
            this.deleting.add(p.metadata.uid);
            log(`mirror pod ${k}: its static pod is gone; deleting it`);
            await this.deletePod(p);
        }
    }

    private async deletePod(p: any): Promise<void> {
        const { namespace: ns, name, uid } = p.metadata;
        try {
            await this.deleteNow(ns, name, uid);
        } catch (e) {
            log(`pod ${key(ns, name)}: delete failed: ${errText(e)}`);
        }
    }

    /**
     * Deletes the pod with grace period 0 (there is no container to stop), if it is still the one
     * of `uid`. A pod gone already or replaced is no error; on any error the pod is no longer
     * counted as being deleted.
     */
    private async deleteNow(ns: string, name: string, uid: string): Promise<void> {
        try {
            await this.client!.request("DELETE", `/api/v1/namespaces/${ns}/pods/${name}`, {
                kind: "DeleteOptions",
                apiVersion: "v1",
                gracePeriodSeconds: 0,
                preconditions: { uid },
            });
        } catch (e) {
            this.deleting.delete(uid);
            if (e instanceof ApiError && (e.status === 404 || e.status === 409)) return;
            throw e;
        }
    }
}
