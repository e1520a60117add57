// The lab's settings, each declared once: its key, its schema (how the string
// the engine hands over is decoded and checked), its default (the post's value)
// or what happens when it is unset, whether it is a secret, and the one line
// that describes it. The value types come from the schemas. Pulumi.yaml's
// `config:` block and the README's settings table are written from this list by
// `npm run gen:settings` (harness/gen-settings.ts); test/settings.test.ts fails
// when they differ from what it would write.
//
// The schemas are zod 4: a well-kept library (the current major line, released
// often; zod 3 gets fixes only), without dependencies, TypeScript-first so the
// types are inferred from the schemas, and it reports every issue of a value at
// once with its path and input, which is what our messages are made of
// ("kubevirt-lab:<key>: got <value>, expected <what>").
//
// Checks that involve more than one setting (networks against the hosts,
// NodePorts against each other, VMs against the workers, the SSH key given one
// way) run in `crossCheck`, after every setting has been read, on the settings
// that passed; their problems are reported together with the others.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { z } from "zod";

export const PROJECT = "kubevirt-lab";
export const STAGES = ["addons", "workload", "app", "dns"] as const;
export type Stage = (typeof STAGES)[number];
export const SELINUX_MODES = ["disabled", "permissive", "enforcing"] as const;
export type SelinuxMode = (typeof SELINUX_MODES)[number];
/** The tags of the Ansible roles (ansible/README.md) that `appSkipTags` may skip; `always` is not one. */
export const APP_TAGS = ["packages", "source", "config", "service", "users"] as const;
/** The post's published MongoDB password, used (with a warning) when no secret is set. */
export const POST_MONGODB_PASSWORD = "nodejspassword";

// ---------- value checks (exported for reuse by the stage validators and tests) ----------

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const UNIX_USER = /^[a-z_][a-z0-9_-]{0,31}$/;
const PRIVATE_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;
const SSH_PUBLIC_KEY = /^(ssh-rsa|ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\n]*)?$/;
const URL_PASSWORD = /^[A-Za-z0-9._~-]{8,128}$/;

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

// ---------- defaults derived from other settings ----------

export function kubevirtManifestUrl(version: string): string {
    return `https://github.com/kubevirt/kubevirt/releases/download/${version}/kubevirt.yaml`;
}

export function ingressNginxManifestBaseUrl(version: string): string {
    return `https://raw.githubusercontent.com/kubernetes/ingress-nginx/nginx-${version}/deploy`;
}

export function ingressNginxControllerImage(version: string): string {
    return `quay.io/kubernetes-ingress-controller/nginx-ingress-controller:${version}`;
}

/** The post's dnsmasq file: named after the first label of the domain. */
export function dnsConfigPath(domain: string): string {
    return `/etc/dnsmasq.d/${domain.split(".")[0]}.conf`;
}

// ---------- codecs: the engine's string to a checked value ----------

/** The types Pulumi.yaml can declare; a setting without one (a host) is a JSON object. */
export type PulumiType = "string" | "integer" | "boolean" | "array";

/**
 * A schema of values of type T, whatever its input: any, not unknown, because a schema is both
 * piped into (its input must accept the previous output) and passed where any input is accepted.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Schema<T> = z.ZodType<T, any>;

export interface Codec<T> {
    schema: Schema<T>;
    pulumiType?: PulumiType;
    /** The type as the README shows it. */
    typeName: string;
}

const text = (check?: (v: string) => boolean, expected = "a valid value"): Codec<string> => ({
    schema: check ? z.string().refine(check, expected) : z.string(),
    pulumiType: "string",
    typeName: "string",
});

/** A codec with one more check. */
const also = <T>(codec: Codec<T>, check: (v: T) => boolean, expected: string): Codec<T> => ({
    ...codec,
    schema: codec.schema.refine(check, expected),
});

const matching = (re: RegExp, expected: string): Codec<string> => text((v) => re.test(v), expected);

const integer = (min: number, max: number): Codec<number> => ({
    schema: z
        .string()
        .refine((s) => /^-?\d+$/.test(s) && Number(s) >= min && Number(s) <= max, `a whole number from ${min} to ${max}`)
        .transform(Number),
    pulumiType: "integer",
    typeName: `integer ${min}–${max}`,
});

