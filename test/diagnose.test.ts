// npm run diagnose (tools/diagnose.ts, tools/diagnose/*): the parsers on what the lab's hosts, a
// virt-launcher pod and a guest printed (test/fixtures/diagnose/*.txt), the fault rules on the facts
// the e2e recorded on a real lab (healthy.json, and each fault made by hand there: faults.json),
// the packet paths and their Graphviz picture, the CLI on recorded facts, and netfacts.sh in an
// empty network namespace. No lab, no network.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
    Facts,
    parseGuest,
    parseLauncher,
    parseNode,
    parseRules,
    serviceChains,
    splitSections,
    udpDrops,
    words,
} from "../tools/diagnose/facts";
import { Finding, RULE_IDS, judge } from "../tools/diagnose/rules";
import { pathDot, pathText, paths } from "../tools/diagnose/draw";
import { main } from "../tools/diagnose";

const FIX = path.join(__dirname, "fixtures", "diagnose");
const read = (f: string) => fs.readFileSync(path.join(FIX, f), "utf8");
const healthy = (): Facts => JSON.parse(read("healthy.json"));

/** The recorded facts of a fault: the healthy lab's, with what its run saw differently (faults.json). */
interface Recorded {
    made: string;
    set: Array<[string[], unknown]>;
}
const FAULTS: Record<string, Recorded> = JSON.parse(read("faults.json"));
function factsOf(label: string): Facts {
    const f = healthy() as any;
    for (const [keys, v] of FAULTS[label].set) {
        let o = f;
        for (const k of keys.slice(0, -1)) o = o[k];
        o[keys[keys.length - 1]] = v;
    }
    return f;
}

const ids = (fs_: Finding[]) => fs_.map((f) => f.id);
const beyondMtu = (fs_: Finding[]) => fs_.filter((f) => f.id !== "guest-mtu-above-overlay");

