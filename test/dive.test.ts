// tools/dive.sh against simulated hosts: the host-level layers of the post are
// real there (the host's own eth0, routes, bridges), the Kubernetes ones fail
// (no API server) and the dive goes on, counting them.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as path from "path";
import { SimLab, run } from "../harness/lib/simlab";
import { REPO } from "./lib/stack";

const lab = new SimLab("kvldive");
before(async () => {
    await lab.down();
    await lab.up("km1=172.31.50.221,kn1=172.31.50.231", "");
});
after(async () => {
    await lab.down();
});

describe("tools/dive.sh", () => {
    it("walks the layers over SSH, shows the node's own interfaces and routes, and counts what failed", async () => {
        const r = await lab.op(
            ["bash", path.join(REPO, "tools/dive.sh"), "--key", lab.keyPath, "--master", "172.31.50.221", "--node", "172.31.50.231"],
            {},
            180_000,
        );
        const out = r.stdout;
        for (const h of [
            "# Kubernetes-level",
            "# Host-level (172.31.50.231)",
            "# Pod-level (virt-launcher of nodejs)",
            "### libvirt: vnet0 on br1",
        ]) {
            assert.ok(out.includes(h), `section ${h} printed:\n${out}`);
        }
        const hostSection = out.slice(out.indexOf("### interfaces"), out.indexOf("### veths"));
        assert.match(hostSection, /\[root@172\.31\.50\.231\]\$ ip a\n/);
        assert.match(hostSection, /inet 172\.31\.50\.231\/24/, "kn1's own eth0, seen over SSH");
        const routes = out.slice(out.indexOf("### routes"), out.indexOf("### kube-proxy"));
        assert.match(routes, /default via 172\.31\.50\.1/);
        const failed = Number(/dive\.sh: (\d+) command\(s\) failed/.exec(out)?.[1]);
        assert.ok(failed >= 8, `the kubectl steps fail without an API server (failed: ${failed})`);
        assert.equal(r.code, failed, "the exit status is the number of failed commands");
    });

    it("refuses missing or odd arguments before connecting anywhere", async () => {
        const r1 = await run("bash", [path.join(REPO, "tools/dive.sh"), "--master", "172.31.50.221"], { timeoutMs: 10_000 });
        assert.equal(r1.code, 2);
        assert.match(r1.stderr, /--key \(a readable file\), --master and --node are required/);
        const r2 = await run(
            "bash",
            [path.join(REPO, "tools/dive.sh"), "--key", lab.keyPath, "--master", "a", "--node", "b", "--vm", "x;reboot"],
            { timeoutMs: 10_000 },
        );
        assert.equal(r2.code, 2);
        assert.match(r2.stderr, /'x;reboot' is not a plain name or number/);
    });
});
