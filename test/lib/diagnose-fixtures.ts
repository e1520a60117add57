// test/fixtures/diagnose's healthy.json and faults.json from the facts test/e2e/diagnose.test.ts
// kept on a real lab (KVL_DIAGNOSE_FIXTURES=<dir>: one <nn>-<label>.json per diagnose run):
//
//   tsx test/lib/diagnose-fixtures.ts <dir>
//
// healthy.json is the first run's facts; faults.json holds, for every other run, what it saw
// differently from the healthy lab (`set`: a path, as its keys and indexes, and the value there), with how
// the fault was made by hand (`made`, as the e2e makes it). Timings are left out: they are not facts
// of the network.
import * as fs from "node:fs";
import * as path from "node:path";

/** How the e2e made each fault, as a user would (test/e2e/diagnose.test.ts). */
const MADE: Record<string, string> = {
    "mtu-fixed": "in the nodejs guest: sudo ip link set dev eth0 mtu 1450",
    "bridge-nf-off": "on kn2: echo 0 > /proc/sys/net/bridge/bridge-nf-call-iptables",
    "vxlan-blocked": "on kn2: iptables -I INPUT -p udp --dport 8472 -j DROP",
    "service-no-endpoints": `kubectl -n nodejs-ex patch service nodejs -p '{"spec":{"selector":{"kubevirt.io/domain":"nodejs-old"}}}'`,
    "service-wrong-endpoints": `kubectl -n nodejs-ex patch service mongodb -p '{"spec":{"selector":{"kubevirt.io/domain":"nodejs"}}}'`,
    "dns-wildcard": "dnsmasq's *.ingress wildcard moved to the worker without the ingress controller",
    "stale-cni0":
        "on the worker without the ingress controller: ip addr del <its pod CIDR's .1>/24 dev cni0 && ip addr add 10.244.7.1/24 dev cni0",
    "stale-flannel1": "on kn1: ip addr add 10.244.9.0/32 dev flannel.1",
    "iptables-split": "on kn1: iptables-legacy -t nat -A POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE",
    "route-missing": "on kn1: ip route del <kn2's pod CIDR>",
    dhcp: "kubectl exec -c compute <the mongodb VM's virt-launcher pod> -- iptables -I INPUT -i br1 -p udp --dport 67 -j DROP",
    "guest-no-address": "in the nodejs guest: sudo dhclient -r eth0 (its lease given back)",
    repaired: "every fault above repaired",
};

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** The paths (their parts: keys and indexes) where `b` differs from `a`, with b's value there. */
function diff(a: Json, b: Json, at: string[] = []): Array<[string[], Json]> {
    if (at[at.length - 1] === "timings") return [];
    const obj = (x: Json): x is Record<string, Json> => typeof x === "object" && x !== null;
    if (obj(a) && obj(b) && Array.isArray(a) === Array.isArray(b) && (!Array.isArray(a) || a.length === Object.keys(b).length)) {
        const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
        return keys.flatMap((k) => (k in b ? diff(a[k] ?? null, b[k], [...at, k]) : [[[...at, k], null] as [string[], Json]]));
    }
    return JSON.stringify(a) === JSON.stringify(b) ? [] : [[at, b]];
}

function main(dir: string) {
    const runs = fs
        .readdirSync(dir)
        .filter((f) => /^\d+-.+\.json$/.test(f))
        .sort();
    if (!runs.length || !runs[0].endsWith("-healthy.json")) throw new Error(`${dir}: no <nn>-healthy.json first`);
    const out = path.join(__dirname, "..", "fixtures", "diagnose");
    const healthy = JSON.parse(fs.readFileSync(path.join(dir, runs[0]), "utf8")) as Json;
    fs.writeFileSync(path.join(out, "healthy.json"), JSON.stringify(healthy, null, 1) + "\n");
    const faults: Record<string, { made: string; set: Array<[string[], Json]> }> = {};
    for (const f of runs.slice(1)) {
        const label = f.replace(/^\d+-/, "").replace(/\.json$/, "");
        const made = MADE[label];
        if (!made) throw new Error(`${f}: no description of how "${label}" was made`);
        faults[label] = { made, set: diff(healthy, JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"))) };
    }
    fs.writeFileSync(path.join(out, "faults.json"), JSON.stringify(faults, null, 1) + "\n");
    console.log(`${out}: healthy.json and ${Object.keys(faults).length} recorded runs in faults.json`);
}

main(process.argv[2] ?? "");
