// What a destroy (each step's `remove`) takes back is only what the lab made, run for real in
// sandboxes (test/lib/sandbox.ts): a file that was there before the lab wrote its own is put
// back, a file changed since the lab wrote it is kept, a line added to the host's own files
// (fstab, SELinux's config) since is kept, a ~/.kube/config of the user's is kept. And what a
// setting could once reach is out of reach on the host too: dnsmasq's file outside
// /etc/dnsmasq.d (/etc/resolv.conf, `..`), a value with a newline (an extra yum repository).
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { namedArgv, ResolvedArgs } from "../components/remote";
import { REPO_FILE, sandboxes, seedPreparedHost, sharedApiserver } from "./lib/hosts";
import { RunResult, sandboxSupported } from "./lib/sandbox";

const support = sandboxSupported();
const skip = support.ok ? false : support.reason;
const act = (action: "apply" | "remove", args: ResolvedArgs = {}): string[] => [action, ...namedArgv(args)];
const BASEURL = "https://packages.cloud.google.com/yum/repos/kubernetes-el7-$basearch";
const GPGKEY = "https://packages.cloud.google.com/yum/doc/yum-key.gpg";
const OWNED = "/var/lib/kubevirt-lab/owned";

const sandbox = sandboxes();

function ok(r: RunResult, what: string): RunResult {
    assert.equal(r.code, 0, `${what} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
    return r;
}

describe("destroy takes back only what the lab made", { skip, concurrency: 4 }, () => {
    it("kubernetes.repo, k8s.conf, docker-storage-setup: a file that was there before is put back, one changed since is kept", async () => {
        const sb = await sandbox();
        const theirs = "[kubernetes]\nname=the admin's own mirror\nbaseurl=https://mirror.example/k8s\n";
        await sb.writeFileAsync(REPO_FILE, theirs);
        ok(await sb.runScriptAsync("repo.sh", act("apply", { baseurl: BASEURL, gpgkey: [GPGKEY] })), "repo apply");
        assert.match(
            sb.readFile(REPO_FILE)!,
            /^baseurl=https:\/\/packages\.cloud\.google\.com\//m,
            "the lab's file while the lab is there",
        );
        assert.equal(sb.readFile(`${OWNED}/%etc%yum.repos.d%kubernetes.repo.orig`), theirs, "theirs kept aside");
        ok(await sb.runScriptAsync("repo.sh", act("remove")), "repo remove");
        assert.equal(sb.readFile(REPO_FILE), theirs, "theirs is back");
        assert.equal(sb.exists(`${OWNED}/%etc%yum.repos.d%kubernetes.repo.sha256`), false, "no record left");

        ok(await sb.runScriptAsync("sysctl.sh", act("apply")), "sysctl apply");
        const edited = `${sb.readFile("/etc/sysctl.d/k8s.conf")}vm.swappiness = 0\n`;
        await sb.writeFileAsync("/etc/sysctl.d/k8s.conf", edited);
        const rm = ok(await sb.runScriptAsync("sysctl.sh", act("remove")), "sysctl remove");
        assert.match(rm.stdout, /sysctl\.sh: \/etc\/sysctl\.d\/k8s\.conf was changed since kubevirt-lab wrote it: left as it is\n/);
        assert.equal(sb.readFile("/etc/sysctl.d/k8s.conf"), edited, "the changed file is kept");

        ok(await sb.runScriptAsync("docker-storage.sh", act("apply", { device: "/dev/vdb" })), "storage apply");
        ok(await sb.runScriptAsync("docker-storage.sh", act("remove")), "storage remove");
        assert.equal(sb.exists("/etc/sysconfig/docker-storage-setup"), false, "ours, unchanged: removed");
    });

    it("/etc/fstab: remove uncomments the lab's swap line only; a line added since, and one changed since, are kept", async () => {
        const sb = await sandbox();
        const fstab = "/dev/mapper/centos-root / xfs defaults 0 0\n/dev/mapper/centos-swap swap swap defaults 0 0\n";
        await sb.writeFileAsync("/etc/fstab", fstab);
        ok(await sb.runScriptAsync("swap.sh", act("apply")), "apply");
        const later = "nas:/export /mnt/nas nfs defaults 0 0\n";
        await sb.writeFileAsync("/etc/fstab", `${sb.readFile("/etc/fstab")}${later}`);
        ok(await sb.runScriptAsync("swap.sh", act("remove")), "remove");
        assert.equal(sb.readFile("/etc/fstab"), `${fstab}${later}`, "the swap line back, the later line kept");
        const again = ok(await sb.runScriptAsync("swap.sh", act("remove")), "remove again");
        assert.match(again.stdout, /: unchanged\n$/);
    });

    it("/etc/selinux/config: the SELINUX= line back; a line changed since kept, and said so", async () => {
        const sb = await sandbox();
        const conf = "# SELinux\nSELINUX=enforcing\nSELINUXTYPE=targeted\n";
        await sb.writeFileAsync("/etc/selinux/config", conf);
        ok(await sb.runScriptAsync("selinux.sh", act("apply", { mode: "disabled" })), "apply");
        assert.equal(
            sb.readFile("/etc/selinux/config"),
            "# SELinux\n#kubevirt-lab: SELINUX=disabled replaced: SELINUX=enforcing\nSELINUX=disabled\nSELINUXTYPE=targeted\n",
        );
        await sb.writeFileAsync("/etc/selinux/config", `${sb.readFile("/etc/selinux/config")}# audited 2026-12-05\n`);
        ok(await sb.runScriptAsync("selinux.sh", act("remove")), "remove");
        assert.equal(sb.readFile("/etc/selinux/config"), `${conf}# audited 2026-12-05\n`, "the line back, the later line kept");

        ok(await sb.runScriptAsync("selinux.sh", act("apply", { mode: "disabled" })), "apply again");
        await sb.writeFileAsync(
            "/etc/selinux/config",
            sb.readFile("/etc/selinux/config")!.replace("\nSELINUX=disabled\n", "\nSELINUX=permissive\n"),
        );
        const rm = ok(await sb.runScriptAsync("selinux.sh", act("remove")), "remove after an admin's change");
        assert.match(rm.stdout, /'SELINUX=permissive' is not the line kubevirt-lab wrote \(SELINUX=disabled\): left as it is/);
        assert.equal(
            sb.readFile("/etc/selinux/config"),
            "# SELinux\nSELINUX=permissive\nSELINUXTYPE=targeted\n# audited 2026-12-05\n",
            "the admin's line kept, the note gone",
        );
    });

    it("~/.kube/config: a config of the user's is kept through init and destroy; one put there after init is kept by destroy", async () => {
        const api = sharedApiserver();
        const initArgs = {
            "pod-network-cidr": "10.244.0.0/16",
            "service-cidr": "10.96.0.0/12",
            "node-name": "km1",
            "advertise-address": "172.31.50.221",
            "kubernetes-version": "1.9.4",
            "ssh-user": "root",
        };
        const theirs = "apiVersion: v1\nkind: Config\nclusters: []\n# the user's own cluster\n";
        for (const when of ["before", "after"] as const) {
            const sb = await sandbox({ hostname: "km1", binds: api.binds });
            await seedPreparedHost(sb);
            if (when === "before") await sb.writeFileAsync("/root/.kube/config", theirs, "600");
            ok(await sb.runScriptAsync("kubeadm-init.sh", act("apply", initArgs)), "init");
            assert.equal(
                sb.readFile("/root/.kube/config"),
                sb.readFile("/etc/kubernetes/admin.conf"),
                "the post's copy while the lab is there",
            );
            if (when === "after") await sb.writeFileAsync("/root/.kube/config", theirs, "600");
            const rm = ok(await sb.runScriptAsync("kubeadm-init.sh", act("remove", { "ssh-user": "root", "node-name": "km1" })), "remove");
            assert.equal(sb.readFile("/root/.kube/config"), theirs, `a config of the user's (${when} init) is kept`);
            assert.equal(sb.exists("/etc/kubernetes/admin.conf"), false, "reset");
            if (when === "after") assert.match(rm.stdout, /\/root\/\.kube\/config was changed since kubevirt-lab wrote it: left as it is/);
        }
    });
});

