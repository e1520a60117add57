// The facts, the findings and the paths as the text `npm run diagnose` prints, layer by layer in
// the post's order (Kubernetes, host, pod, VM, ingress), then the findings, then the paths.
import { Facts, Iface, NodeFacts, Route } from "./facts";
import { Finding } from "./rules";
import { PacketPath, pathText } from "./draw";

const ifaceText = (i: Iface): string =>
    `${i.name}${i.kind ? ` (${i.kind}${i.vxlan ? ` id ${i.vxlan.id ?? "?"} port ${i.vxlan.port ?? "?"}` : ""})` : ""} ${i.addresses.join(" ") || "no IPv4"} mtu ${i.mtu}${i.master ? ` master ${i.master}` : ""}`;
const routeText = (r: Route): string =>
    `${r.dst}${r.gateway ? ` via ${r.gateway}` : ""}${r.dev ? ` dev ${r.dev}` : ""}${r.onlink ? " onlink" : ""}${r.src ? ` src ${r.src}` : ""}`;

/** The interfaces the post names on a node: eth0, flannel.1, cni0 and cni0's ports (the veths). */
function nodeLines(n: NodeFacts, podCidr?: string): string[] {
    if (n.error) return [`## host ${n.host} (${n.address}): not read: ${n.error}`];
    const named = ["eth0", "flannel.1", "cni0"].map((x) => n.interfaces.find((i) => i.name === x)).filter((i): i is Iface => !!i);
    const ports = n.bridgePorts.filter((p) => p.master === "cni0");
    const sys = Object.entries(n.sysctl).map(([k, v]) => `${k.replace(/^net\.(bridge\.)?/, "")} ${v ?? "missing"}`);
    const ipt = n.iptables;
    const svc = ipt.services
        .filter((s) => !s.service.startsWith("kube-system/") || s.service.startsWith("kube-system/kube-dns"))
        .map(
            (s) =>
                `  ${s.service} ${s.clusterIP ?? "-"}:${s.port ?? "-"}${s.nodePort ? ` NodePort ${s.nodePort}` : ""} -> ${s.rejects ? "REJECT (no endpoints)" : s.endpoints.join(" ") || "nothing"}${s.chain ? ` (${s.chain})` : ""}`,
        );
    return [
        `## host ${n.host} (${n.name} ${n.address}${podCidr ? `, pod CIDR ${podCidr}` : ""})`,
        ...named.map((i) => `  ${ifaceText(i)}`),
        `  cni0 ports: ${ports.map((p) => `${p.name} (mtu ${p.mtu ?? "?"}, ${p.state ?? "?"})`).join(", ") || "none"}`,
        `  routes: ${n.routes.map(routeText).join("; ")}`,
        `  flannel subnet.env: ${n.flannel ? `FLANNEL_SUBNET=${n.flannel.subnet ?? "?"} FLANNEL_MTU=${n.flannel.mtu ?? "?"}` : "none"}; VTEPs: ${n.vteps.map((v) => `${v.mac} -> ${v.dst}`).join(", ") || "none"}`,
        `  overlay: ${n.overlayPings.map((p) => `ping ${p.address} ${p.answered ? "answered" : "NO ANSWER"}`).join(", ") || "no other node's flannel.1 routed"}`,
        `  sysctl: ${sys.join(", ")}`,
        `  iptables: ${ipt.version || "?"}; rules nf_tables ${ipt.ruleCount.nft ?? "-"}, legacy ${ipt.ruleCount.legacy ?? "-"}${ipt.vxlanDrops.length ? `; dropping VXLAN: ${ipt.vxlanDrops.join(" | ")}` : ""}`,
        `  kube-proxy's chains:`,
        ...svc,
        `  listening (NodePorts): ${
            n.listening
                .filter((l) => l.port >= 30000 && l.port <= 32767)
                .map((l) => `${l.port}${l.program ? ` ${l.program}` : ""}`)
                .join(", ") || "none"
        }`,
    ];
}

