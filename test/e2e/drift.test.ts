// npm run drift against the simulated lab: a fresh `pulumi up` has no drift;
// a sysctl file edited by hand (kn1), kubelet disabled and stopped (kn2) and
// kn2's node NotReady are each reported with their repair; the printed
// `pulumi up --replace` commands, run as printed, bring the lab back: drift
// exits 0 again and the preview has no change. Then destroy.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { Project, SimLab, engineEnv, parseCalls } from "../../harness/lib/simlab";
import { standinsWithJoinConfig } from "../../harness/lib/standins";

// The stand-ins with kubeadm's join --config (harness/lib/standins.ts): the lab's hosts copy them at up.
process.env.SIMLAB_STANDINS = standinsWithJoinConfig();
const LAB = "kvldrift";
const HOSTS = "km1=172.31.50.221,kn1=172.31.50.231,kn2=172.31.50.232";

const lab = new SimLab(LAB);
let project: Project;

/** `npm run drift` for the project's stack, in the operator namespace. */
const drift = () => project.drift();

/** The words of a printed command line (single quotes as the report writes them). */
function words(line: string): string[] {
    return [...line.matchAll(/'((?:[^']|'\\'')*)'|(\S+)/g)].map((m) => (m[1] !== undefined ? m[1].replace(/'\\''/g, "'") : m[2]));
}

before(async () => {
    const engine = engineEnv();
    await lab.down();
    await lab.up(HOSTS);
    project = new Project(lab, "drift", engine);
    project.configure({ stages: ["dns"] });
    await project.init();
});

after(async () => {
    if (process.env.KVL_E2E_KEEP) return;
    await lab.down();
    project?.cleanup();
});

describe("npm run drift against simulated hosts", { timeout: 300_000 }, () => {
    it("1. after pulumi up nothing has drifted: every step OK, exit 0", async () => {
        const up = await project.pulumi(["up", "--yes", "--skip-preview"]);
        assert.equal(up.code, 0, `pulumi up failed:\n${up.stdout.slice(-3000)}\n${up.stderr.slice(-3000)}`);
        const t0 = Date.now();
        const d = await drift();
        console.log(`drift, nothing drifted: ${Date.now() - t0} ms`);
        assert.equal(d.code, 0, d.text);
        for (const h of ["km1", "kn1", "kn2"]) {
            for (const s of ["repo", "packages", "docker-storage", "services", "sysctl", "swap", "selinux"]) {
                assert.ok(d.lines.includes(`OK ${h} ${s}`), `OK ${h} ${s} in:\n${d.text}`);
            }
        }
        for (const l of ["OK km1 kubeadm-init", "OK kn1 kubeadm-join", "OK kn2 kubeadm-join", "OK dns1 dns-records"]) {
            assert.ok(d.lines.includes(l), `${l} in:\n${d.text}`);
        }
        assert.ok(!d.lines.some((l) => /^(DRIFT|UNREACHABLE)/.test(l)), d.text);
    });

    it("2. drift made by hand is reported with its repair; the repairs as printed bring the lab back", async () => {
        const before = Object.fromEntries(["km1", "kn1", "kn2"].map((h) => [h, lab.calls(h).length]));
        await lab.cli(["exec", "kn1", "sh", "-c", "sed -i 's/iptables = 1/iptables = 0/' /etc/sysctl.d/k8s.conf"]);
        await lab.cli(["exec", "kn2", "systemctl", "disable", "--now", "kubelet"]);
        const node = path.join(lab.dir, "apiserver", "nodes", "kn2.virtomation.com");
        fs.writeFileSync(node, fs.readFileSync(node, "utf8").replace(/^status=.*$/m, "") + "status=NotReady\n");

        const d = await drift();
        console.log(d.lines.filter((l) => !l.startsWith("OK ")).join("\n"));
        assert.equal(d.code, 1, d.text);
        const driftLines = d.lines.filter((l) => l.startsWith("DRIFT "));
        assert.deepEqual(
            driftLines,
            [
                'DRIFT kn1 sysctl: expected /etc/sysctl.d/k8s.conf line 2 "net.bridge.bridge-nf-call-iptables = 1", saw "net.bridge.bridge-nf-call-iptables = 0"',
                "DRIFT kn2 services: expected kubelet enabled, saw kubelet disabled",
                "DRIFT kn2 kubeadm-join: expected node kn2.virtomation.com Ready, saw NotReady",
            ],
            d.text,
        );
        assert.ok(d.lines.includes("OK km1 kubeadm-init") && d.lines.includes("OK kn1 kubeadm-join"), d.text);
        // the report never changed a host: nothing but read-only calls
        for (const h of ["km1", "kn1", "kn2"]) {
            const calls = parseCalls(lab.calls(h).slice(before[h])).filter((c) => !(h === "kn1" && c.prog === "sed"));
            const writes = calls.filter(
                (c) =>
                    !/^(systemctl (is-active|is-enabled)|rpm -q|sysctl -n|getenforce|swapon --show|kubectl .* get )/.test(
                        `${c.prog} ${c.args.join(" ")}`,
                    ) && !(h === "kn2" && c.prog === "systemctl" && c.args[0] === "disable"),
            );
            assert.deepEqual(
                writes.map((c) => c.line),
                [],
                `${h}: drift made only read-only calls`,
            );
        }

        // the repairs: safe ones first, the re-join marked destructive
        const repairs = d.lines.filter((l) => l.startsWith("repair "));
        assert.equal(repairs.length, 3, d.text);
        assert.match(repairs[0], /^repair kn1 sysctl \(safe: /);
        assert.match(repairs[1], /^repair kn2 services \(safe: /);
        assert.match(repairs[2], /^repair kn2 kubeadm-join \(DESTRUCTIVE: re-joins kn2\.virtomation\.com/);
        const commands = d.lines.filter((l) => /^ {2}pulumi up /.test(l)).map((l) => words(l.trim()));
        assert.equal(commands.length, 3, d.text);
        const urns = ((await project.exportState()).resources ?? []).map((r: { urn: string }) => r.urn);
        for (const c of commands) {
            for (let i = 0; i < c.length; i++) if (c[i] === "--replace") assert.ok(urns.includes(c[i + 1]), `${c[i + 1]} is in the state`);
        }
        assert.ok(commands[0].some((w) => w.endsWith("::kn1-sysctl")));
        assert.ok(commands[2].some((w) => w.endsWith("::kn2-kubeadm-join")));

        const beforeRepair = Object.fromEntries(["km1", "kn1", "kn2"].map((h) => [h, lab.calls(h).length]));
        for (const c of commands) {
            assert.deepEqual(c.slice(0, 2), ["pulumi", "up"]);
            // as printed (its own --stack), in the project's directory
            const r = await lab.op(
                ["pulumi", "--non-interactive", ...c.slice(1), "--yes", "--skip-preview"],
                project.env,
                300_000,
                project.dir,
            );
            console.log(`${c.slice(0, 2).join(" ")} ... ${c[c.length - 1].split("::").pop()}: ${r.ms} ms`);
            assert.equal(r.code, 0, `${c.join(" ")} failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
        }
        const after = (h: string) => lab.calls(h).slice(beforeRepair[h]);
        assert.ok(!after("km1").some((l) => / kubeadm (init|reset)/.test(l)), `no init or reset on km1:\n${after("km1").join("\n")}`);
        assert.ok(!after("kn1").some((l) => / kubeadm (join|reset)/.test(l)), `kn1 not re-joined:\n${after("kn1").join("\n")}`);
        assert.ok(
            after("kn1").some((l) => / sysctl --system$/.test(l)),
            "kn1: sysctl --system",
        );
        assert.ok(
            after("kn2").some((l) => / kubeadm join /.test(l)),
            "kn2 re-joined",
        );

        const again = await drift();
        assert.equal(again.code, 0, again.text);
        const preview = await project.pulumi(["preview", "--expect-no-changes"]);
        assert.equal(preview.code, 0, `expected no changes:\n${preview.stdout}\n${preview.stderr}`);
    });

    it("3. the master's kubeadm init undone: one destructive repair that rebuilds the cluster, done as printed", async () => {
        await lab.cli(["exec", "km1", "rm", "/etc/kubernetes/admin.conf"]);
        const d = await drift();
        assert.equal(d.code, 1, d.text);
        assert.deepEqual(
            d.lines.filter((l) => l.startsWith("DRIFT ")),
            [
                "DRIFT km1 kubeadm-init: expected /etc/kubernetes/admin.conf (kubeadm init done), saw no such file",
                "DRIFT kn1 kubeadm-join: expected node kn1.virtomation.com Ready, saw no control plane to ask",
                "DRIFT kn2 kubeadm-join: expected node kn2.virtomation.com Ready, saw no control plane to ask",
            ],
            d.text,
        );
        const repairs = d.lines.filter((l) => l.startsWith("repair "));
        assert.equal(repairs.length, 1, d.text);
        assert.match(repairs[0], /^repair km1 kubeadm-init \(DESTRUCTIVE: resets the cluster/);
        const command = words(d.lines.find((l) => /^ {2}pulumi up /.test(l))!.trim());
        const r = await lab.op(
            ["pulumi", "--non-interactive", ...command.slice(1), "--yes", "--skip-preview"],
            project.env,
            300_000,
            project.dir,
        );
        console.log(`pulumi up ... (the cluster rebuilt): ${r.ms} ms`);
        assert.equal(r.code, 0, `${command.join(" ")} failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
        const again = await drift();
        assert.equal(again.code, 0, again.text);
        const preview = await project.pulumi(["preview", "--expect-no-changes"]);
        assert.equal(preview.code, 0, `expected no changes:\n${preview.stdout}\n${preview.stderr}`);
    });

    it("4. a host that does not answer SSH is named, exit 2", async () => {
        await lab.cli(["stop-sshd", "kn2"]);
        try {
            const d = await drift();
            assert.equal(d.code, 2, d.text);
            assert.ok(
                d.lines.some((l) => /^UNREACHABLE kn2 \(root@172\.31\.50\.232:22\): cannot reach it over SSH/.test(l)),
                d.text,
            );
            assert.ok(d.lines.includes("OK kn1 sysctl") && d.lines.includes("OK kn2 kubeadm-join"), "the other hosts are still judged");
        } finally {
            await lab.cli(["start-sshd", "kn2"]);
        }
    });

    it("5. destroy", async () => {
        const r = await project.pulumi(["destroy", "--yes", "--skip-preview"]);
        assert.equal(r.code, 0, `destroy failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
    });
});
