// steps/selinux/selinux.sh check: clean after apply; the SELINUX= line and the running mode are its items.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { sandboxes } from "../../test/lib/hosts";

import { SIM_STATE } from "../../test/lib/sandbox";
import { act, check, drifted, ok, sandboxSkip } from "../../test/lib/steps";

const sandbox = sandboxes();

describe("selinux.sh check", { skip: sandboxSkip() }, () => {
    it("clean after apply; the line changed by hand and SELinux enforcing again are each reported", async () => {
        const sb = await sandbox();
        ok(await sb.runScriptAsync("selinux.sh", act("apply", { mode: "disabled" })), "apply");
        assert.deepEqual(
            [...(await check(sb, "selinux.sh", { mode: "disabled" }))],
            [
                ["selinux config", "ok"],
                ["selinux running", "ok"],
            ],
        );
        ok(
            await sb.runAsync(
                `sed -i 's/^SELINUX=.*/SELINUX=enforcing/' /etc/selinux/config && mkdir -p ${SIM_STATE}/selinux && echo Enforcing > ${SIM_STATE}/selinux/mode`,
            ),
            "by hand",
        );
        assert.deepEqual(drifted(await check(sb, "selinux.sh", { mode: "disabled" })), [
            ["selinux config", "SELINUX=disabled in /etc/selinux/config / SELINUX=enforcing"],
            ["selinux running", "getenforce not Enforcing / getenforce Enforcing"],
        ]);
        assert.deepEqual(drifted(await check(sb, "selinux.sh", { mode: "enforcing" })), [], "the mode the host has");
    });
});
