// The etcd snapshot a destroy takes before it resets the master, for real: etcd 3.1.11 (the
// etcd of Kubernetes 1.9.4, as kubeadm runs it: /var/lib/etcd, http://127.0.0.1:2379) and a real
// sshd in one sandbox; the destroy's command (components/etcdSnapshot.ts) runs the operator's
// scripts/operator/fetch-etcd-snapshot.sh, which runs steps/etcd-snapshot/etcd-snapshot.sh over SSH with
// the pinned host key and the key on stdin (held by an ssh-agent), and keeps the snapshot in a
// 0600 file. Then the README's restore: `etcdctl snapshot restore` into a new data dir, etcd
// 3.1.11 started on it, the key read back. etcdctl (3.5, from the Go module proxy) is built by
// `bash harness/etcd-tools.sh`; Kubernetes' etcd by harness/kubernetes.sh.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";

import { snapshotCommand } from "../../components/etcdSnapshot";
import { fakeHostKey, runProgram } from "../../test/lib/graph";
import { stackConfig } from "../../test/lib/stack";
import { sandboxes } from "../../test/lib/hosts";
import { REPO_ROOT, sandboxSupported, shQuote } from "../../test/lib/sandbox";
import { startSshd } from "../../test/lib/sshd";
import { standinsWithJoinConfig } from "../../harness/lib/standins";

const K8S_BIN = process.env.KUBEVIRT_LAB_K8S_BIN ?? path.join(os.homedir(), ".cache/kubevirt-lab/kubernetes/v1.9.4/bin");
const TOOLS = path.join(os.homedir(), ".cache/kubevirt-lab/etcd-tools");
const support = sandboxSupported();
const skip = !support.ok
    ? support.reason
    : !fs.existsSync(path.join(K8S_BIN, "etcd"))
      ? `no etcd 3.1.11 in ${K8S_BIN} (bash harness/kubernetes.sh builds it)`
      : !fs.existsSync(path.join(TOOLS, "etcdctl"))
        ? `no etcdctl in ${TOOLS} (bash harness/etcd-tools.sh builds it)`
        : false;
const sandbox = sandboxes();
/** The repository in the sandbox at its own path (the destroy's command runs scripts/operator/ from it; /tmp is the sandbox's own). */
const REPO_BIND = { source: REPO_ROOT, target: REPO_ROOT, readOnly: true };

/** etcd as kubeadm 1.9's static pod runs it (its flags, no more), in the background of the sandbox, on `dataDir`; resolves when it answers. */
const etcd = (dataDir: string) => `
  /opt/k8s/etcd --listen-client-urls=http://127.0.0.1:2379 --advertise-client-urls=http://127.0.0.1:2379 \\
    --data-dir=${dataDir} >/tmp/etcd.log 2>&1 &
  echo $! > /tmp/etcd.pid
  for i in $(seq 100); do ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:2379 endpoint health >/dev/null 2>&1 && break; sleep 0.2; done`;
/** The destroy's command for the master km1 at 127.0.0.1 of the sandbox, the snapshots in /root/lab-snapshots. */
const destroyCommand = (hostKey: string) =>
    snapshotCommand({
        master: { name: "km1.virtomation.com", address: "127.0.0.1" },
        ssh: { user: "root", port: 22 },
        hostKey,
        dir: "/root/lab-snapshots",
        prefix: "dev-km1",
    });
const stopEtcd = `kill "$(cat /tmp/etcd.pid)"; for i in $(seq 50); do kill -0 "$(cat /tmp/etcd.pid)" 2>/dev/null || break; sleep 0.1; done`;

