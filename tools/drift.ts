// npm run drift: does what each step of the lab made still hold? `remote.Command`
// has no read, so `pulumi refresh` cannot see a host changed by hand; this
// command looks, read-only, and says how to bring each drifted step back.
//
//   per host   the prep steps (components/hostPrep.ts PREP_STEPS): the files they
//              write, docker enabled and active, kubelet enabled, the packages'
//              versions, the sysctl values, swap off, the SELinux mode
//   cluster    kubeadm init on the master (admin.conf, the API answering, the master
//              Ready), each worker's node Ready
//   dns        every record of the DNS host answers as the stack says (asked from here)
//   objects    with the addons stage: the lab's Kubernetes objects exist
//
// What is expected comes from the stack's settings (`pulumi config --json
// --show-secrets`, read by components/config.ts's parseConfig like the program
// reads them). Each host is probed over SSH, in parallel, by the read-only
// steps/probe/probe.sh. One line per host and step, `OK <host> <step>` or
// `DRIFT <host> <step>: expected ..., saw ...`, then for each drifted step the
// `pulumi up --replace` that brings it back, destructive ones marked. Exit
// status: 0 nothing drifted, 1 drift, 2 bad usage, an unreachable host (named)
// or a probe that failed.
import { execFile, spawn } from "node:child_process";
import * as dns from "node:dns/promises";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { HostSpec, LabConfig, PROJECT, nodeAddress, parseConfig, shortName } from "../components/config";
import { TYPES as COMPONENT_TYPES } from "../components/types";
import { PREP_STEPS } from "../components/hostPrep";
import { hostScript, shQuote } from "../components/remote";
import { keyLine, parseKeyscan, preferredKey, sshHosts } from "../components/hostKeys";
import { parsePublicKey } from "../components/values";
import { runCli } from "./cli";

export type PrepStep = (typeof PREP_STEPS)[number];

// ---------- what the stack expects ----------

/** The Pulumi types of the lab's resources: the components' (components/types.ts) and the host steps'. */
export const TYPES = { ...COMPONENT_TYPES, command: "command:remote:Command" } as const;

/** The URN of a resource: its parents' types (outermost first, the stack left out) and its name. */
export function urn(stack: string, project: string, types: readonly string[], name: string): string {
    return `urn:pulumi:${stack}::${project}::${types.join("$")}::${name}`;
}

/** The URNs of the lab's host steps (index.ts: Cluster "cluster", Dns "dns"; the components' names). */
export class LabUrns {
    constructor(
        readonly stack: string,
        readonly project: string = PROJECT,
        /** name → URN from the stack's state (`pulumi stack export`); wins over the computed one. */
        readonly known: ReadonlyMap<string, string> = new Map(),
    ) {}

    private cmd(parents: readonly string[], name: string): string {
        return this.known.get(name) ?? urn(this.stack, this.project, [...parents, TYPES.command], name);
    }
    prep(host: string, step: PrepStep): string {
        return this.cmd([TYPES.cluster, TYPES.hostPrep], `${shortName(host)}-${step}`);
    }
    master(host: string, step: "kubeadm-init" | "kubeconfig" | "flannel" | "ready"): string {
        return this.cmd([TYPES.cluster, TYPES.master], `${shortName(host)}-${step}`);
    }
    worker(host: string, step: "join-command" | "kubeadm-join"): string {
        return this.cmd([TYPES.cluster, TYPES.worker], `${shortName(host)}-${step}`);
    }
    nodesReady(): string {
        return this.cmd([TYPES.cluster], "cluster-nodes-ready");
    }
    dnsRecords(): string {
        return this.cmd([TYPES.dns], "dns-records");
    }
}

/** A Kubernetes object the lab makes: namespace "" for a cluster-scoped one. */
export interface ObjectRef {
    kind: string;
    namespace: string;
    name: string;
}

/**
 * The lab's Kubernetes objects that must exist, by stage: the add-ons' namespaces and
 * workloads (components/kubevirt.ts, skydive.ts, ingressNginx.ts) and the workload's
 * namespace, VMs, Services and Ingress (components/workload.ts, manifests/nodejs-ex.yaml).
 */
export function expectedObjects(cfg: LabConfig): ObjectRef[] {
    const o = (kind: string, namespace: string, name: string): ObjectRef => ({ kind, namespace, name });
    const out: ObjectRef[] = [];
    if (!cfg.stages.addons) return out;
    out.push(
        o("deployment", "kube-system", "virt-api"),
        o("deployment", "kube-system", "virt-controller"),
        o("daemonset", "kube-system", "virt-handler"),
        o("namespace", "", "skydive"),
        o("deployment", "skydive", "skydive-analyzer"),
        o("daemonset", "skydive", "skydive-agent"),
        o("namespace", "", "ingress-nginx"),
        o("deployment", "ingress-nginx", "nginx-ingress-controller"),
    );
    if (cfg.stages.workload) {
        const ns = cfg.workload.namespace;
        out.push(o("namespace", "", ns));
        for (const vm of ["nodejs", "mongodb"]) out.push(o("offlinevirtualmachine", ns, vm), o("service", ns, vm));
        out.push(o("ingress", ns, "nodejs"));
    }
    return out;
}

