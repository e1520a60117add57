// The programs of known images (images.ts) for the API pods bound to this node: each container
// whose image is in IMAGE_PROGRAMS runs as a local process (processes.ts: log file, restart with
// back-off, SIGTERM/SIGKILL when stopped), with the credentials a real pod's container gets: the
// token Secret of its ServiceAccount (the volume mounted at /var/run/secrets/kubernetes.io/
// serviceaccount, read through the API with the node's credentials, which 1.9's Node authorizer
// allows for secrets of pods bound to the node) written where a 1.9 kubelet puts a secret volume
// (<root-dir>/pods/<uid>/volumes/kubernetes.io~secret/<volume>/{token,ca.crt,namespace}), and a
// kubeconfig with that token, the cluster CA and the API server address the kubelet itself uses
// (in the lab the Service address 10.96.0.1 of in-cluster config leads nowhere: there is no
// kube-proxy dataplane). The process is stopped when the pod is deleted, finishes, or the kubelet stops.
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { Client, errText, log } from "./api";
import { IMAGE_PROGRAMS } from "./images";
import { ContainerState, newProc, Proc, stateOf, Supervisor } from "./processes";

export const SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface PodProgramsOptions {
    supervisor: Supervisor;
    /** <dir>/<namespace>_<pod>/<container>.log */
    logDir: string;
    /** the kubelet's --root-dir: pods/<uid>/ holds each pod's secret volume and kubeconfig */
    rootDir: string;
    nodeName: string;
    nodeIP: string;
}

interface Running {
    label: string;
    dir: string;
    procs: Proc[];
}

const b64 = (s: unknown) => Buffer.from(String(s ?? ""), "base64");

export class PodPrograms {
    private running = new Map<string, Running>(); // pod uid ->
    private failed = new Map<string, { at: number; state: ContainerState[] }>();
    /** pods whose programs were stopped (deleted, finished): never started again; all, once the kubelet stops */
    private ended = new Set<string>();
    private stopping = false;

    constructor(private readonly o: PodProgramsOptions) {}

    /** Whether the pod has a container of a known image. */
    wants(pod: any): boolean {
        return ((pod.spec?.containers ?? []) as any[]).some((c) => IMAGE_PROGRAMS[c.image]);
    }

    /**
     * The states of the pod's program containers, starting them first if they do not run yet.
     * Undefined for a pod without a known image.
     */
    async ensure(pod: any, client: Client, podIP: string): Promise<ContainerState[] | undefined> {
        if (!this.wants(pod)) return undefined;
        const uid = pod.metadata.uid;
        const have = this.running.get(uid);
        if (have) return have.procs.map(stateOf);
        if (this.stopping || this.ended.has(uid)) return [];
        const failed = this.failed.get(uid);
        if (failed && Date.now() - failed.at < 5_000) return failed.state;
        try {
            const r = await this.start(pod, client, podIP);
            this.failed.delete(uid);
            return r.procs.map(stateOf);
        } catch (e) {
            const { namespace: ns, name } = pod.metadata;
            const message = errText(e);
            log(`pod ${ns}/${name}: program not started (again in 5 s): ${message}`);
            const state = ((pod.spec.containers ?? []) as any[])
                .filter((c) => IMAGE_PROGRAMS[c.image])
                .map((c) => ({
                    name: String(c.name),
                    image: String(c.image),
                    running: false,
                    restarts: 0,
                    waiting: { reason: "CreateContainerConfigError", message },
                }));
            this.failed.set(uid, { at: Date.now(), state });
            return state;
        }
    }

