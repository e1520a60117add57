// steps/sysctl/sysctl.sh check: clean after apply; the file and each running value are items.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { sandboxes, seedPreparedHost } from "../../test/lib/hosts";
import { act, check, drifted, ok, sandboxSkip } from "../../test/lib/steps";

const sandbox = sandboxes();

const FILE = "file /etc/sysctl.d/k8s.conf";
const IP4 = "sysctl net.bridge.bridge-nf-call-iptables";
const IP6 = "sysctl net.bridge.bridge-nf-call-ip6tables";

describe("sysctl.sh check", { skip: sandboxSkip() }, () => {
    it("clean after apply (the default lines); the file edited and a running value changed are each reported, against what apply writes", async () => {
        const sb = await sandbox();
        await seedPreparedHost(sb);
        ok(await sb.runScriptAsync("sysctl.sh", act("apply")), "apply");
        assert.deepEqual(
            [...(await check(sb, "sysctl.sh"))],
            [
                [FILE, "ok"],
                [IP6, "ok"],
                [IP4, "ok"],
            ],
        );
        ok(
            await sb.runAsync(
                "sed -i 's/ip6tables = 1/ip6tables = 0/' /etc/sysctl.d/k8s.conf && sysctl -w net.bridge.bridge-nf-call-iptables=0",
            ),
            "edit",
        );
        assert.deepEqual(drifted(await check(sb, "sysctl.sh")), [
            [FILE, '/etc/sysctl.d/k8s.conf line 1 "net.bridge.bridge-nf-call-ip6tables = 1" / "net.bridge.bridge-nf-call-ip6tables = 0"'],
            [IP4, "sysctl net.bridge.bridge-nf-call-iptables = 1 / net.bridge.bridge-nf-call-iptables = 0"],
        ]);
    });

    it("given settings: the file holds them, a key the host lacks is reported", async () => {
        const sb = await sandbox();
        await seedPreparedHost(sb);
        const setting = ["net.bridge.bridge-nf-call-iptables = 1", "vm.nosuchkey = 1"];
        ok(await sb.runAsync(`mkdir -p /etc/sysctl.d && printf '%s\\n' '${setting[0]}' '${setting[1]}' > /etc/sysctl.d/k8s.conf`), "file");
        assert.deepEqual(drifted(await check(sb, "sysctl.sh", { setting })), [
            ["sysctl vm.nosuchkey", "sysctl vm.nosuchkey = 1 / no such key"],
        ]);
    });
});
