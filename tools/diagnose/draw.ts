// The post's two packet paths, made from the facts: VM to VM (nodejs on its node, the mongodb
// Service, the mongodb VM) and ingress to VM (a client, NodePort 30000, the nginx pod, the nodejs
// VM). Each path is every interface it crosses, in order, with its host, namespace, address and
// MTU, and the step between two of them (a bridge, a veth pair, kube-proxy's DNAT, a route, the
// VXLAN encapsulation); a finding sits on the interface or the step it names. As text, and as a
// Graphviz graph in the spirit of the post's Skydive pictures (dot renders SVG and PNG).
import { Facts, Iface, NodeFacts, inCidr, ipv4 } from "./facts";
import { Finding } from "./rules";

export interface Hop {
    id: string;
    /** The node (short name), or "client". */
    host: string;
    /** "host", "pod <ns>/<name>", "guest <vm>", "client". */
    namespace: string;
    iface: string;
    address?: string;
    mtu?: number;
    kind?: string;
    findings: Finding[];
}

export interface Step {
    from: string;
    to: string;
    what: string;
    /** Objects this step goes through ("service <ns>/<name>", "dns <server>", "iptables <host>"). */
    refs: string[];
    findings: Finding[];
}

export interface PacketPath {
    name: "vm-to-vm" | "ingress-to-vm";
    title: string;
    hops: Hop[];
    steps: Step[];
    /** What the facts did not have: the path is drawn without it. */
    gaps: string[];
    /** Findings of the lab that sit nowhere on this path. */
    elsewhere: Finding[];
}

class Builder {
    hops: Hop[] = [];
    steps: Step[] = [];
    gaps: string[] = [];
    private last?: Hop;

    hop(
        host: string,
        namespace: string,
        iface: Iface | { name: string; addresses?: string[]; mtu?: number; kind?: string } | undefined,
        fallback: string,
    ): Hop {
        const name = iface?.name ?? fallback;
        const id = `${host}|${namespace}|${name}`;
        let h = this.hops.find((x) => x.id === id);
        if (!h) {
            h = { id, host, namespace, iface: name, findings: [] };
            if (iface?.addresses?.[0]) h.address = iface.addresses[0];
            if (iface?.mtu) h.mtu = iface.mtu;
            if (iface?.kind) h.kind = iface.kind;
            this.hops.push(h);
        }
        if (!iface) this.gaps.push(`${fallback} on ${host} (${namespace})`);
        return h;
    }
    private pending?: { what: string; refs: string[] };
    /** The next interface, reached from the last one by `what`; to the last one again: `what` goes with the next step. */
    to(h: Hop, what: string, refs: string[] = []): Hop {
        if (this.last?.id === h.id) {
            this.pending = { what: [this.pending?.what, what].filter(Boolean).join("; "), refs: [...(this.pending?.refs ?? []), ...refs] };
            return h;
        }
        if (this.last) {
            const p = this.pending;
            this.pending = undefined;
            this.steps.push({
                from: this.last.id,
                to: h.id,
                what: [p?.what, what].filter(Boolean).join("; "),
                refs: [...(p?.refs ?? []), ...refs],
                findings: [],
            });
        }
        this.last = h;
        return h;
    }
    start(h: Hop): Hop {
        this.last = h;
        return h;
    }
}

const find = (ifs: Iface[] | undefined, name: string) => ifs?.find((i) => i.name === name);

/** The host's end of a pod's eth0 (its peer's ifindex in the host's namespace). */
function hostVeth(node: NodeFacts | undefined, podEth0: Iface | undefined, podIp?: string): Iface | undefined {
    if (!node) return undefined;
    let eth0 = podEth0;
    if (!eth0 && podIp)
        eth0 = node.netns.flatMap((n) => n.interfaces).find((i) => i.name === "eth0" && i.addresses.some((a) => ipv4(a) === podIp));
    const idx = eth0?.peer?.index;
    return idx === undefined ? undefined : node.interfaces.find((i) => i.index === idx);
}

const nodeByName = (f: Facts, name?: string) => f.nodes.find((n) => n.name === name || n.host === name);
const podCidr = (f: Facts, n: NodeFacts) => f.k8s?.nodes.find((k) => k.name === n.name)?.podCIDR;
const nodeOfIp = (f: Facts, ip: string) => f.nodes.find((n) => inCidr(ip, podCidr(f, n) ?? "0.0.0.0/32"));

