// The facts of `npm run diagnose`: what each layer of the post's deep dive shows, parsed from the
// machine-readable output of the commands collect.ts runs (ip -j, bridge -j, iptables-save, ss,
// kubectl -o json). Everything here is a pure function of text, so that the rules (rules.ts) and
// the pictures (draw.ts) run the same on the lab and on the recorded facts of the tests.
import { cidrContains, parseCidr, parseIPv4 } from "../../components/config";

/** An interface as `ip -j -d link` / `ip -j addr` show it. */
export interface Iface {
    name: string;
    index: number;
    /** veth, bridge, vxlan, ... (linkinfo.info_kind); undefined for a plain device (the lab's guest eth0 is a veth). */
    kind?: string;
    mtu: number;
    mac?: string;
    state?: string;
    /** The bridge it is a port of. */
    master?: string;
    /** IPv4 addresses, CIDR. */
    addresses: string[];
    /** A veth's other end: its ifindex and, when in another namespace, that namespace's id here. */
    peer?: { index: number; netnsId?: number };
    /** A vxlan device's VNI, UDP port and underlay device. */
    vxlan?: { id?: number; port?: number; local?: string; dev?: string };
}

export interface Route {
    dst: string;
    gateway?: string;
    dev?: string;
    onlink?: boolean;
    src?: string;
    proto?: string;
}

export interface BridgePort {
    name: string;
    master: string;
    state?: string;
    mtu?: number;
}

/** kube-proxy's chains for one Service port ("<ns>/<name>:<port name>", as its comments say). */
export interface ServiceChain {
    service: string;
    clusterIP?: string;
    port?: number;
    protocol?: string;
    nodePort?: number;
    /** KUBE-SVC-... */
    chain?: string;
    /** The DNAT targets of its KUBE-SEP-... chains, "ip:port". */
    endpoints: string[];
    /** kube-proxy's REJECT in the filter table: "has no endpoints". */
    rejects: boolean;
}

export interface IptablesFacts {
    /** What `iptables` is on the host: its `-V` line. */
    version: string;
    backend: "nf_tables" | "legacy" | "unknown";
    /** Rules (-A lines) of each backend; undefined when the host has no such program. */
    ruleCount: { legacy?: number; nft?: number };
    /** The rules of each backend that are not kube-proxy's or flannel's (KUBE-*, FLANNEL), at most 10. */
    otherRules: { legacy: string[]; nft: string[] };
    /** kube-proxy's rules (KUBE-*) in each backend. */
    kubeRules: { legacy: number; nft: number };
    services: ServiceChain[];
    /** Rules that drop or reject UDP to the VXLAN port (8472), with their backend and table. */
    vxlanDrops: string[];
}

export interface NodeFacts {
    /** Short name (kn1), full name and address, as the stack has them. */
    host: string;
    name: string;
    address: string;
    /** Why the host could not be read (then the rest is empty). */
    error?: string;
    interfaces: Iface[];
    routes: Route[];
    bridgePorts: BridgePort[];
    /** net.bridge.bridge-nf-call-iptables, ... : the value, or null when the key is missing. */
    sysctl: Record<string, string | null>;
    /** /run/flannel/subnet.env: FLANNEL_NETWORK, FLANNEL_SUBNET, FLANNEL_MTU. */
    flannel?: { network?: string; subnet?: string; mtu?: number };
    iptables: IptablesFacts;
    /** TCP ports listened on, with the program (kube-proxy holds the NodePorts). */
    listening: { port: number; program?: string }[];
    /** The pods' network namespaces (CNI's, under /run/netns) and their interfaces. */
    netns: { name: string; interfaces: Iface[] }[];
    /** One ping of each other node's flannel.1 address over the overlay. */
    overlayPings: { address: string; answered: boolean }[];
    /** flannel.1's forwarding entries: a VTEP MAC to the node address it is sent to. */
    vteps: { mac: string; dst: string }[];
}

