// Interrupted runs: the real engine SIGKILLed (with its language host and providers, see
// killSession) at several points of `pulumi up` against the simulated lab: during kubeadm init
// (after admin.conf, before the control plane), during a worker's host preparation (yum install)
// and during a worker's kubeadm join. After each kill the stack is locked and holds the pending
// operation of the step that was cut off; harness/lib/recover.sh (what harness/lab.sh runs before
// pulumi) clears them, one plain `pulumi up` then converges, `preview --expect-no-changes` is
// clean; the half init is reset and done again once; a destroy killed midway is finished by one
// more destroy, which leaves the hosts clean.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { Project, SimLab, engineEnv, parseCalls, type RunResult } from "../../harness/lib/simlab";
import { standinsWithJoinConfig } from "../../harness/lib/standins";

// The stand-ins with kubeadm's join --config (harness/lib/standins.ts): the lab's hosts copy them at up.
process.env.SIMLAB_STANDINS = standinsWithJoinConfig();
const lab = new SimLab("kvlint");
const HOSTS = "km1=172.31.50.221,kn1=172.31.50.231,kn2=172.31.50.232,kn3=172.31.50.233";
const KN1 = { name: "kn1.virtomation.com", address: "172.31.50.231" };
const KN2 = { name: "kn2.virtomation.com", address: "172.31.50.232" };
const KN3 = { name: "kn3.virtomation.com", address: "172.31.50.233" };
let project: Project;
const t0 = Date.now();

function show(r: RunResult): string {
    return `exit ${r.code}\n--- stdout (end)\n${r.stdout.slice(-3000)}\n--- stderr (end)\n${r.stderr.slice(-3000)}`;
}

/** The number of calls a host's stand-ins recorded that match. */
function count(host: string, match: RegExp): number {
    return lab.calls(host).filter((l) => match.test(l)).length;
}

/** True once the host recorded a call matching `match` after its first `from` calls. */
function called(host: string, match: RegExp, from: number): () => boolean {
    return () =>
        lab
            .calls(host)
            .slice(from)
            .some((l) => match.test(l));
}

function lockFiles(): string[] {
    const d = path.join(project.state, ".pulumi", "locks", "organization", "kubevirt-lab", project.stack);
    return fs.existsSync(d) ? fs.readdirSync(d).filter((f) => f.endsWith(".json")) : [];
}

const pendingOperations = () => project.pendingOperations();

/**
 * `pulumi up` killed when `when()` is true; then what a killed engine leaves is checked (a lock that
 * fails the next plain command, the step's pending operation), recovered as lab.sh does, and one
 * plain up converges: no warning about pending operations, then a clean preview.
 */
async function killedThenConverges(
    what: string,
    when: () => boolean,
    pending: RegExp,
    afterKill?: () => Promise<void>,
): Promise<RunResult> {
    const killed = await project.pulumiKilled(["up", "--yes", "--skip-preview"], when);
    assert.ok(killed.killed, `the up ended before the kill point (${what}):\n${show(killed)}`);
    await afterKill?.();
    assert.equal(lockFiles().length, 1, "the killed engine left its lock");
    // (the file backend locks for up, destroy, refresh and stack import, not for preview or export)
    const locked = await project.pulumi(["up", "--yes", "--skip-preview"]);
    assert.notEqual(locked.code, 0);
    assert.match(locked.stderr + locked.stdout, /the stack is currently locked by 1 lock\(s\)/);
    const ops = await pendingOperations();
    assert.ok(
        ops.some((o) => pending.test(o)),
        `pending operations after the kill (${what}): ${ops.join(", ")}`,
    );

    const rec = await project.recover("up");
    assert.equal(rec.code, 0, show(rec));
    assert.match(
        rec.stderr,
        /^recover: removed the stale lock of stack int \(.*\): (no process \d+ runs on this machine any more|process \d+ has ended \(a zombie\)), so no engine holds the stack; safe because/m,
    );
    assert.match(rec.stderr, /pending operation\(s\) of a killed run cleared from the state of stack int/);
    assert.deepEqual(lockFiles(), []);
    assert.deepEqual(await pendingOperations(), []);

    const up = await project.pulumi(["up", "--yes", "--skip-preview", ...rec.replace]);
    assert.equal(up.code, 0, `the up after the kill (${what}) failed:\n${show(up)}`);
    assert.doesNotMatch(up.stdout + up.stderr, /pending operations/, "no pending operation left");
    const preview = await project.pulumi(["preview", "--expect-no-changes"]);
    assert.equal(preview.code, 0, `changes left after the kill (${what}) and one up:\n${show(preview)}`);
    return up;
}

before(async () => {
    const engine = engineEnv();
    await lab.down();
    await lab.up(HOSTS);
    project = new Project(lab, "int", engine);
    project.configure({ workers: [KN1] });
    await project.init();
});

after(async () => {
    if (process.env.KVL_E2E_KEEP) return;
    await lab.down();
    project?.cleanup();
});

