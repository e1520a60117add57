// The checks of single values that the settings are made of (components/settings.ts
// declares which setting takes which): text, names, addresses and networks, URLs,
// durations, image references, SSH keys and ports. Each is a pure function: a value
// in, true/false or what is wrong with it out. Nothing here knows a setting's key.
import * as crypto from "crypto";

// ---------- text ----------

/** C0 and C1 control characters, DEL and the Unicode line/paragraph separators: each can end a line of a file a host reads. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** No control character (newline, carriage return, tab, ...) and no leading or trailing white space. */
export function isCleanText(s: string): boolean {
    return !CONTROL.test(s) && s.trim() === s;
}

export const CLEAN_TEXT = "text without control characters (newline, carriage return, tab, ...) or leading or trailing spaces";

// ---------- names ----------

export const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
export const UNIX_USER = /^[a-z_][a-z0-9_-]{0,31}$/;

export function isDnsName(s: string): boolean {
    if (s.length === 0 || s.length > 253) return false;
    return s.split(".").every((label) => DNS_LABEL.test(label));
}

/** Namespaces the lab's workload may not take: Kubernetes' own and the add-ons'. */
export const RESERVED_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease", "skydive", "ingress-nginx"];

export function isWorkloadNamespace(s: string): boolean {
    return DNS_LABEL.test(s) && !RESERVED_NAMESPACES.includes(s) && !s.startsWith("kube-");
}

// ---------- IPv4 addresses and networks ----------

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
    if ((base & mask) >>> 0 !== base) return undefined; // host bits set
    return { base, bits };
}

export function cidrContains(c: Cidr, ip: number): boolean {
    const mask = c.bits === 0 ? 0 : (0xffffffff << (32 - c.bits)) >>> 0;
    return (ip & mask) >>> 0 === c.base;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
    return a.bits <= b.bits ? cidrContains(a, b.base) : cidrContains(b, a.base);
}

/** The IPv4 ranges that are no host's own unicast address, nor a network a cluster can use. */
export const SPECIAL_NETWORKS: ReadonlyArray<readonly [string, string]> = [
    ["0.0.0.0/8", "'this network' (0.0.0.0/8, 0.0.0.0 unspecified)"],
    ["127.0.0.0/8", "loopback (127.0.0.0/8)"],
    ["169.254.0.0/16", "link-local (169.254.0.0/16)"],
    ["224.0.0.0/4", "multicast (224.0.0.0/4)"],
    ["240.0.0.0/4", "reserved (240.0.0.0/4, 255.255.255.255 broadcast)"],
];

/** What a special range an address is in, or undefined for an address a host can have. */
export function specialAddress(ip: number): string | undefined {
    return SPECIAL_NETWORKS.find(([c]) => cidrContains(parseCidr(c)!, ip))?.[1];
}

/** What a special range a network overlaps, or undefined. */
export function specialOverlap(c: Cidr): string | undefined {
    return SPECIAL_NETWORKS.find(([s]) => cidrsOverlap(parseCidr(s)!, c))?.[1];
}

// ---------- ports ----------

export const NODE_PORT_RANGE = [30000, 32767] as const;

/** The TCP ports Kubernetes 1.9 listens on at a node (kubeadm's preflight checks them): no SSH there. */
export const KUBERNETES_PORTS: Readonly<Record<number, string>> = {
    2379: "etcd",
    2380: "etcd",
    6443: "the API server",
    10250: "the kubelet",
    10251: "kube-scheduler",
    10252: "kube-controller-manager",
    10255: "the kubelet's read-only port",
    10256: "kube-proxy",
};

/** Why SSH cannot listen on a port of a lab node, or undefined. */
export function sshPortProblem(port: number): string | undefined {
    if (port >= NODE_PORT_RANGE[0] && port <= NODE_PORT_RANGE[1])
        return `a port outside Kubernetes' NodePort range ${NODE_PORT_RANGE[0]}-${NODE_PORT_RANGE[1]} (kube-proxy takes those on every node)`;
    const user = KUBERNETES_PORTS[port];
    return user ? `a port Kubernetes does not use on the nodes (${port} is ${user}'s)` : undefined;
}

// ---------- URLs ----------

/** The schemes a URL setting may declare; plain http is allowed only from the origins of `plainHttpOrigins`. */
export type UrlScheme = "https" | "file";

/**
 * What is wrong with a URL, or undefined: it parses, its scheme is one of `schemes` or http
 * (which settings.ts allows only from `plainHttpOrigins`), it has a host (file:// none: a local
 * path), no user or password, and it is written exactly as it is read (`new URL(s).href === s`:
 * no spaces, no `..`, no stray characters the parser would drop, such as a newline).
 */
