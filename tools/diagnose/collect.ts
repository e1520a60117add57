// What `npm run diagnose` reads, and how: every node over SSH (steps/netfacts/netfacts.sh, one session
// per host, all at once), the API with kubectl and the stack's kubeconfig (one `get` of the objects
// the post reads, then one `kubectl exec` into each virt-launcher pod's compute container), each
// VM's guest over SSH through its NodePort (as Ansible reaches it), the DNS host for the ingress
// wildcard, and the app's read-only /pagecount through the ingress. Nothing here writes to a host.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { HostSpec, LabConfig } from "../../components/config";
import { nodeAddress, shortName } from "../../components/config";
import { hostScript } from "../../components/remote";
import * as sshLib from "../lib/ssh";
import * as verify from "../verify/checks";
import { Facts, GuestFacts, K8sFacts, LabFacts, LauncherFacts, NodeFacts, parseGuest, parseK8s, parseLauncher, parseNode } from "./facts";

export interface Run {
    code: number;
    stdout: string;
    stderr: string;
}

/** `cmd args`, bounded by timeoutMs (SIGKILL then), with `input` on stdin. */
export function run(cmd: string, args: string[], o: { timeoutMs: number; input?: string }): Promise<Run> {
    return new Promise((resolve) => {
        const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        let killed = false;
        const timer = setTimeout(() => {
            killed = true;
            child.kill("SIGKILL");
        }, o.timeoutMs);
        child.stdout!.on("data", (b: Buffer) => out.push(b));
        child.stderr!.on("data", (b: Buffer) => err.push(b));
        child.on("error", (e) => {
            clearTimeout(timer);
            resolve({ code: 127, stdout: "", stderr: e.message });
        });
        child.on("close", (code) => {
            clearTimeout(timer);
            const stderr = Buffer.concat(err).toString("utf8");
            resolve({
                code: killed ? 124 : (code ?? 1),
                stdout: Buffer.concat(out).toString("utf8"),
                stderr: killed ? `${stderr}[no answer within ${o.timeoutMs} ms]` : stderr,
            });
        });
        child.stdin!.on("error", () => undefined);
        child.stdin!.end(o.input ?? "");
    });
}

const lastLines = (s: string, n = 3): string => s.trim().split("\n").slice(-n).join(" / ");

/** The commands run in a virt-launcher pod's compute container (`sh -c`, the domain's name as $1). */
export const LAUNCHER_SCRIPT = `s() { n=$1; shift; out=$("$@" 2>/dev/null); rc=$?; printf '### netfacts %s %s\\n%s\\n' "$n" "$rc" "$out"; }
s ip-link ip -j -d link show
s ip-addr ip -j addr show
s ip-route ip -j route show
s bridge-link bridge -j link show
s ss-udp ss -Huanp
s iptables-save iptables-save
s domain cat "/var/run/libvirt/qemu/$1.xml"
pid=$(pgrep -f "^qemu-lab:$1:" 2>/dev/null | head -n 1)
if [ -n "$pid" ]; then s guest-addr nsenter -t "$pid" -n ip -j addr show; fi
`;

/** The commands run in a guest (as its user, over SSH): its network, resolver, the app's units, two pings. */
export const GUEST_SCRIPT = `s() { n=$1; shift; out=$("$@" 2>/dev/null); rc=$?; printf '### netfacts %s %s\\n%s\\n' "$n" "$rc" "$out"; }
units() { for u in nodejs mongod; do printf '%s %s\\n' "$u" "$(systemctl is-active "$u" 2>/dev/null)"; done; }
s hostname hostname
s ip-link ip -j -d link show
s ip-addr ip -j addr show
s ip-route ip -j route show
s resolv cat /etc/resolv.conf
s units units
s listen ss -Hltn
gw=$(ip route show default 2>/dev/null | awk '{ print $3; exit }')
mtu=$(cat /sys/class/net/eth0/mtu 2>/dev/null)
if [ -n "$gw" ] && [ -n "$mtu" ]; then
  big=$((mtu - 28)); su=""
  if sudo -n true 2>/dev/null; then su="sudo -n"; fi
  $su ping -n -q -c 1 -W 1 -M do -s 56 "$gw" >/dev/null 2>&1 & a=$!
  $su ping -n -q -c 1 -W 1 -M do -s "$big" "$gw" >/dev/null 2>&1 & b=$!
  wait $a; ra=$?; wait $b; rb=$?
  printf '### netfacts ping %s 56 %s\\n\\n### netfacts ping %s %s %s\\n\\n' "$gw" "$ra" "$gw" "$big" "$rb"
fi
`;

