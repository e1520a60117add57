// steps/flannel/flannel.sh check: clean after apply; another manifest URL or a cluster initialised again is its item's drift.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { sandboxes, seedPreparedHost, sharedApiserver } from "../../test/lib/hosts";
import { FLANNEL_URL, INIT_ARGS, act, check, drifted, ok, sandboxSkip } from "../../test/lib/steps";

const sandbox = sandboxes();

/** km1 prepared and initialised by kubeadm-init.sh apply, on a simulated API server of its own. */
async function initialized() {
    const api = sharedApiserver();
    const km1 = await sandbox({ hostname: "km1", binds: api.binds });
    await seedPreparedHost(km1);
    ok(await km1.runScriptAsync("kubeadm-init.sh", act("apply", { ...INIT_ARGS, "ssh-user": "root" })), "init");
    return km1;
}

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