export interface LauncherFacts {
    namespace: string;
    pod: string;
    vm: string;
    node?: string;
    ip?: string;
    error?: string;
    interfaces: Iface[];
    routes: Route[];
    bridgePorts: BridgePort[];
    /** UDP sockets on port 67 (`ss -uanp`): local address (0.0.0.0%br1:67) and the program. */
    dhcp: { local: string; program?: string }[];
    /** The pod's own firewall rules that drop or reject UDP to port 67 (iptables-save in the pod). */
    dhcpDrops: string[];
    /** The domain's interface, from its XML (where libvirt keeps a live domain's). */
    domain?: { target?: string; bridge?: string; model?: string; mac?: string };
    /** The lab's guest seen from the launcher (its namespaces; a QEMU guest cannot be seen so). */
    guestView?: Iface[];
}

export interface GuestFacts {
    vm: string;
    /** How it was reached: "<node address>:<NodePort>". */
    via: string;
    /** Its SSH host key: checked against the one the app stage recorded, or not recorded (accepted as offered). */
    hostKey?: "recorded" | "not recorded";
    error?: string;
    hostname?: string;
    interfaces: Iface[];
    routes: Route[];
    resolv?: { search: string[]; nameservers: string[]; header?: string };
    /** systemctl is-active of the app's units. */
    units: Record<string, string>;
    /** TCP ports listened on in the guest. */
    listening: number[];
    /** Pings to the guest's gateway: a small one and one of the guest's full MTU, don't-fragment. */
    pings: { to: string; size: number; answered: boolean }[];
}

export interface K8sService {
    namespace: string;
    name: string;
    type: string;
    clusterIP?: string;
    selector: Record<string, string>;
    ports: { name?: string; port: number; targetPort?: number | string; nodePort?: number; protocol: string }[];
    /** The Endpoints' ready addresses ("ip") and ports. */
    endpoints: string[];
    endpointPorts: number[];
}

export interface K8sPod {
    namespace: string;
    name: string;
    node?: string;
    ip?: string;
    phase?: string;
    hostNetwork: boolean;
    labels: Record<string, string>;
}

export interface K8sFacts {
    nodes: { name: string; address?: string; podCIDR?: string; ready: boolean }[];
    services: K8sService[];
    pods: K8sPod[];
    ingresses: { namespace: string; name: string; rules: { host: string; service: string; port: number | string }[] }[];
}

export interface DnsFacts {
    server: string;
    /** `<probe>.ingress.<domain>`: what the wildcard answers. */
    wildcard: { name: string; answer?: string; error?: string };
}

/** What the stack says the lab is (the settings the rules compare with). */
export interface LabFacts {
    stack: string;
    domain: string;
    podNetworkCidr: string;
    namespace: string;
    /** Each VM: the node it is pinned to (full name) and its SSH NodePort. */
    vms: { name: string; node: string; sshNodePort: number }[];
    ingressHttpNodePort: number;
    guestUser: string;
}

export interface Facts {
    version: 1;
    collectedAt: string;
    lab: LabFacts;
    nodes: NodeFacts[];
    k8s?: K8sFacts;
    /** Why the API could not be read. */
    k8sError?: string;
    launchers: LauncherFacts[];
    guests: GuestFacts[];
    dns?: DnsFacts;
    /** The post's check, read-only: GET http://nodejs.ingress.<domain>:<port>/ through the wildcard. */
    page?: { url: string; via?: string; status?: number; count?: string; error?: string };
    /** Milliseconds each part took. */
    timings: Record<string, number>;
}

// ---------- sections ----------

/** `### netfacts <name> <rc>` sections (netfacts.sh; the launcher's and the guest's scripts print the same). */
export function splitSections(text: string, tag = "netfacts"): Map<string, { rc: number; body: string }> {
    const out = new Map<string, { rc: number; body: string }>();
    const re = new RegExp(`^### ${tag} (.+) (\\d+)$`);
    let cur: { name: string; rc: number; lines: string[] } | undefined;
    const close = () => {
        if (cur) out.set(cur.name, { rc: cur.rc, body: cur.lines.join("\n").trim() });
    };
    for (const line of text.split("\n")) {
        const m = re.exec(line);
        if (m) {
            close();
            cur = { name: m[1], rc: Number(m[2]), lines: [] };
        } else if (cur) cur.lines.push(line);
    }
    close();
    return out;
}

function json<T>(body: string | undefined, fallback: T): T {
    if (!body) return fallback;
    try {
        return JSON.parse(body) as T;
    } catch {
        return fallback;
    }
}

