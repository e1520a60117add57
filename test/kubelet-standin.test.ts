// The kubelet stand-in (harness/standins/kubelet) as the kubelet of a real Kubernetes v1.9.4:
// real `kubeadm init` on km1 and real `kubeadm join` on kn1, each host a private mount namespace
// (overlays on /etc and /var) inside one private network namespace (kvl-kubelet-test-<pid>, addresses
// 172.31.99.11 and .12 on its loopback; nothing leaves it). The stand-in runs the control plane's
// static pods on km1, does the TLS bootstrap on kn1, keeps both Nodes Ready and runs their pods:
// on kn1 (--network-plugin=cni) each pod gets a network namespace and an address from the real CNI
// plugins (bridge and host-local v0.6.0, harness/dataplane.sh), on km1 (no network plugin) an address
// from its pod CIDR; the images the lab builds run for real (kubeadm's kube-proxy, KubeVirt v0.4.1's
// virt-controller, which elects a leader through the real API and only the leader is Ready).
import assert from "node:assert/strict";
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { PodIPs } from "../harness/standins/kubelet/pods";
import { Steps } from "./lib/steps";
import { waitFor } from "./lib/wait";

const REPO = path.join(__dirname, "..");
const STANDIN = path.join(REPO, "harness", "standins", "kubelet", "kubelet-standin");
/** the lab's network namespace: one per run, so that two runs at once (two `npm test`) do not meet */
const NS_PREFIX = "kvl-kubelet-test-";
const NS = `${NS_PREFIX}${process.pid}`;
const HOSTS = { km1: "172.31.99.11", kn1: "172.31.99.12" } as const;
type Host = keyof typeof HOSTS;
const POD_NETWORK = "10.244.0.0/16";
/** the data plane's builds (harness/dataplane.sh): the CNI plugins, KubeVirt */
function dataplaneBin(): string {
    const r = spawnSync("bash", [path.join(REPO, "harness", "dataplane.sh"), "--print-env"], { encoding: "utf8", timeout: 60_000 });
    return /KUBEVIRT_LAB_DATAPLANE_BIN=(\S+)/.exec(r.stdout ?? "")?.[1]?.replace(/^["']|["']$/g, "") ?? "";
}
/** kn1's stand-in as kubeadm's drop-in has it: NotReady until a CNI configuration exists; the CNI plugins of the lab */
const KN1_FLAGS = () => ["--network-plugin=cni", "--cni-conf-dir=/etc/cni/net.d", `--cni-bin-dir=${path.join(dataplaneBin(), "cni")}`];
/** The real v0.4.1 release manifest, from the release sources beside the repository (../shared). */
const KUBEVIRT_YAML = path.join(REPO, "..", "shared", "upstream", "manifests", "kubevirt-v0.4.1", "kubevirt.yaml");
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
    const dp = spawnSync("bash", [path.join(REPO, "harness", "dataplane.sh"), "--check", "cni", "virt-controller"], {
        encoding: "utf8",
        timeout: 60_000,
    });
    if (dp.status !== 0)
        return `the data plane's binaries missing (bash harness/dataplane.sh builds them): ${(dp.stderr || dp.stdout).trim().split("\n").pop()}`;
    return false;
}

const SKIP = skipReason();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
                "--image-bin-dir",
                dataplaneBin(),
                // no kubelet API here (port 10250 would be shared by both hosts: one network namespace)
                "--port=0",
                // flags of kubeadm's kubelet drop-in
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

    /** the pids of kn1's virt-controller containers, from the runtime's records */
    function vcProcesses(): number[] {
        const r = inHost("kn1", [
            "sh",
            "-c",
            "cat /var/lib/kubelet/kubelet-standin/runtime/pods/*/containers/virt-controller.json 2>/dev/null",
        ]);
        return [...r.stdout.matchAll(/"pid":(\d+)/g)].map((m) => Number(m[1])).filter((p) => p > 0);
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
                // a private /run: the pods' network namespaces (ip netns) and flannel's and the CNI plugins' state
                "mount -t tmpfs -o mode=0755 tmpfs /run",
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
            startStandin("kn1", KN1_FLAGS());
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
            // the pod network of kn1: the real bridge and host-local plugins on kn1's pod CIDR (masquerading
            // what leaves it: km1 has no route back to kn1's pods, no Flannel here)
            const cidr = await waitFor("kn1's pod CIDR", () => getJSON("node", "kn1").spec.podCIDR, 15_000);
            const conf = {
                cniVersion: "0.3.1",
                name: "testnet",
                type: "bridge",
                bridge: "cni0",
                isGateway: true,
                ipMasq: true,
                ipam: { type: "host-local", subnet: cidr, routes: [{ dst: "0.0.0.0/0" }] },
            };
            const w = inHost("kn1", ["sh", "-c", "mkdir -p /etc/cni/net.d && cat > /etc/cni/net.d/10-testnet.conf"], {
                input: JSON.stringify(conf) + "\n",
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
                assert.match(readyOf(n).message, /containers are processes in namespaces/);
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
            // a host-network pod has a sandbox too (docker's pause container): an id kubeadm reset's `docker rm` removes
            const proxy = getJSON("pods", "-n", "kube-system", "-l", "k8s-app=kube-proxy").items.find(
                (p: any) => p.spec.nodeName === "kn1",
            );
            const rec = JSON.parse(
                inHost("kn1", ["cat", `/var/lib/kubelet/kubelet-standin/runtime/pods/${proxy.metadata.uid}/pod.json`]).stdout,
            );
            assert.equal(rec.netns, "", "kube-proxy: no network namespace of its own");
            assert.match(rec.sandboxID ?? "", /^[0-9a-f]{64}$/, `kube-proxy's record has a sandbox id: ${JSON.stringify(rec)}`);
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
            startStandin("kn1", KN1_FLAGS());
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
        "kubevirt.yaml v0.4.1 on the cluster: KubeVirt's own virt-controller runs in each of its two pods on kn1, in the pod's network namespace, with the pod's token and the cluster's Service 10.96.0.1 (kube-proxy for real); one leads and only it is Ready (the post's 0/1 and 1/1); deleting the leader's pod hands the lock over",
        async () => {
            const r = inHost("km1", ["kubectl", "apply", "-f", KUBEVIRT_YAML], { timeoutMs: 60_000 });
            assert.equal(r.code, 0, `kubectl apply: ${r.stderr}`);
            const vcPods = () =>
                getJSON("pods", "-n", "kube-system", "-l", "kubevirt.io=virt-controller").items.filter(
                    (p: any) => !p.metadata.deletionTimestamp,
                );
            /** the container's record of the runtime (kubelet API), read in kn1 */
            const record = (pod: any) => {
                const dir = `/var/lib/kubelet/kubelet-standin/runtime/pods/${pod.metadata.uid}`;
                const c = inHost("kn1", ["cat", `${dir}/containers/virt-controller.json`]);
                const p = inHost("kn1", ["cat", `${dir}/pod.json`]);
                return c.code === 0 && p.code === 0 ? { container: JSON.parse(c.stdout), pod: JSON.parse(p.stdout) } : undefined;
            };
            const holder = () => {
                const ep = getJSON("endpoints", "virt-controller", "-n", "kube-system");
                return JSON.parse(ep.metadata.annotations?.["control-plane.alpha.kubernetes.io/leader"] ?? "{}").holderIdentity as
                    string | undefined;
            };
            /** two Running pods with their processes; the lock holder Ready, the other not */
            const asThePostShows = () =>
                waitFor(
                    "two virt-controller pods Running on kn1, each with its process; the leader alone Ready",
                    () => {
                        const items = vcPods().filter((p: any) => p.status.phase === "Running" && record(p)?.container.pid > 0);
                        const h = holder();
                        if (items.length !== 2 || !h || !items.some((p: any) => p.metadata.name === h)) return false;
                        const ok = items.every((p: any) => (readyOf(p)?.status === "True") === (p.metadata.name === h));
                        return ok ? { pods: items, leader: h } : false;
                    },
                    90_000,
                    1000,
                );
            const { pods, leader } = await asThePostShows().catch((e) =>
                assert.fail(`${e.message}\n--- kn1:\n${logOf("kn1").split("\n").slice(-40).join("\n")}`),
            );
            for (const pod of pods) {
                assert.equal(pod.spec.nodeName, "kn1", "the master is tainted");
                assert.ok(ipInCIDR(pod.status.podIP, podCIDR.kn1), `${pod.status.podIP} from kn1's CNI`);
                const rec = record(pod)!;
                assert.equal(rec.pod.ip, pod.status.podIP);
                assert.equal(rec.pod.netns, `cni-${pod.metadata.uid}`, "a network namespace of its own");
                const pid = rec.container.pid;
                // the real program, with the Deployment's arguments, in the pod's namespaces
                const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
                assert.deepEqual(argv, ["/virt-controller", "--launcher-image", "kubevirt/virt-launcher:v0.4.1", "--port", "8182"]);
                const env = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
                assert.ok(env.includes("KUBERNETES_SERVICE_HOST=10.96.0.1") && env.includes("KUBERNETES_SERVICE_PORT=443"), env.join(" "));
                assert.ok(env.includes(`HOSTNAME=${pod.metadata.name}`), "a container's host name is its pod's name");
                const ns = inHost("kn1", ["ip", "netns", "identify", String(pid)]);
                assert.equal(ns.stdout.trim(), `cni-${pod.metadata.uid}`, "it runs in the pod's network namespace");
                // the token volume at the path in-cluster clients read
                const vol = pod.spec.volumes.find((v: any) => v.secret?.secretName?.startsWith("kubevirt-controller-token-"));
                const secret = getJSON("secret", "-n", "kube-system", vol.secret.secretName);
                const token = fs.readFileSync(
                    `/proc/${pid}/root/run/secrets/kubernetes.io/serviceaccount/token` /* /var/run is a link to /run there */,
                    "utf8",
                );
                assert.equal(token, Buffer.from(secret.data.token, "base64").toString());
                const log = await waitFor(`${rec.container.log} written`, () => inHost("kn1", ["cat", rec.container.log]).stdout, 15_000);
                assert.match(
                    log,
                    /^\S+ (stdout|stderr) F /m,
                    `its output in the CRI log format (${rec.container.log}):\n${log.slice(0, 500)}`,
                );
                assert.doesNotMatch(log, /forbidden|Unauthorized/i, `${pod.metadata.name} acts with KubeVirt's RBAC`);
            }
            const old = pods.find((p: any) => p.metadata.name === leader)!;
            const oldPid = record(old)!.container.pid;
            const t0 = Date.now();
            const d = kubectl("delete", "pod", "-n", "kube-system", leader);
            assert.equal(d.code, 0, d.stderr);
            await waitFor("the leader's process stopped", () => !fs.existsSync(`/proc/${oldPid}`), 20_000, 200);
            await waitFor(
                "its sandbox removed (CNI DEL, the namespace deleted)",
                () => !inHost("kn1", ["ip", "netns", "list"]).stdout.includes(`cni-${old.metadata.uid}`),
                10_000,
                200,
            );
            const next = await asThePostShows();
            assert.notEqual(next.leader, leader);
            process.stderr.write(
                `kubelet-standin: virt-controller lease handed over ${Date.now() - t0} ms after the leader's pod was deleted\n`,
            );
        },
        180_000,
    );

    step("SIGTERM stops the stand-ins cleanly, with the processes of their static pods and containers", async () => {
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
        const pids = vcProcesses();
        assert.equal(pids.length, 2, "two virt-controller processes");
        await stop("kn1");
        assert.deepEqual(
            pids.filter((p) => fs.existsSync(`/proc/${p}`)),
            [],
            "the virt-controller containers stopped with kn1's stand-in",
        );
        await stop("km1");
        for (const c of ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"])
            assert.deepEqual(processes(`${bin}/${c} `), [], `${c} stopped`);
    });
});
