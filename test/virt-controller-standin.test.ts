// The virt-controller stand-in (harness/standins/virt-controller) against a real Kubernetes
// v1.9.4 control plane: etcd, kube-apiserver (the insecure port 127.0.0.1:8080 for the test and
// the controller-manager; the secure port 127.0.0.1:6443 with a client certificate, through a
// kubeconfig like kubeadm's admin.conf, for the stand-in) and kube-controller-manager (its
// garbage collector), all inside a private network namespace
// (kvl_virtctl_test_<pid>), with the real CRDs of KubeVirt v0.4.1 and the lab's two OfflineVirtualMachines
// and Services as components/workload.ts renders them. No kubelet and no scheduler run: the test
// binds the pods and sets their status the way those would. This process talks to the API only
// through a kubectl proxy on a unix socket opened inside the namespace, so no packet leaves it.
//
// Skipped, with the reason, where the binaries are not built (`harness/kubernetes.sh --check`) or
// network namespaces cannot be made (needs root and iproute2).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import type { WorkloadSettings } from "../components/config";
import { workloadObjects } from "../components/workload";
import {
    formatQuantity,
    launcherPod,
    memoryOverheadBytes,
    parseQuantity,
    uuidV5,
    vmFromOvm,
} from "../harness/standins/virt-controller/render";

const repo = path.resolve(__dirname, "..");
/**
 * The namespace: kvl_virtctl_test_<pid>. Not "kvl-virtctl-test": `harness/simlab.sh down` of the
 * default lab (kvl), when its run folder is gone, takes down every namespace named kvl-<a-z...>;
 * and the pid keeps two runs of this file (two `npm test`s on one machine) apart.
 */
const NETNS_PREFIX = "kvl_virtctl_test_";
const NETNS = `${NETNS_PREFIX}${process.pid}`;
/** The real v0.4.1 release manifest, from the release sources beside the repository (../shared). */
const KUBEVIRT_YAML = path.join(__dirname, "..", "..", "shared", "upstream", "manifests", "kubevirt-v0.4.1", "kubevirt.yaml");
const LAB_NS = "nodejs-ex";
const NODES = { nodejs: "kn1.virtomation.com", mongodb: "kn2.virtomation.com" } as const;
type Vm = keyof typeof NODES;
const KV = "/apis/kubevirt.io/v1alpha1";

// --- can it run here? --------------------------------------------------------------------------

function skipReason(): string | false {
    const check = spawnSync("bash", [path.join(repo, "harness", "kubernetes.sh"), "--check"], { encoding: "utf8", timeout: 30_000 });
    if (check.status !== 0) {
        return `the Kubernetes v1.9.4 binaries are not in the cache (${check.stderr.trim() || `--check exited ${check.status}`}); run harness/kubernetes.sh to build them`;
    }
    if (process.getuid?.() !== 0) return "network namespaces need root (ip netns add)";
    if (spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).status !== 0) return "no iproute2 `ip netns` here";
    if (spawnSync("openssl", ["version"], { encoding: "utf8" }).status !== 0)
        return "no openssl here (the test makes the certificates of its API server)";
    if (!fs.existsSync(KUBEVIRT_YAML)) return `${KUBEVIRT_YAML} (the KubeVirt v0.4.1 manifest) is missing`;
    return false;
}
const skip = skipReason();

function k8sBin(): string {
    const r = spawnSync("bash", [path.join(repo, "harness", "kubernetes.sh"), "--print-env"], { encoding: "utf8", timeout: 30_000 });
    const m = /^export KUBEVIRT_LAB_K8S_BIN=(.+)$/m.exec(r.stdout);
    if (r.status !== 0 || !m) throw new Error(`harness/kubernetes.sh --print-env: ${r.stderr}`);
    return m[1].trim();
}

// --- helpers -----------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns a value other than undefined/false; fails after `ms` with `what`. */
async function waitFor<T>(what: string, ms: number, fn: () => Promise<T | undefined | false>): Promise<T> {
    const deadline = Date.now() + ms;
    let last: unknown;
    for (;;) {
        try {
            const v = await fn();
            if (v !== undefined && v !== false) return v as T;
        } catch (e) {
            last = e;
        }
        if (Date.now() > deadline)
            throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ""}`);
        await sleep(150);
    }
}

interface Answer {
    status: number;
    body: any;
}

let socketPath = "";

/** One request to the API server through the kubectl proxy's unix socket. */
function api(method: string, p: string, body?: unknown, contentType = "application/json"): Promise<Answer> {
    return new Promise((resolve, reject) => {
        const data = body === undefined ? undefined : JSON.stringify(body);
        const req = http.request(
            {
                socketPath,
                path: p,
                method,
                headers: {
                    Host: "localhost",
                    Accept: "application/json",
                    ...(data ? { "Content-Type": contentType, "Content-Length": Buffer.byteLength(data) } : {}),
                },
            },
            (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (c) => chunks.push(c));
                res.on("end", () => {
                    const text = Buffer.concat(chunks).toString("utf8");
                    let json: any = text;
                    try {
                        json = text ? JSON.parse(text) : undefined;
                    } catch {
                        /* not JSON */
                    }
                    resolve({ status: res.statusCode ?? 0, body: json });
                });
            },
        );
        req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${p}: no answer in 10 s`)));
        req.on("error", reject);
        if (data) req.write(data);
        req.end();
    });
}

