// kubelet-standin: the kubelet's place on a simulated lab host, where there is no container
// runtime. See README.md beside this file for what it stands in for, what it does and what it
// does not do (no container runtime: containers of the images the lab builds run as processes in namespaces).
//
//   kubelet-standin --node-name <name> --node-ip <ip> [--kubeconfig /etc/kubernetes/kubelet.conf]
//     [--bootstrap-kubeconfig /etc/kubernetes/bootstrap-kubelet.conf]
//     [--pod-manifest-path /etc/kubernetes/manifests] [--bin-dir <dir of k8s binaries>] ...
import * as os from "node:os";
import { Client, errText, log, setLogPrefix } from "./api";
import { nodeCredentials } from "./bootstrap";
import { defaultNodeIP, KUBELET_VERSION, NodeAgent } from "./node";
import { PodSync } from "./pods";
import { newProc, Proc, Supervisor } from "./processes";
import { PodRuntime } from "./runtime";
import { StaticPods } from "./static-pods";

interface Flag {
    name: string;
    value: string;
    bool?: boolean;
    help: string;
}

const FLAGS: Flag[] = [
    { name: "node-name", value: "", help: "name of the Node (default: the host name); --hostname-override is the same" },
    { name: "node-ip", value: "", help: "the node's InternalIP (default: the first non-loopback IPv4 address)" },
    {
        name: "kubeconfig",
        value: "/etc/kubernetes/kubelet.conf",
        help: "the node's own credentials; written by the TLS bootstrap when missing",
    },
    {
        name: "bootstrap-kubeconfig",
        value: "/etc/kubernetes/bootstrap-kubelet.conf",
        help: "bootstrap credentials (kubeadm join) for the TLS bootstrap",
    },
    { name: "cert-dir", value: "/var/lib/kubelet/pki", help: "where the TLS bootstrap puts kubelet-client.crt and kubelet-client.key" },
    {
        name: "pod-manifest-path",
        value: "/etc/kubernetes/manifests",
        help: "static pod manifests; each container's command runs as a local program",
    },
    {
        name: "bin-dir",
        value: process.env.KUBEVIRT_LAB_K8S_BIN ?? "",
        help: "where the programs of static pods are looked for first (default $KUBEVIRT_LAB_K8S_BIN; then PATH)",
    },
    {
        name: "root-dir",
        value: "/var/lib/kubelet",
        help: "the kubelet's state folder; the stand-in keeps its static pods' pid files in <root-dir>/kubelet-standin",
    },
    {
        name: "static-pod-log-dir",
        value: "/var/log/kubelet-standin",
        help: "output of static pod processes: <dir>/<namespace>_<pod>/<container>.log",
    },
    { name: "node-labels", value: "", help: "more labels for the Node: k=v,k2=v2" },
    { name: "node-status-update-frequency", value: "10s", help: "how often the Node's status (heartbeat) is posted" },
    {
        name: "network-plugin",
        value: "",
        help: "cni: the Node is NotReady until --cni-conf-dir holds a network configuration (as the 1.9 kubelet)",
    },
    { name: "cni-conf-dir", value: "/etc/cni/net.d", help: "see --network-plugin" },
    { name: "cni-bin-dir", value: "/opt/cni/bin", help: "the CNI plugins" },
    { name: "cluster-dns", value: "", help: "the DNS server(s) of ClusterFirst pods' resolv.conf, a,b" },
    { name: "cluster-domain", value: "", help: "the cluster's domain, for the pods' DNS search path" },
    {
        name: "image-bin-dir",
        value: process.env.KUBEVIRT_LAB_DATAPLANE_BIN ?? "",
        help: "where the lab's builds of the data plane's images are (default $KUBEVIRT_LAB_DATAPLANE_BIN; stand-in only)",
    },
    { name: "port", value: "10250", help: "the kubelet API's port (kubelet-standin-server); 0: none" },
    { name: "address", value: "", help: "the kubelet API's address (default: --node-ip)" },
    { name: "client-ca-file", value: "", help: "the CA of the kubelet API's clients (the API server's kubelet client certificate)" },
    { name: "authorization-mode", value: "Webhook", help: "the kubelet API's authorization: Webhook or AlwaysAllow" },
    { name: "register-node", value: "true", bool: true, help: "register the Node with the API server" },
    { name: "bootstrap-timeout", value: "15m", help: "how long the TLS bootstrap waits for its CSR to be signed (stand-in only)" },
    { name: "version", value: "false", bool: true, help: "print the kubelet version it stands in for and exit" },
    { name: "help", value: "false", bool: true, help: "this text" },
];

