// The lab's configuration: every setting in one place, read once and validated
// before any resource is registered. `parseConfig` is a pure function of the
// raw key/value map so that tests can feed it any stack file; `loadConfig`
// reads the running stack's config through the Pulumi runtime.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";

export const PROJECT = "kubevirt-lab";

export type SelinuxMode = "disabled" | "permissive" | "enforcing";
export const STAGES = ["addons", "workload", "app", "dns"] as const;
export type Stage = (typeof STAGES)[number];

/** One lab machine: its Kubernetes node name (the post's FQDN) and the address SSH and kubeadm use. */
export interface HostSpec {
    name: string;
    address: string;
}

export interface SshSettings {
    user: string;
    port: number;
    /** The private key's text, always a Pulumi secret. */
    privateKey: pulumi.Output<string>;
    /** The key file when given as sshPrivateKeyPath (Ansible uses it to reach the VMs). */
    privateKeyPath?: string;
    /** Host key to expect (OpenSSH public key line), or undefined to accept any. */
    hostKey?: string;
    dialErrorLimit: number;
    perDialTimeout: number;
}

export interface HostPrepSettings {
    yumRepoBaseUrl: string;
    yumRepoGpgKeys: string[];
    yumUpdate: boolean;
    kubernetesVersion: string;
    extraPackages: string[];
    dockerStorageDevice: string;
    sysctl: string[];
    selinux: SelinuxMode;
}

export interface ClusterSettings {
    podNetworkCidr: string;
    serviceCidr: string;
    flannelManifestUrl: string;
    joinTokenTtl: string;
    nodeReadyTimeoutSeconds: number;
}

export interface AddonSettings {
    kubevirtVersion: string;
    kubevirtManifestUrl: string;
    skydiveManifestUrl: string;
    ingressNginxVersion: string;
    ingressNginxManifestBaseUrl: string;
    ingressNginxControllerImage: string;
    ingressHttpNodePort: number;
    ingressHttpsNodePort: number;
    ingressMgmtNodePort: number;
    readyTimeoutSeconds: number;
}

export interface WorkloadSettings {
    namespace: string;
    nodejsVmNode: string;
    mongodbVmNode: string;
    vmsRunning: boolean;
    vmImage: string;
    vmSshPublicKey: string;
    nodejsSshNodePort: number;
    mongodbSshNodePort: number;
}

export interface AppSettings {
    mongodbPassword: pulumi.Output<string>;
    mongodbAdminPassword: pulumi.Output<string>;
    /** True when the password is the post's published one (no secret was set). */
    usesPostPassword: boolean;
    guestUser: string;
}

export interface DnsSettings {
    host: HostSpec;
    configPath: string;
    /** Node whose address the `.ingress.<domain>` wildcard points at; undefined: looked up from the cluster. */
    ingressNode?: string;
}

export interface LabConfig {
    domain: string;
    master: HostSpec;
    workers: HostSpec[];
    ssh: SshSettings;
    hostPrep: HostPrepSettings;
    cluster: ClusterSettings;
    stages: Record<Stage, boolean>;
    addons: AddonSettings;
    workload: WorkloadSettings;
    app: AppSettings;
    /** Undefined when no DNS host is configured: the DNS stage is skipped. */
    dns?: DnsSettings;
}

