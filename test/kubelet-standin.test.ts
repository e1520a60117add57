// The kubelet stand-in (harness/standins/kubelet) as the kubelet of a real Kubernetes v1.9.4:
// real `kubeadm init` on km1 and real `kubeadm join` on kn1, each host a private mount namespace
// (overlays on /etc and /var) inside one private network namespace (kvl-kubelet-test-<pid>, addresses
// 172.31.99.11 and .12 on its loopback; nothing leaves it). The stand-in runs the control plane's
// static pods on km1, does the TLS bootstrap on kn1, keeps both Nodes Ready and gives their pods
// Running/Ready status with IPs from each node's pod CIDR.
import assert from "node:assert/strict";
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { PodIPs } from "../harness/standins/kubelet/pods";
import { Steps } from "./lib/steps";

const REPO = path.join(__dirname, "..");
const STANDIN = path.join(REPO, "harness", "standins", "kubelet", "kubelet-standin");
/** the lab's network namespace: one per run, so that two runs at once (two `npm test`) do not meet */
const NS_PREFIX = "kvl-kubelet-test-";
const NS = `${NS_PREFIX}${process.pid}`;
const HOSTS = { km1: "172.31.99.11", kn1: "172.31.99.12" } as const;
type Host = keyof typeof HOSTS;
const POD_NETWORK = "10.244.0.0/16";
/** kn1's stand-in as kubeadm's drop-in has it: NotReady until a CNI configuration exists */
const KN1_FLAGS = ["--network-plugin=cni", "--cni-conf-dir=/etc/cni/net.d"];
/** The real v0.4.1 release manifest, from the release sources beside the repository (../shared). */
const KUBEVIRT_YAML = path.join(REPO, "..", "shared", "upstream", "manifests", "kubevirt-v0.4.1", "kubevirt.yaml");
/** what the command line of the virt-controller stand-in contains */
const VIRT_CONTROLLER_MAIN = "harness/standins/virt-controller/main.ts";
/** a harmless long-running local program for the static pod, recognisable by its argument */
const SLEEP_ARG = "86399";

function skipReason(): string | false {
    if (process.platform !== "linux") return "needs Linux (network and mount namespaces)";
    if (process.getuid?.() !== 0) return "needs root (network and mount namespaces)";
    for (const tool of ["ip", "unshare", "nsenter", "openssl"]) {
        if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) return `needs ${tool}`;
    }
    if (!/\toverlay$/m.test(fs.readFileSync("/proc/filesystems", "utf8"))) return "needs overlayfs";
    if (!fs.existsSync(KUBEVIRT_YAML)) return `needs ${KUBEVIRT_YAML} (the KubeVirt v0.4.1 manifest)`;
    const check = spawnSync("bash", [path.join(REPO, "harness", "kubernetes.sh"), "--check"], { encoding: "utf8", timeout: 60_000 });
    if (check.status !== 0)
        return `Kubernetes v1.9.4 binaries missing (bash harness/kubernetes.sh builds them): ${(check.stderr || check.stdout).trim().split("\n").pop()}`;
    return false;
}

const SKIP = skipReason();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls fn every `everyMs` until it returns something truthy: bounded by count and by time. */
async function waitFor<T>(what: string, fn: () => T | undefined | null | false, timeoutMs: number, everyMs = 500): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    const max = Math.ceil(timeoutMs / everyMs) + 1;
    let last: unknown;
    for (let i = 0; i < max && Date.now() <= deadline; i++) {
        try {
            const v = fn();
            if (v) return v;
        } catch (e) {
            last = e;
        }
        await sleep(everyMs);
    }
    throw new Error(
        `${what}: not within ${timeoutMs} ms${last ? ` (last error: ${last instanceof Error ? last.message : String(last)})` : ""}`,
    );
}

function ipInCIDR(ip: string, cidr: string): boolean {
    const toInt = (s: string) => s.split(".").reduce((a, b) => a * 256 + Number(b), 0);
    const [net, bits] = cidr.split("/");
    const size = 2 ** (32 - Number(bits));
    return Math.floor(toInt(ip) / size) === Math.floor(toInt(net) / size);
}

describe("kubelet stand-in: pod IPs", () => {
    test("from .2 upward in the node's pod CIDR, stable per pod UID, freed addresses reused, never past the range", () => {
        const ips = new PodIPs();
        assert.equal(ips.get("a"), undefined, "no address before the pod CIDR is known");
        ips.setCIDR("10.244.1.0/24");
        assert.equal(ips.get("a"), "10.244.1.2");
        assert.equal(ips.get("b"), "10.244.1.3");
        assert.equal(ips.get("a"), "10.244.1.2", "the same pod keeps its address");
        ips.release("a");
        assert.equal(ips.get("c"), "10.244.1.2", "a freed address is handed out again");
        ips.adopt("d", "10.244.1.7"); // a pod that had it before a restart of the stand-in
        ips.adopt("e", "10.244.1.7"); // taken: not adopted twice
        ips.adopt("f", "10.244.2.9"); // another node's range: not adopted
        assert.equal(ips.get("d"), "10.244.1.7");
        const seen = new Set<string>();
        for (let i = 0; i < 300; i++) {
            const ip = ips.get(`x${i}`);
            if (ip) seen.add(ip);
        }
        assert.equal(seen.size, 253 - 3, ".2 to .254, less the three held (b, c, d)");
        assert.ok(![...seen].some((ip) => ip.endsWith(".255") || ip.endsWith(".1") || ip.endsWith(".0") || !ip.startsWith("10.244.1.")));
    });
});

