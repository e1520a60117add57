// npm run drift's judgement and report: each step's verdict from the items its check printed on
// the hosts (steps/<step>/<step>.sh check), one line per host and step, and for each drifted step
// the `pulumi up` that brings it back (the URNs of the program's resources), destructive ones marked.
import { LabConfig, PROJECT, shortName } from "../../components/config";
import { PREP_STEPS } from "../../components/hostPrep";
import { shQuote } from "../../components/remote";
import { TYPES as COMPONENT_TYPES } from "../../components/types";
import { CheckItem } from "../lib/ssh";

export type PrepStep = (typeof PREP_STEPS)[number];

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

/** One step's verdict: ok, or what was expected and what was seen (its first drifted item). */
export interface StepResult {
    /** The host's short name (km1), as the resource names have it. */
    host: string;
    step: string;
    drift?: { expected: string; saw: string };
}

/** What each host's checks printed: host name → step → items (a host that did not answer: absent). */
export type Seen = ReadonlyMap<string, ReadonlyMap<string, CheckItem[]>>;

/** The verdict of a step from its items (and more items of other checks that judge it). */
export function verdict(host: string, step: string, items: readonly CheckItem[]): StepResult {
    return { host: shortName(host), step, drift: items.find((i) => i.drift)?.drift };
}

/**
 * The results, in order: each node's prep steps; kubeadm init (its check, and the master's node
 * Ready from wait-nodes' check); each join (the worker's check, and its node Ready); the lab's
 * Kubernetes objects (one line: how many, the first missing ones); the DNS records.
 */
export function judge(cfg: LabConfig, seen: Seen): StepResult[] {
    const nodes = [cfg.master, ...cfg.workers];
    const out: StepResult[] = [];
    for (const h of nodes) {
        const s = seen.get(h.name);
        for (const step of PREP_STEPS) if (s?.has(step)) out.push(verdict(h.name, step, s.get(step)!));
    }
    const m = seen.get(cfg.master.name);
    if (m) {
        const ready = m.get("wait-nodes") ?? [];
        const node = (name: string) => ready.filter((i) => i.item === `node ${name}`);
        out.push(verdict(cfg.master.name, "kubeadm-init", [...(m.get("kubeadm-init") ?? []), ...node(cfg.master.name)]));
        for (const w of cfg.workers)
            out.push(verdict(w.name, "kubeadm-join", [...(seen.get(w.name)?.get("kubeadm-join") ?? []), ...node(w.name)]));
        const objects = m.get("kubernetes-objects");
        if (objects) {
            const bad = objects.filter((i) => i.drift);
            const what = (i: CheckItem) => `${i.item.replace(/^object /, "")} ${i.drift!.saw}`;
            out.push({
                host: shortName(cfg.master.name),
                step: "kubernetes-objects",
                drift:
                    bad.length === 0
                        ? undefined
                        : {
                              expected: `the lab's ${objects.length} Kubernetes objects of its stages`,
                              saw: [...bad.slice(0, 3).map(what), ...(bad.length > 3 ? [`${bad.length - 3} more not present`] : [])].join(
                                  ", ",
                              ),
                          },
            });
        }
    }
    const d = cfg.dns && seen.get(cfg.dns.host.name);
    if (cfg.dns && d) out.push(verdict(cfg.dns.host.name, "dns-records", d.get("dns-records") ?? []));
    return out;
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
