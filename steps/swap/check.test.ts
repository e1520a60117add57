// steps/swap/swap.sh check: clean after apply; active swap and a swap line of the fstab are its items.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { sandboxes } from "../../test/lib/hosts";

import { SIM_STATE } from "../../test/lib/sandbox";
import { act, check, drifted, ok, sandboxSkip } from "../../test/lib/steps";

const sandbox = sandboxes();

describe("swap.sh check", { skip: sandboxSkip() }, () => {
    it("swap on and a swap line: both reported; after apply both ok", async () => {
        const sb = await sandbox();
        ok(
            await sb.runAsync(
                `mkdir -p ${SIM_STATE} && echo /dev/vda2 > ${SIM_STATE}/swaps && echo '/dev/vda2 swap swap defaults 0 0' >> /etc/fstab`,
            ),
            "swap on",
        );
        assert.deepEqual(drifted(await check(sb, "swap.sh")), [
            ["swap active", "no active swap (swapon --show empty) / swap on /dev/vda2"],
            ["swap fstab", 'no active swap line in /etc/fstab / "/dev/vda2 swap swap defaults 0 0"'],
        ]);
        ok(await sb.runScriptAsync("swap.sh", act("apply")), "apply");
        assert.deepEqual(
            [...(await check(sb, "swap.sh"))],
            [
                ["swap active", "ok"],
                ["swap fstab", "ok"],
            ],
        );
    });
});
