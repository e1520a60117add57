// steps/services/services.sh in sandboxes with the recording stand-ins (systemctl,
// docker-storage-setup): docker started and enabled (its storage set up first), kubelet enabled, a
// second run that only asks; the command lines of the dev stack's services steps (golden/).
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { sandboxes } from "../../test/lib/hosts";
import { SIM_STATE } from "../../test/lib/sandbox";
import { act, assertCommandsGolden, assertNoop, ok, sandboxSkip, status, step } from "../../test/lib/steps";

/** docker-storage.sh's file, as far as docker-storage-setup (run by systemctl start docker) reads it. */
const STORAGE_SETUP = "/etc/sysconfig/docker-storage-setup";
const STORAGE_SETUP_CONTENT = "STORAGE_DRIVER=overlay2\nDEVS=/dev/vdb\nVG=dockervg\n";

const sandbox = sandboxes();

describe("services.sh", { skip: sandboxSkip(), concurrency: 3 }, () => {
    it("starts+enables docker (storage setup first), enables kubelet; a second run only asks", async () => {
        const sb = await sandbox();
        ok(
            await sb.runAsync(
                `mkdir -p ${SIM_STATE}/rpmdb && printf 1.13.1-53 > ${SIM_STATE}/rpmdb/docker && printf 1.9.4-0 > ${SIM_STATE}/rpmdb/kubelet`,
            ),
            "seed",
        );
        await sb.writeFileAsync(STORAGE_SETUP, STORAGE_SETUP_CONTENT);
        const s = await step(sb, "services.sh", act("apply"));
        ok(s.result, "services.sh");
        status(s.result, "services.sh", "apply", "changed");
        assert.deepEqual(s.calls, [
            "systemctl is-active --quiet docker",
            "systemctl start docker",
            "docker-storage-setup",
            "systemctl is-enabled --quiet docker",
            "systemctl enable docker",
            "systemctl is-enabled --quiet kubelet",
            "systemctl enable kubelet",
        ]);
        assert.equal(sb.readFile("/etc/sysconfig/docker-storage"), 'DOCKER_STORAGE_OPTIONS="--storage-driver overlay2 "\n');
        const again = await assertNoop(sb, "services.sh", act("apply"), "apply");
        assert.deepEqual(again.calls, [
            "systemctl is-active --quiet docker",
            "systemctl is-enabled --quiet docker",
            "systemctl is-enabled --quiet kubelet",
        ]);
        status(ok(await sb.runScriptAsync("services.sh", act("remove")), "remove"), "services.sh", "remove", "unchanged");
    });

    it("fails when docker is not installed", async () => {
        const sb = await sandbox();
        const r = await sb.runScriptAsync("services.sh", act("apply"));
        assert.equal(r.code, 5);
        assert.match(r.stderr, /docker\.service: Unit not found/);
    });
});

it("the dev stack's services.sh steps: create and delete command lines (script elided), logging, stdin, as golden/commands.txt", () => {
    assertCommandsGolden("services");
});
