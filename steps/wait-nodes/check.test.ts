// steps/wait-nodes/wait-nodes.sh check: each node its item: Ready, NotReady, not registered, or no control plane to ask.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { sandboxes } from "../../test/lib/hosts";
import { SIM_APISERVER } from "../../test/lib/sandbox";
import { check, drifted, initializedHosts, ok, sandboxSkip } from "../../test/lib/steps";

const sandbox = sandboxes();

/** km1 prepared and initialised by kubeadm-init.sh apply, on a simulated API server of its own. */
const initialized = async () => (await initializedHosts(sandbox)).hosts[0];

describe("wait-nodes.sh check", { skip: sandboxSkip() }, () => {
    it("one look at each node: Ready is ok, NotReady and unknown are reported; without admin.conf nothing can be asked", async () => {
        const km1 = await initialized();
        const opts = { timeout: "600", node: ["km1", "kn9"] };
        assert.deepEqual(
            [...(await check(km1, "wait-nodes.sh", opts))],
            [
                ["node km1", "ok"],
                ["node kn9", "node kn9 Ready / not in kubectl get nodes"],
            ],
        );
        ok(await km1.runAsync(`sed -i 's/^status=.*/status=NotReady/' ${SIM_APISERVER}/nodes/km1`), "NotReady");
        assert.deepEqual(drifted(await check(km1, "wait-nodes.sh", opts))[0], ["node km1", "node km1 Ready / NotReady"]);
        ok(await km1.runAsync("rm /etc/kubernetes/admin.conf"), "rm");
        assert.deepEqual(drifted(await check(km1, "wait-nodes.sh", opts)), [
            ["node km1", "node km1 Ready / no control plane to ask"],
            ["node kn9", "node kn9 Ready / no control plane to ask"],
        ]);
    });
});