const boolean = (): Codec<boolean> => ({
    schema: z
        .string()
        .refine((s) => s === "true" || s === "false", "true or false")
        .transform((s) => s === "true"),
    pulumiType: "boolean",
    typeName: "boolean",
});

const oneOf = <const T extends readonly [string, ...string[]]>(values: T, expected: string): Codec<T[number]> => ({
    schema: z.enum(values, { error: expected }),
    pulumiType: "string",
    typeName: values.join(" / "),
});

/** A value the engine hands over as JSON text (lists and objects). */
function json<T>(notJson: string, inner: Schema<T>): Schema<T> {
    return z
        .string()
        .transform((s, ctx): unknown => {
            try {
                return JSON.parse(s);
            } catch {
                ctx.addIssue({ code: "custom", message: notJson, input: s });
                return z.NEVER;
            }
        })
        .pipe(inner);
}

/** A list of strings; `expected` says what each item is, `checks` what the whole list must be. */
function list<T extends string>(
    item: Schema<T>,
    typeName: string,
    expected: string,
    ...checks: Array<[(v: T[]) => boolean, string]>
): Codec<T[]> {
    const isStrings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === "string");
    let items: Schema<T[]> = z.array(item);
    for (const [check, message] of checks) items = items.refine(check, message);
    return {
        schema: json(`a list of ${expected}`, z.custom<string[]>(isStrings, `a list of ${expected}`).pipe(items)),
        pulumiType: "array",
        typeName,
    };
}

const stringList = (check: (v: string) => boolean, expected: string, ...checks: Array<[(v: string[]) => boolean, string]>) =>
    list(z.string().refine(check, expected), "list of strings", expected, ...checks);

const HOST_NAME = "a lower-case DNS name such as km1.virtomation.com";
const HOST_ADDRESS = "an IPv4 address such as 172.31.50.221";
const HOST_SHAPE = 'an object {"name": "<node FQDN>", "address": "<IPv4>"}';

/** One lab machine: its Kubernetes node name (the post's FQDN) and the address SSH and kubeadm use. */
const HOST = z.strictObject(
    {
        name: z.string({ error: HOST_NAME }).refine(isDnsName, HOST_NAME),
        address: z.string({ error: HOST_ADDRESS }).refine((v) => parseIPv4(v) !== undefined, HOST_ADDRESS),
    },
    { error: (iss) => (iss.code === "unrecognized_keys" ? "no such field (a host has only name and address)" : HOST_SHAPE) },
);
export type HostSpec = z.infer<typeof HOST>;

const host = (notJson: string): Codec<HostSpec> => ({ schema: json(notJson, HOST), typeName: "host" });

const hostList = (): Codec<HostSpec[]> => ({
    schema: json("a list of hosts", z.array(HOST, { error: 'a list of hosts [{"name": ..., "address": ...}]' })),
    typeName: "list of hosts",
});

/** A host that `{}` leaves unset. */
const optionalHost = (notJson: string): Codec<HostSpec | undefined> => ({
    schema: json(
        notJson,
        z.preprocess((v) => (isEmptyObject(v) ? undefined : v), HOST.optional()),
    ),
    typeName: "host",
});

function isEmptyObject(v: unknown): boolean {
    return typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 0;
}

// ---------- the declaration ----------

export interface Setting<T> {
    /** Raw value (undefined or "" when unset) to the checked value, default applied. */
    schema: z.ZodType<T>;
    pulumiType?: PulumiType;
    typeName: string;
    /** The post's value, written to Pulumi.yaml as the default. */
    default?: unknown;
    /** What an unset value means (derived from other settings, or not used). */
    unset?: string;
    /** Set when the setting has no default: what the message says is expected. */
    required?: string;
    /** Never shown in a message; handled as a Pulumi secret. */
    secret: boolean;
    description: string;
    /** The heading it is listed under in Pulumi.yaml. */
    group: string;
}

interface Common {
    description: string;
    secret?: boolean;
}

const blankIsUnset = (v: unknown) => (v === "" ? undefined : v);