/** The content of /etc/yum.repos.d/kubernetes.repo that steps/repo/repo.sh writes. */
export function repoFile(cfg: LabConfig): string {
    const s = cfg.hostPrep;
    const lines = ["[kubernetes]", "name=Kubernetes", `baseurl=${s.yumRepoBaseUrl}`, "enabled=1", "gpgcheck=1", "repo_gpgcheck=1"];
    return [...lines, `gpgkey=${s.yumRepoGpgKeys.join(" ")}`, ""].join("\n");
}

/** The content of /etc/sysconfig/docker-storage-setup that steps/docker-storage/docker-storage.sh writes. */
export function dockerStorageFile(device: string): string {
    const lvm = ["CONTAINER_ROOT_LV_NAME=dockerlv", "CONTAINER_ROOT_LV_SIZE=100%FREE", "CONTAINER_ROOT_LV_MOUNT_PATH=/var/lib/docker"];
    return ["STORAGE_DRIVER=overlay2", `DEVS=${device}`, ...lvm, "VG=dockervg", ""].join("\n");
}

/** sysctl.sh's default when no setting is given. */
const SYSCTL_DEFAULT = ["net.bridge.bridge-nf-call-ip6tables = 1", "net.bridge.bridge-nf-call-iptables = 1"];
const sysctlLines = (cfg: LabConfig): string[] => (cfg.hostPrep.sysctl.length > 0 ? cfg.hostPrep.sysctl : SYSCTL_DEFAULT);

export const FILES = {
    repo: "/etc/yum.repos.d/kubernetes.repo",
    dockerStorage: "/etc/sysconfig/docker-storage-setup",
    sysctl: "/etc/sysctl.d/k8s.conf",
    selinux: "/etc/selinux/config",
} as const;

/** The packages packages.sh installs, as `rpm -q` names them. */
export function packageNames(cfg: LabConfig): string[] {
    const v = cfg.hostPrep.kubernetesVersion;
    return [`kubelet-${v}`, `kubeadm-${v}`, `kubectl-${v}`, ...cfg.hostPrep.extraPackages];
}

/** "key = value" → [key, value]. */
function sysctlSetting(line: string): [string, string] {
    const m = /^(\S+)\s*=\s*(.*)$/.exec(line);
    return m ? [m[1], m[2].trim()] : [line, ""];
}

/** The probe.sh checks a host of the cluster needs (the master also: the cluster, the objects). */
export function hostChecks(cfg: LabConfig, host: HostSpec): string[] {
    const checks = [`file:${FILES.repo}`, ...packageNames(cfg).map((p) => `package:${p}`)];
    if (cfg.hostPrep.dockerStorageDevice) checks.push(`file:${FILES.dockerStorage}`);
    checks.push("service:docker", "service:kubelet", `file:${FILES.sysctl}`);
    for (const line of sysctlLines(cfg)) checks.push(`sysctl:${sysctlSetting(line)[0]}`);
    checks.push("swap", `file:${FILES.selinux}`, "selinux");
    if (host.name === cfg.master.name) {
        checks.push("cluster");
        for (const o of expectedObjects(cfg)) checks.push(`object:${o.kind}/${o.namespace}/${o.name}`);
    }
    return checks;
}

// ---------- what a host says ----------

export interface Facts {
    /** path → content (undefined: no such file). */
    files: Map<string, string | undefined>;
    services: Map<string, { active: string; enabled: string }>;
    /** name → undefined when installed, else what is installed instead ("-": nothing). */
    packages: Map<string, string | undefined>;
    /** key → value (undefined: no such key). */
    sysctl: Map<string, string | undefined>;
    selinux?: string;
    swapActive: string[];
    swapFstab: string[];
    cluster?: { adminConf: boolean; api?: string; nodes: Map<string, string> };
    /** "kind/namespace/name" → "present", "missing" or "error <message>". */
    objects: Map<string, string>;
}

const b64 = (s: string): string => Buffer.from(s, "base64").toString("utf8");