describe("kubelet stand-in with real kubeadm 1.9.4 (km1 init, kn1 join)", { skip: SKIP }, () => {
    let tmp = "";
    let bin = "";
    const holders: Partial<Record<Host, ChildProcess>> = {};
    const standins: Partial<Record<Host, ChildProcess>> = {};
    let joinCommand: string[] = [];
    const steps = new Steps();
    const timings = steps.timings;

    /** nsenter's arguments before the command: into the mount and network namespaces of a host's holder. */
    function enterHost(pid: number): string[] {
        return ["-t", String(pid), "-m", "-n", "--"];
    }

    /** Runs a command in a host: its mount namespace and the lab's network namespace. */
    function inHost(h: Host, cmd: string[], o: { timeoutMs?: number; input?: string } = {}) {
        const holder = holders[h];
        assert.ok(holder?.pid, `host ${h} is up`);
        const r = spawnSync(
            "nsenter",
            [
                ...enterHost(holder.pid),
                "env",
                `PATH=${tmp}/tools:${bin}:/usr/sbin:/usr/bin:/sbin:/bin`,
                "KUBECONFIG=/etc/kubernetes/admin.conf",
                // kubectl's discovery cache of its own (~/.kube/cache is shared by every API server at an address)
                `HOME=${tmp}/home`,
                ...cmd,
            ],
            { encoding: "utf8", timeout: o.timeoutMs ?? 20_000, input: o.input ?? "", maxBuffer: 64 << 20 },
        );
        return { code: r.status, stdout: r.stdout ?? "", stderr: (r.stderr ?? "") + (r.error ? `\n${r.error.message}` : "") };
    }

    function kubectl(...args: string[]) {
        return inHost("km1", ["kubectl", ...args]);
    }

    function getJSON(...args: string[]): any {
        const r = kubectl("get", ...args, "-o", "json");
        if (r.code !== 0) throw new Error(`kubectl get ${args.join(" ")}: ${r.stderr.trim()}`);
        return JSON.parse(r.stdout);
    }

    function readyOf(obj: any): any {
        return (obj?.status?.conditions ?? []).find((c: any) => c.type === "Ready");
    }

    /** The processes of the lab's network namespace whose command line contains `needle`. */
    function processes(needle: string): number[] {
        const r = spawnSync("ip", ["netns", "pids", NS], { encoding: "utf8" });
        const out: number[] = [];
        for (const p of (r.stdout ?? "").split(/\s+/).filter(Boolean)) {
            try {
                if (fs.readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0").join(" ").includes(needle)) out.push(Number(p));
            } catch {
                /* gone */
            }
        }
        return out;
    }

    function startStandin(h: Host, extra: string[] = []): ChildProcess {
        const holder = holders[h]!;
        const fd = fs.openSync(path.join(tmp, "logs", `${h}.standin.log`), "a");
        const p = spawn(
            "nsenter",
            [
                ...enterHost(holder.pid!),
                STANDIN,
                "--node-name",
                h,
                "--node-ip",
                HOSTS[h],
                "--kubeconfig",
                "/etc/kubernetes/kubelet.conf",
                "--bootstrap-kubeconfig",
                "/etc/kubernetes/bootstrap-kubelet.conf",
                "--pod-manifest-path",
                "/etc/kubernetes/manifests",
                "--bin-dir",
                bin,
                // flags of kubeadm's kubelet drop-in: accepted, and ignored where there are no containers
                "--allow-privileged=true",
                "--cluster-dns=10.96.0.10",
                "--cluster-domain=cluster.local",
                ...extra,
            ],
            { stdio: ["ignore", fd, fd] },
        );
        fs.closeSync(fd);
        standins[h] = p;
        return p;
    }

    function logOf(h: Host): string {
        try {
            return fs.readFileSync(path.join(tmp, "logs", `${h}.standin.log`), "utf8");
        } catch {
            return "";
        }
    }

    function step(name: string, fn: () => Promise<void> | void, timeoutMs = 60_000) {
        steps.step(name, fn, timeoutMs);
    }

    function cleanNetns(ns: string): void {
        const r = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" });
        if (r.status !== 0) return; // no such namespace
        // only processes of that namespace: what this test (or an earlier run of it) started
        for (const p of (r.stdout ?? "").split(/\s+/).filter(Boolean)) {
            try {
                process.kill(Number(p), "SIGKILL");
            } catch {
                /* gone */
            }
        }
        spawnSync("ip", ["netns", "del", ns]);
    }

    /** Namespaces of earlier runs of this test whose process is gone (killed before its after()). */
    function cleanLeftovers(): void {
        const list = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? "";
        for (const m of list.matchAll(new RegExp(`^(${NS_PREFIX}(\\d+))\\b`, "gm"))) {
            const pid = Number(m[2]);
            let alive = true;
            try {
                process.kill(pid, 0);
            } catch {
                alive = false;
            }
            if (!alive || pid === process.pid) cleanNetns(m[1]);
        }
    }

    before(async () => {
        const t0 = Date.now();
        const env = spawnSync("bash", [path.join(REPO, "harness", "kubernetes.sh"), "--print-env"], { encoding: "utf8", timeout: 60_000 });
        bin = /export KUBEVIRT_LAB_K8S_BIN=(\S+)/.exec(env.stdout)?.[1]?.replace(/^["']|["']$/g, "") ?? "";
        assert.ok(
            bin && fs.existsSync(path.join(bin, "kubeadm")),
            `kubernetes.sh --print-env names the binaries: ${env.stdout}${env.stderr}`,
        );
        cleanLeftovers();
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-kubelet-test-"));
        fs.mkdirSync(path.join(tmp, "logs"));
        const tools = path.join(tmp, "tools");
        fs.mkdirSync(tools);
        // kubeadm calls these: here they must never reach the machine's own services
        fs.writeFileSync(path.join(tools, "systemctl"), '#!/bin/sh\necho "systemctl (test stand-in): $*: no systemd here" >&2\nexit 1\n', {
            mode: 0o755,
        });
        fs.writeFileSync(path.join(tools, "docker"), '#!/bin/sh\necho "docker (test stand-in): no docker daemon here" >&2\nexit 1\n', {
            mode: 0o755,
        });
        // preflight's KubeletVersion check runs `kubelet --version`: the stand-in answers it
        fs.symlinkSync(STANDIN, path.join(tools, "kubelet"));

        const ip = (...a: string[]) => {
            const r = spawnSync("ip", a, { encoding: "utf8" });
            assert.equal(r.status, 0, `ip ${a.join(" ")}: ${r.stderr}`);
        };
        ip("netns", "add", NS);
        ip("-n", NS, "link", "set", "lo", "up");
        for (const a of Object.values(HOSTS)) ip("-n", NS, "addr", "add", `${a}/24`, "dev", "lo");

        const hostsLines = ["127.0.0.1 localhost", ...Object.entries(HOSTS).map(([h, a]) => `${a} ${h}`)].map((l) => `'${l}'`).join(" ");
        for (const h of Object.keys(HOSTS) as Host[]) {
            const d = path.join(tmp, h);
            fs.mkdirSync(d);
            // the host's private view: tmpfs for the overlays' upper layers, /etc and /var as
            // overlays of the machine's (nothing written reaches the real ones); host names from
            // /etc/hosts and no name server, so nothing is looked up outside
            const script = [
                "set -e",
                `mount -t tmpfs tmpfs ${d}`,
                `mkdir -p ${d}/etc/u ${d}/etc/w ${d}/var/u ${d}/var/w`,
                `mount -t overlay overlay -o lowerdir=/etc,upperdir=${d}/etc/u,workdir=${d}/etc/w /etc`,
                `mount -t overlay overlay -o lowerdir=/var,upperdir=${d}/var/u,workdir=${d}/var/w /var`,
                `rm -f /etc/hosts /etc/resolv.conf`,
                `printf '%s\\n' ${hostsLines} > /etc/hosts`,
                `echo 'nameserver 127.0.0.1' > /etc/resolv.conf`,
                "echo ready",
                "exec sleep 900",
            ].join("\n");
            const holder = spawn("ip", ["netns", "exec", NS, "unshare", "-m", "--propagation", "private", "bash", "-c", script], {
                stdio: ["ignore", "pipe", "pipe"],
            });
            holders[h] = holder;
            let out = "";
            holder.stdout!.on("data", (c) => (out += c));
            holder.stderr!.on("data", (c) => (out += c));
            await waitFor(
                `host ${h} ready`,
                () => {
                    if (holder.exitCode !== null) throw new Error(`host ${h} did not come up: ${out}`);
                    return out.includes("ready");
                },
                10_000,
                50,
            );
        }
        timings.before = Date.now() - t0;
    });

    after(async () => {
        const t0 = Date.now();
        // the stand-ins first (SIGTERM: they stop their static pods), then the hosts, then anything left
        for (const p of Object.values(standins)) if (p && p.exitCode === null && p.signalCode === null) p.kill("SIGTERM");
        for (let i = 0; i < 100 && Object.values(standins).some((p) => p && p.exitCode === null && p.signalCode === null); i++)
            await sleep(100);
        for (const p of Object.values(standins)) if (p && p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
        for (const p of Object.values(holders)) if (p && p.exitCode === null) p.kill("SIGKILL");
        await sleep(200);
        cleanNetns(NS);
        if (steps.failed && tmp) {
            for (const h of Object.keys(HOSTS) as Host[])
                process.stderr.write(`--- ${h} stand-in log (last 60 lines)\n${logOf(h).split("\n").slice(-60).join("\n")}\n`);
        }
        timings.after = Date.now() - t0;
        process.stderr.write(`kubelet-standin test timings (ms): ${JSON.stringify(timings)}\n`);
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });

    step(
        "kubeadm init runs every phase with the stand-in as km1's kubelet (static pods of the control plane, the Node for markmaster)",
        async () => {
            // started before init, as systemd starts the kubelet: it waits for kubelet.conf
            startStandin("km1");
            const r = inHost(
                "km1",
                [
                    "kubeadm",
                    "init",
                    "--kubernetes-version",
                    "v1.9.4",
                    "--pod-network-cidr",
                    POD_NETWORK,
                    "--apiserver-advertise-address",
                    HOSTS.km1,
                    "--node-name",
                    "km1",
                    // the kubelet is what is tested here, not preflight: no docker, kernel 6.x,
                    // no iptables in a simulated host (see shared/k8s-1.9.4/README.md)
                    "--ignore-preflight-errors",
                    "all",
                ],
                { timeoutMs: 100_000 },
            );
            fs.writeFileSync(path.join(tmp, "logs", "init.log"), r.stdout + r.stderr);
            assert.equal(r.code, 0, `kubeadm init failed:\n${r.stdout}\n${r.stderr}\n--- stand-in:\n${logOf("km1")}`);
            assert.match(r.stdout, /\[apiclient\] All control plane components are healthy/);
            assert.match(r.stdout, /\[markmaster\] Master km1 tainted and labelled/);
            assert.match(r.stdout, /Your Kubernetes master has initialized successfully!/);
            const join = /kubeadm join (.+)$/m.exec(r.stdout);
            assert.ok(join, "init prints the join command");
            joinCommand = ["kubeadm", "join", ...join[1].trim().split(/\s+/)];
            for (const c of ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"]) {
                assert.ok(processes(`${bin}/${c} `).length === 1, `${c} runs as a local program`);
            }
            // the mirror pods of the static pods, Running with the node's address
            const mirror = await waitFor(
                "mirror pods of the control plane Running/Ready",
                () => {
                    const pods = getJSON("pods", "-n", "kube-system").items.filter(
                        (p: any) => p.metadata.annotations?.["kubernetes.io/config.mirror"],
                    );
                    const ok = pods.filter(
                        (p: any) => p.status.phase === "Running" && readyOf(p)?.status === "True" && p.status.podIP === HOSTS.km1,
                    );
                    return ok.length === 4 ? ok : false;
                },
                20_000,
            );
            assert.deepEqual(mirror.map((p: any) => p.metadata.name).sort(), [
                "etcd-km1",
                "kube-apiserver-km1",
                "kube-controller-manager-km1",
                "kube-scheduler-km1",
            ]);
        },
        120_000,
    );

    step(
        "kubeadm join on kn1, then the stand-in's TLS bootstrap: CSR approved and signed, kubelet.conf written, Node registered with its own certificate",
        async () => {
            startStandin("kn1", KN1_FLAGS);
            // join retries every 5 s until the controller-manager's bootstrapsigner has signed the
            // token into cluster-info; waiting for that here is quicker
            const tokenId = /--token\s+([a-z0-9]{6})\./.exec(joinCommand.join(" "))?.[1];
            assert.ok(tokenId, `a token in ${joinCommand.join(" ")}`);
            await waitFor(
                "cluster-info signed for the token",
                () => getJSON("configmap", "cluster-info", "-n", "kube-public").data?.[`jws-kubeconfig-${tokenId}`],
                30_000,
                250,
            );
            const r = inHost("kn1", [...joinCommand, "--node-name", "kn1", "--ignore-preflight-errors", "all"], { timeoutMs: 60_000 });
            assert.equal(r.code, 0, `kubeadm join failed:\n${r.stdout}\n${r.stderr}`);
            assert.match(r.stdout, /This node has joined the cluster/);
            const conf = await waitFor(
                "kn1's kubelet.conf",
                () => {
                    const c = inHost("kn1", ["cat", "/etc/kubernetes/kubelet.conf"]);
                    return c.code === 0 && c.stdout.includes("client-certificate") ? c.stdout : false;
                },
                20_000,
            );
            assert.match(conf, /client-certificate: \/var\/lib\/kubelet\/pki\/kubelet-client\.crt/);
            const subject = inHost("kn1", ["openssl", "x509", "-noout", "-subject", "-in", "/var/lib/kubelet/pki/kubelet-client.crt"]);
            assert.match(subject.stdout, /O\s*=\s*system:nodes, CN\s*=\s*system:node:kn1/);
            const csrs = getJSON("csr").items;
            const csr = csrs.find((c: any) => c.spec.username?.startsWith("system:bootstrap:"));
            assert.ok(csr, `a CSR made with the bootstrap token: ${JSON.stringify(csrs.map((c: any) => c.spec.username))}`);
            assert.deepEqual([...csr.spec.usages].sort(), ["client auth", "digital signature", "key encipherment"]);
            assert.ok(
                csr.status.conditions.some((c: any) => c.type === "Approved"),
                "approved by the controller-manager",
            );
            assert.ok(csr.status.certificate, "signed");
            await waitFor("Node kn1 registered", () => getJSON("nodes").items.some((n: any) => n.metadata.name === "kn1"), 15_000);
            assert.match(logOf("kn1"), /TLS bootstrap: CSR \S+ signed/);
        },
    );

    step(
        "both Nodes: addresses, the kubelet's labels, a pod CIDR each; kn1 (--network-plugin=cni) NotReady until a CNI configuration exists, then Ready",
        async () => {
            const kn1 = await waitFor(
                "kn1 NotReady for want of a CNI configuration",
                () => {
                    const n = getJSON("node", "kn1");
                    return readyOf(n)?.status === "False" ? n : false;
                },
                15_000,
            );
            assert.match(readyOf(kn1).message, /cni config uninitialized/);
            const w = inHost("kn1", ["sh", "-c", "mkdir -p /etc/cni/net.d && cat > /etc/cni/net.d/10-flannel.conflist"], {
                input: '{"name":"cbr0","plugins":[{"type":"flannel"}]}\n',
            });
            assert.equal(w.code, 0, w.stderr);
            const nodes = await waitFor(
                "km1 and kn1 Ready with pod CIDRs",
                () => {
                    const items = getJSON("nodes").items;
                    return items.length === 2 && items.every((n: any) => readyOf(n)?.status === "True" && n.spec.podCIDR) ? items : false;
                },
                20_000,
            );
            const cidrs = new Set<string>();
            for (const n of nodes) {
                const h = n.metadata.name as Host;
                assert.deepEqual(n.status.addresses, [
                    { type: "InternalIP", address: HOSTS[h] },
                    { type: "Hostname", address: h },
                ]);
                assert.equal(n.metadata.labels["kubernetes.io/hostname"], h);
                assert.equal(n.metadata.labels["beta.kubernetes.io/os"], "linux");
                assert.equal(n.metadata.labels["beta.kubernetes.io/arch"], "amd64");
                assert.equal(n.status.nodeInfo.kubeletVersion, "v1.9.4");
                assert.match(n.status.nodeInfo.containerRuntimeVersion, /^standin:\/\/namespaces-no-images$/);
                assert.match(readyOf(n).message, /runs no containers/);
                assert.ok(ipInCIDR(n.spec.podCIDR.split("/")[0], POD_NETWORK), `${h}'s pod CIDR ${n.spec.podCIDR} is in ${POD_NETWORK}`);
                cidrs.add(n.spec.podCIDR);
            }
            assert.equal(cidrs.size, 2, "one pod CIDR per node");
            assert.equal(
                nodes.find((n: any) => n.metadata.name === "km1").metadata.labels["node-role.kubernetes.io/master"],
                "",
                "markmaster's label",
            );
        },
    );

    let podCIDR: Record<string, string> = {};
    step(
        "a Deployment of 2 spread over both nodes: pods Running/Ready with IPs from each node's pod CIDR; the Service's Endpoints list them",
        async () => {
            podCIDR = Object.fromEntries(getJSON("nodes").items.map((n: any) => [n.metadata.name, n.spec.podCIDR]));
            const manifest = `
apiVersion: extensions/v1beta1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 2
  template:
    metadata: {labels: {app: web}}
    spec:
      tolerations: [{key: node-role.kubernetes.io/master, operator: Exists, effect: NoSchedule}]
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - topologyKey: kubernetes.io/hostname
            labelSelector: {matchLabels: {app: web}}
      containers:
      - {name: web, image: "nginx:1.13", ports: [{containerPort: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
`;
            const r = inHost("km1", ["kubectl", "apply", "-f", "-"], { input: manifest });
            assert.equal(r.code, 0, r.stderr);
            const pods = await waitFor(
                "2 web pods Running/Ready",
                () => {
                    const items = getJSON("pods", "-l", "app=web").items.filter(
                        (p: any) => p.status.phase === "Running" && readyOf(p)?.status === "True" && p.status.podIP,
                    );
                    return items.length === 2 ? items : false;
                },
                30_000,
            );
            assert.deepEqual(pods.map((p: any) => p.spec.nodeName).sort(), ["km1", "kn1"]);
            for (const p of pods) {
                assert.ok(
                    ipInCIDR(p.status.podIP, podCIDR[p.spec.nodeName]),
                    `${p.metadata.name} ${p.status.podIP} in ${p.spec.nodeName}'s ${podCIDR[p.spec.nodeName]}`,
                );
                assert.ok(Number(p.status.podIP.split(".")[3]) >= 2, "from .2 upward");
                assert.equal(p.status.hostIP, HOSTS[p.spec.nodeName as Host]);
            }
            const ep = await waitFor(
                "Endpoints of web",
                () => {
                    const e = getJSON("endpoints", "web");
                    const ips = (e.subsets ?? []).flatMap((s: any) => (s.addresses ?? []).map((a: any) => a.ip));
                    return ips.length === 2 ? ips : false;
                },
                15_000,
            );
            assert.deepEqual([...ep].sort(), pods.map((p: any) => p.status.podIP).sort());
            await waitFor(
                "kube-proxy DaemonSet 2/2 ready (host network pods)",
                () => getJSON("daemonset", "kube-proxy", "-n", "kube-system").status.numberReady === 2,
                15_000,
            );
        },
    );

    step("deleting a pod makes it go at once (grace period 0: nothing to stop); its replacement runs", async () => {
        const pod = getJSON("pods", "-l", "app=web").items.find((p: any) => p.spec.nodeName === "kn1");
        assert.ok(pod);
        const t0 = Date.now();
        const r = kubectl("delete", "pod", pod.metadata.name);
        assert.equal(r.code, 0, r.stderr);
        await waitFor(`pod ${pod.metadata.name} gone`, () => kubectl("get", "pod", pod.metadata.name).code !== 0, 10_000, 250);
        const goneMs = Date.now() - t0;
        assert.ok(goneMs < 10_000, `gone in ${goneMs} ms, not after the 30 s grace period`);
        const repl = await waitFor(
            "a replacement on kn1 Running/Ready",
            () => {
                const p = getJSON("pods", "-l", "app=web").items.find(
                    (x: any) => x.spec.nodeName === "kn1" && x.metadata.uid !== pod.metadata.uid,
                );
                return p && p.status.phase === "Running" && readyOf(p)?.status === "True" ? p : false;
            },
            20_000,
        );
        assert.ok(ipInCIDR(repl.status.podIP, podCIDR.kn1));
        assert.match(logOf("kn1"), new RegExp(`pod default/${pod.metadata.name}: deletion asked for`));
    });

    step(
        "a static pod on kn1: its command runs as a local program, its mirror pod is Running, a change restarts it, a SIGKILLed stand-in's leftover is stopped by the next one, removing the file stops it",
        async () => {
            const manifest = (arg: string) => `apiVersion: v1
kind: Pod
metadata: {name: sleeper, namespace: kube-system, labels: {app: sleeper}}
spec:
  hostNetwork: true
  containers:
  - name: sleep
    image: busybox
    command: ["sleep"]
    args: ["${arg}"]
`;
            const write = (arg: string) => {
                const w = inHost(
                    "kn1",
                    [
                        "sh",
                        "-c",
                        "mkdir -p /etc/kubernetes/manifests && cat > /etc/kubernetes/manifests/.sleeper.tmp && mv /etc/kubernetes/manifests/.sleeper.tmp /etc/kubernetes/manifests/sleeper.yaml",
                    ],
                    { input: manifest(arg) },
                );
                assert.equal(w.code, 0, w.stderr);
            };
            write(SLEEP_ARG);
            const [pid] = await waitFor(
                "the static pod's process",
                () => {
                    const p = processes(`sleep ${SLEEP_ARG}`);
                    return p.length === 1 ? p : false;
                },
                10_000,
                200,
            );
            const mirror = await waitFor(
                "mirror pod sleeper-kn1 Running/Ready",
                () => {
                    const p = getJSON("pods", "-n", "kube-system").items.find((x: any) => x.metadata.name === "sleeper-kn1");
                    return p && p.status.phase === "Running" && readyOf(p)?.status === "True" ? p : false;
                },
                15_000,
            );
            assert.equal(mirror.spec.nodeName, "kn1");
            assert.equal(mirror.status.podIP, HOSTS.kn1);
            assert.equal(mirror.metadata.annotations["kubernetes.io/config.source"], "file");
            const changed = String(Number(SLEEP_ARG) - 1);
            write(changed);
            await waitFor(
                "the process restarted with the changed command",
                () => processes(`sleep ${SLEEP_ARG}`).length === 0 && processes(`sleep ${changed}`).length === 1,
                10_000,
                200,
            );
            assert.ok(!processes(`sleep ${SLEEP_ARG}`).includes(pid));
            // a stand-in killed with SIGKILL leaves its processes behind; its next start stops them first
            const [left] = processes(`sleep ${changed}`);
            const killed = standins.kn1!;
            const exited = new Promise((r) => killed.once("exit", r));
            killed.kill("SIGKILL");
            await exited;
            assert.deepEqual(processes(`sleep ${changed}`), [left], "left running by the killed stand-in");
            startStandin("kn1", KN1_FLAGS);
            await waitFor(
                "the restarted stand-in: the leftover stopped, the static pod running again",
                () => {
                    const p = processes(`sleep ${changed}`);
                    return p.length === 1 && p[0] !== left;
                },
                15_000,
                200,
            );
            assert.match(logOf("kn1"), /left running by an earlier stand-in/);
            // Static pods start before the API is reached: the Node is taken over a moment later.
            await waitFor(
                "the restarted stand-in takes over Node kn1",
                () => /node kn1: exists already; labels ensured/.test(logOf("kn1")),
                15_000,
                200,
            );
            const rm = inHost("kn1", ["rm", "/etc/kubernetes/manifests/sleeper.yaml"]);
            assert.equal(rm.code, 0, rm.stderr);
            await waitFor("the process stopped", () => processes(`sleep ${changed}`).length === 0, 10_000, 200);
            await waitFor(
                "mirror pod sleeper-kn1 gone",
                () => !getJSON("pods", "-n", "kube-system").items.some((x: any) => x.metadata.name === "sleeper-kn1"),
                15_000,
            );
        },
    );

    step("heartbeats: each Node's lastHeartbeatTime advances (every 10 s) and both stay Ready", async () => {
        const beat = (n: any) => Date.parse(readyOf(n).lastHeartbeatTime);
        const first = Object.fromEntries(getJSON("nodes").items.map((n: any) => [n.metadata.name, beat(n)]));
        const nodes = await waitFor(
            "both heartbeats advanced",
            () => {
                const items = getJSON("nodes").items;
                return items.every((n: any) => beat(n) > first[n.metadata.name]) ? items : false;
            },
            25_000,
            1000,
        );
        for (const n of nodes) {
            assert.equal(readyOf(n).status, "True", `${n.metadata.name} Ready`);
            const created = Date.parse(n.metadata.creationTimestamp);
            assert.ok(beat(n) - created >= 10_000, `${n.metadata.name}: a heartbeat ${(beat(n) - created) / 1000} s after registration`);
        }
    });

    step(
        "kubevirt.yaml v0.4.1 on the cluster: each virt-controller pod on kn1 runs the virt-controller stand-in with its ServiceAccount's token; one leads; deleting the leader's pod stops its process and the other takes over",
        async () => {
            const r = inHost("km1", ["kubectl", "apply", "-f", KUBEVIRT_YAML], { timeoutMs: 60_000 });
            assert.equal(r.code, 0, `kubectl apply: ${r.stderr}`);
            const vcPods = () =>
                getJSON("pods", "-n", "kube-system", "-l", "kubevirt.io=virt-controller").items.filter(
                    (p: any) => !p.metadata.deletionTimestamp,
                );
            /** the stand-in process of a pod: its HOSTNAME is the pod's name, as a container's */
            const processOf = (pod: string): number | undefined =>
                processes(VIRT_CONTROLLER_MAIN).find((pid) => {
                    try {
                        return fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(`HOSTNAME=${pod}`);
                    } catch {
                        return false;
                    }
                });
            const running = (n: number) =>
                waitFor(
                    `${n} virt-controller pods Running/Ready on kn1, each with its process`,
                    () => {
                        const items = vcPods().filter((p: any) => p.status.phase === "Running" && readyOf(p)?.status === "True");
                        return items.length === n && items.every((p: any) => processOf(p.metadata.name)) ? items : false;
                    },
                    60_000,
                );
            const pods = await running(2).catch((e) =>
                assert.fail(`${e.message}\n--- kn1:\n${logOf("kn1").split("\n").slice(-40).join("\n")}`),
            );
            const vcLog = (pod: string) => inHost("kn1", ["cat", `/var/log/kubelet-standin/kube-system_${pod}/virt-controller.log`]).stdout;
            for (const pod of pods) {
                assert.equal(pod.spec.nodeName, "kn1", "the master is tainted");
                assert.equal(pod.spec.serviceAccountName, "kubevirt-controller");
                const pid = processOf(pod.metadata.name)!;
                const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
                const kubeconfig = `/var/lib/kubelet/pods/${pod.metadata.uid}/virt-controller.kubeconfig`;
                assert.deepEqual(argv.slice(argv.indexOf("--launcher-image")), [
                    "--launcher-image",
                    "kubevirt/virt-launcher:v0.4.1",
                    "--port",
                    "8182",
                    "--kubeconfig",
                    kubeconfig,
                    "--leader-elect",
                    "--leader-elect-namespace",
                    "kube-system",
                ]);
                const env = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
                assert.ok(
                    env.includes(`KUBERNETES_SERVICE_HOST=${HOSTS.km1}`) && env.includes("KUBERNETES_SERVICE_PORT=6443"),
                    env.join(" "),
                );
                assert.ok(!env.some((e) => e.startsWith("KUBECONFIG=")), "not the kubelet's environment");
                // the token: the ServiceAccount's token Secret, named in the pod's volumes
                const vol = pod.spec.volumes.find((v: any) => v.secret?.secretName?.startsWith("kubevirt-controller-token-"));
                assert.ok(vol, `a token volume in ${JSON.stringify(pod.spec.volumes)}`);
                const secret = getJSON("secret", "-n", "kube-system", vol.secret.secretName);
                const conf = inHost("kn1", ["cat", kubeconfig]).stdout;
                const tokenFile = /tokenFile: (\S+)/.exec(conf)?.[1];
                assert.equal(tokenFile, `/var/lib/kubelet/pods/${pod.metadata.uid}/volumes/kubernetes.io~secret/${vol.name}/token`);
                assert.match(conf, new RegExp(`server: https://${HOSTS.km1.replace(/\./g, "\\.")}:6443`));
                assert.equal(inHost("kn1", ["cat", tokenFile!]).stdout, Buffer.from(secret.data.token, "base64").toString());
                assert.equal(inHost("kn1", ["stat", "-c", "%a", path.dirname(kubeconfig)]).stdout.trim(), "700", "a private folder");
                assert.match(
                    logOf("kn1"),
                    new RegExp(
                        `pod kube-system/${pod.metadata.name}: container virt-controller \\(image kubevirt/virt-controller:v0.4.1\\) runs`,
                    ),
                );
            }
            const names = pods.map((p: any) => p.metadata.name);
            const holder = () => {
                const ep = getJSON("endpoints", "virt-controller", "-n", "kube-system");
                return JSON.parse(ep.metadata.annotations["control-plane.alpha.kubernetes.io/leader"]).holderIdentity as string;
            };
            const leader = await waitFor("a leader among the pods", () => names.includes(holder()) && holder(), 20_000);
            // acting with KubeVirt's RBAC: the leader's informers list OVMs, VMs and pods with its token
            await waitFor("the leader's caches filled", () => /caches filled/.test(vcLog(leader)), 15_000);
            for (const n of names) assert.doesNotMatch(vcLog(n), /forbidden|HTTP 401|HTTP 403/i, `${n}: ${vcLog(n)}`);
            const other = names.find((n: string) => n !== leader)!;
            assert.doesNotMatch(vcLog(other), /caches filled/, "the other one waits");
            // ... and writes with it: an OfflineVirtualMachine becomes a VM and its virt-launcher pod,
            // which the scheduler puts on kn1 and this stand-in reports Running (it runs no VM)
            const ovm = `apiVersion: kubevirt.io/v1alpha1
kind: OfflineVirtualMachine
metadata: {name: testvm, namespace: default}
spec:
  running: true
  template:
    metadata: {labels: {app: testvm}}
    spec:
      domain:
        resources: {requests: {memory: 64M}}
        devices: {disks: [{name: disk0, volumeName: vol0, disk: {}}]}
      volumes: [{name: vol0, registryDisk: {image: kubevirt/cirros-registry-disk-demo}}]
`;
            const a = inHost("km1", ["kubectl", "apply", "-f", "-"], { input: ovm });
            assert.equal(a.code, 0, a.stderr);
            const vm = await waitFor(
                "VirtualMachine testvm Running on kn1",
                () => {
                    const v = getJSON("virtualmachines", "testvm", "-n", "default");
                    return v.status?.phase === "Running" ? v : false;
                },
                30_000,
            ).catch((e) => assert.fail(`${e.message}\n--- ${leader}:\n${vcLog(leader).split("\n").slice(-20).join("\n")}`));
            assert.equal(vm.status.nodeName, "kn1");
            assert.match(vcLog(leader), /created virt-launcher pod default\/virt-launcher-testvm-\w+ for VirtualMachine default\/testvm/);

            const leaderPid = processOf(leader)!;
            const leaderUid = pods.find((p: any) => p.metadata.name === leader).metadata.uid;
            const t0 = Date.now();
            const d = kubectl("delete", "pod", "-n", "kube-system", leader);
            assert.equal(d.code, 0, d.stderr);
            await waitFor("the leader's process stopped", () => !fs.existsSync(`/proc/${leaderPid}`), 15_000, 200);
            await waitFor(
                `pod ${leader} gone`,
                () => !getJSON("pods", "-n", "kube-system").items.some((p: any) => p.metadata.name === leader),
                15_000,
            );
            assert.equal(inHost("kn1", ["test", "-e", `/var/lib/kubelet/pods/${leaderUid}`]).code, 1, "its credentials removed");
            assert.match(logOf("kn1"), new RegExp(`pod kube-system/${leader}: stopping its programs \\(the pod is being deleted\\)`));
            // the lock goes to a candidate once the record has not been renewed for a lease: the
            // other replica, or the Deployment's replacement pod (the first to retry after that wins)
            const next = await waitFor(
                "a new leader among the running pods",
                () => {
                    const h = holder();
                    return h !== leader && vcPods().some((p: any) => p.metadata.name === h) && h;
                },
                30_000,
                500,
            );
            process.stderr.write(
                `kubelet-standin: virt-controller lease handed over to ${next === other ? "the other replica" : "the replacement pod"} ${Date.now() - t0} ms after the leader's pod was deleted\n`,
            );
            await waitFor("the new leader's caches filled", () => /caches filled/.test(vcLog(next)), 10_000);
            const again = await running(2);
            assert.ok(!again.some((p: any) => p.metadata.name === leader), "the Deployment's replacement pod runs its own process");
        },
        150_000,
    );

    step("SIGTERM stops the stand-ins cleanly, with the processes of their static pods and pod programs", async () => {
        const stop = async (h: Host) => {
            const p = standins[h]!;
            const exited = new Promise<number | null>((r) => p.once("exit", (code) => r(code)));
            p.kill("SIGTERM");
            let timer: NodeJS.Timeout | undefined;
            const code = await Promise.race([exited, new Promise<string>((r) => (timer = setTimeout(() => r("timeout"), 20_000)))]);
            clearTimeout(timer);
            assert.equal(code, 0, `${h}: exit code 0 within 20 s`);
            assert.match(logOf(h), /stopped\n$/);
        };
        const rss = (h: Host) => /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${standins[h]!.pid}/status`, "utf8"))?.[1];
        process.stderr.write(`kubelet-standin RSS: km1 ${rss("km1")} kB, kn1 ${rss("kn1")} kB\n`);
        assert.equal(processes(VIRT_CONTROLLER_MAIN).length, 2);
        await stop("kn1");
        assert.deepEqual(processes(VIRT_CONTROLLER_MAIN), [], "the virt-controller stand-ins stopped");
        await stop("km1");
        for (const c of ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"])
            assert.deepEqual(processes(`${bin}/${c} `), [], `${c} stopped`);
    });
});