describe("diagnose: the parsers, on what the lab printed", () => {
    it("a node (netfacts.sh on kn1): eth0, flannel.1, cni0 and its veths, the routes, sysctl, both iptables backends, kube-proxy's chains, NodePorts, the overlay", () => {
        const n = parseNode("kn1", "kn1.virtomation.com", "172.31.50.231", read("netfacts-kn1.txt"));
        const i = (name: string) => n.interfaces.find((x) => x.name === name)!;
        assert.deepEqual([i("eth0").addresses, i("eth0").mtu], [["172.31.50.231/24"], 1500]);
        assert.deepEqual(i("flannel.1").vxlan && [i("flannel.1").kind, i("flannel.1").vxlan!.id, i("flannel.1").vxlan!.port], [
            "vxlan",
            1,
            8472,
        ]);
        assert.deepEqual([i("flannel.1").addresses, i("flannel.1").mtu], [["10.244.1.0/32"], 1450]);
        assert.deepEqual([i("cni0").kind, i("cni0").addresses, i("cni0").mtu], ["bridge", ["10.244.1.1/24"], 1450]);
        const veths = n.bridgePorts.filter((p) => p.master === "cni0");
        assert.ok(veths.length >= 3 && veths.every((p) => /^veth/.test(p.name) && p.mtu === 1450), JSON.stringify(veths));
        assert.ok(
            veths.every((p) => n.interfaces.find((x) => x.name === p.name)?.peer?.netnsId !== undefined),
            "each veth's peer is in a pod's namespace",
        );
        assert.deepEqual(
            n.routes.filter((r) => r.dev === "flannel.1"),
            [
                { dst: "10.244.0.0/24", gateway: "10.244.0.0", dev: "flannel.1", onlink: true },
                { dst: "10.244.2.0/24", gateway: "10.244.2.0", dev: "flannel.1", onlink: true },
            ],
        );
        assert.equal(n.sysctl["net.bridge.bridge-nf-call-iptables"], "1");
        assert.deepEqual(n.flannel, { network: "10.244.0.0/16", subnet: "10.244.1.1/24", mtu: 1450 });
        assert.equal(n.iptables.backend, "nf_tables");
        assert.equal(n.iptables.ruleCount.legacy, 0);
        assert.ok((n.iptables.ruleCount.nft ?? 0) > 50 && n.iptables.kubeRules.nft > 50);
        const mongodb = n.iptables.services.find((s) => s.service === "nodejs-ex/mongodb:")!;
        assert.match(`${mongodb.clusterIP}:${mongodb.port} ${mongodb.endpoints}`, /^10\.\d+\.\d+\.\d+:27017 10\.244\.2\.\d+:27017$/);
        const http = n.iptables.services.find((s) => s.service === "ingress-nginx/ingress-nginx:http")!;
        assert.equal(http.nodePort, 30000);
        assert.ok(n.listening.some((l) => l.port === 30000 && l.program === "kube-proxy"));
        assert.deepEqual(n.overlayPings, [
            { address: "10.244.0.0", answered: true },
            { address: "10.244.2.0", answered: true },
        ]);
        assert.equal(n.vteps.length, 2);
        assert.ok(n.netns.some((ns) => ns.interfaces.some((x) => x.name === "eth0" && x.addresses[0]?.startsWith("10.244.1."))));
    });

    it("a virt-launcher pod (kubectl exec -c compute): br1 with eth0 and vnet0, 169.254.75.86, no routes, the DHCP server on br1:67, the domain's interface", () => {
        const l = parseLauncher({ namespace: "nodejs-ex", pod: "virt-launcher-nodejs-x", vm: "nodejs" }, read("launcher-nodejs.txt"));
        const i = (name: string) => l.interfaces.find((x) => x.name === name)!;
        assert.deepEqual([i("br1").kind, i("br1").addresses, i("br1").mtu], ["bridge", ["169.254.75.86/32"], 1450]);
        assert.deepEqual([i("eth0").master, i("eth0").addresses, i("vnet0").master, i("vnet0").mtu], ["br1", [], "br1", 1450]);
        assert.deepEqual(l.bridgePorts.map((p) => `${p.name}@${p.master}`).sort(), ["eth0@br1", "vnet0@br1"]);
        assert.deepEqual(l.routes, []);
        assert.deepEqual(l.dhcp, [{ local: "0.0.0.0%br1:67", program: "virt-launcher" }]);
        assert.deepEqual(l.dhcpDrops, []);
        assert.deepEqual({ ...l.domain, mac: undefined }, { target: "vnet0", bridge: "br1", model: "e1000", mac: undefined });
        assert.match(l.domain!.mac!, /^0a:58:0a:f4:01:[0-9a-f]{2}$/);
        assert.equal(l.guestView?.find((x) => x.name === "eth0")?.mtu, 1500);
    });

    it("a guest (over SSH through its NodePort): the pod's IP on eth0 with MTU 1500, its routes and resolver, the app's units, the two pings", () => {
        const g = parseGuest("nodejs", "172.31.50.231:30022", read("guest-nodejs.txt"));
        const eth0 = g.interfaces.find((x) => x.name === "eth0")!;
        assert.equal(eth0.mtu, 1500);
        assert.match(eth0.addresses[0], /^10\.244\.1\.\d+\/24$/);
        assert.deepEqual(
            g.routes.filter((r) => r.gateway).map((r) => `${r.dst} via ${r.gateway}`),
            ["default via 10.244.1.1", "10.244.0.0/16 via 10.244.1.1"],
        );
        assert.deepEqual(g.resolv?.nameservers, ["10.96.0.10"]);
        assert.deepEqual(g.resolv?.search.slice(0, 3), ["nodejs-ex.svc.cluster.local.", "svc.cluster.local.", "cluster.local."]);
        assert.equal(g.hostname, "nodejs");
        assert.deepEqual(Object.keys(g.units), ["nodejs", "mongod"]);
        assert.deepEqual(g.pings, [
            { to: "10.244.1.1", size: 56, answered: true },
            { to: "10.244.1.1", size: 1472, answered: false },
        ]);
    });

    it("iptables-save words, rules, kube-proxy's chains (a Service without endpoints: REJECT) and UDP drops", () => {
        assert.deepEqual(words('-A X -m comment --comment "a/b: cluster IP" -j Y'), [
            "-A",
            "X",
            "-m",
            "comment",
            "--comment",
            "a/b: cluster IP",
            "-j",
            "Y",
        ]);
        const rules = parseRules(
            [
                "*filter",
                '-A KUBE-SERVICES -d 10.97.0.1/32 -p tcp -m comment --comment "ns/a: has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable',
                "-A INPUT -p udp -m udp --dport 8000:9000 -j DROP",
                "-A INPUT -p tcp -m tcp --dport 8472 -j DROP",
                "COMMIT",
                "*nat",
                '-A KUBE-SERVICES -d 10.97.0.2/32 -p tcp -m comment --comment "ns/b: cluster IP" -m tcp --dport 81 -j KUBE-SVC-B',
                '-A KUBE-SVC-B -m comment --comment "ns/b:" -j KUBE-SEP-1',
                '-A KUBE-SEP-1 -p tcp -m comment --comment "ns/b:" -m tcp -j DNAT --to-destination 10.244.2.7:8081',
                "COMMIT",
            ].join("\n"),
        );
        assert.deepEqual(serviceChains(rules), [
            { service: "ns/a:", endpoints: [], rejects: true, clusterIP: "10.97.0.1", port: 80 },
            {
                service: "ns/b:",
                endpoints: ["10.244.2.7:8081"],
                rejects: false,
                clusterIP: "10.97.0.2",
                port: 81,
                protocol: "tcp",
                chain: "KUBE-SVC-B",
            },
        ]);
        assert.deepEqual(udpDrops(rules, 8472), ["-t filter -A INPUT -p udp -m udp --dport 8000:9000 -j DROP"]);
        assert.deepEqual(udpDrops(rules, 67), []);
        assert.deepEqual(
            [...splitSections("### netfacts a 0\nx\n### netfacts b c 3\n").entries()],
            [
                ["a", { rc: 0, body: "x" }],
                ["b c", { rc: 3, body: "" }],
            ],
        );
    });
});