/** The VM's side, from its guest to its node's cni0 (or the reverse), as hops. */
function vmSide(b: Builder, f: Facts, vm: string, outward: boolean, via: string, refs: string[] = []): void {
    const l = f.launchers.find((x) => x.vm === vm);
    const pod = l ? `pod ${l.namespace}/${l.pod}` : `pod ${f.lab.namespace}/virt-launcher-${vm}-?`;
    const node = nodeByName(f, l?.node ?? f.lab.vms.find((v) => v.name === vm)?.node);
    const host = node?.host ?? "?";
    const g = f.guests.find((x) => x.vm === vm);
    const gEth0 = find(g && !g.error ? g.interfaces : l?.guestView, "eth0");
    const chain: [Hop, string][] = [
        [b.hop(host, `guest ${vm}`, gEth0, "eth0"), ""],
        [b.hop(host, pod, find(l?.interfaces, "vnet0"), "vnet0"), "the VM's NIC and its tap vnet0 (here a veth pair)"],
        [b.hop(host, pod, find(l?.interfaces, "br1"), "br1"), "port of br1 (bridged)"],
        [b.hop(host, pod, find(l?.interfaces, "eth0"), "eth0"), "port of br1 (bridged)"],
        [b.hop(host, "host", hostVeth(node, find(l?.interfaces, "eth0")), "veth"), "veth pair"],
        [b.hop(host, "host", find(node?.interfaces, "cni0"), "cni0"), "port of cni0 (bridged)"],
    ];
    if (outward) {
        b.to(chain[0][0], via, refs);
        for (let i = 1; i < chain.length; i++) b.to(chain[i][0], chain[i][1]);
    } else {
        for (let i = chain.length - 1; i >= 0; i--)
            b.to(chain[i][0], i === chain.length - 1 ? via : chain[i + 1][1], i === chain.length - 1 ? refs : []);
    }
}

/** From cni0 of `from` to cni0 of the node that holds `ip`: nothing when it is the same node, else the overlay. */
function between(b: Builder, f: Facts, from: NodeFacts | undefined, ip: string, what: string, refs: string[]): NodeFacts | undefined {
    const to = nodeOfIp(f, ip);
    if (!from || !to || from === to) return to ?? from;
    const route = from.routes.find((r) => r.dst === podCidr(f, to));
    const fl = find(from.interfaces, "flannel.1");
    const vx = fl?.vxlan;
    b.to(
        b.hop(from.host, "host", fl, "flannel.1"),
        `${what}; route ${route ? `${route.dst} via ${route.gateway ?? "-"} dev ${route.dev}${route.onlink ? " onlink" : ""}` : `to ${ip}: none (see the findings)`}`,
        [...refs, `route ${from.host}`],
    );
    b.to(
        b.hop(from.host, "host", find(from.interfaces, vx?.dev ?? "eth0") ?? find(from.interfaces, "eth0"), "eth0"),
        `VXLAN VNI ${vx?.id ?? "?"}: encapsulated`,
    );
    b.to(b.hop(to.host, "host", find(to.interfaces, "eth0"), "eth0"), `UDP ${vx?.port ?? 8472} to ${to.address}`, [
        `vxlan ${from.host}`,
        `vxlan ${to.host}`,
    ]);
    b.to(b.hop(to.host, "host", find(to.interfaces, "flannel.1"), "flannel.1"), "decapsulated");
    b.to(b.hop(to.host, "host", find(to.interfaces, "cni0"), "cni0"), `route ${podCidr(f, to) ?? "?"} dev cni0`, [`route ${to.host}`]);
    return to;
}

function serviceDnat(f: Facts, node: NodeFacts | undefined, svc: string): { text: string; endpoint?: string } {
    const chains = node?.iptables.services.filter((c) => c.service.startsWith(`${svc}:`)) ?? [];
    const s = f.k8s?.services.find((x) => `${x.namespace}/${x.name}` === svc);
    const c = chains[0];
    if (!c) return { text: `kube-proxy on ${node?.host ?? "?"}: no chain for ${svc}`, endpoint: s?.endpoints[0] };
    if (c.rejects || c.endpoints.length === 0)
        return { text: `kube-proxy on ${node?.host}: ${svc} ${c.clusterIP ?? ""}:${c.port ?? ""} REJECT (no endpoints)` };
    return {
        text: `kube-proxy on ${node?.host}: ${c.clusterIP}:${c.port} ${c.chain} DNAT to ${c.endpoints.join(" ")}`,
        endpoint: ipv4(c.endpoints[0].split(":")[0]),
    };
}