    private async start(pod: any, client: Client, podIP: string): Promise<Running> {
        const { namespace: ns, name, uid } = pod.metadata;
        const dir = path.join(this.o.rootDir, "pods", uid);
        const label = `pod ${ns}/${name}`;
        const run: Running = { label, dir, procs: [] };
        const server = new URL(client.creds.server);
        const grace = Number(pod.spec.terminationGracePeriodSeconds ?? 30);
        for (const c of pod.spec.containers as any[]) {
            const program = IMAGE_PROGRAMS[c.image];
            if (!program) continue;
            const kubeconfig = await this.credentials(pod, c, client, dir);
            const env: Record<string, string> = {
                PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
                // a container's host name is its pod's name (docker also sets HOSTNAME)
                HOSTNAME: name,
                // as in-cluster config reads them, but the kubelet's own API server address (see above)
                KUBERNETES_SERVICE_HOST: server.hostname.replace(/^\[|\]$/g, ""),
                KUBERNETES_SERVICE_PORT: server.port || "443",
            };
            const fields: Record<string, string> = {
                "metadata.name": name,
                "metadata.namespace": ns,
                "spec.nodeName": this.o.nodeName,
                "status.hostIP": this.o.nodeIP,
                "status.podIP": podIP,
            };
            for (const e of c.env ?? []) {
                if (typeof e?.value === "string") env[e.name] = e.value;
                else if (fields[e?.valueFrom?.fieldRef?.fieldPath] !== undefined) env[e.name] = fields[e.valueFrom.fieldRef.fieldPath];
            }
            run.procs.push(
                newProc({
                    label,
                    name: String(c.name),
                    image: String(c.image),
                    command: program.command({ pod, container: c, kubeconfig }),
                    env,
                    inheritEnv: false,
                    cwd: c.workingDir || "/",
                    logFile: path.join(this.o.logDir, `${ns}_${name}`, `${c.name}.log`),
                    graceSeconds: grace,
                }),
            );
            log(
                `${label}: container ${c.name} (image ${c.image}) runs ${program.what}, with the token of ServiceAccount ${pod.spec.serviceAccountName ?? "default"}`,
            );
        }
        if (this.stopping || this.ended.has(uid)) {
            fs.rmSync(dir, { recursive: true, force: true });
            return run; // stopped while its credentials were read
        }
        this.running.set(uid, run);
        for (const p of run.procs) this.o.supervisor.run(p);
        return run;
    }

    /**
     * The container's ServiceAccount token volume, read from the API and written as a secret
     * volume; a kubeconfig with it, for the program. Returns the kubeconfig's path.
     */
    private async credentials(pod: any, c: any, client: Client, dir: string): Promise<string> {
        const mount = ((c.volumeMounts ?? []) as any[]).find((m) => m.mountPath === SA_MOUNT);
        if (!mount) throw new Error(`container ${c.name} mounts no ServiceAccount token at ${SA_MOUNT}`);
        const secretName = ((pod.spec.volumes ?? []) as any[]).find((v) => v.name === mount.name)?.secret?.secretName;
        if (!secretName) throw new Error(`volume ${mount.name} of container ${c.name} is not a secret volume`);
        const secret = await client.request<any>("GET", `/api/v1/namespaces/${pod.metadata.namespace}/secrets/${secretName}`);
        if (!secret?.data?.token) throw new Error(`secret ${pod.metadata.namespace}/${secretName} has no token (yet)`);
        const volDir = path.join(dir, "volumes", "kubernetes.io~secret", mount.name);
        fs.mkdirSync(volDir, { recursive: true, mode: 0o700 });
        fs.chmodSync(dir, 0o700);
        for (const [k, v] of Object.entries<string>(secret.data)) fs.writeFileSync(path.join(volDir, k), b64(v), { mode: 0o600 });
        const kubeconfig = path.join(dir, `${c.name}.kubeconfig`);
        const user = `system:serviceaccount:${pod.metadata.namespace}:${pod.spec.serviceAccountName ?? "default"}`;
        const doc = {
            apiVersion: "v1",
            kind: "Config",
            clusters: [{ name: "cluster", cluster: { server: client.creds.server, "certificate-authority": path.join(volDir, "ca.crt") } }],
            users: [{ name: user, user: { tokenFile: path.join(volDir, "token") } }],
            contexts: [{ name: "in-cluster", context: { cluster: "cluster", user } }],
            "current-context": "in-cluster",
        };
        fs.writeFileSync(kubeconfig, YAML.stringify(doc), { mode: 0o600 });
        return kubeconfig;
    }

    /** Stops the pod's processes and removes its credentials. */
    async stop(uid: string, why: string): Promise<void> {
        this.failed.delete(uid);
        this.ended.add(uid);
        const run = this.running.get(uid);
        if (!run) return;
        this.running.delete(uid);
        log(`${run.label}: stopping its programs (${why})`);
        await Promise.all(run.procs.map((p) => this.o.supervisor.stop(p)));
        fs.rmSync(run.dir, { recursive: true, force: true });
    }

    async stopAll(why: string): Promise<void> {
        this.stopping = true;
        await Promise.all([...this.running.keys()].map((uid) => this.stop(uid, why)));
    }
}