/** The lines of probe.sh, parsed. An unknown line is an error: the probe and this file disagree. */
export function parseProbe(stdout: string): Facts {
    const f: Facts = {
        files: new Map(),
        services: new Map(),
        packages: new Map(),
        sysctl: new Map(),
        swapActive: [],
        swapFstab: [],
        objects: new Map(),
    };
    const cluster = (): NonNullable<Facts["cluster"]> => (f.cluster ??= { adminConf: false, nodes: new Map<string, string>() });
    for (const line of stdout.split("\n")) {
        if (line === "") continue;
        const w = line.split(" ");
        const rest = (n: number) => w.slice(n).join(" ");
        if (w[0] === "file") f.files.set(w[1], w[2] === "present" ? b64(w[3] ?? "") : undefined);
        else if (w[0] === "service") f.services.set(w[1], { active: w[2], enabled: w[3] });
        else if (w[0] === "package") f.packages.set(w[1], w[2] === "installed" ? undefined : (w[3] ?? "-"));
        else if (w[0] === "sysctl") f.sysctl.set(w[1], w[2] === "value" ? rest(3) : undefined);
        else if (w[0] === "selinux") f.selinux = rest(1);
        else if (w[0] === "swap" && w[1] === "active") f.swapActive.push(rest(2));
        else if (w[0] === "swap" && w[1] === "fstab") f.swapFstab.push(b64(w[2] ?? ""));
        else if (w[0] === "cluster" && w[1] === "admin-conf") cluster().adminConf = w[2] === "present";
        else if (w[0] === "cluster" && w[1] === "api") cluster().api = w[2] === "ok" ? "ok" : rest(3);
        else if (w[0] === "node") cluster().nodes.set(w[1], w[2]);
        else if (w[0] === "object") f.objects.set(`${w[1]}/${w[2] === "-" ? "" : w[2]}/${w[3]}`, rest(4));
        else throw new Error(`probe.sh printed a line drift.ts does not know: ${JSON.stringify(line)}`);
    }
    return f;
}

// ---------- judging ----------

/** One step's verdict: ok, or what was expected and what was seen. */
export interface StepResult {
    /** The host's short name (km1), as the resource names have it. */
    host: string;
    step: string;
    drift?: { expected: string; saw: string };
}

const q = (s: string): string => JSON.stringify(s);

/** The first difference of a file from the content a step writes, or undefined when equal. */
export function fileDrift(file: string, want: string, have: string | undefined): StepResult["drift"] {
    if (have === undefined) return { expected: `${file} as the step writes it`, saw: "no such file" };
    if (have === want) return undefined;
    const a = want.split("\n");
    const b = have.split("\n");
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
        if (a[i] === b[i]) continue;
        const n = i + 1;
        if (i >= b.length || (b[i] === "" && i === b.length - 1))
            return { expected: `${file} line ${n} ${q(a[i])}`, saw: "the file ends before it" };
        if (i >= a.length || (a[i] === "" && i === a.length - 1))
            return { expected: `${file} to end after line ${i}`, saw: `line ${n} ${q(b[i])}` };
        return { expected: `${file} line ${n} ${q(a[i])}`, saw: q(b[i]) };
    }
    return { expected: `${file} as the step writes it`, saw: "other line endings" };
}

const ws = (s: string): string => s.trim().replace(/\s+/g, " ");

/** The verdict of each prep step of a host, from what its probe saw. */
export function judgePrep(cfg: LabConfig, host: HostSpec, f: Facts): StepResult[] {
    const s = cfg.hostPrep;
    const first = (...ds: StepResult["drift"][]) => ds.find((d) => d !== undefined);
    const check = (cond: boolean, expected: string, saw: string): StepResult["drift"] => (cond ? undefined : { expected, saw });
    const svc = (u: string) => f.services.get(u) ?? { active: "unknown", enabled: "not-found" };
    const judge: Record<PrepStep, () => StepResult["drift"]> = {
        repo: () => fileDrift(FILES.repo, repoFile(cfg), f.files.get(FILES.repo)),
        packages: () =>
            first(
                ...packageNames(cfg).map((p) => {
                    const other = f.packages.get(p);
                    return check(other === undefined, `${p} installed`, other === "-" ? "not installed" : `${other} instead`);
                }),
            ),
        "docker-storage": () =>
            s.dockerStorageDevice
                ? fileDrift(FILES.dockerStorage, dockerStorageFile(s.dockerStorageDevice), f.files.get(FILES.dockerStorage))
                : undefined,
        services: () =>
            first(
                check(svc("docker").active === "active", "docker active", `docker ${svc("docker").active}`),
                check(svc("docker").enabled === "enabled", "docker enabled", `docker ${svc("docker").enabled}`),
                check(svc("kubelet").enabled === "enabled", "kubelet enabled", `kubelet ${svc("kubelet").enabled}`),
            ),
        sysctl: () =>
            first(
                fileDrift(FILES.sysctl, sysctlLines(cfg).join("\n") + "\n", f.files.get(FILES.sysctl)),
                ...sysctlLines(cfg).map((line) => {
                    const [key, want] = sysctlSetting(line);
                    const have = f.sysctl.get(key);
                    return check(
                        have !== undefined && ws(have) === ws(want),
                        `sysctl ${key} = ${want}`,
                        have === undefined ? "no such key" : `${key} = ${have}`,
                    );
                }),
            ),
        swap: () =>
            first(
                check(f.swapActive.length === 0, "no active swap (swapon --show empty)", `swap on ${f.swapActive.join(", ")}`),
                check(f.swapFstab.length === 0, "no active swap line in /etc/fstab", `${q(f.swapFstab[0] ?? "")}`),
            ),
        selinux: () => {
            const conf = f.files.get(FILES.selinux);
            const line = conf
                ?.split("\n")
                .filter((l) => /^SELINUX=/.test(l))
                .pop();
            return first(
                check(
                    line === `SELINUX=${s.selinux}`,
                    `SELINUX=${s.selinux} in ${FILES.selinux}`,
                    conf === undefined ? "no such file" : (line ?? "no SELINUX= line"),
                ),
                check(s.selinux === "enforcing" || f.selinux !== "Enforcing", "getenforce not Enforcing", `getenforce ${f.selinux}`),
            );
        },
    };
    return PREP_STEPS.map((step) => ({ host: shortName(host.name), step, drift: judge[step]() }));
}