/** VM to VM: nodejs → the mongodb Service → the mongodb VM. */
export function vmToVm(f: Facts, findings: Finding[]): PacketPath {
    const b = new Builder();
    const ns = f.lab.namespace;
    const src = f.launchers.find((l) => l.vm === "nodejs");
    const srcNode = nodeByName(f, src?.node ?? f.lab.vms.find((v) => v.name === "nodejs")?.node);
    const svc = f.k8s?.services.find((s) => s.namespace === ns && s.name === "mongodb");
    const port = svc?.ports[0]?.port ?? 27017;
    vmSide(b, f, "nodejs", true, "");
    const dnat = serviceDnat(f, srcNode, `${ns}/mongodb`);
    const dst = f.launchers.find((l) => l.vm === "mongodb");
    const ip = dnat.endpoint ?? dst?.ip ?? "?";
    const to = between(b, f, srcNode, ip, `to mongodb ${svc?.clusterIP ?? "?"}:${port}: ${dnat.text}`, [
        `service ${ns}/mongodb`,
        `iptables ${srcNode?.host}`,
    ]);
    const mongoNode = nodeByName(f, dst?.node);
    const lastWhat =
        to === srcNode ? `to mongodb ${svc?.clusterIP ?? "?"}:${port}: ${dnat.text}; route ${ip} dev cni0` : `to ${ip}:${port}`;
    if (to && mongoNode && to !== mongoNode) b.gaps.push(`the endpoint ${ip} is on ${to.host}, the VM mongodb on ${mongoNode.host}`);
    vmSide(b, f, "mongodb", false, lastWhat, to === srcNode ? [`service ${ns}/mongodb`, `iptables ${srcNode?.host}`] : []);
    return finish(
        b,
        findings,
        "vm-to-vm",
        `VM to VM: nodejs (${srcNode?.host ?? "?"}) → Service ${ns}/mongodb → the mongodb VM (${mongoNode?.host ?? "?"})`,
    );
}

