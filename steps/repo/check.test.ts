// steps/repo/repo.sh check: clean after apply; the file changed, missing, or other options given is its item's drift.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { sandboxes } from "../../test/lib/hosts";

import { act, check, drifted, ok, sandboxSkip } from "../../test/lib/steps";

const sandbox = sandboxes();

const ARGS = {
    baseurl: "https://packages.cloud.google.com/yum/repos/kubernetes-el7-$basearch",
    gpgkey: ["https://k/a.gpg", "https://k/b.gpg"],
};
const ITEM = "file /etc/yum.repos.d/kubernetes.repo";

describe("repo.sh check", { skip: sandboxSkip() }, () => {
    it("clean after apply; each change by hand is reported; other options are what apply would write", async () => {
        const sb = await sandbox();
        assert.deepEqual(drifted(await check(sb, "repo.sh", ARGS)), [
            [ITEM, "/etc/yum.repos.d/kubernetes.repo as the step writes it / no such file"],
        ]);
        ok(await sb.runScriptAsync("repo.sh", act("apply", ARGS)), "apply");
        assert.deepEqual([...(await check(sb, "repo.sh", ARGS))], [[ITEM, "ok"]]);
        ok(await sb.runAsync("sed -i 's/^enabled=1/enabled=0/' /etc/yum.repos.d/kubernetes.repo"), "edit");
        assert.deepEqual(drifted(await check(sb, "repo.sh", ARGS)), [
            [ITEM, '/etc/yum.repos.d/kubernetes.repo line 4 "enabled=1" / "enabled=0"'],
        ]);
        ok(await sb.runScriptAsync("repo.sh", act("apply", ARGS)), "apply again");
        const other = { ...ARGS, gpgkey: ["https://k/a.gpg"] };
        assert.deepEqual(drifted(await check(sb, "repo.sh", other)), [
            [ITEM, '/etc/yum.repos.d/kubernetes.repo line 7 "gpgkey=https://k/a.gpg" / "gpgkey=https://k/a.gpg https://k/b.gpg"'],
        ]);
        ok(await sb.runAsync("printf 'extra\\n' >> /etc/yum.repos.d/kubernetes.repo"), "append");
        assert.deepEqual(drifted(await check(sb, "repo.sh", ARGS)), [
            [ITEM, '/etc/yum.repos.d/kubernetes.repo to end after line 7 / line 8 "extra"'],
        ]);
    });
});