export function reportText(f: Facts, findings: Finding[], paths: PacketPath[], pictures: string[]): string[] {
    const out: string[] = [];
    const k = f.k8s;
    out.push(
        `diagnose: stack ${f.lab.stack}, ${f.nodes.length} nodes, ${f.lab.vms.length} VMs, collected in ${((f.timings.total ?? 0) / 1000).toFixed(1)} s`,
    );
    out.push("", "# Kubernetes-level");
    if (!k) out.push(`  the API was not read: ${f.k8sError ?? "?"}`);
    else {
        for (const n of k.nodes)
            out.push(`  node ${n.name} ${n.address ?? "?"} pod CIDR ${n.podCIDR ?? "none"} ${n.ready ? "Ready" : "NotReady"}`);
        for (const s of k.services.filter((x) => x.namespace === f.lab.namespace || x.namespace === "ingress-nginx"))
            out.push(
                `  service ${s.namespace}/${s.name} ${s.type} ${s.clusterIP ?? "-"} ${s.ports.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ""}/${p.protocol}`).join(",")} endpoints ${s.endpoints.map((e) => `${e}:${s.endpointPorts.join(",")}`).join(" ") || "<none>"}`,
            );
        for (const vm of f.lab.vms) {
            const p = k.pods.find((x) => x.labels["kubevirt.io/domain"] === vm.name && x.labels["kubevirt.io"] === "virt-launcher");
            out.push(
                `  VM ${vm.name}: ${p ? `pod ${p.name} ${p.ip ?? "no IP"} on ${p.node ?? "?"} (${p.phase})` : "no virt-launcher pod"}`,
            );
        }
        for (const i of k.ingresses)
            for (const r of i.rules) out.push(`  ingress ${i.namespace}/${i.name}: ${r.host} -> ${r.service}:${r.port}`);
    }
    out.push("", "# Host-level");
    for (const n of f.nodes) out.push(...nodeLines(n, k?.nodes.find((x) => x.name === n.name)?.podCIDR));
    out.push("", "# Pod-level (virt-launcher, kubectl exec -c compute)");
    for (const l of f.launchers) {
        if (l.error) {
            out.push(`## pod ${l.namespace}/${l.pod} (${l.node}): not read: ${l.error}`);
            continue;
        }
        out.push(`## pod ${l.namespace}/${l.pod} on ${l.node ?? "?"}, pod IP ${l.ip ?? "?"} (the VM ${l.vm}'s)`);
        for (const i of l.interfaces) out.push(`  ${ifaceText(i)}`);
        out.push(
            `  br1 ports: ${
                l.bridgePorts
                    .filter((p) => p.master === "br1")
                    .map((p) => `${p.name} (${p.state ?? "?"})`)
                    .join(", ") || "none"
            }`,
        );
        out.push(`  routes: ${l.routes.map(routeText).join("; ") || "none"}`);
        out.push(
            `  DHCP server: ${l.dhcp.map((s) => `${s.local}${s.program ? ` (${s.program})` : ""}`).join(", ") || "nothing on UDP 67"}`,
        );
        if (l.domain)
            out.push(
                `  domain interface: ${l.domain.target ?? "?"} bridge ${l.domain.bridge ?? "?"} model ${l.domain.model ?? "?"} mac ${l.domain.mac ?? "?"}`,
            );
    }
    out.push("", "# VM-level (ssh through the NodePorts)");
    for (const g of f.guests) {
        if (g.error) {
            const seen = f.launchers.find((l) => l.vm === g.vm)?.guestView;
            out.push(`## VM ${g.vm} (${g.via}): not reached: ${g.error}`);
            if (seen) out.push(`  seen from its launcher: ${seen.map(ifaceText).join("; ")}`);
            continue;
        }
        out.push(
            `## VM ${g.vm} (${g.hostname ?? "?"}, ssh via ${g.via}, host key ${g.hostKey === "not recorded" ? "not recorded by the stack (no app stage yet): accepted as offered" : "as the app stage recorded it"})`,
        );
        for (const i of g.interfaces) out.push(`  ${ifaceText(i)}`);
        out.push(`  routes: ${g.routes.map(routeText).join("; ") || "none"}`);
        if (g.resolv)
            out.push(`  resolv.conf: search ${g.resolv.search.join(" ") || "-"}; nameserver ${g.resolv.nameservers.join(" ") || "-"}`);
        out.push(
            `  pings to its gateway: ${g.pings.map((p) => `${p.size} bytes ${p.answered ? "answered" : "NO ANSWER"}`).join(", ") || "none"}`,
        );
        out.push(
            `  app: ${Object.entries(g.units)
                .map(([u, s]) => `${u} ${s}`)
                .join(", ")}; listening ${g.listening.filter((p) => p !== 22).join(", ") || "nothing but ssh"}`,
        );
    }
    out.push("", "# Ingress");
    const ctl = k?.pods.find((p) => p.namespace === "ingress-nginx" && p.labels.app === "ingress-nginx");
    out.push(`  controller: ${ctl ? `${ctl.name} ${ctl.ip ?? "?"} on ${ctl.node ?? "?"} (${ctl.phase})` : "not found"}`);
    if (f.dns) out.push(`  DNS ${f.dns.server}: ${f.dns.wildcard.name} -> ${f.dns.wildcard.answer ?? f.dns.wildcard.error ?? "?"}`);
    if (f.page)
        out.push(
            `  the app: GET ${f.page.url}${f.page.via ? ` via ${f.page.via}` : ""}: ${f.page.status !== undefined ? `HTTP ${f.page.status}${f.page.count !== undefined ? `, pageCount ${f.page.count}` : f.page.status >= 500 ? " (no endpoint answering behind nginx)" : ""}` : f.page.error}`,
        );
    out.push(
        "",
        `# Findings: ${findings.filter((x) => x.severity === "fault").length} fault(s), ${findings.filter((x) => x.severity === "warning").length} warning(s)`,
    );
    // what could not be read: its findings are missing
    const unread = [
        ...f.nodes.filter((n) => n.error).map((n) => `host ${n.host}: ${n.error}`),
        ...(f.k8sError ? [`the API: ${f.k8sError}`] : []),
        ...f.launchers.filter((l) => l.error).map((l) => `pod ${l.namespace}/${l.pod}: ${l.error}`),
    ];
    for (const u of unread) out.push(`NOT READ ${u}`);
    for (const x of findings) {
        const p = x.place;
        const where = [p.layer, p.host, p.namespace, p.interface, p.object].filter(Boolean).join(" / ");
        out.push("", `${x.severity.toUpperCase()} ${x.id}: ${x.title}`, `  where: ${where}`);
        for (const e of x.evidence) out.push(`  evidence: ${e}`);
        out.push(`  breaks: ${x.breaks}`);
        for (const fx of x.fix) out.push(`  fix: ${fx}`);
        for (const s of x.sources) out.push(`  source: ${s.title} <${s.url}>`);
    }
    out.push("", "# Packet paths");
    for (const p of paths) out.push(...pathText(p), "");
    if (pictures.length) out.push(...pictures.map((p) => `picture: ${p}`));
    return out;
}