/** Ingress to VM: a client → NodePort (the wildcard's node) → the nginx pod → the nodejs VM. */
export function ingressToVm(f: Facts, findings: Finding[]): PacketPath {
    const b = new Builder();
    const ns = f.lab.namespace;
    const np = f.lab.ingressHttpNodePort;
    const host = `nodejs.ingress.${f.lab.domain}`;
    const entry =
        f.nodes.find((n) => n.address === f.dns?.wildcard.answer) ?? nodeByName(f, f.lab.vms.find((v) => v.name === "nodejs")?.node);
    const client = b.start(b.hop("client", "client", { name: "client", addresses: [] }, "client"));
    client.iface = "client (this machine)";
    b.gaps.pop();
    const dnat = serviceDnat(f, entry, "ingress-nginx/ingress-nginx");
    const nodePortChain = entry?.iptables.services.find((c) => c.service.startsWith("ingress-nginx/ingress-nginx:") && c.nodePort === np);
    const ctlIp = nodePortChain?.endpoints[0]?.split(":")[0] ?? dnat.endpoint;
    b.to(
        b.hop(entry?.host ?? "?", "host", find(entry?.interfaces, "eth0"), "eth0"),
        `${host} → ${f.dns?.wildcard.answer ?? "?"} (DNS wildcard); TCP ${np}`,
        [`dns ${f.dns?.server}`],
    );
    const ctl = f.k8s?.pods.find((p) => p.namespace === "ingress-nginx" && p.labels.app === "ingress-nginx" && p.phase === "Running");
    const natText = nodePortChain
        ? `kube-proxy KUBE-NODEPORTS :${np} ${nodePortChain.chain} DNAT to ${nodePortChain.endpoints.join(" ") || "nothing"}`
        : `kube-proxy on ${entry?.host ?? "?"}: no NodePort ${np}`;
    const ctlNode = nodeByName(f, ctl?.node);
    let at = entry;
    if (ctlIp && entry) at = between(b, f, entry, ctlIp, natText, ["service ingress-nginx/ingress-nginx", `iptables ${entry.host}`]);
    const sameNode = at === entry;
    const cni0 = b.hop(at?.host ?? "?", "host", find(at?.interfaces, "cni0"), "cni0");
    if (sameNode)
        b.to(cni0, `${natText}; route ${ctlIp ?? "?"} dev cni0`, ["service ingress-nginx/ingress-nginx", `iptables ${entry?.host}`]);
    const ctlPod = `pod ingress-nginx/${ctl?.name ?? "?"}`;
    const ctlEth0 = at?.netns.flatMap((n) => n.interfaces).find((i) => i.name === "eth0" && i.addresses.some((a) => ipv4(a) === ctl?.ip));
    const veth = hostVeth(at, ctlEth0, ctl?.ip);
    b.to(b.hop(at?.host ?? "?", "host", veth, "veth"), "port of cni0 (bridged)");
    const podEth0 = b.hop(
        at?.host ?? "?",
        ctlPod,
        ctlEth0 ?? { name: "eth0", addresses: ctl?.ip ? [`${ctl.ip}`] : [], mtu: veth?.mtu },
        "eth0",
    );
    b.to(podEth0, "veth pair");
    const up = f.k8s?.services.find((s) => s.namespace === ns && s.name === "nodejs");
    const vmIp = up?.endpoints[0] ?? f.launchers.find((l) => l.vm === "nodejs")?.ip ?? "?";
    const nginxWhat = `nginx: Host ${host} → upstream ${ns}/nodejs ${vmIp}:${up?.ports[0]?.port ?? 8080} (its endpoints)`;
    b.to(b.hop(at?.host ?? "?", "host", veth, "veth"), `${nginxWhat}; veth pair`, [`service ${ns}/nodejs`]);
    b.to(b.hop(at?.host ?? "?", "host", find(at?.interfaces, "cni0"), "cni0"), "port of cni0 (bridged)");
    const vmNode = between(b, f, at, vmIp, `to ${vmIp}`, [`service ${ns}/nodejs`]);
    vmSide(b, f, "nodejs", false, vmNode === at ? "" : `to ${vmIp}`);
    if (ctlNode && entry && ctlNode !== entry && !b.gaps.length)
        b.gaps.push(`the wildcard points at ${entry.host}; the controller runs on ${ctlNode.host}`);
    return finish(
        b,
        findings,
        "ingress-to-vm",
        `Ingress to VM: client → ${entry?.host ?? "?"}:${np} (NodePort) → nginx pod ${ctl?.ip ?? "?"} (${ctlNode?.host ?? "?"}) → the nodejs VM`,
    );
}

/** Findings on the hops (same host, namespace, interface) or steps (an object they go through) of the path. */
function finish(b: Builder, findings: Finding[], name: PacketPath["name"], title: string): PacketPath {
    const elsewhere: Finding[] = [];
    for (const x of findings) {
        const p = x.place;
        const hops = b.hops.filter(
            (h) => h.host === p.host && h.namespace === (p.namespace ?? "host") && p.interface !== undefined && h.iface === p.interface,
        );
        const refs = [
            p.object,
            p.object === "iptables" ? `iptables ${p.host}` : undefined,
            p.namespace === "host" && (p.interface === "flannel.1" || p.interface === "eth0") ? `vxlan ${p.host}` : undefined,
        ];
        const steps = hops.length ? [] : b.steps.filter((s) => refs.some((r) => r && s.refs.includes(r)));
        hops.forEach((h) => h.findings.push(x));
        steps.forEach((s) => s.findings.push(x));
        if (!hops.length && !steps.length) elsewhere.push(x);
    }
    return { name, title, hops: b.hops, steps: b.steps, gaps: [...new Set(b.gaps)], elsewhere };
}

export function paths(f: Facts, findings: Finding[]): PacketPath[] {
    return [vmToVm(f, findings), ingressToVm(f, findings)];
}

// ---------- text ----------

const hopText = (h: Hop) =>
    `${h.iface}${h.address ? ` ${h.address}` : ""}${h.mtu ? ` mtu ${h.mtu}` : ""} [${h.host}${h.namespace === "host" ? "" : `, ${h.namespace}`}]`;

