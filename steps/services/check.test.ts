// steps/services/services.sh check: clean after apply, each unit's state changed by hand is its item's drift.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { sandboxes, seedPreparedHost } from "../../test/lib/hosts";
import { act, check, drifted, ok, sandboxSkip } from "../../test/lib/steps";

const sandbox = sandboxes();

describe("services.sh check", { skip: sandboxSkip() }, () => {
    it("clean after apply; docker stopped, docker disabled, kubelet disabled: each its item", async () => {
        const sb = await sandbox();
        await seedPreparedHost(sb);
        ok(await sb.runScriptAsync("services.sh", act("apply")), "apply");
        assert.deepEqual(
            [...(await check(sb, "services.sh"))],
            [
                ["docker active", "ok"],
                ["docker enabled", "ok"],
                ["kubelet enabled", "ok"],
            ],
        );
        ok(await sb.runAsync("systemctl stop docker && systemctl disable docker && systemctl disable kubelet"), "by hand");
        assert.deepEqual(drifted(await check(sb, "services.sh")), [
            ["docker active", "docker active / docker inactive"],
            ["docker enabled", "docker enabled / docker disabled"],
            ["kubelet enabled", "kubelet enabled / kubelet disabled"],
        ]);
    });
});
