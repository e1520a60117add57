// The real Pulumi engine, SSH and host scripts against the simulated lab:
// up, up again, add a worker, change a prep setting, remove the worker, an
// unreachable host, destroy; and no secret in the state or the console.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "fs";
import * as path from "path";
import { Project, SimLab, engineEnv, parseCalls } from "../../harness/lib/simlab";
import { standinsWithJoinConfig } from "../../harness/lib/standins";

// The stand-ins with kubeadm's join --config (harness/lib/standins.ts): the lab's hosts copy them at up.
process.env.SIMLAB_STANDINS = standinsWithJoinConfig();
const LAB = "kvle2e";
const HOSTS = "km1=172.31.50.221,kn1=172.31.50.231,kn2=172.31.50.232";
const WORKERS = [
    { name: "kn1.virtomation.com", address: "172.31.50.231" },
    { name: "kn2.virtomation.com", address: "172.31.50.232" },
];
const KN3 = { name: "kn3.virtomation.com", address: "172.31.50.233" };
const SYSCTL_PLUS = ["net.bridge.bridge-nf-call-ip6tables = 1", "net.bridge.bridge-nf-call-iptables = 1", "net.ipv4.ip_forward = 1"];

const REPO_FILE = `[kubernetes]
name=Kubernetes
baseurl=https://packages.cloud.google.com/yum/repos/kubernetes-el7-$basearch
enabled=1
gpgcheck=1
repo_gpgcheck=1
gpgkey=https://packages.cloud.google.com/yum/doc/yum-key.gpg https://packages.cloud.google.com/yum/doc/rpm-package-key.gpg
`;
const SYSCTL_FILE = "net.bridge.bridge-nf-call-ip6tables = 1\nnet.bridge.bridge-nf-call-iptables = 1\n";
const STORAGE_FILE = `STORAGE_DRIVER=overlay2
DEVS=/dev/vdb
CONTAINER_ROOT_LV_NAME=dockerlv
CONTAINER_ROOT_LV_SIZE=100%FREE
CONTAINER_ROOT_LV_MOUNT_PATH=/var/lib/docker
VG=dockervg
`;

const lab = new SimLab(LAB);
let project: Project;
/** Secrets seen during the run, to look for in the state and the console. */
const secrets = new Set<string>();

function firstCall(host: string, match: RegExp, from = 0): number {
    const c = parseCalls(lab.calls(host))
        .slice(from)
        .find((x) => match.test(x.line));
    assert.ok(c, `${host}: expected a call matching ${match}; recorded:\n${lab.calls(host).slice(from).join("\n")}`);
    return c!.t;
}

function lastCall(host: string, match: RegExp): number {
    const cs = parseCalls(lab.calls(host)).filter((x) => match.test(x.line));
    assert.ok(cs.length > 0, `${host}: expected a call matching ${match}`);
    return cs[cs.length - 1].t;
}

function newCalls(counts: Record<string, number>, host: string): string[] {
    return lab.calls(host).slice(counts[host] ?? 0);
}

function callCounts(hosts: string[]): Record<string, number> {
    return Object.fromEntries(hosts.map((h) => [h, lab.calls(h).length]));
}

function collectSecrets(): void {
    const tokens = path.join(lab.dir, "apiserver", "tokens");
    if (fs.existsSync(tokens)) for (const t of fs.readdirSync(tokens)) secrets.add(t);
}

