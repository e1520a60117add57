// The Node, as a 1.9 kubelet registers it and keeps it: created with the labels a kubelet sets
// (kubernetes.io/hostname, beta.kubernetes.io/os, beta.kubernetes.io/arch, and --node-labels),
// its InternalIP and Hostname addresses, capacity and node info; then a status PATCH every
// --node-status-update-frequency (10 s) with the NodeReady condition and a fresh
// lastHeartbeatTime, which keeps the node controller (node-monitor-grace-period 40 s) from marking
// it NotReady. Its spec.podCIDR, set by the controller-manager (--allocate-node-cidrs), is read
// back from the answers.
import * as fs from "node:fs";
import * as os from "node:os";
import { ApiError, Client, errText, eventBody, log, now, sleep } from "./api";

export const KUBELET_VERSION = "v1.9.4";
/** no container runtime: containers are processes in namespaces, images are the lab's builds of their programs (runtime.ts) */
export const RUNTIME_VERSION = "standin://namespaces-no-images";

export interface NodeOptions {
    nodeName: string;
    nodeIP: string;
    labels: Record<string, string>;
    statusUpdateMs: number;
    /** "cni": NotReady until --cni-conf-dir holds a network configuration, as a 1.9 kubelet with --network-plugin=cni */
    networkPlugin: string;
    cniConfDir: string;
    signal: AbortSignal;
    onPodCIDR: (cidr: string) => void;
}

function readTrim(f: string): string {
    try {
        return fs.readFileSync(f, "utf8").trim();
    } catch {
        return "";
    }
}

function osImage(): string {
    const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readTrim("/etc/os-release"));
    return m ? m[1] : "Linux";
}

function goArch(): string {
    const a = os.arch();
    return a === "x64" ? "amd64" : a === "ia32" ? "386" : a;
}

interface Ready {
    status: "True" | "False";
    reason: string;
    message: string;
}

export class NodeAgent {
    private transitions = new Map<string, { status: string; since: string }>();
    podCIDR?: string;
    private lastReady?: string;
    private lastBeat = 0;
    private missingSaid = false;

    constructor(
        private readonly client: Client,
        private readonly o: NodeOptions,
    ) {}

    private ready(): Ready {
        if (this.o.networkPlugin === "cni") {
            let confs: string[] = [];
            try {
                confs = fs.readdirSync(this.o.cniConfDir).filter((f) => /\.(conf|conflist|json)$/.test(f));
            } catch {
                /* no folder: no configuration */
            }
            if (confs.length === 0)
                return {
                    status: "False",
                    reason: "KubeletNotReady",
                    message: `runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:docker: network plugin is not ready: cni config uninitialized (no network configuration in ${this.o.cniConfDir})`,
                };
        }
        return {
            status: "True",
            reason: "KubeletReady",
            message: "kubelet stand-in is posting ready status (containers are processes in namespaces; no container runtime)",
        };
    }

    private cond(type: string, status: string, reason: string, message: string, t: string): any {
        const prev = this.transitions.get(type);
        const since = prev && prev.status === status ? prev.since : t;
        this.transitions.set(type, { status, since });
        return { type, status, lastHeartbeatTime: t, lastTransitionTime: since, reason, message };
    }

    private status(t: string): any {
        const r = this.ready();
        const mem = `${Math.floor(os.totalmem() / 1024)}Ki`;
        const cap = { cpu: String(os.cpus().length), memory: mem, pods: "110" };
        return {
            capacity: cap,
            allocatable: cap,
            conditions: [
                this.cond("OutOfDisk", "False", "KubeletHasSufficientDisk", "kubelet has sufficient disk space available", t),
                this.cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available", t),
                this.cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", t),
                this.cond("Ready", r.status, r.reason, r.message, t),
            ],
            daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
            addresses: [
                { type: "InternalIP", address: this.o.nodeIP },
                { type: "Hostname", address: this.o.nodeName },
            ],
            nodeInfo: {
                machineID: readTrim("/etc/machine-id"),
                systemUUID: readTrim("/sys/class/dmi/id/product_uuid").toUpperCase(),
                bootID: readTrim("/proc/sys/kernel/random/boot_id"),
                kernelVersion: os.release(),
                osImage: osImage(),
                containerRuntimeVersion: RUNTIME_VERSION,
                kubeletVersion: KUBELET_VERSION,
                kubeProxyVersion: KUBELET_VERSION,
                operatingSystem: "linux",
                architecture: goArch(),
            },
        };
    }

    private labels(): Record<string, string> {
        return {
            "beta.kubernetes.io/arch": goArch(),
            "beta.kubernetes.io/os": "linux",
            "kubernetes.io/hostname": this.o.nodeName,
            ...this.o.labels,
        };
    }

    private seen(node: any): void {
        const cidr = node?.spec?.podCIDR;
        if (cidr && cidr !== this.podCIDR) {
            this.podCIDR = cidr;
            log(`node ${this.o.nodeName}: spec.podCIDR ${cidr} (set by the controller-manager)`);
            this.o.onPodCIDR(cidr);
        }
    }

