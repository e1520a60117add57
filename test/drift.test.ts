/**
 * npm run drift (tools/drift.ts, steps/probe/probe.sh): probe.sh in a sandbox
 * (test/lib/sandbox.ts) prepared by the very command lines the program runs
 * (its graph under mocks), reporting every step OK and then each kind of drift
 * made by hand in the stand-ins' state; the report lines; the repairs (their
 * URNs are the ones the program's resources get, the destructive ones marked);
 * the command line's usage errors.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { LabConfig, parseConfig } from "../components/config";
import { PREP_STEPS } from "../components/hostPrep";
import { Graph, runProgram } from "./lib/graph";
import { SIM_APISERVER, SIM_STATE, Sandbox, diffSnapshots, sandboxSupported } from "./lib/sandbox";
import { sourceOf, stackConfig } from "./lib/stack";
import {
    Facts,
    LabUrns,
    StepResult,
    TYPES,
    UsageError,
    configFromJson,
    expectedHostKeys,
    fileDrift,
    formatReport,
    hostChecks,
    judgeCluster,
    judgeDns,
    judgePrep,
    parseCliArgs,
    parseProbe,
    probeHost,
    repairFor,
    sshArgs,
    urn,
    urnsByName,
} from "../tools/drift";

const skip = sandboxSupported() ? false : "needs root, unshare and overlayfs (test/lib/sandbox.ts)";
const config = stackConfig("dev");
const cfg: LabConfig = parseConfig(sourceOf(config));
const km1 = cfg.master;
let g: Graph;

before(async () => {
    g = await runProgram(config);
});

/** probe.sh on a sandbox with the checks drift asks of `host`, parsed. */
async function probe(sb: Sandbox, host = km1): Promise<Facts> {
    const r = await sb.runScriptAsync(
        "probe.sh",
        hostChecks(cfg, host).flatMap((c) => ["--check", c]),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /kubevirt-lab: probe\.sh run: unchanged\n$/);
    return parseProbe(r.stdout);
}

const drifted = (rs: StepResult[]) => rs.filter((r) => r.drift).map((r) => `${r.host} ${r.step}: ${r.drift!.expected} / ${r.drift!.saw}`);