/** The path as numbered lines: each interface in order with its host, namespace, address and MTU. */
export function pathText(p: PacketPath): string[] {
    const out = [`${p.title}:`];
    const byId = new Map(p.hops.map((h) => [h.id, h]));
    const first = p.steps[0] ? byId.get(p.steps[0].from) : p.hops[0];
    if (first) out.push(`   ${hopText(first)}${first.findings.map((x) => `  <- ${x.severity.toUpperCase()} ${x.id}`).join("")}`);
    p.steps.forEach((s, i) => {
        const h = byId.get(s.to)!;
        out.push(
            `${String(i + 1).padStart(2)}. ${s.what ? `(${s.what}) ` : ""}${s.findings.map((x) => `<- ${x.severity.toUpperCase()} ${x.id} `).join("")}`,
        );
        out.push(`   ${hopText(h)}${h.findings.map((x) => `  <- ${x.severity.toUpperCase()} ${x.id}`).join("")}`);
    });
    for (const g of p.gaps) out.push(`   (not in the facts: ${g})`);
    return out;
}

// ---------- Graphviz ----------

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const wrap = (s: string, n = 48): string[] => {
    const out: string[] = [];
    let line = "";
    for (const w of s.split(" ")) {
        if (line && line.length + w.length + 1 > n) {
            out.push(line);
            line = w;
        } else line = line ? `${line} ${w}` : w;
    }
    if (line) out.push(line);
    return out;
};

const COLORS: Record<string, string> = { host: "#e8eef7", pod: "#eaf5ea", guest: "#fff5e0", client: "#f2f2f2" };

/** How deep an interface sits, from the guest (0) down to the node's eth0 and the client. */
function depth(h: Hop): number {
    if (h.host === "client") return 8;
    if (h.namespace.startsWith("guest ")) return 0;
    if (h.namespace.startsWith("pod ")) return h.iface === "vnet0" ? 1 : h.iface === "br1" ? 2 : 3;
    return ({ cni0: 5, "flannel.1": 6, eth0: 7 } as Record<string, number>)[h.iface] ?? 4;
}

