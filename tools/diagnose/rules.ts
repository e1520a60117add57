// The known faults of the post's network, each a pure function of the facts (facts.ts): where it
// sits, the evidence, what it breaks and why, how to fix it, and where that is written down.
import { Facts, Iface, LauncherFacts, NodeFacts, firstHost, inCidr, ipv4, network } from "./facts";
import * as sysctlStep from "../../steps/sysctl/step";

export type Layer = "kubernetes" | "host" | "pod" | "vm" | "ingress";

/** Where a finding sits: a layer of the post, and there a host, a namespace (pod or guest) and an interface or object. */
export interface Place {
    layer: Layer;
    host?: string;
    /** "pod <ns>/<name>", "guest <vm>", "host" (the node's own namespace). */
    namespace?: string;
    interface?: string;
    object?: string;
}

export interface Source {
    title: string;
    url: string;
}

export interface Finding {
    id: RuleId;
    /** The post's own warning is a warning; everything else a fault. */
    severity: "warning" | "fault";
    title: string;
    place: Place;
    evidence: string[];
    /** What it breaks, and why. */
    breaks: string;
    /** Settings and commands that fix it, in the order to try them. */
    fix: string[];
    sources: Source[];
}

export const SOURCES = {
    post: { title: "KubeVirt Network Deep Dive (the post)", url: "https://kubevirt.io/2018/KubeVirt-Network-Deep-Dive.html" },
    kubevirtMtu: {
        title: "KubeVirt issue 987: MTU inside VM doesn't reflect tap device MTU",
        url: "https://github.com/kubevirt/kubevirt/issues/987",
    },
    kubevirtMtuFix: {
        title: "KubeVirt issue 1060: MTU mismatch, `ip link set eth0 mtu 1450` solved it (DHCP option 26 from v0.5.1)",
        url: "https://github.com/kubevirt/kubevirt/issues/1060",
    },
    k8sNetworkPlugins: {
        title: "Kubernetes: Network Plugins, requirements (net/bridge/bridge-nf-call-iptables)",
        url: "https://kubernetes.io/docs/concepts/extend-kubernetes/compute-storage-net/network-plugins/",
    },
    k8sBridgeNf: {
        title: "Kubernetes issue 87426: Pod service endpoint unreachable from same host (bridge-nf-call-iptables)",
        url: "https://github.com/kubernetes/kubernetes/issues/87426",
    },
    flannelBackends: {
        title: "Flannel: Backends, VXLAN (UDP port 8472 on Linux; open the backend's port in the firewall)",
        url: "https://github.com/flannel-io/flannel/blob/master/Documentation/backends.md",
    },
    flannel8472: {
        title: "Flannel issue 1039: pods on other nodes unreachable until UDP 8472 was opened",
        url: "https://github.com/flannel-io/flannel/issues/1039",
    },
    flannelTroubleshooting: {
        title: "Flannel: Troubleshooting (connectivity, logs, the node's public IP)",
        url: "https://github.com/flannel-io/flannel/blob/master/Documentation/troubleshooting.md",
    },
    k8sDebugService: {
        title: "Kubernetes: Debug Services (does the Service have any Endpoints?)",
        url: "https://kubernetes.io/docs/tasks/debug/debug-application/debug-service/",
    },
    staleCni0: {
        title: "Kubernetes issue 39557: after kubeadm reset, cni0 keeps the old subnet (ip link delete cni0)",
        url: "https://github.com/kubernetes/kubernetes/issues/39557",
    },
    flannelCleanup: {
        title: "Flannel issue 820: flannel.1 keeps the old cluster's address after a reset",
        url: "https://github.com/flannel-io/flannel/issues/820",
    },
    iptablesNft: {
        title: "Kubernetes issue 71305: kube-proxy incompatible with iptables >= 1.8 (nf_tables vs legacy)",
        url: "https://github.com/kubernetes/kubernetes/issues/71305",
    },
    iptablesLegacyLeft: {
        title: "Kubernetes issue 109811: rules left in iptables-legacy after the switch to nf_tables send Services astray",
        url: "https://github.com/kubernetes/kubernetes/issues/109811",
    },
    flannelRoutes: {
        title: "Flannel issue 1034: IP routes different between nodes (a node missing a subnet's route)",
        url: "https://github.com/flannel-io/flannel/issues/1034",
    },
    kubevirtDhcp: {
        title: "KubeVirt issue 7979: VM cannot obtain an IP address via DHCP in bridge mode (is the launcher's DHCP server serving?)",
        url: "https://github.com/kubevirt/kubevirt/issues/7979",
    },
    kubevirtDhcpWin: {
        title: "KubeVirt issue 789: a VM failed to get its IP from the launcher's DHCP server",
        url: "https://github.com/kubevirt/kubevirt/issues/789",
    },
} as const;