function setting<T>(codec: Codec<T>, o: Common & { default: NoInfer<T> }): Setting<T>;
function setting<T>(codec: Codec<T>, o: Common & { unset: string }): Setting<T | undefined>;
function setting<T>(codec: Codec<T>, o: Common & { required: string }): Setting<T>;
function setting<T>(codec: Codec<T>, o: Common & { default?: T; unset?: string; required?: string }): Setting<T | undefined> {
    let inner: z.ZodType<T | undefined>;
    if (o.required !== undefined) inner = z.string({ error: o.required }).pipe(codec.schema);
    else if (o.unset !== undefined) inner = codec.schema.optional();
    else inner = codec.schema.optional().transform((v) => (v === undefined ? structuredClone(o.default as T) : v)); // a copy: callers may change lists
    return {
        schema: z.preprocess(blankIsUnset, inner),
        pulumiType: codec.pulumiType,
        typeName: codec.typeName,
        default: o.default,
        unset: o.unset,
        required: o.required,
        secret: o.secret ?? false,
        description: o.description,
        group: "",
    };
}

function group<S extends Record<string, Setting<unknown>>>(name: string, settings: S): S {
    for (const s of Object.values(settings)) s.group = name;
    return settings;
}

const NODE_PORT = integer(1, 65535);
/**
 * The longest name the lab makes under its domain (the Skydive ingress host; dnsmasq's
 * wildcard is `.ingress.<domain>`): with it, every one of them is a DNS name.
 */
const LONGEST_LAB_NAME = "skydive.ingress";

