// Static pods, as the kubelet's file source (--pod-manifest-path) has them, without containers:
// each container of each Pod manifest in the folder is started as a local program (its `command`
// + `args`, the program found by the base name of command[0] in --bin-dir, else as given, else on
// PATH), restarted with a back-off when it exits, restarted when its file changes and stopped
// when its file goes. kubeadm's manifests name etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler, whose host paths are the same here, so nothing is remapped.
import { ChildProcess, spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { errText, log, now, sleep } from "./api";

export interface ContainerState {
    name: string;
    image: string;
    running: boolean;
    startedAt?: string;
    restarts: number;
    /** why it is not running, when it is not */
    waiting?: { reason: string; message: string };
    lastExit?: { exitCode: number; signal?: string; finishedAt: string };
}

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

interface Proc {
    pod: string;
    name: string;
    image: string;
    command: string[];
    env: Record<string, string>;
    cwd: string;
    logFile: string;
    child?: ChildProcess;
    startedAtMs?: number;
    startedAt?: string;
    restarts: number;
    backoffMs: number;
    timer?: NodeJS.Timeout;
    stopped: boolean;
    waiting?: { reason: string; message: string };
    lastExit?: { exitCode: number; signal?: string; finishedAt: string };
    exited?: Promise<void>;
    graceMs: number;
}

/** A static pod as this keeps it: its view's fields, with its processes for its containers. */
interface Pod extends Omit<StaticPodView, "containers"> {
    procs: Proc[];
}

export interface StaticPodOptions {
    dir: string;
    nodeName: string;
    binDir?: string;
    logDir: string;
    /** pid files of the running processes, so that a stand-in killed with SIGKILL leaves none behind after its next start */
    stateDir: string;
    /** called after a static pod or one of its containers changed state */
    onChange: () => void;
}

function isExecutable(p: string): boolean {
    try {
        const st = fs.statSync(p);
        if (!st.isFile()) return false;
        fs.accessSync(p, fs.constants.X_OK);
        return true;
    } catch {
        return false;
    }
}

export function resolveProgram(cmd0: string, binDir?: string): string | undefined {
    const base = path.basename(cmd0);
    if (binDir && isExecutable(path.join(binDir, base))) return path.join(binDir, base);
    if (cmd0.includes("/")) return isExecutable(cmd0) ? cmd0 : undefined;
    for (const d of (process.env.PATH ?? "").split(":")) {
        if (d && isExecutable(path.join(d, cmd0))) return path.join(d, cmd0);
    }
    return undefined;
}

/** The start time of a process (field 22 of /proc/<pid>/stat), to tell it from a later one with the same pid. */
function startTimeOf(pid: number): string {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "";
    } catch {
        return "";
    }
}

const MIN_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 20_000;

export class StaticPods {
    private pods = new Map<string, Pod>();
    private badFiles = new Map<string, string>();
    private scanning = false;
    private stopping = false;
    private pollTimer?: NodeJS.Timeout;
    private watcher?: fs.FSWatcher;
    private dirSaid = false;

    constructor(private readonly o: StaticPodOptions) {}

    async start(): Promise<void> {
        await this.stopLeftovers();
        log(`static pods: watching ${this.o.dir} (each container's command is started as a local program; no container runtime is used)`);
        this.schedule(0);
    }

