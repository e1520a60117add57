// Changing a setting changes exactly the resources it should, and never the
// cluster's init (compared on the mocked graphs of two configs).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as path from "path";
import { REPO, stackConfig } from "./lib/stack";

function dump(overrides: Record<string, unknown>): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
        execFile(
            process.execPath,
            ["--import", "tsx", path.join(REPO, "test/lib/dump-graph.ts")],
            // a program run takes 10-30 s on a loaded 2-core machine, and six run at once
            { env: { ...process.env, KVL_CONFIG: JSON.stringify(stackConfig("dev", overrides)) }, maxBuffer: 64 << 20, timeout: 240_000 },
            (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout))),
        );
    });
}

/** Custom resources (what a provider acts on; components only group them) added, removed or with changed inputs. */
function diff(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    const isComponent = (k: string) => k.startsWith("kubevirt-lab:") || k.startsWith("kubernetes:yaml:");
    return [...keys].filter((k) => !isComponent(k) && JSON.stringify(a[k]) !== JSON.stringify(b[k])).sort();
}

describe("a bad setting", () => {
    it("stops the program before any resource is registered, naming every problem", async () => {
        const err = await dump({
            ingressHttpNodePort: 8080,
            mongodbSshNodePort: 30022,
            nodejsVmNode: "kn9",
            domain: "virtomation_com",
        }).then(
            () => assert.fail("the program must refuse the config"),
            (e: Error) => e.message,
        );
        for (const problem of [
            'kubevirt-lab:ingressHttpNodePort: got "8080", expected a NodePort from 30000 to 32767',
            "kubevirt-lab:mongodbSshNodePort: got 30022, expected a NodePort not already used by nodejsSshNodePort",
            'kubevirt-lab:nodejsVmNode: got "kn9", expected one of the workers (kn1.virtomation.com, kn2.virtomation.com)',
            'kubevirt-lab:domain: got "virtomation_com", expected a DNS domain such as virtomation.com',
        ])
            assert.ok(err.includes(problem), `expected ${problem} in:\n${err}`);
        assert.match(err, /invalid kubevirt-lab configuration \(4 problems\)/);
        assert.match(err, /registered: \[\]/, `nothing registered:\n${err}`);
    });

    it("an upstream manifest that cannot be fetched stops the program before anything is registered", async () => {
        const err = await dump({ kubevirtManifestUrl: "file:///nonexistent/kubevirt.yaml" }).then(
            () => assert.fail("the program must stop"),
            (e: Error) => e.message,
        );
        assert.match(err, /cannot read kubevirtManifestUrl \(file:\/\/\/nonexistent\/kubevirt\.yaml\)/);
        assert.match(err, /registered: \[\]/, `nothing registered:\n${err}`);
    });
});

describe("what a change touches", () => {
    const cases: Array<[string, Record<string, unknown>, string[]]> = [
        ["a NodePort", { ingressHttpNodePort: 30080 }, ["kubernetes:core/v1:Service ingress-nginx/ingress-nginx"]],
        [
            "the sysctl lines",
            { sysctl: ["net.bridge.bridge-nf-call-ip6tables = 1", "net.bridge.bridge-nf-call-iptables = 1", "net.ipv4.ip_forward = 1"] },
            ["command:remote:Command km1-sysctl", "command:remote:Command kn1-sysctl", "command:remote:Command kn2-sysctl"],
        ],
        [
            "stopping the VMs",
            { vmsRunning: false },
            [
                "command:local:Command app-playbook",
                "command:local:Command app-vm-host-keys", // other VM instances: their keys recorded again
                "command:remote:Command nodejs-ex-mongodb-running",
                "command:remote:Command nodejs-ex-nodejs-running",
                "kubernetes:kubevirt.io/v1alpha1:OfflineVirtualMachine nodejs-ex/mongodb",
                "kubernetes:kubevirt.io/v1alpha1:OfflineVirtualMachine nodejs-ex/nodejs",
            ],
        ],
        ["the Skydive manifest URL", { skydiveManifestUrl: `file://${REPO}/test/fixtures/upstream/skydive.yaml?mirror` }, []],
        ["the MongoDB password", { mongodbPassword: "another-secret-1" }, ["command:local:Command app-playbook"]],
    ];

    it("changes exactly the resources each setting feeds, never the kubeadm init", async () => {
        const [base, ...changed] = await Promise.all([dump({}), ...cases.map(([, o]) => dump(o))]);
        assert.ok(Object.keys(base).length > 60, `the dev stack has the whole lab (${Object.keys(base).length} resources)`);
        cases.forEach(([what, , expected], i) => {
            const d = diff(base, changed[i]);
            assert.deepEqual(d, expected, `changing ${what}: expected ${JSON.stringify(expected)}, saw ${JSON.stringify(d)}`);
            assert.ok(!d.some((k) => /kubeadm-init|kubeadm-join/.test(k)), `changing ${what} never touches init or joins`);
        });
    });
});
