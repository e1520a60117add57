// steps/wait-pods/wait-pods.sh in sandboxes with a recording kubectl: the ready pods on stdout,
// a bounded wait that shows what it saw; its pod lines as the real kubectl 1.9.4 formats them (when
// harness/kubernetes.sh has built it); the command lines of the dev stack's wait-pods steps (golden/).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";

import { sandboxes } from "../../test/lib/hosts";
import { REPO_ROOT, STANDINS_BIN } from "../../test/lib/sandbox";
import { assertCommandsGolden, ok, run, sandboxSkip, status } from "../../test/lib/steps";

const sandbox = sandboxes();

describe("wait-pods.sh", { skip: sandboxSkip(), concurrency: 3 }, () => {
    it("wait-pods.sh prints the ready pods on stdout, its closing line on stderr; times out showing what it saw", async () => {
        const bin = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-fake-kubectl-"));
        after(() => fs.rmSync(bin, { recursive: true, force: true }));
        fs.writeFileSync(path.join(bin, "kubectl"), '#!/usr/bin/env bash\nprintf "%s\\n" "$*" >>/root/kubectl.args\ncat /root/pods\n', {
            mode: 0o755,
        });
        const sb = await sandbox({ hostname: "km1", binDirs: [bin, STANDINS_BIN] });
        await sb.writeFileAsync("/root/pods", "ingress-1 10.244.1.4 kn1 Running True\ningress-2 10.244.2.4 kn2 Pending False\n");
        const wait = { timeout: "5", namespace: "ingress-nginx", selector: "app=ingress-nginx", "min-ready": "1", interval: "1" };
        const r = ok(await sb.runScriptAsync("wait-pods.sh", run(wait)), "wait-pods");
        assert.equal(r.stdout, "ingress-1 10.244.1.4 kn1\n", "stdout is exactly the pod lines");
        status(r, "wait-pods.sh", "run", "unchanged", "stderr");
        assert.match(
            sb.readFile("/root/kubectl.args")!,
            /^--kubeconfig=\/etc\/kubernetes\/admin\.conf get pods -n ingress-nginx -l app=ingress-nginx -o go-template=\{\{range \.items\}\}/,
        );
        const slow = await sb.runScriptAsync("wait-pods.sh", run({ ...wait, "min-ready": "2", timeout: "1" }));
        assert.equal(slow.code, 1);
        assert.equal(slow.stdout, "");
        assert.match(
            slow.stderr,
            /^wait-pods\.sh: fewer than 2 ready pods with app=ingress-nginx in ingress-nginx after 1s; last seen:\ningress-1 10\.244\.1\.4 kn1 Running True\n/,
        );
        assert.equal(
            (await sb.runScriptAsync("wait-pods.sh", ["5", "ingress-nginx", "app=ingress-nginx", "1"])).code,
            2,
            "positional words: usage",
        );
    });

    it("wait-pods.sh's pod lines, formatted by the real kubectl 1.9.4: one line per pod, a column for every field", async (t) => {
        // kubectl 1.9's jsonpath dropped the newline after a nested range: every pod on one line,
        // which hid the ready ones (found against the real API server). The template is run here by
        // the real kubectl 1.9.4 (`convert --local`: the same printers as `get`) on a pod list.
        const env = spawnSync("bash", [path.join(REPO_ROOT, "harness", "kubernetes.sh"), "--print-env"], { encoding: "utf8" });
        const real = /KUBEVIRT_LAB_K8S_BIN=["']?([^"'\n]+)/.exec(env.stdout)?.[1];
        if (env.status !== 0 || !real || !fs.existsSync(path.join(real, "kubectl")))
            return t.skip("Kubernetes v1.9.4 binaries missing (bash harness/kubernetes.sh builds them)");
        const bin = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-kubectl-194-"));
        after(() => fs.rmSync(bin, { recursive: true, force: true }));
        fs.copyFileSync(path.join(real, "kubectl"), path.join(bin, "kubectl-1.9.4"));
        fs.chmodSync(path.join(bin, "kubectl-1.9.4"), 0o755);
        // `get pods ... -o go-template=T` → the real printer with the same -o, on /root/pods.json
        fs.writeFileSync(
            path.join(bin, "kubectl"),
            '#!/usr/bin/env bash\nexec "$(dirname "$0")/kubectl-1.9.4" convert --local -f /root/pods.json "${@: -2}"\n',
            { mode: 0o755 },
        );
        const pod = (name: string, status: object, nodeName?: string) => ({
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name, namespace: "kube-system" },
            spec: { ...(nodeName ? { nodeName } : {}), containers: [{ name: "c", image: "kubevirt/virt-controller:v0.4.1" }] },
            status,
        });
        const ready = (ip: string) => ({ phase: "Running", podIP: ip, conditions: [{ type: "Ready", status: "True" }] });
        const items = [
            pod("virt-controller-1", ready("10.244.2.2"), "kn1"),
            pod("virt-controller-2", { phase: "Pending" }),
            pod("virt-controller-3", ready("10.244.1.3"), "kn2"),
        ];
        const sb = await sandbox({ hostname: "km1", binDirs: [bin, STANDINS_BIN] });
        await sb.writeFileAsync("/root/pods.json", JSON.stringify({ apiVersion: "v1", kind: "List", items }));
        const wait = { timeout: "5", namespace: "kube-system", selector: "kubevirt.io=virt-controller", "min-ready": "2", interval: "1" };
        const r = ok(await sb.runScriptAsync("wait-pods.sh", run(wait)), "wait-pods");
        assert.equal(r.stdout, "virt-controller-1 10.244.2.2 kn1\nvirt-controller-3 10.244.1.3 kn2\n", "the two ready pods, a line each");
        const slow = await sb.runScriptAsync("wait-pods.sh", run({ ...wait, "min-ready": "3", timeout: "1" }));
        assert.equal(slow.code, 1);
        assert.match(slow.stderr, /\nvirt-controller-2 - - Pending \n/, `the pending pod's line, its unset fields as "-": ${slow.stderr}`);
    });
});

it("the dev stack's wait-pods.sh steps: create and delete command lines (script elided), logging, stdin, as golden/commands.txt", () => {
    assertCommandsGolden("wait-pods");
});