export interface Access {
    cfg: LabConfig;
    ssh: sshLib.SshAccess;
    sshConfig?: string;
    /** kubectl and the stack's kubeconfig (undefined: the API is not read). */
    kubectl: string;
    kubeconfig?: string;
    /** The VMs' SSH host keys the app stage recorded (known_hosts lines: `[<node>]:<NodePort> <type> <key>`). */
    guestKnownHosts?: string;
    /** VM → its virt-launcher pod, as the stack's outputs last saw them (`vms`): exec'd before the API answers. */
    launcherHints?: Record<string, string>;
    timeoutMs: number;
}

/** netfacts.sh on a node over SSH → its facts, or the facts of a node that could not be read. */
export async function collectNode(a: Access, host: HostSpec): Promise<NodeFacts> {
    const where = `${a.cfg.ssh.user}@${host.address}:${a.cfg.ssh.port}`;
    const empty = (error: string): NodeFacts => ({
        ...parseNode(shortName(host.name), host.name, host.address, ""),
        error,
    });
    if (!a.ssh.hostKeys.has(host.address)) return empty(`${where}: no host key to expect (run pulumi up first)`);
    const r = await run("ssh", [...sshLib.sshArgs(a.cfg, host, a.ssh, a.sshConfig), hostScript("netfacts.sh", [], a.cfg.ssh.user)], {
        timeoutMs: a.timeoutMs,
    });
    if (r.code !== 0)
        return empty(
            `${where}: ${r.code === 255 ? "cannot reach it over SSH" : `netfacts.sh failed (exit ${r.code})`}: ${lastLines(r.stderr)}`,
        );
    return parseNode(shortName(host.name), host.name, host.address, r.stdout);
}

/**
 * kubectl with the stack's kubeconfig, never in a file: bash hands it over a pipe (`<(cat)`, what
 * this process writes on bash's stdin; kubectl's own stdin is /dev/null). A pipe, because Node's
 * stdio are socket pairs, which kubectl cannot open as /dev/fd/N.
 */
export function kubectl(a: Access, args: string[], timeoutMs = a.timeoutMs): Promise<Run> {
    const words = [a.kubectl, `--request-timeout=${Math.ceil(timeoutMs / 1000)}s`, ...args];
    return run("bash", ["-c", 'k=$1; shift; exec "$k" --kubeconfig=<(cat) "$@" </dev/null', "kubectl", ...words], {
        timeoutMs,
        input: a.kubeconfig ?? "",
    });
}

/** What the post reads of the API, each its own `kubectl get --raw` (no discovery: an aggregated API that does not answer cannot hang it). */
export const API_LISTS = {
    Node: "/api/v1/nodes",
    Pod: "/api/v1/pods",
    Service: "/api/v1/services",
    Endpoints: "/api/v1/endpoints",
    Ingress: "/apis/extensions/v1beta1/ingresses",
} as const;

export async function collectK8s(a: Access): Promise<K8sFacts> {
    const lists = await Promise.all(
        Object.entries(API_LISTS).map(async ([kind, p]) => {
            const r = await kubectl(a, ["get", "--raw", p]);
            if (r.code !== 0) throw new Error(`kubectl get --raw ${p} failed (exit ${r.code}): ${lastLines(r.stderr)}`);
            return ((JSON.parse(r.stdout) as { items?: object[] }).items ?? []).map((o) => ({ kind, ...o }));
        }),
    );
    return parseK8s(JSON.stringify({ items: lists.flat() }));
}

/** `kubectl exec` of LAUNCHER_SCRIPT in a virt-launcher pod's compute container. */
export const execLauncher = (a: Access, namespace: string, pod: string, vm: string): Promise<Run> =>
    kubectl(a, ["exec", "-n", namespace, "-c", "compute", pod, "--", "sh", "-c", LAUNCHER_SCRIPT, "sh", `${namespace}_${vm}`]);

/**
 * The virt-launcher pod of each VM and what its compute container shows; `early` holds the execs
 * started before the API answered, into the pods the stack's outputs named (used when the API
 * names the same pod).
 */
