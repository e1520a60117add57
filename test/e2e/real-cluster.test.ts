// The whole post for real: the Pulumi engine against a simulated lab of real Kubernetes
// (harness/simlab.sh up --kubernetes real --mirror): real kubeadm 1.9.4 init on km1 and join on kn1
// and kn2, the real control plane (etcd, kube-apiserver, controller-manager, scheduler) run by the
// kubelet stand-in, Flannel from the lab's mirror applied by real kubectl, the add-ons (KubeVirt,
// Skydive, ingress-nginx) and the workload (the two OfflineVirtualMachines, their Services, the
// Ingresses) through the official Kubernetes provider. The pods run their real programs on a real
// pod network (CNI v0.6.0's bridge and host-local, flanneld v0.9.1's VXLAN, kube-proxy 1.9.4's
// iptables, kube-dns 1.14.7, KubeVirt 0.4.1's controllers and virt-launcher's pod wiring,
// ingress-nginx 0.13.0 with VTS); each VM is a guest of namespaces behind its pod's vnet0, with its
// address by DHCP, into which Ansible installs the app through <node>:30022/30122 (kube-proxy's
// NodePorts); dnsmasq's records last. Every check is made against the real API server (kubectl 1.9.4
// from the lab's operator namespace and the stack's kubeconfig output), the hosts, the pods, the
// guests and the DNS server, not against the program's outputs: the post's deep dive read layer by
// layer, and the page count growing through the ingress with its queries crossing flannel.1. Then:
// a second up that changes nothing, a NodePort change, vmsRunning false (the page fails, no guest
// left) and true (the count continues), and a destroy that deletes every object through the API
// before the drains and kubeadm resets, leaving no flannel.1, cni0, veth, pod namespace, KUBE-*
// chain or process of the lab.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { Project, REPO, RunResult, SimLab, engineEnv, parseCalls } from "../../harness/lib/simlab";
import { Steps } from "../lib/steps";
import { pollEvery } from "../lib/wait";
/** The shared poll (test/lib/wait.ts), every 1000 ms unless told. */
const waitFor = pollEvery(1000);

const LAB = "kvlreal";
/** The cluster's bootstrap tokens after the first up (step 1), secrets step 10 looks for. */
const joinTokens = new Set<string>();
const HOSTS = "km1=172.31.50.221,kn1=172.31.50.231,kn2=172.31.50.232";
const MIRROR = "mirror=172.31.50.5";
const FLANNEL_PATH = "/raw.githubusercontent.com/coreos/flannel/v0.9.1/Documentation/kube-flannel.yml";
const MONGODB_PASSWORD = "Sim-Lab.Mongo_7f3a9c21";
const NODES: Record<string, string> = {
    "km1.virtomation.com": "172.31.50.221",
    "kn1.virtomation.com": "172.31.50.231",
    "kn2.virtomation.com": "172.31.50.232",
};
const SHORT = ["km1", "kn1", "kn2"];
const CONTROL_PLANE = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"];
/** Where a host sees the binaries (harness/simlab.sh, --kubernetes real). */
const HOST_K8S_BIN = "/var/lib/kubevirt-lab-sim/k8s-bin";

const lab = new SimLab(LAB);
let project: Project;
let kubectlBin = "";
let tmp = "";
let kubeconfig = "";
/** What recover.sh printed for the up after the killed one (step 0). */
let recovered: string[] = [];
const steps = new Steps((name) => name.split(".")[0]);
const timings = steps.timings;