function usage(): string {
    return [
        "kubelet-standin: stands in for the kubelet v1.9.4 on a host without a container runtime: containers of the images the lab builds run as processes in namespaces, the others are only reported running.",
        "usage: kubelet-standin --node-name <name> --node-ip <ip> [flags]",
        ...FLAGS.map((f) => `  --${f.name}${f.bool ? "" : "=" + (f.value === "" ? "''" : f.value)}\t${f.help}`),
        "Other flags of the real kubelet (--allow-privileged, --cluster-dns, --cgroup-driver, ...) are accepted and ignored.",
    ].join("\n");
}

function parseDuration(s: string): number {
    const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
    let total = 0;
    let matched = "";
    for (const m of s.matchAll(re)) {
        total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
        matched += m[0];
    }
    if (!s || matched !== s) throw new Error(`not a duration: ${s}`);
    return total;
}

function parseArgs(argv: string[]): { values: Record<string, string>; ignored: string[] } {
    const values: Record<string, string> = {};
    for (const f of FLAGS) values[f.name] = f.value;
    const ignored: string[] = [];
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const m = /^--?([A-Za-z0-9][A-Za-z0-9-]*)(?:=(.*))?$/s.exec(a);
        if (!m) throw new Error(`unexpected argument: ${a}`);
        let name = m[1];
        if (name === "hostname-override") name = "node-name";
        if (name === "h") name = "help";
        const flag = FLAGS.find((f) => f.name === name);
        if (!flag) {
            ignored.push(a);
            continue;
        }
        if (m[2] !== undefined) values[name] = m[2];
        else if (flag.bool) values[name] = "true";
        else if (i + 1 < argv.length) values[name] = argv[++i];
        else throw new Error(`--${name} needs a value`);
    }
    return { values, ignored };
}