/** kubeadm init (the master), each join (a worker's node Ready) and the objects, from the master's probe. */
export function judgeCluster(cfg: LabConfig, f: Facts): StepResult[] {
    const c = f.cluster ?? { adminConf: false, nodes: new Map<string, string>() };
    const m = cfg.master.name;
    const node = (name: string): StepResult["drift"] => {
        const st = c.nodes.get(name);
        return st === "Ready" ? undefined : { expected: `node ${name} Ready`, saw: st === undefined ? "not in kubectl get nodes" : st };
    };
    let init: StepResult["drift"];
    if (!c.adminConf) init = { expected: "/etc/kubernetes/admin.conf (kubeadm init done)", saw: "no such file" };
    else if (c.api !== "ok") init = { expected: "the control plane answering kubectl get nodes", saw: c.api ?? "no answer" };
    else init = node(m);
    const out: StepResult[] = [{ host: shortName(m), step: "kubeadm-init", drift: init }];
    for (const w of cfg.workers) {
        out.push({
            host: shortName(w.name),
            step: "kubeadm-join",
            drift: c.api === "ok" ? node(w.name) : { expected: `node ${w.name} Ready`, saw: "no control plane to ask" },
        });
    }
    const objs = expectedObjects(cfg);
    if (objs.length > 0) {
        const bad = objs
            .map((o) => ({ o, st: f.objects.get(`${o.kind}/${o.namespace}/${o.name}`) ?? "not probed" }))
            .filter((x) => x.st !== "present");
        const ref = (o: ObjectRef) => `${o.kind} ${o.namespace ? `${o.namespace}/` : ""}${o.name}`;
        out.push({
            host: shortName(m),
            step: "kubernetes-objects",
            drift:
                bad.length === 0
                    ? undefined
                    : {
                          expected: `the lab's ${objs.length} Kubernetes objects of its stages`,
                          saw: [
                              ...bad.slice(0, 3).map((x) => `${ref(x.o)} ${x.st}`),
                              ...(bad.length > 3 ? [`${bad.length - 3} more not present`] : []),
                          ].join(", "),
                      },
        });
    }
    return out;
}

/** A DNS answer of the DNS host: the first IPv4 of a name, or the error code. */
export type Lookup = (name: string) => Promise<string>;

/** The DNS host's records (components/dns.ts): every node's name, and a name under the ingress wildcard. */
export async function judgeDns(cfg: LabConfig, lookup: Lookup, ingressAddress?: string): Promise<StepResult[]> {
    if (!cfg.dns) return [];
    const want: Array<[string, string | undefined]> = [cfg.master, ...cfg.workers].map((h) => [h.name, h.address]);
    const ingress = cfg.dns.ingressNode
        ? nodeAddress([cfg.master, ...cfg.workers], cfg.dns.ingressNode, "the ingress controller")
        : ingressAddress;
    want.push([`nodejs.ingress.${cfg.domain}`, ingress]);
    let drift: StepResult["drift"];
    for (const [name, address] of want) {
        const got = await lookup(name);
        if (address === undefined ? /^\d+\.\d+\.\d+\.\d+$/.test(got) : got === address) continue;
        drift = { expected: `${name} -> ${address ?? "an IPv4 address"} (asked of ${cfg.dns.host.address})`, saw: got };
        break;
    }
    return [{ host: shortName(cfg.dns.host.name), step: "dns-records", drift }];
}

// ---------- the report ----------

