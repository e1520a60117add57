// steps/packages/packages.sh in sandboxes with the recording stand-ins (yum, rpm): what it
// installs and checks, a second run that only queries, its usage; the command lines of the dev
// stack's packages steps (golden/commands.txt).
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { REPO_FILE, sandboxes } from "../../test/lib/hosts";
import { SIM_STATE } from "../../test/lib/sandbox";
import { act, assertCommandsGolden, assertNoop, files, ok, sandboxSkip, stateChanging, status, step } from "../../test/lib/steps";

/** A kubernetes.repo as repo.sh leaves it, for yum's stand-in: it offers the Kubernetes packages once a repo file names kubernetes. */
const KUBE_REPO = "[kubernetes]\n";

const sandbox = sandboxes();

describe("packages.sh", { skip: sandboxSkip(), concurrency: 3 }, () => {
    const ARGS = act("apply", {
        "yum-update": "yes",
        "kubernetes-version": "1.9.4",
        package: ["docker", "ansible", "git", "curl", "wget"],
    });
    const PKGS = ["kubelet-1.9.4", "kubeadm-1.9.4", "kubectl-1.9.4", "docker", "ansible", "git", "curl", "wget"];

    it("updates, installs what rpm -q does not find, checks it; a second run only queries", async () => {
        const sb = await sandbox();
        await sb.writeFileAsync(REPO_FILE, KUBE_REPO);
        const s = await step(sb, "packages.sh", ARGS);
        ok(s.result, "packages.sh");
        status(s.result, "packages.sh", "apply", "changed");
        assert.deepEqual(s.calls, [
            `rpm -q ${PKGS.join(" ")}`,
            "rpm -q --quiet kubelet",
            "yum update -y",
            `yum install -y ${PKGS.join(" ")}`,
            `rpm -q ${PKGS.join(" ")}`,
        ]);
        assert.deepEqual(files(s), [], "packages.sh writes no file itself");
        const again = await assertNoop(sb, "packages.sh", ARGS, "apply");
        assert.deepEqual(again.calls, [`rpm -q ${PKGS.join(" ")}`]);
    });

    it("installs only the missing ones, no yum update once kubelet is there or when told no", async () => {
        const sb = await sandbox();
        await sb.writeFileAsync(REPO_FILE, KUBE_REPO);
        ok(
            await sb.runAsync(
                `mkdir -p ${SIM_STATE}/rpmdb && printf 1.9.4-0 > ${SIM_STATE}/rpmdb/kubelet && printf 2.0-1 > ${SIM_STATE}/rpmdb/git`,
            ),
            "seed",
        );
        const s = await step(sb, "packages.sh", ARGS);
        ok(s.result, "packages.sh");
        assert.deepEqual(stateChanging(s.calls), ["yum install -y kubeadm-1.9.4 kubectl-1.9.4 docker ansible curl wget"]);

        const sb2 = await sandbox();
        await sb2.writeFileAsync(REPO_FILE, KUBE_REPO);
        const s2 = await step(sb2, "packages.sh", act("apply", { "yum-update": "no", "kubernetes-version": "1.9.4" }));
        ok(s2.result, "packages.sh no");
        assert.deepEqual(stateChanging(s2.calls), ["yum install -y kubelet-1.9.4 kubeadm-1.9.4 kubectl-1.9.4"]);
    });

    it("fails clearly without the Kubernetes repo and on bad arguments", async () => {
        const sb = await sandbox();
        const r = await sb.runScriptAsync("packages.sh", act("apply", { "yum-update": "no", "kubernetes-version": "1.9.4" }));
        assert.notEqual(r.code, 0);
        assert.match(r.stdout + r.stderr, /No package kubelet-1\.9\.4 available/);
        const bad = await step(sb, "packages.sh", act("apply", { "kubernetes-version": "1.9.4", package: ["git"] }));
        assert.equal(bad.result.code, 2);
        assert.equal(
            bad.result.stderr,
            "usage: packages.sh apply --yum-update <yum-update> --kubernetes-version <kubernetes-version> [--package <package>]... | remove\n",
        );
        assert.deepEqual(bad.calls, [], "nothing called without --yum-update");
        const rm = ok(await sb.runScriptAsync("packages.sh", act("remove")), "remove");
        status(rm, "packages.sh", "remove", "unchanged");
    });
});

it("the dev stack's packages.sh steps: create and delete command lines (script elided), logging, stdin, as golden/commands.txt", () => {
    assertCommandsGolden("packages");
});