export const SETTINGS = {
    ...group("hosts", {
        domain: setting(
            also(
                text(isDnsName, "a DNS domain such as virtomation.com"),
                (v) => !isDnsName(v) || isDnsName(`${LONGEST_LAB_NAME}.${v}`),
                `a domain of at most ${253 - LONGEST_LAB_NAME.length - 1} characters (so that ${LONGEST_LAB_NAME}.<domain>, the longest name the lab makes of it, fits in 253)`,
            ),
            {
                default: "virtomation.com",
                description: "DNS domain of the lab; the ingress names are `<app>.ingress.<domain>`.",
            },
        ),
        master: setting(host('an object {"name": ..., "address": ...}'), {
            required: 'the master host, {"name": "km1.<domain>", "address": "<IPv4>"}',
            description: 'The master host: `{"name": "<node FQDN>", "address": "<IPv4>"}`.',
        }),
        workers: setting(hostList(), {
            default: [],
            description: 'The worker hosts, any number: `[{"name": ..., "address": ...}]`.',
        }),
        dnsHost: setting(optionalHost("a host object"), {
            unset: "no DNS host: the DNS stage is skipped",
            description: 'The dnsmasq host `{"name": ..., "address": ...}`; `{}` leaves it unset.',
        }),
        sshUser: setting(matching(UNIX_USER, "a Unix user name such as root"), {
            default: "root",
            description: "SSH user on every host; `sudo -n` is used when it is not root.",
        }),
        sshPort: setting(integer(1, 65535), { default: 22, description: "SSH port of every host." }),
        sshPrivateKey: setting(matching(PRIVATE_KEY, "a PEM or OpenSSH private key (-----BEGIN ... PRIVATE KEY-----)"), {
            unset: "`sshPrivateKeyPath` is read",
            secret: true,
            description: "The SSH private key (`pulumi config set --secret sshPrivateKey < KEYFILE`); or `sshPrivateKeyPath`.",
        }),
        sshPrivateKeyPath: setting(text(), {
            unset: "`sshPrivateKey` is used",
            description: "Path of an SSH private key file (read at deploy time and kept as a secret); or `sshPrivateKey`.",
        }),
        sshHostKey: setting(matching(SSH_PUBLIC_KEY, 'an OpenSSH public key line such as "ssh-ed25519 AAAA..."'), {
            unset: "any host key is accepted",
            description: "Expected host key of the hosts (an OpenSSH public key line).",
        }),
        sshDialErrorLimit: setting(integer(1, 1000), {
            default: 10,
            description: "SSH dial attempts before a host is declared unreachable.",
        }),
        sshPerDialTimeout: setting(integer(1, 600), { default: 15, description: "Seconds per SSH dial attempt." }),
    }),
    ...group("host preparation", {
        yumRepoBaseUrl: setting(text(isHttpUrl, "an http(s) URL of a yum repository"), {
            default: "https://packages.cloud.google.com/yum/repos/kubernetes-el7-$basearch",
            description: "`baseurl` of the Kubernetes yum repository (`$basearch` stays literal).",
        }),
        yumRepoGpgKeys: setting(
            stringList(isHttpUrl, "http(s) URLs of GPG keys", [(v) => v.length > 0, "at least one GPG key URL (the repo has gpgcheck=1)"]),
            {
                default: [
                    "https://packages.cloud.google.com/yum/doc/yum-key.gpg",
                    "https://packages.cloud.google.com/yum/doc/rpm-package-key.gpg",
                ],
                description: "`gpgkey` URLs of the Kubernetes yum repository.",
            },
        ),
        yumUpdate: setting(boolean(), { default: true, description: "Run `yum update -y` before installing packages, as the post does." }),
        kubernetesVersion: setting(matching(/^\d+\.\d+\.\d+$/, "a version like 1.9.4 (no leading v)"), {
            default: "1.9.4",
            description: "Version of kubelet, kubeadm, kubectl and of the control plane.",
        }),
        extraPackages: setting(
            stringList((v) => /^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(v), "yum package names"),
            {
                default: ["docker", "ansible", "git", "curl", "wget"],
                description: "Packages installed beside kubelet, kubeadm and kubectl.",
            },
        ),
        dockerStorageDevice: setting(
            text(
                (v) => v === "none" || /^\/dev\/[A-Za-z0-9._/-]+$/.test(v),
                "a block device path like /dev/vdb, or none to skip dedicated Docker storage",
            ),
            {
                default: "/dev/vdb",
                description: "Block device for docker-storage-setup (overlay2 on an LVM volume); `none` skips dedicated storage.",
            },
        ),
        sysctl: setting(
            stringList((v) => /^[A-Za-z0-9_./-]+ = \S.*$/.test(v), 'sysctl lines of the form "key = value"'),
            {
                default: ["net.bridge.bridge-nf-call-ip6tables = 1", "net.bridge.bridge-nf-call-iptables = 1"],
                description: "Lines of `/etc/sysctl.d/k8s.conf`.",
            },
        ),
        selinux: setting(oneOf(SELINUX_MODES, "disabled, permissive or enforcing"), {
            default: "disabled",
            description: "SELinux mode written to `/etc/selinux/config`; the post disables it, `enforcing` leaves SELinux alone.",
        }),
    }),
    ...group("cluster", {
        podNetworkCidr: setting(
            also(
                text((v) => parseCidr(v) !== undefined, "an IPv4 network like 10.244.0.0/16"),
                (v) => (parseCidr(v)?.bits ?? 0) <= 24,
                "a network of /24 or larger (Flannel gives each node a /24)",
            ),
            {
                default: "10.244.0.0/16",
                description:
                    "`kubeadm init --pod-network-cidr`, Flannel's network; it must not overlap `serviceCidr` nor hold a host's address.",
            },
        ),
        serviceCidr: setting(
            text((v) => parseCidr(v) !== undefined, "an IPv4 network like 10.96.0.0/12"),
            {
                default: "10.96.0.0/12",
                description: "`kubeadm init --service-cidr`; it must not hold a host's address.",
            },
        ),
        flannelManifestUrl: setting(text(isHttpUrl, "an http(s) URL of the Flannel manifest"), {
            default: "https://raw.githubusercontent.com/coreos/flannel/v0.9.1/Documentation/kube-flannel.yml",
            description: "Flannel manifest applied with kubectl on the master.",
        }),
        joinTokenTtl: setting(text(isPositiveDuration, "a positive duration like 15m or 1h"), {
            default: "15m",
            description: "Lifetime of the join token minted for each worker when it joins.",
        }),
        kubeadmIgnorePreflightErrors: setting(
            stringList(
                (v) => /^[A-Za-z][A-Za-z0-9-]*$/.test(v),
                "names of kubeadm preflight checks such as SystemVerification or FileExisting-iptables, or all",
            ),
            {
                default: [],
                description:
                    "Preflight checks whose errors `kubeadm init` and `kubeadm join` only warn about (`--ignore-preflight-errors`); `[]` ignores none, as real hosts need.",
            },
        ),
        nodeReadyTimeoutSeconds: setting(integer(10, 7200), { default: 600, description: "How long to wait for nodes to become Ready." }),
        stages: setting(
            list(
                z.enum(STAGES, { error: `stage names (${STAGES.join(", ")})` }),
                `list of ${STAGES.join(" / ")}`,
                `stage names (${STAGES.join(", ")})`,
                [
                    (v) => !v.includes("workload") || v.includes("addons"),
                    "addons listed too: the workload needs KubeVirt and ingress-nginx",
                ],
                [(v) => !v.includes("app") || v.includes("workload"), "workload listed too: the app is installed in the workload's VMs"],
            ),
            { default: [...STAGES], description: "Stages after the cluster; `[]` is the cluster alone." },
        ),
    }),
    ...group("add-ons", {
        kubevirtVersion: setting(matching(/^v\d+\.\d+\.\d+$/, "a release tag like v0.4.1"), {
            default: "v0.4.1",
            description: "KubeVirt release.",
        }),
        kubevirtManifestUrl: setting(text(isManifestUrl, "an http(s) or file:// URL of kubevirt.yaml"), {
            unset: `\`${kubevirtManifestUrl("<kubevirtVersion>")}\``,
            description: "KubeVirt manifest.",
        }),
        skydiveManifestUrl: setting(text(isManifestUrl, "an http(s) or file:// URL of skydive.yaml"), {
            default: "https://raw.githubusercontent.com/skydive-project/skydive/master/contrib/kubernetes/skydive.yaml",
            description: "Skydive manifest.",
        }),
        ingressNginxVersion: setting(matching(/^\d+\.\d+\.\d+$/, "a release like 0.13.0 (no leading v)"), {
            default: "0.13.0",
            description: "ingress-nginx release whose tag the manifests are taken from (a tag, never a branch).",
        }),
        ingressNginxManifestBaseUrl: setting(
            text(isManifestUrl, "an http(s) or file:// URL of the deploy/ folder of an ingress-nginx release tag"),
            {
                unset: `\`${ingressNginxManifestBaseUrl("<ingressNginxVersion>")}\``,
                description: "`deploy/` folder of the ingress-nginx release.",
            },
        ),
        ingressNginxControllerImage: setting(
            matching(/^[a-z0-9.-]+(:\d+)?\/[a-z0-9._/-]+:[A-Za-z0-9._-]+$/, "an image reference with a tag"),
            {
                unset: `\`${ingressNginxControllerImage("<ingressNginxVersion>")}\``,
                description: "ingress-nginx controller image.",
            },
        ),
        ingressHttpNodePort: setting(NODE_PORT, { default: 30000, description: "NodePort of ingress-nginx http (30000–32767, distinct)." }),
        ingressHttpsNodePort: setting(NODE_PORT, {
            default: 30443,
            description: "NodePort of ingress-nginx https (30000–32767, distinct).",
        }),
        ingressMgmtNodePort: setting(NODE_PORT, {
            default: 32000,
            description: "NodePort of ingress-nginx http-mgmt, the vts status (30000–32767, distinct).",
        }),
        addonReadyTimeoutSeconds: setting(integer(10, 7200), {
            default: 900,
            description: "How long to wait for add-on pods and VMs to run.",
        }),
    }),
    ...group("workload", {
        workloadNamespace: setting(
            text((v) => DNS_LABEL.test(v), "a Kubernetes namespace name"),
            {
                default: "nodejs-ex",
                description: "Namespace of the VMs, Services and Ingress.",
            },
        ),
        nodejsVmNode: setting(text(), { default: "kn1", description: "Worker the nodejs VM is pinned to (short or full name)." }),
        mongodbVmNode: setting(text(), { default: "kn2", description: "Worker the mongodb VM is pinned to (short or full name)." }),
        vmsRunning: setting(boolean(), { default: true, description: "Desired state of both VMs (`spec.running`); `false` stops them." }),
        vmImage: setting(
            matching(/^[a-z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)*(:[A-Za-z0-9._-]+)?$/, "a container image reference of a KubeVirt registry disk"),
            { default: "kubevirt/fedora-cloud-registry-disk-demo", description: "KubeVirt registry disk of both VMs." },
        ),
        vmSshPublicKey: setting(matching(SSH_PUBLIC_KEY, 'an OpenSSH public key line such as "ssh-ed25519 AAAA... you@host"'), {
            unset: "`<sshPrivateKeyPath>.pub`",
            description: "Operator's SSH public key, authorised in the VMs by cloud-init.",
        }),
        vmGuestUser: setting(matching(UNIX_USER, "a Unix user name"), {
            default: "fedora",
            description: "User of the Fedora cloud image (Ansible's user in the VMs).",
        }),
        nodejsSshNodePort: setting(NODE_PORT, { default: 30022, description: "NodePort of the nodejs-ssh Service (Ansible's way in)." }),
        mongodbSshNodePort: setting(NODE_PORT, { default: 30122, description: "NodePort of the mongodb-ssh Service." }),
    }),
    ...group("app and DNS", {
        mongodbPassword: setting(matching(URL_PASSWORD, "8 to 128 characters from A-Z a-z 0-9 . _ ~ - (it goes into a mongodb:// URL)"), {
            unset: `the post's published \`${POST_MONGODB_PASSWORD}\`, with a warning`,
            secret: true,
            description: "Password of MongoDB user `nodejs`.",
        }),
        mongodbAdminPassword: setting(
            matching(URL_PASSWORD, "8 to 128 characters from A-Z a-z 0-9 . _ ~ - (it goes into a mongodb:// URL)"),
            {
                unset: "`mongodbPassword`",
                secret: true,
                description: "Password of MongoDB user `admin`.",
            },
        ),
        appSkipTags: setting(
            list(
                z.enum(APP_TAGS, {
                    error: `tags of the Ansible roles (${APP_TAGS.join(", ")}; \`always\`, the checks of the settings, cannot be skipped)`,
                }),
                `list of ${APP_TAGS.join(" / ")}`,
                `tags of the Ansible roles (${APP_TAGS.join(", ")})`,
            ),
            {
                default: [],
                description:
                    "Ansible tags the app stage skips (`run-playbook.sh --skip-tags`); `[]` runs every task, as real VMs need; the simulated lab's VMs skip `[packages, source, users, service]`.",
            },
        ),
        dnsConfigPath: setting(matching(/^\/[A-Za-z0-9._/-]+\.conf$/, "an absolute path ending in .conf"), {
            unset: `\`${dnsConfigPath("<first label of domain>")}\``,
            description: "dnsmasq file written on the DNS host.",
        }),
        dnsIngressNode: setting(text(), {
            unset: "the node where the ingress controller runs, looked up",
            description: "Node the `.ingress.<domain>` wildcard points at.",
        }),
    }),
};