/** The post's values. Every version and upstream URL is a setting so that a user can point at a mirror. */
export const DEFAULTS = {
    domain: "virtomation.com",
    sshUser: "root",
    sshPort: 22,
    sshDialErrorLimit: 10,
    sshPerDialTimeout: 15,
    yumRepoBaseUrl: "https://packages.cloud.google.com/yum/repos/kubernetes-el7-$basearch",
    yumRepoGpgKeys: [
        "https://packages.cloud.google.com/yum/doc/yum-key.gpg",
        "https://packages.cloud.google.com/yum/doc/rpm-package-key.gpg",
    ],
    yumUpdate: true,
    kubernetesVersion: "1.9.4",
    extraPackages: ["docker", "ansible", "git", "curl", "wget"],
    dockerStorageDevice: "/dev/vdb",
    sysctl: ["net.bridge.bridge-nf-call-ip6tables = 1", "net.bridge.bridge-nf-call-iptables = 1"],
    selinux: "disabled" as SelinuxMode,
    podNetworkCidr: "10.244.0.0/16",
    serviceCidr: "10.96.0.0/12",
    flannelManifestUrl: "https://raw.githubusercontent.com/coreos/flannel/v0.9.1/Documentation/kube-flannel.yml",
    joinTokenTtl: "15m",
    nodeReadyTimeoutSeconds: 600,
    stages: [...STAGES] as string[],
    kubevirtVersion: "v0.4.1",
    skydiveManifestUrl:
        "https://raw.githubusercontent.com/skydive-project/skydive/master/contrib/kubernetes/skydive.yaml",
    ingressNginxVersion: "0.13.0",
    ingressHttpNodePort: 30000,
    ingressHttpsNodePort: 30443,
    ingressMgmtNodePort: 32000,
    addonReadyTimeoutSeconds: 900,
    workloadNamespace: "nodejs-ex",
    nodejsVmNode: "kn1",
    mongodbVmNode: "kn2",
    vmsRunning: true,
    vmImage: "kubevirt/fedora-cloud-registry-disk-demo",
    nodejsSshNodePort: 30022,
    mongodbSshNodePort: 30122,
    postMongodbPassword: "nodejspassword",
    guestUser: "fedora",
};

export function kubevirtManifestUrl(version: string): string {
    return `https://github.com/kubevirt/kubevirt/releases/download/${version}/kubevirt.yaml`;
}

export function ingressNginxManifestBaseUrl(version: string): string {
    return `https://raw.githubusercontent.com/kubernetes/ingress-nginx/nginx-${version}/deploy`;
}

export function ingressNginxControllerImage(version: string): string {
    return `quay.io/kubernetes-ingress-controller/nginx-ingress-controller:${version}`;
}

/** The address of a lab node by name; the error says what runs there and which nodes exist. */
export function nodeAddress(nodes: HostSpec[], name: string, what: string): string {
    const n = nodes.find((h) => h.name === name);
    if (!n) throw new Error(`${what} runs on ${name}, which is not a configured node (${nodes.map((h) => h.name).join(", ")})`);
    return n.address;
}

/** Where raw values come from: the stack's config map (keys without the project prefix). */
export interface ConfigSource {
    get(key: string): string | undefined;
}

