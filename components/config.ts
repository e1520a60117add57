// The lab's configuration: read once and validated before any resource is
// registered. Each setting is declared once, in ./settings (its type, checks,
// default, description and group); this module reads them from the stack, runs
// those declarations and hands the components LabConfig: one part per group of
// ./settings, with what is derived from other settings filled in.
// `parseConfig` is a pure function of the raw key/value map so that tests can
// feed it any stack file; `loadConfig` reads the running stack's config.
import * as pulumi from "@pulumi/pulumi";
import {
    DEFAULT_SNAPSHOT_DIR,
    GroupSettings,
    HostSpec,
    POST_MONGODB_PASSWORD,
    PROJECT,
    RawConfig,
    Resolved,
    STAGES,
    SettingKey,
    Settings,
    Stage,
    crossCheck,
    groupSettings,
    expandHome,
    readSettings,
} from "./settings";
import { dnsConfigPath, ingressNginxControllerImage, ingressNginxManifestBaseUrl, kubevirtManifestUrl } from "./settings";

export {
    PROJECT,
    STAGES,
    POST_MONGODB_PASSWORD,
    kubevirtManifestUrl,
    ingressNginxManifestBaseUrl,
    ingressNginxControllerImage,
} from "./settings";
export { isDnsName, parseIPv4, parseCidr, cidrContains, cidrsOverlap, parseGoDuration, parsePublicKey, shortName } from "./settings";
export type { Cidr, HostSpec, SelinuxMode, Stage } from "./settings";

export interface SshSettings {
    user: string;
    port: number;
    /** The private key's text, always a Pulumi secret. */
    privateKey: pulumi.Output<string>;
    /** The key file when given as sshPrivateKeyPath (Ansible uses it to reach the VMs). */
    privateKeyPath?: string;
    /**
     * The host key each host's steps expect, by address (`<type> <base64>`): the host object's
     * hostKey, else the one the first `up` recorded (components/hostKeys.ts). Filled in by
     * index.ts before any step is registered; a host missing here is a bug, not "any key".
     */
    hostKeys?: ReadonlyMap<string, pulumi.Input<string>>;
    dialErrorLimit: number;
    perDialTimeout: number;
}

/** Settings filled in (from other settings) when unset. */
type Filled<K extends SettingKey> = { [P in K]-?: Exclude<Settings[P], undefined> };

// The components read the settings by the groups they are declared in (./settings GROUPS): each
// group's keys come from there; only what is derived from other settings is said here.

/** The host preparation group; dockerStorageDevice is "" when the setting is `none`. */
export type HostPrepSettings = GroupSettings<"hostPrep">;

/** The cluster group (its `stages` is LabConfig.stages). */
export interface ClusterSettings extends Omit<GroupSettings<"cluster">, "stages" | "etcdSnapshotDir"> {
    /** Where a destroy keeps the master's etcd snapshot on this machine, `~` expanded. */
    etcdSnapshotDir: string;
}

/** The add-ons group, the manifest URLs and the controller image filled in from the versions when unset. */
type FilledAddons = "kubevirtManifestUrl" | "ingressNginxManifestBaseUrl" | "ingressNginxControllerImage";
export type AddonSettings = Omit<GroupSettings<"addons">, FilledAddons> & Filled<FilledAddons>;

/** The workload group, the VMs' nodes resolved to the workers' full names, the VMs' SSH key filled in. */
export interface WorkloadSettings
    extends Omit<GroupSettings<"workload">, "nodejsVmNode" | "mongodbVmNode" | "vmSshPublicKey">, Filled<"vmSshPublicKey"> {
    nodejsVmNode: string;
    mongodbVmNode: string;
}

export interface AppSettings {
    mongodbPassword: pulumi.Output<string>;
    mongodbAdminPassword: pulumi.Output<string>;
    /** True when the password is the post's published one (no secret was set). */
    usesPostPassword: boolean;
    /** Ansible tags of the roles skipped (`--skip-tags`); empty: every task runs. */
    skipTags: string[];
    /** Where the nodejs VM gets the app and its npm dependencies (the nodejs role's variables). */
    source: NodejsSource;
}