export type SettingKey = keyof typeof SETTINGS;
/** Every setting's checked value, defaults applied; undefined where unset is allowed. */
export type Settings = { [K in SettingKey]: (typeof SETTINGS)[K] extends Setting<infer T> ? T : never };

// ---------- reading ----------

/** One problem line: the key, the value as given, what is expected. */
export function problem(key: string, value: unknown, expected: string): string {
    const shown = JSON.stringify(value) ?? String(value);
    return `${PROJECT}:${key}: got ${shown}, expected ${expected}`;
}

function issueProblems(key: string, issue: z.core.$ZodIssue, secret: boolean): string[] {
    const at = key + issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("");
    const shown = (v: unknown) => (secret ? "[secret]" : v);
    if (issue.code === "unrecognized_keys") {
        const input = issue.input as Record<string, unknown>;
        return issue.keys.map((k) => problem(`${at}.${k}`, shown(input[k]), issue.message));
    }
    return [problem(at, shown(issue.input), issue.message)];
}

export interface Reading {
    /** The settings that passed their schema, defaults applied; a failed one is absent. */
    values: Partial<Settings>;
    failed: Set<SettingKey>;
    problems: string[];
}

/** Runs every setting's schema on its raw value; every problem is collected. */
export function readSettings(get: (key: string) => string | undefined): Reading {
    const reading: Reading = { values: {}, failed: new Set(), problems: [] };
    for (const [key, s] of Object.entries(SETTINGS) as Array<[SettingKey, Setting<unknown>]>) {
        const r = s.schema.safeParse(get(key), { reportInput: true });
        if (r.success) (reading.values as Record<string, unknown>)[key] = r.data;
        else {
            reading.failed.add(key);
            reading.problems.push(...r.error.issues.flatMap((i) => issueProblems(key, i, s.secret)));
        }
    }
    return reading;
}

