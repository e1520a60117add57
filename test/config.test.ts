// parseConfig: the dev stack parses to the post's values, and every bad input
// is reported with its key, its value and what is expected, all at once.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { LabConfigError, nodeAddress, parseConfig } from "../components/config";
import { sourceOf, stackConfig } from "./lib/stack";

function problems(overrides: Record<string, unknown>, stack = "dev"): string[] {
    try {
        parseConfig(sourceOf(stackConfig(stack, overrides)));
    } catch (e) {
        assert.ok(e instanceof LabConfigError, `expected LabConfigError, got ${e}`);
        return e.problems;
    }
    return [];
}

function rejects(overrides: Record<string, unknown>, expected: string | RegExp): void {
    const p = problems(overrides);
    const hit = p.some((x) => (typeof expected === "string" ? x === expected : expected.test(x)));
    assert.ok(hit, `expected a problem ${expected}\n  got: ${JSON.stringify(p, null, 2)}`);
}

describe("the dev stack", () => {
    // As the user's stack has it: the upstream URLs at their defaults, not the test fixtures.
    const cfg = parseConfig(
        sourceOf(
            stackConfig("dev", { kubevirtManifestUrl: undefined, skydiveManifestUrl: undefined, ingressNginxManifestBaseUrl: undefined }),
        ),
    );

    it("is the post's lab", () => {
        assert.deepEqual(cfg.master, { name: "km1.virtomation.com", address: "172.31.50.221" });
        assert.deepEqual(cfg.workers, [
            { name: "kn1.virtomation.com", address: "172.31.50.231" },
            { name: "kn2.virtomation.com", address: "172.31.50.232" },
        ]);
        assert.equal(cfg.domain, "virtomation.com");
        assert.equal(cfg.ssh.user, "root");
        assert.equal(cfg.hostPrep.kubernetesVersion, "1.9.4");
        assert.equal(cfg.hostPrep.dockerStorageDevice, "/dev/vdb");
        assert.equal(cfg.hostPrep.selinux, "disabled");
        assert.equal(cfg.cluster.podNetworkCidr, "10.244.0.0/16");
        assert.equal(cfg.addons.kubevirtManifestUrl, "https://github.com/kubevirt/kubevirt/releases/download/v0.4.1/kubevirt.yaml");
        assert.equal(
            cfg.addons.skydiveManifestUrl,
            "https://raw.githubusercontent.com/skydive-project/skydive/master/contrib/kubernetes/skydive.yaml",
        );
        assert.equal(
            cfg.addons.ingressNginxManifestBaseUrl,
            "https://raw.githubusercontent.com/kubernetes/ingress-nginx/nginx-0.13.0/deploy",
        );
        assert.equal(cfg.addons.ingressNginxControllerImage, "quay.io/kubernetes-ingress-controller/nginx-ingress-controller:0.13.0");
        assert.equal(cfg.workload.nodejsVmNode, "kn1.virtomation.com", "short names resolve to the worker's full name");
        assert.equal(cfg.workload.mongodbVmNode, "kn2.virtomation.com");
        assert.deepEqual(cfg.stages, { addons: true, workload: true, app: true, dns: true });
        assert.equal(cfg.dns?.configPath, "/etc/dnsmasq.d/virtomation.conf", "the post's file name");
        assert.equal(cfg.app.usesPostPassword, true);
        assert.deepEqual(cfg.cluster.kubeadmIgnorePreflightErrors, [], "kubeadm ignores no preflight check, as real hosts need");
    });

    // Pulumi.yaml and the README are generated from components/settings.ts: test/settings.test.ts.
    it("skips DNS when dnsHost is the declared default {}", () => {
        const cfg = parseConfig(sourceOf(stackConfig("dev", { dnsHost: {} })));
        assert.equal(cfg.dns, undefined, "dnsHost {} (the declared default) skips DNS");
    });
});