describe("probe.sh and the judging of what it saw", { skip }, () => {
    let sb: Sandbox;
    before(async () => {
        sb = await Sandbox.create({ hostname: "km1" });
        // km1's prep steps as the program runs them (its `create` command lines), in the post's order
        for (const step of PREP_STEPS) {
            const r = await sb.runAsync(String(g.byName(`km1-${step}`).inputs.create));
            assert.equal(r.code, 0, `km1-${step}: ${r.stderr}`);
        }
    });
    after(async () => {
        await sb?.dispose();
    });

    it("a host prepared by the program: every prep step OK, and the probe changed nothing but the calls log", async () => {
        const snap = sb.snapshot();
        const mark = sb.callCount();
        const f = await probe(sb);
        assert.deepEqual(drifted(judgePrep(cfg, km1, f)), []);
        assert.deepEqual(
            judgePrep(cfg, km1, f).map((r) => r.step),
            [...PREP_STEPS],
        );
        const changed = diffSnapshots(snap, sb.snapshot()).filter((d) => !d.includes("/var/log/kubevirt-lab/calls.log"));
        assert.deepEqual(changed, [], "probe.sh wrote nothing");
        for (const c of sb.commandsSince(mark)) {
            assert.match(c, /^(systemctl (is-active|is-enabled) |rpm -q |sysctl -n |getenforce$|swapon --show=NAME --noheadings$)/, c);
        }
        for (const o of ["deployment/kube-system/virt-api", "namespace//skydive"]) {
            assert.equal(f.objects.get(o), "error no /etc/kubernetes/admin.conf", o);
        }
    });

    it("each kind of drift is its step's DRIFT, with what was expected and what is there", async () => {
        const r = await sb.runAsync(`set -e
            sed -i 's/iptables = 1/iptables = 0/' /etc/sysctl.d/k8s.conf
            rm /etc/yum.repos.d/kubernetes.repo
            printf 1.10.0-0 > ${SIM_STATE}/rpmdb/kubeadm
            sed -i 's/^DEVS=.*/DEVS=\\/dev\\/vdc/' /etc/sysconfig/docker-storage-setup
            systemctl disable --now kubelet
            echo Enforcing > ${SIM_STATE}/selinux/mode
            echo /dev/vda2 > ${SIM_STATE}/swaps`);
        assert.equal(r.code, 0, r.stderr);
        const f = await probe(sb);
        assert.deepEqual(drifted(judgePrep(cfg, km1, f)), [
            "km1 repo: /etc/yum.repos.d/kubernetes.repo as the step writes it / no such file",
            "km1 packages: kubeadm-1.9.4 installed / kubeadm-1.10.0-0.x86_64 instead",
            'km1 docker-storage: /etc/sysconfig/docker-storage-setup line 2 "DEVS=/dev/vdb" / "DEVS=/dev/vdc"',
            "km1 services: kubelet enabled / kubelet disabled",
            'km1 sysctl: /etc/sysctl.d/k8s.conf line 2 "net.bridge.bridge-nf-call-iptables = 1" / "net.bridge.bridge-nf-call-iptables = 0"',
            "km1 swap: no active swap (swapon --show empty) / swap on /dev/vda2",
            "km1 selinux: getenforce not Enforcing / getenforce Enforcing",
        ]);
        const r2 = await sb.runAsync(`set -e
            sed -i 's/iptables = 0/iptables = 1/' /etc/sysctl.d/k8s.conf
            sysctl -w net.bridge.bridge-nf-call-ip6tables=0 >/dev/null
            : > ${SIM_STATE}/swaps
            echo '/dev/vda2 swap swap defaults 0 0' >> /etc/fstab
            sed -i 's/^SELINUX=.*/SELINUX=enforcing/' /etc/selinux/config
            systemctl stop docker`);
        assert.equal(r2.code, 0, r2.stderr);
        const d = drifted(judgePrep(cfg, km1, await probe(sb)));
        assert.ok(
            d.includes("km1 sysctl: sysctl net.bridge.bridge-nf-call-ip6tables = 1 / net.bridge.bridge-nf-call-ip6tables = 0"),
            d.join("\n"),
        );
        assert.ok(d.includes('km1 swap: no active swap line in /etc/fstab / "/dev/vda2 swap swap defaults 0 0"'), d.join("\n"));
        assert.ok(d.includes("km1 selinux: SELINUX=disabled in /etc/selinux/config / SELINUX=enforcing"), d.join("\n"));
        assert.ok(d.includes("km1 services: docker active / docker inactive"), d.join("\n"));
    });
});

