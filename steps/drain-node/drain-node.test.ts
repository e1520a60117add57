// steps/drain-node/drain-node.sh in a sandbox with the recording stand-ins: remove without a
// cluster; the command lines of the dev stack's drain-node steps (golden/commands.txt). The drain of
// a worker on a cluster: the cluster flow in steps/kubeadm-join/kubeadm-join.test.ts.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { sandboxes } from "../../test/lib/hosts";
import { act, assertCommandsGolden, ok, sandboxSkip, status, step } from "../../test/lib/steps";

const sandbox = sandboxes();

describe("drain-node.sh", { skip: sandboxSkip(), concurrency: 3 }, () => {
    it("remove without a cluster is a no-op", async () => {
        const sb = await sandbox({ hostname: "km1" });
        const d = await step(sb, "drain-node.sh", act("remove", { "node-name": "kn1" }));
        ok(d.result, "drain without cluster");
        status(d.result, "drain-node.sh", "remove", "unchanged");
        assert.deepEqual(d.calls, []);
    });
});

it("the dev stack's drain-node.sh steps: create and delete command lines (script elided), logging, stdin, as golden/commands.txt", () => {
    assertCommandsGolden("drain-node");
});
