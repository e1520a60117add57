// steps/flannel/flannel.sh check: clean after apply; another manifest URL or a cluster initialised again is its item's drift.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { sandboxes } from "../../test/lib/hosts";
import { act, check, drifted, FLANNEL_URL, initializedHosts, ok, sandboxSkip } from "../../test/lib/steps";

const sandbox = sandboxes();

/** km1 prepared and initialised by kubeadm-init.sh apply, on a simulated API server of its own. */
const initialized = async () => (await initializedHosts(sandbox)).hosts[0];

describe("flannel.sh check", { skip: sandboxSkip() }, () => {
    it("clean after apply; another URL, then its record removed by hand, are reported", async () => {
        const km1 = await initialized();
        ok(await km1.runScriptAsync("flannel.sh", act("apply", { "manifest-url": FLANNEL_URL })), "apply");
        const item = "file /var/lib/kubevirt-lab/flannel.applied";
        assert.deepEqual([...(await check(km1, "flannel.sh", { "manifest-url": FLANNEL_URL }))], [[item, "ok"]]);
        const other = drifted(await check(km1, "flannel.sh", { "manifest-url": "https://mirror/kube-flannel.yml" }));
        assert.equal(other.length, 1);
        assert.match(
            other[0][1],
            /^\/var\/lib\/kubevirt-lab\/flannel\.applied line 1 "[0-9a-f]{64} https:\/\/mirror\/kube-flannel\.yml" \/ "[0-9a-f]{64} https:\/\/raw/,
        );
        ok(await km1.runAsync("rm /var/lib/kubevirt-lab/flannel.applied"), "rm");
        assert.deepEqual(drifted(await check(km1, "flannel.sh", { "manifest-url": FLANNEL_URL })), [
            [item, "/var/lib/kubevirt-lab/flannel.applied as the step writes it / no such file"],
        ]);
    });
});
