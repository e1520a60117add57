// Static pods, as the kubelet's file source (--pod-manifest-path) has them, without containers:
// each container of each Pod manifest in the folder is started as a local program (its `command`
// + `args`, the program found by the base name of command[0] in --bin-dir, else as given, else on
// PATH), restarted with a back-off when it exits, restarted when its file changes and stopped
// when its file goes. kubeadm's manifests name etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler, whose host paths are the same here, so nothing is remapped.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { errText, log, now, sleep } from "./api";
import { ContainerState, newProc, Proc, stateOf, Supervisor } from "./processes";

export type { ContainerState };

export interface StaticPodView {
    file: string;
    /** the kubelet's config hash: the static pod's UID and its mirror pod's kubernetes.io/config.mirror */
    hash: string;
    /** <metadata.name>-<node name>, as the kubelet names static pods */
    name: string;
    namespace: string;
    manifest: any;
    seenAt: string;
    containers: ContainerState[];
}

/** A static pod as this keeps it: its view's fields, with its processes for its containers. */
interface Pod extends Omit<StaticPodView, "containers"> {
    procs: Proc[];
}

export interface StaticPodOptions {
    dir: string;
    nodeName: string;
    logDir: string;
    /** runs the processes (and keeps their pid files, so that a stand-in killed with SIGKILL leaves none behind after its next start) */
    supervisor: Supervisor;
    /** called after a static pod changed (its processes' changes are the supervisor's onChange) */
    onChange: () => void;
}

export class StaticPods {
    private pods = new Map<string, Pod>();
    private badFiles = new Map<string, string>();
    private scanning = false;
    private stopping = false;
    private pollTimer?: NodeJS.Timeout;
    private watcher?: fs.FSWatcher;
    private dirSaid = false;

    private readonly supervisor: Supervisor;

    constructor(private readonly o: StaticPodOptions) {
        this.supervisor = o.supervisor;
    }

    async start(): Promise<void> {
        await this.supervisor.stopLeftovers();
        log(`static pods: watching ${this.o.dir} (each container's command is started as a local program; no container runtime is used)`);
        this.schedule(0);
    }

    /** At most one pending scan timer at a time: every path clears it before setting it. */
    private schedule(ms: number): void {
        if (this.stopping) return;
        clearTimeout(this.pollTimer);
        this.pollTimer = setTimeout(() => {
            void this.scan().finally(() => this.schedule(1000));
        }, ms);
    }

    /** The static pods and the state of their processes. */
    list(): StaticPodView[] {
        return [...this.pods.values()].map((p) => ({
            file: p.file,
            hash: p.hash,
            name: p.name,
            namespace: p.namespace,
            manifest: p.manifest,
            seenAt: p.seenAt,
            containers: p.procs.map(stateOf),
        }));
    }

    async stop(): Promise<void> {
        this.stopping = true;
        clearTimeout(this.pollTimer);
        this.watcher?.close();
        // wait for a scan in progress, then stop everything
        for (let i = 0; i < 100 && this.scanning; i++) await sleep(50);
        await Promise.all([...this.pods.values()].map((p) => this.stopPod(p, "the kubelet stand-in stops")));
        this.pods.clear();
    }

    private async scan(): Promise<void> {
        if (this.scanning || this.stopping) return;
        this.scanning = true;
        try {
            let names: string[] = [];
            try {
                names = fs
                    .readdirSync(this.o.dir)
                    .filter((n) => !n.startsWith("."))
                    .sort();
                if (!this.watcher) {
                    try {
                        this.watcher = fs.watch(this.o.dir, () => {
                            if (!this.scanning) this.schedule(100);
                        });
                        this.watcher.on("error", () => {
                            this.watcher?.close();
                            this.watcher = undefined;
                        });
                    } catch {
                        /* polling is enough */
                    }
                }
                this.dirSaid = false;
            } catch {
                if (!this.dirSaid) {
                    log(`static pods: ${this.o.dir} does not exist (yet); no static pods`);
                    this.dirSaid = true;
                }
                this.watcher?.close();
                this.watcher = undefined;
            }
            const seen = new Set<string>();
            for (const n of names) {
                const file = path.join(this.o.dir, n);
                let text: string;
                try {
                    if (!fs.statSync(file).isFile()) continue;
                    text = fs.readFileSync(file, "utf8");
                } catch {
                    continue;
                }
                const hash = crypto
                    .createHash("md5")
                    .update(this.o.nodeName)
                    .update("\0")
                    .update(file)
                    .update("\0")
                    .update(text)
                    .digest("hex");
                seen.add(file);
                const cur = this.pods.get(file);
                if (cur && cur.hash === hash) continue;
                let manifest: any;
                try {
                    manifest = YAML.parse(text);
                    if (!manifest || manifest.kind !== "Pod" || !manifest.metadata?.name || !Array.isArray(manifest.spec?.containers)) {
                        throw new Error("not a Pod with metadata.name and spec.containers");
                    }
                } catch (e) {
                    if (this.badFiles.get(file) !== hash) {
                        log(`static pods: ignoring ${file}: ${errText(e)}`);
                        this.badFiles.set(file, hash);
                    }
                    if (cur) {
                        await this.stopPod(cur, `${file} is no longer a valid Pod manifest`);
                        this.pods.delete(file);
                        this.o.onChange();
                    }
                    continue;
                }
                this.badFiles.delete(file);
                if (cur) {
                    await this.stopPod(cur, `${file} changed`);
                    this.pods.delete(file);
                }
                this.startPod(file, hash, manifest);
                this.o.onChange();
            }
            for (const [file, pod] of [...this.pods]) {
                if (seen.has(file)) continue;
                await this.stopPod(pod, `${file} was removed`);
                this.pods.delete(file);
                this.o.onChange();
            }
            for (const file of [...this.badFiles.keys()]) if (!seen.has(file)) this.badFiles.delete(file);
        } finally {
            this.scanning = false;
        }
    }

    private startPod(file: string, hash: string, manifest: any): void {
        const name = `${manifest.metadata.name}-${this.o.nodeName}`;
        const namespace = manifest.metadata.namespace || "default";
        const grace = Number(manifest.spec.terminationGracePeriodSeconds ?? 30);
        const pod: Pod = { file, hash, name, namespace, manifest, seenAt: now(), procs: [] };
        if ((manifest.spec.initContainers ?? []).length) log(`static pod ${namespace}/${name}: its init containers are not run`);
        for (const c of manifest.spec.containers as any[]) {
            const env: Record<string, string> = {};
            for (const e of c.env ?? []) if (e?.name && typeof e.value === "string") env[e.name] = e.value;
            const proc = newProc({
                label: `static pod ${namespace}/${name}`,
                name: String(c.name),
                image: String(c.image ?? ""),
                command: [...(c.command ?? []), ...(c.args ?? [])].map(String),
                env,
                inheritEnv: true,
                cwd: c.workingDir || "/",
                logFile: path.join(this.o.logDir, `${namespace}_${name}`, `${c.name}.log`),
                graceSeconds: grace,
            });
            pod.procs.push(proc);
        }
        this.pods.set(file, pod);
        log(`static pod ${namespace}/${name}: from ${file} (${pod.procs.length} container(s))`);
        for (const proc of pod.procs) this.supervisor.run(proc);
    }

    private async stopPod(pod: Pod, why: string): Promise<void> {
        log(`static pod ${pod.namespace}/${pod.name}: stopping (${why})`);
        await Promise.all(pod.procs.map((p) => this.supervisor.stop(p)));
    }
}