/** Raised with every problem found, one per line, each naming the key, the value and what is expected. */
export class LabConfigError extends Error {
    constructor(public readonly problems: string[]) {
        super(
            `invalid kubevirt-lab configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
                problems.map((p) => `  - ${p}`).join("\n"),
        );
        this.name = "LabConfigError";
    }
}

// ---------- value checks (exported for reuse by the stage validators and tests) ----------

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function isDnsName(s: string): boolean {
    if (s.length === 0 || s.length > 253) return false;
    return s.split(".").every((label) => DNS_LABEL.test(label));
}

export function parseIPv4(s: string): number | undefined {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
    if (!m) return undefined;
    const parts = m.slice(1).map(Number);
    if (parts.some((p, i) => p > 255 || (m[i + 1].length > 1 && m[i + 1].startsWith("0")))) return undefined;
    return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

export interface Cidr {
    base: number;
    bits: number;
}

export function parseCidr(s: string): Cidr | undefined {
    const m = /^([^/]+)\/(\d{1,2})$/.exec(s);
    if (!m) return undefined;
    const base = parseIPv4(m[1]);
    const bits = Number(m[2]);
    if (base === undefined || bits > 32) return undefined;
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    if (((base & mask) >>> 0) !== base) return undefined; // host bits set
    return { base, bits };
}

export function cidrContains(c: Cidr, ip: number): boolean {
    const mask = c.bits === 0 ? 0 : (0xffffffff << (32 - c.bits)) >>> 0;
    return ((ip & mask) >>> 0) === c.base;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
    return a.bits <= b.bits ? cidrContains(a, b.base) : cidrContains(b, a.base);
}

export function isHttpUrl(s: string): boolean {
    try {
        const u = new URL(s);
        return (u.protocol === "https:" || u.protocol === "http:") && u.hostname.length > 0;
    } catch {
        return false;
    }
}

/** Where a manifest may come from: http(s), or file:// for a local mirror (and for tests). */
export function isManifestUrl(s: string): boolean {
    if (isHttpUrl(s)) return true;
    try {
        const u = new URL(s);
        return u.protocol === "file:" && u.pathname.length > 1;
    } catch {
        return false;
    }
}

/** kubeadm token TTLs are Go durations; a zero TTL would mean "never expires", which a join token must not. */
export function isPositiveDuration(s: string): boolean {
    const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(s);
    return !!m && s.length > 0 && m.slice(1).some((g) => g !== undefined && Number(g) > 0);
}

const SSH_PUBLIC_KEY = /^(ssh-rsa|ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\n]*)?$/;

/** Collects problems while reading raw values; each reader returns a usable fallback so that all problems are found at once. */
class Reader {
    readonly problems: string[] = [];
    constructor(private readonly source: ConfigSource) {}

    raw(key: string): string | undefined {
        const v = this.source.get(key);
        return v === undefined || v === "" ? undefined : v;
    }

    problem(key: string, value: unknown, expected: string): void {
        const shown = JSON.stringify(value) ?? String(value);
        this.problems.push(`${PROJECT}:${key}: got ${shown}, expected ${expected}`);
    }

    string(key: string, def: string, check?: (v: string) => boolean, expected?: string): string {
        const v = this.raw(key) ?? def;
        if (check && !check(v)) {
            this.problem(key, v, expected ?? "a valid value");
        }
        return v;
    }

    integer(key: string, def: number, min: number, max: number): number {
        const r = this.raw(key);
        if (r === undefined) return def;
        if (!/^-?\d+$/.test(r) || Number(r) < min || Number(r) > max) {
            this.problem(key, r, `a whole number from ${min} to ${max}`);
            return def;
        }
        return Number(r);
    }

    boolean(key: string, def: boolean): boolean {
        const r = this.raw(key);
        if (r === undefined) return def;
        if (r !== "true" && r !== "false") {
            this.problem(key, r, "true or false");
            return def;
        }
        return r === "true";
    }

    json<T>(key: string, def: T, expected: string): T {
        const r = this.raw(key);
        if (r === undefined) return def;
        try {
            return JSON.parse(r) as T;
        } catch {
            this.problem(key, r, expected);
            return def;
        }
    }

    stringList(key: string, def: string[], check: (v: string) => boolean, expected: string): string[] {
        const v = this.json<unknown>(key, def, `a list of ${expected}`);
        if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
            this.problem(key, v, `a list of ${expected}`);
            return def;
        }
        v.forEach((x: string, i: number) => {
            if (!check(x)) this.problem(`${key}[${i}]`, x, expected);
        });
        return v as string[];
    }

    host(key: string, v: unknown): HostSpec {
        if (typeof v !== "object" || v === null || Array.isArray(v)) {
            this.problem(key, v, `an object {"name": "<node FQDN>", "address": "<IPv4>"}`);
            return { name: "", address: "" };
        }
        const o = v as Record<string, unknown>;
        const name = typeof o.name === "string" ? o.name : "";
        const address = typeof o.address === "string" ? o.address : "";
        if (!isDnsName(name)) this.problem(`${key}.name`, o.name, "a lower-case DNS name such as km1.virtomation.com");
        if (parseIPv4(address) === undefined) this.problem(`${key}.address`, o.address, "an IPv4 address such as 172.31.50.221");
        for (const extra of Object.keys(o).filter((k) => k !== "name" && k !== "address")) {
            this.problem(`${key}.${extra}`, o[extra], "no such field (a host has only name and address)");
        }
        return { name, address };
    }
}

function expandHome(p: string): string {
    return p === "~" || p.startsWith("~/") ? path.join(os.homedir(), p.slice(1)) : p;
}

/**
 * Reads and validates every setting. Throws LabConfigError listing all problems at once;
 * nothing is registered before this returns.
 */
export function parseConfig(source: ConfigSource): LabConfig {
    const r = new Reader(source);

    const domain = r.string("domain", DEFAULTS.domain, isDnsName, "a DNS domain such as virtomation.com");

    // ---- hosts ----
    const masterRaw = r.json<unknown>("master", undefined, `an object {"name": ..., "address": ...}`);
    let master: HostSpec = { name: "", address: "" };
    if (masterRaw === undefined) {
        if (r.raw("master") === undefined) r.problem("master", undefined, `the master host, {"name": "km1.${domain}", "address": "<IPv4>"}`);
    } else {
        master = r.host("master", masterRaw);
    }
    const workersRaw = r.json<unknown>("workers", [], "a list of hosts");
    let workers: HostSpec[] = [];
    if (!Array.isArray(workersRaw)) {
        r.problem("workers", workersRaw, `a list of hosts [{"name": ..., "address": ...}]`);
    } else {
        workers = workersRaw.map((w, i) => r.host(`workers[${i}]`, w));
    }
    const dnsRaw = r.json<unknown>("dnsHost", undefined, "a host object");
    const unset = dnsRaw === undefined || (typeof dnsRaw === "object" && dnsRaw !== null && Object.keys(dnsRaw).length === 0);
    const dnsHost = unset ? undefined : r.host("dnsHost", dnsRaw);

    const named: Array<[string, HostSpec]> = [["master", master], ...workers.map((w, i): [string, HostSpec] => [`workers[${i}]`, w])];
    if (dnsHost) named.push(["dnsHost", dnsHost]);
    const seenNames = new Map<string, string>();
    const seenAddrs = new Map<string, string>();
    for (const [key, h] of named) {
        // The DNS host may share nothing with the nodes, but a node may double as DNS host only by address.
        if (h.name && key !== "dnsHost") {
            if (seenNames.has(h.name)) r.problem(`${key}.name`, h.name, `a name not already used by ${seenNames.get(h.name)}`);
            else seenNames.set(h.name, key);
        }
        if (h.address && key !== "dnsHost") {
            if (seenAddrs.has(h.address)) r.problem(`${key}.address`, h.address, `an address not already used by ${seenAddrs.get(h.address)}`);
            else seenAddrs.set(h.address, key);
        }
    }

    // ---- ssh ----
    const sshUser = r.string("sshUser", DEFAULTS.sshUser, (v) => /^[a-z_][a-z0-9_-]{0,31}$/.test(v), "a Unix user name such as root");
    const sshPort = r.integer("sshPort", DEFAULTS.sshPort, 1, 65535);
    const dialErrorLimit = r.integer("sshDialErrorLimit", DEFAULTS.sshDialErrorLimit, 1, 1000);
    const perDialTimeout = r.integer("sshPerDialTimeout", DEFAULTS.sshPerDialTimeout, 1, 600);
    const hostKey = r.raw("sshHostKey");
    if (hostKey !== undefined && !SSH_PUBLIC_KEY.test(hostKey)) r.problem("sshHostKey", hostKey, "an OpenSSH public key line such as \"ssh-ed25519 AAAA...\"");
    const keyText = r.raw("sshPrivateKey");
    const keyPathRaw = r.raw("sshPrivateKeyPath");
    let privateKey = "";
    let keyPath: string | undefined;
    if (keyText !== undefined && keyPathRaw !== undefined) {
        r.problem("sshPrivateKeyPath", keyPathRaw, "unset when sshPrivateKey is set (give the key one way only)");
    } else if (keyText !== undefined) {
        privateKey = keyText;
        if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(keyText)) r.problem("sshPrivateKey", "[secret]", "a PEM or OpenSSH private key (-----BEGIN ... PRIVATE KEY-----)");
    } else if (keyPathRaw !== undefined) {
        keyPath = expandHome(keyPathRaw);
        try {
            privateKey = fs.readFileSync(keyPath, "utf8");
            if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(privateKey)) r.problem("sshPrivateKeyPath", keyPathRaw, "a file holding a PEM or OpenSSH private key");
        } catch (e) {
            r.problem("sshPrivateKeyPath", keyPathRaw, `a readable private key file (${(e as NodeJS.ErrnoException).code ?? "unreadable"})`);
        }
    } else {
        r.problem("sshPrivateKey", undefined, "an SSH private key: `pulumi config set --secret sshPrivateKey < KEYFILE`, or sshPrivateKeyPath");
    }

    // ---- host preparation ----
    const hostPrep: HostPrepSettings = {
        yumRepoBaseUrl: r.string("yumRepoBaseUrl", DEFAULTS.yumRepoBaseUrl, isHttpUrl, "an http(s) URL of a yum repository"),
        yumRepoGpgKeys: r.stringList("yumRepoGpgKeys", DEFAULTS.yumRepoGpgKeys, isHttpUrl, "http(s) URLs of GPG keys"),
        yumUpdate: r.boolean("yumUpdate", DEFAULTS.yumUpdate),
        kubernetesVersion: r.string("kubernetesVersion", DEFAULTS.kubernetesVersion, (v) => /^\d+\.\d+\.\d+$/.test(v), "a version like 1.9.4 (no leading v)"),
        extraPackages: r.stringList("extraPackages", DEFAULTS.extraPackages, (v) => /^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(v), "yum package names"),
        dockerStorageDevice: r.string("dockerStorageDevice", DEFAULTS.dockerStorageDevice, (v) => v === "none" || /^\/dev\/[A-Za-z0-9._/-]+$/.test(v), "a block device path like /dev/vdb, or none to skip dedicated Docker storage"),
        sysctl: r.stringList("sysctl", DEFAULTS.sysctl, (v) => /^[A-Za-z0-9_./-]+ = \S.*$/.test(v), "sysctl lines of the form \"key = value\""),
        selinux: r.string("selinux", DEFAULTS.selinux, (v) => ["disabled", "permissive", "enforcing"].includes(v), "disabled, permissive or enforcing") as SelinuxMode,
    };
    if (hostPrep.dockerStorageDevice === "none") hostPrep.dockerStorageDevice = "";
    if (hostPrep.yumRepoGpgKeys.length === 0) r.problem("yumRepoGpgKeys", [], "at least one GPG key URL (the repo has gpgcheck=1)");

    // ---- cluster ----
    const cluster: ClusterSettings = {
        podNetworkCidr: r.string("podNetworkCidr", DEFAULTS.podNetworkCidr, (v) => parseCidr(v) !== undefined, "an IPv4 network like 10.244.0.0/16"),
        serviceCidr: r.string("serviceCidr", DEFAULTS.serviceCidr, (v) => parseCidr(v) !== undefined, "an IPv4 network like 10.96.0.0/12"),
        flannelManifestUrl: r.string("flannelManifestUrl", DEFAULTS.flannelManifestUrl, isHttpUrl, "an http(s) URL of the Flannel manifest"),
        joinTokenTtl: r.string("joinTokenTtl", DEFAULTS.joinTokenTtl, isPositiveDuration, "a positive duration like 15m or 1h"),
        nodeReadyTimeoutSeconds: r.integer("nodeReadyTimeoutSeconds", DEFAULTS.nodeReadyTimeoutSeconds, 10, 7200),
    };
    const pod = parseCidr(cluster.podNetworkCidr);
    const svc = parseCidr(cluster.serviceCidr);
    if (pod && svc && cidrsOverlap(pod, svc)) r.problem("podNetworkCidr", cluster.podNetworkCidr, `a network that does not overlap serviceCidr ${cluster.serviceCidr}`);
    if (pod && pod.bits > 24) r.problem("podNetworkCidr", cluster.podNetworkCidr, "a network of /24 or larger (Flannel gives each node a /24)");
    for (const [key, h] of named) {
        const ip = parseIPv4(h.address);
        if (ip === undefined) continue;
        if (pod && cidrContains(pod, ip)) r.problem("podNetworkCidr", cluster.podNetworkCidr, `a network that does not contain ${key}.address ${h.address}`);
        if (svc && cidrContains(svc, ip)) r.problem("serviceCidr", cluster.serviceCidr, `a network that does not contain ${key}.address ${h.address}`);
    }

    // ---- stages ----
    const stageList = r.stringList("stages", DEFAULTS.stages, (v) => (STAGES as readonly string[]).includes(v), `stage names (${STAGES.join(", ")})`);
    const stages = Object.fromEntries(STAGES.map((s) => [s, stageList.includes(s)])) as Record<Stage, boolean>;
    if (stages.workload && !stages.addons) r.problem("stages", stageList, "addons listed too: the workload needs KubeVirt and ingress-nginx");
    if (stages.app && !stages.workload) r.problem("stages", stageList, "workload listed too: the app is installed in the workload's VMs");

    // ---- add-ons ----
    const kubevirtVersion = r.string("kubevirtVersion", DEFAULTS.kubevirtVersion, (v) => /^v\d+\.\d+\.\d+$/.test(v), "a release tag like v0.4.1");
    const ingressNginxVersion = r.string("ingressNginxVersion", DEFAULTS.ingressNginxVersion, (v) => /^\d+\.\d+\.\d+$/.test(v), "a release like 0.13.0 (no leading v)");
    const addons: AddonSettings = {
        kubevirtVersion,
        kubevirtManifestUrl: r.string("kubevirtManifestUrl", kubevirtManifestUrl(kubevirtVersion), isManifestUrl, "an http(s) or file:// URL of kubevirt.yaml"),
        skydiveManifestUrl: r.string("skydiveManifestUrl", DEFAULTS.skydiveManifestUrl, isManifestUrl, "an http(s) or file:// URL of skydive.yaml"),
        ingressNginxVersion,
        ingressNginxManifestBaseUrl: r.string("ingressNginxManifestBaseUrl", ingressNginxManifestBaseUrl(ingressNginxVersion), isManifestUrl, "an http(s) or file:// URL of the deploy/ folder of an ingress-nginx release tag"),
        ingressNginxControllerImage: r.string("ingressNginxControllerImage", ingressNginxControllerImage(ingressNginxVersion), (v) => /^[a-z0-9.-]+(:\d+)?\/[a-z0-9._/-]+:[A-Za-z0-9._-]+$/.test(v), "an image reference with a tag"),
        ingressHttpNodePort: r.integer("ingressHttpNodePort", DEFAULTS.ingressHttpNodePort, 1, 65535),
        ingressHttpsNodePort: r.integer("ingressHttpsNodePort", DEFAULTS.ingressHttpsNodePort, 1, 65535),
        ingressMgmtNodePort: r.integer("ingressMgmtNodePort", DEFAULTS.ingressMgmtNodePort, 1, 65535),
        readyTimeoutSeconds: r.integer("addonReadyTimeoutSeconds", DEFAULTS.addonReadyTimeoutSeconds, 10, 7200),
    };

    // ---- workload ----
    const nodeNames = workers.map((w) => w.name);
    const resolveNode = (key: string, v: string): string => {
        const match = workers.find((w) => w.name === v) ?? workers.find((w) => w.name.split(".")[0] === v);
        if (!match) {
            if (stages.workload) r.problem(key, v, `one of the workers (${nodeNames.join(", ") || "none configured"})`);
            return v;
        }
        return match.name;
    };
    let vmSshPublicKey = r.raw("vmSshPublicKey");
    if (vmSshPublicKey === undefined && keyPath !== undefined && fs.existsSync(`${keyPath}.pub`)) {
        vmSshPublicKey = fs.readFileSync(`${keyPath}.pub`, "utf8").trim();
    }
    if (stages.workload && vmSshPublicKey === undefined) {
        r.problem("vmSshPublicKey", undefined, "the operator's SSH public key for the VMs' cloud-init (or sshPrivateKeyPath with a .pub beside it)");
    } else if (vmSshPublicKey !== undefined && !SSH_PUBLIC_KEY.test(vmSshPublicKey)) {
        r.problem("vmSshPublicKey", vmSshPublicKey, "an OpenSSH public key line such as \"ssh-ed25519 AAAA... you@host\"");
    }
    const workload: WorkloadSettings = {
        namespace: r.string("workloadNamespace", DEFAULTS.workloadNamespace, (v) => DNS_LABEL.test(v), "a Kubernetes namespace name"),
        nodejsVmNode: resolveNode("nodejsVmNode", r.string("nodejsVmNode", DEFAULTS.nodejsVmNode)),
        mongodbVmNode: resolveNode("mongodbVmNode", r.string("mongodbVmNode", DEFAULTS.mongodbVmNode)),
        vmsRunning: r.boolean("vmsRunning", DEFAULTS.vmsRunning),
        vmImage: r.string("vmImage", DEFAULTS.vmImage, (v) => /^[a-z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)*(:[A-Za-z0-9._-]+)?$/.test(v), "a container image reference of a KubeVirt registry disk"),
        vmSshPublicKey: vmSshPublicKey ?? "",
        nodejsSshNodePort: r.integer("nodejsSshNodePort", DEFAULTS.nodejsSshNodePort, 1, 65535),
        mongodbSshNodePort: r.integer("mongodbSshNodePort", DEFAULTS.mongodbSshNodePort, 1, 65535),
    };

    // NodePorts must be distinct and inside the default NodePort range of the API server.
    if (stages.addons) {
        const ports: Array<[string, number]> = [
            ["ingressHttpNodePort", addons.ingressHttpNodePort],
            ["ingressHttpsNodePort", addons.ingressHttpsNodePort],
            ["ingressMgmtNodePort", addons.ingressMgmtNodePort],
        ];
        if (stages.workload) ports.push(["nodejsSshNodePort", workload.nodejsSshNodePort], ["mongodbSshNodePort", workload.mongodbSshNodePort]);
        const used = new Map<number, string>();
        for (const [key, port] of ports) {
            if (port < 30000 || port > 32767) r.problem(key, port, "a NodePort from 30000 to 32767");
            else if (used.has(port)) r.problem(key, port, `a NodePort not already used by ${used.get(port)}`);
            used.set(port, key);
        }
    }

    // ---- app ----
    const password = r.raw("mongodbPassword");
    const adminPassword = r.raw("mongodbAdminPassword");
    for (const [key, v] of [["mongodbPassword", password], ["mongodbAdminPassword", adminPassword]] as const) {
        if (v !== undefined && !/^[A-Za-z0-9._~-]{8,128}$/.test(v)) {
            r.problem(key, "[secret]", "8 to 128 characters from A-Z a-z 0-9 . _ ~ - (it goes into a mongodb:// URL)");
        }
    }
    const app: AppSettings = {
        mongodbPassword: pulumi.secret(password ?? DEFAULTS.postMongodbPassword),
        mongodbAdminPassword: pulumi.secret(adminPassword ?? password ?? DEFAULTS.postMongodbPassword),
        usesPostPassword: password === undefined,
        guestUser: r.string("vmGuestUser", DEFAULTS.guestUser, (v) => /^[a-z_][a-z0-9_-]{0,31}$/.test(v), "a Unix user name"),
    };

    // ---- dns ----
    let dns: DnsSettings | undefined;
    if (dnsHost && stages.dns) {
        const ingressNodeRaw = r.raw("dnsIngressNode");
        let ingressNode: string | undefined;
        if (ingressNodeRaw !== undefined) {
            const match = [master, ...workers].find((h) => h.name === ingressNodeRaw || h.name.split(".")[0] === ingressNodeRaw);
            if (!match) r.problem("dnsIngressNode", ingressNodeRaw, `one of the nodes (${[master, ...workers].map((h) => h.name).join(", ")})`);
            ingressNode = match?.name ?? ingressNodeRaw;
        } else if (!stages.addons) {
            r.problem("dnsIngressNode", undefined, "the node that runs the ingress controller (it cannot be looked up when the addons stage is off)");
        }
        dns = {
            host: dnsHost,
            configPath: r.string("dnsConfigPath", `/etc/dnsmasq.d/${domain.split(".")[0]}.conf`, (v) => /^\/[A-Za-z0-9._/-]+\.conf$/.test(v), "an absolute path ending in .conf"),
            ingressNode,
        };
    }

    if (r.problems.length > 0) throw new LabConfigError(r.problems);
    return {
        domain,
        master,
        workers,
        ssh: { user: sshUser, port: sshPort, privateKey: pulumi.secret(privateKey), privateKeyPath: keyPath, hostKey, dialErrorLimit, perDialTimeout },
        hostPrep,
        cluster,
        stages,
        addons,
        workload,
        app,
        dns,
    };
}

/** The running stack's config, without the `kubevirt-lab:` prefix. */
export function stackConfigSource(): ConfigSource {
    return { get: (key) => pulumi.runtime.getConfig(`${PROJECT}:${key}`) };
}

/** Reads the running stack's config; a bad value stops the program with every problem listed. */
export function loadConfig(): LabConfig {
    try {
        return parseConfig(stackConfigSource());
    } catch (e) {
        if (e instanceof LabConfigError) throw new pulumi.RunError(e.message);
        throw e;
    }
}