describe("probe.sh: the cluster, from the master", { skip }, () => {
    let sb: Sandbox;
    before(async () => {
        sb = await Sandbox.create({ hostname: "km1" });
        for (const step of PREP_STEPS) assert.equal((await sb.runAsync(String(g.byName(`km1-${step}`).inputs.create))).code, 0);
        const init = await sb.runAsync(String(g.byName("km1-kubeadm-init").inputs.create));
        assert.equal(init.code, 0, init.stderr);
        const kn1 = "name=kn1.virtomation.com\\nrole=<none>\\nhost=kn1\\nversion=v1.9.4\\nstatus=Ready\\ncreated=0\\n";
        assert.equal((await sb.runAsync(`printf '${kn1}' > ${SIM_APISERVER}/nodes/kn1.virtomation.com`)).code, 0);
    });
    after(async () => {
        await sb?.dispose();
    });

    it("kubeadm init done and a node Ready are OK; a missing node, a NotReady one, missing objects are DRIFT", async () => {
        const f = await probe(sb);
        assert.equal(f.cluster?.api, "ok");
        const d = drifted(judgeCluster(cfg, f));
        assert.deepEqual(d.slice(0, 1), ["kn2 kubeadm-join: node kn2.virtomation.com Ready / not in kubectl get nodes"]);
        // the stand-in's cluster has only kube-proxy and kube-dns: the add-ons' objects are missing (kubectl's NotFound)
        assert.match(
            d[1],
            /^km1 kubernetes-objects: the lab's 14 Kubernetes objects of its stages \/ deployment kube-system\/virt-api missing, deployment kube-system\/virt-controller missing, daemonset kube-system\/virt-handler missing, 11 more not present$/,
        );
        assert.ok(!judgeCluster(cfg, f).find((r) => r.step === "kubeadm-init")!.drift);
        const objects = await sb.runScriptAsync("probe.sh", [
            "--check",
            "object:daemonset/kube-system/kube-proxy",
            "--check",
            "object:deployment/kube-system/virt-api",
        ]);
        assert.equal(objects.stdout, "object daemonset kube-system kube-proxy present\nobject deployment kube-system virt-api missing\n");

        const sed = `sed -i 's/^status=.*/status=NotReady/' ${SIM_APISERVER}/nodes/km1.virtomation.com`;
        assert.equal((await sb.runAsync(sed)).code, 0);
        const init = judgeCluster(cfg, await probe(sb)).find((r) => r.step === "kubeadm-init")!;
        assert.deepEqual(init.drift, { expected: "node km1.virtomation.com Ready", saw: "NotReady" });

        assert.equal((await sb.runAsync(`mv ${SIM_APISERVER}/cluster ${SIM_APISERVER}/cluster.off`)).code, 0);
        const down = judgeCluster(cfg, await probe(sb));
        assert.equal(down[0].drift?.expected, "the control plane answering kubectl get nodes");
        assert.match(down[0].drift!.saw, /refused/);
        assert.equal(down[1].drift?.saw, "no control plane to ask");

        assert.equal((await sb.runAsync("rm /etc/kubernetes/admin.conf")).code, 0);
        assert.deepEqual(judgeCluster(cfg, await probe(sb))[0].drift, {
            expected: "/etc/kubernetes/admin.conf (kubeadm init done)",
            saw: "no such file",
        });
    });

    it("a bad check or a sysctl key with = is refused before anything runs", async () => {
        const r = await sb.runScriptAsync("probe.sh", ["--check", "sysctl:a.b=1"]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /not a sysctl key/);
        const bad = await sb.runScriptAsync("probe.sh", ["--check", "reboot"]);
        assert.equal(bad.code, 1);
        assert.match(bad.stderr, /not a check: 'reboot'/);
        assert.equal((await sb.runScriptAsync("probe.sh", [])).code, 2, "no check: usage");
    });
});