// ---------- ip -j ----------

interface IpLink {
    ifindex: number;
    ifname: string;
    mtu: number;
    address?: string;
    operstate?: string;
    master?: string;
    link_index?: number;
    link_netnsid?: number;
    linkinfo?: { info_kind?: string; info_data?: { id?: number; port?: number; local?: string; link?: string } };
    addr_info?: { family: string; local: string; prefixlen: number }[];
}

/** `ip -j -d link` and `ip -j addr` (either may be missing) → interfaces, by ifindex. */
export function parseInterfaces(linkJson: string | undefined, addrJson: string | undefined): Iface[] {
    const links = json<IpLink[]>(linkJson, []);
    const addrs = json<IpLink[]>(addrJson, []);
    const byIndex = new Map<number, Iface>();
    const get = (l: IpLink): Iface => {
        let i = byIndex.get(l.ifindex);
        if (!i) {
            i = { name: l.ifname, index: l.ifindex, mtu: l.mtu, addresses: [] };
            byIndex.set(l.ifindex, i);
        }
        return i;
    };
    for (const l of [...links, ...addrs]) {
        const i = get(l);
        i.mtu = l.mtu ?? i.mtu;
        if (l.address && l.address !== "00:00:00:00:00:00") i.mac = l.address;
        if (l.operstate) i.state = l.operstate;
        if (l.master) i.master = l.master;
        if (l.link_index !== undefined)
            i.peer = { index: l.link_index, ...(l.link_netnsid !== undefined ? { netnsId: l.link_netnsid } : {}) };
        const kind = l.linkinfo?.info_kind;
        if (kind) i.kind = kind;
        if (kind === "vxlan") {
            const d = l.linkinfo?.info_data ?? {};
            i.vxlan = { id: d.id, port: d.port, local: d.local, dev: d.link };
        }
        for (const a of l.addr_info ?? [])
            if (a.family === "inet" && !i.addresses.includes(`${a.local}/${a.prefixlen}`)) i.addresses.push(`${a.local}/${a.prefixlen}`);
    }
    return [...byIndex.values()].filter((i) => i.name !== "lo").sort((a, b) => a.index - b.index);
}

/** `ip -j route` → routes. */
export function parseRoutes(body: string | undefined): Route[] {
    const rs = json<{ dst: string; gateway?: string; dev?: string; flags?: string[]; prefsrc?: string; protocol?: string }[]>(body, []);
    return rs.map((r) => ({
        dst: r.dst,
        ...(r.gateway ? { gateway: r.gateway } : {}),
        ...(r.dev ? { dev: r.dev } : {}),
        ...(r.flags?.includes("onlink") ? { onlink: true } : {}),
        ...(r.prefsrc ? { src: r.prefsrc } : {}),
        ...(r.protocol ? { proto: r.protocol } : {}),
    }));
}

/** `bridge -j link` → the bridges' ports. */
export function parseBridgePorts(body: string | undefined): BridgePort[] {
    const ps = json<{ ifname: string; master?: string; state?: string; mtu?: number }[]>(body, []);
    return ps.filter((p) => p.master).map((p) => ({ name: p.ifname, master: p.master!, state: p.state, mtu: p.mtu }));
}

// ---------- iptables-save ----------

/** The words of an iptables-save line, its double quotes honoured (`--comment "a b"`). */
export function words(line: string): string[] {
    const out: string[] = [];
    const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
    for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : m[2]);
    return out;
}

export interface Rule {
    table: string;
    chain: string;
    line: string;
    args: string[];
}

/** iptables-save's text → its -A rules, with their table. */
export function parseRules(text: string | undefined): Rule[] {
    const out: Rule[] = [];
    let table = "";
    for (const line of (text ?? "").split("\n")) {
        if (line.startsWith("*")) table = line.slice(1).trim();
        else if (line.startsWith("-A ")) {
            const args = words(line);
            out.push({ table, chain: args[1], line, args });
        }
    }
    return out;
}

const opt = (args: string[], name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
};

