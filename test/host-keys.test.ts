// Host keys pinned per host (components/hostKeys.ts): every step of a host connects with that
// host's own key, pinned in its host object or recorded by the first up; every run compares the
// key each host offers now before any host step is registered, and a mismatch stops the program
// with both fingerprints and how to accept a rebuilt host. Shown on the mocked graph, and with a
// real sshd in a sandbox whose host key changes (a rebuilt host, or someone else at its address).
// The VMs' keys: recorded per VM instance and given to Ansible's ssh as its only known_hosts.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { execFile } from "node:child_process";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";

import { HostKeys, keyscanCommand } from "../components/hostKeys";
import { fakeHostKey, runProgram } from "./lib/graph";
import { sandboxes } from "./lib/hosts";
import { sandboxSupported } from "./lib/sandbox";
import { startSshd } from "./lib/sshd";
import { REPO, stackConfig } from "./lib/stack";

/** test/lib/dump-graph.ts in a process of its own (a program that stops leaves rejections behind): `offered`, the keys hosts offer now. */
function dumpGraph(config: Record<string, string>, offered: Record<string, string>): Promise<string> {
    return new Promise((resolve, reject) => {
        execFile(
            process.execPath,
            ["--import", "tsx", path.join(REPO, "test/lib/dump-graph.ts")],
            {
                env: { ...process.env, KVL_CONFIG: JSON.stringify(config), KVL_HOST_KEYS: JSON.stringify(offered) },
                maxBuffer: 64 << 20,
                timeout: 120_000,
            },
            (e, stdout, stderr) => (e ? reject(new Error(`${e.message}\n${stderr}`)) : resolve(stdout)),
        );
    });
}

const support = sandboxSupported();
const sandbox = sandboxes();
const ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILd030Ykq49QxBdCLTvfR19kgFgpFmAytBtTWRHs3L6K";

