// steps/sysctl/sysctl.sh in sandboxes with the recording stand-ins (sysctl): the post's k8s.conf
// byte for byte, `sysctl --system` once, a second run that changes nothing, remove; a run cut off
// between the file and the reload; the post's heredoc; the command lines of the dev stack's sysctl
// steps and one whole command line as root (golden/).
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { sandboxes } from "../../test/lib/hosts";
import { STANDINS_BIN, scriptCommand } from "../../test/lib/sandbox";
import {
    POST_SKIP,
    act,
    assertCommandsGolden,
    assertNoop,
    cutBin,
    files,
    golden,
    ok,
    postHeredoc,
    sandboxSkip,
    status,
    step,
} from "../../test/lib/steps";

const SYSCTL_FILE = "/etc/sysctl.d/k8s.conf";
const SYSCTL_CONTENT = "net.bridge.bridge-nf-call-ip6tables = 1\nnet.bridge.bridge-nf-call-iptables = 1\n";
/** The lines of the post's k8s.conf, as --setting values (sysctl.sh's default). */
const SYSCTL_DEFAULTS = ["net.bridge.bridge-nf-call-ip6tables = 1", "net.bridge.bridge-nf-call-iptables = 1"];

const sandbox = sandboxes();

describe("sysctl.sh", { skip: sandboxSkip(), concurrency: 3 }, () => {
    it("writes k8s.conf with the two bridge lines, sysctl --system once; remove deletes it and reloads", async () => {
        const sb = await sandbox();
        const s = await step(sb, "sysctl.sh", act("apply"));
        ok(s.result, "apply");
        status(s.result, "sysctl.sh", "apply", "changed");
        assert.equal(sb.readFile(SYSCTL_FILE), SYSCTL_CONTENT);
        assert.deepEqual(files(s), [`created ${SYSCTL_FILE} (file)`]);
        assert.deepEqual(s.calls, ["sysctl --system"]);
        assert.equal((await sb.runAsync("sysctl -n net.bridge.bridge-nf-call-iptables")).stdout, "1\n");
        await assertNoop(sb, "sysctl.sh", act("apply", { setting: SYSCTL_DEFAULTS }), "apply");

        const custom = await step(sb, "sysctl.sh", act("apply", { setting: ["net.ipv4.ip_forward = 1", "vm.swappiness = 0"] }));
        ok(custom.result, "custom");
        assert.equal(sb.readFile(SYSCTL_FILE), "net.ipv4.ip_forward = 1\nvm.swappiness = 0\n");
        assert.deepEqual(custom.calls, ["sysctl --system"]);
        assert.equal((await sb.runScriptAsync("sysctl.sh", ["apply", "--settings", "vm.swappiness = 1"])).code, 2, "an unknown option");

        const rm = await step(sb, "sysctl.sh", act("remove"));
        ok(rm.result, "remove");
        status(rm.result, "sysctl.sh", "remove", "changed");
        assert.equal(sb.readFile(SYSCTL_FILE), undefined);
        assert.deepEqual(rm.calls, ["sysctl --system"]);
        await assertNoop(sb, "sysctl.sh", act("remove"), "remove");
    });

    it("sysctl.sh cut off between k8s.conf and sysctl --system: the next run loads it", async () => {
        const sb = await sandbox({ binDirs: [cutBin(), STANDINS_BIN] });
        ok(await sb.runAsync("touch /run/kvl-cut-sysctl"), "arm the cut");
        assert.notEqual((await sb.runScriptAsync("sysctl.sh", act("apply"))).code, 0, "cut off");
        assert.equal(sb.readFile(SYSCTL_FILE), SYSCTL_CONTENT, "the file was written");
        assert.deepEqual(sb.commands(), [], "sysctl --system did not run");
        const again = await step(sb, "sysctl.sh", act("apply"));
        ok(again.result, "apply after the cut");
        status(again.result, "sysctl.sh", "apply", "changed");
        assert.deepEqual(again.calls, ["sysctl --system"]);
        assert.deepEqual(files(again), [`removed ${SYSCTL_FILE}.kubevirt-lab.reload (file)`]);
        assert.equal((await sb.runAsync("sysctl -n net.bridge.bridge-nf-call-iptables")).stdout, "1\n");
        await assertNoop(sb, "sysctl.sh", act("apply"), "apply");
        // remove cut off the same way: the next remove reloads
        ok(await sb.runAsync("touch /run/kvl-cut-sysctl"), "arm the cut");
        assert.notEqual((await sb.runScriptAsync("sysctl.sh", act("remove"))).code, 0, "cut off");
        assert.equal(sb.readFile(SYSCTL_FILE), undefined);
        const rm = await step(sb, "sysctl.sh", act("remove"));
        status(ok(rm.result, "remove after the cut"), "sysctl.sh", "remove", "changed");
        assert.deepEqual(rm.calls, ["sysctl --system"]);
        await assertNoop(sb, "sysctl.sh", act("remove"), "remove");
    });
});

it("the post's heredoc of k8s.conf is what these tests expect (when the post is at hand)", { skip: POST_SKIP }, () => {
    assert.equal(postHeredoc(SYSCTL_FILE), SYSCTL_CONTENT);
});

it("the dev stack's sysctl.sh steps: create and delete command lines (script elided), logging, stdin, as golden/commands.txt", () => {
    assertCommandsGolden("sysctl");
});

it("one whole command line, as root: apply with the post's settings, as golden/apply.root.txt", () => {
    golden("sysctl", "apply.root.txt", scriptCommand("sysctl.sh", act("apply", { setting: SYSCTL_DEFAULTS })));
});