/** The path as a Graphviz digraph: hosts as boxes, pods and guests inside them, numbered hops. */
export function pathDot(p: PacketPath, f: Facts): string {
    const lines = [
        `digraph "${p.name}" {`,
        `  graph [rankdir=TB, fontname="Helvetica", fontsize=12, labelloc=t, label=<<b>${esc(p.title)}</b><br/><font point-size="10">kubevirt-lab diagnose, stack ${esc(f.lab.stack)}, ${esc(f.collectedAt)}</font>>, nodesep=0.35, ranksep=0.35, newrank=true];`,
        `  node [shape=box, style="rounded,filled", fillcolor=white, fontname="Helvetica", fontsize=10];`,
        `  edge [fontname="Helvetica", fontsize=9, color="#555555"];`,
    ];
    const ids = new Map(p.hops.map((h, i) => [h.id, `n${i}`]));
    const nodeLine = (h: Hop) => {
        const bad = h.findings.length > 0;
        const rows = [
            `<b>${esc(h.iface)}</b>${h.kind ? ` <font point-size="8">(${esc(h.kind)})</font>` : ""}`,
            ...(h.address ? [esc(h.address)] : []),
            ...(h.mtu ? [`mtu ${h.mtu}`] : []),
            ...h.findings.map((x) => `<font color="#b00000"><b>${x.severity === "warning" ? "WARNING" : "FAULT"}</b> ${esc(x.id)}</font>`),
        ];
        return `${ids.get(h.id)} [label=<${rows.join("<br/>")}>${bad ? `, color="#b00000", penwidth=2.5, fillcolor="#ffe5e5"` : ""}];`;
    };
    const hosts = [...new Set(p.hops.map((h) => h.host))];
    hosts.forEach((host, hi) => {
        const mine = p.hops.filter((h) => h.host === host);
        if (host === "client") {
            mine.forEach((h) => lines.push(`  ${nodeLine(h).replace("fillcolor=white", "")}`.replace(/label=</, `shape=ellipse, label=<`)));
            return;
        }
        const n = f.nodes.find((x) => x.host === host);
        lines.push(
            `  subgraph cluster_${hi} {`,
            `    label=<<b>${esc(n?.name ?? host)}</b> ${esc(n?.address ?? "")}>; style="rounded,filled"; fillcolor="${COLORS.host}"; color="#8899aa";`,
        );
        const spaces = [...new Set(mine.map((h) => h.namespace))];
        // the host's own interfaces, then each pod, the guest drawn inside its launcher pod
        for (const h of mine.filter((x) => x.namespace === "host")) lines.push(`    ${nodeLine(h)}`);
        spaces
            .filter((s) => s.startsWith("pod "))
            .forEach((pod, pi) => {
                lines.push(
                    `    subgraph cluster_${hi}_${pi} {`,
                    `      label=<${esc(pod)}>; style="rounded,filled"; fillcolor="${COLORS.pod}"; color="#77aa77";`,
                );
                for (const h of mine.filter((x) => x.namespace === pod)) lines.push(`      ${nodeLine(h)}`);
                const vm = pod.includes("virt-launcher-")
                    ? (f.launchers.find((l) => pod === `pod ${l.namespace}/${l.pod}`)?.vm ?? /virt-launcher-([a-z0-9]+)-/.exec(pod)?.[1])
                    : undefined;
                const guest = vm ? mine.filter((x) => x.namespace === `guest ${vm}`) : [];
                if (guest.length) {
                    lines.push(
                        `      subgraph cluster_${hi}_${pi}_g {`,
                        `        label=<VM ${esc(vm!)} (guest)>; style="rounded,filled"; fillcolor="${COLORS.guest}"; color="#cc9944";`,
                    );
                    for (const h of guest) lines.push(`        ${nodeLine(h)}`);
                    lines.push(`      }`);
                }
                lines.push(`    }`);
            });
        // a guest whose launcher pod is not on the path (it is always on it): drawn on its own
        for (const g of spaces.filter(
            (s) => s.startsWith("guest ") && !spaces.some((x) => x.startsWith("pod ") && x.includes(`virt-launcher-${s.slice(6)}-`)),
        )) {
            lines.push(
                `    subgraph cluster_${hi}_${g.replace(/\W/g, "_")} {`,
                `      label=<${esc(g)}>; style="rounded,filled"; fillcolor="${COLORS.guest}";`,
            );
            for (const h of mine.filter((x) => x.namespace === g)) lines.push(`      ${nodeLine(h)}`);
            lines.push(`    }`);
        }
        lines.push(`  }`);
    });
    // Top to bottom as the post's figures: the guest above its pod, the pod above its host's
    // interfaces, eth0 at the bottom, the client below; a step going up is declared downwards and
    // drawn backwards, so that every host reads the same way whatever the direction of the path.
    const byId = new Map(p.hops.map((h) => [h.id, h]));
    p.steps.forEach((s, i) => {
        const bad = s.findings.length > 0;
        const text = [`${i + 1}. ${s.what}`, ...s.findings.map((x) => `${x.severity === "warning" ? "WARNING" : "FAULT"} ${x.id}`)];
        const label = text
            .flatMap((t) => wrap(t, 40))
            .map(esc)
            .join("<br/>");
        const style = bad ? `, color="#b00000", fontcolor="#b00000", penwidth=2.5` : "";
        const up = depth(byId.get(s.from)!) > depth(byId.get(s.to)!);
        const [a, b] = up ? [s.to, s.from] : [s.from, s.to];
        lines.push(`  ${ids.get(a)} -> ${ids.get(b)} [label=<${label}>${up ? ", dir=back" : ""}${style}];`);
        // two nodes' eth0, side by side, the first node on the left
        const from = byId.get(s.from)!;
        const to = byId.get(s.to)!;
        if (from.host !== to.host && depth(from) === depth(to)) lines.push(`  { rank=same; ${ids.get(s.from)}; ${ids.get(s.to)}; }`);
    });
    if (p.elsewhere.length) {
        const rows = p.elsewhere.map((x) =>
            wrap(`${x.severity === "warning" ? "WARNING" : "FAULT"} ${x.id}: ${x.title}`, 60)
                .map(esc)
                .join("<br/>"),
        );
        lines.push(`  elsewhere [shape=note, fillcolor="#fff0f0", label=<<b>not on this path</b><br/>${rows.join("<br/>")}>];`);
    }
    lines.push("}");
    return lines.join("\n") + "\n";
}