export interface NodejsSource {
    repoUrl: string;
    repoVersion: string;
    npmRegistry: string;
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

/** The address of a lab node by name; the error says what runs there and which nodes exist. */
export function nodeAddress(nodes: HostSpec[], name: string, what: string): string {
    const n = nodes.find((h) => h.name === name);
    if (!n) throw new Error(`${what} runs on ${name}, which is not a configured node (${nodes.map((h) => h.name).join(", ")})`);
    return n.address;
}

/** Where raw values come from: the stack's config map (keys without the project prefix), which of them are secrets. */
export type ConfigSource = RawConfig;

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

/**
 * Reads and validates every setting. Throws LabConfigError listing all problems at once;
 * nothing is registered before this returns.
 */
export function parseConfig(source: ConfigSource): LabConfig {
    const reading = readSettings(source);
    const resolved = crossCheck(reading);
    if (reading.problems.length > 0) throw new LabConfigError(reading.problems);
    return toLabConfig(reading.values as Settings, resolved);
}

function toLabConfig(s: Settings, r: Resolved): LabConfig {
    const stages = Object.fromEntries(STAGES.map((st) => [st, s.stages.includes(st)])) as Record<Stage, boolean>;
    const password = s.mongodbPassword ?? POST_MONGODB_PASSWORD;
    const { stages: _stages, ...cluster } = groupSettings(s, "cluster"); // its stages are LabConfig.stages
    return {
        domain: s.domain,
        master: s.master,
        workers: s.workers,
        ssh: {
            user: s.sshUser,
            port: s.sshPort,
            privateKey: pulumi.secret(r.privateKey),
            privateKeyPath: r.privateKeyPath,
            dialErrorLimit: s.sshDialErrorLimit,
            perDialTimeout: s.sshPerDialTimeout,
        },
        hostPrep: { ...groupSettings(s, "hostPrep"), dockerStorageDevice: s.dockerStorageDevice === "none" ? "" : s.dockerStorageDevice },
        cluster: { ...cluster, etcdSnapshotDir: expandHome(s.etcdSnapshotDir ?? DEFAULT_SNAPSHOT_DIR) },
        stages,
        addons: {
            ...groupSettings(s, "addons"),
            kubevirtManifestUrl: s.kubevirtManifestUrl ?? kubevirtManifestUrl(s.kubevirtVersion),
            ingressNginxManifestBaseUrl: s.ingressNginxManifestBaseUrl ?? ingressNginxManifestBaseUrl(s.ingressNginxVersion),
            ingressNginxControllerImage: s.ingressNginxControllerImage ?? ingressNginxControllerImage(s.ingressNginxVersion),
        },
        workload: {
            ...groupSettings(s, "workload"),
            nodejsVmNode: r.nodejsVmNode,
            mongodbVmNode: r.mongodbVmNode,
            vmSshPublicKey: r.vmSshPublicKey ?? "",
        },
        app: {
            mongodbPassword: pulumi.secret(password),
            mongodbAdminPassword: pulumi.secret(s.mongodbAdminPassword ?? password),
            usesPostPassword: s.mongodbPassword === undefined,
            skipTags: s.appSkipTags,
            source: { repoUrl: s.nodejsRepoUrl, repoVersion: s.nodejsRepoVersion, npmRegistry: s.npmRegistryUrl },
        },
        dns:
            s.dnsHost && stages.dns
                ? { host: s.dnsHost, configPath: s.dnsConfigPath ?? dnsConfigPath(s.domain), ingressNode: r.dnsIngressNode }
                : undefined,
    };
}

/** pulumi.runtime.isConfigSecret: exported by @pulumi/pulumi's runtime, marked internal in its typings. */
const isConfigSecret = (pulumi.runtime as unknown as { isConfigSecret(key: string): boolean }).isConfigSecret;

/** The running stack's config, without the `kubevirt-lab:` prefix. */
export function stackConfigSource(): ConfigSource {
    const prefix = `${PROJECT}:`;
    return {
        get: (key) => pulumi.runtime.getConfig(`${prefix}${key}`),
        keys: () =>
            Object.keys(pulumi.runtime.allConfig())
                .filter((k) => k.startsWith(prefix))
                .map((k) => k.slice(prefix.length)),
        isSecret: (key) => isConfigSecret(`${prefix}${key}`),
    };
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