export function formatResult(r: StepResult): string {
    return r.drift ? `DRIFT ${r.host} ${r.step}: expected ${r.drift.expected}, saw ${r.drift.saw}` : `OK ${r.host} ${r.step}`;
}

export interface Repair {
    host: string;
    step: string;
    destructive: boolean;
    /** What running it does. */
    effect: string;
    /** The command to run. */
    command: string;
}

const SAFE_PREP = "safe: its host script is idempotent and writes back only what the step owns";

/** How to bring a drifted step back: the `pulumi up` that re-runs the steps that made it. */
export function repairFor(cfg: LabConfig, urns: LabUrns, r: StepResult): Repair {
    const up = (list: string[]) => `pulumi up --stack ${shQuote(urns.stack)}${list.map((u) => ` --replace ${shQuote(u)}`).join("")}`;
    const host = [cfg.master, ...cfg.workers].find((h) => shortName(h.name) === r.host);
    const base = { host: r.host, step: r.step };
    if ((PREP_STEPS as readonly string[]).includes(r.step) && host) {
        return { ...base, destructive: false, effect: SAFE_PREP, command: up([urns.prep(host.name, r.step as PrepStep)]) };
    }
    if (r.step === "kubeadm-join" && host) {
        return {
            ...base,
            destructive: true,
            effect: `DESTRUCTIVE: re-joins ${host.name}: kubeadm reset on it, then kubeadm join with a fresh token; its pods are stopped and started again`,
            command: up([urns.worker(host.name, "join-command"), urns.worker(host.name, "kubeadm-join")]),
        };
    }
    if (r.step === "kubeadm-init") {
        const m = cfg.master.name;
        const list = [urns.master(m, "kubeadm-init"), urns.master(m, "kubeconfig"), urns.master(m, "flannel"), urns.master(m, "ready")];
        for (const w of cfg.workers) list.push(urns.worker(w.name, "join-command"), urns.worker(w.name, "kubeadm-join"));
        list.push(urns.nodesReady());
        const objects = cfg.stages.addons ? "; then `pulumi up --refresh` makes the lab's Kubernetes objects again" : "";
        return {
            ...base,
            destructive: true,
            effect: `DESTRUCTIVE: resets the cluster: kubeadm reset on the master loses every Kubernetes object, kubeadm init, and every worker re-joins${objects}`,
            command: up(list),
        };
    }
    if (r.step === "dns-records") {
        return {
            ...base,
            destructive: false,
            effect: "safe: rewrites the lab's records file and restarts dnsmasq",
            command: up([urns.dnsRecords()]),
        };
    }
    return {
        ...base,
        destructive: false,
        effect: "safe: refresh reads the Kubernetes objects back (that provider can), so the up makes the missing ones again",
        command: `pulumi up --stack ${shQuote(urns.stack)} --refresh`,
    };
}

/**
 * The report: one line per step, then the repairs of the drifted ones, safe ones first. kubeadm
 * init's repair re-joins every worker: the joins' own repairs are left out then.
 */
export function formatReport(cfg: LabConfig, urns: LabUrns, results: StepResult[], unreachable: string[] = []): string[] {
    const lines = results.map(formatResult);
    for (const u of unreachable) lines.push(`UNREACHABLE ${u}`);
    const drifted = results.filter((r) => r.drift);
    const reset = drifted.some((r) => r.step === "kubeadm-init");
    const repairs = drifted.filter((r) => !(reset && r.step === "kubeadm-join")).map((r) => repairFor(cfg, urns, r));
    if (repairs.length === 0) return lines;
    repairs.sort((a, b) => Number(a.destructive) - Number(b.destructive));
    lines.push("", "To repair (run the safe ones first, then drift again: a node may come back with its host's steps):");
    for (const r of repairs) lines.push(`repair ${r.host} ${r.step} (${r.effect}):`, `  ${r.command}`);
    return lines;
}

// ---------- the command ----------

export class UsageError extends Error {}

export const USAGE = `usage: npm run drift -- [--stack <name>] [--cwd <project dir>] [--ssh-config <file>] [--timeout-ms <ms>]
Reads the stack's settings (pulumi config --json --show-secrets: PULUMI_CONFIG_PASSPHRASE for a passphrase stack),
probes every host over SSH (steps/probe/probe.sh, read-only) and asks the DNS host for the lab's names.`;

export interface ParsedArgs {
    stack?: string;
    cwd?: string;
    sshConfig?: string;
    timeoutMs: number;
}

const CLI_OPTIONS = {
    stack: { type: "string" },
    cwd: { type: "string" },
    "ssh-config": { type: "string" },
    "timeout-ms": { type: "string" },
} as const;