describe("what a setting could once reach is out of reach on the host", { skip, concurrency: 4 }, () => {
    const dnsArgs = (conf: string) =>
        act("apply", {
            "conf-path": conf,
            "ingress-domain": "ingress.virtomation.com",
            "ingress-ip": "172.31.50.231",
            record: ["km1.virtomation.com=172.31.50.221"],
        });

    it("dnsmasq-records.sh writes and deletes nothing outside /etc/dnsmasq.d: /etc/resolv.conf and .. refused, resolv.conf untouched", async () => {
        const sb = await sandbox({ hostname: "dns1" });
        const resolv = "nameserver 192.0.2.53\n";
        await sb.writeFileAsync("/etc/resolv.conf", resolv);
        await sb.writeFileAsync("/etc/dnsmasq.conf", "conf-dir=/etc/dnsmasq.d\n");
        ok(await sb.runAsync("mkdir -p /etc/dnsmasq.d"), "dnsmasq.d");
        for (const conf of ["/etc/resolv.conf", "/etc/dnsmasq.d/../dnsmasq.conf", "/etc/dnsmasq.d/../resolv.conf", "/tmp/lab.conf"]) {
            for (const words of [dnsArgs(conf), act("remove", { "conf-path": conf })]) {
                const before = sb.snapshot();
                const r = await sb.runScriptAsync("dnsmasq-records.sh", words);
                assert.equal(r.code, 1, `${words[0]} ${conf}: ${r.stdout}${r.stderr}`);
                assert.equal(r.stderr, `dnsmasq-records.sh: conf-path '${conf}' is not a file directly in /etc/dnsmasq.d: refused\n`);
                assert.deepEqual(
                    [...sb.snapshot().keys()].filter((k) => !before.has(k) || before.get(k)!.hash !== sb.snapshot().get(k)!.hash),
                    [],
                    "nothing written",
                );
            }
        }
        assert.equal(sb.readFile("/etc/resolv.conf"), resolv);
        assert.equal(sb.readFile("/etc/dnsmasq.conf"), "conf-dir=/etc/dnsmasq.d\n");
    });

    it("a value with a newline (or any control character) is refused by every script's parser before anything is done: no extra yum repository", async () => {
        const sb = await sandbox();
        for (const [name, value] of [
            ["baseurl", "https://mirror.example/k8s\n[evil]\nbaseurl=https://evil.example/\ngpgcheck=0"],
            ["baseurl", "https://mirror.example/k8s\r"],
            ["gpgkey", "https://mirror.example/key.gpg\ngpgcheck=0"],
        ]) {
            const args = name === "baseurl" ? { baseurl: value, gpgkey: [GPGKEY] } : { baseurl: BASEURL, gpgkey: [value] };
            const r = await sb.runScriptAsync("repo.sh", act("apply", args));
            assert.equal(r.code, 2, r.stderr);
            assert.equal(
                r.stderr,
                `repo.sh: --${name}: a value with a control character (newline, carriage return, tab, ...) is refused\n`,
            );
            assert.equal(sb.exists(REPO_FILE), false, "no repository file written");
        }
        const tab = await sb.runScriptAsync(
            "sysctl.sh",
            act("apply", { setting: ["kernel.core_pattern = |/tmp/x\tnet.ipv4.ip_forward = 1"] }),
        );
        assert.equal(tab.code, 2, tab.stderr);
        assert.equal(sb.exists("/etc/sysctl.d/k8s.conf"), false);
    });
});
