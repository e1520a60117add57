// steps/join-command/join-command.sh in a sandbox with the recording stand-ins: its usage without
// --ttl; the command lines of the dev stack's join-command steps (golden/commands.txt). The join
// line it prints on a cluster: the cluster flow in steps/kubeadm-join/kubeadm-join.test.ts.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { sandboxes } from "../../test/lib/hosts";
import { assertCommandsGolden, run, sandboxSkip, step } from "../../test/lib/steps";

const sandbox = sandboxes();

describe("join-command.sh", { skip: sandboxSkip(), concurrency: 3 }, () => {
    it("needs --ttl: lib.sh's usage, no token created", async () => {
        const sb = await sandbox({ hostname: "km1" });
        for (const argv of [["1h"], run()]) {
            const r = await step(sb, "join-command.sh", argv);
            assert.equal(r.result.code, 2);
            assert.equal(r.result.stderr, "usage: join-command.sh --ttl <ttl>\n");
            assert.deepEqual(r.calls, [], "no token created");
        }
    });
});

it("the dev stack's join-command.sh steps: create and delete command lines (script elided), logging, stdin, as golden/commands.txt", () => {
    assertCommandsGolden("join-command");
});
