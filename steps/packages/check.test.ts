// steps/packages/packages.sh check: clean when every package apply installs is there; another version or none is its item's drift; it installs nothing.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { sandboxes, seedPreparedHost } from "../../test/lib/hosts";
import { SIM_STATE } from "../../test/lib/sandbox";
import { check, drifted, ok, sandboxSkip } from "../../test/lib/steps";

const sandbox = sandboxes();

const ARGS = { "yum-update": "no", "kubernetes-version": "1.9.4", package: ["docker"] };

describe("packages.sh check", { skip: sandboxSkip() }, () => {
    it("clean on a prepared host; another version and a missing package are reported, and nothing is installed", async () => {
        const sb = await sandbox();
        await seedPreparedHost(sb);
        assert.deepEqual(
            [...(await check(sb, "packages.sh", ARGS))],
            [
                ["package kubelet-1.9.4", "ok"],
                ["package kubeadm-1.9.4", "ok"],
                ["package kubectl-1.9.4", "ok"],
                ["package docker", "ok"],
            ],
        );
        ok(await sb.runAsync(`printf 1.10.0-0 > ${SIM_STATE}/rpmdb/kubeadm && rm ${SIM_STATE}/rpmdb/docker`), "by hand");
        assert.deepEqual(drifted(await check(sb, "packages.sh", ARGS)), [
            ["package kubeadm-1.9.4", "kubeadm-1.9.4 installed / kubeadm-1.10.0-0.x86_64 instead"],
            ["package docker", "docker installed / not installed"],
        ]);
    });
});
