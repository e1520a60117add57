// steps/docker-storage/docker-storage.sh check: clean after apply, a changed line is its item's drift, no device no item.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { sandboxes } from "../../test/lib/hosts";

import { act, check, drifted, ok, sandboxSkip } from "../../test/lib/steps";

const sandbox = sandboxes();

const ITEM = "file /etc/sysconfig/docker-storage-setup";

describe("docker-storage.sh check", { skip: sandboxSkip() }, () => {
    it("clean after apply; a line changed by hand is reported; without a device there is nothing to check", async () => {
        const sb = await sandbox();
        ok(await sb.runScriptAsync("docker-storage.sh", act("apply", { device: "/dev/vdb" })), "apply");
        assert.deepEqual([...(await check(sb, "docker-storage.sh", { device: "/dev/vdb" }))], [[ITEM, "ok"]]);
        ok(await sb.runAsync("sed -i 's/^VG=.*/VG=other/' /etc/sysconfig/docker-storage-setup"), "edit");
        assert.deepEqual(drifted(await check(sb, "docker-storage.sh", { device: "/dev/vdb" })), [
            [ITEM, '/etc/sysconfig/docker-storage-setup line 6 "VG=dockervg" / "VG=other"'],
        ]);
        assert.deepEqual([...(await check(sb, "docker-storage.sh", {}))], []);
    });
});