describe("the etcd snapshot of a destroy", { skip }, () => {
    it("is taken on the master over SSH (pinned host key, key in an agent), kept 0600 on this machine, and restores into etcd 3.1.11", async () => {
        // etcdctl on the master's PATH, beside the stand-ins (the etcd container's would be used on a real master)
        const bin = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-etcdctl-"));
        fs.copyFileSync(path.join(TOOLS, "etcdctl"), path.join(bin, "etcdctl"));
        fs.chmodSync(path.join(bin, "etcdctl"), 0o755);
        const sb = await sandbox({
            hostname: "km1",
            binDirs: [bin, standinsWithJoinConfig()],
            binds: [{ source: K8S_BIN, target: "/opt/k8s", readOnly: true }, REPO_BIND],
        });
        try {
            const sshd = await startSshd(sb);
            const put = await sb.runAsync(
                `set -e\nmkdir -p /var/lib/etcd && chmod 700 /var/lib/etcd\n${etcd("/var/lib/etcd")}\n` +
                    `ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:2379 put /registry/secrets/nodejs-ex/mongodb 'the lab as it was'`,
                { timeoutMs: 60_000 },
            );
            assert.equal(put.code, 0, put.stdout + put.stderr);

            const cmd = destroyCommand(sshd.hostKey);
            const r = await sb.runAsync(`cd ${shQuote(REPO_ROOT)} && sh -c ${shQuote(cmd)}`, { stdin: sshd.clientKey, timeoutMs: 60_000 });
            assert.equal(r.code, 0, r.stdout + r.stderr);
            const m =
                /^kubevirt-lab: etcd snapshot of km1\.virtomation\.com kept at (\/root\/lab-snapshots\/dev-km1-\d{8}T\d{6}Z\.db) \((\d+) bytes; README, "Restoring the etcd snapshot"\)$/m.exec(
                    r.stdout,
                );
            assert.ok(m, r.stdout + r.stderr);
            assert.equal(sb.stat(m[1]), "root:root 600");
            assert.equal(sb.stat("/root/lab-snapshots"), "root:root 700");
            assert.equal(
                (await sb.runAsync("ls -d /tmp/kubevirt-lab-etcd.* /var/lib/etcd/.kubevirt-lab-snapshot.* 2>/dev/null")).stdout,
                "",
                "no temporary copy left",
            );

            // README: restore it into a new data directory and start etcd there
            const restored = await sb.runAsync(
                `set -e\n${stopEtcd}\nETCDCTL_API=3 etcdctl snapshot restore ${m[1]} --data-dir /var/lib/etcd-restored --name default ` +
                    `--initial-cluster default=http://localhost:2380 --initial-advertise-peer-urls http://localhost:2380 >/dev/null 2>&1\n` +
                    `${etcd("/var/lib/etcd-restored")}\nETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:2379 get --print-value-only /registry/secrets/nodejs-ex/mongodb\n${stopEtcd}`,
                { timeoutMs: 90_000 },
            );
            assert.equal(restored.code, 0, restored.stdout + restored.stderr);
            assert.equal(restored.stdout, "the lab as it was\n");

            // a master offering another host key gets nothing sent to it
            const other = await sb.runAsync(`cd ${shQuote(REPO_ROOT)} && sh -c ${shQuote(cmd)}`, {
                stdin: sshd.clientKey,
                timeoutMs: 60_000,
            });
            assert.equal(other.code, 0, other.stderr); // the same key: a second snapshot
            await sshd.rekey();
            const refused = await sb.runAsync(`cd ${shQuote(REPO_ROOT)} && sh -c ${shQuote(cmd)}`, {
                stdin: sshd.clientKey,
                timeoutMs: 60_000,
            });
            assert.equal(refused.code, 1, refused.stdout + refused.stderr);
            assert.match(refused.stderr, /Host key verification failed/);
            assert.match(
                refused.stderr,
                /no etcd snapshot of km1\.virtomation\.com: the master's etcd-snapshot\.sh failed \(see above\); nothing was reset/,
            );
        } finally {
            fs.rmSync(bin, { recursive: true, force: true });
        }
    });

    it("a master without etcd data: no snapshot, said so, and the destroy goes on", async () => {
        const sb = await sandbox({ hostname: "km1", binds: [REPO_BIND] });
        const sshd = await startSshd(sb);
        const cmd = destroyCommand(sshd.hostKey);
        const r = await sb.runAsync(`cd ${shQuote(REPO_ROOT)} && sh -c ${shQuote(cmd)}`, { stdin: sshd.clientKey, timeoutMs: 60_000 });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.equal(r.stdout, "kubevirt-lab: no etcd snapshot of km1.virtomation.com: it has no etcd data\n");
        assert.match(r.stderr, /etcd-snapshot\.sh: no etcd data in \/var\/lib\/etcd on this host: no snapshot/);
        assert.equal(sb.exists("/root/lab-snapshots"), false);
    });
});

describe("on the graph", () => {
    it("the snapshot is the first thing a destroy deletes: it depends on every stage; protect guards the kubeadm init", async () => {
        const g = await runProgram(stackConfig("dev", { protect: "true", etcdSnapshotDir: "/var/backups/lab" }));
        const snap = g.byName("etcd-snapshot-on-destroy");
        assert.equal(snap.type, "command:local:Command");
        assert.equal(snap.inputs.create, undefined, "nothing runs when it is made");
        assert.deepEqual(snap.dependsOn.sort(), ["app", "cluster", "dns", "ingress-nginx", "kubevirt", "nodejs-ex", "skydive"]);
        const del = String(snap.inputs.delete);
        assert.match(del, /^bash scripts\/operator\/fetch-etcd-snapshot\.sh --address 172\.31\.50\.221 --port 22 --user root /);
        assert.ok(del.includes(`--host-key '${fakeHostKey("172.31.50.221")}'`), "the master's pinned key");
        assert.match(del, / --dir \/var\/backups\/lab --prefix test-km1 --remote \/dev\/fd\/3 3<<'KUBEVIRT_LAB_REMOTE_END'\n/);
        assert.ok(snap.inputs.stdin?.includes("PRIVATE KEY"), "the key as a secret on stdin (no key file in this stack)");
        assert.equal(g.byName("km1-kubeadm-init").opts.protect, true);
        assert.ok(!g.resources.some((r) => r.name !== "km1-kubeadm-init" && r.opts.protect), "only the init");
    });
});
