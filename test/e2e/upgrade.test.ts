// A lab made by the previous release, taken over by this one: `pulumi up` with the previous
// release's program (exported from git), then `preview` and `up` with this one. The preview has
// no change at all (the steps moved to steps/ and gained a check action, yet what each step sends
// is the same, byte for byte); no host records a kubeadm init, join or reset; the lab then
// matches the stack file and destroys cleanly.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Project, REPO, SimLab, engineEnv } from "../../harness/lib/simlab";
import { standinsWithJoinConfig } from "../../harness/lib/standins";

// The stand-ins with kubeadm's join --config (harness/lib/standins.ts): the lab's hosts copy them at up.
process.env.SIMLAB_STANDINS = standinsWithJoinConfig();

/** The previous release: the commit that landed before the steps' folders (stop 21 of the tracker). */
const PREVIOUS_RELEASE = "109c2a0c98944b3805af89c6da6c0d04758b7e8c";
const lab = new SimLab("kvlupg");
const previous = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-previous-"));
let project: Project;

before(async () => {
    try {
        execFileSync("bash", ["-c", `git -C '${REPO}' archive '${PREVIOUS_RELEASE}' | tar -x -C '${previous}'`], {
            stdio: ["ignore", "ignore", "pipe"],
        });
    } catch (e: any) {
        throw new Error(`the previous release ${PREVIOUS_RELEASE} is not in this clone's history (a shallow clone?): ${e.stderr}`);
    }
    const engine = engineEnv();
    await lab.down();
    await lab.up("km1=172.31.50.221,kn1=172.31.50.231");
    project = new Project(lab, "upg", engine, previous);
    project.configure({ workers: [{ name: "kn1.virtomation.com", address: "172.31.50.231" }] });
    await project.init();
});

after(async () => {
    if (process.env.KVL_E2E_KEEP) return;
    await lab.down();
    project?.cleanup();
    fs.rmSync(previous, { recursive: true, force: true });
});

describe("upgrading a lab of the previous release", () => {
    it("the previous release builds the lab", async () => {
        const r = await project.pulumi(["up", "--yes", "--skip-preview"]);
        assert.equal(r.code, 0, `up with the previous release failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
        assert.ok(
            lab.calls("km1").some((l) => / kubeadm init /.test(l)),
            "the previous release ran kubeadm init",
        );
    });

    it("this release's preview changes nothing: no replace, no delete, no update (never kubeadm init or a join)", async () => {
        project.useProgram(REPO);
        const plan = await project.previewSteps();
        const changed = plan.filter((s) => s.op !== "same");
        const destructive = changed.filter((s) => /replace|delete|discard/.test(s.op));
        assert.deepEqual(
            destructive,
            [],
            `nothing replaced or deleted; the plan:\n${changed.map((s) => `${s.op} ${s.type} ${s.name}`).join("\n")}`,
        );
        for (const s of plan.filter((x) => /kubeadm-(init|join)$/.test(x.name))) {
            assert.ok(["same", "update"].includes(s.op), `${s.name}: ${s.op}`);
        }
        const state = ((await project.exportState()).resources ?? []).map((r: { urn: string }) => r.urn);
        assert.ok(
            state.some((u: string) => u.endsWith("::km1-kubeadm-init")),
            "the init step is in the state",
        );
        const none = await project.pulumi(["preview", "--expect-no-changes"]);
        assert.equal(none.code, 0, `expected no changes:\n${none.stdout.slice(-3000)}`);
        assert.deepEqual(
            changed.map((s) => `${s.op} ${s.name}`),
            [],
            "no change at all: what every step sends is the previous release's",
        );
    });

    it("this release's up runs no kubeadm init, join or reset, and leaves nothing to do", async () => {
        const before = Object.fromEntries(["km1", "kn1"].map((h) => [h, lab.calls(h).length]));
        const r = await project.pulumi(["up", "--yes", "--skip-preview"]);
        assert.equal(r.code, 0, `up with this release failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
        for (const h of ["km1", "kn1"]) {
            const kubeadm = lab
                .calls(h)
                .slice(before[h])
                .filter((l) => / kubeadm (init|join|reset)/.test(l));
            assert.deepEqual(kubeadm, [], `${h}: no kubeadm init, join or reset`);
        }
        const again = await project.pulumi(["preview", "--expect-no-changes"]);
        assert.equal(again.code, 0, `expected no changes:\n${again.stdout.slice(-3000)}`);
    });

    it("and destroys cleanly", async () => {
        const r = await project.pulumi(["destroy", "--yes", "--skip-preview"]);
        assert.equal(r.code, 0, `destroy failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
        assert.ok(
            lab.calls("km1").some((l) => / kubeadm reset/.test(l)),
            "km1 reset on destroy",
        );
    });
});