    /** Processes an earlier stand-in started and could not stop (it was killed): stopped now. */
    private async stopLeftovers(): Promise<void> {
        let files: string[] = [];
        try {
            files = fs.readdirSync(this.o.stateDir).filter((f) => f.endsWith(".pid"));
        } catch {
            return;
        }
        for (const f of files) {
            const file = path.join(this.o.stateDir, f);
            try {
                const rec = JSON.parse(fs.readFileSync(file, "utf8")) as { pid: number; start: string; what: string };
                if (rec.start && startTimeOf(rec.pid) === rec.start) {
                    log(`static pods: stopping ${rec.what} (pid ${rec.pid}), left running by an earlier stand-in`);
                    const kill = (sig: NodeJS.Signals) => {
                        try {
                            process.kill(-rec.pid, sig);
                        } catch {
                            /* gone */
                        }
                    };
                    kill("SIGTERM");
                    for (let i = 0; i < 50 && startTimeOf(rec.pid) === rec.start; i++) await sleep(100);
                    if (startTimeOf(rec.pid) === rec.start) kill("SIGKILL");
                }
            } catch {
                /* unreadable: nothing to stop */
            }
            fs.rmSync(file, { force: true });
        }
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
            containers: p.procs.map((c) => ({
                name: c.name,
                image: c.image,
                running: !!c.child && c.child.exitCode === null && c.child.signalCode === null && !!c.startedAt,
                startedAt: c.startedAt,
                restarts: c.restarts,
                waiting: c.waiting,
                lastExit: c.lastExit,
            })),
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
            const proc: Proc = {
                pod: `${namespace}/${name}`,
                name: String(c.name),
                image: String(c.image ?? ""),
                command: [...(c.command ?? []), ...(c.args ?? [])].map(String),
                env,
                cwd: c.workingDir || "/",
                logFile: path.join(this.o.logDir, `${namespace}_${name}`, `${c.name}.log`),
                restarts: 0,
                backoffMs: MIN_BACKOFF_MS,
                stopped: false,
                graceMs: Math.min(Math.max(grace, 0), 10) * 1000,
            };
            pod.procs.push(proc);
        }
        this.pods.set(file, pod);
        log(`static pod ${namespace}/${name}: from ${file} (${pod.procs.length} container(s))`);
        for (const proc of pod.procs) this.run(proc);
    }

    private run(proc: Proc): void {
        if (proc.stopped) return;
        proc.timer = undefined;
        if (proc.command.length === 0) {
            proc.waiting = {
                reason: "NoCommand",
                message: "the kubelet stand-in runs only a local program named by the container's command (it runs no images)",
            };
            log(`static pod ${proc.pod}: container ${proc.name} has no command; not started (the stand-in runs no images)`);
            return;
        }
        const program = resolveProgram(proc.command[0], this.o.binDir);
        if (!program) {
            proc.waiting = {
                reason: "ProgramNotFound",
                message: `no local program ${path.basename(proc.command[0])} (looked in ${this.o.binDir ?? "-"} and PATH)`,
            };
            log(`static pod ${proc.pod}: container ${proc.name}: ${proc.waiting.message}; again in ${proc.backoffMs / 1000} s`);
            this.again(proc);
            return;
        }
        let fd: number | undefined;
        try {
            fs.mkdirSync(path.dirname(proc.logFile), { recursive: true });
            fd = fs.openSync(proc.logFile, "a");
        } catch (e) {
            log(`static pod ${proc.pod}: container ${proc.name}: cannot open ${proc.logFile}: ${errText(e)}; output discarded`);
        }
        const child = spawn(program, proc.command.slice(1), {
            cwd: fs.existsSync(proc.cwd) ? proc.cwd : "/",
            env: { ...process.env, ...proc.env },
            stdio: ["ignore", fd ?? "ignore", fd ?? "ignore"],
            detached: true,
        });
        if (fd !== undefined) fs.closeSync(fd);
        proc.child = child;
        proc.startedAtMs = Date.now();
        proc.startedAt = now();
        proc.waiting = undefined;
        let resolveExit!: () => void;
        proc.exited = new Promise((r) => (resolveExit = r));
        const pidFile = child.pid ? path.join(this.o.stateDir, `${child.pid}.pid`) : undefined;
        if (pidFile) {
            try {
                fs.mkdirSync(this.o.stateDir, { recursive: true });
                fs.writeFileSync(
                    pidFile,
                    JSON.stringify({ pid: child.pid, start: startTimeOf(child.pid!), what: `${proc.pod} container ${proc.name}` }),
                );
            } catch {
                /* without it only a SIGKILL of the stand-in leaves the process behind */
            }
        }
        let done = false;
        const onEnd = (code: number | null, signal: NodeJS.Signals | null, err?: Error) => {
            if (done) return;
            done = true;
            const ranMs = Date.now() - (proc.startedAtMs ?? Date.now());
            proc.lastExit = { exitCode: code ?? (err ? 127 : 137), signal: signal ?? undefined, finishedAt: now() };
            proc.startedAt = undefined;
            if (pidFile) fs.rmSync(pidFile, { force: true });
            resolveExit();
            if (proc.stopped) return;
            if (ranMs > 60_000) proc.backoffMs = MIN_BACKOFF_MS;
            proc.restarts++;
            proc.waiting = {
                reason: "CrashLoopBackOff",
                message: `exited (${err ? errText(err) : (signal ?? `code ${code}`)}); restarting in ${proc.backoffMs / 1000} s`,
            };
            log(`static pod ${proc.pod}: container ${proc.name} (pid ${child.pid}) ${proc.waiting.message}`);
            this.again(proc);
            this.o.onChange();
        };
        child.on("error", (e) => onEnd(null, null, e));
        child.on("exit", (code, signal) => onEnd(code, signal));
        if (child.pid)
            log(
                `static pod ${proc.pod}: started container ${proc.name}: ${program} ${proc.command.slice(1).join(" ")} (pid ${child.pid}, output in ${proc.logFile})`.slice(
                    0,
                    2000,
                ),
            );
        this.o.onChange();
    }

    private again(proc: Proc): void {
        if (proc.stopped) return;
        proc.timer = setTimeout(() => this.run(proc), proc.backoffMs);
        proc.backoffMs = Math.min(proc.backoffMs * 2, MAX_BACKOFF_MS);
    }

    private async stopPod(pod: Pod, why: string): Promise<void> {
        log(`static pod ${pod.namespace}/${pod.name}: stopping (${why})`);
        await Promise.all(pod.procs.map((p) => this.stopProc(p)));
    }

    private async stopProc(proc: Proc): Promise<void> {
        proc.stopped = true;
        clearTimeout(proc.timer);
        const child = proc.child;
        if (!child || child.exitCode !== null || child.signalCode !== null || !child.pid) return;
        const pid = child.pid;
        const kill = (sig: NodeJS.Signals) => {
            try {
                process.kill(-pid, sig);
            } catch {
                try {
                    child.kill(sig);
                } catch {
                    /* gone */
                }
            }
        };
        kill("SIGTERM");
        const exited = proc.exited ?? Promise.resolve();
        const timedOut = await Promise.race([exited.then(() => false), sleep(proc.graceMs).then(() => true)]);
        if (timedOut) {
            log(`static pod ${proc.pod}: container ${proc.name} (pid ${pid}) did not stop in ${proc.graceMs / 1000} s; SIGKILL`);
            kill("SIGKILL");
            await Promise.race([exited, sleep(2000)]);
        }
        log(`static pod ${proc.pod}: stopped container ${proc.name} (pid ${pid})`);
    }
}