export function parseCliArgs(argv: string[]): ParsedArgs {
    let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof CLI_OPTIONS; strict: true }>>;
    try {
        parsed = parseArgs({ args: argv, options: CLI_OPTIONS, strict: true });
    } catch (err) {
        throw new UsageError((err as Error).message);
    }
    const { stack, cwd, "ssh-config": sshConfig, "timeout-ms": timeout } = parsed.values;
    const timeoutMs = timeout === undefined ? 60_000 : Number(timeout);
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1000 || timeoutMs > 600_000)
        throw new UsageError(`--timeout-ms: "${timeout}" is not 1000-600000`);
    if (stack !== undefined && !/^[A-Za-z0-9_./-]+$/.test(stack)) throw new UsageError(`--stack: "${stack}" is not a stack name`);
    return { stack, cwd, sshConfig, timeoutMs };
}

interface Exec {
    code: number;
    stdout: string;
    stderr: string;
}

function exec(cmd: string, args: string[], timeoutMs: number, cwd?: string): Promise<Exec> {
    return new Promise((resolve) => {
        execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 << 20, cwd, killSignal: "SIGKILL" }, (err, stdout, stderr) => {
            const e = err as (NodeJS.ErrnoException & { code?: number | string; killed?: boolean }) | null;
            const code = !e ? 0 : typeof e.code === "number" ? e.code : e.killed ? 124 : 127;
            resolve({
                code,
                stdout,
                stderr: e?.killed
                    ? `${stderr}\n[no answer within ${timeoutMs} ms]`
                    : stderr || (e && typeof e.code === "string" ? e.message : stderr),
            });
        });
    });
}

/** `pulumi <args>` in the project directory, bounded (verify runs its `stack output` with it too). */
export async function pulumi(a: Pick<ParsedArgs, "cwd">, args: string[]): Promise<Exec> {
    const r = await exec("pulumi", [...(a.cwd ? ["--cwd", a.cwd] : []), "--non-interactive", ...args], 120_000);
    if (r.code === 127) throw new Error("pulumi is not on PATH (source ~/.cache/kubevirt-lab/engine/env.sh, or see npm run setup)");
    return r;
}

/** The stack's settings as the program reads them (`pulumi config --json --show-secrets`: each value, and whether it is a secret). */
export function configFromJson(json: string): LabConfig {
    const raw = JSON.parse(json) as Record<string, { value?: string; secret?: boolean }>;
    const prefix = `${PROJECT}:`;
    return parseConfig({
        get: (key) => raw[`${prefix}${key}`]?.value,
        keys: () =>
            Object.keys(raw)
                .filter((k) => k.startsWith(prefix))
                .map((k) => k.slice(prefix.length)),
        isSecret: (key) => raw[`${prefix}${key}`]?.secret === true,
    });
}

/** URNs of the stack's state by resource name (the last part of a URN), from `pulumi stack export`. */
export function urnsByName(exportJson: string): Map<string, string> {
    const out = new Map<string, string>();
    const dep = JSON.parse(exportJson) as { deployment?: { resources?: Array<{ urn: string }> } };
    for (const r of dep.deployment?.resources ?? []) out.set(r.urn.split("::").pop()!, r.urn);
    return out;
}

const secretText = (o: LabConfig["ssh"]["privateKey"]): Promise<string> => new Promise((res) => o.apply((v) => (res(v), v)));

/** The stack (--stack, else the selected one) and its settings, from `pulumi config --json --show-secrets`. */
export async function readStack(a: Pick<ParsedArgs, "stack" | "cwd">): Promise<{ stack: string; cfg: LabConfig }> {
    const name = a.stack ?? (await pulumi(a, ["stack", "--show-name"])).stdout.trim();
    if (!name) throw new UsageError("no stack: give --stack <name> or `pulumi stack select` one");
    const c = await pulumi(a, ["config", "--stack", name, "--json", "--show-secrets"]);
    if (c.code !== 0) throw new UsageError(`pulumi config --stack ${name} failed: ${c.stderr.trim()}`);
    return { stack: name.split("/").pop()!, cfg: configFromJson(c.stdout) };
}

/** ssh: the one program besides pulumi (tools/need.sh checks it before npm run drift and diagnose). */
export const hasSsh = async (): Promise<boolean> => (await exec("ssh", ["-V"], 10_000)).code !== 127;

/**
 * The host key each host's steps expect, by address (`<type> <base64>`), as the program pins them
 * (components/hostKeys.ts): the host object's hostKey, else the record the first `up` left in the
 * state (`pulumi stack export`: the stdout of `<host>-host-key`). A host with neither has none.
 */
