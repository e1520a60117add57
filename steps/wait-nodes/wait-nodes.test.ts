// steps/wait-nodes/wait-nodes.sh in a sandbox with the recording stand-ins (kubectl and a
// simulated API server): a bounded wait that names the node missing or NotReady; the command lines
// of the dev stack's wait-nodes steps (golden/commands.txt). Its wait for a cluster that gets
// Ready: the cluster flow in steps/kubeadm-join/kubeadm-join.test.ts.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";

import { sandboxes, sharedApiserver } from "../../test/lib/hosts";
import { ADMIN_CONF, KC, assertCommandsGolden, run, sandboxSkip, step } from "../../test/lib/steps";

const sandbox = sandboxes();

describe("wait-nodes.sh", { skip: sandboxSkip(), concurrency: 3 }, () => {
    it("wait-nodes times out naming the node that is missing or NotReady", async () => {
        const api = sharedApiserver();
        const km1 = await sandbox({ hostname: "km1", binds: api.binds });
        // a cluster as the stand-ins keep it: km1 Ready, kn2 NotReady, no kn1
        await km1.writeFileAsync(ADMIN_CONF, "apiVersion: v1\nkind: Config\n", "600");
        fs.mkdirSync(path.join(api.dir, "nodes"));
        fs.writeFileSync(path.join(api.dir, "cluster"), "advertise=172.31.50.221\nport=6443\nversion=v1.9.4\nhost=km1\n");
        fs.writeFileSync(path.join(api.dir, "nodes", "km1"), "name=km1\nrole=master\nhost=km1\nversion=v1.9.4\nstatus=Ready\ncreated=0\n");
        fs.writeFileSync(
            path.join(api.dir, "nodes", "kn2"),
            "name=kn2\nrole=<none>\nhost=kn2\nversion=v1.9.4\nstatus=NotReady\ncreated=0\n",
        );
        const started = Date.now();
        const s = await step(km1, "wait-nodes.sh", run({ timeout: "3", node: ["km1", "kn1", "kn2"], interval: "0.2" }));
        assert.equal(s.result.code, 1);
        assert.ok(Date.now() - started < 10_000, "bounded by the timeout");
        assert.match(
            s.result.stderr,
            /^wait-nodes\.sh: timed out after 3s \(\d+ polls\): not Ready: kn1 \(not registered\), kn2 \(NotReady\)\n/,
        );
        assert.match(s.result.stderr, /last 'kubectl get nodes --no-headers' output:\nkm1 +Ready +master/);
        // It polls (more than once in 3 s even on a loaded machine) and stops: at most 3 s / 0.2 s + 2 polls.
        assert.ok(s.calls.length >= 2 && s.calls.length <= 17, `polls: ${s.calls.length}`);
        assert.ok(s.calls.every((c) => c === `kubectl ${KC} get nodes --no-headers`));
        assert.equal((await km1.runScriptAsync("wait-nodes.sh", ["10", "km1"])).code, 2, "positional words");
        assert.equal((await km1.runScriptAsync("wait-nodes.sh", run({ timeout: "10" }))).code, 2, "no --node");
    });
});

it("the dev stack's wait-nodes.sh steps: create and delete command lines (script elided), logging, stdin, as golden/commands.txt", () => {
    assertCommandsGolden("wait-nodes");
});