export async function collectLaunchers(
    a: Access,
    k8s: K8sFacts,
    lab: LabFacts,
    early: ReadonlyMap<string, { pod: string; run: Promise<Run> }> = new Map(),
): Promise<LauncherFacts[]> {
    const out = lab.vms.map(async (vm): Promise<LauncherFacts | undefined> => {
        const pod = k8s.pods.find(
            (p) =>
                p.namespace === lab.namespace &&
                p.labels["kubevirt.io"] === "virt-launcher" &&
                p.labels["kubevirt.io/domain"] === vm.name &&
                p.phase === "Running",
        );
        if (!pod) return undefined;
        const base = { namespace: pod.namespace, pod: pod.name, vm: vm.name, node: pod.node, ip: pod.ip };
        const e = early.get(vm.name);
        const r = await (e?.pod === pod.name ? e.run : execLauncher(a, pod.namespace, pod.name, vm.name));
        if (r.code !== 0 && !r.stdout.includes("### netfacts"))
            return { ...parseLauncher(base, ""), error: `kubectl exec failed (exit ${r.code}): ${lastLines(r.stderr)}` };
        return parseLauncher(base, r.stdout);
    });
    return (await Promise.all(out)).filter((l): l is LauncherFacts => l !== undefined);
}

/** A VM's guest, as its user, over SSH through its NodePort on the node it is pinned to. */
export async function collectGuest(a: Access, vm: LabFacts["vms"][number]): Promise<GuestFacts> {
    const address = nodeAddress([a.cfg.master, ...a.cfg.workers], vm.node, `VM ${vm.name}`);
    const via = `${address}:${vm.sshNodePort}`;
    // The guest's key as the app stage recorded it for this VM instance (app-vm-host-keys), and no
    // other; a lab without that record (no app stage yet): the key offered, said so in the facts.
    const target = `[${address}]:${vm.sshNodePort} `;
    const recorded = (a.guestKnownHosts ?? "").split("\n").filter((l) => l.startsWith(target));
    const knownHosts = path.join(path.dirname(a.ssh.knownHosts), `known_hosts-${vm.name}`);
    fs.writeFileSync(knownHosts, recorded.map((l) => `${l}\n`).join(""));
    const hostKey = recorded.length > 0 ? ("recorded" as const) : ("not recorded" as const);
    const options = [
        "BatchMode=yes",
        "ConnectTimeout=5",
        `StrictHostKeyChecking=${recorded.length > 0 ? "yes" : "accept-new"}`,
        `UserKnownHostsFile=${knownHosts}`,
        "GlobalKnownHostsFile=/dev/null",
        "LogLevel=ERROR",
    ];
    const r = await run(
        "ssh",
        [
            ...(a.sshConfig ? ["-F", a.sshConfig] : []),
            ...options.flatMap((o) => ["-o", o]),
            ...a.ssh.identity,
            "-p",
            String(vm.sshNodePort),
            "-l",
            a.cfg.workload.vmGuestUser,
            address,
            "sh -s",
        ],
        { timeoutMs: a.timeoutMs, input: GUEST_SCRIPT },
    );
    if (r.code !== 0 && !r.stdout.includes("### netfacts"))
        return {
            ...parseGuest(vm.name, via, ""),
            hostKey,
            error: `ssh -p ${vm.sshNodePort} ${a.cfg.workload.vmGuestUser}@${address}: ${lastLines(r.stderr) || `exit ${r.code}`}${
                /Host key verification failed/.test(r.stderr)
                    ? " (the guest offers another key than the one the app stage recorded: a VM made again? pulumi up records the new one)"
                    : ""
            }`,
        };
    return { ...parseGuest(vm.name, via, r.stdout), hostKey };
}

/** What the stack says the lab is. */
export function labFacts(cfg: LabConfig, stack: string): LabFacts {
    const w = cfg.workload;
    return {
        stack,
        domain: cfg.domain,
        podNetworkCidr: cfg.cluster.podNetworkCidr,
        namespace: w.workloadNamespace,
        vms: cfg.stages.workload
            ? [
                  { name: "nodejs", node: w.nodejsVmNode, sshNodePort: w.nodejsSshNodePort },
                  { name: "mongodb", node: w.mongodbVmNode, sshNodePort: w.mongodbSshNodePort },
              ]
            : [],
        ingressHttpNodePort: cfg.addons.ingressHttpNodePort,
        guestUser: cfg.workload.vmGuestUser,
    };
}