describe("host keys on the graph", () => {
    it("every host step pins its own host's key: recorded by the first up, or the host object's hostKey", async () => {
        const config = stackConfig("dev", {
            master: { name: "km1.virtomation.com", address: "172.31.50.221", hostKey: `${ED25519} root@km1` },
        });
        const g = await runProgram(config, undefined, (a) => `${a} ${a === "172.31.50.221" ? ED25519 : fakeHostKey(a)}\n`);
        const steps = g.ofType("command:remote:Command");
        assert.ok(steps.length > 20);
        for (const s of steps) {
            const host = s.inputs.connection.host as string;
            const want = host === "172.31.50.221" ? ED25519 : fakeHostKey(host);
            assert.equal(s.inputs.connection.hostKey, want, `${s.name} (${host})`);
        }
        // the records: one per host without a pinned key, ssh-keyscan once, never again on its own
        const records = g.ofType("command:local:Command").filter((r) => r.name.endsWith("-host-key"));
        assert.deepEqual(records.map((r) => r.name).sort(), ["dns1-host-key", "kn1-host-key", "kn2-host-key"]);
        for (const r of records) {
            assert.match(r.inputs.create, /^keys=\$\(ssh-keyscan -T 15 -p 22 -t ed25519,ecdsa,rsa 172\.31\.50\.\d+ 2>\/dev\/null\)/);
            assert.deepEqual(r.opts.ignoreChanges, ["create"]);
        }
    });

    it("a host that offers another key stops the program before any host step is registered, with both fingerprints and how to accept it", async () => {
        const err = await dumpGraph(stackConfig("dev"), { "172.31.50.231": fakeHostKey("172.31.50.99") }).then(
            () => assert.fail("the program must stop"),
            (e: Error) => e,
        );
        assert.match(
            err.message,
            /\nthe SSH host key of kn1\.virtomation\.com \(172\.31\.50\.231:22\) is not the one this stack expects:\n/,
        );
        assert.match(err.message, /\n {2}expected \(recorded by the first pulumi up\): ssh-ed25519 SHA256:[A-Za-z0-9+/]{43}\n/);
        assert.match(err.message, /\n {2}the host offers now: ssh-ed25519 SHA256:[A-Za-z0-9+/]{43}\n/);
        assert.match(
            err.message,
            /\n {2}pulumi up --replace 'urn:pulumi:test::kubevirt-lab::kubevirt-lab:hosts:HostKeys\$command:local:Command::kn1-host-key'\n/,
        );
        const registered: string[] = JSON.parse(/\nregistered: (.*)\n/.exec(err.message)![1]);
        assert.ok(
            registered.length > 0 && !registered.some((r) => r.startsWith("command:remote:Command")),
            `no host step registered: ${registered}`,
        );
    });

    it("Ansible reaches the VMs with their recorded keys only (no /dev/null known_hosts)", async () => {
        const g = await runProgram(stackConfig("dev"));
        const keys = g.byName("app-vm-host-keys");
        assert.match(
            keys.inputs.create,
            /ssh-keyscan -T 15 -p 30022 -t ed25519,ecdsa,rsa 172\.31\.50\.231 .* until keys=\$\(ssh-keyscan -T 15 -p 30122 /,
        );
        assert.deepEqual(
            keys.inputs.triggers,
            ["virt-launcher-nodejs-5r59c", "virt-launcher-mongodb-qdpmg"],
            "a VM made again is a new record",
        );
        const create = String(g.byName("app-playbook").inputs.create);
        assert.match(
            create,
            /\ncat > "\$inv_dir\/known_hosts" <<'KUBEVIRT_LAB_KNOWN_HOSTS_END'\n172\.31\.50\.231 ssh-ed25519 \S+\nKUBEVIRT_LAB_KNOWN_HOSTS_END\n/,
        );
        assert.match(create, /\nbash ansible\/run-playbook\.sh "\$inv" --known-hosts "\$inv_dir\/known_hosts"$/);
    });
});

describe("a real host whose key changes", { skip: support.ok ? false : support.reason }, () => {
    it("the check of every run, with the production ssh-keyscan line against a real sshd: the same key passes, a new one is refused with both fingerprints", async () => {
        const sb = await sandbox({ hostname: "kn1" });
        const sshd = await startSshd(sb);
        const km1 = { name: "km1.virtomation.com", address: "127.0.0.1" };
        const scan = async () => (await sb.runAsync(keyscanCommand("127.0.0.1", 22, 5))).stdout;
        const fingerprint = async () => (await sb.runAsync("ssh-keygen -lf /etc/kvl-sshd/host_ed25519.pub | cut -d' ' -f2")).stdout.trim();
        const recorded = await scan();
        const before = await fingerprint();
        await pulumi.runtime.setMocks(
            {
                newResource: (a) => ({ id: `${a.name}-id`, state: { ...a.inputs, stdout: recorded } }),
                call: (a) => a.inputs,
            },
            "kubevirt-lab",
            "dev",
            false,
        );
        const keys = new HostKeys("host-keys", { hosts: [km1], port: 22, timeoutSeconds: 5 });
        assert.deepEqual(await keys.verify(() => scan()), [], "the host as recorded");

        await sshd.rekey(); // rebuilt, or someone else answering at its address
        const after = await fingerprint();
        const problems = await keys.verify(() => scan());
        assert.equal(problems.length, 1);
        assert.equal(
            problems[0].split("\n").slice(0, 4).join("\n"),
            [
                "the SSH host key of km1.virtomation.com (127.0.0.1:22) is not the one this stack expects:",
                `  expected (recorded by the first pulumi up): ssh-ed25519 ${before}`,
                `  the host offers now: ssh-ed25519 ${after}`,
                "Someone else may answer at 127.0.0.1:22: nothing was run on any host. If km1.virtomation.com was rebuilt, accept its new key:",
            ].join("\n"),
        );
        assert.match(
            problems[0],
            /\n {2}pulumi up --replace 'urn:pulumi:dev::kubevirt-lab::kubevirt-lab:hosts:HostKeys\$command:local:Command::km1-host-key'\n/,
        );
        assert.match(problems[0], /"hostKey": "<type> <base64>" \(ssh-keyscan -p 22 127\.0\.0\.1 prints them after the address\)$/);
        assert.notEqual(before, after);
    });
});