export const RULE_IDS = [
    "guest-mtu-above-overlay",
    "bridge-nf-call-iptables-off",
    "vxlan-blocked",
    "overlay-unreachable",
    "service-no-endpoints",
    "service-endpoints-not-vm",
    "dns-wildcard-not-ingress-node",
    "stale-cni0",
    "stale-flannel1",
    "iptables-split-backends",
    "pod-cidr-route-missing",
    "dhcp-not-answering",
    "guest-no-address",
    "guest-unreachable",
    "vm-not-running",
] as const;
export type RuleId = (typeof RULE_IDS)[number];

const mtuOf = (ifs: Iface[], name: string): number | undefined => ifs.find((i) => i.name === name)?.mtu;
const has = (n: NodeFacts) => !n.error;
const nodeOf = (f: Facts, name?: string): NodeFacts | undefined => f.nodes.find((n) => n.name === name || n.host === name);
const podCidrOf = (f: Facts, n: NodeFacts): string | undefined => f.k8s?.nodes.find((k) => k.name === n.name)?.podCIDR;

/** The guest's eth0 as the guest says it, else as the launcher sees the lab's guest. */
function guestEth0(f: Facts, vm: string): { iface?: Iface; seen: "ssh" | "launcher" | "none" } {
    const g = f.guests.find((x) => x.vm === vm);
    const viaSsh = g && !g.error ? g.interfaces.find((i) => i.name === "eth0") : undefined;
    if (viaSsh) return { iface: viaSsh, seen: "ssh" };
    const viaLauncher = f.launchers.find((l) => l.vm === vm)?.guestView?.find((i) => i.name === "eth0");
    return viaLauncher ? { iface: viaLauncher, seen: "launcher" } : { seen: "none" };
}

const launcherPlace = (l: LauncherFacts) => `pod ${l.namespace}/${l.pod}`;

// ---------- the rules ----------

type Rule = (f: Facts) => Finding[];

const guestMtu: Rule = (f) =>
    f.launchers.flatMap((l) => {
        const { iface } = guestEth0(f, l.vm);
        const node = nodeOf(f, l.node);
        const upstream = [
            ["vnet0", mtuOf(l.interfaces, "vnet0")],
            ["br1", mtuOf(l.interfaces, "br1")],
            ["the pod's eth0", mtuOf(l.interfaces, "eth0")],
            ...(node ? ([["flannel.1", mtuOf(node.interfaces, "flannel.1")]] as const) : []),
        ].filter((x): x is [string, number] => typeof x[1] === "number");
        if (!iface || upstream.length === 0) return [];
        const min = Math.min(...upstream.map(([, m]) => m));
        if (iface.mtu <= min) return [];
        return [
            {
                id: "guest-mtu-above-overlay" as const,
                severity: "warning" as const,
                title: `the VM ${l.vm}'s eth0 has MTU ${iface.mtu}, above the ${min} of the pod network under it`,
                place: { layer: "vm" as const, host: node?.host ?? l.node, namespace: `guest ${l.vm}`, interface: "eth0" },
                evidence: [
                    `guest ${l.vm}: eth0 mtu ${iface.mtu}${iface.addresses[0] ? ` (${iface.addresses[0]})` : ""}`,
                    `upstream: ${upstream.map(([n, m]) => `${n} ${m}`).join(", ")}`,
                    ...pingEvidence(f, l.vm),
                ],
                breaks:
                    `the guest sends frames of up to ${iface.mtu} bytes, which vnet0 (${mtuOf(l.interfaces, "vnet0") ?? min}) and the VXLAN overlay ` +
                    `(flannel.1 ${node ? mtuOf(node.interfaces, "flannel.1") : min}: 50 bytes of each 1500 go to the encapsulation) cannot carry: ` +
                    `a full-size packet from the VM is dropped at vnet0 without an ICMP "fragmentation needed", so large UDP datagrams and ` +
                    `don't-fragment packets vanish (a PMTU black hole); TCP survives by the MSS the peers announce, until a path's MSS is bigger ` +
                    `than what fits (large replies stall). KubeVirt 0.4.1's DHCP server sends no MTU option, so the guest keeps its NIC's default 1500.`,
                fix: [
                    `in the guest, now: sudo ip link set dev eth0 mtu ${min}`,
                    `for good (the Fedora guest): MTU=${min} in /etc/sysconfig/network-scripts/ifcfg-eth0 (or a cloud-init network config with mtu: ${min})`,
                    "KubeVirt from v0.5.1 sends the pod's MTU as DHCP option 26 (and later in the domain XML): upgrading KubeVirt fixes it at the source",
                ],
                sources: [SOURCES.post, SOURCES.kubevirtMtu, SOURCES.kubevirtMtuFix],
            },
        ];
    });

