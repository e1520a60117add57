// steps/swap/swap.sh in sandboxes with the recording stand-ins (swapon, swapoff): swap turned off
// and its fstab line commented out, remove undoing it line by line, a host without swap; a run cut
// off while writing fstab; the command lines of the dev stack's swap steps (golden/commands.txt).
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { standinsWithJoinConfig } from "../../harness/lib/standins";
import { sandboxes } from "../../test/lib/hosts";
import { act, assertCommandsGolden, assertNoop, cutBin, files, ok, sandboxSkip, status, step } from "../../test/lib/steps";

const sandbox = sandboxes();

describe("swap.sh", { skip: sandboxSkip(), concurrency: 3 }, () => {
    const FSTAB = "/etc/fstab";
    const FSTAB_BACKUP = "/etc/fstab.kubevirt-lab.orig";
    const CENTOS_FSTAB = [
        "# /etc/fstab",
        "/dev/mapper/centos-root /                       xfs     defaults        0 0",
        "UUID=2b1b6d0e /boot                   xfs     defaults        0 0",
        "/dev/mapper/centos-swap swap                    swap    defaults        0 0",
        "",
    ].join("\n");
    const SWAP_OFF_FSTAB = CENTOS_FSTAB.replace("/dev/mapper/centos-swap", "#kubevirt-lab: swap off for kubeadm#/dev/mapper/centos-swap");

    it("a host with swap: swapoff -a, the fstab swap line commented out; remove uncomments that line and swapon -a", async () => {
        const sb = await sandbox();
        await sb.writeFileAsync(FSTAB, CENTOS_FSTAB);
        await sb.writeFileAsync("/var/lib/kubevirt-lab-sim/swaps", "/dev/mapper/centos-swap\n");
        const s = await step(sb, "swap.sh", act("apply"));
        ok(s.result, "apply");
        status(s.result, "swap.sh", "apply", "changed");
        assert.deepEqual(s.calls, ["swapon --show=NAME --noheadings", "swapoff -a"]);
        assert.equal(sb.readFile(FSTAB), SWAP_OFF_FSTAB);
        assert.equal(sb.readFile(FSTAB_BACKUP), undefined, "no copy of the host's file: the marked line says what to undo");
        assert.equal((await sb.runAsync("swapon --show --noheadings")).stdout, "", "no swap active");
        // After a reboot swapon -a finds nothing to turn on: kubeadm's preflight stays happy.
        await sb.runAsync("swapon -a");
        assert.equal((await sb.runAsync("swapon --show --noheadings")).stdout, "", "swap stays off across a reboot");
        const again = await assertNoop(sb, "swap.sh", act("apply"), "apply");
        assert.deepEqual(again.calls, ["swapon --show=NAME --noheadings"]);

        const rm = await step(sb, "swap.sh", act("remove"));
        ok(rm.result, "remove");
        status(rm.result, "swap.sh", "remove", "changed");
        assert.equal(sb.readFile(FSTAB), CENTOS_FSTAB);
        assert.equal(sb.readFile(FSTAB_BACKUP), undefined);
        assert.deepEqual(rm.calls, ["swapon -a"]);
        assert.equal((await sb.runAsync("swapon --show --noheadings")).stdout, "/dev/mapper/centos-swap\n", "swap back on");
        await assertNoop(sb, "swap.sh", act("remove"), "remove");
    });

    it("a host without swap: nothing to do, nothing written", async () => {
        const sb = await sandbox();
        const fstab = "/dev/vda1 / ext4 defaults 0 1\n";
        await sb.writeFileAsync(FSTAB, fstab);
        const s = await step(sb, "swap.sh", act("apply"));
        ok(s.result, "apply");
        status(s.result, "swap.sh", "apply", "unchanged");
        assert.deepEqual(files(s), []);
        assert.equal(sb.readFile(FSTAB), fstab);
        const rm = await step(sb, "swap.sh", act("remove"));
        status(rm.result, "swap.sh", "remove", "unchanged");
        assert.deepEqual(rm.calls, []);
    });

    it("a run cut off while writing /etc/fstab (a killed engine, a reboot) leaves it whole; the next run finishes, remove undoes it", async () => {
        const sb = await sandbox({ binDirs: [cutBin(), standinsWithJoinConfig()] });
        const fstab = "/dev/mapper/centos-root / xfs defaults 0 0\n/dev/mapper/centos-swap swap swap defaults 0 0\n";
        await sb.writeFileAsync("/etc/fstab", fstab);
        ok(await sb.runAsync("touch /run/kvl-cut-cp"), "arm the cut");
        assert.notEqual((await sb.runScriptAsync("swap.sh", act("apply"))).code, 0, "cut off");
        assert.equal(sb.readFile("/etc/fstab"), fstab, "the file as it was");
        ok(await sb.runScriptAsync("swap.sh", act("apply")), "apply after the cut");
        ok(await sb.runScriptAsync("swap.sh", act("remove")), "remove");
        assert.equal(sb.readFile("/etc/fstab"), fstab, "the whole original is back");
    });
});

it("the dev stack's swap.sh steps: create and delete command lines (script elided), logging, stdin, as golden/commands.txt", () => {
    assertCommandsGolden("swap");
});
