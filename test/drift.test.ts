/**
 * npm run drift (tools/drift.ts): the checks it plans (each step's check, with the options of the
 * step's binding, the objects of the state) run in a sandbox (test/lib/sandbox.ts) prepared by the
 * very command lines the program runs (its graph under mocks): every step OK and read-only, then
 * each kind of drift made by hand is its step's DRIFT; the report lines; the repairs (their URNs
 * are the ones the program's resources get, the destructive ones marked); the usage errors.
 * Each step's own check tests are in its folder (steps/<step>/).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { LabConfig, parseConfig } from "../components/config";
import { PREP_STEPS } from "../components/hostPrep";
import { namedArgv } from "../components/remote";
import { Graph, runProgram } from "./lib/graph";
import { SIM_APISERVER, SIM_STATE, Sandbox, diffSnapshots, sandboxSupported } from "./lib/sandbox";
import { sourceOf, stackConfig } from "./lib/stack";
import { parseCliArgs, plan } from "../tools/drift";
import { LabUrns, StepResult, TYPES, formatReport, judge, repairFor, urn } from "../tools/drift/report";
import { StackState, UsageError, configFromJson } from "../tools/lib/pulumi";
import { CheckItem, StepCheck, expectedHostKeys, parseCheck, runChecks, sshArgs } from "../tools/lib/ssh";

const skip = sandboxSupported() ? false : "needs root, unshare and overlayfs (test/lib/sandbox.ts)";
const config = stackConfig("dev");
const cfg: LabConfig = parseConfig(sourceOf(config));
const km1 = cfg.master;
let g: Graph;

before(async () => {
    g = await runProgram(config);
});

/** The lab's Kubernetes objects as a state would list them. */
const STATE = new StackState(
    JSON.stringify({
        deployment: {
            resources: [
                {
                    urn: "u::daemonset",
                    type: "kubernetes:extensions/v1beta1:DaemonSet",
                    outputs: { metadata: { name: "kube-proxy", namespace: "kube-system" } },
                },
                {
                    urn: "u::virt-api",
                    type: "kubernetes:extensions/v1beta1:Deployment",
                    outputs: { metadata: { name: "virt-api", namespace: "kube-system" } },
                },
                { urn: "u::ns", type: "kubernetes:core/v1:Namespace", outputs: { metadata: { name: "skydive" } } },
                { urn: "u::cf", type: "kubernetes:yaml:ConfigFile", outputs: {} },
                { urn: "u::gone", type: "kubernetes:core/v1:Namespace", delete: true, outputs: { metadata: { name: "old" } } },
            ],
        },
    }),
);

/** The checks drift plans for `host`, run in the sandbox as drift runs them (as root, the check part rendered). */
async function checks(sb: Sandbox, host = km1): Promise<Map<string, CheckItem[]>> {
    const steps: StepCheck[] = [...plan(cfg, STATE, "172.31.50.231")].find(([h]) => h.name === host.name)![1];
    const out = new Map<string, CheckItem[]>();
    for (const s of steps) {
        const r = await sb.runScriptAsync(s.script, ["check", ...namedArgv(s.args)]);
        assert.equal(r.code, 0, `${s.script} check: ${r.stderr}`);
        assert.match(r.stderr, new RegExp(`kubevirt-lab: ${s.script.replace(".", "\\.")} check: unchanged\n$`));
        out.set(s.step, parseCheck(s.script, r.stdout));
    }
    return out;
}

const drifted = (rs: StepResult[]) => rs.filter((r) => r.drift).map((r) => `${r.host} ${r.step}: ${r.drift!.expected} / ${r.drift!.saw}`);
const prepOf = (seen: Map<string, CheckItem[]>, host = km1) =>
    judge(cfg, new Map([[host.name, seen]])).filter((r) => (PREP_STEPS as readonly string[]).includes(r.step));

