// What the host-script tests share: a host's state seeded as the earlier steps leave it, and an
// API server directory shared by the sandboxes of one simulated cluster.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after } from "node:test";
import assert from "node:assert/strict";
import { SIM_STATE, Sandbox, SandboxOptions, SIM_APISERVER } from "./sandbox";
import { standinsWithJoinConfig } from "../../harness/lib/standins";

export const REPO_FILE = "/etc/yum.repos.d/kubernetes.repo";

/** The state of a host where packages.sh, services.sh and sysctl.sh have run. */
export async function seedPreparedHost(sb: Sandbox): Promise<void> {
    const r = await sb.runAsync(`set -e
      mkdir -p ${SIM_STATE}/rpmdb ${SIM_STATE}/systemd ${SIM_STATE}/sysctl /etc/kubernetes/manifests /etc/yum.repos.d
      for p in kubelet kubeadm kubectl; do printf 1.9.4-0 > ${SIM_STATE}/rpmdb/$p; done
      printf 0.6.0-0 > ${SIM_STATE}/rpmdb/kubernetes-cni
      printf 1.13.1-53 > ${SIM_STATE}/rpmdb/docker
      touch ${SIM_STATE}/systemd/docker.service.active ${SIM_STATE}/systemd/docker.service.enabled ${SIM_STATE}/systemd/kubelet.service.enabled
      echo 1 > ${SIM_STATE}/sysctl/net.bridge.bridge-nf-call-iptables
      echo 1 > ${SIM_STATE}/sysctl/net.bridge.bridge-nf-call-ip6tables
      printf '[kubernetes]\\n' > ${REPO_FILE}`);
    assert.equal(r.code, 0, `seeding: ${r.stderr}`);
}

/** A sandbox with a shared API server dir. */
export function sharedApiserver(): { dir: string; binds: SandboxOptions["binds"] } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-apiserver-"));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
    return { dir, binds: [{ source: dir, target: SIM_APISERVER }] };
}

/**
 * Sandboxes with the stand-ins (kubeadm's join --config among them: harness/lib/standins.ts), each
 * disposed when the test file's tests are done.
 */
export function sandboxes(): (opts?: SandboxOptions) => Promise<Sandbox> {
    const open: Sandbox[] = [];
    after(async () => {
        for (const sb of open) await sb.dispose();
    });
    return async (opts = {}) => {
        const sb = await Sandbox.create({ binDirs: [standinsWithJoinConfig()], ...opts });
        open.push(sb);
        return sb;
    };
}
