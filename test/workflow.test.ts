// The PR preview workflow passes actionlint (built from the Go module proxy by
// .ci/run / `npm run setup`), and previews the dev stack with pulumi/actions.
import { it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { REPO } from "./lib/stack";

const actionlint = [process.env.ACTIONLINT, path.join(os.homedir(), ".cache/kubevirt-lab/tools/bin/actionlint")].find(
    (p) => p && fs.existsSync(p),
);

it("the preview workflow is valid for actionlint", () => {
    assert.ok(actionlint, "actionlint is installed (bash harness/dev-tools.sh)");
    const r = spawnSync(actionlint!, ["-color=false"], { cwd: REPO, encoding: "utf8", timeout: 60000 });
    assert.equal(r.status, 0, `actionlint found problems:\n${r.stdout}${r.stderr}`);
    // It does find problems: a broken copy is refused.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-wf-"));
    fs.mkdirSync(path.join(dir, ".github/workflows"), { recursive: true });
    fs.copyFileSync(path.join(REPO, ".github/actionlint.yaml"), path.join(dir, ".github/actionlint.yaml"));
    const text = fs
        .readFileSync(path.join(REPO, ".github/workflows/preview.yml"), "utf8")
        .replace("${{ secrets.GITHUB_TOKEN }}", "${{ secret.GITHUB_TOKEN }}");
    fs.writeFileSync(path.join(dir, ".github/workflows/preview.yml"), text);
    execFileSync("git", ["init", "-q"], { cwd: dir });
    const bad = spawnSync(actionlint!, ["-color=false"], { cwd: dir, encoding: "utf8", timeout: 60000 });
    assert.notEqual(bad.status, 0, "a workflow with an undefined context is refused");
    fs.rmSync(dir, { recursive: true });
});

it("previews the dev stack on pull requests and comments the diff", () => {
    const wf = YAML.parse(fs.readFileSync(path.join(REPO, ".github/workflows/preview.yml"), "utf8"));
    assert.deepEqual(Object.keys(wf.on), ["pull_request"]);
    const steps = wf.jobs.preview.steps;
    const pulumiStep = steps.find((s: any) => String(s.uses).startsWith("pulumi/actions@"));
    assert.equal(pulumiStep.with.command, "preview");
    assert.equal(pulumiStep.with["comment-on-pr"], true);
    assert.equal(pulumiStep.with["stack-name"], "dev");
    assert.equal(pulumiStep.with["pulumi-version"], "3.248.0");
    assert.deepEqual(wf.jobs.preview["runs-on"], ["self-hosted", "homelab"]);
    assert.equal(wf.jobs.preview.env.PULUMI_BACKEND_URL, "${{ secrets.PULUMI_BACKEND_URL }}");
    assert.equal(wf.jobs.preview.env.PULUMI_CONFIG_PASSPHRASE, "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}");
});