function pingEvidence(f: Facts, vm: string): string[] {
    const g = f.guests.find((x) => x.vm === vm);
    if (!g || g.error) return [];
    return g.pings.map((p) => `ping -M do -s ${p.size} ${p.to} from the guest: ${p.answered ? "answered" : "no answer"}`);
}

const bridgeNf: Rule = (f) =>
    f.nodes.filter(has).flatMap((n) => {
        const v = n.sysctl["net.bridge.bridge-nf-call-iptables"];
        if (v === "1" || v === undefined) return [];
        const missing = v === null;
        return [
            {
                id: "bridge-nf-call-iptables-off" as const,
                severity: "fault" as const,
                title: `${n.host}: net.bridge.bridge-nf-call-iptables is ${missing ? "missing (br_netfilter is not loaded)" : v}`,
                place: { layer: "host" as const, host: n.host, namespace: "host", interface: "cni0" },
                evidence: [`/proc/sys/net/bridge/bridge-nf-call-iptables on ${n.host}: ${missing ? "no such file" : v}`],
                breaks:
                    "packets bridged on cni0 (pod to pod on the same node) skip iptables, so kube-proxy's NAT is not undone on the way back: " +
                    "a pod (or VM) reaching a Service whose endpoint is on the same node gets the reply from the endpoint's pod IP instead of the " +
                    "ClusterIP and drops it (same-node Services and kube-dns time out; Flannel's documentation and the post require it)",
                fix: [
                    ...(missing ? [`on ${n.host}: modprobe br_netfilter`] : []),
                    `on ${n.host}: sysctl -w net.bridge.bridge-nf-call-iptables=1`,
                    `for good: ${sysctlStep.DEFAULT_LINES.find((l) => l.startsWith("net.bridge.bridge-nf-call-iptables "))} in ${sysctlStep.FILE}, then sysctl --system (the lab's sysctl step: npm run drift, pulumi up)`,
                ],
                sources: [SOURCES.post, SOURCES.k8sNetworkPlugins, SOURCES.k8sBridgeNf],
            },
        ];
    });

const vxlanBlocked: Rule = (f) =>
    f.nodes.filter(has).flatMap((n) => {
        if (n.iptables.vxlanDrops.length === 0) return [];
        const port = n.interfaces.find((i) => i.name === "flannel.1")?.vxlan?.port ?? 8472;
        const fl = n.interfaces.find((i) => i.name === "flannel.1")?.addresses[0];
        const failed = f.nodes
            .filter((o) => o !== n && fl && o.overlayPings.some((p) => p.address === ipv4(fl) && !p.answered))
            .map((o) => o.host);
        return [
            {
                id: "vxlan-blocked" as const,
                severity: "fault" as const,
                title: `${n.host}: a firewall rule drops UDP ${port}, Flannel's VXLAN`,
                place: { layer: "host" as const, host: n.host, namespace: "host", interface: "eth0" },
                evidence: [
                    ...n.iptables.vxlanDrops.map((r) => `${n.host}: ${r}`),
                    ...(failed.length
                        ? [`the overlay to ${n.host}'s flannel.1 (${ipv4(fl!)}) does not answer from ${failed.join(", ")}`]
                        : []),
                ],
                breaks:
                    `every packet between pods of different nodes travels in a VXLAN datagram to UDP ${port} of the other node's eth0: with it dropped, ` +
                    `pods and VMs on ${n.host} cannot reach, or be reached from, pods on the other nodes (the VM-to-VM path, Services whose endpoints are elsewhere)`,
                fix: n.iptables.vxlanDrops
                    .map((r) => `on ${n.host}: ${r.replace(/ -A /, " -D ")}`)
                    .concat([
                        `or allow it: iptables -I INPUT -p udp --dport ${port} -j ACCEPT (firewalld: firewall-cmd --permanent --add-port=${port}/udp)`,
                    ]),
                sources: [SOURCES.flannelBackends, SOURCES.flannel8472],
            },
        ];
    });

