// The pod network as the 1.9 kubelet's CNI network plugin (pkg/kubelet/network/cni, with
// --network-plugin=cni) drives it: the default network is the first file of --cni-conf-dir in
// sorted order (.conf, .conflist, .json) with a type; a pod's network namespace gets the loopback
// network first, then that network (ADD), and the network is deleted from it (DEL) when the pod
// goes. The plugins are the programs of --cni-bin-dir, called as libcni 0.6.0 calls them: the
// network configuration on stdin with its name and cniVersion put in, the CNI_* variables in the
// environment. Nothing here allocates an address: the plugins do (flannel → bridge + host-local).
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

/** The loopback network the 1.9 kubelet adds to every pod before its default network. */
const LOOPBACK = { cniVersion: "0.2.0", name: "cni-loopback", type: "loopback" };

export interface NetworkList {
    file: string;
    name: string;
    cniVersion: string;
    plugins: Record<string, unknown>[];
}

/** The default network of the folder, as the 1.9 kubelet picks it; undefined when there is none. */
export function defaultNetwork(confDir: string): NetworkList | undefined {
    let files: string[];
    try {
        files = fs
            .readdirSync(confDir)
            .filter((f) => /\.(conf|conflist|json)$/.test(f))
            .sort();
    } catch {
        return undefined;
    }
    for (const f of files) {
        const file = path.join(confDir, f);
        let doc: any;
        try {
            doc = JSON.parse(fs.readFileSync(file, "utf8"));
        } catch {
            continue; // the kubelet logs and skips a file it cannot parse
        }
        if (!doc || typeof doc !== "object") continue;
        if (f.endsWith(".conflist")) {
            if (!Array.isArray(doc.plugins) || doc.plugins.length === 0) continue;
            return { file, name: String(doc.name ?? ""), cniVersion: String(doc.cniVersion ?? ""), plugins: doc.plugins };
        }
        if (!doc.type) continue;
        return { file, name: String(doc.name ?? ""), cniVersion: String(doc.cniVersion ?? ""), plugins: [doc] };
    }
    return undefined;
}

export interface CniPod {
    namespace: string;
    name: string;
    /** the sandbox's id (CNI_CONTAINERID) */
    id: string;
    /** the network namespace's path (CNI_NETNS) */
    netns: string;
}

export interface CniResult {
    ip?: string;
    raw: unknown;
}

export class CniError extends Error {}

/** Runs one plugin with libcni's environment and the configuration on stdin; its stdout parsed as JSON. */
async function exec(binDir: string, command: "ADD" | "DEL", conf: Record<string, unknown>, pod: CniPod, timeoutMs = 60_000) {
    const type = String(conf.type ?? "");
    const program = path.join(binDir, type);
    if (!type || !fs.existsSync(program)) throw new CniError(`failed to find plugin "${type}" in path [${binDir}]`);
    const env: Record<string, string> = {
        PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
        CNI_COMMAND: command,
        CNI_CONTAINERID: pod.id,
        CNI_NETNS: pod.netns,
        CNI_IFNAME: "eth0",
        CNI_PATH: binDir,
        CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${pod.namespace};K8S_POD_NAME=${pod.name};K8S_POD_INFRA_CONTAINER_ID=${pod.id}`,
    };
    return new Promise<unknown>((resolve, reject) => {
        const child = spawn(program, [], { env, stdio: ["pipe", "pipe", "pipe"] });
        let out = "";
        let err = "";
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (err += d));
        child.on("error", (e) => {
            clearTimeout(timer);
            reject(new CniError(`${type}: ${e.message}`));
        });
        child.on("close", (code, signal) => {
            clearTimeout(timer);
            let doc: any;
            try {
                doc = out.trim() ? JSON.parse(out) : undefined;
            } catch {
                doc = undefined;
            }
            if (code !== 0) {
                const msg = doc?.msg
                    ? `${doc.msg}${doc.details ? `: ${doc.details}` : ""}`
                    : (err || out).trim() || `exit ${code ?? signal}`;
                return reject(new CniError(`${command} ${type}: ${msg}`));
            }
            resolve(doc);
        });
        child.stdin.end(JSON.stringify(conf));
    });
}

/** The plugin's configuration as libcni 0.6.0 builds it (buildOneConfig): name, cniVersion and prevResult put in. */
function oneConfig(list: NetworkList, plugin: Record<string, unknown>, prev: unknown): Record<string, unknown> {
    const conf: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
    if (prev !== undefined) conf.prevResult = prev;
    return conf;
}

/** The pod's IPv4 address from a result of any CNI version (0.1/0.2: ip4.ip; 0.3+: ips[].address). */
export function resultIP(r: any): string | undefined {
    const cidr: string | undefined =
        r?.ip4?.ip ?? ((r?.ips ?? []) as any[]).find((i) => i?.version === "4" || /\./.test(i?.address ?? ""))?.address;
    return cidr?.split("/")[0];
}

/** ADD: the loopback network, then the default network, in the pod's namespace. */
export async function addPod(binDir: string, list: NetworkList, pod: CniPod): Promise<CniResult> {
    await exec(binDir, "ADD", { ...LOOPBACK }, pod);
    let prev: unknown;
    for (const p of list.plugins) prev = await exec(binDir, "ADD", oneConfig(list, p, prev), pod);
    return { ip: resultIP(prev), raw: prev };
}

/** DEL: the default network's plugins in reverse order (the 1.9 kubelet does not delete loopback). */
export async function delPod(binDir: string, list: NetworkList, pod: CniPod): Promise<void> {
    for (const p of [...list.plugins].reverse()) await exec(binDir, "DEL", oneConfig(list, p, undefined), pod);
}
