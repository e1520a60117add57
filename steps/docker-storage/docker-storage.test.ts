// steps/docker-storage/docker-storage.sh in sandboxes with the recording stand-ins: the post's
// docker-storage-setup byte for byte, a second run that changes nothing, remove of the lab's file
// only; the post's heredoc; the command lines of the dev stack's docker-storage steps (golden/).
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { sandboxes } from "../../test/lib/hosts";
import { POST_SKIP, act, assertCommandsGolden, assertNoop, files, ok, postHeredoc, sandboxSkip, status, step } from "../../test/lib/steps";

const STORAGE_FILE = "/etc/sysconfig/docker-storage-setup";
const storageContent = (dev: string) =>
    "STORAGE_DRIVER=overlay2\n" +
    `DEVS=${dev}\n` +
    "CONTAINER_ROOT_LV_NAME=dockerlv\n" +
    "CONTAINER_ROOT_LV_SIZE=100%FREE\n" +
    "CONTAINER_ROOT_LV_MOUNT_PATH=/var/lib/docker\n" +
    "VG=dockervg\n";

const sandbox = sandboxes();

describe("docker-storage.sh", { skip: sandboxSkip(), concurrency: 3 }, () => {
    it("writes the post's docker-storage-setup; second run no-op; remove deletes our file only", async () => {
        const sb = await sandbox();
        const s = await step(sb, "docker-storage.sh", act("apply", { device: "/dev/vdb" }));
        ok(s.result, "apply");
        status(s.result, "docker-storage.sh", "apply", "changed");
        assert.equal(sb.readFile(STORAGE_FILE), storageContent("/dev/vdb"));
        assert.deepEqual(files(s), [`created ${STORAGE_FILE} (file)`]);
        assert.deepEqual(s.calls, []);
        await assertNoop(sb, "docker-storage.sh", act("apply", { device: "/dev/vdb" }), "apply");
        const rm = await step(sb, "docker-storage.sh", act("remove"));
        ok(rm.result, "remove");
        status(rm.result, "docker-storage.sh", "remove", "changed");
        assert.equal(sb.readFile(STORAGE_FILE), undefined);
        await assertNoop(sb, "docker-storage.sh", act("remove"), "remove");

        await sb.writeFileAsync(STORAGE_FILE, "# the docker package's own file\nSTORAGE_DRIVER=overlay2\n");
        const foreign = ok(await sb.runScriptAsync("docker-storage.sh", act("remove")), "remove foreign");
        status(foreign, "docker-storage.sh", "remove", "unchanged");
        assert.equal(sb.readFile(STORAGE_FILE), "# the docker package's own file\nSTORAGE_DRIVER=overlay2\n");
    });

    it("writes nothing without a device and refuses a positional device", async () => {
        const sb = await sandbox();
        const s = await step(sb, "docker-storage.sh", act("apply"));
        ok(s.result, "apply ''");
        status(s.result, "docker-storage.sh", "apply", "unchanged");
        assert.deepEqual(s.diff, []);
        assert.equal((await sb.runScriptAsync("docker-storage.sh", ["apply", "/dev/vdb"])).code, 2);
        assert.equal(sb.readFile(STORAGE_FILE), undefined);
    });
});

it("the post's heredoc of docker-storage-setup is what these tests expect (when the post is at hand)", { skip: POST_SKIP }, () => {
    assert.equal(postHeredoc(STORAGE_FILE), storageContent("/dev/vdb"));
});

it("the dev stack's docker-storage.sh steps: create and delete command lines (script elided), logging, stdin, as golden/commands.txt", () => {
    assertCommandsGolden("docker-storage");
});