/** kube-proxy's chains per Service port, from the nat and filter rules. */
export function serviceChains(rules: Rule[]): ServiceChain[] {
    const byName = new Map<string, ServiceChain>();
    const svc = (name: string): ServiceChain => {
        let s = byName.get(name);
        if (!s) {
            s = { service: name, endpoints: [], rejects: false };
            byName.set(name, s);
        }
        return s;
    };
    const sepTargets = new Map<string, string>();
    const svcSeps = new Map<string, string[]>();
    for (const r of rules) {
        const comment = opt(r.args, "--comment");
        const jump = opt(r.args, "-j");
        if (r.table === "nat" && r.chain.startsWith("KUBE-SEP-") && jump === "DNAT") {
            const to = opt(r.args, "--to-destination");
            if (to) sepTargets.set(r.chain, to);
        } else if (r.table === "nat" && r.chain.startsWith("KUBE-SVC-") && jump?.startsWith("KUBE-SEP-")) {
            svcSeps.set(r.chain, [...(svcSeps.get(r.chain) ?? []), jump]);
        }
        if (!comment || !jump) continue;
        if (r.table === "nat" && r.chain === "KUBE-SERVICES" && jump.startsWith("KUBE-SVC-") && comment.endsWith(" cluster IP")) {
            const s = svc(comment.slice(0, -" cluster IP".length));
            s.clusterIP = opt(r.args, "-d")?.replace(/\/32$/, "");
            s.port = Number(opt(r.args, "--dport")) || undefined;
            s.protocol = opt(r.args, "-p");
            s.chain = jump;
        } else if (r.table === "nat" && r.chain === "KUBE-NODEPORTS" && jump.startsWith("KUBE-SVC-")) {
            const s = svc(comment);
            s.nodePort = Number(opt(r.args, "--dport")) || undefined;
            s.chain ??= jump;
        } else if (r.table === "filter" && jump === "REJECT" && comment.endsWith(" has no endpoints")) {
            const s = svc(comment.slice(0, -" has no endpoints".length));
            s.rejects = true;
            s.clusterIP ??= opt(r.args, "-d")?.replace(/\/32$/, "");
            s.port ??= Number(opt(r.args, "--dport")) || undefined;
        }
    }
    for (const s of byName.values()) {
        for (const sep of (s.chain && svcSeps.get(s.chain)) || []) {
            const to = sepTargets.get(sep);
            if (to && !s.endpoints.includes(to)) s.endpoints.push(to);
        }
    }
    return [...byName.values()].sort((a, b) => a.service.localeCompare(b.service));
}

const isOwnRule = (r: Rule): boolean => /KUBE-|FLANNEL|flanneld|cali-|CNI-/.test(r.line);

/** The rules that drop or reject UDP to `port` (flannel's VXLAN port, the DHCP server's), as "-t <table> <line>". */
export function udpDrops(rules: Rule[], port: number): string[] {
    return rules
        .filter((r) => {
            const jump = opt(r.args, "-j");
            if (jump !== "DROP" && jump !== "REJECT") return false;
            const proto = opt(r.args, "-p");
            const dport = opt(r.args, "--dport") ?? opt(r.args, "--dports");
            return (proto === "udp" || proto === "17") && !!dport && dport.split(",").some((p) => portIn(p, port));
        })
        .map((r) => `-t ${r.table} ${r.line}`);
}

function portIn(spec: string, port: number): boolean {
    const [a, b] = spec.split(":").map(Number);
    return b === undefined ? a === port : port >= (a || 0) && port <= (b || 65535);
}