describe("the steps' checks as drift plans them, and the judging of what they saw", { skip }, () => {
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

    it("the plan: each step's check takes exactly what the program's apply got (the same binding)", () => {
        for (const [host, steps] of plan(cfg, STATE, "172.31.50.231")) {
            for (const s of steps.filter((x) => (PREP_STEPS as readonly string[]).includes(x.step))) {
                const create = String(g.byName(`${host.name.split(".")[0]}-${s.step}`).inputs.create);
                const last = create.split("\n").pop()!;
                const argv = namedArgv(s.args).map((w) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`));
                assert.equal(last, `bash "$d"/${s.script} ${["apply", ...argv].join(" ")}`.replace(/ $/, ""), `${host.name} ${s.step}`);
            }
        }
        const master = [...plan(cfg, STATE)].find(([h]) => h.name === km1.name)![1];
        assert.deepEqual(master.find((s) => s.step === "kubernetes-objects")!.args, {
            object: ["daemonset/kube-system/kube-proxy", "deployment/kube-system/virt-api", "namespace//skydive"],
        });
    });

    it("a host prepared by the program: every prep step OK, and the checks changed nothing but the calls log", async () => {
        const snap = sb.snapshot();
        const mark = sb.callCount();
        const seen = await checks(sb);
        assert.deepEqual(drifted(prepOf(seen)), []);
        assert.deepEqual(
            prepOf(seen).map((r) => r.step),
            [...PREP_STEPS],
        );
        const changed = diffSnapshots(snap, sb.snapshot());
        assert.deepEqual(changed, [], "the checks wrote nothing");
        for (const c of sb.commandsSince(mark)) {
            assert.match(c, /^(systemctl (is-active|is-enabled) |rpm -q |sysctl -n |getenforce$|swapon --show=NAME --noheadings$)/, c);
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
        assert.deepEqual(drifted(prepOf(await checks(sb))), [
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
        const d = drifted(prepOf(await checks(sb)));
        assert.ok(
            d.includes("km1 sysctl: sysctl net.bridge.bridge-nf-call-ip6tables = 1 / net.bridge.bridge-nf-call-ip6tables = 0"),
            d.join("\n"),
        );
        assert.ok(d.includes('km1 swap: no active swap line in /etc/fstab / "/dev/vda2 swap swap defaults 0 0"'), d.join("\n"));
        assert.ok(d.includes("km1 selinux: SELINUX=disabled in /etc/selinux/config / SELINUX=enforcing"), d.join("\n"));
        assert.ok(d.includes("km1 services: docker active / docker inactive"), d.join("\n"));
    });
});

describe("the cluster's checks, from the master", { skip }, () => {
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
        const cluster = async () =>
            judge(cfg, new Map([[km1.name, await checks(sb)]])).filter((r) => !(PREP_STEPS as readonly string[]).includes(r.step));
        const d = drifted(await cluster());
        assert.deepEqual(d, [
            "kn2 kubeadm-join: node kn2.virtomation.com Ready / not in kubectl get nodes",
            // the stand-ins' kubectl has kube-proxy, not the add-ons, and no namespaces to get
            "km1 kubernetes-objects: the lab's 3 Kubernetes objects of its stages / deployment kube-system/virt-api missing, namespace skydive error kubectl (simulated): get namespace is not supported",
        ]);

        const sed = `sed -i 's/^status=.*/status=NotReady/' ${SIM_APISERVER}/nodes/km1.virtomation.com`;
        assert.equal((await sb.runAsync(sed)).code, 0);
        const init = (await cluster()).find((r) => r.step === "kubeadm-init")!;
        assert.deepEqual(init.drift, { expected: "node km1.virtomation.com Ready", saw: "NotReady" });

        assert.equal((await sb.runAsync(`mv ${SIM_APISERVER}/cluster ${SIM_APISERVER}/cluster.off`)).code, 0);
        const down = await cluster();
        assert.equal(down[0].drift?.expected, "the control plane answering kubectl get nodes");
        assert.match(down[0].drift!.saw, /refused/);
        assert.equal(down[1].drift?.saw, "no control plane to ask");

        assert.equal((await sb.runAsync("rm /etc/kubernetes/admin.conf")).code, 0);
        assert.deepEqual((await cluster())[0].drift, {
            expected: "/etc/kubernetes/admin.conf (kubeadm init done)",
            saw: "no such file",
        });
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
        const known = new StackState(
            JSON.stringify({
                deployment: {
                    resources: [{ urn: "urn:pulumi:dev::p::x$command:remote:Command::km1-repo", type: "command:remote:Command" }],
                },
            }),
        ).urnsByName();
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

    it("a step's verdict is its first drifted item; a join is judged by the worker's check and its node's Ready on the master", () => {
        const ok = (item: string): CheckItem => ({ item });
        const bad = (item: string, saw: string): CheckItem => ({ item, drift: { expected: `${item} as made`, saw } });
        const node = (n: string, saw?: string) => (saw ? bad(`node ${n}`, saw) : ok(`node ${n}`));
        const seen = new Map([
            [
                km1.name,
                new Map([
                    ["kubeadm-init", [ok("kubeadm init"), ok("control plane")]],
                    ["wait-nodes", [node(km1.name), node("kn1.virtomation.com", "NotReady"), node("kn2.virtomation.com")]],
                    ["kubernetes-objects", [ok("object namespace skydive"), bad("object service nodejs-ex/nodejs", "missing")]],
                ]),
            ],
            [
                "kn2.virtomation.com",
                new Map([
                    ["repo", [bad("file /r", "no such file")]],
                    ["kubeadm-join", [bad("kubeadm join", "no such file")]],
                ]),
            ],
        ]);
        const byStep = Object.fromEntries(judge(cfg, seen).map((r) => [`${r.host} ${r.step}`, r.drift?.saw ?? "OK"]));
        assert.equal(byStep["km1 kubeadm-init"], "OK");
        assert.equal(byStep["kn1 kubeadm-join"], "NotReady", "kn1 did not answer: its node is still judged");
        assert.equal(byStep["kn2 kubeadm-join"], "no such file");
        assert.equal(byStep["kn2 repo"], "no such file");
        assert.equal(byStep["km1 kubernetes-objects"], "service nodejs-ex/nodejs missing");
        assert.equal(byStep["km1 repo"], undefined, "km1 answered no prep check here: none reported");
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
        const keys = expectedHostKeys(pinnedKm1, new StackState(state));
        assert.equal(keys.get("172.31.50.221"), line(1), "the pinned key wins over a record");
        assert.equal(keys.get("172.31.50.231"), line(2), "kn1's record, its preferred key");
        assert.equal(keys.has("172.31.50.232"), false, "kn2: nothing recorded, nothing pinned");
        await assert.rejects(
            runChecks(pinnedKm1, pinnedKm1.workers[1], { identity: [], knownHosts: "/kh", hostKeys: keys }, [], { timeoutMs: 1000 }),
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
        assert.throws(() => parseCheck("x.sh", "bogus line"), /x\.sh check printed a line that is not an item/);
        assert.deepEqual(parseCheck("x.sh", "ok\ta b\ndrift\tc\td e\tf\n"), [
            { item: "a b" },
            { item: "c", drift: { expected: "d e", saw: "f" } },
        ]);
    });
});