const overlayUnreachable: Rule = (f) => {
    const explained = new Set(
        [...vxlanBlocked(f), ...podCidrRoutes(f), ...staleBridges(f).filter((x) => x.id === "stale-flannel1")].map((x) => x.place.host),
    );
    return f.nodes.filter(has).flatMap((n) => {
        const dead = n.overlayPings.filter((p) => !p.answered);
        if (dead.length === 0) return [];
        // The node whose flannel.1 does not answer; a firewall rule already found there says why.
        return (
            dead
                .map((p) => ({
                    p,
                    to: f.nodes.find((o) =>
                        o.interfaces.some((i) => i.name === "flannel.1" && i.addresses.some((a) => ipv4(a) === p.address)),
                    ),
                }))
                // a finding at either end (a VXLAN drop, a missing route, a stale flannel.1) already says why
                .filter(({ to }) => !explained.has(n.host) && (!to || !explained.has(to.host)))
                .map(({ p, to }) => ({
                    id: "overlay-unreachable" as const,
                    severity: "fault" as const,
                    title: `${n.host}: the overlay to ${to ? to.host : p.address} does not answer`,
                    place: { layer: "host" as const, host: n.host, namespace: "host", interface: "flannel.1" },
                    evidence: [`ping ${p.address} (${to ? `${to.host}'s flannel.1` : "a flannel.1 gateway"}) from ${n.host}: no answer`],
                    breaks: `pods and VMs on ${n.host} cannot reach pods on ${to ? to.host : "that node"}: VXLAN between the two nodes is lost somewhere`,
                    fix: [
                        `compare the VTEPs: bridge fdb show dev flannel.1 and ip neigh show dev flannel.1 on ${n.host} with the flannel.alpha.coreos.com annotations of the nodes`,
                        `look for UDP 8472 being dropped on the way (tcpdump -nni eth0 udp port 8472 on both nodes)`,
                        `restart the node's flannel pod: kubectl -n kube-system delete pod -l app=flannel --field-selector spec.nodeName=${n.name}`,
                    ],
                    sources: [SOURCES.flannelTroubleshooting, SOURCES.flannelBackends],
                }))
        );
    });
};

const services: Rule = (f) => {
    if (!f.k8s) return [];
    const out: Finding[] = [];
    const vmIp = (vm: string) =>
        f.k8s!.pods.find(
            (p) => p.labels["kubevirt.io/domain"] === vm && p.labels["kubevirt.io"] === "virt-launcher" && p.phase === "Running",
        )?.ip;
    const vmNames = new Set(f.lab.vms.map((v) => v.name));
    const checked = f.k8s.services.filter(
        (s) => s.namespace === f.lab.namespace || (s.namespace === "ingress-nginx" && s.name === "ingress-nginx"),
    );
    for (const s of checked) {
        const vm = s.namespace === f.lab.namespace ? s.name.replace(/-ssh$/, "") : undefined;
        const object = `service ${s.namespace}/${s.name}`;
        const chains = f.nodes.flatMap((n) =>
            n.iptables.services.filter((c) => c.service.startsWith(`${s.namespace}/${s.name}:`)).map((c) => ({ n, c })),
        );
        const kp = chains.length
            ? [
                  `kube-proxy on ${chains[0].n.host}: ${chains
                      .map(
                          ({ c }) => `${c.service} ${c.rejects ? "REJECT (has no endpoints)" : `-> ${c.endpoints.join(" ") || "nothing"}`}`,
                      )
                      .filter((x, i, a) => a.indexOf(x) === i)
                      .join("; ")}`,
              ]
            : [];
        const sel = Object.entries(s.selector)
            .map(([k, v]) => `${k}=${v}`)
            .join(",");
        if (s.endpoints.length === 0) {
            out.push({
                id: "service-no-endpoints",
                severity: "fault",
                title: `the Service ${s.namespace}/${s.name} has no endpoints`,
                place: { layer: "kubernetes", object },
                evidence: [`kubectl get endpoints -n ${s.namespace} ${s.name}: <none>`, `its selector: ${sel || "none"}`, ...kp],
                breaks:
                    `kube-proxy rejects every connection to ${s.clusterIP ?? "its ClusterIP"}${s.ports.map((p) => `:${p.port}`).join("")}` +
                    `${
                        s.ports.some((p) => p.nodePort)
                            ? ` and its NodePorts ${s.ports
                                  .filter((p) => p.nodePort)
                                  .map((p) => p.nodePort)
                                  .join(", ")}`
                            : ""
                    }` +
                    `: no pod matches the selector${vm && vmNames.has(vm) ? ` (the VM ${vm}'s launcher pod has kubevirt.io=virt-launcher, kubevirt.io/domain=${vm})` : ""}`,
                fix: [
                    ...(vm && vmNames.has(vm)
                        ? [
                              `kubectl -n ${s.namespace} patch service ${s.name} -p '{"spec":{"selector":{"kubevirt.io":"virt-launcher","kubevirt.io/domain":"${vm}"}}}'`,
                              `or bring the lab's objects back: pulumi up (npm run drift names the Service)`,
                          ]
                        : [`kubectl -n ${s.namespace} get pods --show-labels: make the selector match the pods that should serve it`]),
                ],
                sources: [SOURCES.post, SOURCES.k8sDebugService],
            });
            continue;
        }
        const want = vm && vmNames.has(vm) ? vmIp(vm) : undefined;
        if (want && (s.endpoints.length !== 1 || s.endpoints[0] !== want)) {
            out.push({
                id: "service-endpoints-not-vm",
                severity: "fault",
                title: `the Service ${s.namespace}/${s.name}'s endpoints are not the VM ${vm}'s pod IP ${want}`,
                place: { layer: "kubernetes", object },
                evidence: [
                    `kubectl get endpoints -n ${s.namespace} ${s.name}: ${s.endpoints.join(", ")}`,
                    `the VM ${vm}'s virt-launcher pod: ${want}`,
                    `its selector: ${sel || "none (Endpoints written by hand)"}`,
                    ...kp,
                ],
                breaks: `connections to ${s.namespace}/${s.name} go to ${s.endpoints.join(", ")}, not to the VM ${vm}: the wrong program answers, or nothing does`,
                fix: [
                    `kubectl -n ${s.namespace} patch service ${s.name} -p '{"spec":{"selector":{"kubevirt.io":"virt-launcher","kubevirt.io/domain":"${vm}"}}}'`,
                    `or bring the lab's objects back: pulumi up`,
                ],
                sources: [SOURCES.post, SOURCES.k8sDebugService],
            });
        }
    }
    return out;
};

const dnsWildcard: Rule = (f) => {
    if (!f.dns || !f.k8s) return [];
    const ctl = f.k8s.pods.find((p) => p.namespace === "ingress-nginx" && p.labels.app === "ingress-nginx" && p.phase === "Running");
    if (!ctl?.node) return [];
    const node = nodeOf(f, ctl.node);
    const want = node?.address ?? f.k8s.nodes.find((k) => k.name === ctl.node)?.address;
    const got = f.dns.wildcard.answer;
    if (!want || got === want) return [];
    const at = f.nodes.find((n) => n.address === got);
    return [
        {
            id: "dns-wildcard-not-ingress-node",
            severity: "fault",
            title: `*.ingress.${f.lab.domain} points at ${got ?? "nothing"}${at ? ` (${at.host})` : ""}, not at ${want} (${node?.host ?? ctl.node}), where the ingress controller runs`,
            place: { layer: "ingress", host: at?.host, object: `dns ${f.dns.server}` },
            evidence: [
                `dig @${f.dns.server} ${f.dns.wildcard.name}: ${got ?? f.dns.wildcard.error ?? "no answer"}`,
                `kubectl get pod -n ingress-nginx -o wide: ${ctl.name} ${ctl.ip} on ${ctl.node}`,
            ],
            breaks: got
                ? `clients reach the app through ${at ? `${at.host}'s` : `${got}'s`} NodePort ${f.lab.ingressHttpNodePort}: ${at ? `kube-proxy there forwards them over the overlay to the controller on ${node?.host ?? ctl.node} (masqueraded: nginx and the app lose the client's address), and when ${at.host} is down or drained the name stops answering although the controller runs` : "that address is no node of the lab: nothing answers"}; the post points the wildcard at the controller's node`
                : `the names under .ingress.${f.lab.domain} do not resolve: no client finds the app`,
            fix: [
                `on ${f.dns.server}: address=/.ingress.${f.lab.domain}/${want} in the dnsmasq file of the lab, then systemctl restart dnsmasq`,
                `with the stack: leave dnsIngressNode unset (the program follows the controller) or set it to ${node?.name ?? ctl.node}, then pulumi up (the DNS step)`,
            ],
            sources: [SOURCES.post],
        },
    ];
};

const staleBridges: Rule = (f) =>
    f.nodes.filter(has).flatMap((n) => {
        const cidr = podCidrOf(f, n);
        if (!cidr) return [];
        const out: Finding[] = [];
        const cni0 = n.interfaces.find((i) => i.name === "cni0");
        if (cni0) {
            const foreign = cni0.addresses.filter((a) => !inCidr(a, cidr));
            const gw = `${firstHost(cidr)}/${cidr.split("/")[1]}`;
            const missing = !cni0.addresses.includes(gw);
            if (foreign.length || missing) {
                out.push({
                    id: "stale-cni0",
                    severity: "fault",
                    title: `${n.host}: cni0 has ${foreign.length ? foreign.join(", ") : "no address"}${missing ? `, not ${gw}` : ""} (the node's pod CIDR is ${cidr})`,
                    place: { layer: "host", host: n.host, namespace: "host", interface: "cni0" },
                    evidence: [
                        `ip addr show cni0 on ${n.host}: ${cni0.addresses.join(", ") || "no IPv4"}`,
                        `kubectl get node ${n.name} -o jsonpath='{.spec.podCIDR}': ${cidr}`,
                        ...(n.flannel?.subnet ? [`/run/flannel/subnet.env: FLANNEL_SUBNET=${n.flannel.subnet}`] : []),
                    ],
                    breaks:
                        `the pods' gateway ${firstHost(cidr)} ${missing ? "is gone" : "shares cni0 with another subnet"}: pods and VMs on ${n.host} lose their default route ` +
                        `(nothing leaves the node), the node's route to ${cidr} ${missing ? "is gone with it" : "stays"}, and the bridge plugin refuses new pods ` +
                        `("cni0" already has an IP address different from ${gw}), as after a kubeadm reset and a join that got another pod CIDR`,
                    fix: [
                        ...foreign.map((a) => `on ${n.host}: ip addr del ${a} dev cni0`),
                        ...(missing ? [`on ${n.host}: ip addr add ${gw} dev cni0`] : []),
                        `after a reset, start clean: ip link set cni0 down && ip link delete cni0 on ${n.host}, then delete the node's pods (the bridge plugin makes cni0 again)`,
                    ],
                    sources: [SOURCES.staleCni0, SOURCES.flannelCleanup],
                });
            }
        }
        const fl = n.interfaces.find((i) => i.name === "flannel.1");
        if (fl) {
            const foreign = fl.addresses.filter((a) => !inCidr(a, cidr));
            if (foreign.length || fl.addresses.length === 0) {
                out.push({
                    id: "stale-flannel1",
                    severity: "fault",
                    title: `${n.host}: flannel.1 has ${foreign.join(", ") || "no address"}, outside the node's pod CIDR ${cidr}`,
                    place: { layer: "host", host: n.host, namespace: "host", interface: "flannel.1" },
                    evidence: [
                        `ip addr show flannel.1 on ${n.host}: ${fl.addresses.join(", ") || "no IPv4"}`,
                        `kubectl get node ${n.name} -o jsonpath='{.spec.podCIDR}': ${cidr}`,
                    ],
                    breaks:
                        `packets from ${n.host} into the overlay leave with a source in another node's subnet (or none): the other nodes send the ` +
                        `answers to that subnet's node, so the node itself (kube-proxy's NodePorts, probes) cannot reach pods elsewhere`,
                    fix: [
                        ...foreign.map((a) => `on ${n.host}: ip addr del ${a} dev flannel.1`),
                        `or recreate it: ip link delete flannel.1 on ${n.host}, then kubectl -n kube-system delete pod -l app=flannel --field-selector spec.nodeName=${n.name}`,
                    ],
                    sources: [SOURCES.flannelCleanup, SOURCES.staleCni0],
                });
            }
        }
        return out;
    });

const iptablesSplit: Rule = (f) =>
    f.nodes.filter(has).flatMap((n) => {
        const { legacy, nft } = n.iptables.ruleCount;
        if (!legacy || !nft) return [];
        const kube = n.iptables.kubeRules;
        const main = kube.nft >= kube.legacy ? "nft" : "legacy";
        const other = main === "nft" ? "legacy" : "nft";
        const tool = (b: string) => (b === "nft" ? "iptables-nft" : "iptables-legacy");
        return [
            {
                id: "iptables-split-backends" as const,
                severity: "fault" as const,
                title: `${n.host}: iptables rules in both backends (nf_tables ${nft}, legacy ${legacy})`,
                place: { layer: "host" as const, host: n.host, namespace: "host", object: "iptables" },
                evidence: [
                    `${n.host}: iptables is ${n.iptables.version || "unknown"}`,
                    `kube-proxy's rules (KUBE-*): ${kube.nft} in nf_tables, ${kube.legacy} in legacy`,
                    ...n.iptables.otherRules[other].slice(0, 5).map((r) => `${tool(other)}-save: ${r}`),
                ],
                breaks:
                    `the kernel runs both tables: a packet passes kube-proxy's rules in ${main === "nft" ? "nf_tables" : "legacy"} and the others in ` +
                    `${other === "nft" ? "nf_tables" : "legacy"}, which neither kube-proxy nor \`iptables -L\` here shows; a DROP or a NAT there overrides the ` +
                    `Services, and a kube-proxy (or flannel) image whose iptables is the other one writes its chains where the host's tools do not look`,
                fix: [
                    `see them: ${tool(other)}-save on ${n.host}`,
                    `move what is needed into ${main === "nft" ? "nf_tables" : "legacy"} (recreate each rule with ${tool(main)}), then empty the other: ${n.iptables.otherRules[
                        other
                    ]
                        .slice(0, 3)
                        .map((r) => `${tool(other)} ${r.replace(/ -A /, " -D ")}`)
                        .join("; ")}${n.iptables.otherRules[other].length ? "" : `${tool(other)} -F (per table: -t nat, -t mangle)`}`,
                    `make every program use one backend: update-alternatives --set iptables /usr/sbin/iptables-${main === "nft" ? "nft" : "legacy"} on the host, and the same in the images`,
                ],
                sources: [SOURCES.iptablesNft, SOURCES.iptablesLegacyLeft],
            },
        ];
    });

const podCidrRoutes: Rule = (f) => {
    if (!f.k8s) return [];
    const out: Finding[] = [];
    for (const n of f.nodes.filter(has)) {
        if (!n.interfaces.some((i) => i.name === "flannel.1")) continue;
        for (const other of f.k8s.nodes) {
            if (other.name === n.name || !other.podCIDR) continue;
            const r = n.routes.find((x) => x.dst === other.podCIDR);
            const gw = network(other.podCIDR);
            if (r && r.dev === "flannel.1" && r.gateway === gw) continue;
            out.push({
                id: "pod-cidr-route-missing",
                severity: "fault",
                title: `${n.host}: ${r ? "a wrong" : "no"} route to ${other.podCIDR}, the pods of ${shortOf(other.name)}`,
                place: { layer: "host", host: n.host, namespace: "host", interface: "flannel.1" },
                evidence: [
                    `ip route on ${n.host}: ${r ? `${r.dst} via ${r.gateway ?? "-"} dev ${r.dev ?? "-"}` : `nothing for ${other.podCIDR}`}`,
                    `kubectl get node ${other.name}: podCIDR ${other.podCIDR}`,
                    `expected (Flannel's VXLAN): ${other.podCIDR} via ${gw} dev flannel.1 onlink`,
                ],
                breaks:
                    `${n.host} sends packets for ${other.podCIDR} to its default route instead of flannel.1: its pods and VMs cannot reach those on ` +
                    `${shortOf(other.name)} (the VM-to-VM path, kube-proxy's DNAT to endpoints there), and answers to them go astray`,
                fix: [
                    `on ${n.host}: ip route replace ${other.podCIDR} via ${gw} dev flannel.1 onlink`,
                    `or let flanneld add it again: kubectl -n kube-system delete pod -l app=flannel --field-selector spec.nodeName=${n.name}`,
                ],
                sources: [SOURCES.post, SOURCES.flannelRoutes, SOURCES.flannelTroubleshooting],
            });
        }
    }
    return out;
};

const shortOf = (name: string) => name.split(".")[0];

const dhcp: Rule = (f) =>
    f.launchers
        .filter((l) => !l.error)
        .flatMap((l) => {
            const listening = l.dhcp.some((s) => /%br1:67$/.test(s.local) || s.local === "0.0.0.0:67");
            if (listening && l.dhcpDrops.length === 0) return [];
            return [
                {
                    id: "dhcp-not-answering" as const,
                    severity: "fault" as const,
                    title: `${launcherPlace(l)}: ${listening ? "the DHCP server on br1:67 is cut off by a firewall rule in the pod" : "no DHCP server on br1:67"}`,
                    place: {
                        layer: "pod" as const,
                        host: nodeOf(f, l.node)?.host ?? l.node,
                        namespace: launcherPlace(l),
                        interface: "br1",
                    },
                    evidence: [
                        `kubectl exec -n ${l.namespace} -c compute ${l.pod} -- ss -uanp: ${l.dhcp.length ? l.dhcp.map((s) => `${s.local} ${s.program ?? ""}`).join(", ") : "nothing on port 67"}`,
                        ...l.dhcpDrops.map((r) => `in the pod: ${r}`),
                        `br1: ${l.interfaces.find((i) => i.name === "br1")?.addresses.join(", ") || "missing"}`,
                    ],
                    breaks:
                        `virt-launcher's single-client DHCP server is the only way the VM ${l.vm} learns its address (the pod's IP), gateway, routes and ` +
                        `DNS: a guest that boots, reboots or renews its lease gets nothing and is left without an address`,
                    fix: [
                        ...l.dhcpDrops.map((r) => `kubectl exec -n ${l.namespace} -c compute ${l.pod} -- ${r.replace(/ -A /, " -D ")}`),
                        ...(listening
                            ? []
                            : [
                                  `kubectl logs -n ${l.namespace} -c compute ${l.pod}: why the server stopped ("failed to run DHCP": 0.4.1's launcher panics then)`,
                                  `the server lives in virt-launcher: restart the VM (a new launcher pod): kubectl -n ${l.namespace} delete vm ${l.vm} (the OfflineVirtualMachine, running: true, starts it again)`,
                              ]),
                    ],
                    sources: [SOURCES.post, SOURCES.kubevirtDhcp, SOURCES.kubevirtDhcpWin],
                },
            ];
        });

const guests: Rule = (f) => {
    const out: Finding[] = [];
    for (const vm of f.lab.vms) {
        const l = f.launchers.find((x) => x.vm === vm.name);
        const node = nodeOf(f, vm.node);
        if (!l) {
            if (!f.k8s) continue;
            out.push({
                id: "vm-not-running",
                severity: "fault",
                title: `the VM ${vm.name} has no running virt-launcher pod`,
                place: { layer: "kubernetes", object: `vm ${f.lab.namespace}/${vm.name}` },
                evidence: [`kubectl get pod -n ${f.lab.namespace} -l kubevirt.io/domain=${vm.name}: no Running pod`],
                breaks: `the VM ${vm.name} does not run: its Services have no endpoint and nothing answers on its NodePort ${vm.sshNodePort}`,
                fix: [
                    `kubectl -n ${f.lab.namespace} patch offlinevirtualmachine ${vm.name} --type merge -p '{"spec":{"running":true}}'`,
                    `kubectl -n ${f.lab.namespace} get vms,pods -o wide; kubectl -n kube-system logs -l kubevirt.io=virt-handler`,
                ],
                sources: [SOURCES.post],
            });
            continue;
        }
        const g = f.guests.find((x) => x.vm === vm.name);
        const { iface, seen } = guestEth0(f, vm.name);
        const place = { layer: "vm" as const, host: node?.host ?? l.node, namespace: `guest ${vm.name}`, interface: "eth0" };
        if (iface && iface.addresses.length === 0) {
            out.push({
                id: "guest-no-address",
                severity: "fault",
                title: `the VM ${vm.name}'s eth0 has no IPv4 address (its pod's is ${l.ip ?? "unknown"})`,
                place,
                evidence: [
                    `${seen === "ssh" ? "ip addr in the guest" : "the guest's eth0 seen from the launcher"}: eth0 mtu ${iface.mtu}, no inet`,
                    ...(g?.error ? [`ssh through ${g.via}: ${g.error}`] : []),
                    `DHCP server in ${l.pod}: ${l.dhcp.map((s) => s.local).join(", ") || "none"}`,
                ],
                breaks:
                    `the pod's IP ${l.ip ?? ""} belongs to the VM alone (virt-launcher took it off the pod's eth0): without it on the guest's eth0 nothing ` +
                    `reaches the VM (its Services, NodePort ${vm.sshNodePort}, the ingress) and the VM reaches nothing`,
                fix: [
                    `in the guest (its console): sudo dhclient eth0 (or sudo systemctl restart network): KubeVirt's DHCP server hands out ${l.ip ?? "the pod's IP"} again`,
                    `if the DHCP server does not answer (see dhcp-not-answering): restart the VM, kubectl -n ${f.lab.namespace} delete vm ${vm.name}`,
                ],
                sources: [SOURCES.post, SOURCES.kubevirtDhcp],
            });
        } else if (g?.error && seen === "none") {
            out.push({
                id: "guest-unreachable",
                severity: "fault",
                title: `the VM ${vm.name} does not answer SSH through ${g.via}`,
                place,
                evidence: [`ssh through ${g.via}: ${g.error}`, `its launcher pod ${l.pod}: ${l.ip ?? "no IP"} on ${l.node ?? "?"}`],
                breaks: `the guest's own facts (address, routes, MTU, resolver) cannot be read, and Ansible cannot reach it either`,
                fix: [
                    `kubectl -n ${f.lab.namespace} get endpoints ${vm.name}-ssh (the VM's pod IP?); the guest's console log: kubectl logs -n ${f.lab.namespace} -c compute ${l.pod}`,
                ],
                sources: [SOURCES.post],
            });
        }
    }
    return out;
};

export const RULES: readonly Rule[] = [
    guestMtu,
    bridgeNf,
    vxlanBlocked,
    overlayUnreachable,
    services,
    dnsWildcard,
    staleBridges,
    iptablesSplit,
    podCidrRoutes,
    dhcp,
    guests,
];

/** Every finding of every rule, faults first. */
export function judge(f: Facts): Finding[] {
    const all = RULES.flatMap((r) => r(f));
    return all.sort((a, b) => Number(a.severity === "warning") - Number(b.severity === "warning"));
}