async function ok(method: string, p: string, body?: unknown, contentType?: string): Promise<any> {
    const r = await api(method, p, body, contentType);
    if (r.status < 200 || r.status >= 300) throw new Error(`${method} ${p}: HTTP ${r.status}: ${JSON.stringify(r.body).slice(0, 400)}`);
    return r.body;
}
const get = (p: string) => ok("GET", p);
const mergePatch = (p: string, body: unknown) => ok("PATCH", p, body, "application/merge-patch+json");
const q = (o: Record<string, string>) => "?" + new URLSearchParams(o).toString();

const launcherPods = async (vm: string): Promise<any[]> =>
    (await get(`/api/v1/namespaces/${LAB_NS}/pods${q({ labelSelector: `kubevirt.io=virt-launcher,kubevirt.io/domain=${vm}` })}`)).items;
const getVm = async (name: string): Promise<any | undefined> => {
    const r = await api("GET", `${KV}/namespaces/${LAB_NS}/virtualmachines/${name}`);
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw new Error(`GET vm ${name}: HTTP ${r.status}`);
    return r.body;
};
const getOvm = (name: string) => get(`${KV}/namespaces/${LAB_NS}/offlinevirtualmachines/${name}`);

/**
 * What a kubelet does for a pod being deleted once its containers have stopped: the final delete.
 * (Without a kubelet a bound pod with a grace period stays Terminating.)
 */
async function kubeletFinishDeletions(): Promise<void> {
    const pods = (await get(`/api/v1/namespaces/${LAB_NS}/pods${q({ labelSelector: "kubevirt.io=virt-launcher" })}`)).items;
    for (const p of pods) {
        if (p.metadata.deletionTimestamp)
            await api("DELETE", `/api/v1/namespaces/${LAB_NS}/pods/${p.metadata.name}?gracePeriodSeconds=0`, {
                kind: "DeleteOptions",
                apiVersion: "v1",
                gracePeriodSeconds: 0,
            });
    }
}

const isoNow = () => new Date().toISOString().replace(/\.\d+Z$/, "Z");

/** The scheduler's and the kubelet's part for one pod: bound to its node, then Running with all containers ready. */
async function runPod(pod: any, node: string, ip: string): Promise<void> {
    await ok("POST", `/api/v1/namespaces/${LAB_NS}/pods/${pod.metadata.name}/binding`, {
        apiVersion: "v1",
        kind: "Binding",
        metadata: { name: pod.metadata.name, namespace: LAB_NS },
        target: { apiVersion: "v1", kind: "Node", name: node },
    });
    const now = isoNow();
    const status = {
        phase: "Running",
        hostIP: "198.51.100.31", // documentation addresses: only written into the API, never dialled
        podIP: ip,
        startTime: now,
        conditions: [
            { type: "Initialized", status: "True", lastTransitionTime: now },
            { type: "Ready", status: "True", lastTransitionTime: now },
            { type: "PodScheduled", status: "True", lastTransitionTime: now },
        ],
        containerStatuses: pod.spec.containers.map((c: any) => ({
            name: c.name,
            ready: true,
            restartCount: 0,
            image: c.image,
            imageID: `docker-pullable://${c.image}`,
            containerID: `docker://${createHash("sha256")
                .update(pod.metadata.name + c.name)
                .digest("hex")}`,
            state: { running: { startedAt: now } },
        })),
    };
    // The binding has just written the pod's PodScheduled condition: 1.9 may answer a patch of the
    // status right after it with 409 ("meaningful conflict"); the kubelet tries again, and so does this.
    await waitFor(`the status of pod ${pod.metadata.name} written`, 5_000, async () => {
        const r = await api(
            "PATCH",
            `/api/v1/namespaces/${LAB_NS}/pods/${pod.metadata.name}/status`,
            { status },
            "application/merge-patch+json",
        );
        if (r.status === 409) return false;
        if (r.status !== 200) throw new Error(`PATCH pod status: HTTP ${r.status}: ${JSON.stringify(r.body).slice(0, 300)}`);
        return true;
    });
}

/**
 * A CA, a serving certificate for 127.0.0.1 and an admin client certificate (CN kubernetes-admin,
 * O system:masters, as kubeadm's admin.conf has), and a kubeconfig like admin.conf with them.
 */