export function expectedHostKeys(cfg: LabConfig, exportJson: string | undefined): Map<string, string> {
    const recorded = new Map<string, string>();
    const dep = exportJson
        ? (JSON.parse(exportJson) as { deployment?: { resources?: Array<{ urn: string; outputs?: { stdout?: string } }> } })
        : {};
    for (const r of dep.deployment?.resources ?? []) {
        const name = r.urn.split("::").pop()!;
        const k = name.endsWith("-host-key") ? preferredKey(parseKeyscan(r.outputs?.stdout ?? "")) : undefined;
        if (k) recorded.set(name.slice(0, -"-host-key".length), keyLine(k));
    }
    const out = new Map<string, string>();
    for (const h of sshHosts(cfg)) {
        const pinned = h.hostKey === undefined ? undefined : parsePublicKey(h.hostKey);
        const key = pinned ? keyLine(pinned) : recorded.get(shortName(h.name));
        if (key) out.set(h.address, key);
    }
    return out;
}

/** How ssh reaches the hosts: its identity options, the known_hosts of the expected keys; close() ends what it started. */
export interface SshAccess {
    identity: string[];
    knownHosts: string;
    /** address → expected key: a host without one is not contacted. */
    hostKeys: ReadonlyMap<string, string>;
    close(): Promise<void>;
}

/**
 * The SSH access of the tools, in `dir` (a private temporary directory): known_hosts with each
 * host's expected key (no other key is accepted), and the key: the stack's key file when it gives
 * sshPrivateKeyPath, else its secret key held in memory only, by an ssh-agent of this process
 * (never written to a file). The agent ends with close(), and also when this process is killed by
 * any signal, SIGKILL included: a guard shell holds the read end of a pipe from this process and
 * kills the agent at end of file; its key lives at most `lifetimeSeconds` there anyway.
 */
export async function openSshAccess(
    cfg: LabConfig,
    hostKeys: ReadonlyMap<string, string>,
    dir: string,
    lifetimeSeconds: number,
): Promise<SshAccess> {
    const knownHosts = path.join(dir, "known_hosts");
    const port = cfg.ssh.port;
    fs.writeFileSync(knownHosts, [...hostKeys].map(([a, k]) => `${port === 22 ? a : `[${a}]:${port}`} ${k}\n`).join(""));
    if (cfg.ssh.privateKeyPath) return { identity: ["-i", cfg.ssh.privateKeyPath], knownHosts, hostKeys, close: async () => undefined };
    const sock = path.join(dir, "agent.sock");
    const guard = spawn(
        "sh",
        ["-c", 'ssh-agent -D -a "$1" >/dev/null 2>&1 & a=$!; trap \'kill "$a" 2>/dev/null\' EXIT; read -r _ || :', "kvl-agent-guard", sock],
        {
            stdio: ["pipe", "ignore", "ignore"],
        },
    );
    const close = () =>
        new Promise<void>((resolve) => {
            if (guard.exitCode !== null || guard.signalCode !== null) return resolve();
            guard.once("exit", () => resolve());
            guard.stdin!.end();
        });
    for (let i = 0; i < 100 && !fs.existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
    const added = await new Promise<Exec>((resolve) => {
        const p = execFile(
            "ssh-add",
            ["-q", "-t", String(lifetimeSeconds), "-"],
            { env: { ...process.env, SSH_AUTH_SOCK: sock }, timeout: 10_000 },
            (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }),
        );
        void secretText(cfg.ssh.privateKey).then((key) => p.stdin!.end(`${key.trim()}\n`));
    });
    if (added.code !== 0) {
        await close();
        throw new Error(`ssh-add could not hold the stack's sshPrivateKey in memory: ${added.stderr.trim()}`);
    }
    return { identity: ["-o", `IdentityAgent=${sock}`], knownHosts, hostKeys, close };
}

/**
 * OpenSSH's words for a host, as the components connect (components/remote.ts connection): the
 * stack's user, port and key, the host's expected key and no other, bounded dialing.
 */
export function sshArgs(cfg: LabConfig, host: HostSpec, access: Pick<SshAccess, "identity" | "knownHosts">, sshConfig?: string): string[] {
    const s = cfg.ssh;
    const options = [
        "BatchMode=yes",
        `ConnectTimeout=${s.perDialTimeout}`,
        `ConnectionAttempts=${Math.min(s.dialErrorLimit, 10)}`,
        "ServerAliveInterval=10",
        "LogLevel=ERROR",
        `UserKnownHostsFile=${access.knownHosts}`,
        "GlobalKnownHostsFile=/dev/null",
        "StrictHostKeyChecking=yes",
    ];
    return [
        ...(sshConfig ? ["-F", sshConfig] : []),
        ...options.flatMap((o) => ["-o", o]),
        ...access.identity,
        "-p",
        String(s.port),
        "-l",
        s.user,
        host.address,
    ];
}

