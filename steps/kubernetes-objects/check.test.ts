// steps/kubernetes-objects/kubernetes-objects.sh check (its only action): each object its item: there, missing, or no control plane to ask.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { sandboxes } from "../../test/lib/hosts";
import { check, drifted, initializedHosts, ok, sandboxSkip } from "../../test/lib/steps";

const sandbox = sandboxes();

/** km1 prepared and initialised by kubeadm-init.sh apply, on a simulated API server of its own. */
const initialized = async () => (await initializedHosts(sandbox)).hosts[0];

describe("kubernetes-objects.sh check", { skip: sandboxSkip() }, () => {
    it("an object there is ok, one missing is reported; without admin.conf nothing can be asked", async () => {
        const km1 = await initialized();
        const objects = { object: ["daemonset/kube-system/kube-proxy", "deployment/kube-system/virt-api"] };
        assert.deepEqual(
            [...(await check(km1, "kubernetes-objects.sh", objects))],
            [
                ["object daemonset kube-system/kube-proxy", "ok"],
                ["object deployment kube-system/virt-api", "deployment kube-system/virt-api present / missing"],
            ],
        );
        ok(await km1.runAsync("rm /etc/kubernetes/admin.conf"), "rm");
        assert.deepEqual(drifted(await check(km1, "kubernetes-objects.sh", objects))[0], [
            "object daemonset kube-system/kube-proxy",
            "daemonset kube-system/kube-proxy present / no control plane to ask",
        ]);
        const usage = await km1.runScriptAsync("kubernetes-objects.sh", ["apply"]);
        assert.equal(usage.code, 2, "no action but check");
    });
});