    /** Registers the Node, as the kubelet does at its start: until the API takes it (or the signal aborts). */
    async register(): Promise<boolean> {
        const name = this.o.nodeName;
        let delay = 500;
        let attempt = 0;
        while (!this.o.signal.aborted) {
            attempt++;
            const t = now();
            const body = {
                apiVersion: "v1",
                kind: "Node",
                metadata: {
                    name,
                    labels: this.labels(),
                    annotations: {
                        "node.alpha.kubernetes.io/ttl": "0",
                        "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                        "kubevirt-lab.dev/kubelet-standin":
                            "this node's kubelet is a stand-in: no container runtime; containers of the images the lab builds run as processes in namespaces, the others only reported running",
                    },
                },
                spec: { externalID: name },
                status: this.status(t),
            };
            try {
                const node = await this.client.request("POST", "/api/v1/nodes", body);
                log(
                    `node ${name}: registered (InternalIP ${this.o.nodeIP}, labels ${Object.entries(this.labels())
                        .map(([k, v]) => `${k}=${v}`)
                        .join(",")})`,
                );
                this.seen(node);
                void this.event(
                    node?.metadata?.uid ?? name,
                    "RegisteredNode",
                    `Node ${name} registered by the kubelet stand-in (no container runtime)`,
                );
                return true;
            } catch (e) {
                if (e instanceof ApiError && e.status === 409) {
                    // It exists (the stand-in or a kubelet ran before): the kubelet takes it over.
                    try {
                        const node = await this.client.request(
                            "PATCH",
                            `/api/v1/nodes/${name}`,
                            { metadata: { labels: this.labels() } },
                            { contentType: "application/strategic-merge-patch+json" },
                        );
                        log(`node ${name}: exists already; labels ensured`);
                        this.seen(node);
                        const ready = ((node?.status?.conditions ?? []) as any[]).find((c) => c.type === "Ready");
                        if (ready) this.transitions.set("Ready", { status: ready.status, since: ready.lastTransitionTime });
                        return true;
                    } catch (e2) {
                        log(`node ${name}: exists, but could not be updated: ${errText(e2)}`);
                    }
                } else if (attempt === 1 || attempt % 10 === 0) {
                    log(
                        `node ${name}: unable to register with the API server (attempt ${attempt}, again every ${Math.round(delay / 1000)} s): ${errText(e)}`,
                    );
                }
            }
            await sleep(delay, this.o.signal);
            delay = Math.min(delay * 2, 7000);
        }
        return false;
    }

    /** Status updates: every --node-status-update-frequency, at once when Ready changes; the pod CIDR polled until known. */
    async heartbeats(): Promise<void> {
        const name = this.o.nodeName;
        let ticks = 0;
        while (!this.o.signal.aborted) {
            ticks++;
            const r = this.ready().status;
            if (Date.now() - this.lastBeat >= this.o.statusUpdateMs || r !== this.lastReady) {
                await this.beat();
            } else if (!this.podCIDR && (ticks < 120 || ticks % 10 === 0)) {
                try {
                    this.seen(await this.client.request("GET", `/api/v1/nodes/${name}`));
                } catch {
                    /* the next status update says what is wrong */
                }
            }
            await sleep(1000, this.o.signal);
        }
    }

    private async beat(): Promise<void> {
        const name = this.o.nodeName;
        this.lastBeat = Date.now();
        // the kubelet tries a status update 5 times (nodeStatusUpdateRetry), then waits for the next period
        for (let i = 1; i <= 5 && !this.o.signal.aborted; i++) {
            const st = this.status(now());
            try {
                const node = await this.client.request(
                    "PATCH",
                    `/api/v1/nodes/${name}/status`,
                    { status: st },
                    { contentType: "application/strategic-merge-patch+json", timeoutMs: 10_000 },
                );
                const ready = st.conditions[3];
                if (ready.status !== this.lastReady) log(`node ${name}: Ready=${ready.status} (${ready.reason}: ${ready.message})`);
                this.lastReady = ready.status;
                this.missingSaid = false;
                this.seen(node);
                return;
            } catch (e) {
                if (e instanceof ApiError && e.status === 404) {
                    if (!this.missingSaid)
                        log(`node ${name}: not found (deleted?); like the 1.9 kubelet, the stand-in registers only when it starts`);
                    this.missingSaid = true;
                    return;
                }
                if (i === 5) log(`node ${name}: status update failed 5 times (next in ${this.o.statusUpdateMs / 1000} s): ${errText(e)}`);
                else await sleep(200 * i, this.o.signal);
            }
        }
    }

    private async event(uid: string, reason: string, message: string): Promise<void> {
        try {
            await this.client.request(
                "POST",
                `/api/v1/namespaces/default/events`,
                eventBody({
                    namespace: "default",
                    name: `${this.o.nodeName}.${Date.now().toString(16)}`,
                    involvedObject: { kind: "Node", name: this.o.nodeName, uid },
                    reason,
                    message,
                    host: this.o.nodeName,
                }),
            );
        } catch (e) {
            log(`node ${this.o.nodeName}: event ${reason} not recorded: ${errText(e)}`);
        }
    }
}

/** The first non-loopback IPv4 address of this host, as the default of --node-ip. */
export function defaultNodeIP(): string | undefined {
    for (const addrs of Object.values(os.networkInterfaces())) {
        for (const a of addrs ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
    }
    return undefined;
}