/** A name under the ingress wildcard that no Ingress uses: what the wildcard alone answers. */
export const WILDCARD_PROBE = "kubevirt-lab-diagnose";

/** Every layer, all at once; each part's time in `timings`. */
export async function collect(a: Access, stack: string): Promise<Facts> {
    const lab = labFacts(a.cfg, stack);
    const timings: Record<string, number> = {};
    const t0 = Date.now();
    const timed = async <T>(name: string, p: Promise<T>): Promise<T> => {
        try {
            return await p;
        } finally {
            timings[name] = Date.now() - t0;
        }
    };
    const nodes = Promise.all([a.cfg.master, ...a.cfg.workers].map((h) => timed(`ssh ${shortName(h.name)}`, collectNode(a, h))));
    // the launchers' execs start at once into the pods the stack's outputs name; the API says which run
    const early = new Map(
        Object.entries(a.cfg.stages.workload && a.kubeconfig ? (a.launcherHints ?? {}) : {}).map(([vm, pod]) => [
            vm,
            { pod, run: execLauncher(a, lab.namespace, pod, vm) },
        ]),
    );
    const api = a.kubeconfig
        ? timed("kubectl get", collectK8s(a)).then(
              async (k8s) => ({ k8s, launchers: await timed("kubectl exec", collectLaunchers(a, k8s, lab, early)) }),
              (e: Error) => ({ error: e.message, launchers: [] as LauncherFacts[] }),
          )
        : Promise.resolve({
              error: "the stack has no kubeconfig output (the cluster stage has not run)",
              launchers: [] as LauncherFacts[],
          });
    const guests = Promise.all(lab.vms.map((vm) => timed(`ssh ${vm.name}`, collectGuest(a, vm))));
    const dnsServer = a.cfg.dns?.host.address;
    const v: verify.VerifyOptions = { dnsServer, domain: a.cfg.domain, httpPort: lab.ingressHttpNodePort, mgmtPort: 0, timeoutMs: 3000 };
    const dnsAndPage = timed(
        "dns and page",
        (async () => {
            if (!dnsServer) return {};
            const name = `${WILDCARD_PROBE}.ingress.${a.cfg.domain}`;
            let answer: string | undefined;
            let error: string | undefined;
            try {
                answer = await verify.resolveName(v, name);
            } catch (e) {
                error = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
            }
            const host = verify.nodejsHost(v);
            const url = `http://${host}:${lab.ingressHttpNodePort}/pagecount`;
            let page: Facts["page"] = { url, ...(answer ? { via: answer } : {}), error: "the wildcard does not resolve" };
            if (answer) {
                try {
                    const res = await verify.httpGet(answer, lab.ingressHttpNodePort, host, "/pagecount", 3000);
                    const count = /pageCount:\s*(-?\d+)/.exec(res.body)?.[1];
                    page = { url, via: answer, status: res.status, ...(count !== undefined ? { count } : {}) };
                } catch (e) {
                    page = { url, via: answer, error: (e as NodeJS.ErrnoException).code ?? (e as Error).message };
                }
            }
            return { dns: { server: dnsServer, wildcard: { name, ...(answer ? { answer } : {}), ...(error ? { error } : {}) } }, page };
        })(),
    );
    const [n, ap, g, dp] = await Promise.all([nodes, api, guests, dnsAndPage]);
    timings.total = Date.now() - t0;
    return {
        version: 1,
        collectedAt: new Date().toISOString(),
        lab,
        nodes: n,
        ...("k8s" in ap ? { k8s: ap.k8s } : { k8sError: ap.error }),
        launchers: ap.launchers,
        guests: g,
        ...(dp.dns ? { dns: dp.dns } : {}),
        ...(dp.page ? { page: dp.page } : {}),
        timings,
    };
}

/** kubectl: --kubectl, else Kubernetes 1.9.4's of harness/kubernetes.sh (KUBEVIRT_LAB_K8S_BIN) when there, else PATH's. */
export function findKubectl(flag?: string): string {
    if (flag) return flag;
    const bin = process.env.KUBEVIRT_LAB_K8S_BIN;
    if (bin && fs.existsSync(path.join(bin, "kubectl"))) return path.join(bin, "kubectl");
    return "kubectl";
}
