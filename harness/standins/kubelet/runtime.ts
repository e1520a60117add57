// The pods bound to this node, run as a kubelet with a container runtime would run them, on a
// host that has none (see README.md):
//
// - the sandbox: a network namespace per pod (`ip netns`, named cni-<pod uid>) wired by the CNI
//   plugins of --cni-bin-dir with the network of --cni-conf-dir (cni.ts), whose address is the
//   pod's IP; a pod on the host network uses the node's. Without --network-plugin=cni there is
//   no sandbox: the pod gets an address from its node's pod CIDR that no interface has (PodIPs);
// - the volumes: secrets and ConfigMaps read through the API with the node's credentials
//   (1.9's Node authorizer allows those of pods bound to it) and written under
//   <root-dir>/pods/<uid>/volumes/, emptyDirs, hostPaths, downward API files;
// - the containers: init containers one after another, each to completion, then the others;
//   a container of a known image (images.ts) runs its command as a local process in the pod's
//   network namespace and a private mount, UTS and IPC namespace whose root is built by
//   container-run.sh (the host's /usr, the image's programs, the volumes, resolv.conf, hosts),
//   its output in the CRI log format under /var/log/pods/<uid>/; a container of any other image
//   is only reported running;
// - probes (probes.ts): readiness decides a container's Ready, liveness restarts it;
// - records for the kubelet API (kubelet-standin-server): <root-dir>/kubelet-standin/runtime/
//   pods/<uid>/pod.json and containers/<name>.json (pid, log files), so that kubectl exec and
//   logs reach the container.
//
// When the kubelet stand-in stops, the containers' processes stop with it (a real kubelet leaves
// docker's containers running) but the sandboxes stay: the next start takes them over, so a pod
// keeps its address. `docker rm` of the docker stand-in (kubeadm reset) removes them.
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { Client, errText, log, sleep } from "./api";
import { addPod, CniPod, defaultNetwork, delPod } from "./cni";
import { commandLine, Image, imageFiles, ImageDirs, IMAGES } from "./images";
import { expand, hostsFile, podFields, resolvConf, servicesEnv } from "./podenv";
import { Prober } from "./probes";
import { ContainerState, newProc, Proc, stateOf, Supervisor } from "./processes";
import type { PodIPs } from "./pods";