async function main(): Promise<number> {
    let parsed: ReturnType<typeof parseArgs>;
    try {
        parsed = parseArgs(process.argv.slice(2));
    } catch (e) {
        process.stderr.write(`kubelet-standin: ${errText(e)}\n${usage()}\n`);
        return 2;
    }
    const v = parsed.values;
    if (v.help === "true") {
        process.stdout.write(usage() + "\n");
        return 0;
    }
    if (v.version === "true") {
        process.stdout.write(`Kubernetes ${KUBELET_VERSION}\n`);
        return 0;
    }
    const nodeName = (v["node-name"] || os.hostname().split(".")[0]).toLowerCase();
    const nodeIP = v["node-ip"] || defaultNodeIP();
    setLogPrefix(`kubelet-standin[${nodeName}]`);
    if (!nodeIP) {
        log("no --node-ip and no non-loopback IPv4 address to default to");
        return 2;
    }
    let statusMs: number;
    let bootstrapMs: number;
    try {
        statusMs = parseDuration(v["node-status-update-frequency"]);
        bootstrapMs = parseDuration(v["bootstrap-timeout"]);
    } catch (e) {
        log(errText(e));
        return 2;
    }
    const labels: Record<string, string> = {};
    for (const kv of v["node-labels"].split(",").filter(Boolean)) {
        const [k, ...rest] = kv.split("=");
        labels[k] = rest.join("=");
    }
    log(
        `starting: stands in for the kubelet ${KUBELET_VERSION} of node ${nodeName} (${nodeIP}); no container runtime (pid ${process.pid})`,
    );
    if (parsed.ignored.length) log(`ignored kubelet flags (nothing to do without containers): ${parsed.ignored.join(" ")}`);

    const ac = new AbortController();
    let podSync: PodSync | undefined;
    const supervisor = new Supervisor({
        binDir: v["bin-dir"] || undefined,
        stateDir: `${v["root-dir"]}/kubelet-standin`,
        onChange: () => podSync?.kick(),
    });
    const staticPods = new StaticPods({
        dir: v["pod-manifest-path"],
        nodeName,
        logDir: v["static-pod-log-dir"],
        supervisor,
        onChange: () => podSync?.kick(),
    });
    let runtime: PodRuntime | undefined;
    let kubeletApi: Proc | undefined;
    let client: Client | undefined;
    let stopping: Promise<number> | undefined;
    const shutdown = (why: string, code: number): Promise<number> => {
        if (stopping) return stopping;
        log(`stopping (${why}); static pods and pod programs are stopped, the Node stays registered`);
        ac.abort();
        const force = setTimeout(() => {
            // what is still running is killed: a stand-in that exits leaves no container behind
            log(`not stopped within 20 s; ${supervisor.killAll()} process(es) killed; exiting`);
            process.exit(code || 1);
        }, 20_000);
        force.unref();
        stopping = Promise.all([
            staticPods.stop(),
            runtime?.stopAll("the kubelet stand-in stops"),
            kubeletApi ? supervisor.stop(kubeletApi) : undefined,
        ]).then(() => {
            client?.close();
            log("stopped");
            return code;
        });
        return stopping;
    };
    const exitOn = (sig: NodeJS.Signals) =>
        process.on(sig, () => {
            void shutdown(sig, 0).then((c) => process.exit(c));
        });
    exitOn("SIGTERM");
    exitOn("SIGINT");
    exitOn("SIGHUP");

    await staticPods.start();
    try {
        const creds = await nodeCredentials({
            nodeName,
            kubeconfig: v.kubeconfig,
            bootstrapKubeconfig: v["bootstrap-kubeconfig"],
            certDir: v["cert-dir"],
            timeoutMs: bootstrapMs,
            signal: ac.signal,
        });
        if (!creds) return await (stopping ?? shutdown("aborted", 0));
        log(`API server ${creds.server}, credentials from ${v.kubeconfig}`);
        client = new Client(creds);
        let sync: PodSync | undefined = undefined;
        runtime = new PodRuntime({
            supervisor,
            rootDir: v["root-dir"],
            nodeName,
            nodeIP,
            networkPlugin: v["network-plugin"],
            cniConfDir: v["cni-conf-dir"],
            cniBinDir: v["cni-bin-dir"],
            clusterDNS: v["cluster-dns"].split(",").filter(Boolean),
            clusterDomain: v["cluster-domain"],
            images: { k8s: v["bin-dir"] || undefined, dataplane: v["image-bin-dir"] || undefined },
            ips: { get: (uid) => sync?.ips.get(uid), release: (uid) => sync?.ips.release(uid) },
            onChange: () => podSync?.kick(),
        });
        sync = new PodSync({ nodeName, nodeIP, staticPods, runtime, signal: ac.signal });
        kubeletApi = startKubeletServer(supervisor, v, nodeName, nodeIP);
        const node = new NodeAgent(client, {
            nodeName,
            nodeIP,
            labels,
            statusUpdateMs: statusMs,
            networkPlugin: v["network-plugin"],
            cniConfDir: v["cni-conf-dir"],
            signal: ac.signal,
            onPodCIDR: (cidr) => {
                try {
                    sync.setPodCIDR(cidr);
                } catch (e) {
                    log(errText(e));
                }
            },
        });
        if (v["register-node"] !== "false" && !(await node.register())) return await (stopping ?? shutdown("aborted", 0));
        podSync = sync;
        sync.start(client);
        await node.heartbeats();
        return await (stopping ?? shutdown("done", 0));
    } catch (e) {
        log(`fatal: ${errText(e)}`);
        return await shutdown("fatal error", 1);
    }
}

/** The kubelet API (kubectl exec, logs, port-forward through the API server): kubelet-standin-server of --bin-dir, supervised as a process. */
function startKubeletServer(supervisor: Supervisor, v: Record<string, string>, nodeName: string, nodeIP: string): Proc | undefined {
    if (v.port === "0") return undefined;
    const bin = v["bin-dir"] ? `${v["bin-dir"]}/kubelet-standin-server` : "kubelet-standin-server";
    const args = [
        `--node-name=${nodeName}`,
        `--kubeconfig=${v.kubeconfig}`,
        `--address=${v.address || nodeIP}`,
        `--port=${v.port}`,
        `--cert-dir=${v["cert-dir"]}`,
        `--runtime-dir=${v["root-dir"]}/kubelet-standin/runtime`,
        `--authorization-mode=${v["authorization-mode"]}`,
        ...(v["client-ca-file"] ? [`--client-ca-file=${v["client-ca-file"]}`] : []),
    ];
    const proc = newProc({
        label: "kubelet API",
        name: "kubelet-standin-server",
        image: "",
        command: [bin, ...args],
        env: {},
        inheritEnv: true,
        cwd: "/",
        logFile: `${v["static-pod-log-dir"]}/kubelet-api.log`,
        graceSeconds: 5,
    });
    supervisor.run(proc);
    return proc;
}

main().then(
    (code) => process.exit(code),
    (e) => {
        log(`fatal: ${errText(e)}`);
        process.exit(1);
    },
);