export function urlProblem(s: string, schemes: readonly UrlScheme[], expected: string): string | undefined {
    let u: URL;
    try {
        u = new URL(s);
    } catch {
        return expected;
    }
    const scheme = u.protocol.slice(0, -1);
    if (scheme !== "http" && !(schemes as readonly string[]).includes(scheme)) return expected;
    if (u.username !== "" || u.password !== "")
        return "a URL without a user or password in it (credentials do not belong in the stack file or on a command line)";
    if (scheme === "file" ? u.host !== "" || u.pathname.length <= 1 : u.hostname === "") return expected;
    if (u.href !== s) return `a URL written as it is read (this one reads as ${JSON.stringify(u.href)})`;
    return undefined;
}

/** `http://<host>[:<port>]`, exactly its origin. */
export function isHttpOrigin(s: string): boolean {
    try {
        const u = new URL(s);
        return u.protocol === "http:" && u.origin === s;
    } catch {
        return false;
    }
}

// ---------- durations ----------

const GO_UNIT_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1e3, m: 6e4, h: 3.6e6 };
/** Go's time.Duration is an int64 of nanoseconds. */
const GO_MAX_MS = 9223372036854.775;

/**
 * A Go duration (`time.ParseDuration`: 15m, 1h30m, 1.5h, 90s) in milliseconds, or undefined when
 * it is not one or overflows Go's int64 nanoseconds.
 */
export function parseGoDuration(s: string): number | undefined {
    if (s === "0") return 0;
    const m = /^([-+]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)$/.exec(s);
    if (!m) return undefined;
    let ms = 0;
    for (const part of m[2].matchAll(/(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) ms += Number(part[1]) * GO_UNIT_MS[part[2]];
    if (!Number.isFinite(ms) || ms > GO_MAX_MS) return undefined;
    return m[1] === "-" ? -ms : ms;
}

// ---------- container images ----------

const IMAGE_PATH = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const IMAGE_NAME = `(?:[a-zA-Z0-9-]+(?:\\.[a-zA-Z0-9-]+)*(?::\\d{1,5})?/)?${IMAGE_PATH}(?:/${IMAGE_PATH})*`;
const IMAGE_TAG = ":[A-Za-z0-9_][A-Za-z0-9._-]{0,127}";
const IMAGE_DIGEST = "@sha256:[0-9a-f]{64}";
const IMAGE = new RegExp(`^${IMAGE_NAME}(${IMAGE_TAG})?(${IMAGE_DIGEST})?$`);

/** A Docker image reference: `[registry[:port]/]path[:tag][@sha256:<digest>]`; `pinned`: a tag or a digest is required. */
export function isImageReference(s: string, pinned = false): boolean {
    const m = IMAGE.exec(s);
    return !!m && (!pinned || m[1] !== undefined || m[2] !== undefined);
}

// ---------- SSH keys ----------

export const SSH_KEY_TYPES = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
] as const;

export interface PublicKey {
    type: string;
    /** The key blob, base64 as in the line. */
    base64: string;
    comment?: string;
}

/**
 * An OpenSSH public key line `<type> <base64> [comment]`: a known type, base64 whose blob names
 * that same type (what sshd and ssh check), a comment of clean text. Undefined when it is not one.
 */
export function parsePublicKey(line: string): PublicKey | undefined {
    if (!isCleanText(line)) return undefined;
    const m = /^(\S+) ([A-Za-z0-9+/]+={0,2})(?: (\S.*))?$/.exec(line);
    if (!m || !(SSH_KEY_TYPES as readonly string[]).includes(m[1]) || m[2].length % 4 !== 0) return undefined;
    const blob = Buffer.from(m[2], "base64");
    if (blob.length < 4) return undefined;
    const n = blob.readUInt32BE(0);
    if (blob.subarray(4, 4 + n).toString("latin1") !== m[1]) return undefined;
    return { type: m[1], base64: m[2], comment: m[3] };
}

/** OpenSSH's fingerprint of a key: `SHA256:<base64 of the blob's sha256, unpadded>`. */
export function fingerprint(k: PublicKey): string {
    return `SHA256:${crypto.createHash("sha256").update(Buffer.from(k.base64, "base64")).digest("base64").replace(/=+$/, "")}`;
}

/** A PEM or OpenSSH private key. */
export const PRIVATE_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

// ---------- distance ----------

/** Levenshtein distance, case-insensitive: how far a misspelled key is from a known one. */
export function editDistance(a: string, b: string): number {
    const x = a.toLowerCase();
    const y = b.toLowerCase();
    let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
    for (let i = 1; i <= x.length; i++) {
        const row = [i];
        for (let j = 1; j <= y.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1));
        prev = row;
    }
    return prev[y.length];
}