async function up(what: string): Promise<void> {
    const r = await project.pulumi(["up", "--yes", "--skip-preview"]);
    assert.equal(r.code, 0, `pulumi up (${what}) failed:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
    collectSecrets();
}

async function dig(name: string): Promise<string> {
    const r = await lab.op(["dig", "@172.31.50.10", "+short", "+time=2", "+tries=2", name], {}, 20_000);
    return r.stdout.trim();
}

before(async () => {
    const engine = engineEnv();
    await lab.down();
    await lab.up(HOSTS);
    project = new Project(lab, "e2e", engine);
    project.configure({});
    await project.init();
    const key = fs.readFileSync(lab.keyPath, "utf8");
    for (const line of key.split("\n").filter((l) => l.length > 20 && !l.startsWith("-----"))) secrets.add(line);
});

after(async () => {
    if (process.env.KVL_E2E_KEEP) return;
    await lab.down();
    project?.cleanup();
});

describe("pulumi up / re-up / change / destroy against simulated hosts", () => {
    it("1. up prepares every host with the post's files, in order, and publishes the names in dnsmasq", async () => {
        await up("fresh");
        for (const h of ["km1", "kn1", "kn2"]) {
            assert.equal(await lab.file(h, "/etc/yum.repos.d/kubernetes.repo"), REPO_FILE, `${h}: kubernetes.repo`);
            assert.equal(await lab.file(h, "/etc/sysctl.d/k8s.conf"), SYSCTL_FILE, `${h}: k8s.conf`);
            assert.equal(await lab.file(h, "/etc/sysconfig/docker-storage-setup"), STORAGE_FILE, `${h}: docker-storage-setup`);
            assert.match((await lab.file(h, "/etc/selinux/config")) ?? "", /^SELINUX=disabled$/m, `${h}: SELinux disabled`);
            assert.match((await lab.file(h, "/etc/selinux/config")) ?? "", /^SELINUXTYPE=targeted$/m);
            firstCall(h, /yum install -y .*kubelet-1\.9\.4 kubeadm-1\.9\.4 kubectl-1\.9\.4/);
            firstCall(h, /setenforce 0$/);
        }
        const init = firstCall("km1", / kubeadm init .*--pod-network-cidr=10\.244\.0\.0\/16/);
        for (const prep of [/ yum install /, / systemctl start docker$/, / sysctl --system$/, / setenforce 0$/]) {
            assert.ok(lastCall("km1", prep) < init, `km1: ${prep} before kubeadm init`);
        }
        const flannel = firstCall(
            "km1",
            / kubectl .*apply -f https:\/\/raw\.githubusercontent\.com\/coreos\/flannel\/v0\.9\.1\/Documentation\/kube-flannel\.yml/,
        );
        assert.ok(init < flannel, "Flannel after init");
        for (const w of ["kn1", "kn2"]) {
            const join = firstCall(w, / kubeadm join --token /);
            assert.ok(flannel < join, `${w}: joins after Flannel`);
            assert.ok(
                lastCall(w, / sysctl --system$/) < join && lastCall(w, / systemctl start docker$/) < join,
                `${w}: joins after its preparation`,
            );
            assert.match(
                lab.calls(w).find((l) => / kubeadm join /.test(l))!,
                /--node-name kn\d\.virtomation\.com/,
            );
        }
        assert.equal(await dig("km1.virtomation.com"), "172.31.50.221");
        assert.equal(await dig("kn2.virtomation.com"), "172.31.50.232");
        assert.equal(await dig("nodejs.ingress.virtomation.com"), "172.31.50.231", "the ingress wildcard points at kn1");
        const adminConf = (await lab.file("km1", "/etc/kubernetes/admin.conf")) ?? "";
        const keyData = /client-key-data: (\S+)/.exec(adminConf)?.[1];
        assert.ok(keyData, "admin.conf has a client key");
        secrets.add(keyData!);
        const out = await project.pulumi(["stack", "output", "--json"]);
        const outputs = JSON.parse(out.stdout);
        assert.equal(outputs.kubeconfig, "[secret]");
        assert.deepEqual(outputs.nodes, ["km1.virtomation.com", "kn1.virtomation.com", "kn2.virtomation.com"]);
    });

    it("2. a second up changes nothing and runs nothing on the hosts", async () => {
        const before = callCounts(["km1", "kn1", "kn2", "dns1"]);
        const preview = await project.pulumi(["preview", "--expect-no-changes"]);
        assert.equal(preview.code, 0, `expected no changes, preview said:\n${preview.stdout}\n${preview.stderr}`);
        const r = await project.pulumi(["up", "--yes", "--skip-preview"]);
        assert.equal(r.code, 0, r.stderr);
        assert.doesNotMatch(r.stdout, /\b(created|updated|deleted|replaced)\b/, `no change expected:\n${r.stdout}`);
        for (const h of Object.keys(before)) assert.deepEqual(newCalls(before, h), [], `${h}: no new call on a no-op up`);
    });

    it("3. a third worker: only its preparation and join run", async () => {
        await lab.cli(["add-host", `kn3=${KN3.address}`]);
        project.configure({ workers: [...WORKERS, KN3] });
        const plan = await project.plan();
        assert.deepEqual(
            plan,
            [
                ...["docker-storage", "packages", "repo", "selinux", "services", "swap", "sysctl"].map(
                    (s) => `create command:remote:Command kn3-${s}`,
                ),
                "create command:local:Command kn3-host-key", // its SSH host key recorded on first use
                "create command:remote:Command kn3-drain",
                "create command:remote:Command kn3-join-command",
                "create command:remote:Command kn3-kubeadm-join",
                "create kubevirt-lab:cluster:Worker kn3",
                "create kubevirt-lab:hosts:HostPrep kn3",
                "update command:remote:Command cluster-nodes-ready",
                "update command:remote:Command dns-records",
            ].sort(),
            "the plan adds kn3 and refreshes only the node list and the DNS records",
        );
        const before = callCounts(["km1", "kn1", "kn2", "kn3"]);
        await up("add kn3");
        assert.deepEqual(newCalls(before, "kn1"), [], "kn1 untouched");
        assert.deepEqual(newCalls(before, "kn2"), [], "kn2 untouched");
        assert.ok(
            newCalls(before, "kn3").some((l) => / kubeadm join /.test(l)),
            "kn3 joined",
        );
        const km1 = newCalls(before, "km1");
        assert.ok(
            km1.some((l) => / kubeadm token create /.test(l)),
            "a join line minted for kn3",
        );
        assert.ok(!km1.some((l) => / kubeadm (init|reset)/.test(l)), `no init or reset on km1: ${km1.join("\n")}`);
        assert.equal(await dig("kn3.virtomation.com"), KN3.address);
    });

    it("4. a changed prep setting re-runs only that step, on every host, and never init or reset", async () => {
        project.configure({ workers: [...WORKERS, KN3], sysctl: SYSCTL_PLUS });
        const plan = await project.plan();
        assert.deepEqual(
            plan,
            ["km1", "kn1", "kn2", "kn3"].map((h) => `update command:remote:Command ${h}-sysctl`),
        );
        const before = callCounts(["km1", "kn1", "kn2", "kn3"]);
        await up("sysctl");
        for (const h of ["km1", "kn1", "kn2", "kn3"]) {
            assert.equal(await lab.file(h, "/etc/sysctl.d/k8s.conf"), SYSCTL_PLUS.join("\n") + "\n", `${h}: k8s.conf gained the line`);
            const calls = newCalls(before, h);
            assert.ok(
                calls.some((l) => / sysctl --system$/.test(l)),
                `${h}: sysctl --system ran`,
            );
            assert.ok(!calls.some((l) => / (kubeadm|yum|setenforce) /.test(l)), `${h}: nothing else ran:\n${calls.join("\n")}`);
        }
    });

    it("5. removing the worker drains, deletes and resets it, and touches no other worker", async () => {
        project.configure({ workers: WORKERS, sysctl: SYSCTL_PLUS });
        const before = callCounts(["km1", "kn1", "kn2", "kn3"]);
        await up("remove kn3");
        const km1 = parseCalls(newCalls(before, "km1"));
        const drain = km1.find((c) => / kubectl .*drain kn3\.virtomation\.com/.test(c.line));
        const del = km1.find((c) => / kubectl .*delete node kn3\.virtomation\.com/.test(c.line));
        assert.ok(drain && del, `km1 drained and deleted kn3:\n${km1.map((c) => c.line).join("\n")}`);
        const reset = parseCalls(newCalls(before, "kn3")).find((c) => / kubeadm reset/.test(c.line));
        assert.ok(reset, "kn3 was reset");
        assert.ok(drain!.t < reset!.t && del!.t < reset!.t, "drained and deleted before the reset");
        assert.deepEqual(newCalls(before, "kn1"), [], "kn1 untouched");
        assert.deepEqual(newCalls(before, "kn2"), [], "kn2 untouched");
        assert.equal(await lab.file("kn3", "/etc/yum.repos.d/kubernetes.repo"), undefined, "kn3's prep removed");
    });

    it("8. an unreachable host fails the up within a bounded time, naming the host", async () => {
        await lab.cli(["stop-sshd", "kn2"]);
        project.configure({ workers: WORKERS, sysctl: SYSCTL_PLUS.slice(0, 2) });
        const r = await project.pulumi(["up", "--yes", "--skip-preview"], 240_000);
        assert.notEqual(r.code, 0, "up must fail while kn2 is down");
        assert.ok(r.ms < 120_000, `failed within 2 minutes (took ${r.ms} ms)`);
        assert.match(r.stdout + r.stderr, /kn2|172\.31\.50\.232/, `the error names kn2:\n${(r.stdout + r.stderr).slice(-3000)}`);
        await lab.cli(["start-sshd", "kn2"]);
        await up("kn2 back");
    });

    it("9. a host offering another SSH key stops even a no-op up before anything runs anywhere, with both fingerprints; the --replace it prints accepts it", async () => {
        const keyFile = path.join(lab.dir, "hosts", "kn1", "ssh_host_ed25519_key");
        const fingerprint = () => execFileSync("ssh-keygen", ["-lf", `${keyFile}.pub`], { encoding: "utf8" }).split(" ")[1];
        const old = fingerprint();
        await lab.cli(["stop-sshd", "kn1"]);
        fs.rmSync(keyFile);
        fs.rmSync(`${keyFile}.pub`);
        execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keyFile]); // kn1 rebuilt, or someone else at its address
        await lab.cli(["start-sshd", "kn1"]);
        const now = fingerprint();
        const before = callCounts(["km1", "kn1", "kn2", "dns1"]);
        for (const args of [["preview"], ["up", "--yes", "--skip-preview"]]) {
            const r = await project.pulumi(args, 240_000);
            const out = r.stdout + r.stderr;
            assert.notEqual(r.code, 0, `${args[0]} must stop:\n${out.slice(-3000)}`);
            assert.match(out, /the SSH host key of kn1\.virtomation\.com \(172\.31\.50\.231:22\) is not the one this stack expects:/);
            assert.ok(out.includes(`expected (recorded by the first pulumi up): ssh-ed25519 ${old}`), out.slice(-3000));
            assert.ok(out.includes(`the host offers now: ssh-ed25519 ${now}`), out.slice(-3000));
        }
        for (const h of Object.keys(before)) assert.deepEqual(newCalls(before, h), [], `${h}: nothing ran`);
        const r = await project.pulumi(["up", "--yes", "--skip-preview"], 240_000);
        const urn = /pulumi up --replace '([^']+kn1-host-key)'/.exec(r.stdout + r.stderr)?.[1];
        assert.ok(urn, "the message names the record to replace");
        const accepted = await project.pulumi(["up", "--yes", "--skip-preview", "--replace", urn], 600_000);
        assert.equal(accepted.code, 0, `the accepting up failed:\n${accepted.stdout.slice(-3000)}\n${accepted.stderr.slice(-3000)}`);
        assert.deepEqual(
            newCalls(before, "kn1").filter((l) => / kubeadm (init|join|reset)/.test(l)),
            [],
            "kn1's steps ran again on it, never a join or a reset",
        );
        const again = await project.pulumi(["preview", "--expect-no-changes"]);
        assert.equal(again.code, 0, `expected no changes:\n${again.stdout.slice(-3000)}`);
    });

    it("6. destroy resets every host and removes the files it added", async () => {
        const before = callCounts(["km1", "kn1", "kn2"]);
        const r = await project.pulumi(["destroy", "--yes", "--skip-preview"]);
        assert.equal(r.code, 0, `destroy failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
        const resets: Record<string, number> = {};
        for (const h of ["km1", "kn1", "kn2"]) {
            const reset = parseCalls(newCalls(before, h)).find((c) => / kubeadm reset/.test(c.line));
            assert.ok(reset, `${h} recorded kubeadm reset`);
            resets[h] = reset!.t;
            assert.equal(await lab.file(h, "/etc/yum.repos.d/kubernetes.repo"), undefined, `${h}: repo file gone`);
            assert.equal(await lab.file(h, "/etc/sysctl.d/k8s.conf"), undefined, `${h}: sysctl file gone`);
            assert.equal(await lab.file(h, "/etc/kubernetes/admin.conf"), undefined);
        }
        assert.ok(resets.kn1 < resets.km1 && resets.kn2 < resets.km1, "workers reset before the master");
        assert.equal(await lab.file("dns1", "/etc/dnsmasq.d/virtomation.conf"), undefined, "the DNS file is gone");
        assert.equal(await dig("km1.virtomation.com"), "", "dnsmasq no longer answers for the lab");
    });

    it("7. no secret in plaintext in the state or on the console", () => {
        collectSecrets();
        const state = project.stateText();
        assert.ok(state.length > 0, "the state was read");
        assert.match(state, /"ciphertext"/, "secrets are in the state, encrypted");
        assert.ok(secrets.size >= 4, `secrets collected: ${secrets.size}`);
        for (const s of secrets) {
            assert.ok(!state.includes(s), `a secret (${s.slice(0, 6)}…) is in the state in plaintext`);
            assert.ok(!project.console.includes(s), `a secret (${s.slice(0, 6)}…) was printed`);
        }
    });
});