/** Runs probe.sh with `checks` (all drift's) on a host over SSH: what it saw, or an error naming the host. */
export async function probeHost(
    cfg: LabConfig,
    host: HostSpec,
    access: Pick<SshAccess, "identity" | "knownHosts" | "hostKeys">,
    a: Pick<ParsedArgs, "sshConfig" | "timeoutMs">,
    checks: string[] = hostChecks(cfg, host),
): Promise<Facts> {
    const where = `${cfg.ssh.user}@${host.address}:${cfg.ssh.port}`;
    if (!access.hostKeys.has(host.address))
        throw new Error(
            `${shortName(host.name)} (${where}): no host key to expect: neither a hostKey in its host object nor one recorded by pulumi up (run pulumi up first)`,
        );
    const argv = checks.flatMap((c) => ["--check", c]);
    const r = await exec("ssh", [...sshArgs(cfg, host, access, a.sshConfig), hostScript("probe.sh", argv, cfg.ssh.user)], a.timeoutMs);
    if (r.code !== 0) {
        const why = r.code === 255 ? "cannot reach it over SSH" : `probe.sh failed there (exit ${r.code})`;
        throw new Error(`${shortName(host.name)} (${where}): ${why}: ${r.stderr.trim().split("\n").slice(-3).join(" / ")}`);
    }
    return parseProbe(r.stdout);
}

function dnsLookup(server: string, timeoutMs: number): Lookup {
    return async (name) => {
        const r = new dns.Resolver({ timeout: Math.min(timeoutMs, 5000), tries: 2 });
        r.setServers([server]);
        try {
            const a = await r.resolve4(name);
            return a[0] ?? "no A record";
        } catch (err) {
            return (err as NodeJS.ErrnoException).code ?? String(err);
        } finally {
            r.cancel();
        }
    };
}

/** The CLI: returns the exit status. */
export async function main(argv: string[], print: (line: string) => void = (l) => console.log(l)): Promise<number> {
    let a: ParsedArgs;
    let cfg: LabConfig;
    let stack: string;
    try {
        a = parseCliArgs(argv);
        ({ stack, cfg } = await readStack(a));
    } catch (err) {
        print(`drift: ${(err as Error).message}`);
        if (err instanceof UsageError) print(USAGE);
        return 2;
    }
    if (!(await hasSsh())) {
        print("drift: ssh is missing: install it with: sudo apt-get install -y openssh-client");
        return 2;
    }
    const exported = await pulumi(a, ["stack", "export", "--stack", stack]);
    const urns = new LabUrns(stack, PROJECT, exported.code === 0 ? urnsByName(exported.stdout) : new Map());
    let ingressAddress: string | undefined;
    if (cfg.dns && !cfg.dns.ingressNode) {
        const out = await pulumi(a, ["stack", "output", "--stack", stack, "--json"]);
        if (out.code === 0) ingressAddress = (JSON.parse(out.stdout) as { ingressAddress?: string }).ingressAddress;
    }

    const tmp = privateTempDir("drift");
    const access = await openSshAccess(
        cfg,
        expectedHostKeys(cfg, exported.code === 0 ? exported.stdout : undefined),
        tmp,
        a.timeoutMs / 1000 + 60,
    );
    try {
        const nodes = [cfg.master, ...cfg.workers];
        const probes = await Promise.allSettled(nodes.map((h) => probeHost(cfg, h, access, a)));
        const results: StepResult[] = [];
        const unreachable: string[] = [];
        probes.forEach((p, i) => {
            if (p.status === "fulfilled") results.push(...judgePrep(cfg, nodes[i], p.value));
            else unreachable.push((p.reason as Error).message);
        });
        if (probes[0].status === "fulfilled") results.push(...judgeCluster(cfg, probes[0].value));
        if (cfg.dns) results.push(...(await judgeDns(cfg, dnsLookup(cfg.dns.host.address, a.timeoutMs), ingressAddress)));
        for (const line of formatReport(cfg, urns, results, unreachable)) print(line);
        if (unreachable.length > 0) return 2;
        return results.some((r) => r.drift) ? 1 : 0;
    } finally {
        await access.close();
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}

/**
 * A private (0700) temporary directory for a tool's run, `kvl-<tool>-<pid>-...`; the ones an
 * earlier run left (killed before it could remove its own) are removed first, when their pid is
 * gone. They hold nothing secret (known_hosts, an agent's socket), but nothing of ours stays.
 */
export function privateTempDir(tool: string): string {
    const base = os.tmpdir();
    for (const e of fs.readdirSync(base)) {
        const m = new RegExp(`^kvl-${tool}-(\\d+)-`).exec(e);
        if (!m || Number(m[1]) === process.pid) continue;
        try {
            process.kill(Number(m[1]), 0);
        } catch {
            fs.rmSync(path.join(base, e), { recursive: true, force: true });
        }
    }
    return fs.mkdtempSync(path.join(base, `kvl-${tool}-${process.pid}-`));
}

if (require.main === module) runCli("drift", main);