describe("an engine killed midway: one plain re-run converges", () => {
    it("1. during kubeadm init, after admin.conf and before the control plane: reset and init again, once", async () => {
        // the stand-in kubeadm dies 20 s after writing the kubeconfigs; the engine is killed at once: the
        // cut-off kubeadm-init.sh lives on on km1 (nothing stops a command without a terminal), and the
        // re-run reaches km1 before it has died
        await lab.setSimEnv("km1", { SIM_KUBEADM_CUT: "init-kubeconfig", SIM_KUBEADM_CUT_DELAY: "20" });
        const adminConf = lab.upperPath("km1", "/etc/kubernetes/admin.conf");
        const up = await killedThenConverges(
            "kubeadm init",
            () => fs.existsSync(adminConf),
            /^creating km1-kubeadm-init$/,
            // (the cut kubeadm read the setting when it started: the next init runs whole)
            () => lab.setSimEnv("km1", { SIM_KUBEADM_CUT: undefined, SIM_KUBEADM_CUT_DELAY: undefined }),
        );
        const km1 = parseCalls(lab.calls("km1"))
            .filter((c) => / kubeadm (init .*|reset)$/.test(c.line))
            .map((c) => c.args[0]);
        assert.deepEqual(km1, ["init", "reset", "init"], "the half init was reset and done again, once");
        assert.match(
            up.stdout,
            /kubeadm-init\.sh: an earlier kubeadm run of kubevirt-lab on this host is still at work .*: waiting for it to end/,
        );
        assert.match(
            up.stdout,
            /kubeadm-init\.sh: \/etc\/kubernetes\/admin\.conf exists, but no control plane manifest: a kubeadm init cut off midway/,
        );
        assert.ok(fs.existsSync(path.join(lab.dir, "apiserver", "addons")), "the cluster's init finished");
        assert.deepEqual(fs.readdirSync(path.join(lab.dir, "apiserver", "nodes")).sort(), ["km1.virtomation.com", "kn1.virtomation.com"]);
    });

    it("2. during a new worker's host preparation (yum install)", async () => {
        await lab.setSimEnv("kn2", { SIM_DELAY_YUM: "4" });
        project.configure({ workers: [KN1, KN2] });
        await killedThenConverges("kn2 yum install", called("kn2", / yum install /, 0), /^creating kn2-packages$/, () =>
            lab.setSimEnv("kn2", { SIM_DELAY_YUM: undefined }),
        );
        assert.ok(fs.existsSync(path.join(lab.dir, "apiserver", "nodes", "kn2.virtomation.com")), "kn2 joined");
        assert.equal(count("kn2", / kubeadm join /), 1);
    });

    it("3. during a new worker's kubeadm join", async () => {
        // the join sleeps 12 s before it joins: killed at its start, it goes on on kn3 and joins
        await lab.setSimEnv("kn3", { SIM_DELAY_KUBEADM: "12" });
        project.configure({ workers: [KN1, KN2, KN3] });
        await killedThenConverges("kn3 kubeadm join", called("kn3", / kubeadm join /, 0), /^creating kn3-kubeadm-join$/, () =>
            lab.setSimEnv("kn3", { SIM_DELAY_KUBEADM: undefined }),
        );
        assert.ok(fs.existsSync(path.join(lab.dir, "apiserver", "nodes", "kn3.virtomation.com")), "kn3 joined");
        // the re-run's kubeadm-join.sh waited for the cut-off one (kubeadm_lock), then found kn3 joined
        const kn3 = parseCalls(lab.calls("kn3"));
        const join = kn3.filter((c) => / kubeadm join /.test(c.line));
        assert.equal(join.length, 1, "one join");
        assert.equal(count("kn3", / kubeadm reset/), 0, "no reset");
        const asked = kn3.find((c) =>
            / kubectl --kubeconfig=\/etc\/kubernetes\/kubelet\.conf get node kn3\.virtomation\.com /.test(c.line),
        );
        assert.ok(asked, "the re-run asked whether kn3 joined");
        assert.ok(asked!.t - join[0].t >= 12_000, `asked after the cut-off join ended (${asked!.t - join[0].t} ms after it began)`);
    });

    it("4. kubeadm init ran once more than its one reset on km1, whatever was killed", () => {
        assert.equal(count("km1", / kubeadm init /), 2);
        assert.equal(count("km1", / kubeadm reset$/), 1);
    });

    it("5. a destroy killed midway: the next destroy finishes it and leaves the hosts clean", async () => {
        await lab.setSimEnv("kn3", { SIM_DELAY_KUBEADM: "4" });
        const killed = await project.pulumiKilled(
            ["destroy", "--yes", "--skip-preview"],
            called("kn3", / kubeadm reset$/, lab.calls("kn3").length),
        );
        assert.ok(killed.killed, `the destroy ended before the kill point:\n${show(killed)}`);
        await lab.setSimEnv("kn3", { SIM_DELAY_KUBEADM: undefined });
        const rec = await project.recover("destroy");
        assert.equal(rec.code, 0, show(rec));
        assert.match(rec.stderr, /interrupted while deleting: kn3-kubeadm-join .*the next destroy deletes it again/);
        const d = await project.pulumi(["destroy", "--yes", "--skip-preview"]);
        assert.equal(d.code, 0, show(d));
        assert.deepEqual((await project.exportState()).resources ?? [], [], "nothing left in the state");
        for (const h of ["km1", "kn1", "kn2", "kn3"]) {
            assert.equal(await lab.file(h, "/etc/kubernetes/admin.conf"), undefined, `${h}: admin.conf`);
            assert.equal(await lab.file(h, "/etc/kubernetes/kubelet.conf"), undefined, `${h}: kubelet.conf`);
            assert.equal(await lab.file(h, "/etc/yum.repos.d/kubernetes.repo"), undefined, `${h}: repo file`);
        }
        assert.equal(fs.existsSync(path.join(lab.dir, "apiserver", "cluster")), false, "the cluster is gone");
        assert.equal(count("km1", / kubeadm init /), 2, "still one init after the reset of the half one");
        console.log(`interrupt e2e: ${Math.round((Date.now() - t0) / 1000)} s`);
    });
});
