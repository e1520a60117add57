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
// Every domain is exact: a string is clean text first (no control character, no
// surrounding space: components/values.ts), then what its setting takes. A URL
// declares its schemes (https, file://; plain http only from an origin listed in
// plainHttpOrigins), a path its directory, a list whose items end up on a host's
// command line the script they go to (the command must stay under Linux's limit
// for one argument). Checks that involve more than one setting (names against the
// domain, networks against the hosts, ports against each other, http URLs against
// plainHttpOrigins, VMs against the workers, the SSH key given one way) run in
// `crossCheck`, after every setting has been read, on the settings that passed;
// their problems are reported together with the others. Keys the lab does not
// know and secrets set in plain text are refused too (`readSettings`).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { z } from "zod";
import { renderScript, shQuote } from "./remote";
import * as sysctlStep from "../steps/sysctl/step";
import * as selinuxStep from "../steps/selinux/step";
import {
    CLEAN_TEXT,
    NODE_PORT_RANGE,
    PRIVATE_KEY,
    UNIX_USER,
    UrlScheme,
    cidrContains,
    cidrsOverlap,
    editDistance,
    isCleanText,
    isDnsName,
    isHttpOrigin,
    isImageReference,
    isWorkloadNamespace,
    parseCidr,
    parseGoDuration,
    parseIPv4,
    parsePublicKey,
    specialAddress,
    specialOverlap,
    sshPortProblem,
    urlProblem,
} from "./values";

export { isDnsName, parseIPv4, parseCidr, cidrContains, cidrsOverlap, parseGoDuration, parsePublicKey } from "./values";
export type { Cidr } from "./values";

export const PROJECT = "kubevirt-lab";
export const STAGES = ["addons", "workload", "app", "dns"] as const;
export type Stage = (typeof STAGES)[number];
export const SELINUX_MODES = ["disabled", "permissive", "enforcing"] as const;
export type SelinuxMode = (typeof SELINUX_MODES)[number];
/** The tags of the Ansible roles (ansible/README.md) that `appSkipTags` may skip; `always` is not one. */
export const APP_TAGS = ["packages", "source", "config", "service", "users", "skydive_service"] as const;
/** The post's published MongoDB password, used (with a warning) when no secret is set. */
export const POST_MONGODB_PASSWORD = "nodejspassword";
/** The commit of sclorg/nodejs-ex the post installed (March 2018); the repository's HEAD is another app now. */
export const POST_NODEJS_EX_COMMIT = "93fc25fd35068aa311f4722e4d7e5187b06edd7b";
/** Linux's limit for one argument (MAX_ARG_STRLEN, with its NUL): a host step's command line is one. */
export const MAX_ARG_BYTES = 128 * 1024;
/** What the rest of a step's command line may take besides its script and its longest list. */
const COMMAND_MARGIN = 4096;

const URL_PASSWORD = /^[A-Za-z0-9._~-]{8,128}$/;

/** A branch, tag or commit name that git takes and Ansible leaves as it is (no spaces, braces, `..`, `//`). */
export function isGitRef(v: string): boolean {
    return (
        /^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$/.test(v) && !v.includes("..") && !v.includes("//") && !/[./]$/.test(v) && !v.endsWith(".lock")
    );
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
    return `${DNSMASQ_DIR}/${domain.split(".")[0]}.conf`;
}

/** Where the DNS host's dnsmasq reads its extra files (conf-dir): the lab's file goes there and nowhere else. */
export const DNSMASQ_DIR = "/etc/dnsmasq.d";

/** Where the etcd snapshot taken before the master's reset is kept when etcdSnapshotDir is unset. */
export const DEFAULT_SNAPSHOT_DIR = "~/.local/share/kubevirt-lab/etcd-snapshots";

// ---------- codecs: the engine's string to a checked value ----------

/** The types Pulumi.yaml can declare; a setting without one (a host) is a JSON object. */
export type PulumiType = "string" | "integer" | "boolean" | "array";

/**
 * A schema of values of type T, whatever its input: any, not unknown, because a schema is both
 * piped into (its input must accept the previous output) and passed where any input is accepted.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Schema<T> = z.ZodType<T, any>;

/** The URLs of a value, each with where it is in the value ("" or "[i]"): checked against plainHttpOrigins. */
interface UrlsOf<T> {
    // a method, so that a Setting<string> is a Setting<unknown> (its parameter is bivariant)
    urls(v: T): Array<[string, string]>;
}

/** Where a list's items go: the option of a host script they are passed to, once per item (`--<option> <item>`). */
export interface SentTo<T> {
    script: string;
    option: string;
    /** The words the value becomes (a method: see UrlsOf). */
    items(v: T): string[];
}

export interface Codec<T> {
    schema: Schema<T>;
    pulumiType?: PulumiType;
    /** The type as the README shows it. */
    typeName: string;
    urls?: UrlsOf<T>["urls"];
    sentTo?: SentTo<T>[];
}