/** What a host's iptables programs said → the facts of both backends. */
export function iptablesFacts(sections: Map<string, { rc: number; body: string }>, vxlanPort: number): IptablesFacts {
    const version = sections.get("iptables-version")?.body.split("\n")[0] ?? "";
    const backend = /nf_tables/.test(version) ? "nf_tables" : /legacy|v1\.[0-7]\./.test(version) ? "legacy" : "unknown";
    const read = (name: string): Rule[] | undefined => {
        const s = sections.get(name);
        return s && s.rc === 0 ? parseRules(s.body) : undefined;
    };
    const main = read("iptables-save") ?? [];
    // A host with one program only (CentOS 7's iptables 1.4) has its rules in iptables-save.
    const legacy = read("iptables-legacy-save") ?? (backend === "legacy" ? main : undefined);
    const nft = read("iptables-nft-save") ?? (backend === "nf_tables" ? main : undefined);
    const used = backend === "legacy" ? (legacy ?? main) : (nft ?? main);
    const all = [...(legacy ?? []).map((r) => ({ ...r, b: "legacy" })), ...(nft ?? []).map((r) => ({ ...r, b: "nft" }))];
    return {
        version,
        backend,
        ruleCount: { legacy: legacy?.length, nft: nft?.length },
        otherRules: {
            legacy: (legacy ?? [])
                .filter((r) => !isOwnRule(r))
                .map((r) => `-t ${r.table} ${r.line}`)
                .slice(0, 10),
            nft: (nft ?? [])
                .filter((r) => !isOwnRule(r))
                .map((r) => `-t ${r.table} ${r.line}`)
                .slice(0, 10),
        },
        kubeRules: {
            legacy: (legacy ?? []).filter((r) => r.line.includes("KUBE-")).length,
            nft: (nft ?? []).filter((r) => r.line.includes("KUBE-")).length,
        },
        services: serviceChains(used),
        vxlanDrops: all.flatMap((r) => udpDrops([r], vxlanPort).map((l) => `${r.b === "legacy" ? "iptables-legacy" : "iptables"} ${l}`)),
    };
}

// ---------- the rest of a host ----------

/** `KEY=value` lines (subnet.env). */
export function parseEnv(body: string | undefined): Record<string, string> {
    const out: Record<string, string> = {};
    for (const line of (body ?? "").split("\n")) {
        const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
        if (m) out[m[1]] = m[2];
    }
    return out;
}

/** `ss -Hltnp` → the ports listened on (and the program, when ss named it). */
export function parseListening(body: string | undefined): { port: number; program?: string }[] {
    const out: { port: number; program?: string }[] = [];
    for (const line of (body ?? "").split("\n")) {
        const f = line.trim().split(/\s+/);
        if (f.length < 4) continue;
        const local = f[3];
        const port = Number(local.slice(local.lastIndexOf(":") + 1));
        if (!Number.isInteger(port) || port <= 0) continue;
        const program = /users:\(\("([^"]+)"/.exec(line)?.[1];
        if (!out.some((p) => p.port === port)) out.push({ port, ...(program ? { program } : {}) });
    }
    return out.sort((a, b) => a.port - b.port);
}

/** The output of netfacts.sh on a node → its facts. */
export function parseNode(host: string, name: string, address: string, stdout: string): NodeFacts {
    const s = splitSections(stdout);
    const body = (k: string) => s.get(k)?.body;
    const interfaces = parseInterfaces(body("ip-link"), body("ip-addr"));
    const vxlanPort = interfaces.find((i) => i.name === "flannel.1")?.vxlan?.port ?? 8472;
    const sysctl: Record<string, string | null> = {};
    for (const line of (body("sysctl") ?? "").split("\n")) {
        const [k, v] = line.trim().split(/\s+/);
        if (k) sysctl[k] = v === "missing" || v === undefined ? null : v;
    }
    const env = parseEnv(body("subnet-env"));
    const netns: NodeFacts["netns"] = [];
    const pings: NodeFacts["overlayPings"] = [];
    for (const [k, v] of s) {
        if (k.startsWith("netns-addr "))
            netns.push({ name: k.slice("netns-addr ".length), interfaces: parseInterfaces(undefined, v.body) });
        if (k.startsWith("ping ")) pings.push({ address: k.slice(5), answered: v.rc === 0 });
    }
    const fdb = json<{ mac: string; dst?: string }[]>(body("fdb-flannel"), []);
    return {
        host,
        name,
        address,
        interfaces,
        routes: parseRoutes(body("ip-route")),
        bridgePorts: parseBridgePorts(body("bridge-link")),
        sysctl,
        ...(s.get("subnet-env")?.rc === 0
            ? { flannel: { network: env.FLANNEL_NETWORK, subnet: env.FLANNEL_SUBNET, mtu: Number(env.FLANNEL_MTU) || undefined } }
            : {}),
        iptables: iptablesFacts(s, vxlanPort),
        listening: parseListening(body("listen")),
        netns,
        overlayPings: pings,
        vteps: fdb.filter((e) => e.dst).map((e) => ({ mac: e.mac, dst: e.dst! })),
    };
}

