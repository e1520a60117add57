// `pulumi preview --diff` of a one-line change to a host script, with the real engine and the
// official command provider against the simulated lab (km1 and kn1): the changed line shows in
// clear text once per host the script runs on, no base64 blob, the whole preview is short, and
// the plan is an update in place of that script's steps only (no replace: a replaced step that
// undoes itself would run its remove first). Then `up` applies it in place and `destroy` runs
// every remove command line.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Project, SimLab, engineEnv } from "../../harness/lib/simlab";
import { standinsWithJoinConfig } from "../../harness/lib/standins";

// The stand-ins with kubeadm's join --config (harness/lib/standins.ts): the lab's hosts copy them at up.
process.env.SIMLAB_STANDINS = standinsWithJoinConfig();
const LAB = "kvlprev";
const HOSTS = "km1=172.31.50.221,kn1=172.31.50.231";
/** A preview of a one-line change must stay well under this many characters (the base64 era: 64,082). */
const MAX_PREVIEW_CHARS = 6_000;

const SCRIPT = "sysctl.sh";
const OLD_LINE = "# traffic to pass iptables), then `sysctl --system`.";
const NEW_LINE = "# traffic to pass iptables), then `sysctl --system` (one line changed by test/e2e/preview.test.ts).";

const lab = new SimLab(LAB);
let project: Project;

before(async () => {
    const engine = engineEnv();
    await lab.down();
    await lab.up(HOSTS);
    project = new Project(lab, "prev", engine);
    project.configure({ workers: [{ name: "kn1.virtomation.com", address: "172.31.50.231" }] });
    await project.init();
    const r = await project.pulumi(["up", "--yes", "--skip-preview"]);
    assert.equal(r.code, 0, `pulumi up failed:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
});

after(async () => {
    if (process.env.KVL_E2E_KEEP) return;
    await lab.down();
    project?.cleanup();
});

describe("pulumi preview --diff of a changed host script", () => {
    it("shows the changed line in clear text once per host, no base64, a short preview, an update of that script's steps only", async (t) => {
        const file = path.join(project.dir, "steps", SCRIPT.replace(/\.sh$/, ""), SCRIPT);
        const text = fs.readFileSync(file, "utf8");
        assert.equal(text.split("\n").filter((l) => l === OLD_LINE).length, 1, `${SCRIPT} has the line to change once`);
        fs.writeFileSync(file, text.replace(OLD_LINE, NEW_LINE));

        const r = await project.pulumi(["preview", "--diff", "--color", "never"]);
        assert.equal(r.code, 0, `pulumi preview --diff failed:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
        const out = r.stdout;
        const saved = path.join(os.tmpdir(), "kvl-preview-diff.txt");
        fs.writeFileSync(saved, out);
        t.diagnostic(`pulumi preview --diff printed ${out.length} characters, ${out.split("\n").length} lines (kept in ${saved})`);

        // One block per updated step; in each, the changed line once as removed and once as added.
        const blocks = out.split(/^\s*~ command:remote:Command: \(update\)$/m).slice(1);
        assert.deepEqual(
            blocks.map((b) => /\$command:remote:Command::(\S+)\]$/m.exec(b)?.[1]).sort(),
            ["km1-sysctl", "kn1-sysctl"],
            `the updated steps:\n${out}`,
        );
        for (const b of blocks) {
            const lines = b.split("\n");
            assert.deepEqual(
                lines.filter((l) => l.includes(NEW_LINE)).map((l) => l.trim()),
                [`+ ${NEW_LINE}`],
                `the new line, added, once:\n${b}`,
            );
            assert.deepEqual(
                lines.filter((l) => l.includes(OLD_LINE)).map((l) => l.trim()),
                [`- ${OLD_LINE}`],
                `the old line, removed, once:\n${b}`,
            );
            assert.equal(
                lines.filter((l) => l.trim() === "~ delete (hidden)").length,
                1,
                "the remove command changed too, its diff hidden",
            );
        }
        assert.equal(out.split(NEW_LINE).length - 1, 2, "the new line twice in all: once per host");
        assert.doesNotMatch(out, /base64/, "no base64 decoding on the command line");
        assert.doesNotMatch(out, /[A-Za-z0-9+/]{100,}={0,2}/, "no encoded blob");
        assert.ok(out.length < MAX_PREVIEW_CHARS, `a short preview: ${out.length} characters (at most ${MAX_PREVIEW_CHARS}):\n${out}`);

        // The plan: an update in place of the two steps that run the script, nothing else.
        assert.deepEqual(await project.plan(), ["update command:remote:Command km1-sysctl", "update command:remote:Command kn1-sysctl"]);
    });

    it("pulumi up applies it in place (apply runs again: unchanged, nothing removed); destroy runs every remove", async () => {
        const mark = Object.fromEntries(["km1", "kn1"].map((h) => [h, lab.calls(h).length]));
        const r = await project.pulumi(["up", "--yes", "--skip-preview"]);
        assert.equal(r.code, 0, `pulumi up failed:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
        assert.match(r.stdout, /kubevirt-lab: sysctl\.sh apply: unchanged/, "the step's apply ran again");
        for (const h of ["km1", "kn1"]) {
            assert.deepEqual(
                lab
                    .calls(h)
                    .slice(mark[h])
                    .filter((l) => / sysctl --system$/.test(l)),
                [],
                `${h}: the file was neither removed nor rewritten`,
            );
            assert.equal(
                await lab.file(h, "/etc/sysctl.d/k8s.conf"),
                "net.bridge.bridge-nf-call-ip6tables = 1\nnet.bridge.bridge-nf-call-iptables = 1\n",
                `${h}: k8s.conf`,
            );
        }
        assert.deepEqual(await project.plan(), [], "nothing left to do");

        const d = await project.pulumi(["destroy", "--yes", "--skip-preview"]);
        assert.equal(d.code, 0, `pulumi destroy failed:\n${d.stdout.slice(-4000)}\n${d.stderr.slice(-4000)}`);
        for (const h of ["km1", "kn1"]) {
            assert.ok(
                lab.calls(h).some((l) => / kubeadm reset$/.test(l)),
                `${h}: kubeadm reset on destroy`,
            );
            assert.equal(await lab.file(h, "/etc/sysctl.d/k8s.conf"), undefined, `${h}: k8s.conf removed`);
            assert.equal(await lab.file(h, "/etc/yum.repos.d/kubernetes.repo"), undefined, `${h}: kubernetes.repo removed`);
        }
    });
});
