// The cluster stage for real: the Pulumi engine against a simulated lab of real Kubernetes
// (harness/simlab.sh up --kubernetes real): real kubeadm 1.9.4 init on km1 and join on kn1 and kn2,
// the real control plane (etcd, kube-apiserver, controller-manager, scheduler) run by the kubelet
// stand-in, Flannel's manifest from the lab's mirror applied by real kubectl. Every check is made
// against the real API server, with kubectl 1.9.4 from the lab's operator namespace and the stack's
// kubeconfig output; then a second up that changes nothing, then a destroy that drains and resets
// every node.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { Project, REPO, RunResult, SimLab, engineEnv, parseCalls } from "../../harness/lib/simlab";
import { Steps } from "../lib/steps";

const LAB = "kvlreal";
const HOSTS = "km1=172.31.50.221,kn1=172.31.50.231,kn2=172.31.50.232";
const MIRROR = "mirror=172.31.50.5";
const FLANNEL_PATH = "/raw.githubusercontent.com/coreos/flannel/v0.9.1/Documentation/kube-flannel.yml";
const FLANNEL_URL = `http://172.31.50.5${FLANNEL_PATH}`;
const NODES: Record<string, string> = {
    "km1.virtomation.com": "172.31.50.221",
    "kn1.virtomation.com": "172.31.50.231",
    "kn2.virtomation.com": "172.31.50.232",
};
const SHORT = ["km1", "kn1", "kn2"];
/**
 * What cannot pass in a simulated host (shared/k8s-1.9.4/README.md): the kernel (6.x) is not one
 * 1.9 knows and there is no docker daemon to answer `docker info`. iptables is Debian's, installed
 * by harness/prereqs.sh; docker is active for the systemctl stand-in.
 */
const IGNORE = ["SystemVerification"];
const CONTROL_PLANE = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"];
/** Where a host sees the binaries (harness/simlab.sh, --kubernetes real). */
const HOST_K8S_BIN = "/var/lib/kubevirt-lab-sim/k8s-bin";

const lab = new SimLab(LAB);
let project: Project;
let kubectlBin = "";
let tmp = "";
let kubeconfig = "";
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

/** Polls fn until it returns something truthy, bounded by count and time; the error says what was last seen. */
async function waitFor<T>(what: string, fn: () => Promise<T | false>, timeoutMs: number, everyMs = 1000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    for (let i = 0; i < Math.ceil(timeoutMs / everyMs) + 1 && Date.now() <= deadline; i++) {
        try {
            const v = await fn();
            if (v) return v;
        } catch (e) {
            last = e instanceof Error ? e.message : String(e);
        }
        await sleep(everyMs);
    }
    throw new Error(`expected ${what} within ${timeoutMs} ms${last ? `; last seen: ${last}` : ""}`);
}