// ---------- the pod and the guest ----------

/** `ss -Huanp` lines on port 67 → the DHCP server's sockets. */
export function parseDhcpSockets(body: string | undefined): LauncherFacts["dhcp"] {
    const out: LauncherFacts["dhcp"] = [];
    for (const line of (body ?? "").split("\n")) {
        const f = line.trim().split(/\s+/);
        // Netid? State Recv-Q Send-Q Local Peer [users]: the local address is the one ending in :67
        const local = f.find((w) => /:67$/.test(w));
        if (!local) continue;
        const program = /users:\(\("([^"]+)"/.exec(line)?.[1];
        out.push({ local, ...(program ? { program } : {}) });
    }
    return out;
}

/** The first `<interface type='bridge'>` of a libvirt domain XML. */
export function parseDomainInterface(xml: string | undefined): LauncherFacts["domain"] | undefined {
    if (!xml) return undefined;
    const m = /<interface\b[^>]*>([\s\S]*?)<\/interface>/.exec(xml);
    if (!m) return undefined;
    const attr = (el: string, a: string) => new RegExp(`<${el}\\b[^>]*\\b${a}=['"]([^'"]+)['"]`).exec(m[1])?.[1];
    return { target: attr("target", "dev"), bridge: attr("source", "bridge"), model: attr("model", "type"), mac: attr("mac", "address") };
}

/** The launcher script's output (collect.ts LAUNCHER_SCRIPT) → the pod's facts. */
export function parseLauncher(base: Pick<LauncherFacts, "namespace" | "pod" | "vm" | "node" | "ip">, stdout: string): LauncherFacts {
    const s = splitSections(stdout);
    const body = (k: string) => s.get(k)?.body;
    const guest = s.get("guest-addr");
    return {
        ...base,
        interfaces: parseInterfaces(body("ip-link"), body("ip-addr")),
        routes: parseRoutes(body("ip-route")),
        bridgePorts: parseBridgePorts(body("bridge-link")),
        dhcp: parseDhcpSockets(body("ss-udp")),
        dhcpDrops: udpDrops(parseRules(body("iptables-save")), 67).map((r) => `iptables ${r}`),
        ...(parseDomainInterface(body("domain")) ? { domain: parseDomainInterface(body("domain")) } : {}),
        ...(guest && guest.rc === 0 && guest.body ? { guestView: parseInterfaces(undefined, guest.body) } : {}),
    };
}