describe("the simulated lab's stacks", () => {
    it("Pulumi.lab.yaml (npm run lab) is the whole post, its manifests from the lab's mirror", () => {
        // as the file has them (stackConfig points the manifest URLs at the test fixtures)
        const file = YAML.parse(fs.readFileSync(path.join(__dirname, "..", "Pulumi.lab.yaml"), "utf8")).config;
        const urls = Object.fromEntries(
            ["kubevirtManifestUrl", "skydiveManifestUrl", "ingressNginxManifestBaseUrl"].map((k) => [k, file[`kubevirt-lab:${k}`]]),
        );
        const cfg = parseConfig(sourceOf(stackConfig("lab", urls)));
        assert.deepEqual(cfg.stages, { addons: true, workload: true, app: true, dns: true });
        for (const url of [
            cfg.cluster.flannelManifestUrl,
            cfg.addons.kubevirtManifestUrl,
            cfg.addons.skydiveManifestUrl,
            cfg.addons.ingressNginxManifestBaseUrl,
        ])
            assert.match(url, /^http:\/\/172\.31\.50\.5\//, `${url}: the mirror host of harness/lab.sh`);
        assert.deepEqual(cfg.cluster.kubeadmIgnorePreflightErrors, ["SystemVerification"]);
        // every tag but Fedora's packages and the Skydive agent's start; the app and its npm tree from the mirror
        assert.deepEqual(cfg.app.skipTags, ["packages", "skydive_service"]);
        assert.deepEqual(cfg.app.source, {
            repoUrl: "http://172.31.50.5/github.com/sclorg/nodejs-ex",
            repoVersion: "93fc25f",
            npmRegistry: "http://172.31.50.5/registry.npmjs.org/",
        });
        assert.equal(cfg.dns?.ingressNode, undefined, "the ingress wildcard's node is looked up from the API");
    });

    it("Pulumi.sim.yaml (the stand-in lab of the tests) is the cluster and DNS stages", () => {
        const cfg = parseConfig(sourceOf(stackConfig("sim")));
        assert.deepEqual(cfg.stages, { addons: false, workload: false, app: false, dns: true });
    });
});

describe("validation", () => {
    it("names the key, the value and what is expected", () => {
        rejects(
            { master: { name: "km1.virtomation.com", address: "172.31.50.300" } },
            'kubevirt-lab:master.address: got "172.31.50.300", expected a unicast IPv4 address such as 172.31.50.221',
        );
        rejects(
            { workers: [{ name: "KN1_bad", address: "172.31.50.231" }] },
            'kubevirt-lab:workers[0].name: got "KN1_bad", expected a lower-case DNS name such as km1.virtomation.com',
        );
    });

    it("reports every problem at once", () => {
        const p = problems({ sshPort: "0", selinux: "off", kubernetesVersion: "v1.9.4", joinTokenTtl: "0s" });
        assert.deepEqual(p.sort(), [
            'kubevirt-lab:joinTokenTtl: got "0s", expected a Go duration from 1m to 24h such as 15m, 1h or 1.5h',
            "kubevirt-lab:kubernetesVersion: got \"v1.9.4\", expected a Kubernetes 1.9 release like 1.9.4 (no leading v; the lab's kubeadm steps are 1.9's)",
            'kubevirt-lab:selinux: got "off", expected disabled, permissive or enforcing',
            'kubevirt-lab:sshPort: got "0", expected a whole number from 1 to 65535',
        ]);
        assert.match(new LabConfigError(p).message, /^invalid kubevirt-lab configuration \(4 problems\):\n {2}- /);
    });

    it("refuses a missing master and malformed host lists", () => {
        rejects({ master: undefined }, /^kubevirt-lab:master: got undefined, expected the master host/);
        rejects({ workers: { name: "kn1" } }, /^kubevirt-lab:workers: got .*, expected a list of hosts/);
        rejects({ workers: "[not json" }, /^kubevirt-lab:workers: got "\[not json", expected a list of hosts/);
        rejects(
            { workers: [{ name: "kn1.virtomation.com", address: "172.31.50.231", role: "x" }] },
            /^kubevirt-lab:workers\[0\]\.role: got "x", expected no such field/,
        );
    });

    it("refuses duplicate host names and addresses", () => {
        rejects(
            {
                workers: [
                    { name: "kn1.virtomation.com", address: "172.31.50.231" },
                    { name: "kn1.virtomation.com", address: "172.31.50.232" },
                ],
            },
            'kubevirt-lab:workers[1].name: got "kn1.virtomation.com", expected a name not already used by workers[0]',
        );
        rejects(
            { workers: [{ name: "kn1.virtomation.com", address: "172.31.50.221" }] },
            'kubevirt-lab:workers[0].address: got "172.31.50.221", expected an address not already used by master',
        );
    });

    it("refuses a pod network that overlaps the hosts or the service network", () => {
        rejects(
            { podNetworkCidr: "172.31.0.0/16" },
            'kubevirt-lab:podNetworkCidr: got "172.31.0.0/16", expected a network that does not contain master.address 172.31.50.221',
        );
        rejects(
            { podNetworkCidr: "10.96.0.0/16" },
            'kubevirt-lab:podNetworkCidr: got "10.96.0.0/16", expected a network that does not overlap serviceCidr 10.96.0.0/12',
        );
        rejects(
            { serviceCidr: "172.31.50.0/24" },
            'kubevirt-lab:serviceCidr: got "172.31.50.0/24", expected a network that does not contain master.address 172.31.50.221',
        );
        rejects({ podNetworkCidr: "10.244.0.1/16" }, /^kubevirt-lab:podNetworkCidr: got "10\.244\.0\.1\/16", expected an IPv4 network/);
        rejects({ podNetworkCidr: "10.244.0.0/25" }, /expected a network of \/24 or larger/);
    });

    it("refuses bad URLs, versions, packages, devices and sysctl lines", () => {
        rejects(
            { yumRepoBaseUrl: "ftp://mirror/k8s" },
            'kubevirt-lab:yumRepoBaseUrl: got "ftp://mirror/k8s", expected an https or file:// URL of a yum repository',
        );
        rejects(
            { yumRepoGpgKeys: ["https://ok/key.gpg", "nope"] },
            'kubevirt-lab:yumRepoGpgKeys[1]: got "nope", expected an https or file:// URL of a GPG key',
        );
        rejects({ yumRepoGpgKeys: [] }, /^kubevirt-lab:yumRepoGpgKeys: got \[\], expected at least one GPG key URL/);
        rejects({ flannelManifestUrl: "kube-flannel.yml" }, /^kubevirt-lab:flannelManifestUrl: /);
        rejects({ kubevirtVersion: "0.4.1" }, 'kubevirt-lab:kubevirtVersion: got "0.4.1", expected a release tag like v0.4.1');
        rejects(
            { extraPackages: ["docker", "rm -rf"] },
            'kubevirt-lab:extraPackages[1]: got "rm -rf", expected yum package names other than kubelet, kubeadm and kubectl (installed at kubernetesVersion)',
        );
        rejects({ dockerStorageDevice: "vdb" }, /^kubevirt-lab:dockerStorageDevice: got "vdb", expected a block device path/);
        rejects(
            { sysctl: ["net.ipv4.ip_forward=1"] },
            'kubevirt-lab:sysctl[0]: got "net.ipv4.ip_forward=1", expected sysctl lines of the form "key = value"',
        );
        rejects({ yumUpdate: "yes" }, 'kubevirt-lab:yumUpdate: got "yes", expected true or false');
        rejects({ domain: "virtomation_com" }, 'kubevirt-lab:domain: got "virtomation_com", expected a DNS domain such as virtomation.com');
    });

    it("takes kubeadm preflight check names (or all) to ignore, and nothing else", () => {
        const cfg = parseConfig(
            sourceOf(stackConfig("dev", { kubeadmIgnorePreflightErrors: ["SystemVerification", "FileExisting-iptables", "all"] })),
        );
        assert.deepEqual(cfg.cluster.kubeadmIgnorePreflightErrors, ["SystemVerification", "FileExisting-iptables", "all"]);
        const expected = "expected names of kubeadm preflight checks such as SystemVerification or FileExisting-iptables, or all";
        rejects(
            { kubeadmIgnorePreflightErrors: ["Swap,SystemVerification"] },
            `kubevirt-lab:kubeadmIgnorePreflightErrors[0]: got "Swap,SystemVerification", ${expected}`,
        );
        rejects({ kubeadmIgnorePreflightErrors: ["ok", "-x"] }, `kubevirt-lab:kubeadmIgnorePreflightErrors[1]: got "-x", ${expected}`);
        rejects({ kubeadmIgnorePreflightErrors: ["a b"] }, `kubevirt-lab:kubeadmIgnorePreflightErrors[0]: got "a b", ${expected}`);
        rejects({ kubeadmIgnorePreflightErrors: [""] }, `kubevirt-lab:kubeadmIgnorePreflightErrors[0]: got "", ${expected}`);
        rejects(
            { kubeadmIgnorePreflightErrors: "SystemVerification" },
            /^kubevirt-lab:kubeadmIgnorePreflightErrors: got "SystemVerification", expected a list of /,
        );
    });

    it("refuses the values dnsmasq-records.sh no longer checks (its records, wildcard and file come from these settings)", () => {
        const kn2 = { name: "kn2.virtomation.com", address: "172.31.50.232" };
        const kn1 = (over: Record<string, string>) => [{ name: "kn1.virtomation.com", address: "172.31.50.231", ...over }, kn2];
        // --ingress-ip and --record <fqdn>=<ip>: the nodes' addresses and names (the ingress node is one of them).
        rejects(
            { workers: kn1({ address: "172.31.50.256" }) },
            'kubevirt-lab:workers[0].address: got "172.31.50.256", expected a unicast IPv4 address such as 172.31.50.221',
        );
        rejects(
            { workers: kn1({ address: "172.31.050.231" }) },
            'kubevirt-lab:workers[0].address: got "172.31.050.231", expected a unicast IPv4 address such as 172.31.50.221',
        );
        rejects(
            { workers: kn1({ address: "172.31.50" }) },
            'kubevirt-lab:workers[0].address: got "172.31.50", expected a unicast IPv4 address such as 172.31.50.221',
        );
        rejects(
            { master: { name: "km1..virtomation.com", address: "172.31.50.221" } },
            'kubevirt-lab:master.name: got "km1..virtomation.com", expected a lower-case DNS name such as km1.virtomation.com',
        );
        rejects(
            { workers: kn1({ name: "*" }) },
            'kubevirt-lab:workers[0].name: got "*", expected a lower-case DNS name such as km1.virtomation.com',
        );
        rejects(
            { workers: [kn2, kn2] },
            'kubevirt-lab:workers[1].name: got "kn2.virtomation.com", expected a name not already used by workers[0]',
        );
        rejects({ dnsIngressNode: "kn7" }, /^kubevirt-lab:dnsIngressNode: got "kn7", expected one of the nodes/);
        // --ingress-domain ingress.<domain>: a DNS name, and so are the longer names the lab makes of the domain.
        rejects(
            { domain: "ingress/virtomation.com" },
            'kubevirt-lab:domain: got "ingress/virtomation.com", expected a DNS domain such as virtomation.com',
        );
        const long = ["a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(48)].join("."); // 240 characters
        rejects(
            { domain: long },
            `kubevirt-lab:domain: got "${long}", expected a domain of at most 237 characters (so that skydive.ingress.<domain>, the longest name the lab makes of it, fits in 253)`,
        );
        const short = long.slice(3);
        const under = (n: string, a: string) => ({ name: `${n}.${short}`, address: a });
        assert.deepEqual(
            problems({
                domain: short,
                master: under("km1", "172.31.50.221"),
                workers: [under("kn1", "172.31.50.231"), under("kn2", "172.31.50.232")],
                dnsHost: under("dns1", "172.31.50.10"),
            }),
            [],
            "237 characters are enough",
        );
        // --conf-path: an absolute path of a file.
        rejects(
            { dnsConfigPath: "virtomation.conf" },
            'kubevirt-lab:dnsConfigPath: got "virtomation.conf", expected a file directly in /etc/dnsmasq.d/ named <name>.conf (letters, digits, _, - and single dots; dnsmasq reads that folder)',
        );
        rejects(
            { dnsConfigPath: "/etc/dnsmasq.d/" },
            'kubevirt-lab:dnsConfigPath: got "/etc/dnsmasq.d/", expected a file directly in /etc/dnsmasq.d/ named <name>.conf (letters, digits, _, - and single dots; dnsmasq reads that folder)',
        );
        assert.equal(
            parseConfig(sourceOf(stackConfig("dev", { dnsConfigPath: "/etc/dnsmasq.d/lab.conf" }))).dns?.configPath,
            "/etc/dnsmasq.d/lab.conf",
        );
    });

    it("needs exactly one SSH key, and a readable one", () => {
        rejects({ sshPrivateKey: undefined }, /^kubevirt-lab:sshPrivateKey: got undefined, expected an SSH private key/);
        rejects(
            { sshPrivateKey: "not a key" },
            'kubevirt-lab:sshPrivateKey: got "[secret]", expected a PEM or OpenSSH private key (-----BEGIN ... PRIVATE KEY-----)',
        );
        rejects(
            { sshPrivateKeyPath: "/etc/hostname" },
            /^kubevirt-lab:sshPrivateKeyPath: got "\/etc\/hostname", expected unset when sshPrivateKey is set/,
        );
        rejects(
            { sshPrivateKey: undefined, sshPrivateKeyPath: "/nonexistent/id_rsa" },
            'kubevirt-lab:sshPrivateKeyPath: got "/nonexistent/id_rsa", expected a readable private key file (ENOENT)',
        );
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-key-"));
        fs.writeFileSync(path.join(dir, "id"), "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n");
        fs.writeFileSync(path.join(dir, "id.pub"), "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIfrompub me@host\n");
        const cfg = parseConfig(
            sourceOf(stackConfig("dev", { sshPrivateKey: undefined, sshPrivateKeyPath: path.join(dir, "id"), vmSshPublicKey: undefined })),
        );
        assert.equal(
            cfg.workload.vmSshPublicKey,
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIfrompub me@host",
            "the .pub beside the key file is the VMs' key",
        );
        fs.rmSync(dir, { recursive: true });
    });

    it("never shows a secret value in a message", () => {
        const p = problems({ sshPrivateKey: "hunter2-plain", mongodbPassword: "x y", mongodbAdminPassword: "short" });
        const text = p.join("\n");
        assert.ok(!text.includes("hunter2") && !text.includes("x y") && !text.includes('short"'), text);
        assert.ok(
            p.includes(
                'kubevirt-lab:mongodbPassword: got "[secret]", expected 8 to 128 characters from A-Z a-z 0-9 . _ ~ - (it goes into a mongodb:// URL)',
            ),
        );
    });

    it("checks NodePorts: inside 30000-32767 and distinct", () => {
        rejects({ ingressHttpNodePort: 8080 }, 'kubevirt-lab:ingressHttpNodePort: got "8080", expected a NodePort from 30000 to 32767');
        rejects(
            { ingressMgmtNodePort: 30000 },
            "kubevirt-lab:ingressMgmtNodePort: got 30000, expected a NodePort not already used by ingressHttpNodePort",
        );
        rejects(
            { mongodbSshNodePort: 30022 },
            "kubevirt-lab:mongodbSshNodePort: got 30022, expected a NodePort not already used by nodejsSshNodePort",
        );
        rejects({ ingressHttpsNodePort: "http" }, 'kubevirt-lab:ingressHttpsNodePort: got "http", expected a NodePort from 30000 to 32767');
    });

    it("pins VMs only to configured workers", () => {
        rejects(
            { nodejsVmNode: "kn9" },
            'kubevirt-lab:nodejsVmNode: got "kn9", expected one of the workers (kn1.virtomation.com, kn2.virtomation.com)',
        );
        rejects({ mongodbVmNode: "km1" }, /^kubevirt-lab:mongodbVmNode: got "km1", expected one of the workers/);
        rejects({ vmSshPublicKey: "AAAA only" }, /^kubevirt-lab:vmSshPublicKey: got "AAAA only", expected an OpenSSH public key line/);
    });

    it("checks stages and what they need", () => {
        rejects(
            { stages: ["dns", "cluster"] },
            /^kubevirt-lab:stages\[1\]: got "cluster", expected stage names \(addons, workload, app, dns\)/,
        );
        rejects({ stages: ["workload"] }, /^kubevirt-lab:stages: got \["workload"\], expected addons listed too/);
        rejects({ stages: ["addons", "app"] }, /^kubevirt-lab:stages: got \["addons","app"\], expected workload listed too/);
        rejects({ stages: ["dns"] }, /^kubevirt-lab:dnsIngressNode: got undefined, expected the node that runs the ingress controller/);
        rejects({ dnsIngressNode: "kn7" }, /^kubevirt-lab:dnsIngressNode: got "kn7", expected one of the nodes/);
        const cfg = parseConfig(sourceOf(stackConfig("dev", { stages: [], vmSshPublicKey: undefined })));
        assert.deepEqual(cfg.stages, { addons: false, workload: false, app: false, dns: false });
        assert.equal(cfg.dns, undefined, "no DNS stage: nothing on dns1");
        assert.equal(
            parseConfig(sourceOf(stackConfig("dev", { stages: ["dns"], dnsIngressNode: "kn2" }))).dns?.ingressNode,
            "kn2.virtomation.com",
        );
    });

    it("parses the simulated lab's stack", () => {
        const sim = parseConfig(sourceOf(stackConfig("sim")));
        assert.deepEqual(sim.stages, { addons: false, workload: false, app: false, dns: true });
        assert.equal(sim.dns?.ingressNode, "kn1.virtomation.com");
        assert.equal(sim.dns?.host.address, "172.31.50.10");
    });

    it("finds a node's address by name, and says which nodes exist when it cannot", () => {
        const cfg = parseConfig(sourceOf(stackConfig("dev")));
        const nodes = [cfg.master, ...cfg.workers];
        assert.equal(nodeAddress(nodes, "kn1.virtomation.com", "the ingress controller"), "172.31.50.231");
        assert.throws(
            () => nodeAddress(nodes, "kn9.virtomation.com", "the nodejs VM"),
            /^Error: the nodejs VM runs on kn9\.virtomation\.com, which is not a configured node \(km1\.virtomation\.com, kn1\.virtomation\.com, kn2\.virtomation\.com\)$/,
        );
    });

    it("accepts any number of workers and a cluster without workers", () => {
        const many = Array.from({ length: 6 }, (_, i) => ({ name: `kn${i + 1}.virtomation.com`, address: `172.31.50.${231 + i}` }));
        assert.equal(parseConfig(sourceOf(stackConfig("dev", { workers: many }))).workers.length, 6);
        assert.equal(parseConfig(sourceOf(stackConfig("dev", { workers: [], stages: [] }))).workers.length, 0);
    });
});