function makePki(dir: string, server: string): string {
    fs.mkdirSync(dir, { recursive: true });
    const f = (n: string) => path.join(dir, n);
    const openssl = (args: string[]) => {
        const r = spawnSync("openssl", args, { encoding: "utf8", timeout: 20_000 });
        if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
    };
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl(["req", "-x509", ...ec, "-keyout", f("ca.key"), "-out", f("ca.crt"), "-days", "1", "-subj", "/CN=kvl-virtctl-test-ca"]);
    const leaf = (name: string, subj: string, ext: string) => {
        fs.writeFileSync(f(`${name}.ext`), ext);
        openssl(["req", ...ec, "-keyout", f(`${name}.key`), "-out", f(`${name}.csr`), "-subj", subj]);
        openssl([
            "x509",
            "-req",
            "-in",
            f(`${name}.csr`),
            "-CA",
            f("ca.crt"),
            "-CAkey",
            f("ca.key"),
            "-CAcreateserial",
            "-out",
            f(`${name}.crt`),
            "-days",
            "1",
            "-extfile",
            f(`${name}.ext`),
        ]);
    };
    leaf("apiserver", "/CN=kube-apiserver", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
    leaf("admin", "/O=system:masters/CN=kubernetes-admin", "extendedKeyUsage=clientAuth\n");
    const b64 = (n: string) => fs.readFileSync(f(n)).toString("base64");
    const kubeconfig = [
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        "- name: kubernetes",
        "  cluster:",
        `    server: ${server}`,
        `    certificate-authority-data: ${b64("ca.crt")}`,
        "contexts:",
        "- name: kubernetes-admin@kubernetes",
        "  context: {cluster: kubernetes, user: kubernetes-admin}",
        "current-context: kubernetes-admin@kubernetes",
        "users:",
        "- name: kubernetes-admin",
        "  user:",
        `    client-certificate-data: ${b64("admin.crt")}`,
        `    client-key-data: ${b64("admin.key")}`,
        "",
    ].join("\n");
    fs.writeFileSync(f("admin.conf"), kubeconfig, { mode: 0o600 });
    return f("admin.conf");
}

// --- pure shapes (no cluster needed) -------------------------------------------------------------

describe("virt-controller stand-in: object shapes of KubeVirt v0.4.1", () => {
    test("memory overhead as services/template.go computes it (its own test: 1G, no CPU → 1099507557)", () => {
        const domain = { resources: { requests: { memory: "1G" } } };
        assert.equal(formatQuantity({ value: parseQuantity("1G").value + memoryOverheadBytes(domain), format: "DecimalSI" }), "1099507557");
        assert.equal(
            launcherPod({ metadata: { name: "t", namespace: "n", uid: "u" }, spec: { domain } }).spec.containers[0].resources.requests
                .memory,
            "1099507557",
        );
        assert.equal(formatQuantity(parseQuantity("8192Ki")), "8Mi");
        assert.equal(formatQuantity(parseQuantity("1.5M")), "1500k");
    });

    test("firmware UUIDs are name-based (SHA-1) UUIDs in v0.4.1's namespace", () => {
        assert.equal(uuidV5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.example.com"), "2ed6657d-e927-568b-95e1-2665a8aea6a2");
        const ovm = {
            metadata: { name: "nodejs", namespace: LAB_NS, uid: "abc" },
            spec: { running: true, template: { metadata: { labels: { app: "nodejs" } }, spec: { domain: {} } } },
        };
        const vm = vmFromOvm(ovm);
        assert.equal(vm.spec.domain.firmware.uuid, "4cbea571-e43b-5940-8870-ce570093b2a0");
        assert.equal(vm.metadata.generateName, "nodejs");
        assert.deepEqual(vm.metadata.ownerReferences, [
            {
                apiVersion: "kubevirt.io/v1alpha1",
                kind: "OfflineVirtualMachine",
                name: "nodejs",
                uid: "abc",
                controller: true,
                blockOwnerDeletion: true,
            },
        ]);
    });
});

// --- against the real control plane ------------------------------------------------------------

describe("virt-controller stand-in against Kubernetes v1.9.4", { skip }, () => {
    const tmp = skip ? "" : fs.mkdtempSync(path.join(os.tmpdir(), "kvl-virtctl-"));
    const procs: Array<{ name: string; child: ChildProcess }> = [];
    let standin: ChildProcess | undefined;
    const logFile = path.join(tmp, "virt-controller.log");
    const standinLog = () => {
        try {
            return fs.readFileSync(logFile, "utf8");
        } catch {
            return "";
        }
    };
    /** Waits for a line of the stand-in's log (it writes each action as it is done). */
    const waitLog = (re: RegExp, ms = 3_000) =>
        waitFor(`a log line ${re}`, ms, async () => re.test(standinLog())).catch((e) => assert.fail(e.message + dump()));
    let bin = "";
    let kubeconfig = "";
    let apiserverArgs: string[] = [];
    // The lab's workload settings, with the VMs running.
    const settings: WorkloadSettings = {
        namespace: LAB_NS,
        vmsRunning: true,
        nodejsVmNode: NODES.nodejs,
        mongodbVmNode: NODES.mongodb,
        vmImage: "kubevirt/fedora-cloud-registry-disk-demo",
        vmSshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKvl0virtctlTestKeyOnlyForTheApiObject kvl@test",
        nodejsSshNodePort: 30022,
        mongodbSshNodePort: 30122,
    };
    let apiserver: ChildProcess | undefined;
    /** the stand-ins of the leader election test */
    const candidates: ChildProcess[] = [];
    const uids: Partial<Record<Vm, string>> = {};

    /** A process inside the namespace, its output in tmp/<name>.log. */
    function inNetns(name: string, file: string, args: string[], opts: { cwd?: string } = {}): ChildProcess {
        const out = fs.openSync(path.join(tmp, `${name}.log`), "a");
        const child = spawn("ip", ["netns", "exec", NETNS, file, ...args], { cwd: opts.cwd ?? tmp, stdio: ["ignore", out, out] });
        fs.closeSync(out);
        procs.push({ name, child });
        return child;
    }

    const logOf = (name: string) => {
        try {
            return fs
                .readFileSync(path.join(tmp, `${name}.log`), "utf8")
                .split("\n")
                .slice(-15)
                .join("\n");
        } catch {
            return "";
        }
    };

    function kubectl(args: string[]): string {
        // HOME: its own discovery cache (~/.kube/cache/discovery/127.0.0.1_8080 is shared by every
        // API server at that address, and one cached before the API groups were served hides them)
        const r = spawnSync("ip", ["netns", "exec", NETNS, path.join(bin, "kubectl"), "--server", "http://127.0.0.1:8080", ...args], {
            encoding: "utf8",
            timeout: 30_000,
            env: { ...process.env, HOME: tmp },
        });
        if (r.status !== 0) throw new Error(`kubectl ${args.join(" ")}: ${r.stderr}`);
        return r.stdout;
    }

    /** Takes a namespace of this test down: the processes inside (this test's own), then the namespace. */
    function removeNetns(ns: string): void {
        const pids = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" }).stdout.split(/\s+/).filter(Boolean).map(Number);
        for (const pid of pids) {
            try {
                process.kill(pid, "SIGKILL");
            } catch {
                /* gone */
            }
        }
        spawnSync("ip", ["netns", "del", ns]);
    }

    /** Namespaces left by runs of this file that were killed (their pid is gone). */
    function removeStale(): void {
        for (const line of spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout.split("\n")) {
            const ns = line.split(" ")[0];
            const m = new RegExp(`^${NETNS_PREFIX}(\\d+)$`).exec(ns);
            if (!m) continue;
            let alive = true;
            try {
                process.kill(Number(m[1]), 0);
            } catch {
                alive = false;
            }
            if (!alive || ns === NETNS) removeNetns(ns);
        }
    }

    /** A virt-controller stand-in inside the namespace with the admin kubeconfig, its output in `log`. */
    function spawnStandin(log: string, args: string[], env: Record<string, string> = {}): ChildProcess {
        const out = fs.openSync(log, "w");
        const child = spawn(
            "ip",
            [
                "netns",
                "exec",
                NETNS,
                process.execPath,
                "--import",
                "tsx",
                "harness/standins/virt-controller/main.ts",
                "--kubeconfig",
                kubeconfig,
                ...args,
            ],
            { cwd: repo, stdio: ["ignore", out, out], env: { ...process.env, ...env } },
        );
        fs.closeSync(out);
        return child;
    }

    before(async () => {
        bin = k8sBin();
        removeStale();
        for (const args of [
            ["netns", "add", NETNS],
            ["netns", "exec", NETNS, "ip", "link", "set", "lo", "up"],
        ]) {
            const r = spawnSync("ip", args, { encoding: "utf8" });
            if (r.status !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr}`);
        }
        inNetns("etcd", path.join(bin, "etcd"), [
            "--name",
            "kvl",
            "--data-dir",
            path.join(tmp, "etcd"),
            "--listen-client-urls",
            "http://127.0.0.1:2379",
            "--advertise-client-urls",
            "http://127.0.0.1:2379",
            "--listen-peer-urls",
            "http://127.0.0.1:2380",
            "--initial-advertise-peer-urls",
            "http://127.0.0.1:2380",
            "--initial-cluster",
            "kvl=http://127.0.0.1:2380",
        ]);
        const pki = path.join(tmp, "pki");
        kubeconfig = makePki(pki, "https://127.0.0.1:6443");
        apiserverArgs = [
            "--etcd-servers=http://127.0.0.1:2379",
            "--advertise-address=127.0.0.1",
            // the insecure port for the test's own calls and the controller-manager; the secure one,
            // with client certificates, for the stand-in
            "--insecure-bind-address=127.0.0.1",
            "--insecure-port=8080",
            "--bind-address=127.0.0.1",
            "--secure-port=6443",
            `--tls-cert-file=${path.join(pki, "apiserver.crt")}`,
            `--tls-private-key-file=${path.join(pki, "apiserver.key")}`,
            `--client-ca-file=${path.join(pki, "ca.crt")}`,
            `--cert-dir=${path.join(tmp, "certs")}`,
            "--service-cluster-ip-range=10.96.0.0/12",
            "--admission-control=NamespaceLifecycle,LimitRanger,DefaultStorageClass,ResourceQuota",
            "--authorization-mode=AlwaysAllow",
            "--allow-privileged=true", // virt-launcher's compute container is privileged (kubeadm allows it too)
        ];
        apiserver = inNetns("kube-apiserver", path.join(bin, "kube-apiserver"), apiserverArgs);
        inNetns("kube-controller-manager", path.join(bin, "kube-controller-manager"), [
            "--master=http://127.0.0.1:8080",
            "--leader-elect=false",
            "--port=0",
        ]);
        socketPath = path.join(tmp, "api.sock");
        inNetns("kubectl-proxy", path.join(bin, "kubectl"), ["--server", "http://127.0.0.1:8080", "proxy", `--unix-socket=${socketPath}`]);

        await waitFor(
            "the API server (through the proxy)",
            30_000,
            async () => (await api("GET", "/api/v1/namespaces/default")).status === 200,
        ).catch((e) => {
            throw new Error(
                `${e.message}\n--- kube-apiserver:\n${logOf("kube-apiserver")}\n--- etcd:\n${logOf("etcd")}\n--- proxy:\n${logOf("kubectl-proxy")}`,
            );
        });

        // The API groups the manifest uses are served a moment after the API server first answers,
        // and listed in the discovery document /apis (what kubectl reads) later still, once the
        // aggregator has registered them; kubectl apply refuses a kind of a group it does not see yet.
        for (const group of ["rbac.authorization.k8s.io/v1beta1", "apiextensions.k8s.io/v1beta1", "extensions/v1beta1"]) {
            await waitFor(`${group} listed in /apis`, 30_000, async () =>
                ((await get("/apis")).groups ?? []).some((g: any) => (g.versions ?? []).some((v: any) => v.groupVersion === group)),
            );
        }
        // The real KubeVirt v0.4.1 manifest: its CRDs are what matter (its pods never run here).
        kubectl(["apply", "-f", KUBEVIRT_YAML]);
        for (const crd of ["virtualmachines", "offlinevirtualmachines", "virtualmachinereplicasets", "virtualmachinepresets"]) {
            await waitFor(`CRD ${crd}.kubevirt.io established`, 10_000, async () => {
                const c = await get(`/apis/apiextensions.k8s.io/v1beta1/customresourcedefinitions/${crd}.kubevirt.io`);
                return (c.status?.conditions ?? []).some((x: any) => x.type === "Established" && x.status === "True");
            });
        }
        await waitFor("kubevirt.io/v1alpha1 served", 10_000, async () => (await api("GET", `${KV}/offlinevirtualmachines`)).status === 200);

        // The nodes the VMs are pinned to (as their kubelets would register them), so that the pod
        // garbage collector does not delete pods bound to them.
        for (const node of Object.values(NODES)) {
            await ok("POST", "/api/v1/nodes", {
                apiVersion: "v1",
                kind: "Node",
                metadata: {
                    name: node,
                    labels: { "kubernetes.io/hostname": node, "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64" },
                },
            });
        }

        // The lab's workload objects, rendered by the lab's own code with the VMs running.
        const objs = workloadObjects(settings, "virtomation.com");
        await ok("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: LAB_NS } });
        for (const svc of objs.services) await ok("POST", `/api/v1/namespaces/${LAB_NS}/services`, svc);
        for (const vm of objs.vms) {
            assert.equal(vm.spec.running, true);
            const created = await ok("POST", `${KV}/namespaces/${LAB_NS}/offlinevirtualmachines`, vm);
            uids[vm.metadata.name as Vm] = created.metadata.uid;
        }

        // The stand-in, inside the namespace, with the kubeconfig's client certificate over https.
        standin = spawnStandin(logFile, []);
    });

    after(async () => {
        const stopAll = async (list: Array<{ name: string; child: ChildProcess }>) => {
            for (const { child } of list) if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
            const deadline = Date.now() + 5_000;
            while (Date.now() < deadline && list.some(({ child }) => child.exitCode === null && child.signalCode === null))
                await sleep(100);
            for (const { child } of list) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
        };
        if (standin) await stopAll([{ name: "virt-controller", child: standin }]);
        await stopAll(candidates.map((child) => ({ name: "virt-controller candidate", child })));
        // Stop the clients first, etcd last.
        await stopAll(procs.filter((p) => p.name !== "etcd" && p.name !== "kube-apiserver"));
        await stopAll(procs.filter((p) => p.name === "kube-apiserver"));
        await stopAll(procs.filter((p) => p.name === "etcd"));
        if (
            spawnSync("ip", ["netns", "list"], { encoding: "utf8" })
                .stdout.split("\n")
                .some((l) => l.split(" ")[0] === NETNS)
        )
            removeNetns(NETNS);
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });

    const dump = () => `\n--- virt-controller stand-in log:\n${standinLog().split("\n").slice(-25).join("\n")}`;

    test("each OfflineVirtualMachine gets its VirtualMachine, owned by it, and a virt-launcher pod pinned as the OVM says", async () => {
        await waitLog(/started .* against https:\/\/127\.0\.0\.1:6443 \(kubeconfig .*admin\.conf, context kubernetes-admin@kubernetes\)/);
        for (const name of Object.keys(NODES) as Vm[]) {
            const vm = await waitFor(`VirtualMachine ${name} in phase Scheduling`, 15_000, async () => {
                const v = await getVm(name);
                return v?.status?.phase === "Scheduling" ? v : undefined;
            }).catch((e) => assert.fail(e.message + dump()));
            const ovm = await getOvm(name);
            assert.deepEqual(vm.metadata.ownerReferences, [
                {
                    apiVersion: "kubevirt.io/v1alpha1",
                    kind: "OfflineVirtualMachine",
                    name,
                    uid: uids[name],
                    controller: true,
                    blockOwnerDeletion: true,
                },
            ]);
            assert.equal(ovm.metadata.uid, uids[name]);
            assert.deepEqual(vm.metadata.labels, ovm.spec.template.metadata.labels, "the VM carries the template's labels");
            assert.equal(vm.metadata.generateName, name);
            assert.equal(vm.metadata.annotations["presets.virtualmachines.kubevirt.io/presets-applied"], "kubevirt.io/v1alpha1");
            assert.deepEqual(vm.spec.nodeSelector, { "kubernetes.io/hostname": NODES[name] });
            assert.equal(
                vm.spec.domain.firmware.uuid,
                uuidV5("6a1a24a1-4061-4607-8bf4-a3963d0c5895", name),
                "a stable firmware UUID from the name",
            );
            assert.deepEqual(vm.spec.domain.features, { acpi: { enabled: true } }, "v0.4.1's defaults");
            assert.deepEqual(vm.spec.volumes, ovm.spec.template.spec.volumes);

            const pods = await waitFor(`one virt-launcher pod for ${name}`, 5_000, async () => {
                const p = await launcherPods(name);
                return p.length === 1 ? p : undefined;
            });
            const pod = pods[0];
            assert.match(pod.metadata.name, new RegExp(`^virt-launcher-${name}-[a-z0-9]{5}$`));
            assert.equal(pod.metadata.generateName, `virt-launcher-${name}-`);
            assert.deepEqual(pod.metadata.labels, {
                "kubevirt.io": "virt-launcher",
                "kubevirt.io/domain": name,
                "kubevirt.io/vmUID": vm.metadata.uid,
            });
            assert.equal(pod.metadata.ownerReferences, undefined, "v0.4.1's pods have no owner; virt-controller deletes them");
            assert.deepEqual(pod.spec.nodeSelector, { "kubernetes.io/hostname": NODES[name] });
            assert.equal(pod.spec.restartPolicy, "Never");
            assert.equal(pod.spec.terminationGracePeriodSeconds, 60);
            assert.deepEqual(pod.spec.securityContext, { runAsUser: 0 });
            assert.deepEqual(
                pod.spec.containers.map((c: any) => c.name),
                [`volume${name}-vol0`, "compute"],
            );
            const disk = pod.spec.containers[0];
            assert.equal(disk.image, "kubevirt/fedora-cloud-registry-disk-demo");
            assert.deepEqual(disk.command, ["/entry-point.sh"]);
            assert.deepEqual(disk.env, [
                {
                    name: "COPY_PATH",
                    value: `/var/run/libvirt/kubevirt-ephemeral-disk/registry-disk-data/${LAB_NS}/${name}/disk_${name}-vol0/disk-image`,
                },
            ]);
            const compute = pod.spec.containers[1];
            assert.equal(compute.image, "kubevirt/virt-launcher:v0.4.1");
            assert.deepEqual(compute.command, [
                "/entrypoint.sh",
                "--qemu-timeout",
                "5m",
                "--name",
                name,
                "--namespace",
                LAB_NS,
                "--kubevirt-share-dir",
                "/var/run/kubevirt",
                "--readiness-file",
                "/tmp/healthy",
                "--grace-period-seconds",
                "45",
            ]);
            assert.deepEqual(compute.securityContext, { privileged: true, runAsUser: 0 });
            // 1024M of guest RAM + 2000000 page tables + 64M + 2 cores × 8Mi + 8Mi + 16Mi
            assert.deepEqual(compute.resources, { requests: { memory: "1131943040" } });
            assert.deepEqual(
                compute.volumeMounts.map((m: any) => `${m.name}:${m.mountPath}`),
                ["virt-share-dir:/var/run/kubevirt", "libvirt-runtime:/var/run/libvirt"],
            );
            assert.deepEqual(
                pod.spec.volumes.map((v: any) => v.name),
                ["virt-share-dir", "libvirt-runtime"],
            );
            assert.equal(pod.status.phase, "Pending", "no kubelet runs it");
        }
        await waitLog(/created VirtualMachine nodejs-ex\/nodejs .*for OfflineVirtualMachine nodejs-ex\/nodejs/);
        await waitLog(
            /created virt-launcher pod nodejs-ex\/virt-launcher-mongodb-\w+ for VirtualMachine nodejs-ex\/mongodb \(nodeSelector kubernetes.io\/hostname=kn2.virtomation.com\)/,
        );
    });

    test("the lab's Services select the virt-launcher pod of their VM", async () => {
        const want: Record<string, Vm> = { nodejs: "nodejs", "nodejs-ssh": "nodejs", mongodb: "mongodb", "mongodb-ssh": "mongodb" };
        for (const [svcName, vm] of Object.entries(want)) {
            const svc = await get(`/api/v1/namespaces/${LAB_NS}/services/${svcName}`);
            const selector = Object.entries<string>(svc.spec.selector)
                .map(([k, v]) => `${k}=${v}`)
                .join(",");
            const pods = (await get(`/api/v1/namespaces/${LAB_NS}/pods${q({ labelSelector: selector })}`)).items;
            assert.deepEqual(
                pods.map((p: any) => p.metadata.labels["kubevirt.io/domain"]),
                [vm],
                `Service ${svcName} (selector ${selector})`,
            );
        }
    });

    test("a Running virt-launcher pod makes its VM Running on the pod's node", async () => {
        const [pod] = await launcherPods("nodejs");
        await runPod(pod, NODES.nodejs, "10.244.1.7"); // the pod network of the lab, inside the API only
        const vm = await waitFor("VirtualMachine nodejs Running", 10_000, async () => {
            const v = await getVm("nodejs");
            return v?.status?.phase === "Running" ? v : undefined;
        }).catch((e) => assert.fail(e.message + dump()));
        assert.equal(vm.status.nodeName, NODES.nodejs);
        assert.equal(vm.metadata.labels["kubevirt.io/nodeName"], NODES.nodejs);
        assert.deepEqual(vm.status.interfaces, [{ ipAddress: "10.244.1.7" }]);
        await waitLog(/VirtualMachine nodejs-ex\/nodejs: phase Scheduled on node kn1.virtomation.com/);
        const ovm = await waitFor("OVM nodejs with condition Running", 5_000, async () => {
            const o = await getOvm("nodejs");
            return (o.status?.conditions ?? []).some((c: any) => c.type === "Running" && c.status === "True") ? o : undefined;
        });
        assert.equal(ovm.status.conditions.find((c: any) => c.type === "Running").reason, "Created by OVM nodejs");
        assert.equal((await getVm("mongodb")).status.phase, "Scheduling", "the other VM's pod is still Pending");
    });

    test("a VM whose virt-launcher pod goes away is Failed, and its OVM starts it again", async () => {
        const before = await getVm("nodejs");
        const [pod] = await launcherPods("nodejs");
        await ok("DELETE", `/api/v1/namespaces/${LAB_NS}/pods/${pod.metadata.name}?gracePeriodSeconds=0`, {
            kind: "DeleteOptions",
            apiVersion: "v1",
            gracePeriodSeconds: 0,
        });
        await waitLog(/VirtualMachine nodejs-ex\/nodejs: phase Failed/);
        await waitLog(/deleted VirtualMachine nodejs-ex\/nodejs of OfflineVirtualMachine nodejs-ex\/nodejs: it is Failed; it starts again/);
        const vm = await waitFor("a new VirtualMachine nodejs in phase Scheduling", 10_000, async () => {
            const v = await getVm("nodejs");
            return v && v.metadata.uid !== before.metadata.uid && v.status?.phase === "Scheduling" ? v : undefined;
        }).catch((e) => assert.fail(e.message + dump()));
        const pods = await launcherPods("nodejs");
        assert.deepEqual(
            pods.map((p: any) => p.metadata.labels["kubevirt.io/vmUID"]),
            [vm.metadata.uid],
        );
        assert.notEqual(pods[0].metadata.name, pod.metadata.name);
    });

    test("running: false removes the VM and its pod", async () => {
        const [pod] = await launcherPods("nodejs");
        await mergePatch(`${KV}/namespaces/${LAB_NS}/offlinevirtualmachines/nodejs`, { spec: { running: false } });
        await waitFor("VirtualMachine nodejs gone", 10_000, async () => (await getVm("nodejs")) === undefined).catch((e) =>
            assert.fail(e.message + dump()),
        );
        await waitFor("its virt-launcher pod gone", 10_000, async () => {
            await kubeletFinishDeletions();
            return (await launcherPods("nodejs")).length === 0;
        }).catch((e) => assert.fail(e.message + dump()));
        await waitLog(/deleted VirtualMachine nodejs-ex\/nodejs of OfflineVirtualMachine nodejs-ex\/nodejs: running is false/);
        await waitLog(
            new RegExp(`deleted virt-launcher pod ${pod.metadata.name} of VirtualMachine nodejs-ex/nodejs: the VirtualMachine is gone`),
        );
        const ovm = await waitFor("OVM nodejs without condition Running", 5_000, async () => {
            const o = await getOvm("nodejs");
            return (o.status?.conditions ?? []).length === 0 ? o : undefined;
        });
        assert.equal(ovm.spec.running, false);
        assert.ok(await getVm("mongodb"), "the other VM stays");
    });

    test("running: true again brings a new VM and a new pod", async () => {
        await mergePatch(`${KV}/namespaces/${LAB_NS}/offlinevirtualmachines/nodejs`, { spec: { running: true } });
        const vm = await waitFor("a new VirtualMachine nodejs in phase Scheduling", 10_000, async () => {
            const v = await getVm("nodejs");
            return v?.status?.phase === "Scheduling" ? v : undefined;
        }).catch((e) => assert.fail(e.message + dump()));
        assert.equal(vm.metadata.ownerReferences[0].uid, uids.nodejs);
        assert.equal(
            vm.spec.domain.firmware.uuid,
            uuidV5("6a1a24a1-4061-4607-8bf4-a3963d0c5895", "nodejs"),
            "the same firmware UUID after a restart",
        );
        const pods = await launcherPods("nodejs");
        assert.equal(pods.length, 1);
        assert.equal(pods[0].metadata.labels["kubevirt.io/vmUID"], vm.metadata.uid);
        assert.equal(pods[0].status.phase, "Pending");
    });

    test("deleting the OfflineVirtualMachines removes their VMs (garbage collector) and pods (virt-controller)", async () => {
        for (const name of Object.keys(NODES) as Vm[]) await ok("DELETE", `${KV}/namespaces/${LAB_NS}/offlinevirtualmachines/${name}`);
        await waitFor(
            "no VirtualMachines left",
            20_000,
            async () => (await get(`${KV}/namespaces/${LAB_NS}/virtualmachines`)).items.length === 0,
        ).catch((e) => assert.fail(e.message + dump() + `\n--- kube-controller-manager:\n${logOf("kube-controller-manager")}`));
        await waitFor("no virt-launcher pods left", 10_000, async () => {
            await kubeletFinishDeletions();
            return (await get(`/api/v1/namespaces/${LAB_NS}/pods`)).items.length === 0;
        }).catch((e) => assert.fail(e.message + dump()));
        assert.equal((await get(`${KV}/namespaces/${LAB_NS}/offlinevirtualmachines`)).items.length, 0);
        await waitLog(
            /deleted virt-launcher pod virt-launcher-mongodb-\w+ of VirtualMachine nodejs-ex\/mongodb: the VirtualMachine is gone/,
        );
    });

    test("it outlives an API server restart: its watches are listed again and it acts on the next change", async () => {
        const exited = new Promise((r) => apiserver!.once("exit", r));
        apiserver!.kill("SIGTERM");
        await Promise.race([exited, sleep(10_000)]);
        assert.notEqual(apiserver!.exitCode ?? apiserver!.signalCode, null, "kube-apiserver stopped");
        await waitLog(/(watching|listing) \w+ failed: .*; again in \d+ ms/, 10_000);
        apiserver = inNetns("kube-apiserver", path.join(bin, "kube-apiserver"), apiserverArgs);
        await waitFor(
            "kubevirt.io/v1alpha1 served again",
            30_000,
            async () => (await api("GET", `${KV}/offlinevirtualmachines`)).status === 200,
        );
        // A new OVM after the restart: its backoff is bounded (10 s at most), so it acts within that.
        const [ovm] = workloadObjects(settings, "virtomation.com").vms.filter((v) => v.metadata.name === "nodejs");
        await ok("POST", `${KV}/namespaces/${LAB_NS}/offlinevirtualmachines`, ovm);
        await waitFor(
            "VirtualMachine nodejs in phase Scheduling",
            20_000,
            async () => (await getVm("nodejs"))?.status?.phase === "Scheduling",
        ).catch((e) => assert.fail(e.message + dump()));
        assert.equal((await launcherPods("nodejs")).length, 1);
    });

    test("SIGTERM stops it", async () => {
        assert.ok(standin && standin.exitCode === null, `the stand-in still runs${dump()}`);
        const exited = new Promise<number | null>((r) => standin!.once("exit", (code) => r(code)));
        standin!.kill("SIGTERM");
        const code = await Promise.race([exited, sleep(5_000).then(() => "timeout" as const)]);
        assert.equal(code, 0, `exit status${dump()}`);
        await waitLog(/SIGTERM: stopping/);
        await waitLog(/virt-controller: stopped/);
        const actions = standinLog().split("\n").filter(Boolean);
        assert.ok(
            actions.every((l) => /^\d{4}-\d\d-\d\dT[\d:.]+Z virt-controller: /.test(l)),
            `one timestamped line per action:\n${standinLog()}`,
        );
    });

    test("--leader-elect: of two stand-ins only the holder of the Endpoints lock acts; killing it hands over within the lease", async () => {
        const names = ["virt-controller-a", "virt-controller-b"] as const;
        const logs = Object.fromEntries(names.map((n) => [n, path.join(tmp, `${n}.log`)])) as Record<(typeof names)[number], string>;
        const read = (n: (typeof names)[number]) => {
            try {
                return fs.readFileSync(logs[n], "utf8");
            } catch {
                return "";
            }
        };
        const both = () => names.map((n) => `\n--- ${n}:\n${read(n).split("\n").slice(-15).join("\n")}`).join("");
        const procOf: Record<string, ChildProcess> = {};
        for (const n of names) {
            // HOSTNAME: what a container runtime sets to the pod's name, the identity v0.4.1 uses
            procOf[n] = spawnStandin(logs[n], ["--leader-elect"], { HOSTNAME: n });
            candidates.push(procOf[n]);
        }
        const record = async () => {
            const r = await api("GET", "/api/v1/namespaces/kube-system/endpoints/virt-controller");
            const text = r.status === 200 ? r.body.metadata.annotations?.["control-plane.alpha.kubernetes.io/leader"] : undefined;
            return text ? JSON.parse(text) : undefined;
        };
        const leader = await waitFor("one stand-in holding the lease", 10_000, async () => {
            const won = names.filter((n) => /successfully acquired lease kube-system\/virt-controller/.test(read(n)));
            return won.length === 1 ? won[0] : undefined;
        }).catch((e) => assert.fail(e.message + both()));
        const follower = names.find((n) => n !== leader)!;
        const rec = await record();
        assert.equal(rec.holderIdentity, leader);
        assert.equal(rec.leaseDurationSeconds, 15);
        assert.equal(rec.leaderTransitions, 0);
        assert.match(rec.acquireTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        await waitFor("the follower sees the leader", 5_000, async () =>
            read(follower).includes(`new leader elected: ${leader} holds lease`),
        ).catch((e) => assert.fail(e.message + both()));
        // Only the leader acts: running: false of the OVM nodejs deletes its VM, in the leader's log.
        await mergePatch(`${KV}/namespaces/${LAB_NS}/offlinevirtualmachines/nodejs`, { spec: { running: false } });
        await waitFor("VirtualMachine nodejs gone", 10_000, async () => (await getVm("nodejs")) === undefined).catch((e) =>
            assert.fail(e.message + both()),
        );
        await waitFor("the leader's log of it", 3_000, async () =>
            /deleted VirtualMachine nodejs-ex\/nodejs .*running is false/.test(read(leader)),
        );
        assert.doesNotMatch(read(follower), /caches filled|created|deleted/, `the follower does nothing${both()}`);
        const events = (await get(`/api/v1/namespaces/kube-system/events`)).items.filter((e: any) => e.reason === "LeaderElection");
        assert.deepEqual(
            events.map((e: any) => [e.involvedObject.kind, e.involvedObject.name, e.message, e.source.component]),
            [["Endpoints", "virt-controller", `${leader} became leader`, "virt-controller"]],
        );

        // SIGKILL of the leader (a node gone, a killed process): the follower takes over once the
        // record it saw has not been renewed for a lease (15 s), at its next retry (2 s + jitter up to 2.4 s).
        // It saw the last renewal at one of its retries, up to 4.4 s after it was made (after the kill, at worst).
        const t0 = Date.now();
        procOf[leader].kill("SIGKILL");
        await waitFor("the follower holding the lease", 30_000, async () =>
            /successfully acquired lease kube-system\/virt-controller/.test(read(follower)),
        ).catch((e) => assert.fail(e.message + both()));
        const handoverMs = Date.now() - t0;
        process.stderr.write(`virt-controller leader election: handover after SIGKILL of the leader in ${handoverMs} ms\n`);
        assert.ok(handoverMs >= 10_000, `not before the lease ran out (${handoverMs} ms)`);
        assert.ok(handoverMs <= 4_400 + 15_000 + 4_400 + 1_000, `within the lease and two retries (${handoverMs} ms)`);
        const after = await record();
        assert.equal(after.holderIdentity, follower);
        assert.equal(after.leaderTransitions, 1);
        await mergePatch(`${KV}/namespaces/${LAB_NS}/offlinevirtualmachines/nodejs`, { spec: { running: true } });
        await waitFor(
            "the new leader creates VirtualMachine nodejs",
            10_000,
            async () => (await getVm("nodejs"))?.status?.phase === "Scheduling",
        ).catch((e) => assert.fail(e.message + both()));
        assert.match(read(follower), /created VirtualMachine nodejs-ex\/nodejs/);
        const exited = new Promise<number | null>((r) => procOf[follower].once("exit", (code) => r(code)));
        procOf[follower].kill("SIGTERM");
        assert.equal(await Promise.race([exited, sleep(5_000).then(() => "timeout" as const)]), 0, `exit status${both()}`);
    });
});