/** resolv.conf → search and nameservers (and the first comment line, dhclient-script's). */
export function parseResolv(body: string | undefined): GuestFacts["resolv"] {
    const out: NonNullable<GuestFacts["resolv"]> = { search: [], nameservers: [] };
    for (const line of (body ?? "").split("\n")) {
        const f = line.trim().split(/\s+/);
        if (f[0] === "search") out.search.push(...f.slice(1));
        else if (f[0] === "nameserver" && f[1]) out.nameservers.push(f[1]);
        else if (/^[;#]/.test(line) && out.header === undefined) out.header = line.trim();
    }
    return out;
}

/** The guest script's output (collect.ts GUEST_SCRIPT) → the guest's facts. */
export function parseGuest(vm: string, via: string, stdout: string): GuestFacts {
    const s = splitSections(stdout);
    const body = (k: string) => s.get(k)?.body;
    const units: Record<string, string> = {};
    for (const line of (body("units") ?? "").split("\n")) {
        const [u, st] = line.trim().split(/\s+/);
        if (u) units[u] = st ?? "unknown";
    }
    const pings: GuestFacts["pings"] = [];
    for (const [k, v] of s) {
        const m = /^ping (\S+) (\d+)$/.exec(k);
        if (m) pings.push({ to: m[1], size: Number(m[2]), answered: v.rc === 0 });
    }
    return {
        vm,
        via,
        hostname: body("hostname")?.trim() || undefined,
        interfaces: parseInterfaces(body("ip-link"), body("ip-addr")),
        routes: parseRoutes(body("ip-route")),
        resolv: parseResolv(body("resolv")),
        units,
        listening: parseListening(body("listen")).map((p) => p.port),
        pings,
    };
}

// ---------- the API ----------

/* eslint-disable @typescript-eslint/no-explicit-any -- the API's JSON, read field by field */
/** `kubectl get nodes,pods,services,endpoints,ingresses --all-namespaces -o json` → the objects the post reads. */
export function parseK8s(listJson: string): K8sFacts {
    const list = JSON.parse(listJson) as { items: any[] };
    const facts: K8sFacts = { nodes: [], services: [], pods: [], ingresses: [] };
    const endpoints = new Map<string, { ips: string[]; ports: number[] }>();
    for (const o of list.items ?? []) {
        const md = o.metadata ?? {};
        switch (o.kind) {
            case "Node":
                facts.nodes.push({
                    name: md.name,
                    address: (o.status?.addresses ?? []).find((a: any) => a.type === "InternalIP")?.address,
                    podCIDR: o.spec?.podCIDR,
                    ready: (o.status?.conditions ?? []).some((c: any) => c.type === "Ready" && c.status === "True"),
                });
                break;
            case "Pod":
                facts.pods.push({
                    namespace: md.namespace,
                    name: md.name,
                    node: o.spec?.nodeName,
                    ip: o.status?.podIP,
                    phase: o.status?.phase,
                    hostNetwork: o.spec?.hostNetwork === true,
                    labels: md.labels ?? {},
                });
                break;
            case "Service":
                facts.services.push({
                    namespace: md.namespace,
                    name: md.name,
                    type: o.spec?.type ?? "ClusterIP",
                    clusterIP: o.spec?.clusterIP,
                    selector: o.spec?.selector ?? {},
                    ports: (o.spec?.ports ?? []).map((p: any) => ({
                        ...(p.name ? { name: p.name } : {}),
                        port: p.port,
                        targetPort: p.targetPort,
                        ...(p.nodePort ? { nodePort: p.nodePort } : {}),
                        protocol: p.protocol ?? "TCP",
                    })),
                    endpoints: [],
                    endpointPorts: [],
                });
                break;
            case "Endpoints": {
                const ips: string[] = [];
                const ports: number[] = [];
                for (const sub of o.subsets ?? []) {
                    for (const a of sub.addresses ?? []) if (!ips.includes(a.ip)) ips.push(a.ip);
                    for (const p of sub.ports ?? []) if (!ports.includes(p.port)) ports.push(p.port);
                }
                endpoints.set(`${md.namespace}/${md.name}`, { ips, ports });
                break;
            }
            case "Ingress":
                facts.ingresses.push({
                    namespace: md.namespace,
                    name: md.name,
                    rules: (o.spec?.rules ?? []).flatMap((r: any) =>
                        (r.http?.paths ?? []).map((p: any) => ({
                            host: r.host,
                            service: p.backend?.serviceName,
                            port: p.backend?.servicePort,
                        })),
                    ),
                });
                break;
        }
    }
    for (const s of facts.services) {
        const e = endpoints.get(`${s.namespace}/${s.name}`);
        if (e) {
            s.endpoints = e.ips;
            s.endpointPorts = e.ports;
        }
    }
    return facts;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

// ---------- helpers the rules and pictures share ----------

export const ipv4 = (cidr: string): string => cidr.split("/")[0];

const int = (ip: string): number => parseIPv4(ipv4(ip)) ?? -1;
const dotted = (v: number): string => [24, 16, 8, 0].map((sh) => (v >>> sh) & 255).join(".");

/** Whether `ip` (or a CIDR's address) is in `cidr` (whose host bits may be set, as on an interface). */
export function inCidr(ip: string, cidr: string): boolean {
    const [net, bits] = cidr.split("/");
    const c = parseCidr(`${network(`${net}/${bits ?? 32}`)}/${bits ?? 32}`);
    return !!c && cidrContains(c, int(ip));
}

/** The network address of a CIDR (10.244.1.1/24 → 10.244.1.0) and its first host (.1). */
export function network(cidr: string): string {
    const [net, bits] = cidr.split("/");
    const n = Number(bits ?? 32);
    const mask = n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0;
    return dotted((int(net) & mask) >>> 0);
}
export const firstHost = (cidr: string): string => dotted(int(network(cidr)) + 1);