describe("diagnose: the fault rules, on the facts recorded on the lab", () => {
    it("the lab as made: the post's MTU warning for each VM and nothing else", () => {
        const f = judge(healthy());
        assert.deepEqual(f.map((x) => `${x.severity} ${x.id} ${x.place.host} ${x.place.namespace} ${x.place.interface}`).sort(), [
            "warning guest-mtu-above-overlay kn1 guest nodejs eth0",
            "warning guest-mtu-above-overlay kn2 guest mongodb eth0",
        ]);
        const w = f[0];
        assert.match(w.evidence.join("\n"), /eth0 mtu 1500/);
        assert.match(w.evidence.join("\n"), /upstream: vnet0 1450, br1 1450, the pod's eth0 1450, flannel.1 1450/);
        assert.match(w.evidence.join("\n"), /ping -M do -s 1472 10\.244\.\d\.1 from the guest: no answer/);
        assert.match(w.breaks, /black hole/);
        assert.equal(w.fix[0], "in the guest, now: sudo ip link set dev eth0 mtu 1450");
        assert.deepEqual(
            w.sources.map((s) => s.url),
            [
                "https://kubevirt.io/2018/KubeVirt-Network-Deep-Dive.html",
                "https://github.com/kubevirt/kubevirt/issues/987",
                "https://github.com/kubevirt/kubevirt/issues/1060",
            ],
        );
    });

    // the lab's pod CIDRs (in the order its nodes registered) and where its ingress controller ran
    const h = healthy();
    const cidr = (host: string) => h.k8s!.nodes.find((n) => n.name.startsWith(`${host}.`))!.podCIDR!;
    const dotted = (c: string, last: number) => c.split("/")[0].replace(/\.\d+$/, `.${last}`);
    const ctl = h.k8s!.pods.find((p) => p.namespace === "ingress-nginx" && p.labels.app === "ingress-nginx")!.node!.split(".")[0];
    const other = ctl === "kn1" ? "kn2" : "kn1";
    const addr = (host: string) => h.nodes.find((n) => n.host === host)!.address;
    const lit = (x: string) => new RegExp(x.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&"));
    // label in faults.json → the finding expected: its id, place and a fix
    const expected: Record<string, { id: string; place: Record<string, string>; fix: RegExp }> = {
        "bridge-nf-off": {
            id: "bridge-nf-call-iptables-off",
            place: { host: "kn2", interface: "cni0" },
            fix: /^on kn2: sysctl -w net\.bridge\.bridge-nf-call-iptables=1$/,
        },
        "vxlan-blocked": {
            id: "vxlan-blocked",
            place: { host: "kn2", interface: "eth0" },
            fix: /^on kn2: iptables -t filter -D INPUT -p udp -m udp --dport 8472 -j DROP$/,
        },
        "service-no-endpoints": {
            id: "service-no-endpoints",
            place: { object: "service nodejs-ex/nodejs" },
            fix: /patch service nodejs -p .*"kubevirt.io\/domain":"nodejs"/,
        },
        "service-wrong-endpoints": {
            id: "service-endpoints-not-vm",
            place: { object: "service nodejs-ex/mongodb" },
            fix: /patch service mongodb -p .*"kubevirt.io\/domain":"mongodb"/,
        },
        "dns-wildcard": {
            id: "dns-wildcard-not-ingress-node",
            place: { layer: "ingress", host: other },
            fix: lit(`address=/.ingress.virtomation.com/${addr(ctl)} in the dnsmasq file`),
        },
        "stale-cni0": {
            id: "stale-cni0",
            place: { host: other, interface: "cni0" },
            fix: lit(`on ${other}: ip addr add ${dotted(cidr(other), 1)}/24 dev cni0`),
        },
        "stale-flannel1": {
            id: "stale-flannel1",
            place: { host: "kn1", interface: "flannel.1" },
            fix: /^on kn1: ip addr del 10\.244\.9\.0\/32 dev flannel\.1$/,
        },
        "iptables-split": {
            id: "iptables-split-backends",
            place: { host: "kn1", object: "iptables" },
            fix: /iptables-legacy -t nat -D POSTROUTING/,
        },
        "route-missing": {
            id: "pod-cidr-route-missing",
            place: { host: "kn1", interface: "flannel.1" },
            fix: lit(`on kn1: ip route replace ${cidr("kn2")} via ${dotted(cidr("kn2"), 0)} dev flannel.1 onlink`),
        },
        dhcp: {
            id: "dhcp-not-answering",
            place: { layer: "pod", host: "kn2", interface: "br1" },
            fix: /iptables -t filter -D INPUT -i br1 -p udp -m udp --dport 67 -j DROP/,
        },
        "guest-no-address": {
            id: "guest-no-address",
            place: { host: "kn1", namespace: "guest nodejs", interface: "eth0" },
            fix: /sudo dhclient eth0/,
        },
    };
    for (const [label, want] of Object.entries(expected)) {
        it(`${label} (${FAULTS[label]?.made ?? "not recorded"}): ${want.id} at its place, with its fix, and nothing else`, () => {
            const found = judge(factsOf(label));
            assert.deepEqual(ids(beyondMtu(found)), [want.id], JSON.stringify(found.map((x) => [x.id, x.title])));
            const x = found.find((y) => y.id === want.id)!;
            for (const [k, v] of Object.entries(want.place)) assert.equal((x.place as any)[k], v, `place.${k}: ${JSON.stringify(x.place)}`);
            assert.ok(
                x.fix.some((l) => want.fix.test(l)),
                `${want.fix} in ${JSON.stringify(x.fix)}`,
            );
            assert.ok(x.evidence.length && x.breaks && x.sources.every((s) => s.url.startsWith("https://")));
        });
    }

    it("every fault of the issue has a recorded case, and repaired, the lab is back to the MTU warning alone", () => {
        const covered = new Set(Object.values(expected).map((e) => e.id));
        for (const id of RULE_IDS.filter(
            (i) => !["overlay-unreachable", "guest-unreachable", "vm-not-running", "guest-mtu-above-overlay"].includes(i),
        ))
            assert.ok(covered.has(id), `${id} recorded`);
        assert.deepEqual(ids(beyondMtu(judge(factsOf("repaired")))), []);
        assert.deepEqual(ids(judge(factsOf("mtu-fixed"))), ["guest-mtu-above-overlay"], "the nodejs guest at 1450: only mongodb's warning");
    });

    it("the variants the lab cannot make by hand: no DHCP socket at all, br_netfilter not loaded, a VM without its pod, an unanswering overlay", () => {
        const f = healthy();
        f.launchers[0].dhcp = [];
        const d = judge(f).find((x) => x.id === "dhcp-not-answering")!;
        assert.match(d.title, /no DHCP server on br1:67/);
        assert.ok(d.fix.some((l) => /delete vm/.test(l)));
        const g = healthy();
        g.nodes[1].sysctl["net.bridge.bridge-nf-call-iptables"] = null;
        assert.ok(
            judge(g)
                .find((x) => x.id === "bridge-nf-call-iptables-off")!
                .fix.some((l) => /modprobe br_netfilter/.test(l)),
        );
        const h = healthy();
        h.k8s!.pods = h.k8s!.pods.filter((p) => p.labels["kubevirt.io/domain"] !== "mongodb");
        h.launchers = h.launchers.filter((l) => l.vm !== "mongodb");
        assert.ok(ids(judge(h)).includes("vm-not-running"));
        const o = healthy();
        o.nodes[0].overlayPings[0].answered = false;
        assert.deepEqual(ids(beyondMtu(judge(o))), ["overlay-unreachable"]);
    });
});

describe("diagnose: the packet paths and their pictures", () => {
    it("VM to VM and ingress to VM: every interface in order with its host, namespace, address and MTU; a fault marked where it sits", () => {
        const f = healthy();
        const [vm, ingress] = paths(f, judge(f));
        assert.deepEqual(vm.gaps, []);
        assert.deepEqual(ingress.gaps, []);
        const order = (p: typeof vm) => {
            const byId = new Map(p.hops.map((h) => [h.id, h]));
            return [p.steps[0].from, ...p.steps.map((s) => s.to)].map(
                (id) => `${byId.get(id)!.host}:${byId.get(id)!.iface.replace(/^veth.*/, "veth")}`,
            );
        };
        assert.deepEqual(order(vm), [
            "kn1:eth0",
            "kn1:vnet0",
            "kn1:br1",
            "kn1:eth0",
            "kn1:veth",
            "kn1:cni0",
            "kn1:flannel.1",
            "kn1:eth0",
            "kn2:eth0",
            "kn2:flannel.1",
            "kn2:cni0",
            "kn2:veth",
            "kn2:eth0",
            "kn2:br1",
            "kn2:vnet0",
            "kn2:eth0",
        ]);
        const kn2 = f.k8s!.nodes.find((n) => n.name.startsWith("kn2."))!.podCIDR!;
        const net = kn2.split("/")[0];
        assert.ok(vm.steps[5].what.includes(`DNAT to ${net.replace(/\.0$/, ".")}`), vm.steps[5].what);
        assert.ok(vm.steps[5].what.endsWith(`:27017; route ${kn2} via ${net} dev flannel.1 onlink`), vm.steps[5].what);
        const entry = f.nodes.find((n) => n.address === f.dns!.wildcard.answer)!.host;
        assert.deepEqual(order(ingress).slice(0, 3), ["client:client (this machine)", `${entry}:eth0`, `${entry}:cni0`]);
        assert.match(ingress.steps[1].what, /KUBE-NODEPORTS :30000 .*DNAT to 10\.244\.\d+\.\d+:80/);
        const guestHop = vm.hops.find((h) => h.namespace === "guest nodejs")!;
        assert.deepEqual([guestHop.mtu, guestHop.findings.map((x) => x.id)], [1500, ["guest-mtu-above-overlay"]]);
        const text = pathText(vm).join("\n");
        assert.match(text, /vnet0 mtu 1450 \[kn1, pod nodejs-ex\/virt-launcher-nodejs-/);
        const broken = factsOf("route-missing");
        const [vm2] = paths(broken, judge(broken));
        assert.deepEqual(
            vm2.hops.filter((h) => h.findings.some((x) => x.id === "pod-cidr-route-missing")).map((h) => `${h.host} ${h.iface}`),
            ["kn1 flannel.1"],
        );
    });

    it("the Graphviz picture: hosts, pods and guests as nested boxes, numbered hops; dot draws it (when Graphviz is here)", () => {
        const f = healthy();
        const [vm] = paths(f, judge(f));
        const dot = pathDot(vm, f);
        assert.match(dot, /subgraph cluster_0 \{\n {4}label=<<b>kn1\.virtomation\.com<\/b> 172\.31\.50\.231>/);
        assert.match(dot, /label=<VM nodejs \(guest\)>/);
        assert.match(dot, /WARNING<\/b> guest-mtu-above-overlay/);
        assert.match(dot, /label=<1\. the VM's NIC/);
        const r = spawnSync("dot", ["-Tsvg"], { input: dot, encoding: "utf8" });
        if (r.error) return; // no Graphviz: npm test's prereqs install it
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /<svg/);
        assert.match(r.stdout, /flannel\.1/);
    });

    it("the CLI on recorded facts (--facts): the report, exit 0 for warnings only, the pictures written and named", async () => {
        const out = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-diagnose-test-"));
        try {
            const lines: string[] = [];
            const code = await main(["--facts", path.join(FIX, "healthy.json"), "--out", out], (l) => lines.push(l));
            const text = lines.join("\n");
            assert.equal(code, 0, text);
            for (const h of [
                "# Kubernetes-level",
                "# Host-level",
                "# Pod-level",
                "# VM-level",
                "# Ingress",
                "# Findings: 0 fault(s), 2 warning(s)",
                "# Packet paths",
            ])
                assert.ok(text.includes(h), h);
            assert.match(text, /DHCP server: 0\.0\.0\.0%br1:67 \(virt-launcher\)/);
            assert.ok(fs.existsSync(path.join(out, "vm-to-vm.dot")));
            if (spawnSync("dot", ["-V"]).error === undefined) assert.ok(lines.includes(`picture: ${path.join(out, "vm-to-vm.svg")}`), text);
            const bad: string[] = [];
            assert.equal(await main(["--facts", "/nonexistent.json"], (l) => bad.push(l)), 2);
            assert.equal(await main(["--bogus"], (l) => bad.push(l)), 2);
            assert.match(bad.join("\n"), /usage: npm run diagnose/);
        } finally {
            fs.rmSync(out, { recursive: true, force: true });
        }
    });
});

describe("netfacts.sh", { skip: process.getuid?.() !== 0 && "needs root (a network namespace of its own)" }, () => {
    it("in an empty network namespace: every section, read-only, the closing line on stderr", () => {
        const r = spawnSync("unshare", ["--net", "bash", path.join(__dirname, "..", "steps", "netfacts", "netfacts.sh")], {
            encoding: "utf8",
            timeout: 30_000,
        });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stderr, "kubevirt-lab: netfacts.sh run: unchanged\n");
        const s = splitSections(r.stdout);
        for (const name of [
            "ip-link",
            "ip-addr",
            "ip-route",
            "bridge-link",
            "iptables-version",
            "iptables-save",
            "sysctl",
            "subnet-env",
            "listen",
            "netns",
        ])
            assert.ok(s.has(name), name);
        const n = parseNode("x", "x", "0.0.0.0", r.stdout);
        assert.deepEqual(n.interfaces, []);
        assert.deepEqual(n.overlayPings, []);
    });
});
