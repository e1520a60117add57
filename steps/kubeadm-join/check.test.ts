// steps/kubeadm-join/kubeadm-join.sh check: clean after a join (the kubelet's kubelet.conf); the
// file gone is its item's drift. The node's Ready is wait-nodes.sh's check (steps/wait-nodes/).
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { sandboxes } from "../../test/lib/hosts";
import { act, check, drifted, initializedHosts, ok, run, sandboxSkip } from "../../test/lib/steps";

const sandbox = sandboxes();

describe("kubeadm-join.sh check", { skip: sandboxSkip() }, () => {
    it("clean after the join; kubelet.conf removed by hand is reported", async () => {
        const {
            hosts: [km1, kn1],
        } = await initializedHosts(sandbox, ["km1", "kn1"]);
        const line = ok(await km1.runScriptAsync("join-command.sh", run({ ttl: "1h" })), "join-command").stdout;
        const args = { "node-name": "kn1" };
        assert.deepEqual(drifted(await check(kn1, "kubeadm-join.sh", args)), [
            ["kubeadm join", "/etc/kubernetes/kubelet.conf (kubeadm join done) / no such file"],
        ]);
        ok(await kn1.runScriptAsync("kubeadm-join.sh", act("apply", args), { stdin: line }), "join");
        assert.deepEqual([...(await check(kn1, "kubeadm-join.sh", args))], [["kubeadm join", "ok"]]);
        ok(await kn1.runAsync("rm /etc/kubernetes/kubelet.conf"), "rm");
        assert.deepEqual(drifted(await check(kn1, "kubeadm-join.sh", args)), [
            ["kubeadm join", "/etc/kubernetes/kubelet.conf (kubeadm join done) / no such file"],
        ]);
    });
});