describe("the report and the repairs", () => {
    const urns = new LabUrns("dev");

    it("the URNs are those of the program's resources (types of their parents, their names)", () => {
        const urnOf = (name: string): string => {
            const chain: string[] = [];
            // by the parent resource itself: a host's HostPrep and its Master or Worker share its name
            for (let r = g.byName(name); ;) {
                chain.unshift(r.type);
                const parent = g.resources.find((x) => x.resource === r.opts.parent);
                if (!parent) break;
                r = parent;
            }
            return urn("dev", "kubevirt-lab", chain, name);
        };
        for (const h of ["km1.virtomation.com", "kn1.virtomation.com"])
            for (const s of PREP_STEPS) assert.equal(urns.prep(h, s), urnOf(`${h.split(".")[0]}-${s}`));
        for (const s of ["kubeadm-init", "kubeconfig", "flannel", "ready"] as const)
            assert.equal(urns.master(km1.name, s), urnOf(`km1-${s}`));
        for (const s of ["join-command", "kubeadm-join"] as const) assert.equal(urns.worker("kn2.virtomation.com", s), urnOf(`kn2-${s}`));
        assert.equal(urns.nodesReady(), urnOf("cluster-nodes-ready"));
        assert.equal(urns.dnsRecords(), urnOf("dns-records"));
        assert.equal(TYPES.command, "command:remote:Command");
        // the state's URNs win when the stack has them
        const known = urnsByName(
            JSON.stringify({ deployment: { resources: [{ urn: "urn:pulumi:dev::p::x$command:remote:Command::km1-repo" }] } }),
        );
        assert.equal(
            new LabUrns("dev", "kubevirt-lab", known).prep(km1.name, "repo"),
            "urn:pulumi:dev::p::x$command:remote:Command::km1-repo",
        );
    });

    it("one line per host and step; a repair per drifted step, safe ones first, destructive ones marked", () => {
        const results: StepResult[] = [
            { host: "km1", step: "repo" },
            { host: "kn2", step: "kubeadm-join", drift: { expected: "node kn2.virtomation.com Ready", saw: "NotReady" } },
            { host: "kn1", step: "sysctl", drift: { expected: "sysctl a = 1", saw: "a = 0" } },
        ];
        const lines = formatReport(cfg, urns, results);
        assert.deepEqual(lines.slice(0, 3), [
            "OK km1 repo",
            "DRIFT kn2 kubeadm-join: expected node kn2.virtomation.com Ready, saw NotReady",
            "DRIFT kn1 sysctl: expected sysctl a = 1, saw a = 0",
        ]);
        assert.match(lines[5], /^repair kn1 sysctl \(safe: /);
        assert.equal(lines[6], `  pulumi up --stack dev --replace '${urns.prep("kn1.virtomation.com", "sysctl")}'`);
        assert.match(lines[7], /^repair kn2 kubeadm-join \(DESTRUCTIVE: re-joins kn2\.virtomation\.com/);
        assert.equal(
            lines[8],
            `  pulumi up --stack dev --replace '${urns.worker("kn2.virtomation.com", "join-command")}' --replace '${urns.worker("kn2.virtomation.com", "kubeadm-join")}'`,
        );
        assert.deepEqual(formatReport(cfg, urns, [{ host: "km1", step: "repo" }]), ["OK km1 repo"], "no drift: no repair section");
    });

    it("kubeadm init's repair resets the cluster (every join with it, never a drain); DNS and objects are safe", () => {
        const init = repairFor(cfg, urns, { host: "km1", step: "kubeadm-init", drift: { expected: "x", saw: "y" } });
        assert.equal(init.destructive, true);
        assert.match(init.effect, /^DESTRUCTIVE: resets the cluster/);
        assert.match(init.effect, /pulumi up --refresh/, "the dev stack has add-ons to make again");
        for (const n of [
            "km1-kubeadm-init",
            "km1-kubeconfig",
            "km1-flannel",
            "km1-ready",
            "kn1-kubeadm-join",
            "kn2-join-command",
            "cluster-nodes-ready",
        ])
            assert.ok(init.command.includes(`::${n}'`), n);
        assert.ok(!init.command.includes("-drain'"), "a replaced drain would take the re-joined node out again");
        const dnsRepair = repairFor(cfg, urns, { host: "dns1", step: "dns-records" });
        assert.equal(dnsRepair.destructive, false);
        assert.equal(dnsRepair.command, `pulumi up --stack dev --replace '${urns.dnsRecords()}'`);
        const objs = repairFor(cfg, urns, { host: "km1", step: "kubernetes-objects" });
        assert.deepEqual([objs.destructive, objs.command], [false, "pulumi up --stack dev --refresh"]);
        for (const s of PREP_STEPS) assert.equal(repairFor(cfg, urns, { host: "kn1", step: s }).destructive, false, s);
    });

    it("a file's first difference, the DNS records asked of the DNS host", async () => {
        assert.equal(fileDrift("/f", "a\nb\n", "a\nb\n"), undefined);
        assert.deepEqual(fileDrift("/f", "a\nb\n", "a\n"), { expected: '/f line 2 "b"', saw: "the file ends before it" });
        assert.deepEqual(fileDrift("/f", "a\n", "a\nc\n"), { expected: "/f to end after line 1", saw: 'line 2 "c"' });
        const sim = parseConfig(sourceOf(stackConfig("sim")));
        const answers: Record<string, string> = {
            "km1.virtomation.com": "172.31.50.221",
            "kn1.virtomation.com": "172.31.50.231",
            "kn2.virtomation.com": "172.31.50.232",
            "nodejs.ingress.virtomation.com": "172.31.50.231",
        };
        const lookup = async (n: string) => answers[n] ?? "ENOTFOUND";
        assert.deepEqual(await judgeDns(sim, lookup), [{ host: "dns1", step: "dns-records", drift: undefined }]);
        answers["kn2.virtomation.com"] = "ENOTFOUND";
        assert.deepEqual((await judgeDns(sim, lookup))[0].drift, {
            expected: "kn2.virtomation.com -> 172.31.50.232 (asked of 172.31.50.10)",
            saw: "ENOTFOUND",
        });
    });

    it("SSH as the stack says: user, port, key, bounded dialing; the host's expected key and no other", () => {
        const access = { identity: ["-i", "/k"], knownHosts: "/kh" };
        const words = sshArgs(cfg, km1, access);
        assert.deepEqual(words.slice(-7), ["-i", "/k", "-p", "22", "-l", "root", "172.31.50.221"]);
        assert.ok(words.includes("BatchMode=yes") && words.includes("StrictHostKeyChecking=yes"), words.join(" "));
        assert.ok(!words.some((w) => w.includes("/dev/null") && w.startsWith("UserKnownHostsFile")), "never a /dev/null known_hosts");
        const other = parseConfig(sourceOf(stackConfig("dev", { sshPort: "2222" })));
        const w2 = sshArgs(other, km1, { identity: ["-o", "IdentityAgent=/a.sock"], knownHosts: "/kh" }, "/cfg");
        assert.deepEqual(w2.slice(0, 2), ["-F", "/cfg"]);
        assert.ok(w2.includes("UserKnownHostsFile=/kh") && w2.includes("IdentityAgent=/a.sock") && w2.includes("2222"), w2.join(" "));
    });

    it("expects each host's pinned key, else the one the first up recorded in the state; a host with neither is not contacted", async () => {
        const line = (n: number) =>
            `ssh-ed25519 ${Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from("ssh-ed25519"), Buffer.alloc(36, n)]).toString("base64")}`;
        const pinnedKm1 = parseConfig(
            sourceOf(
                stackConfig("dev", { master: { name: "km1.virtomation.com", address: "172.31.50.221", hostKey: `${line(1)} root@km1` } }),
            ),
        );
        const state = JSON.stringify({
            deployment: {
                resources: [
                    {
                        urn: "urn:pulumi:dev::kubevirt-lab::kubevirt-lab:hosts:HostKeys$command:local:Command::kn1-host-key",
                        outputs: { stdout: `172.31.50.231 ${line(2)}\n172.31.50.231 ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB\n` },
                    },
                    {
                        urn: "urn:pulumi:dev::kubevirt-lab::kubevirt-lab:hosts:HostKeys$command:local:Command::km1-host-key",
                        outputs: { stdout: `172.31.50.221 ${line(3)}\n` },
                    },
                ],
            },
        });
        const keys = expectedHostKeys(pinnedKm1, state);
        assert.equal(keys.get("172.31.50.221"), line(1), "the pinned key wins over a record");
        assert.equal(keys.get("172.31.50.231"), line(2), "kn1's record, its preferred key");
        assert.equal(keys.has("172.31.50.232"), false, "kn2: nothing recorded, nothing pinned");
        await assert.rejects(
            probeHost(pinnedKm1, pinnedKm1.workers[1], { identity: [], knownHosts: "/kh", hostKeys: keys }, { timeoutMs: 1000 }),
            /^Error: kn2 \(root@172\.31\.50\.232:22\): no host key to expect: .*run pulumi up first/,
        );
    });

    it("the settings come from `pulumi config --json` as the program reads them; bad usage is a UsageError", () => {
        const json = JSON.stringify(
            Object.fromEntries(Object.entries(config).map(([k, v]) => [k, { value: v, secret: k === "kubevirt-lab:sshPrivateKey" }])),
        );
        assert.deepEqual(configFromJson(json).hostPrep, cfg.hostPrep);
        assert.throws(() => parseCliArgs(["--bogus"]), UsageError);
        assert.throws(() => parseCliArgs(["--timeout-ms", "5"]), UsageError);
        assert.throws(() => parseCliArgs(["--stack", "a b"]), UsageError);
        assert.deepEqual(parseCliArgs(["--stack", "dev"]), { stack: "dev", cwd: undefined, sshConfig: undefined, timeoutMs: 60_000 });
        assert.throws(() => parseProbe("bogus line"), /does not know/);
    });
});