/** A schema whose judge says what is wrong with a value (undefined: nothing). */
function judged<T>(schema: Schema<T>, judge: (v: T) => string | undefined): Schema<T> {
    return schema.superRefine((v, ctx) => {
        const wrong = judge(v);
        if (wrong !== undefined) ctx.addIssue({ code: "custom", message: wrong, input: v });
    });
}

/** A string of clean text (else only that is said), then `check`. */
function cleanString(expected: string, check?: (v: string) => boolean): Schema<string> {
    const clean = z.string({ error: expected }).refine(isCleanText, { error: CLEAN_TEXT, abort: true });
    return check ? clean.refine(check, expected) : clean;
}

const text = (check?: (v: string) => boolean, expected = "a valid value"): Codec<string> => ({
    schema: cleanString(expected, check),
    pulumiType: "string",
    typeName: "string",
});

/** A codec with one more check. */
const also = <T>(codec: Codec<T>, check: (v: T) => boolean, expected: string): Codec<T> => ({
    ...codec,
    schema: codec.schema.refine(check, expected),
});

const matching = (re: RegExp, expected: string): Codec<string> => text((v) => re.test(v), expected);

const integer = (min: number, max: number, expected = `a whole number from ${min} to ${max}`): Codec<number> => ({
    schema: z
        .string({ error: expected })
        .refine((s) => /^-?\d+$/.test(s) && Number(s) >= min && Number(s) <= max, expected)
        .transform(Number),
    pulumiType: "integer",
    typeName: `integer ${min}–${max}`,
});

const boolean = (): Codec<boolean> => ({
    schema: z
        .string({ error: "true or false" })
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

/** A URL of one of `schemes` (plain http: see plainHttpOrigins), written as it is read, without credentials. */
function urlItem(schemes: readonly UrlScheme[], what: string): Schema<string> {
    const expected = `${schemeWords(schemes)} URL of ${what}`;
    return judged(cleanString(expected), (v) => urlProblem(v, schemes, expected));
}

const url = (schemes: readonly UrlScheme[], what: string, check?: [(v: string) => boolean, string]): Codec<string> => ({
    schema: check ? urlItem(schemes, what).refine(check[0], check[1]) : urlItem(schemes, what),
    pulumiType: "string",
    typeName: `${schemeWords(schemes, "")} URL`,
    urls: (v) => [["", v]],
});

function schemeWords(schemes: readonly UrlScheme[], article = "an "): string {
    return `${article}${schemes.map((s) => (s === "file" ? "file://" : s)).join(" or ")}`;
}

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

const unique = <T>(v: T[]): boolean => new Set(v).size === v.length;

/** A list of strings; `expected` says what each item is, `checks` what the whole list must be (each item once, always). */
function list<T extends string>(
    item: Schema<T>,
    typeName: string,
    expected: string,
    ...checks: Array<[(v: T[]) => boolean, string]>
): Codec<T[]> {
    const isStrings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === "string");
    let items: Schema<T[]> = z.array(item);
    for (const [check, message] of [...checks, [unique, "each item once"] as [(v: T[]) => boolean, string]])
        items = items.refine(check, message);
    return {
        schema: json(`a list of ${expected}`, z.custom<string[]>(isStrings, `a list of ${expected}`).pipe(items)),
        pulumiType: "array",
        typeName,
    };
}

const stringList = (check: (v: string) => boolean, expected: string, ...checks: Array<[(v: string[]) => boolean, string]>) =>
    list(cleanString(expected, check), "list of strings", expected, ...checks);

/** A list whose items go to a host script's option, once each. */
const sent = <T>(codec: Codec<T>, ...to: SentTo<T>[]): Codec<T> => ({ ...codec, sentTo: to });
const eachItem = (script: string, option: string): SentTo<string[]> => ({ script, option, items: (v) => v });

const HOST_NAME = "a lower-case DNS name such as km1.virtomation.com";
const HOST_ADDRESS = "a unicast IPv4 address such as 172.31.50.221";
const HOST_KEY = 'the host\'s SSH public key as ssh-keyscan prints it, such as "ssh-ed25519 AAAA..."';
const HOST_SHAPE = 'an object {"name": "<node FQDN>", "address": "<IPv4>"} (and "hostKey": "<its SSH host key>", optional)';

/** One lab machine: its Kubernetes node name (the post's FQDN), the address SSH and kubeadm use, its SSH host key if pinned. */
const HOST = z.strictObject(
    {
        name: cleanString(HOST_NAME, isDnsName),
        address: judged(cleanString(HOST_ADDRESS), (v) => {
            const ip = parseIPv4(v);
            if (ip === undefined) return HOST_ADDRESS;
            const special = specialAddress(ip);
            return special ? `a unicast IPv4 address a host can have, not ${special}` : undefined;
        }),
        hostKey: cleanString(HOST_KEY, (v) => parsePublicKey(v) !== undefined).optional(),
    },
    {
        error: (iss) => (iss.code === "unrecognized_keys" ? "no such field (a host has only name, address and hostKey)" : HOST_SHAPE),
    },
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

/** A Go duration (kubeadm's --ttl) from `min` to `max`, given in Go's own words. */
const duration = (min: string, max: string, expected: string): Codec<string> => {
    const [lo, hi] = [parseGoDuration(min)!, parseGoDuration(max)!];
    return text((v) => {
        const ms = parseGoDuration(v);
        return ms !== undefined && ms >= lo && ms <= hi;
    }, expected);
};

const SSH_PUBLIC_KEY = 'an OpenSSH public key line such as "ssh-ed25519 AAAA... you@host"';

// ---------- the declaration ----------

export interface Setting<T> {
    /** Raw value (undefined, or "" for a non-secret, when unset) to the checked value, default applied. */
    schema: z.ZodType<T>;
    pulumiType?: PulumiType;
    typeName: string;
    /** The post's value, written to Pulumi.yaml as the default. */
    default?: unknown;
    /** What an unset value means (derived from other settings, or not used). */
    unset?: string;
    /** Set when the setting has no default: what the message says is expected. */
    required?: string;
    /** Never shown in a message; must be set as a Pulumi secret; not declared in Pulumi.yaml. */
    secret: boolean;
    description: string;
    /** The heading it is listed under in Pulumi.yaml. */
    group: string;
    urls?: UrlsOf<T>["urls"];
    sentTo?: SentTo<T>[];
}

interface Common {
    description: string;
    secret?: boolean;
}

/** "" is what Pulumi.yaml declares for an unset string; a secret is not declared there, so "" is a value it refuses. */
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
        schema: o.secret ? inner : z.preprocess(blankIsUnset, inner),
        pulumiType: codec.pulumiType,
        typeName: codec.typeName,
        default: o.default,
        unset: o.unset,
        required: o.required,
        secret: o.secret ?? false,
        description: o.description,
        group: "",
        urls: codec.urls as UrlsOf<T | undefined>["urls"] | undefined,
        sentTo: codec.sentTo as SentTo<T | undefined>[] | undefined,
    };
}