// ---------- checks across settings ----------

/** Settings whose final value comes from more than one: the resolved node names and the key material. */
export interface Resolved {
    privateKey: string;
    /** The key file, `~` expanded, when the key was given as sshPrivateKeyPath. */
    privateKeyPath?: string;
    vmSshPublicKey?: string;
    nodejsVmNode: string;
    mongodbVmNode: string;
    dnsIngressNode?: string;
}

type Report = (key: string, value: unknown, expected: string) => void;

/** A node by full or short name. */
export function findNode(nodes: HostSpec[], name: string): HostSpec | undefined {
    return nodes.find((h) => h.name === name) ?? nodes.find((h) => h.name.split(".")[0] === name);
}

function namedHosts(v: Partial<Settings>): Array<[string, HostSpec]> {
    const named: Array<[string, HostSpec]> = [];
    if (v.master) named.push(["master", v.master]);
    v.workers?.forEach((w, i) => named.push([`workers[${i}]`, w]));
    if (v.dnsHost) named.push(["dnsHost", v.dnsHost]);
    return named;
}

/** The DNS host may share nothing with the nodes, but a node may double as DNS host only by address. */
function checkHosts(v: Partial<Settings>, report: Report): void {
    const seen = { name: new Map<string, string>(), address: new Map<string, string>() };
    for (const [key, h] of namedHosts(v)) {
        if (key === "dnsHost") continue;
        for (const field of ["name", "address"] as const) {
            const other = seen[field].get(h[field]);
            if (other) report(`${key}.${field}`, h[field], `${field === "name" ? "a name" : "an address"} not already used by ${other}`);
            else seen[field].set(h[field], key);
        }
    }
}