/** The processes of a host (its network namespace) as "pid command line". */
function processes(host: string): Array<{ pid: number; cmd: string }> {
    const pids = execFileSync("ip", ["netns", "pids", `${LAB}-${host}`], { encoding: "utf8" })
        .split(/\s+/)
        .filter(Boolean);
    const out: Array<{ pid: number; cmd: string }> = [];
    for (const p of pids) {
        try {
            out.push({ pid: Number(p), cmd: fs.readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0").join(" ").trim() });
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

/** Kubernetes' own processes on a host: the kubelet stand-in and the control plane's static pods. */
function kubeProcesses(host: string): string[] {
    return processes(host)
        .map((p) => p.cmd)
        .filter((c) => c.includes("harness/standins/kubelet/main.ts") || CONTROL_PLANE.some((b) => c.startsWith(`${HOST_K8S_BIN}/${b} `)));
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
    project.configure({
        stages: ["dns"],
        flannelManifestUrl: FLANNEL_URL,
        kubeadmIgnorePreflightErrors: IGNORE,
        nodeReadyTimeoutSeconds: "180",
    });
    await project.init();
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

describe("the cluster stage with real kubeadm 1.9.4 in the simulated lab", () => {
    step(
        "1. up: three nodes Ready at v1.9.4 with their addresses and pod CIDRs, Flannel from the mirror, kube-dns and kube-proxy",
        async () => {
            const r = await project.pulumi(["up", "--yes", "--skip-preview"], 300_000);
            assert.equal(r.code, 0, `pulumi up failed:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
            timings.up = r.ms;

            const out = await project.pulumi(["stack", "output", "--show-secrets", "kubeconfig"]);
            assert.equal(out.code, 0, `pulumi stack output kubeconfig: ${out.stderr}`);
            fs.writeFileSync(kubeconfig, out.stdout, { mode: 0o600 });
            project.console = project.console.replace(out.stdout, ""); // asked for here: not a leak (step 4)
            assert.equal(YAML.parse(out.stdout).clusters[0].cluster.server, "https://172.31.50.221:6443");

            const version = JSON.parse((await kubectl("version", "-o", "json")).stdout);
            assert.equal(version.serverVersion?.gitVersion, "v1.9.4", `expected the API server v1.9.4, saw ${JSON.stringify(version)}`);

            const ready = (o: any) => (o.status?.conditions ?? []).find((c: any) => c.type === "Ready")?.status;
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
        360_000,
    );

    step(
        "2. a second up changes nothing: no kubeadm init or join, the same cluster CA",
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

    step(
        "3. destroy drains and deletes every Node before the master's reset, resets every host; no Kubernetes process or file left",
        async () => {
            // Watch the Nodes from the operator namespace, with the admin credentials, until the API
            // server goes away with the master's reset.
            const conf = YAML.parse(fs.readFileSync(kubeconfig, "utf8"));
            const creds = { ca: conf.clusters[0].cluster["certificate-authority-data"], ...conf.users[0].user };
            for (const [f, v] of [
                ["ca.crt", creds.ca],
                ["admin.crt", creds["client-certificate-data"]],
                ["admin.key", creds["client-key-data"]],
            ])
                fs.writeFileSync(path.join(tmp, f), Buffer.from(v, "base64"), { mode: 0o600 });
            const watch = lab.op(
                [
                    "curl",
                    "-sSN",
                    "--cacert",
                    path.join(tmp, "ca.crt"),
                    "--cert",
                    path.join(tmp, "admin.crt"),
                    "--key",
                    path.join(tmp, "admin.key"),
                    "https://172.31.50.221:6443/api/v1/nodes?watch=true",
                ],
                {},
                240_000,
            );
            await sleep(1000); // the watch's first events (the three Nodes) are in before anything is removed

            const before = Object.fromEntries(SHORT.map((h) => [h, lab.calls(h).length]));
            const r = await project.pulumi(["destroy", "--yes", "--skip-preview"], 240_000);
            assert.equal(r.code, 0, `destroy failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
            timings.destroy = r.ms;

            const w = await watch;
            assert.doesNotMatch(w.stderr, /killed after/, "expected the watch to end when the API server stopped (the master's reset)");
            const events = w.stdout
                .split("\n")
                .filter((l) => l.trim() !== "")
                .map((l) => JSON.parse(l) as { type: string; object: { metadata: { name: string } } });
            const present = new Set<string>();
            const deleted: string[] = [];
            for (const e of events) {
                if (e.type === "DELETED") {
                    present.delete(e.object.metadata.name);
                    deleted.push(e.object.metadata.name);
                } else if (e.type === "ADDED" || e.type === "MODIFIED") present.add(e.object.metadata.name);
            }
            assert.deepEqual(
                deleted.sort(),
                Object.keys(NODES),
                `expected each Node deleted once, saw events ${events.map((e) => `${e.type} ${e.object.metadata.name}`).join(", ")}`,
            );
            assert.deepEqual([...present], [], "expected no Node left when the API server went away");

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
                assert.deepEqual(kubeProcesses(h), [], `expected no kubelet stand-in or control-plane process left on ${h}`);
                const active = await lab.cli(["exec", h, "sh", "-c", "systemctl is-active kubelet; true"]);
                assert.equal(active.stdout, "inactive\n", `expected kubelet inactive on ${h}, saw ${active.stdout}`);
            }
        },
        300_000,
    );

    it("4. no join token or admin key on the console or in plaintext in the state", (t) => {
        if (steps.failed) return t.skip("an earlier step failed");
        const secrets = new Set<string>();
        for (const h of ["kn1", "kn2"])
            for (const c of parseCalls(lab.calls(h)).filter((x) => x.prog === "kubeadm" && x.args[0] === "join")) {
                const token = c.args[c.args.indexOf("--token") + 1];
                if (token) secrets.add(token);
            }
        assert.equal(secrets.size, 2, "a token per worker's join");
        const key = YAML.parse(fs.readFileSync(kubeconfig, "utf8")).users[0].user["client-key-data"];
        secrets.add(key);
        const state = project.stateText();
        for (const s of secrets) {
            assert.ok(!project.console.includes(s), `a secret (${s.slice(0, 6)}…) was printed`);
            assert.ok(!state.includes(s), `a secret (${s.slice(0, 6)}…) is in the state in plaintext`);
        }
    });
});
