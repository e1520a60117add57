// steps/kubeadm-init/kubeadm-init.sh check: clean after apply; the control plane down and admin.conf gone are its items.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { sandboxes } from "../../test/lib/hosts";
import { SIM_APISERVER } from "../../test/lib/sandbox";
import { check, drifted, INIT_ARGS, initializedHosts, ok, sandboxSkip } from "../../test/lib/steps";

const sandbox = sandboxes();

/** km1 prepared and initialised by kubeadm-init.sh apply, on a simulated API server of its own. */
const initialized = async () => (await initializedHosts(sandbox)).hosts[0];

const ARGS = { ...INIT_ARGS, "ssh-user": "root" };

describe("kubeadm-init.sh check", { skip: sandboxSkip() }, () => {
    it("clean after apply; the API down, then admin.conf removed, are each reported", async () => {
        const km1 = await initialized();
        assert.deepEqual(
            [...(await check(km1, "kubeadm-init.sh", ARGS))],
            [
                ["kubeadm init", "ok"],
                ["control plane", "ok"],
            ],
        );
        ok(await km1.runAsync(`mv ${SIM_APISERVER}/cluster ${SIM_APISERVER}/cluster.off`), "API down");
        const down = drifted(await check(km1, "kubeadm-init.sh", ARGS));
        assert.equal(down.length, 1);
        assert.equal(down[0][0], "control plane");
        assert.match(down[0][1], /^the control plane answering kubectl get nodes \/ .*refused/);
        ok(await km1.runAsync("rm /etc/kubernetes/admin.conf"), "rm");
        assert.deepEqual(drifted(await check(km1, "kubeadm-init.sh", ARGS)), [
            ["kubeadm init", "/etc/kubernetes/admin.conf (kubeadm init done) / no such file"],
        ]);
    });
});