function checkNetworks(v: Partial<Settings>, report: Report): void {
    const pod = v.podNetworkCidr === undefined ? undefined : parseCidr(v.podNetworkCidr);
    const svc = v.serviceCidr === undefined ? undefined : parseCidr(v.serviceCidr);
    if (pod && svc && cidrsOverlap(pod, svc))
        report("podNetworkCidr", v.podNetworkCidr, `a network that does not overlap serviceCidr ${v.serviceCidr}`);
    for (const [key, h] of namedHosts(v)) {
        const ip = parseIPv4(h.address);
        if (ip === undefined) continue;
        if (pod && cidrContains(pod, ip))
            report("podNetworkCidr", v.podNetworkCidr, `a network that does not contain ${key}.address ${h.address}`);
        if (svc && cidrContains(svc, ip))
            report("serviceCidr", v.serviceCidr, `a network that does not contain ${key}.address ${h.address}`);
    }
}

/** NodePorts must be distinct and inside the default NodePort range of the API server. */
function checkNodePorts(v: Partial<Settings>, on: (s: Stage) => boolean, report: Report): void {
    if (!on("addons")) return;
    const keys: SettingKey[] = ["ingressHttpNodePort", "ingressHttpsNodePort", "ingressMgmtNodePort"];
    if (on("workload")) keys.push("nodejsSshNodePort", "mongodbSshNodePort");
    const used = new Map<number, string>();
    for (const key of keys) {
        const port = v[key] as number | undefined;
        if (port === undefined) continue;
        if (port < 30000 || port > 32767) report(key, port, "a NodePort from 30000 to 32767");
        else if (used.has(port)) report(key, port, `a NodePort not already used by ${used.get(port)}`);
        used.set(port, key);
    }
}