const RUNNER = path.join(__dirname, "container-run.sh");
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** Where a hostPath the host lacks may be made (a simulated host's private directories). */
const PRIVATE_DIRS = ["/etc/", "/var/", "/run/", "/tmp/", "/opt/", "/root/"];

export interface RuntimeOptions {
    supervisor: Supervisor;
    /** the kubelet's --root-dir */
    rootDir: string;
    nodeName: string;
    nodeIP: string;
    /** "cni", or "" (no pod network: addresses only in the API) */
    networkPlugin: string;
    cniConfDir: string;
    cniBinDir: string;
    clusterDNS: string[];
    clusterDomain: string;
    images: ImageDirs;
    /** the addresses of pods without a network plugin */
    ips: Pick<PodIPs, "get" | "release">;
    onChange: () => void;
}

/** A container as the pod's status shows it. */
export interface CtrView {
    name: string;
    image: string;
    /** only reported running (an image the lab cannot run) */
    reported: boolean;
    /** an init container that completed */
    completed?: boolean;
    state?: ContainerState;
    /** a container that ended and will not be started again (restartPolicy Never or OnFailure) */
    terminated?: { exitCode: number; finishedAt: string };
    ready: boolean;
}

export interface PodView {
    podIP?: string;
    /** why the pod is not running yet (no sandbox, a volume not ready, init containers) */
    waiting?: { reason: string; message: string };
    inits: CtrView[];
    containers: CtrView[];
}

interface Sandbox {
    id: string;
    netns: string; // the name, under /run/netns; "" on the host network or without a plugin
    ip: string;
}

interface Ctr {
    spec: any;
    init: boolean;
    image?: Image;
    proc?: Proc;
    reported: boolean;
    completed: boolean;
    waiting?: { reason: string; message: string };
    readiness?: Prober;
    liveness?: Prober;
    terminated?: { exitCode: number; finishedAt: string };
}

interface PodRt {
    uid: string;
    label: string;
    pod: any;
    hostNetwork: boolean;
    dir: string;
    rtDir: string;
    sandbox?: Sandbox;
    ctrs: Ctr[];
    waiting?: { reason: string; message: string };
    starting?: Promise<void>;
    retryAt: number;
    started: boolean;
    stopped: boolean;
}

const netnsPath = (name: string) => `/run/netns/${name}`;

function ip(args: string[]): { ok: boolean; out: string } {
    const r = spawnSync("ip", args, { encoding: "utf8", timeout: 10_000 });
    return { ok: r.status === 0, out: `${r.stdout ?? ""}${r.stderr ?? ""}`.trim() };
}

const b64 = (s: unknown) => Buffer.from(String(s ?? ""), "base64");
/** a field of the plan file: no tab or newline */
const field = (s: string) => {
    if (/[\t\n\r]/.test(s)) throw new Error(`a tab or newline in ${JSON.stringify(s)} (cannot be passed to container-run.sh)`);
    return s;
};

export class PodRuntime {
    private pods = new Map<string, PodRt>();
    private ended = new Set<string>();
    private stopping = false;
    /** pods being stopped one by one (deleted, or no longer bound here): the kubelet's stop waits for them too */
    private stops = new Set<Promise<void>>();
    private services: { at: number; items: any[] } = { at: 0, items: [] };

    constructor(private readonly o: RuntimeOptions) {}

    private rtDirOf(uid: string): string {
        return path.join(this.o.rootDir, "kubelet-standin", "runtime", "pods", uid);
    }

    /** The pod's state, its containers started (in the background) if they are not yet. Undefined once it was stopped. */
    ensure(pod: any, client: Client): PodView | undefined {
        const uid = pod.metadata.uid;
        if (this.ended.has(uid) || this.stopping) return undefined;
        let rt = this.pods.get(uid);
        if (!rt) {
            rt = {
                uid,
                label: `pod ${pod.metadata.namespace}/${pod.metadata.name}`,
                pod,
                hostNetwork: !!pod.spec?.hostNetwork,
                dir: path.join(this.o.rootDir, "pods", uid),
                rtDir: this.rtDirOf(uid),
                ctrs: [
                    ...((pod.spec?.initContainers ?? []) as any[]).map((c) => this.ctrOf(c, true)),
                    ...((pod.spec?.containers ?? []) as any[]).map((c) => this.ctrOf(c, false)),
                ],
                retryAt: 0,
                started: false,
                stopped: false,
                waiting: { reason: "ContainerCreating", message: "" },
            };
            this.pods.set(uid, rt);
        }
        rt.pod = pod;
        if (!rt.started && !rt.starting && Date.now() >= rt.retryAt) {
            rt.starting = this.start(rt, client)
                .then(() => {
                    rt.started = true;
                    rt.waiting = undefined;
                })
                .catch((e) => {
                    rt.waiting = { reason: e instanceof NetworkError ? "NetworkNotReady" : "ContainerCreating", message: errText(e) };
                    rt.retryAt = Date.now() + 5000;
                    log(`${rt.label}: not started (again in 5 s): ${errText(e)}`);
                    setTimeout(() => this.o.onChange(), 5100).unref();
                })
                .finally(() => {
                    rt.starting = undefined;
                    this.o.onChange();
                });
        }
        return this.view(rt);
    }

    private ctrOf(spec: any, init: boolean): Ctr {
        const image = IMAGES[spec.image];
        return { spec, init, image, reported: !image, completed: false };
    }

    private view(rt: PodRt): PodView {
        const v = (c: Ctr): CtrView => {
            const state = c.proc ? stateOf(c.proc) : undefined;
            const running = !!state?.running;
            const ready = c.reported ? rt.started : running && (c.readiness ? c.readiness.result() : true);
            if (state && !running && !c.proc?.child && c.waiting) state.waiting = c.waiting;
            return {
                name: c.spec.name,
                image: c.spec.image,
                reported: c.reported,
                completed: c.completed,
                state,
                ready,
                terminated: c.terminated,
            };
        };
        let waiting = rt.waiting;
        const pendingInit = rt.ctrs.find((c) => c.init && !c.completed);
        if (!waiting && pendingInit) waiting = { reason: "PodInitializing", message: `init container ${pendingInit.spec.name}` };
        return {
            podIP: rt.sandbox?.ip,
            waiting,
            inits: rt.ctrs.filter((c) => c.init).map(v),
            containers: rt.ctrs.filter((c) => !c.init).map(v),
        };
    }

    /** Names of the pod's containers that are only reported running. */
    reportedOnly(pod: any): string[] {
        return ((pod.spec?.containers ?? []) as any[]).filter((c) => !IMAGES[c.image]).map((c) => String(c.name));
    }

    // --- start --------------------------------------------------------------------------------

    private async start(rt: PodRt, client: Client): Promise<void> {
        rt.sandbox ??= await this.sandbox(rt);
        if (rt.stopped) {
            // deleted while its network was set up: the sandbox just made goes too
            if (this.ended.has(rt.uid)) await this.teardown(rt.uid, rt.label);
            return;
        }
        const recFile = path.join(rt.rtDir, "pod.json");
        if (!fs.existsSync(recFile)) {
            // a pod without a sandbox of its own (host network, or no network plugin): its record for the kubelet API
            const { namespace, name } = rt.pod.metadata;
            fs.mkdirSync(rt.rtDir, { recursive: true, mode: 0o700 });
            fs.writeFileSync(
                recFile,
                JSON.stringify({ namespace, name, uid: rt.uid, netns: "", ip: rt.sandbox.ip, sandboxID: rt.sandbox.id }),
            );
        }
        const volumes = await this.volumes(rt, client);
        const services = await this.servicesList(client);
        fs.mkdirSync(rt.dir, { recursive: true, mode: 0o750 });
        const files = this.podFiles(rt);
        const inits = rt.ctrs.filter((c) => c.init);
        for (const c of inits) {
            if (rt.stopped) return;
            if (c.completed) continue;
            await this.runInit(rt, c, volumes, files, services);
        }
        for (const c of rt.ctrs.filter((x) => !x.init)) {
            if (rt.stopped) return;
            this.runContainer(rt, c, volumes, files, services);
        }
        const reported = rt.ctrs.filter((c) => c.reported).map((c) => c.spec.name);
        if (reported.length) log(`${rt.label}: container(s) ${reported.join(", ")}: image(s) the lab does not run; only reported running`);
    }

    /** The pod's sandbox: its network namespace and address (CNI), taken over when one was left by an earlier start. */
    private async sandbox(rt: PodRt): Promise<Sandbox> {
        const { namespace, name } = rt.pod.metadata;
        // a pod without a network namespace of its own still has a sandbox (docker's pause container): an id docker can remove
        const id = () => crypto.randomBytes(32).toString("hex");
        if (rt.hostNetwork) return { id: id(), netns: "", ip: this.o.nodeIP };
        if (this.o.networkPlugin !== "cni") {
            const ip = this.o.ips.get(rt.uid);
            if (!ip) throw new NetworkError("the node has no pod CIDR yet (or it is full)");
            return { id: id(), netns: "", ip };
        }
        const recFile = path.join(rt.rtDir, "pod.json");
        try {
            const rec = JSON.parse(fs.readFileSync(recFile, "utf8"));
            if (rec.netns && rec.ip && fs.existsSync(netnsPath(rec.netns))) {
                log(`${rt.label}: sandbox ${rec.netns} (${rec.ip}) taken over from an earlier start`);
                return { id: rec.sandboxID, netns: rec.netns, ip: rec.ip };
            }
        } catch {
            /* none */
        }
        const net = defaultNetwork(this.o.cniConfDir);
        if (!net)
            throw new NetworkError(
                `network plugin is not ready: cni config uninitialized (no network configuration in ${this.o.cniConfDir})`,
            );
        const sb: Sandbox = { id: id(), netns: `cni-${rt.uid}`, ip: "" };
        const cni: CniPod = { namespace, name, id: sb.id, netns: netnsPath(sb.netns) };
        if (fs.existsSync(cni.netns)) ip(["netns", "delete", sb.netns]);
        const add = ip(["netns", "add", sb.netns]);
        if (!add.ok) throw new Error(`ip netns add ${sb.netns}: ${add.out}`);
        try {
            const r = await addPod(this.o.cniBinDir, net, cni);
            sb.ip =
                r.ip ?? /inet (\d+\.\d+\.\d+\.\d+)/.exec(ip(["-n", sb.netns, "-4", "-o", "addr", "show", "dev", "eth0"]).out)?.[1] ?? "";
            if (!sb.ip) throw new Error(`network ${net.name} gave eth0 no IPv4 address`);
        } catch (e) {
            await delPod(this.o.cniBinDir, net, cni).catch(() => undefined);
            ip(["netns", "delete", sb.netns]);
            throw new NetworkError(`failed to set up pod "${name}_${namespace}" network: ${errText(e)}`);
        }
        fs.mkdirSync(rt.rtDir, { recursive: true, mode: 0o700 });
        fs.writeFileSync(
            recFile,
            JSON.stringify({
                namespace,
                name,
                uid: rt.uid,
                netns: sb.netns,
                netnsPath: netnsPath(sb.netns),
                ip: sb.ip,
                sandboxID: sb.id,
                network: net.name,
            }),
        );
        log(`${rt.label}: sandbox ${sb.netns}: network ${net.name} (${path.basename(net.file)}) gave it ${sb.ip}`);
        return sb;
    }

    /** The pod's volumes: name → the host path mounted for it. */
    private async volumes(rt: PodRt, client: Client): Promise<Map<string, string>> {
        const out = new Map<string, string>();
        const ns = rt.pod.metadata.namespace;
        for (const v of (rt.pod.spec?.volumes ?? []) as any[]) {
            const plugin = (kind: string) => path.join(rt.dir, "volumes", `kubernetes.io~${kind}`, v.name);
            if (v.hostPath) {
                out.set(v.name, this.hostPath(rt, v));
            } else if (v.emptyDir) {
                const d = plugin("empty-dir");
                fs.mkdirSync(d, { recursive: true, mode: 0o777 });
                out.set(v.name, d);
            } else if (v.secret || v.configMap) {
                const isSecret = !!v.secret;
                const src = v.secret ?? v.configMap;
                const objName = isSecret ? src.secretName : src.name;
                const kind = isSecret ? "secrets" : "configmaps";
                let obj: any;
                try {
                    obj = await client.request<any>("GET", `/api/v1/namespaces/${ns}/${kind}/${objName}`);
                } catch (e) {
                    if (!src.optional) throw new Error(`volume ${v.name}: ${kind.slice(0, -1)} ${ns}/${objName}: ${errText(e)}`);
                    obj = { data: {} };
                }
                const data: Record<string, Buffer> = {};
                for (const [k, val] of Object.entries<string>(obj?.data ?? {})) data[k] = isSecret ? b64(val) : Buffer.from(val);
                for (const [k, val] of Object.entries<string>(obj?.binaryData ?? {})) data[k] = b64(val);
                const d = plugin(isSecret ? "secret" : "configmap");
                fs.rmSync(d, { recursive: true, force: true });
                fs.mkdirSync(d, { recursive: true, mode: 0o755 });
                const mode = Number(src.defaultMode ?? 0o644);
                const items: any[] = src.items ?? Object.keys(data).map((key) => ({ key, path: key }));
                for (const it of items) {
                    if (!(it.key in data)) {
                        if (src.optional) continue;
                        throw new Error(`volume ${v.name}: no key ${it.key} in ${ns}/${objName}`);
                    }
                    const f = path.join(d, it.path);
                    fs.mkdirSync(path.dirname(f), { recursive: true });
                    fs.writeFileSync(f, data[it.key], { mode: Number(it.mode ?? mode) });
                }
                out.set(v.name, d);
            } else if (v.downwardAPI) {
                const d = plugin("downward-api");
                fs.mkdirSync(d, { recursive: true });
                const fields = podFields(rt.pod, this.o.nodeName, this.o.nodeIP, rt.sandbox?.ip ?? "");
                for (const it of (v.downwardAPI.items ?? []) as any[]) {
                    const fp = it.fieldRef?.fieldPath;
                    let text = fp && fields[fp] !== undefined ? fields[fp] : "";
                    if (fp === "metadata.labels" || fp === "metadata.annotations") {
                        const m: Record<string, string> = rt.pod.metadata[fp.split(".")[1]] ?? {};
                        text = Object.entries(m)
                            .map(([k, val]) => `${k}=${JSON.stringify(val)}`)
                            .join("\n");
                    }
                    fs.writeFileSync(path.join(d, it.path), text);
                }
                out.set(v.name, d);
            } else {
                // any other kind (persistent volumes, ...): an empty directory, said once
                const d = plugin("unsupported");
                fs.mkdirSync(d, { recursive: true });
                log(
                    `${rt.label}: volume ${v.name}: its kind (${Object.keys(v).filter((k) => k !== "name")}) is not supported here; an empty directory`,
                );
                out.set(v.name, d);
            }
        }
        return out;
    }

    /** A hostPath volume's source: made when the type asks (or, as docker does, when it is missing), inside the host's private directories only. */
    private hostPath(rt: PodRt, v: any): string {
        const p = String(v.hostPath.path);
        const type = String(v.hostPath.type ?? "");
        const mayMake = PRIVATE_DIRS.some((d) => `${p}/`.startsWith(d));
        if (fs.existsSync(p)) return p;
        if (type === "Directory" || type === "File" || type === "Socket" || type === "CharDevice" || type === "BlockDevice")
            throw new Error(`volume ${v.name}: hostPath ${p} does not exist (type ${type})`);
        if (mayMake) {
            if (type === "FileOrCreate") {
                fs.mkdirSync(path.dirname(p), { recursive: true });
                fs.writeFileSync(p, "", { flag: "a" });
            } else fs.mkdirSync(p, { recursive: true });
            return p;
        }
        const d = path.join(rt.dir, "volumes", "kubernetes.io~host-path-missing", v.name);
        fs.mkdirSync(d, { recursive: true });
        log(
            `${rt.label}: volume ${v.name}: hostPath ${p} is not on this host and outside its private directories; an empty directory in its place`,
        );
        return d;
    }

    private async servicesList(client: Client): Promise<any[]> {
        if (Date.now() - this.services.at < 2000) return this.services.items;
        try {
            const list = await client.request<any>("GET", "/api/v1/services");
            this.services = { at: Date.now(), items: list.items ?? [] };
        } catch (e) {
            log(`services not listed (no service variables this time): ${errText(e)}`);
        }
        return this.services.items;
    }

    /** resolv.conf, hosts, hostname of the pod, written once into its folder. */
    private podFiles(rt: PodRt): { resolv: string; hosts?: string; hostname?: string } {
        let hostResolv = "";
        try {
            hostResolv = fs.readFileSync("/etc/resolv.conf", "utf8");
        } catch {
            /* none */
        }
        const resolv = path.join(rt.dir, "etc-resolv.conf");
        fs.writeFileSync(resolv, resolvConf(rt.pod, { clusterDNS: this.o.clusterDNS, clusterDomain: this.o.clusterDomain, hostResolv }));
        if (rt.hostNetwork) return { resolv };
        const hosts = path.join(rt.dir, "etc-hosts");
        fs.writeFileSync(hosts, hostsFile(rt.pod, rt.sandbox?.ip ?? ""));
        const hostname = path.join(rt.dir, "etc-hostname");
        fs.writeFileSync(hostname, `${rt.pod.spec?.hostname ?? rt.pod.metadata.name}\n`);
        return { resolv, hosts, hostname };
    }

    private envOf(rt: PodRt, c: any, services: any[]): Record<string, string> {
        const env: Record<string, string> = { PATH: DEFAULT_PATH, HOSTNAME: rt.hostNetwork ? this.hostName() : rt.pod.metadata.name };
        Object.assign(env, servicesEnv(rt.pod.metadata.namespace, services));
        const fields = podFields(rt.pod, this.o.nodeName, this.o.nodeIP, rt.sandbox?.ip ?? "");
        for (const e of (c.env ?? []) as any[]) {
            if (typeof e?.value === "string") env[e.name] = expand(e.value, env);
            else if (e?.valueFrom?.fieldRef && fields[e.valueFrom.fieldRef.fieldPath] !== undefined)
                env[e.name] = fields[e.valueFrom.fieldRef.fieldPath];
            else if (e?.value === undefined && !e?.valueFrom) env[e.name] = "";
        }
        return env;
    }

    private hostName(): string {
        try {
            return fs.readFileSync("/proc/sys/kernel/hostname", "utf8").trim();
        } catch {
            return this.o.nodeName;
        }
    }

    /** The container's plan for container-run.sh, and the command that runs it. */
    private command(rt: PodRt, c: Ctr, volumes: Map<string, string>, files: ReturnType<PodRuntime["podFiles"]>, services: any[]) {
        const spec = c.spec;
        const found = imageFiles(c.image!, this.o.images);
        if ("missing" in found) throw new ImageError(`the lab has no build of image ${spec.image}: ${found.missing}`);
        const env = this.envOf(rt, spec, services);
        const argv = commandLine(c.image!, spec).map((a) => expand(a, env));
        const lines: string[][] = [];
        if (!rt.hostNetwork) lines.push(["hostname", rt.pod.spec?.hostname ?? rt.pod.metadata.name]);
        lines.push(["pidfile", this.pidFile(rt, c)]);
        lines.push(["privileged", spec.securityContext?.privileged ? "1" : "0"]);
        lines.push(["copy", files.resolv, "/etc/resolv.conf"]);
        if (files.hosts) lines.push(["copy", files.hosts, "/etc/hosts"]);
        if (files.hostname) lines.push(["copy", files.hostname, "/etc/hostname"]);
        for (const m of (spec.volumeMounts ?? []) as any[]) {
            let src = volumes.get(m.name);
            if (!src) throw new Error(`container ${spec.name}: volumeMount ${m.name}: no such volume`);
            if (m.subPath) src = path.join(src, m.subPath);
            lines.push(["bind", src, m.mountPath, m.readOnly ? "ro" : "rw"]);
        }
        for (const [at, local] of Object.entries(found.files)) {
            if (!fs.existsSync(local)) throw new ImageError(`the lab has no build of image ${spec.image}: ${local} is missing`);
            lines.push(["file", local, at]);
        }
        for (const [k, val] of Object.entries(env)) lines.push(["env", `${k}=${val}`]);
        lines.push(["wd", spec.workingDir || "/"]);
        for (const a of argv) lines.push(["arg", a]);
        const plan = path.join(rt.rtDir, "containers", `${spec.name}.plan`);
        fs.mkdirSync(path.dirname(plan), { recursive: true, mode: 0o700 });
        fs.writeFileSync(plan, lines.map((l) => l.map(field).join("\t")).join("\n") + "\n", { mode: 0o600 });
        const ns = rt.sandbox?.netns ? ["/usr/bin/nsenter", `--net=${netnsPath(rt.sandbox.netns)}`, "--"] : [];
        const pid = rt.pod.spec?.hostPID ? [] : ["--pid", "--fork", "--kill-child"];
        const unshare = [
            "/usr/bin/unshare",
            "--mount",
            ...(rt.hostNetwork ? [] : ["--uts"]),
            "--ipc",
            ...pid,
            "--propagation",
            "private",
            "--",
        ];
        return { command: [...ns, ...unshare, "/bin/bash", RUNNER, plan], env, argv };
    }

    /** Where container-run.sh writes the container's main pid (PID 1 of its namespace, as the machine sees it). */
    private pidFile(rt: PodRt, c: Ctr): string {
        return path.join(rt.rtDir, "containers", `${c.spec.name}.pid`);
    }

    /** The container's main process (not the unshare the supervisor started it with), 0 when it does not run. */
    containerPid(rt: PodRt, c: Ctr): number {
        const started = c.proc?.child?.pid;
        if (!started || c.proc?.child?.exitCode !== null) return 0;
        try {
            const pid = Number(fs.readFileSync(this.pidFile(rt, c), "utf8").trim());
            const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
            // the container's PID 1 is the unshare's child (or, for a hostPID pod, the started process itself)
            const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
            return pid === started || ppid === started ? pid : 0;
        } catch {
            return 0;
        }
    }

    private record(rt: PodRt, c: Ctr, pid: number, why = ""): void {
        const f = path.join(rt.rtDir, "containers", `${c.spec.name}.json`);
        const restarts = c.proc?.restarts ?? 0;
        const logOf = (n: number) => path.join("/var/log/pods", rt.uid, `${c.spec.name}_${n}.log`);
        try {
            fs.mkdirSync(path.dirname(f), { recursive: true, mode: 0o700 });
            fs.writeFileSync(
                f,
                JSON.stringify({
                    name: c.spec.name,
                    image: c.spec.image,
                    pid,
                    why,
                    log: c.proc ? logOf(restarts) : "",
                    previousLog: c.proc && restarts > 0 ? logOf(restarts - 1) : "",
                    restartCount: restarts,
                }),
            );
        } catch (e) {
            log(`${rt.label}: container ${c.spec.name}: record not written: ${errText(e)}`);
        }
    }

    private procOf(
        rt: PodRt,
        c: Ctr,
        volumes: Map<string, string>,
        files: ReturnType<PodRuntime["podFiles"]>,
        services: any[],
        restart: (code: number | null) => boolean,
    ): Proc {
        const { command } = this.command(rt, c, volumes, files, services);
        const grace = Number(rt.pod.spec?.terminationGracePeriodSeconds ?? 30);
        const proc = newProc({
            label: rt.label,
            name: String(c.spec.name),
            image: String(c.spec.image),
            command,
            env: { PATH: DEFAULT_PATH },
            inheritEnv: false,
            cwd: "/",
            logFile: path.join("/var/log/pods", rt.uid, `${c.spec.name}_0.log`),
            criLogFile: (n) => path.join("/var/log/pods", rt.uid, `${c.spec.name}_${n}.log`),
            onPid: (pid) => {
                if (!pid) {
                    fs.rmSync(this.pidFile(rt, c), { force: true });
                    this.record(rt, c, 0, "the container's process has exited");
                    this.o.onChange();
                    return;
                }
                // the container's own pid, once container-run.sh has written it (bounded: 10 s)
                void (async () => {
                    for (let i = 0; i < 100; i++) {
                        const p = this.containerPid(rt, c);
                        if (p) {
                            this.record(rt, c, p);
                            this.o.onChange();
                            return;
                        }
                        if (c.proc?.child?.pid !== pid || c.proc?.child?.exitCode !== null) return;
                        await sleep(100);
                    }
                    log(`${rt.label}: container ${c.spec.name}: no pid written by container-run.sh within 10 s`);
                })();
            },
            restart,
            graceSeconds: grace,
        });
        return proc;
    }

    /** An init container, to completion (a failed one again with the back-off). */
    private async runInit(
        rt: PodRt,
        c: Ctr,
        volumes: Map<string, string>,
        files: ReturnType<PodRuntime["podFiles"]>,
        services: any[],
    ): Promise<void> {
        if (c.reported) {
            c.completed = true;
            this.record(rt, c, 0, `image ${c.spec.image} is not one the lab runs: reported completed`);
            return;
        }
        let done!: () => void;
        const finished = new Promise<void>((r) => (done = r));
        c.proc = this.procOf(rt, c, volumes, files, services, (code) => {
            if (code === 0) {
                c.completed = true;
                log(`${rt.label}: init container ${c.spec.name} completed`);
                done();
                return false;
            }
            return true;
        });
        this.o.supervisor.run(c.proc);
        while (!c.completed && !rt.stopped) await Promise.race([finished, sleep(1000)]);
    }

    private runContainer(
        rt: PodRt,
        c: Ctr,
        volumes: Map<string, string>,
        files: ReturnType<PodRuntime["podFiles"]>,
        services: any[],
    ): void {
        if (c.reported) {
            this.record(
                rt,
                c,
                0,
                `image ${c.spec.image} is not one the lab runs (no container runtime): the container is only reported running`,
            );
            return;
        }
        // restartPolicy: Always (the default) starts it again whatever its exit; OnFailure unless it
        // exited 0; Never not at all. A container not started again is terminated.
        const policy = String(rt.pod.spec?.restartPolicy ?? "Always");
        const restart = (code: number | null) => {
            const again = policy === "Always" || (policy === "OnFailure" && code !== 0);
            if (!again) {
                c.terminated = { exitCode: code ?? 137, finishedAt: new Date().toISOString().replace(/\.\d+Z$/, "Z") };
                log(`${rt.label}: container ${c.spec.name} terminated (exit ${c.terminated.exitCode}; restartPolicy ${policy})`);
            }
            return again;
        };
        try {
            c.proc = this.procOf(rt, c, volumes, files, services, restart);
        } catch (e) {
            c.waiting = { reason: e instanceof ImageError ? "ErrImagePull" : "CreateContainerConfigError", message: errText(e) };
            this.record(rt, c, 0, errText(e));
            throw e;
        }
        const target = {
            podIP: rt.sandbox?.ip ?? this.o.nodeIP,
            ports: (c.spec.ports ?? []) as any[],
            pid: () => this.containerPid(rt, c),
        };
        const probesWork = !!rt.sandbox?.netns || rt.hostNetwork;
        if (c.spec.readinessProbe && probesWork)
            c.readiness = new Prober(c.spec.readinessProbe, target, "readiness", (ok, msg) => {
                log(`${rt.label}: container ${c.spec.name}: readiness probe ${ok ? "succeeded" : `failed: ${msg}`}`);
                this.o.onChange();
            });
        if (c.spec.livenessProbe && probesWork)
            c.liveness = new Prober(c.spec.livenessProbe, target, "liveness", (ok, msg) => {
                if (ok || rt.stopped) return;
                log(`${rt.label}: container ${c.spec.name}: liveness probe failed (${msg}); restarting it`);
                const p = c.proc?.child?.pid;
                if (p)
                    try {
                        process.kill(-p, "SIGKILL");
                    } catch {
                        /* gone */
                    }
            });
        this.o.supervisor.run(c.proc);
    }

    // --- stop ---------------------------------------------------------------------------------

    /** The pod's containers stopped, its sandbox and folders removed: it is gone from the node. */
    async stop(uid: string, why: string): Promise<void> {
        const done = this.stopOne(uid, why);
        this.stops.add(done);
        try {
            await done;
        } finally {
            this.stops.delete(done);
        }
    }

    private async stopOne(uid: string, why: string): Promise<void> {
        this.ended.add(uid);
        const rt = this.pods.get(uid);
        if (rt) {
            rt.stopped = true;
            this.pods.delete(uid);
            log(`${rt.label}: stopping its containers (${why})`);
            await this.stopProcs(rt);
        }
        await this.teardown(uid, rt?.label ?? `pod ${uid}`);
        this.o.ips.release(uid);
    }

    private async stopProcs(rt: PodRt): Promise<void> {
        for (const c of rt.ctrs) {
            c.readiness?.stop();
            c.liveness?.stop();
        }
        await Promise.all(rt.ctrs.filter((c) => c.proc).map((c) => this.o.supervisor.stop(c.proc!)));
    }

    /** CNI DEL and the network namespace deleted, the pod's folders removed. */
    private async teardown(uid: string, label: string): Promise<void> {
        const rtDir = this.rtDirOf(uid);
        let rec: any;
        try {
            rec = JSON.parse(fs.readFileSync(path.join(rtDir, "pod.json"), "utf8"));
        } catch {
            rec = undefined;
        }
        if (rec?.netns) {
            const net = defaultNetwork(this.o.cniConfDir);
            if (net && fs.existsSync(netnsPath(rec.netns))) {
                try {
                    await delPod(this.o.cniBinDir, net, {
                        namespace: rec.namespace,
                        name: rec.name,
                        id: rec.sandboxID,
                        netns: netnsPath(rec.netns),
                    });
                } catch (e) {
                    log(`${label}: CNI DEL: ${errText(e)}`);
                }
            }
            if (fs.existsSync(netnsPath(rec.netns))) {
                const r = ip(["netns", "delete", rec.netns]);
                if (!r.ok) log(`${label}: ip netns delete ${rec.netns}: ${r.out}`);
            }
            log(`${label}: sandbox ${rec.netns} (${rec.ip}) removed`);
        }
        fs.rmSync(rtDir, { recursive: true, force: true });
        fs.rmSync(path.join(this.o.rootDir, "pods", uid), { recursive: true, force: true });
        fs.rmSync(path.join("/var/log/pods", uid), { recursive: true, force: true });
    }

    /** Sandboxes of pods no longer bound to the node (left by an earlier start) removed. */
    async sweep(bound: Set<string>): Promise<void> {
        let uids: string[] = [];
        try {
            uids = fs.readdirSync(path.join(this.o.rootDir, "kubelet-standin", "runtime", "pods"));
        } catch {
            return;
        }
        for (const uid of uids) if (!bound.has(uid) && !this.pods.has(uid)) await this.teardown(uid, `pod ${uid} (no longer bound here)`);
    }

    /** The kubelet stops: every container stops; the sandboxes stay for the next start (or docker rm). */
    async stopAll(why: string): Promise<void> {
        this.stopping = true;
        await Promise.all(
            [...this.pods.values()].map(async (rt) => {
                rt.stopped = true;
                log(`${rt.label}: stopping its containers (${why}); its sandbox stays`);
                await this.stopProcs(rt);
                for (const c of rt.ctrs) if (c.proc) this.record(rt, c, 0, why);
            }),
        );
        // a pod deleted just before is still stopping: the kubelet stops once its containers are gone too
        await Promise.all([...this.stops].map((p) => p.catch(() => undefined)));
    }
}

export class NetworkError extends Error {}
class ImageError extends Error {}