function k8sBin(): string {
    const out = execFileSync("bash", [path.join(REPO, "harness", "kubernetes.sh"), "--print-env"], { encoding: "utf8" });
    const m = /KUBEVIRT_LAB_K8S_BIN=["']?([^"'\n]+)/.exec(out);
    assert.ok(m, `harness/kubernetes.sh --print-env names the binaries: ${out}`);
    return m[1];
}

/** kubectl 1.9.4 from the lab's operator namespace, with the stack's kubeconfig. */
async function kubectl(...args: string[]): Promise<RunResult> {
    return lab.op([kubectlBin, "--kubeconfig", kubeconfig, "--request-timeout=10s", ...args], {}, 30_000);
}

async function getJSON(...args: string[]): Promise<any> {
    const r = await kubectl("get", ...args, "-o", "json");
    assert.equal(r.code, 0, `kubectl get ${args.join(" ")} failed:\n${r.stdout}\n${r.stderr}`);
    return JSON.parse(r.stdout);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The processes of a host as "pid command line": every descendant of its holder (the PID 1 of its PID
 * namespace), so its pods' containers and the VMs' guests too, whatever their network namespace.
 */
function processes(host: string): Array<{ pid: number; cmd: string }> {
    const holder = Number(fs.readFileSync(path.join(lab.dir, "hosts", host, "holder.pid"), "utf8").trim());
    const children = new Map<number, number[]>();
    for (const e of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(e)) continue;
        try {
            const stat = fs.readFileSync(`/proc/${e}/stat`, "utf8");
            const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
            children.set(ppid, [...(children.get(ppid) ?? []), Number(e)]);
        } catch {
            /* gone */
        }
    }
    const out: Array<{ pid: number; cmd: string }> = [];
    const todo = [holder];
    for (let i = 0; i < todo.length && i < 100_000; i++) {
        const p = todo[i];
        todo.push(...(children.get(p) ?? []));
        try {
            out.push({ pid: p, cmd: fs.readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0").join(" ").trim() });
        } catch {
            /* gone */
        }
    }
    return out.filter((p) => p.cmd !== "");
}

function rssMiB(pid: number): number {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Math.round(Number(m[1]) / 1024) : 0;
}

/** Kubernetes' own processes on a host: the kubelet stand-in, its API, the control plane's static pods, the pods' containers and the VMs' guests. */
function kubeProcesses(host: string): string[] {
    return processes(host)
        .map((p) => p.cmd)
        .filter(
            (c) =>
                c.includes("harness/standins/kubelet/main.ts") ||
                c.includes("kubelet-standin-server") ||
                c.includes("container-run.sh") ||
                /^qemu-lab:/.test(c) ||
                CONTROL_PLANE.some((b) => c.startsWith(`${HOST_K8S_BIN}/${b} `)),
        );
}

/** The SSH NodePort of each VM (the post's nodejs-ssh and mongodb-ssh Services). */
const VM_PORT: Record<string, number> = { nodejs: 30022, mongodb: 30122 };

/**
 * A command in a VM's guest as fedora, as Ansible reaches it: ssh to kn2's address on the VM's
 * NodePort (kube-proxy, then KubeVirt's bridge in the virt-launcher pod), from the operator namespace.
 */
async function guest(vm: string, command: string): Promise<RunResult> {
    const kh = path.join(tmp, `known_hosts-${vm}`);
    return lab.op(
        [
            "ssh",
            "-q",
            "-i",
            lab.keyPath,
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            `UserKnownHostsFile=${kh}`,
            "-p",
            String(VM_PORT[vm]),
            "fedora@172.31.50.232",
            command,
        ],
        {},
        30_000,
    );
}

/** A file of a VM's guest (read with sudo), or undefined when it is not there. */
async function guestFile(vm: string, file: string): Promise<string | undefined> {
    const r = await guest(vm, `sudo -n cat '${file}' 2>/dev/null || echo '<absent>'`);
    assert.equal(r.code, 0, `ssh to the ${vm} guest: ${r.stderr}`);
    return r.stdout === "<absent>\n" ? undefined : r.stdout;
}

/** The page-view count of http://nodejs.ingress.virtomation.com:30000/ (one view), or undefined when the page has none. */
async function pageCount(): Promise<number | undefined> {
    const r = await lab.op(["curl", "-s", "--max-time", "10", "http://nodejs.ingress.virtomation.com:30000/"], {}, 20_000);
    const m = /<span class="code" id="count-value">(\d+)<\/span>/.exec(r.stdout);
    return m ? Number(m[1]) : undefined;
}
/** The count seen before the VMs were stopped (step 8), to see it continue once they run again (8b). */
let countBeforeStop: number | undefined;

/** A shell command on a lab host (simlab.sh exec), its stdout; fails on a non-zero exit. */
async function hostSh(host: string, script: string): Promise<string> {
    const r = await lab.cli(["exec", host, "bash", "-c", script]);
    return r.stdout;
}

/** The first TCP port a pod's containers declare (its probes use it), or undefined. */
function tcpPort(p: any): number | undefined {
    for (const c of p.spec.containers ?? [])
        for (const port of c.ports ?? []) if ((port.protocol ?? "TCP") === "TCP") return port.containerPort;
    return undefined;
}

const ready = (o: any) => (o.status?.conditions ?? []).find((c: any) => c.type === "Ready")?.status;

/** A Deployment or DaemonSet rolled out: every replica updated and available (ready), none left behind. */
function rolledOut(o: any): string | true {
    const st = o.status ?? {};
    const name = `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`;
    if (o.kind === "Deployment") {
        const want = o.spec.replicas ?? 1;
        if ((st.observedGeneration ?? 0) >= o.metadata.generation && st.updatedReplicas === want && st.availableReplicas === want)
            return true;
        return `${name}: expected ${want} updated and available replicas, saw updated ${st.updatedReplicas}, available ${st.availableReplicas}`;
    }
    const want = st.desiredNumberScheduled;
    if (want > 0 && st.numberReady === want && st.updatedNumberScheduled === want) return true;
    return `${name}: expected every scheduled pod ready and updated, saw ${st.numberReady}/${want} ready, ${st.updatedNumberScheduled} updated`;
}

/** Waits until each workload (kind, namespace, name) is rolled out; the error names those that are not. */
async function waitRolledOut(workloads: Array<[string, string, string]>, timeoutMs: number): Promise<Record<string, any>> {
    return waitFor(
        "every Deployment and DaemonSet of the add-ons rolled out",
        async () => {
            const seen: Record<string, any> = {};
            const bad: string[] = [];
            for (const [kind, ns, name] of workloads) {
                const o = await getJSON(kind, name, "-n", ns);
                seen[`${ns}/${name}`] = o;
                const r = rolledOut(o);
                if (r !== true) bad.push(r);
            }
            if (bad.length > 0) throw new Error(bad.join("; "));
            return seen;
        },
        timeoutMs,
    );
}

/** The pods behind a Service's Endpoints: "<pod> <node>" per address. */
async function endpointPods(ns: string, name: string): Promise<string[]> {
    const ep = await getJSON("endpoints", name, "-n", ns);
    return (ep.subsets ?? []).flatMap((s: any) => (s.addresses ?? []).map((a: any) => `${a.targetRef?.name} ${a.nodeName}`));
}

/** The admin credentials of the stack's kubeconfig as files, for curl's watches. */
function credentialFiles(): string[] {
    const conf = YAML.parse(fs.readFileSync(kubeconfig, "utf8"));
    const files: Array<[string, string]> = [
        ["ca.crt", conf.clusters[0].cluster["certificate-authority-data"]],
        ["admin.crt", conf.users[0].user["client-certificate-data"]],
        ["admin.key", conf.users[0].user["client-key-data"]],
    ];
    for (const [f, v] of files) fs.writeFileSync(path.join(tmp, f), Buffer.from(v, "base64"), { mode: 0o600 });
    return ["--cacert", path.join(tmp, "ca.crt"), "--cert", path.join(tmp, "admin.crt"), "--key", path.join(tmp, "admin.key")];
}

interface WatchEvent {
    type: string;
    object: { kind: string; metadata: { name: string; namespace?: string } };
}

/**
 * A watch of an API path from the operator namespace, until the API server goes away (the master's
 * reset) or `timeoutMs`: its events, and whether it ended by itself.
 */
async function watch(creds: string[], apiPath: string, timeoutMs: number): Promise<{ events: WatchEvent[]; ended: boolean }> {
    const r = await lab.op(["curl", "-sSN", ...creds, `https://172.31.50.221:6443${apiPath}?watch=true`], {}, timeoutMs);
    const events = r.stdout
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => JSON.parse(l) as WatchEvent);
    return { events, ended: !/killed after/.test(r.stderr) };
}

/** What a watch saw: the objects deleted, and those still there when it ended. */
function deletedAndLeft(events: WatchEvent[]): { deleted: string[]; left: string[] } {
    const present = new Set<string>();
    const deleted: string[] = [];
    for (const e of events) {
        const key = [e.object.metadata.namespace, e.object.metadata.name].filter(Boolean).join("/");
        if (e.type === "DELETED") {
            present.delete(key);
            deleted.push(key);
        } else if (e.type === "ADDED" || e.type === "MODIFIED") present.add(key);
    }
    return { deleted: deleted.sort(), left: [...present].sort() };
}

/** The resources a `pulumi up` changed: "<type> <name> <verb>" lines (components left out). */
function changedResources(stdout: string): string[] {
    return [...stdout.matchAll(/^ [~+-] {2}(\S+) (\S+) (updated|created|deleted|replaced)\b/gm)]
        .filter((m) => !m[1].startsWith("kubevirt-lab:") && m[1] !== "kubernetes:yaml:ConfigGroup")
        .map((m) => `${m[1]} ${m[2]} ${m[3]}`)
        .sort();
}

/**
 * True once a worker's kubelet stand-in has logged a line matching `re` since this was called
 * (its log on this machine, in the host's overlay; read from where it ended then).
 */
function workersLogged(re: RegExp): () => boolean {
    const logs = ["kn1", "kn2"].map((h) => lab.upperPath(h, "/var/log/kubevirt-lab/kubelet.log"));
    const from = logs.map((f) => (fs.existsSync(f) ? fs.statSync(f).size : 0));
    return () =>
        logs.some((f, i) => {
            try {
                const fd = fs.openSync(f, "r");
                const buf = Buffer.alloc(Math.max(0, fs.fstatSync(fd).size - from[i]));
                fs.readSync(fd, buf, 0, buf.length, from[i]);
                fs.closeSync(fd);
                return re.test(buf.toString("utf8"));
            } catch {
                return false;
            }
        });
}

/**
 * `pulumi up` SIGKILLed once `when()` is true, the pending operations it left (at least one), then
 * harness/lib/recover.sh as harness/lab.sh runs it: the words it printed for the next up.
 */
async function killedUp(where: string, when: () => boolean, timeoutMs: number): Promise<{ ms: number; replace: string[] }> {
    const killed = await project.pulumiKilled(["up", "--yes", "--skip-preview"], when, timeoutMs);
    assert.ok(killed.killed, `expected the up still running at the kill point (${where}):\n${killed.stdout.slice(-3000)}`);
    const ops = await project.pendingOperations();
    process.stderr.write(`pending operations after the kill ${where}: ${JSON.stringify(ops)}\n`);
    assert.ok(ops.length > 0, `expected the up killed ${where} to leave pending operations`);
    const rec = await project.recover("up");
    assert.equal(rec.code, 0, `recover.sh: ${rec.stderr}`);
    return { ms: killed.ms, replace: rec.replace };
}

function step(name: string, fn: () => Promise<void>, timeoutMs: number) {
    steps.step(name, fn, timeoutMs);
}

before(async () => {
    const t0 = Date.now();
    const bin = k8sBin();
    kubectlBin = path.join(bin, "kubectl");
    assert.ok(fs.existsSync(kubectlBin), `kubectl 1.9.4 at ${kubectlBin} (bash harness/kubernetes.sh builds it)`);
    assert.ok(
        execFileSync("bash", ["-c", "command -v iptables || true"], { encoding: "utf8" }).trim() !== "",
        "iptables on the machine (kubeadm's preflight needs it in PATH; bash harness/prereqs.sh e2e installs Debian's)",
    );
    const engine = engineEnv();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-real-"));
    kubeconfig = path.join(tmp, "kubeconfig");
    await lab.down();
    await lab.up(HOSTS, "dns1=172.31.50.10", { kubernetes: "real", mirror: MIRROR });
    project = new Project(lab, "real", engine);
    // the stack of `npm run lab` (Pulumi.lab.yaml): every stage, the manifests from the mirror
    project.configure({}, "lab");
    await project.init();
    const pw = await project.pulumi(["config", "set", "--secret", "mongodbPassword", MONGODB_PASSWORD]);
    assert.equal(pw.code, 0, `pulumi config set --secret mongodbPassword: ${pw.stderr}`);
    timings.before = Date.now() - t0;
});

after(async () => {
    process.stderr.write(`real-cluster e2e timings (ms): ${JSON.stringify(timings)}\n`);
    if (steps.failed) {
        for (const h of SHORT) {
            const log = (await lab.file(h, "/var/log/kubevirt-lab/kubelet.log")) ?? "<none>";
            process.stderr.write(`--- ${h}: kubelet stand-in log (last 30 lines)\n${log.split("\n").slice(-30).join("\n")}\n`);
        }
    }
    if (process.env.KVL_E2E_KEEP) return;
    await lab.down();
    project?.cleanup();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe("the whole post with real Kubernetes 1.9.4 in the simulated lab", () => {
    step(
        "0. an up killed in the add-on stages (the engine SIGKILLed once ingress-nginx's controller runs), recovered as npm run lab does",
        async () => {
            const k = await killedUp(
                "in the add-on stages",
                workersLogged(/pod ingress-nginx\/nginx-ingress-controller-\S+: status Running/),
                600_000,
            );
            timings.killedUp = k.ms;
            recovered = k.replace;
        },
        660_000,
    );

    step(
        "1. one plain up converges, every stage: three nodes Ready at v1.9.4 with their addresses and pod CIDRs, Flannel from the mirror, kube-dns and kube-proxy",
        async () => {
            // one plain re-run (with what recover.sh printed for it, as harness/lab.sh passes it)
            const r = await project.pulumi(["up", "--yes", "--skip-preview", ...recovered], 600_000);
            assert.equal(r.code, 0, `pulumi up failed:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
            timings.up = r.ms;

            const out = await project.pulumi(["stack", "output", "--show-secrets", "kubeconfig"]);
            assert.equal(out.code, 0, `pulumi stack output kubeconfig: ${out.stderr}`);
            fs.writeFileSync(kubeconfig, out.stdout, { mode: 0o600 });
            project.console = project.console.replace(out.stdout, ""); // asked for here: not a leak (step 10)
            assert.equal(YAML.parse(out.stdout).clusters[0].cluster.server, "https://172.31.50.221:6443");
            // the bootstrap tokens (kubeadm init's and one per worker's join line), for step 10: the
            // joins read theirs on stdin, so no calls log holds them
            const tokens = await hostSh("km1", "kubeadm token list --kubeconfig /etc/kubernetes/admin.conf");
            for (const m of tokens.matchAll(/^([a-z0-9]{6}\.[a-z0-9]{16})\s/gm)) joinTokens.add(m[1]);

            const version = JSON.parse((await kubectl("version", "-o", "json")).stdout);
            assert.equal(version.serverVersion?.gitVersion, "v1.9.4", `expected the API server v1.9.4, saw ${JSON.stringify(version)}`);

            const nodes = (await getJSON("nodes")).items;
            assert.deepEqual(nodes.map((n: any) => n.metadata.name).sort(), Object.keys(NODES), "expected exactly the three lab nodes");
            const cidrs: Record<string, string> = {};
            for (const n of nodes) {
                const name = n.metadata.name;
                assert.equal(ready(n), "True", `expected ${name} Ready, saw conditions ${JSON.stringify(n.status.conditions)}`);
                assert.equal(
                    n.status.nodeInfo.kubeletVersion,
                    "v1.9.4",
                    `expected ${name}'s kubelet v1.9.4, saw ${n.status.nodeInfo.kubeletVersion}`,
                );
                const internal = n.status.addresses.find((a: { type: string }) => a.type === "InternalIP")?.address;
                assert.equal(
                    internal,
                    NODES[name],
                    `expected ${name}'s InternalIP ${NODES[name]}, saw ${JSON.stringify(n.status.addresses)}`,
                );
                cidrs[name] = n.spec.podCIDR;
            }
            // km1 registers first; kn1 and kn2 join in parallel, so which gets .1 and which .2 is
            // the order their kubelets registered in (the post's lab joined them one after the other).
            assert.equal(
                cidrs["km1.virtomation.com"],
                "10.244.0.0/24",
                `expected km1's pod CIDR 10.244.0.0/24, saw ${JSON.stringify(cidrs)}`,
            );
            assert.deepEqual(
                Object.values(cidrs).sort(),
                ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"],
                `expected one /24 of 10.244.0.0/16 per node, saw ${JSON.stringify(cidrs)}`,
            );

            // Flannel: fetched from the mirror by km1, its DaemonSet with a Running pod on every node
            const httpLog = fs.readFileSync(path.join(lab.dir, "hosts", "mirror", "http.log"), "utf8");
            assert.match(
                httpLog,
                new RegExp(`^172\\.31\\.50\\.221 .*"GET ${FLANNEL_PATH.replace(/\./g, "\\.")} HTTP/1\\.1" 200`, "m"),
                `expected km1's request for the Flannel manifest in the mirror's log, saw:\n${httpLog}`,
            );
            const ds = await getJSON("daemonset", "kube-flannel-ds", "-n", "kube-system");
            assert.equal(ds.spec.template.spec.containers[0].image, "quay.io/coreos/flannel:v0.9.1-amd64", "the v0.9.1 manifest");
            const flannelPods = await waitFor(
                "a Running kube-flannel pod on each node",
                async () => {
                    const pods = (await getJSON("pods", "-n", "kube-system", "-l", "app=flannel")).items;
                    const running = pods.filter((p: any) => p.status.phase === "Running" && ready(p) === "True");
                    const on = running.map((p: any) => p.spec.nodeName).sort();
                    if (JSON.stringify(on) === JSON.stringify(Object.keys(NODES))) return pods;
                    throw new Error(
                        pods.map((p: any) => `${p.metadata.name} on ${p.spec.nodeName}: ${p.status.phase}`).join(", ") || "no pod",
                    );
                },
                60_000,
            );
            assert.equal(flannelPods.length, 3, "one flannel pod per node, no more");

            // kubeadm's add-ons
            const dns = await getJSON("deployment", "kube-dns", "-n", "kube-system");
            assert.equal(dns.metadata.name, "kube-dns");
            const proxy = await waitFor(
                "kube-proxy ready on the three nodes",
                async () => {
                    const d = await getJSON("daemonset", "kube-proxy", "-n", "kube-system");
                    if (d.status.numberReady === 3) return d;
                    throw new Error(`kube-proxy ${d.status.numberReady}/${d.status.desiredNumberScheduled} ready`);
                },
                30_000,
            );
            assert.equal(proxy.status.desiredNumberScheduled, 3);

            // what ran: one real kubeadm init with the setting's checks, the control plane as processes
            const inits = lab.calls("km1").filter((l) => / kubeadm init /.test(l));
            assert.equal(inits.length, 1, `expected one kubeadm init on km1, saw:\n${inits.join("\n")}`);
            assert.match(inits[0], / --ignore-preflight-errors=SystemVerification$/);
            const km1 = processes("km1");
            const memory: Record<string, number> = {};
            for (const b of CONTROL_PLANE) {
                const p = km1.filter((x) => x.cmd.startsWith(`${HOST_K8S_BIN}/${b} `));
                assert.equal(p.length, 1, `expected one ${b} on km1, saw:\n${km1.map((x) => x.cmd.slice(0, 120)).join("\n")}`);
                memory[b] = rssMiB(p[0].pid);
            }
            for (const h of SHORT) {
                const k = processes(h).filter((x) => x.cmd.includes("harness/standins/kubelet/main.ts"));
                assert.equal(k.length, 1, `expected one kubelet stand-in on ${h}`);
                memory[`kubelet-standin ${h}`] = rssMiB(k[0].pid);
            }
            process.stderr.write(`RSS (MiB) after up: ${JSON.stringify(memory)}\n`);
        },
        660_000,
    );

    step(
        "1b. the pod network, read from the hosts: flannel.1 (VXLAN 1, 8472, MTU 1450), cni0, the routes of the post, the pods' veths, kube-proxy's chains, a pod on kn1 reaching a pod on kn2 over UDP 8472, kube-dns at 10.96.0.10, kubectl exec and logs",
        async () => {
            const nodes = (await getJSON("nodes")).items;
            const cidrOf: Record<string, string> = Object.fromEntries(
                nodes.map((n: any) => [n.metadata.name.split(".")[0], n.spec.podCIDR]),
            );
            const prefix = (h: string) => cidrOf[h].replace(/\.0\/24$/, "");
            const pods = (await getJSON("pods", "--all-namespaces")).items;
            for (const h of SHORT) {
                const link = await hostSh(h, "ip -d link show dev flannel.1");
                assert.match(link, /mtu 1450 /, `${h}: flannel.1 MTU 1450:\n${link}`);
                assert.match(
                    link,
                    /vxlan id 1 local 172\.31\.50\.\d+ dev eth0 .*dstport 8472 nolearning/,
                    `${h}: flannel.1 a VXLAN, id 1, port 8472:\n${link}`,
                );
                const f1 = await hostSh(h, "ip -4 -o addr show dev flannel.1");
                assert.match(
                    f1,
                    new RegExp(`inet ${prefix(h).replace(/\./g, "\\.")}\\.0/32 `),
                    `${h}: flannel.1 has ${prefix(h)}.0/32:\n${f1}`,
                );
                const local = pods.filter(
                    (p: any) => p.spec.nodeName.startsWith(`${h}.`) && !p.spec.hostNetwork && p.status.phase === "Running",
                );
                if (local.length === 0) continue; // the bridge exists once a pod of the node has a network (km1 may have none)
                const cni0 = await hostSh(h, "ip -4 -o addr show dev cni0; ip -o link show dev cni0");
                assert.match(
                    cni0,
                    new RegExp(`inet ${prefix(h).replace(/\./g, "\\.")}\\.1/24 `),
                    `${h}: cni0 has ${prefix(h)}.1/24:\n${cni0}`,
                );
                assert.match(cni0, /mtu 1450 /, `${h}: cni0 MTU 1450:\n${cni0}`);
                const routes = await hostSh(h, "ip route");
                for (const other of SHORT.filter((x) => x !== h)) {
                    const want = `${prefix(other)}.0/24 via ${prefix(other)}.0 dev flannel.1 onlink`;
                    assert.ok(routes.includes(want), `${h}: expected the route "${want}", saw:\n${routes}`);
                }
                assert.ok(
                    routes.includes(`${prefix(h)}.0/24 dev cni0 proto kernel scope link src ${prefix(h)}.1`),
                    `${h}: its own /24 on cni0:\n${routes}`,
                );
                const bridge = await hostSh(h, "bridge link show");
                const veths = bridge.split("\n").filter((l) => / master cni0 /.test(l) && /: veth/.test(l));
                assert.equal(
                    veths.length,
                    local.length,
                    `${h}: a veth on cni0 per pod (${local.map((p: any) => p.metadata.name)}), saw:\n${bridge}`,
                );
            }

            // kube-proxy's chains on kn1 for the Services of the post, DNAT-ing to their endpoints' pod IPs
            const nat = await hostSh("kn1", "iptables -t nat -S");
            for (const [ns, name] of [
                ["kube-system", "kube-dns"],
                ["nodejs-ex", "nodejs"],
                ["nodejs-ex", "mongodb"],
                ["ingress-nginx", "ingress-nginx"],
            ]) {
                const svc = await getJSON("service", name, "-n", ns);
                assert.ok(
                    nat.includes(`-d ${svc.spec.clusterIP}/32 -p `) && nat.includes(`--comment "${ns}/${name}`),
                    `kn1: KUBE-SERVICES rules for ${ns}/${name} (${svc.spec.clusterIP}):\n${nat}`,
                );
                const ep = await getJSON("endpoints", name, "-n", ns);
                for (const a of (ep.subsets ?? []).flatMap((x: any) => x.addresses ?? [])) {
                    assert.match(
                        nat,
                        new RegExp(`--comment "${ns}/${name}[^"]*" .*-j DNAT --to-destination ${a.ip.replace(/\./g, "\\.")}:\\d+`),
                        `kn1: a DNAT to ${a.ip} for ${ns}/${name}:\n${nat}`,
                    );
                }
            }

            // a pod on kn1 reaches a pod on kn2: its packets leave kn1's eth0 as VXLAN (UDP 8472)
            // (not a virt-launcher pod: KubeVirt moved its address to the VM, the pod itself has no network)
            const launcher = (p: any) => p.metadata.labels?.["kubevirt.io"] === "virt-launcher";
            const withPort = (h: string) =>
                pods.find(
                    (p: any) =>
                        p.spec.nodeName.startsWith(`${h}.`) &&
                        !p.spec.hostNetwork &&
                        p.status.phase === "Running" &&
                        ready(p) === "True" &&
                        tcpPort(p),
                );
            const from = pods.find(
                (p: any) => p.spec.nodeName.startsWith("kn1.") && !p.spec.hostNetwork && !launcher(p) && p.status.phase === "Running",
            );
            const to = withPort("kn2");
            assert.ok(from && to, "a running pod on kn1 and a ready pod with a TCP port on kn2");
            const dump = await hostSh(
                "kn1",
                `(timeout 10 tcpdump -nni eth0 -c 1 'udp port 8472 and dst host 172.31.50.232' 2>/dev/null &) ; sleep 1; ` +
                    `nsenter --net=/run/netns/cni-${from.metadata.uid} timeout 5 bash -c 'exec 3<>/dev/tcp/${to.status.podIP}/${tcpPort(to)}' && echo CONNECTED; sleep 1; wait`,
            );
            assert.match(
                dump,
                /CONNECTED/,
                `${from.metadata.name} on kn1 connects to ${to.metadata.name} (${to.status.podIP}:${tcpPort(to)}) on kn2:\n${dump}`,
            );
            assert.match(
                dump,
                // tcpdump names UDP 8472 (Linux's VXLAN port) OTV: "OTV, flags [I] (0x08), overlay 0, instance 1" is VNI 1
                /IP 172\.31\.50\.231\.\d+ > 172\.31\.50\.232\.8472: (OTV|VXLAN), flags \[I\] \(0x08\), overlay 0, instance 1/,
                `tcpdump on kn1's eth0 sees the VXLAN packet to kn2:\n${dump}`,
            );

            // kube-dns at its ClusterIP, from a pod: the Service names of the post
            const mongodb = await getJSON("service", "mongodb", "-n", "nodejs-ex");
            const dig = await hostSh(
                "kn1",
                `nsenter --net=/run/netns/cni-${from.metadata.uid} dig +short +time=2 +tries=3 @10.96.0.10 mongodb.nodejs-ex.svc.cluster.local kubernetes.default.svc.cluster.local`,
            );
            assert.equal(dig.trim(), `${mongodb.spec.clusterIP}\n10.96.0.1`, `kube-dns answers the Services' ClusterIPs:\n${dig}`);

            // kubectl exec and logs on a flannel pod, through the API server and the kubelet API
            const fl = pods.find((p: any) => p.metadata.labels?.app === "flannel" && p.spec.nodeName.startsWith("kn1."));
            const ex = await kubectl(
                "exec",
                "-n",
                "kube-system",
                "-c",
                "kube-flannel",
                fl.metadata.name,
                "--",
                "ip",
                "-o",
                "-4",
                "addr",
                "show",
                "dev",
                "flannel.1",
            );
            assert.equal(ex.code, 0, `kubectl exec: ${ex.stderr}`);
            assert.match(
                ex.stdout,
                new RegExp(`inet ${prefix("kn1").replace(/\./g, "\\.")}\\.0/32`),
                `kubectl exec shows flannel.1 of kn1:\n${ex.stdout}`,
            );
            const logs = await kubectl("logs", "-n", "kube-system", "-c", "kube-flannel", fl.metadata.name);
            assert.equal(logs.code, 0, `kubectl logs: ${logs.stderr}`);
            assert.match(
                logs.stdout,
                /Using interface with name eth0 and address 172\.31\.50\.231/,
                `flanneld's own log:\n${logs.stdout.slice(0, 2000)}`,
            );
        },
        180_000,
    );

    step(
        "2. the add-ons, read from the API: KubeVirt, Skydive and ingress-nginx rolled out, the post's NodePorts, vts on",
        async () => {
            for (const ns of ["skydive", "ingress-nginx", "nodejs-ex"]) {
                const o = await getJSON("namespace", ns);
                assert.equal(o.status.phase, "Active", `expected namespace ${ns} Active, saw ${JSON.stringify(o.status)}`);
            }
            for (const crd of ["offlinevirtualmachines", "virtualmachines", "virtualmachinereplicasets", "virtualmachinepresets"]) {
                const o = await getJSON("customresourcedefinition", `${crd}.kubevirt.io`);
                const established = (o.status?.conditions ?? []).find((c: any) => c.type === "Established")?.status;
                assert.equal(established, "True", `expected the CRD ${crd}.kubevirt.io established, saw ${JSON.stringify(o.status)}`);
            }
            const workloads = await waitRolledOut(
                [
                    ["deployment", "kube-system", "virt-api"],
                    ["daemonset", "kube-system", "virt-handler"],
                    ["deployment", "skydive", "skydive-analyzer"],
                    ["daemonset", "skydive", "skydive-agent"],
                    ["deployment", "ingress-nginx", "default-http-backend"],
                    ["deployment", "ingress-nginx", "nginx-ingress-controller"],
                ],
                60_000,
            );
            const controller = workloads["ingress-nginx/nginx-ingress-controller"].spec.template.spec.containers[0];
            assert.deepEqual(
                controller.ports.map((p: any) => `${p.name} ${p.containerPort}`),
                ["http 80", "https 443", "http-mgmt 18080"],
                "expected the controller's ports http, https and http-mgmt 18080",
            );
            assert.equal(controller.image, "quay.io/kubernetes-ingress-controller/nginx-ingress-controller:0.13.0");
            const cm = await getJSON("configmap", "nginx-configuration", "-n", "ingress-nginx");
            assert.equal(cm.data?.["enable-vts-status"], "true", `expected vts on in nginx-configuration, saw ${JSON.stringify(cm.data)}`);
            const svc = await getJSON("service", "ingress-nginx", "-n", "ingress-nginx");
            assert.equal(svc.spec.type, "NodePort");
            assert.deepEqual(
                svc.spec.ports.map((p: any) => `${p.name} ${p.port} ${p.nodePort}`),
                ["http 80 30000", "https 443 30443", "http-mgmt 18080 32000"],
                "expected the ingress-nginx Service on the post's NodePorts",
            );
            const ingressPods = await endpointPods("ingress-nginx", "ingress-nginx");
            assert.equal(ingressPods.length, 1, `expected the Service's endpoint on the controller's pod, saw ${ingressPods}`);
            assert.match(ingressPods[0], /^nginx-ingress-controller-\S+ kn[12]\.virtomation\.com$/);

            // virt-controller: its stand-in runs from the Deployment's two pods, one of them the leader
            const leader = await waitFor(
                "a virt-controller leader (the Endpoints lock kube-system/virt-controller)",
                async () => {
                    const ep = await getJSON("endpoints", "virt-controller", "-n", "kube-system");
                    const record = ep.metadata.annotations?.["control-plane.alpha.kubernetes.io/leader"];
                    if (!record) throw new Error(`no leader record: ${JSON.stringify(ep.metadata)}`);
                    return JSON.parse(record).holderIdentity as string;
                },
                30_000,
            );
            const vcPods = (await getJSON("pods", "-n", "kube-system", "-l", "kubevirt.io=virt-controller")).items;
            assert.ok(
                vcPods.some((p: any) => p.metadata.name === leader),
                `expected a virt-controller pod to hold the lock, saw ${leader} and pods ${vcPods.map((p: any) => p.metadata.name)}`,
            );
            // as the post shows them: both Running, only the leader Ready (its readiness probe is GET /leader)
            await waitFor(
                "the two virt-controller pods Running, the leader alone Ready (0/1 and 1/1)",
                async () => {
                    const now = (await getJSON("pods", "-n", "kube-system", "-l", "kubevirt.io=virt-controller")).items;
                    const seen = now.map((p: any) => `${p.metadata.name} ${p.status.phase} ${ready(p)}`).sort();
                    const want = now.map((p: any) => `${p.metadata.name} Running ${p.metadata.name === leader ? "True" : "False"}`).sort();
                    if (now.length === 2 && JSON.stringify(seen) === JSON.stringify(want)) return true;
                    throw new Error(seen.join(", "));
                },
                60_000,
            );
        },
        120_000,
    );

    step(
        "3. the workload: both OVMs running as VMs on kn1 and kn2, the Services' endpoints on their virt-launcher pods, the Ingresses",
        async () => {
            const where: Record<string, string> = { nodejs: "kn1.virtomation.com", mongodb: "kn2.virtomation.com" };
            for (const [vm, node] of Object.entries(where)) {
                const ovm = await getJSON("offlinevirtualmachine", vm, "-n", "nodejs-ex");
                assert.equal(ovm.spec.running, true, `expected OVM ${vm} running: true`);
                const v = await waitFor(
                    `VM ${vm} Running on ${node}`,
                    async () => {
                        const o = await getJSON("virtualmachine", vm, "-n", "nodejs-ex");
                        if (o.status?.phase === "Running" && o.status?.nodeName === node) return o;
                        throw new Error(`VM ${vm}: ${JSON.stringify(o.status)}`);
                    },
                    30_000,
                );
                assert.equal(v.metadata.ownerReferences?.[0]?.kind, "OfflineVirtualMachine");
            }
            const services: Record<string, [string, string]> = {
                mongodb: ["mongodb", "27017"],
                nodejs: ["nodejs", "8080"],
                "mongodb-ssh": ["mongodb", "22 30122"],
                "nodejs-ssh": ["nodejs", "22 30022"],
            };
            for (const [name, [vm, ports]] of Object.entries(services)) {
                const svc = await getJSON("service", name, "-n", "nodejs-ex");
                assert.equal(
                    svc.spec.ports.map((p: any) => [p.port, p.nodePort].filter(Boolean).join(" ")).join(","),
                    ports,
                    `Service ${name}: expected ports ${ports}`,
                );
                const pods = await endpointPods("nodejs-ex", name);
                assert.equal(pods.length, 1, `expected Service ${name}'s one endpoint, saw ${JSON.stringify(pods)}`);
                assert.match(
                    pods[0],
                    new RegExp(`^virt-launcher-${vm}-\\S+ ${where[vm].replace(/\./g, "\\.")}$`),
                    `expected Service ${name}'s endpoint on the virt-launcher pod of ${vm} on ${where[vm]}`,
                );
            }
            const hosts: Record<string, string> = {};
            for (const [ns, name] of [
                ["nodejs-ex", "nodejs"],
                ["skydive", "skydive"],
                ["ingress-nginx", "nginx-status"],
            ]) {
                const ing = await getJSON("ingress.extensions", name, "-n", ns);
                hosts[name] = ing.spec.rules.map((r: any) => r.host).join(",");
            }
            assert.deepEqual(hosts, {
                nodejs: "nodejs.ingress.virtomation.com",
                skydive: "skydive.ingress.virtomation.com",
                "nginx-status": "mgmt.ingress.virtomation.com",
            });
        },
        90_000,
    );

    step(
        "4. the app: Ansible through <node>:30022 and <node>:30122 rendered its files in the two VMs' guests",
        async () => {
            // the inventory the program wrote: each VM reached through the node its pod runs on
            const playbook = ((await project.exportState()).resources ?? []).find((r) => /::app-playbook$/.test(r.urn));
            assert.ok(playbook, "expected the app's playbook in the state");
            const create = String(playbook.inputs?.create);
            const inv = /<<'KUBEVIRT_LAB_INVENTORY_END'\n([\s\S]*?)KUBEVIRT_LAB_INVENTORY_END/.exec(create)?.[1] ?? "";
            const children = YAML.parse(inv).all.children;
            assert.deepEqual(children.nodejs.hosts["nodejs-1"], { ansible_host: "172.31.50.231", ansible_port: 30022 });
            assert.deepEqual(children.mongodb.hosts["mongodb-1"], { ansible_host: "172.31.50.232", ansible_port: 30122 });
            // every tag but Fedora's packages (no dnf: the guests' image has them) and the Skydive agent's start
            assert.match(create, /--skip-tags packages,skydive_service'?$/m);

            // the app for real: the post's commit from the lab's git mirror, its npm tree from the
            // lab's registry, MongoDB's users, the services started and enabled by the guests' systemd
            const units = await guest("nodejs", "systemctl is-active nodejs; systemctl is-enabled nodejs");
            assert.equal(units.stdout, "active\nenabled\n", `the nodejs service: ${units.stdout}${units.stderr}`);
            const mongoUnits = await guest("mongodb", "systemctl is-active mongod; systemctl is-enabled mongod");
            assert.equal(mongoUnits.stdout, "active\nenabled\n", `the mongod service: ${mongoUnits.stdout}${mongoUnits.stderr}`);
            const checkout = await guest(
                "nodejs",
                "sudo -n git -c safe.directory='*' -C /opt/nodejs-ex describe --tags; sudo -n cat /opt/nodejs-ex/node_modules/mongodb/package.json",
            );
            assert.match(
                checkout.stdout,
                /^93fc25f\n/,
                `the post's commit checked out: ${checkout.stdout.slice(0, 200)}${checkout.stderr}`,
            );
            assert.match(checkout.stdout, /"version": "2\.2\.36"/, "the 2018 driver the app's package.json locks (mongodb ^2.1.16)");
            const mirrorLog = fs.readFileSync(path.join(lab.dir, "hosts", "mirror", "http.log"), "utf8");
            const fetched = (mirrorLog.match(/"GET \/registry\.npmjs\.org\/-\/\S+\.tgz HTTP\/1\.1" 200/g) ?? []).length;
            assert.ok(fetched > 50, `the app's npm tarballs from the lab's registry (${fetched} in the mirror's log)`);
            const journal = await guest("nodejs", "sudo -n journalctl -u nodejs --no-pager -o cat");
            assert.match(journal.stdout, /Connected to MongoDB at: mongodb:\/\/nodejs:/, `the app's log:\n${journal.stdout.slice(-1500)}`);

            const mongod = (await guestFile("mongodb", "/etc/mongod.conf")) ?? "";
            assert.match(
                mongod,
                /^ {2}bindIp: 0\.0\.0\.0$/m,
                `expected bindIp 0.0.0.0 in the mongodb VM's /etc/mongod.conf, saw:\n${mongod}`,
            );
            const sysconfig = await guest("nodejs", "sudo -n stat -c '%a %U' /etc/sysconfig/nodejs");
            assert.equal(sysconfig.stdout.trim(), "600 root", "expected /etc/sysconfig/nodejs 0600 root in the nodejs VM");
            assert.equal(
                await guestFile("nodejs", "/etc/sysconfig/nodejs"),
                `MONGO_URL=mongodb://nodejs:${MONGODB_PASSWORD}@mongodb/nodejs\n`,
                "expected MONGO_URL with the stack's mongodbPassword",
            );
            const analyzer = (await getJSON("pods", "-n", "skydive", "-l", "app=skydive,tier=analyzer")).items[0];
            assert.ok(analyzer?.status?.podIP, "expected the Skydive analyzer's pod IP");
            for (const vm of ["nodejs", "mongodb"]) {
                const conf = (await guestFile(vm, "/etc/skydive/skydive.yml")) ?? "";
                assert.match(
                    conf,
                    new RegExp(`${analyzer.status.podIP.replace(/\./g, "\\.")}:8082`),
                    `expected the analyzer ${analyzer.status.podIP}:8082 in ${vm}'s skydive.yml, saw:\n${conf}`,
                );
            }
            // the mongodb role ran in the mongodb VM only: the nodejs VM's image has the package's own
            // mongod.conf (the lab's guests share one image with every package of the post), untouched
            assert.match(
                (await guestFile("nodejs", "/etc/mongod.conf")) ?? "",
                /^ {2}bindIp: 127\.0\.0\.1$/m,
                "the nodejs VM's mongod.conf untouched",
            );
            const noMongod = await guest("nodejs", "systemctl is-active mongod; systemctl is-enabled mongod");
            assert.match(noMongod.stdout, /^(inactive|unknown)\n(disabled|not-found)/, `no mongod in the nodejs VM: ${noMongod.stdout}`);
        },
        60_000,
    );

    step(
        "5. DNS: the nodes' names, and the ingress wildcard at the node running the ingress controller",
        async () => {
            const dig = async (name: string) =>
                (await lab.op(["dig", "@172.31.50.10", "+short", "+time=2", "+tries=2", name], {}, 20_000)).stdout.trim();
            for (const [name, ip] of Object.entries(NODES)) assert.equal(await dig(name), ip, `expected ${name} → ${ip}`);
            const pod = (await getJSON("pods", "-n", "ingress-nginx", "-l", "app=ingress-nginx")).items[0];
            const node = pod?.spec?.nodeName;
            assert.ok(node, "expected the ingress controller's pod bound to a node");
            for (const name of ["nodejs.ingress.virtomation.com", "mgmt.ingress.virtomation.com", "skydive.ingress.virtomation.com"])
                assert.equal(await dig(name), NODES[node], `expected ${name} → ${NODES[node]} (${node}, the ingress controller's node)`);
        },
        60_000,
    );

    step(
        "5b. the deep dive, read from the lab: the virt-launcher pod's br1 (eth0, vnet0, 169.254.75.86/32, no address on eth0, no route) and its DHCP server on br1:67; the VM's address (the pod's), MTU 1500 over 1450, its resolv.conf and kube-dns names; kube-proxy on 30000 and the ingress DNAT; only kube-proxy's DNAT reaches the guests; the page count growing across two views whose traffic crosses flannel.1 from kn1 to kn2",
        async () => {
            const launcher = (await getJSON("pods", "-n", "nodejs-ex", "-l", "kubevirt.io/domain=nodejs")).items[0];
            assert.ok(launcher, "the nodejs VM's virt-launcher pod");
            const inPod = async (...cmd: string[]) => {
                const r = await kubectl("exec", "-n", "nodejs-ex", "-c", "compute", launcher.metadata.name, "--", ...cmd);
                assert.equal(r.code, 0, `kubectl exec ${cmd.join(" ")}: ${r.stderr}`);
                return r.stdout;
            };
            const ipa = await inPod("ip", "-o", "addr");
            assert.match(ipa, /\bbr1\s+inet 169\.254\.75\.86\/32 /, `br1 holds 169.254.75.86/32:\n${ipa}`);
            assert.doesNotMatch(ipa, /\beth0\s+inet /, `the pod's eth0 has no IPv4 address (the VM has it):\n${ipa}`);
            const ports = await inPod("bridge", "link", "show");
            assert.match(ports, /: eth0[@:][^\n]* master br1 /, `eth0 a port of br1:\n${ports}`);
            assert.match(ports, /: vnet0[@:][^\n]* master br1 /, `vnet0 a port of br1:\n${ports}`);
            assert.equal((await inPod("ip", "-4", "route")).trim(), "", "no route in the pod");
            assert.match(await inPod("ss", "-uapn"), /0\.0\.0\.0%br1:67 .*"virt-launcher"/, "virt-launcher's DHCP server on br1:67");

            const vmA = await guest("nodejs", "ip -o -4 addr show dev eth0; cat /sys/class/net/eth0/mtu; cat /etc/resolv.conf");
            assert.equal(vmA.code, 0, vmA.stderr);
            assert.match(
                vmA.stdout,
                new RegExp(`inet ${launcher.status.podIP.replace(/\./g, "\\.")}/24 .*dynamic`),
                `the VM has the pod's IP by DHCP:\n${vmA.stdout}`,
            );
            assert.match(vmA.stdout, /^1500$/m, "the VM's MTU stays 1500 (the post's warning: upstream is 1450)");
            assert.match(vmA.stdout, /^; generated by \/usr\/sbin\/dhclient-script$/m);
            assert.match(vmA.stdout, /^search nodejs-ex\.svc\.cluster\.local\. svc\.cluster\.local\. cluster\.local\./m);
            assert.match(vmA.stdout, /^nameserver 10\.96\.0\.10$/m);
            const mongodbSvc = await getJSON("service", "mongodb", "-n", "nodejs-ex");
            const names = await guest(
                "nodejs",
                `python3 -c "import socket;print(socket.gethostbyname('mongodb.nodejs-ex.svc.cluster.local'));print(socket.gethostbyname('mongodb'))"`,
            );
            assert.equal(
                names.stdout.trim(),
                `${mongodbSvc.spec.clusterIP}\n${mongodbSvc.spec.clusterIP}`,
                `kube-dns from the VM:\n${names.stderr}`,
            );

            // the ingress path on the controller's node: kube-proxy holds 30000, DNAT to the nginx pod
            const ctl = (await getJSON("pods", "-n", "ingress-nginx", "-l", "app=ingress-nginx")).items[0];
            const node = ctl.spec.nodeName.split(".")[0];
            assert.match(await hostSh(node, "ss -tlnp | grep ':30000 '"), /users:\(\("kube-proxy"/, "kube-proxy listens on NodePort 30000");
            assert.match(
                await hostSh(node, "iptables -n -L -t nat | grep ingress-nginx/ingress-nginx:http"),
                new RegExp(`DNAT .* to:${ctl.status.podIP.replace(/\./g, "\\.")}:80`),
                "the NodePort's DNAT to the nginx pod",
            );
            // no DNAT of the harness's: every DNAT to a VM's pod IP is one of kube-proxy's endpoint chains
            const vmIPs = (await getJSON("pods", "-n", "nodejs-ex", "-l", "kubevirt.io=virt-launcher")).items.map(
                (p: any) => p.status.podIP,
            );
            for (const h of SHORT) {
                const rules = (await hostSh(h, "iptables-save -t nat")).split("\n").filter((l) => / -j DNAT /.test(l));
                for (const r of rules.filter((l) => vmIPs.some((ip: string) => l.includes(`--to-destination ${ip}:`))))
                    assert.match(r, /^-A KUBE-SEP-\S+ .*--comment "nodejs-ex\//, `${h}: a DNAT to a VM that is not kube-proxy's: ${r}`);
                assert.doesNotMatch(rules.join("\n"), /SIMLAB/, `${h}: no DNAT chain of the harness`);
            }

            // the post's check: the count grows; the views' queries cross flannel.1 from kn1 (nodejs) to kn2 (mongodb)
            const count = async () => {
                const r = await lab.op(["curl", "-s", "--max-time", "10", "http://nodejs.ingress.virtomation.com:30000/"], {}, 20_000);
                const m = /<span class="code" id="count-value">(\d+)<\/span>/.exec(r.stdout);
                assert.ok(m, `the page's count, saw:\n${r.stdout.slice(0, 600)}`);
                return Number(m[1]);
            };
            const capture = hostSh(
                "kn1",
                "timeout 15 tcpdump -nni eth0 -c 2 'udp port 8472 and dst host 172.31.50.232' 2>/dev/null || true",
            );
            await sleep(1500);
            const first = await count();
            const second = await count();
            assert.equal(second, first + 1, `the count grows with each view: ${first}, then ${second}`);
            const vxlan = await capture;
            assert.match(
                vxlan,
                /IP 172\.31\.50\.231\.\d+ > 172\.31\.50\.232\.8472: (OTV|VXLAN)/,
                `the views' traffic crossed flannel.1 to kn2:\n${vxlan}`,
            );
            // the post's ss -tuapn in the nodejs VM: its connections to MongoDB go to the Service's ClusterIP
            const estab = await guest("nodejs", "ss -tn state established '( dport = :27017 )'");
            assert.match(
                estab.stdout,
                new RegExp(
                    `${launcher.status.podIP.replace(/\./g, "\\.")}:\\d+\\s+${mongodbSvc.spec.clusterIP.replace(/\./g, "\\.")}:27017`,
                ),
                `the app's connections to the mongodb ClusterIP:\n${estab.stdout}${estab.stderr}`,
            );

            // the post's checks as a user runs them: npm run verify (npm run lab -- verify)
            const v = await lab.op(
                ["npm", "run", "--silent", "verify", "--", "--cwd", project.dir, "--stack", project.stack],
                project.env,
                120_000,
                REPO,
            );
            const out = `${v.stdout}${v.stderr}`;
            assert.equal(v.code, 0, `npm run verify:\n${out}`);
            for (const c of ["dns", "page", "vts", "swap"]) assert.match(v.stdout, new RegExp(`^PASS ${c}: `, "m"), `verify ${c}:\n${out}`);
            assert.doesNotMatch(v.stdout, /^FAIL /m, out);
        },
        240_000,
    );

    step(
        "6. a second up changes nothing: no kubeadm init or join, no playbook run, the same cluster CA",
        async () => {
            const counts = Object.fromEntries(SHORT.map((h) => [h, lab.calls(h).length]));
            const ca = await lab.file("km1", "/etc/kubernetes/pki/ca.crt");
            const preview = await project.pulumi(["preview", "--expect-no-changes"]);
            assert.equal(preview.code, 0, `expected no changes, preview said:\n${preview.stdout}\n${preview.stderr}`);
            const r = await project.pulumi(["up", "--yes", "--skip-preview"]);
            assert.equal(r.code, 0, r.stderr);
            timings.reUp = r.ms;
            assert.doesNotMatch(r.stdout, /\b(created|updated|deleted|replaced)\b/, `expected no change, saw:\n${r.stdout}`);
            for (const h of SHORT) {
                const fresh = lab.calls(h).slice(counts[h]);
                assert.deepEqual(
                    fresh.filter((l) => / kubeadm (init|join|reset)/.test(l)),
                    [],
                    `${h}: expected no kubeadm init, join or reset on a no-op up`,
                );
            }
            assert.equal(await lab.file("km1", "/etc/kubernetes/pki/ca.crt"), ca, "expected the same cluster CA (no second init)");
        },
        180_000,
    );

    const drift = () => project.drift();

    step(
        "6b. drift on the real cluster: none after up; a Service deleted by hand is reported, and the repair it prints brings it back",
        async () => {
            const clean = await drift();
            assert.equal(clean.code, 0, `expected no drift after up:\n${clean.text}`);
            assert.ok(
                clean.lines.some((l) => /^OK km1 kubernetes-objects\b/.test(l)),
                `expected the lab's Kubernetes objects checked on the real API:\n${clean.text}`,
            );
            for (const h of SHORT)
                assert.ok(clean.lines.includes(`OK ${h} swap`), `expected swap off on ${h} (kubeadm 1.9.4's preflight):\n${clean.text}`);

            const del = await kubectl("delete", "service", "nodejs", "-n", "nodejs-ex");
            assert.equal(del.code, 0, del.stderr);
            const d = await drift();
            assert.equal(d.code, 1, `expected drift:\n${d.text}`);
            assert.ok(
                d.lines.some((l) => /^DRIFT km1 kubernetes-objects: .*service nodejs-ex\/nodejs\b/.test(l)),
                `expected the deleted Service reported:\n${d.text}`,
            );
            const command = d.lines
                .find((l) => /^ {2}pulumi up /.test(l))
                ?.trim()
                .split(/\s+/);
            assert.ok(command, `expected a repair command:\n${d.text}`);
            assert.ok(command.includes("--refresh"), `expected the repair to refresh: ${command.join(" ")}`);
            const r = await lab.op(
                ["pulumi", "--non-interactive", ...command.slice(1).map((w) => w.replace(/^'(.*)'$/, "$1")), "--yes", "--skip-preview"],
                project.env,
                300_000,
                project.dir,
            );
            assert.equal(r.code, 0, `${command.join(" ")} failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
            const back = await waitFor(
                "the nodejs Service back, its endpoint on the nodejs VM's launcher pod",
                async () => {
                    const pods = await endpointPods("nodejs-ex", "nodejs");
                    if (pods.length === 1 && pods[0].startsWith("virt-launcher-nodejs-")) return pods;
                    throw new Error(`endpoints ${JSON.stringify(pods)}`);
                },
                30_000,
            );
            assert.equal(back.length, 1);
            const again = await drift();
            assert.equal(again.code, 0, `expected no drift after the repair:\n${again.text}`);
            const preview = await project.pulumi(["preview", "--expect-no-changes"]);
            assert.equal(preview.code, 0, `expected no changes after the repair:\n${preview.stdout}\n${preview.stderr}`);
        },
        300_000,
    );

    /** metadata.generation of every add-on and workload object a change must leave alone. */
    async function generations(): Promise<Record<string, number>> {
        const out: Record<string, number> = {};
        for (const [kind, ns] of [
            ["deployments,daemonsets", "kube-system"],
            ["deployments,daemonsets,services", "skydive"],
            ["deployments,services,configmaps", "ingress-nginx"],
            ["offlinevirtualmachines,services,ingresses", "nodejs-ex"],
        ])
            for (const o of (await getJSON(kind, "-n", ns)).items) {
                // a running controller's leader-election lock (ingress-nginx's ConfigMap
                // ingress-controller-leader-nginx) changes with each renewal: not the lab's object
                if (o.metadata.annotations?.["control-plane.alpha.kubernetes.io/leader"]) continue;
                out[`${o.kind} ${ns}/${o.metadata.name}`] = o.metadata.generation ?? Number(o.metadata.resourceVersion);
            }
        return out;
    }

    async function upChanging(what: string): Promise<string[]> {
        const r = await project.pulumi(["up", "--yes", "--skip-preview"], 300_000);
        assert.equal(r.code, 0, `pulumi up (${what}) failed:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-3000)}`);
        return changedResources(r.stdout);
    }

    step(
        "7. a NodePort change (ingressMgmtNodePort 32000 → 32001) updates only that Service, in place",
        async () => {
            const before = await generations();
            const uid = (await getJSON("service", "ingress-nginx", "-n", "ingress-nginx")).metadata.uid;
            assert.equal((await project.pulumi(["config", "set", "ingressMgmtNodePort", "32001"])).code, 0);
            const t0 = Date.now();
            const changed = await upChanging("NodePort change");
            timings.nodePortChange = Date.now() - t0;
            assert.deepEqual(changed, ["kubernetes:core/v1:Service ingress-nginx/ingress-nginx updated"], "expected one Service updated");
            const svc = await getJSON("service", "ingress-nginx", "-n", "ingress-nginx");
            assert.equal(svc.metadata.uid, uid, "expected the same Service (updated, not replaced)");
            assert.deepEqual(
                svc.spec.ports.map((p: any) => `${p.name} ${p.nodePort}`),
                ["http 30000", "https 30443", "http-mgmt 32001"],
            );
            const after = await generations();
            const moved = Object.keys(after).filter((k) => k !== "Service ingress-nginx/ingress-nginx" && after[k] !== before[k]);
            assert.deepEqual(moved, [], "expected no other add-on or workload object changed");
        },
        300_000,
    );

    step(
        "8. vmsRunning false stops only the VMs: no VirtualMachine or virt-launcher pod left, the OVMs and Services stay",
        async () => {
            const before = await generations();
            countBeforeStop = await pageCount();
            assert.ok(countBeforeStop !== undefined, "the page answers with its count before the VMs stop");
            assert.equal((await project.pulumi(["config", "set", "vmsRunning", "false"])).code, 0);
            const t0 = Date.now();
            const changed = await upChanging("vmsRunning false");
            timings.vmsStopped = Date.now() - t0;
            assert.deepEqual(
                changed,
                [
                    "command:local:Command app-playbook deleted",
                    "command:local:Command app-vm-host-keys deleted",
                    "command:remote:Command nodejs-ex-mongodb-running deleted",
                    "command:remote:Command nodejs-ex-nodejs-running deleted",
                    "kubernetes:kubevirt.io/v1alpha1:OfflineVirtualMachine nodejs-ex/mongodb updated",
                    "kubernetes:kubevirt.io/v1alpha1:OfflineVirtualMachine nodejs-ex/nodejs updated",
                ],
                "expected the two OVMs updated and the waits for running VMs (and the app run on them, with their host keys) dropped",
            );
            await waitFor(
                "no VirtualMachine and no virt-launcher pod in nodejs-ex",
                async () => {
                    const vms = (await getJSON("virtualmachines", "-n", "nodejs-ex")).items.map((o: any) => o.metadata.name);
                    const pods = (await getJSON("pods", "-n", "nodejs-ex", "-l", "kubevirt.io=virt-launcher")).items.map(
                        (o: any) => o.metadata.name,
                    );
                    if (vms.length + pods.length === 0) return true;
                    throw new Error(`VMs ${vms}, pods ${pods}`);
                },
                60_000,
            );
            for (const vm of ["nodejs", "mongodb"])
                assert.equal((await getJSON("offlinevirtualmachine", vm, "-n", "nodejs-ex")).spec.running, false, `OVM ${vm} stopped`);
            const after = await generations();
            const moved = Object.keys(after).filter((k) => !k.startsWith("OfflineVirtualMachine ") && after[k] !== before[k]);
            assert.deepEqual(moved, [], "expected nothing but the OVMs changed");
            assert.deepEqual(await endpointPods("nodejs-ex", "nodejs"), [], "the nodejs Service stays, with no endpoint");
            assert.equal(await pageCount(), undefined, "the page fails while the VMs are stopped");
            // no guest left on the nodes: no guest process (the launcher's "qemu-lab:<ns>_<vm>" holder), and no
            // network namespace but those of the node's running pods (the launchers' went with them)
            const running = (await getJSON("pods", "--all-namespaces")).items.filter(
                (p: any) => !p.spec.hostNetwork && p.status.phase === "Running",
            );
            for (const h of ["kn1", "kn2"]) {
                const left = await hostSh(h, "pgrep -fc '^qemu-lab:' || true; ip netns list | cut -d' ' -f1");
                const [guests, ...netns] = left.trim().split("\n");
                assert.equal(guests, "0", `${h}: no guest process left:\n${left}`);
                const want = running.filter((p: any) => p.spec.nodeName.startsWith(`${h}.`)).map((p: any) => `cni-${p.metadata.uid}`);
                assert.deepEqual(netns.filter(Boolean).sort(), want.sort(), `${h}: the network namespaces of its running pods only`);
            }
        },
        300_000,
    );

    step(
        "8b. vmsRunning true again, the up killed while the VMs start: recovered as npm run lab does, one plain re-run converges",
        async () => {
            assert.equal((await project.pulumi(["config", "set", "vmsRunning", "true"])).code, 0);
            const rec = await killedUp("in the workload stage", workersLogged(/pod nodejs-ex\/virt-launcher-\S+: status Running/), 300_000);
            const inits = lab.calls("km1").filter((l) => / kubeadm (init|reset)( |$)/.test(l)).length;
            const r = await project.pulumi(["up", "--yes", "--skip-preview", ...rec.replace], 300_000);
            assert.equal(r.code, 0, `the up after the kill failed:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-3000)}`);
            assert.doesNotMatch(r.stdout + r.stderr, /pending operations/, "no pending operation left");
            const preview = await project.pulumi(["preview", "--expect-no-changes"]);
            assert.equal(preview.code, 0, `changes left after the kill and one up:\n${preview.stdout}\n${preview.stderr}`);
            assert.equal(
                lab.calls("km1").filter((l) => / kubeadm (init|reset)( |$)/.test(l)).length,
                inits,
                "no kubeadm init or reset for a kill in the workload stage",
            );
            for (const vm of ["nodejs", "mongodb"]) {
                const o = await getJSON("virtualmachine", vm, "-n", "nodejs-ex");
                assert.equal(o.status?.phase, "Running", `expected VM ${vm} Running again, saw ${JSON.stringify(o.status)}`);
            }
            // the same data back: the guests' disks kept what the app and MongoDB wrote, the count continues
            const again = await waitFor("the page answering again", async () => (await pageCount()) ?? false, 120_000, 3000);
            assert.ok(
                countBeforeStop !== undefined && again > countBeforeStop,
                `the count continues: ${countBeforeStop} before the stop, ${again} after`,
            );
            assert.match(
                await waitFor(
                    "the mongodb guest answering ssh again",
                    async () => (await guestFile("mongodb", "/etc/mongod.conf")) ?? false,
                    120_000,
                    3000,
                ),
                /bindIp: 0\.0\.0\.0/,
                "the app's files still in the VMs' guests",
            );
        },
        600_000,
    );

    step(
        "9. destroy deletes every object of the lab through the API, then drains and deletes every Node, resets every host; nothing left",
        async () => {
            // Watches from the operator namespace, with the admin credentials, until the API server
            // goes away with the master's reset: what they saw deleted was deleted before it.
            const paths: Record<string, string> = {
                nodes: "/api/v1/nodes",
                namespaces: "/api/v1/namespaces",
                crds: "/apis/apiextensions.k8s.io/v1beta1/customresourcedefinitions",
                clusterroles: "/apis/rbac.authorization.k8s.io/v1/clusterroles",
                deployments: "/apis/extensions/v1beta1/namespaces/kube-system/deployments",
                daemonsets: "/apis/extensions/v1beta1/namespaces/kube-system/daemonsets",
            };
            const creds = credentialFiles();
            const watches = Object.fromEntries(Object.entries(paths).map(([k, p]) => [k, watch(creds, p, 240_000)]));
            await sleep(1500); // the watches' first events (what exists) are in before anything is removed

            const before = Object.fromEntries(SHORT.map((h) => [h, lab.calls(h).length]));
            const r = await project.pulumi(["destroy", "--yes", "--skip-preview"], 240_000);
            assert.equal(r.code, 0, `destroy failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
            timings.destroy = r.ms;

            const seen: Record<string, { deleted: string[]; left: string[] }> = {};
            for (const [k, w] of Object.entries(watches)) {
                const r = await w;
                assert.ok(r.ended, `expected the ${k} watch to end when the API server stopped (the master's reset)`);
                assert.ok(r.events.length > 0, `expected the ${k} watch to see the objects there (ADDED events) before the destroy`);
                seen[k] = deletedAndLeft(r.events);
            }
            const expectGone = (k: string, gone: string[], left: string[]) => {
                assert.deepEqual(seen[k].deleted, gone, `${k}: expected deleted through the API ${gone}, saw ${seen[k].deleted}`);
                assert.deepEqual(seen[k].left, left, `${k}: expected left when the API server stopped ${left}, saw ${seen[k].left}`);
            };
            // the lab's namespaces: a namespace leaves etcd only once everything in it is gone
            expectGone("namespaces", ["ingress-nginx", "nodejs-ex", "skydive"], ["default", "kube-public", "kube-system"]);
            expectGone(
                "crds",
                ["offlinevirtualmachines", "virtualmachinepresets", "virtualmachinereplicasets", "virtualmachines"].map(
                    (c) => `${c}.kubevirt.io`,
                ),
                [],
            );
            const clusterRoles = seen.clusterroles;
            assert.deepEqual(clusterRoles.deleted, ["kubevirt-apiserver", "kubevirt-controller", "nginx-ingress-clusterrole"]);
            assert.ok(
                clusterRoles.left.includes("flannel"),
                "Flannel's ClusterRole (the cluster stage's, kubectl-applied) stays to the reset",
            );
            expectGone("deployments", ["kube-system/virt-api", "kube-system/virt-controller"], ["kube-system/kube-dns"]);
            expectGone("daemonsets", ["kube-system/virt-handler"], ["kube-system/kube-flannel-ds", "kube-system/kube-proxy"]);
            expectGone("nodes", Object.keys(NODES), []);

            // each host reset, workers before the master; the drains on km1 before its reset
            const calls = Object.fromEntries(SHORT.map((h) => [h, parseCalls(lab.calls(h).slice(before[h]))]));
            const resetAt: Record<string, number> = {};
            for (const h of SHORT) {
                const reset = calls[h].find((c) => c.prog === "kubeadm" && c.args[0] === "reset" && c.args.length === 1);
                assert.ok(reset, `expected kubeadm reset on ${h}, saw:\n${calls[h].map((c) => c.line).join("\n")}`);
                resetAt[h] = reset!.t;
            }
            assert.ok(resetAt.kn1 < resetAt.km1 && resetAt.kn2 < resetAt.km1, "expected the workers reset before the master");
            for (const n of Object.keys(NODES)) {
                const drain = calls.km1.find((c) => c.prog === "kubectl" && c.args.includes("drain") && c.args.includes(n));
                const del = calls.km1.find((c) => c.prog === "kubectl" && c.args.includes("delete") && c.args.includes(n));
                assert.ok(drain && del, `expected km1 to drain and delete ${n}`);
                assert.ok(del!.t < resetAt.km1, `expected ${n} deleted before the master's reset`);
            }

            for (const h of SHORT) {
                const left = await lab.cli(["exec", h, "sh", "-c", "find /etc/kubernetes /var/lib/etcd -type f 2>/dev/null; true"]);
                assert.equal(left.stdout, "", `expected ${h}'s /etc/kubernetes (and /var/lib/etcd) emptied, saw:\n${left.stdout}`);
                const leftProcs = kubeProcesses(h);
                if (leftProcs.length) {
                    const log = (await lab.file(h, "/var/log/kubevirt-lab/kubelet.log")) ?? "<none>";
                    process.stderr.write(`--- ${h}: kubelet stand-in log (last 60 lines)\n${log.split("\n").slice(-60).join("\n")}\n`);
                }
                assert.deepEqual(leftProcs, [], `expected no kubelet stand-in or control-plane process left on ${h}`);
                const active = await lab.cli(["exec", h, "sh", "-c", "systemctl is-active kubelet; true"]);
                assert.equal(active.stdout, "inactive\n", `expected kubelet inactive on ${h}, saw ${active.stdout}`);
                const net = await hostSh(
                    h,
                    "ip -o link show; ip netns list; iptables-save | grep -c -e KUBE- -e 'FLANNEL' || true; ls /var/lib/cni /run/flannel 2>&1 || true",
                );
                assert.doesNotMatch(
                    net,
                    /flannel\.1|cni0|veth|cni-[0-9a-f-]{36}/,
                    `expected no flannel.1, cni0, veth or pod namespace left on ${h}:\n${net}`,
                );
                assert.match(net, /^0$/m, `expected no KUBE-* chain or rule left on ${h}:\n${net}`);
            }
        },
        300_000,
    );

    it("10. no join token, admin key or MongoDB password on the console or in plaintext in the state", (t) => {
        if (steps.failed) return t.skip("an earlier step failed");
        const secrets = new Set<string>(joinTokens);
        assert.ok(secrets.size >= 2, `a token per worker's join (kubeadm token list after up): ${secrets.size}`);
        for (const h of ["km1", "kn1", "kn2"]) {
            const calls = lab.calls(h).join("\n");
            for (const s of joinTokens) assert.ok(!calls.includes(s), `${h}: a join token on a command line`);
        }
        const key = YAML.parse(fs.readFileSync(kubeconfig, "utf8")).users[0].user["client-key-data"];
        secrets.add(key);
        secrets.add(MONGODB_PASSWORD);
        const state = project.stateText();
        for (const s of secrets) {
            assert.ok(!project.console.includes(s), `a secret (${s.slice(0, 6)}…) was printed`);
            assert.ok(!state.includes(s), `a secret (${s.slice(0, 6)}…) is in the state in plaintext`);
        }
    });
});