function resolveNodes(v: Partial<Settings>, on: (s: Stage) => boolean, report: Report) {
    const workers = v.workers ?? [];
    const worker = (key: "nodejsVmNode" | "mongodbVmNode"): string => {
        const name = v[key] ?? "";
        const match = findNode(workers, name);
        if (!match && on("workload") && v.workers)
            report(key, name, `one of the workers (${workers.map((w) => w.name).join(", ") || "none configured"})`);
        return match?.name ?? name;
    };
    let dnsIngressNode = v.dnsIngressNode;
    if (v.dnsHost && on("dns")) {
        const nodes = v.master ? [v.master, ...workers] : workers;
        if (dnsIngressNode !== undefined) {
            const match = findNode(nodes, dnsIngressNode);
            if (!match) report("dnsIngressNode", dnsIngressNode, `one of the nodes (${nodes.map((h) => h.name).join(", ")})`);
            dnsIngressNode = match?.name ?? dnsIngressNode;
        } else if (!on("addons")) {
            report(
                "dnsIngressNode",
                undefined,
                "the node that runs the ingress controller (it cannot be looked up when the addons stage is off)",
            );
        }
    }
    return { nodejsVmNode: worker("nodejsVmNode"), mongodbVmNode: worker("mongodbVmNode"), dnsIngressNode };
}

function expandHome(p: string): string {
    return p === "~" || p.startsWith("~/") ? path.join(os.homedir(), p.slice(1)) : p;
}

/** The SSH key, given exactly one way, and the VMs' public key (default: the .pub beside the key file). */
function readKeys(r: Reading, on: (s: Stage) => boolean, report: Report) {
    const { sshPrivateKey: keyText, sshPrivateKeyPath: keyPathRaw } = r.values;
    let privateKey = keyText ?? "";
    let privateKeyPath: string | undefined;
    if (keyText !== undefined && keyPathRaw !== undefined) {
        report("sshPrivateKeyPath", keyPathRaw, "unset when sshPrivateKey is set (give the key one way only)");
    } else if (keyPathRaw !== undefined) {
        privateKeyPath = expandHome(keyPathRaw);
        try {
            privateKey = fs.readFileSync(privateKeyPath, "utf8");
            if (!PRIVATE_KEY.test(privateKey)) report("sshPrivateKeyPath", keyPathRaw, "a file holding a PEM or OpenSSH private key");
        } catch (e) {
            report("sshPrivateKeyPath", keyPathRaw, `a readable private key file (${(e as NodeJS.ErrnoException).code ?? "unreadable"})`);
        }
    } else if (keyText === undefined && !r.failed.has("sshPrivateKey")) {
        report(
            "sshPrivateKey",
            undefined,
            "an SSH private key: `pulumi config set --secret sshPrivateKey < KEYFILE`, or sshPrivateKeyPath",
        );
    }
    let vmSshPublicKey = r.values.vmSshPublicKey;
    if (!r.failed.has("vmSshPublicKey") && vmSshPublicKey === undefined) {
        if (privateKeyPath !== undefined && fs.existsSync(`${privateKeyPath}.pub`)) {
            vmSshPublicKey = fs.readFileSync(`${privateKeyPath}.pub`, "utf8").trim();
            if (!SSH_PUBLIC_KEY.test(vmSshPublicKey))
                report("vmSshPublicKey", vmSshPublicKey, 'an OpenSSH public key line such as "ssh-ed25519 AAAA... you@host"');
        } else if (on("workload")) {
            report(
                "vmSshPublicKey",
                undefined,
                "the operator's SSH public key for the VMs' cloud-init (or sshPrivateKeyPath with a .pub beside it)",
            );
        }
    }
    return { privateKey, privateKeyPath, vmSshPublicKey };
}

/** The checks across settings, on those that passed; problems are added to the reading's. */
export function crossCheck(r: Reading): Resolved {
    const report: Report = (key, value, expected) => r.problems.push(problem(key, value, expected));
    const on = (s: Stage) => r.values.stages?.includes(s) ?? false;
    checkHosts(r.values, report);
    checkNetworks(r.values, report);
    checkNodePorts(r.values, on, report);
    return { ...readKeys(r, on, report), ...resolveNodes(r.values, on, report) };
}