function group<S extends Record<string, Setting<unknown>>>(name: string, settings: S): S {
    for (const s of Object.values(settings)) s.group = name;
    return settings;
}

const NODE_PORT = integer(NODE_PORT_RANGE[0], NODE_PORT_RANGE[1], `a NodePort from ${NODE_PORT_RANGE[0]} to ${NODE_PORT_RANGE[1]}`);
const MONGODB_PASSWORD = "8 to 128 characters from A-Z a-z 0-9 . _ ~ - (it goes into a mongodb:// URL)";
const PREFLIGHT_CHECKS = "names of kubeadm preflight checks such as SystemVerification or FileExisting-iptables, or all";
/** The programs packages.sh installs at kubernetesVersion: another entry would install another version. */
const KUBERNETES_PACKAGES = /^(kubelet|kubeadm|kubectl)(-|$)/;
/**
 * The longest name the lab makes under its domain (the Skydive ingress host; dnsmasq's
 * wildcard is `.ingress.<domain>`): with it, every one of them is a DNS name.
 */
const LONGEST_LAB_NAME = "skydive.ingress";

/**
 * Every setting, in its group: the heading it is listed under in Pulumi.yaml, and the part of the
 * lab configuration (components/config.ts) the components read it from.
 */
export const GROUPS = {
    hosts: group("hosts", {
        domain: setting(
            also(
                also(
                    text(isDnsName, "a DNS domain such as virtomation.com"),
                    (v) => !isDnsName(v) || v.includes("."),
                    "a domain of at least two labels such as virtomation.com (the lab's names are made under it)",
                ),
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
            description:
                'The master host: `{"name": "<node FQDN>", "address": "<IPv4>"}`, and `"hostKey": "<its SSH host key>"` to pin it (else the first `up` records it).',
        }),
        workers: setting(
            sent(
                hostList(),
                { script: "wait-nodes.sh", option: "node", items: (v) => v.map((h) => h.name) },
                { script: "dnsmasq-records.sh", option: "record", items: (v) => v.map((h) => `${h.name}=${h.address}`) },
            ),
            {
                default: [],
                description: 'The worker hosts, any number: `[{"name": ..., "address": ..., "hostKey": ...}]` (`hostKey` optional).',
            },
        ),
        dnsHost: setting(optionalHost("a host object"), {
            unset: "no DNS host: the DNS stage is skipped",
            description: 'The dnsmasq host `{"name": ..., "address": ...}` (`hostKey` optional); `{}` leaves it unset.',
        }),
        sshUser: setting(matching(UNIX_USER, "a Unix user name such as root"), {
            default: "root",
            description: "SSH user on every host; `sudo -n` is used when it is not root.",
        }),
        sshPort: setting(
            {
                ...integer(1, 65535),
                schema: judged(integer(1, 65535).schema, sshPortProblem),
            },
            { default: 22, description: "SSH port of every host (not a NodePort nor a port Kubernetes listens on)." },
        ),
        sshPrivateKey: setting(
            // A PEM key is lines: the one setting that holds newlines (it goes to the SSH client, never into a file on a host).
            {
                schema: z.string().refine((v) => PRIVATE_KEY.test(v), "a PEM or OpenSSH private key (-----BEGIN ... PRIVATE KEY-----)"),
                pulumiType: "string",
                typeName: "string",
            },
            {
                unset: "`sshPrivateKeyPath` is read",
                secret: true,
                description: "The SSH private key (`pulumi config set --secret sshPrivateKey < KEYFILE`); or `sshPrivateKeyPath`.",
            },
        ),
        sshPrivateKeyPath: setting(text(undefined, "the path of a private key file on this machine"), {
            unset: "`sshPrivateKey` is used",
            description: "Path of an SSH private key file (read at deploy time and kept as a secret); or `sshPrivateKey`.",
        }),
        sshDialErrorLimit: setting(integer(1, 1000), {
            default: 10,
            description: "SSH dial attempts before a host is declared unreachable.",
        }),
        sshPerDialTimeout: setting(integer(1, 600), { default: 15, description: "Seconds per SSH dial attempt." }),
        plainHttpOrigins: setting(
            stringList(isHttpOrigin, "http origins such as http://172.31.50.5 (scheme and host, a port if any, nothing else)"),
            {
                default: [],
                description:
                    "Origins whose URLs may be plain http (a mirror inside the lab's network); every other URL setting takes https (or file:// where it says so).",
            },
        ),
    }),
    hostPrep: group("host preparation", {
        yumRepoBaseUrl: setting(url(["https", "file"], "a yum repository"), {
            default: "https://packages.cloud.google.com/yum/repos/kubernetes-el7-$basearch",
            description: "`baseurl` of the Kubernetes yum repository (`$basearch` stays literal; `file://` for a repository on the hosts).",
        }),
        yumRepoGpgKeys: setting(
            {
                ...sent(
                    list(urlItem(["https", "file"], "a GPG key"), "list of https or file:// URLs", "https or file:// URLs of GPG keys", [
                        (v) => v.length > 0,
                        "at least one GPG key URL (the repo has gpgcheck=1)",
                    ]),
                    eachItem("repo.sh", "gpgkey"),
                ),
                urls: (v) => v.map((u, i): [string, string] => [`[${i}]`, u]),
            },
            {
                default: [
                    "https://packages.cloud.google.com/yum/doc/yum-key.gpg",
                    "https://packages.cloud.google.com/yum/doc/rpm-package-key.gpg",
                ],
                description: "`gpgkey` URLs of the Kubernetes yum repository.",
            },
        ),
        yumUpdate: setting(boolean(), { default: true, description: "Run `yum update -y` before installing packages, as the post does." }),
        kubernetesVersion: setting(
            matching(/^1\.9\.\d{1,3}$/, "a Kubernetes 1.9 release like 1.9.4 (no leading v; the lab's kubeadm steps are 1.9's)"),
            {
                default: "1.9.4",
                description: "Version of kubelet, kubeadm, kubectl and of the control plane (a 1.9 release).",
            },
        ),
        extraPackages: setting(
            sent(
                stringList(
                    (v) => /^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(v) && !KUBERNETES_PACKAGES.test(v),
                    "yum package names other than kubelet, kubeadm and kubectl (installed at kubernetesVersion)",
                ),
                eachItem("packages.sh", "package"),
            ),
            {
                default: ["docker", "ansible", "git", "curl", "wget"],
                description: "Packages installed beside kubelet, kubeadm and kubectl.",
            },
        ),
        dockerStorageDevice: setting(
            text(
                (v) => v === "none" || /^\/dev\/[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/.test(v),
                "a block device path like /dev/vdb (no . or .. in it), or none to skip dedicated Docker storage",
            ),
            {
                default: "/dev/vdb",
                description: "Block device for docker-storage-setup (overlay2 on an LVM volume); `none` skips dedicated storage.",
            },
        ),
        sysctl: setting(
            sent(
                stringList((v) => /^[A-Za-z0-9_-]+([./][A-Za-z0-9_-]+)+ = \S.*$/.test(v), 'sysctl lines of the form "key = value"', [
                    (v) => unique(v.map((l) => l.split(" = ")[0])),
                    "each sysctl key once",
                ]),
                eachItem("sysctl.sh", "setting"),
            ),
            {
                default: sysctlStep.DEFAULT_LINES,
                description: `Lines of \`${sysctlStep.FILE}\`.`,
            },
        ),
        selinux: setting(oneOf(SELINUX_MODES, "disabled, permissive or enforcing"), {
            default: "disabled",
            description: `SELinux mode of the \`SELINUX=\` line of \`${selinuxStep.FILE}\`; the post disables it, \`enforcing\` leaves SELinux alone.`,
        }),
    }),
    cluster: group("cluster", {
        podNetworkCidr: setting(
            {
                ...text(),
                schema: judged(cleanString("an IPv4 network like 10.244.0.0/16"), (v) => {
                    const c = parseCidr(v);
                    if (!c) return "an IPv4 network like 10.244.0.0/16";
                    if (c.bits > 24) return "a network of /24 or larger (Flannel gives each node a /24)";
                    const special = specialOverlap(c);
                    return special ? `a network that does not overlap ${special}` : undefined;
                }),
            },
            {
                default: "10.244.0.0/16",
                description:
                    "`kubeadm init --pod-network-cidr`, Flannel's network (a /24 per node); it must not overlap `serviceCidr` nor hold a host's address.",
            },
        ),
        serviceCidr: setting(
            {
                ...text(),
                schema: judged(cleanString("an IPv4 network like 10.96.0.0/12"), (v) => {
                    const c = parseCidr(v);
                    if (!c) return "an IPv4 network like 10.96.0.0/12";
                    if (c.bits < 12 || c.bits > 28)
                        return "a network from /12 (the largest the API server takes) to /28 (kube-dns is its 10th address)";
                    const special = specialOverlap(c);
                    return special ? `a network that does not overlap ${special}` : undefined;
                }),
            },
            {
                default: "10.96.0.0/12",
                description: "`kubeadm init --service-cidr` (/12 to /28); it must not hold a host's address.",
            },
        ),
        flannelManifestUrl: setting(url(["https"], "the Flannel manifest (kubectl on the master fetches it)"), {
            default: "https://raw.githubusercontent.com/coreos/flannel/v0.9.1/Documentation/kube-flannel.yml",
            description: "Flannel manifest applied with kubectl on the master.",
        }),
        joinTokenTtl: setting(duration("1m", "24h", "a Go duration from 1m to 24h such as 15m, 1h or 1.5h"), {
            default: "15m",
            description: "Lifetime of the join token minted for each worker when it joins (a Go duration, 1m to 24h).",
        }),
        kubeadmIgnorePreflightErrors: setting(
            sent(
                stringList((v) => /^[A-Za-z][A-Za-z0-9-]*$/.test(v), PREFLIGHT_CHECKS),
                eachItem("kubeadm-init.sh", "ignore-preflight-errors"),
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
        protect: setting(boolean(), {
            default: false,
            description:
                "Protect the cluster's `kubeadm init` from `pulumi destroy` (Pulumi's protect): a destroy then stops before it resets anything; set `false` and `pulumi up` to lift it.",
        }),
        etcdSnapshotDir: setting(
            text((v) => v.startsWith("/") || v.startsWith("~/"), "an absolute path (or ~/...) of a directory on this machine"),
            {
                unset: `\`${DEFAULT_SNAPSHOT_DIR}\``,
                description:
                    "Where `pulumi destroy` keeps the etcd snapshot it takes on the master before `kubeadm reset` (0600, one file per destroy).",
            },
        ),
    }),
    addons: group("add-ons", {
        kubevirtVersion: setting(matching(/^v\d+\.\d+\.\d+$/, "a release tag like v0.4.1"), {
            default: "v0.4.1",
            description: "KubeVirt release.",
        }),
        kubevirtManifestUrl: setting(url(["https", "file"], "kubevirt.yaml"), {
            unset: `\`${kubevirtManifestUrl("<kubevirtVersion>")}\``,
            description: "KubeVirt manifest.",
        }),
        skydiveManifestUrl: setting(url(["https", "file"], "skydive.yaml"), {
            default: "https://raw.githubusercontent.com/skydive-project/skydive/master/contrib/kubernetes/skydive.yaml",
            description: "Skydive manifest.",
        }),
        ingressNginxVersion: setting(matching(/^\d+\.\d+\.\d+$/, "a release like 0.13.0 (no leading v)"), {
            default: "0.13.0",
            description: "ingress-nginx release whose tag the manifests are taken from (a tag, never a branch).",
        }),
        ingressNginxManifestBaseUrl: setting(
            url(["https", "file"], "the deploy/ folder of an ingress-nginx release tag", [
                (v) => !v.endsWith("/"),
                "the folder's URL without a trailing / (its files' names are appended)",
            ]),
            {
                unset: `\`${ingressNginxManifestBaseUrl("<ingressNginxVersion>")}\``,
                description: "`deploy/` folder of the ingress-nginx release.",
            },
        ),
        ingressNginxControllerImage: setting(
            text((v) => isImageReference(v, true), "an image reference with a tag or a digest (name:tag, name@sha256:<64 hex digits>)"),
            {
                unset: `\`${ingressNginxControllerImage("<ingressNginxVersion>")}\``,
                description: "ingress-nginx controller image (a tag, or a `@sha256:` digest to pin it).",
            },
        ),
        ingressHttpNodePort: setting(NODE_PORT, { default: 30000, description: "NodePort of ingress-nginx http (distinct)." }),
        ingressHttpsNodePort: setting(NODE_PORT, {
            default: 30443,
            description: "NodePort of ingress-nginx https (distinct).",
        }),
        ingressMgmtNodePort: setting(NODE_PORT, {
            default: 32000,
            description: "NodePort of ingress-nginx http-mgmt, the vts status (distinct).",
        }),
        addonReadyTimeoutSeconds: setting(integer(10, 7200), {
            default: 900,
            description: "How long to wait for add-on pods and VMs to run.",
        }),
    }),
    workload: group("workload", {
        workloadNamespace: setting(
            text(
                isWorkloadNamespace,
                "a Kubernetes namespace name that is not Kubernetes' own (default, kube-*) nor an add-on's (skydive, ingress-nginx)",
            ),
            {
                default: "nodejs-ex",
                description: "Namespace of the VMs, Services and Ingress.",
            },
        ),
        nodejsVmNode: setting(text(isDnsName, "a worker's short or full name"), {
            default: "kn1",
            description: "Worker the nodejs VM is pinned to (short or full name).",
        }),
        mongodbVmNode: setting(text(isDnsName, "a worker's short or full name"), {
            default: "kn2",
            description: "Worker the mongodb VM is pinned to (short or full name).",
        }),
        vmsRunning: setting(boolean(), { default: true, description: "Desired state of both VMs (`spec.running`); `false` stops them." }),
        vmImage: setting(
            text((v) => isImageReference(v), "a container image reference of a KubeVirt registry disk (name[:tag][@sha256:<digest>])"),
            { default: "kubevirt/fedora-cloud-registry-disk-demo", description: "KubeVirt registry disk of both VMs." },
        ),
        vmSshPublicKey: setting(
            text((v) => parsePublicKey(v) !== undefined, SSH_PUBLIC_KEY),
            {
                unset: "`<sshPrivateKeyPath>.pub`",
                description: "Operator's SSH public key, authorised in the VMs by cloud-init.",
            },
        ),
        vmGuestUser: setting(matching(UNIX_USER, "a Unix user name"), {
            default: "fedora",
            description: "User of the Fedora cloud image (Ansible's user in the VMs).",
        }),
        nodejsSshNodePort: setting(NODE_PORT, { default: 30022, description: "NodePort of the nodejs-ssh Service (Ansible's way in)." }),
        mongodbSshNodePort: setting(NODE_PORT, { default: 30122, description: "NodePort of the mongodb-ssh Service." }),
    }),
    appAndDns: group("app and DNS", {
        mongodbPassword: setting(matching(URL_PASSWORD, MONGODB_PASSWORD), {
            unset: `the post's published \`${POST_MONGODB_PASSWORD}\`, with a warning`,
            secret: true,
            description: "Password of MongoDB user `nodejs`.",
        }),
        mongodbAdminPassword: setting(matching(URL_PASSWORD, MONGODB_PASSWORD), {
            unset: "`mongodbPassword`",
            secret: true,
            description: "Password of MongoDB user `admin`.",
        }),
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
                    "Ansible tags the app stage skips (`run-playbook.sh --skip-tags`); `[]` runs every task, as real VMs need; the simulated lab skips `[packages, skydive_service]` (no Fedora packages, no Skydive binary).",
            },
        ),
        nodejsRepoUrl: setting(url(["https"], "the app's git repository (cloned in the nodejs VM)"), {
            default: "https://github.com/sclorg/nodejs-ex",
            description: "Git repository of the app, nodejs-ex, that the nodejs VM clones (the role's `nodejs_repo_url`).",
        }),
        nodejsRepoVersion: setting(
            text(isGitRef, "a git branch, tag or commit (letters, digits, . _ / -; no .., //, or trailing . or /)"),
            {
                default: POST_NODEJS_EX_COMMIT,
                description:
                    "Branch, tag or commit of it checked out (`nodejs_repo_version`); the post's commit, as the repository's HEAD (the post's master) is another app now.",
            },
        ),
        npmRegistryUrl: setting(url(["https"], "an npm registry"), {
            default: "https://registry.npmjs.org/",
            description: "npm registry the nodejs VM installs the app's dependencies from (the role's `nodejs_npm_registry`).",
        }),
        dnsConfigPath: setting(
            matching(
                /^\/etc\/dnsmasq\.d\/[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.conf$/,
                `a file directly in ${DNSMASQ_DIR}/ named <name>.conf (letters, digits, _, - and single dots; dnsmasq reads that folder)`,
            ),
            {
                unset: `\`${dnsConfigPath("<first label of domain>")}\``,
                description: `dnsmasq file written on the DNS host, in \`${DNSMASQ_DIR}/\`.`,
            },
        ),
        dnsIngressNode: setting(text(isDnsName, "a node's short or full name"), {
            unset: "the node where the ingress controller runs, looked up",
            description: "Node the `.ingress.<domain>` wildcard points at.",
        }),
    }),
};

export type GroupName = keyof typeof GROUPS;

/** Every setting by its key. */
export const SETTINGS = {
    ...GROUPS.hosts,
    ...GROUPS.hostPrep,
    ...GROUPS.cluster,
    ...GROUPS.addons,
    ...GROUPS.workload,
    ...GROUPS.appAndDns,
};

export type SettingKey = keyof typeof SETTINGS;
/** Every setting's checked value, defaults applied; undefined where unset is allowed. */
export type Settings = { [K in SettingKey]: z.output<(typeof SETTINGS)[K]["schema"]> };

/** The checked values of one group's settings. */
export type GroupSettings<G extends GroupName> = Pick<Settings, keyof (typeof GROUPS)[G] & SettingKey>;

/** One group's values, picked by the keys the group declares. */
export function groupSettings<G extends GroupName>(s: Settings, g: G): GroupSettings<G> {
    return Object.fromEntries(Object.keys(GROUPS[g]).map((k) => [k, s[k as SettingKey]])) as GroupSettings<G>;
}

/** Settings of earlier releases, with what to do instead. */
export const RETIRED: Readonly<Record<string, string>> = {
    sshHostKey:
        'no such setting any more: a host\'s key goes in its host object as "hostKey" ({"name": ..., "address": ..., "hostKey": "ssh-ed25519 AAAA..."}); without one, the first pulumi up records each host\'s key',
};

// ---------- reading ----------

/** How long a value may be in a message before it is cut (a list of thousands of items). */
const SHOWN_MAX = 512;

/** One problem line: the key, the value as given (long ones cut), what is expected. */
export function problem(key: string, value: unknown, expected: string): string {
    let shown = JSON.stringify(value) ?? String(value);
    if (shown.length > SHOWN_MAX) {
        const size = Array.isArray(value) ? `${value.length} items` : `${shown.length} characters`;
        shown = `${shown.slice(0, SHOWN_MAX - 112)}... (${size})`;
    }
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

/** Where raw values come from: the stack's config (keys without the project prefix). */
export interface RawConfig {
    get(key: string): string | undefined;
    /** Every key of the project the stack sets (or Pulumi.yaml declares), without the prefix. */
    keys(): string[];
    /** Whether the stack holds the key's value as a secret (`pulumi config set --secret`). */
    isSecret(key: string): boolean;
}

/** The known key nearest to a misspelled one. */
export function closestSetting(key: string): string {
    const keys = Object.keys(SETTINGS);
    return keys.reduce((best, k) => (editDistance(key, k) < editDistance(key, best) ? k : best), keys[0]);
}

/** Runs every setting's schema on its raw value; every problem is collected, unknown keys and plain-text secrets too. */
export function readSettings(raw: RawConfig): Reading {
    const reading: Reading = { values: {}, failed: new Set(), problems: [] };
    for (const key of raw.keys()) {
        if (key in SETTINGS) continue;
        const value = raw.isSecret(key) ? "[secret]" : raw.get(key);
        const retired = Object.keys(RETIRED).find((k) => k.toLowerCase() === key.toLowerCase());
        const expected = retired
            ? `${key === retired ? "" : `${retired} (its spelling): `}${RETIRED[retired]}`
            : `one of the lab's settings: there is no ${PROJECT}:${key} (the closest is ${closestSetting(key)})`;
        reading.problems.push(problem(key, value, expected));
    }
    for (const [key, s] of Object.entries(SETTINGS) as Array<[SettingKey, Setting<unknown>]>) {
        const value = raw.get(key);
        if (s.secret && value !== undefined && (value === "" || !raw.isSecret(key))) {
            reading.failed.add(key);
            reading.problems.push(
                value === ""
                    ? problem(key, "", `a secret that is not empty (\`pulumi config rm ${key}\` leaves it unset)`)
                    : problem(
                          key,
                          "[secret]",
                          `a secret: it is in plain text in the stack file; set it with \`pulumi config set --secret ${key}\``,
                      ),
            );
            continue;
        }
        const r = s.schema.safeParse(value, { reportInput: true });
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

/** Short resource names: km1.virtomation.com → km1. */
export function shortName(fqdn: string): string {
    return fqdn.split(".")[0];
}

/** A node by full or short name. */
export function findNode(nodes: HostSpec[], name: string): HostSpec | undefined {
    return nodes.find((h) => h.name === name) ?? nodes.find((h) => shortName(h.name) === name);
}

function namedHosts(v: Partial<Settings>): Array<[string, HostSpec]> {
    const named: Array<[string, HostSpec]> = [];
    if (v.master) named.push(["master", v.master]);
    v.workers?.forEach((w, i) => named.push([`workers[${i}]`, w]));
    if (v.dnsHost) named.push(["dnsHost", v.dnsHost]);
    return named;
}

/**
 * Node names are unique in full and in short form (the short one names their resources) and live
 * under the domain, outside the names the lab makes there (`*.ingress.<domain>`); node addresses are
 * unique. The DNS host may be a node (the same name and address), or else shares neither with one.
 */
function checkHosts(v: Partial<Settings>, report: Report): void {
    const seen = { name: new Map<string, string>(), short: new Map<string, string>(), address: new Map<string, string>() };
    const nodes = namedHosts(v).filter(([k]) => k !== "dnsHost");
    for (const [key, h] of namedHosts(v)) {
        if (v.domain !== undefined && !h.name.endsWith(`.${v.domain}`))
            report(`${key}.name`, h.name, `a name under the lab's domain ${v.domain} (such as ${shortName(h.name)}.${v.domain})`);
        else if (v.domain !== undefined && h.name.endsWith(`.ingress.${v.domain}`))
            report(`${key}.name`, h.name, `a name outside ingress.${v.domain}, whose names dnsmasq sends to the ingress controller`);
        if (key === "dnsHost") {
            const same = nodes.find(([, n]) => n.name === h.name && n.address === h.address);
            const clash = nodes.find(([, n]) => shortName(n.name) === shortName(h.name) || n.address === h.address);
            if (!same && clash)
                report(
                    `${key}`,
                    h,
                    `a host that is one of the nodes (the same name and address) or shares neither short name nor address with ${clash[0]}`,
                );
            continue;
        }
        const fields: Array<[keyof typeof seen, string, string]> = [
            ["name", h.name, "a name"],
            ["short", shortName(h.name), "a short name"],
            ["address", h.address, "an address"],
        ];
        for (const [field, value, what] of fields) {
            const other = seen[field].get(value);
            if (other) {
                report(
                    `${key}.${field === "address" ? "address" : "name"}`,
                    field === "address" ? h.address : h.name,
                    `${what} not already used by ${other}`,
                );
                if (field === "name") break; // the short name is then the same too
            } else seen[field].set(value, key);
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
    const nodes = (v.master ? 1 : 0) + (v.workers?.length ?? 0);
    if (pod && nodes > 2 ** (24 - pod.bits))
        report(
            "podNetworkCidr",
            v.podNetworkCidr,
            `a network with a /24 for each of the ${nodes} nodes (it holds ${2 ** (24 - pod.bits)})`,
        );
}

/** NodePorts are distinct (each is inside the NodePort range by its schema). */
function checkNodePorts(v: Partial<Settings>, report: Report): void {
    const keys: SettingKey[] = [
        "ingressHttpNodePort",
        "ingressHttpsNodePort",
        "ingressMgmtNodePort",
        "nodejsSshNodePort",
        "mongodbSshNodePort",
    ];
    const used = new Map<number, string>();
    for (const key of keys) {
        const port = v[key] as number | undefined;
        if (port === undefined) continue;
        if (used.has(port)) report(key, port, `a NodePort not already used by ${used.get(port)}`);
        else used.set(port, key);
    }
}

/** Plain http only from an origin the stack lists in plainHttpOrigins. */
function checkHttp(v: Partial<Settings>, report: Report): void {
    const allowed = new Set(v.plainHttpOrigins ?? []);
    for (const [key, s] of Object.entries(SETTINGS) as Array<[SettingKey, Setting<unknown>]>) {
        const value = v[key];
        if (!s.urls || value === undefined) continue;
        for (const [at, u] of s.urls(value)) {
            const parsed = new URL(u);
            if (parsed.protocol === "http:" && !allowed.has(parsed.origin))
                report(
                    `${key}${at}`,
                    u,
                    `an https URL (plain http only from an origin listed in plainHttpOrigins, such as a mirror inside the lab's network: ${parsed.origin} is not)`,
                );
        }
    }
}

/** A host step's command line is one argument of the SSH user's shell: it must stay under Linux's limit. */
function checkCommandSizes(v: Partial<Settings>, report: Report): void {
    for (const [key, s] of Object.entries(SETTINGS) as Array<[SettingKey, Setting<unknown>]>) {
        const value = v[key];
        if (!s.sentTo || value === undefined) continue;
        for (const to of s.sentTo) {
            let size = renderScript(to.script).length + COMMAND_MARGIN;
            for (const item of to.items(value)) size += to.option.length + 4 + shQuote(item).length;
            if (size >= MAX_ARG_BYTES)
                report(
                    key,
                    value,
                    `a list whose command line (${to.script} with a --${to.option} per item) stays under Linux's ${MAX_ARG_BYTES}-byte limit for one argument (it would take about ${size})`,
                );
        }
    }
}

function resolveNodes(v: Partial<Settings>, on: (s: Stage) => boolean, report: Report) {
    const workers = v.workers ?? [];
    const worker = (key: "nodejsVmNode" | "mongodbVmNode"): string => {
        const name = v[key] ?? "";
        const match = findNode(workers, name);
        if (!match && on("workload") && v.workers && v[key] !== undefined)
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

/** `~` and `~/...` as the operator's home. */
export function expandHome(p: string): string {
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
    } else if (keyText === undefined && !r.failed.has("sshPrivateKey") && !r.failed.has("sshPrivateKeyPath")) {
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
            if (parsePublicKey(vmSshPublicKey) === undefined) report("vmSshPublicKey", vmSshPublicKey, SSH_PUBLIC_KEY);
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
    checkNodePorts(r.values, report);
    checkHttp(r.values, report);
    checkCommandSizes(r.values, report);
    return { ...readKeys(r, on, report), ...resolveNodes(r.values, on, report) };
}
