/**
 * The host scripts (steps/*.sh), run the way the Pulumi components run
 * them, in sandboxes (test/lib/sandbox.ts) whose CentOS tools are the
 * recording stand-ins (harness/standins/bin). For each script: the exact files
 * it writes (contents from the post), the commands it calls and their order,
 * and that a second run changes nothing, calls nothing that changes state and
 * says "unchanged". Then the cluster flow across two sandboxes that share one
 * simulated API server. Then what reaches a host (the rendered script in clear
 * text inside the command line), the named arguments (declared by each script,
 * checked at program time; values by config.ts), and golden files of the
 * command lines (test/golden/, UPDATE_GOLDEN=1 rewrites them).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { after, describe, it } from "node:test";

import {
    ResolvedArgs,
    SCRIPT_END,
    checkArgs,
    hostStep,
    namedArgv,
    renderScript,
    scriptCommandLine,
    scriptOptions,
} from "../components/remote";
import { parseConfig } from "../components/config";
import { sourceOf, stackConfig } from "./lib/stack";
import { standinsWithJoinConfig } from "../harness/lib/standins";
import { REPO_FILE, sandboxes, seedPreparedHost, sharedApiserver } from "./lib/hosts";

import {
    HOST_SCRIPTS,
    REPO_ROOT,
    RunResult,
    SIM_APISERVER,
    SIM_STATE,
    Sandbox,
    STANDINS_BIN,
    diffSnapshots,
    sandboxSupported,
    scriptCommand,
} from "./lib/sandbox";

// ---------------------------------------------------------------------------
// What the post writes (section "Kubernetes"), byte for byte.

const REPO = path.join(__dirname, "..");
const BASEURL = "https://packages.cloud.google.com/yum/repos/kubernetes-el7-$basearch";
const GPGKEYS = ["https://packages.cloud.google.com/yum/doc/yum-key.gpg", "https://packages.cloud.google.com/yum/doc/rpm-package-key.gpg"];
const REPO_CONTENT =
    "[kubernetes]\n" +
    "name=Kubernetes\n" +
    "baseurl=https://packages.cloud.google.com/yum/repos/kubernetes-el7-$basearch\n" +
    "enabled=1\n" +
    "gpgcheck=1\n" +
    "repo_gpgcheck=1\n" +
    "gpgkey=https://packages.cloud.google.com/yum/doc/yum-key.gpg https://packages.cloud.google.com/yum/doc/rpm-package-key.gpg\n";

const STORAGE_FILE = "/etc/sysconfig/docker-storage-setup";
const storageContent = (dev: string) =>
    "STORAGE_DRIVER=overlay2\n" +
    `DEVS=${dev}\n` +
    "CONTAINER_ROOT_LV_NAME=dockerlv\n" +
    "CONTAINER_ROOT_LV_SIZE=100%FREE\n" +
    "CONTAINER_ROOT_LV_MOUNT_PATH=/var/lib/docker\n" +
    "VG=dockervg\n";

const SYSCTL_FILE = "/etc/sysctl.d/k8s.conf";
const SYSCTL_CONTENT = "net.bridge.bridge-nf-call-ip6tables = 1\nnet.bridge.bridge-nf-call-iptables = 1\n";

const SELINUX_FILE = "/etc/selinux/config";
const SELINUX_BACKUP = "/etc/selinux/config.kubevirt-lab.orig";
const SELINUX_NONE = "/etc/selinux/config.kubevirt-lab.none";
const selinuxContent = (mode: string) =>
    "# This file controls the state of SELinux on the system.\n" +
    "# SELINUX= can take one of these three values:\n" +
    "#     enforcing - SELinux security policy is enforced.\n" +
    "#     permissive - SELinux prints warnings instead of enforcing.\n" +
    "#     disabled - No SELinux policy is loaded.\n" +
    `SELINUX=${mode}\n` +
    "# SELINUXTYPE= can take one of three two values:\n" +
    "#     targeted - Targeted processes are protected,\n" +
    "#     minimum - Modification of targeted policy. Only selected processes are protected.\n" +
    "#     mls - Multi Level Security protection.\n" +
    "SELINUXTYPE=targeted\n";
/** /etc/selinux/config as CentOS 7 ships it (blank lines around the post's text). */
const CENTOS_SELINUX_CONFIG = `\n${selinuxContent("enforcing")}\n\n`;
/** CentOS's file after selinux.sh apply: only its SELINUX= line changed, the lab's note above it. */
const selinuxEdited = (mode: string) =>
    CENTOS_SELINUX_CONFIG.replace(
        "\nSELINUX=enforcing\n",
        `\n#kubevirt-lab: SELINUX=${mode} replaced: SELINUX=enforcing\nSELINUX=${mode}\n`,
    );

const ADMIN_CONF = "/etc/kubernetes/admin.conf";
const KUBELET_CONF = "/etc/kubernetes/kubelet.conf";
const FLANNEL_URL = "https://raw.githubusercontent.com/coreos/flannel/v0.9.1/Documentation/kube-flannel.yml";
const INIT_ARGS = {
    "pod-network-cidr": "10.244.0.0/16",
    "service-cidr": "10.96.0.0/12",
    "node-name": "km1",
    "advertise-address": "172.31.50.221",
    "kubernetes-version": "1.9.4",
};
const INIT_COMMAND =
    "kubeadm init --pod-network-cidr=10.244.0.0/16 --service-cidr=10.96.0.0/12 --node-name=km1 " +
    "--apiserver-advertise-address=172.31.50.221 --kubernetes-version=v1.9.4";
const KC = "--kubeconfig=/etc/kubernetes/admin.conf";
/** kubeadm-init.sh remove of the master km1 (its own Node is drained first). */
const INIT_REMOVE = { "ssh-user": "root", "node-name": "km1" };
/** What kubeadm-init.sh remove runs on km1 before its reset: km1's own Node drained and deleted. */
const MASTER_DRAIN = [
    `kubectl ${KC} get node km1`,
    `kubectl ${KC} drain --help`,
    `kubectl ${KC} drain km1 --ignore-daemonsets --delete-local-data --force --timeout=600s`,
    `kubectl ${KC} delete node km1`,
    `kubectl ${KC} get nodes -o name`,
];
const JOIN_RE =
    /^kubeadm join --token ([a-z0-9]{6}\.[a-z0-9]{16}) 172\.31\.50\.221:6443 --discovery-token-ca-cert-hash (sha256:[0-9a-f]{64})$/;

/** The scripts these tests cover (dnsmasq-records.sh and others have their own). */
const SCRIPTS = [
    "repo.sh",
    "packages.sh",
    "docker-storage.sh",
    "services.sh",
    "sysctl.sh",
    "swap.sh",
    "selinux.sh",
    "kubeadm-init.sh",
    "kubeconfig.sh",
    "flannel.sh",
    "wait-nodes.sh",
    "join-command.sh",
    "kubeadm-join.sh",
    "drain-node.sh",
    "wait-pods.sh",
    "delete-daemonsets.sh",
];

// ---------------------------------------------------------------------------
// Helpers

/** The words of an action with named arguments, as hostStep writes them: `apply --name value...`. */
const act = (action: "apply" | "remove", args: ResolvedArgs = {}): string[] => [action, ...namedArgv(args)];
/** The words of a script without actions (its `run`). */
const run = (args: ResolvedArgs = {}): string[] => namedArgv(args);

const support = sandboxSupported();
const skip = support.ok ? false : support.reason;

/** A sandbox with the stand-ins, kubeadm's join --config among them (harness/lib/standins.ts). */
const sandbox = sandboxes();

/** Calls that only look: allowed in a second run. */
const READ_ONLY = [
    /^rpm -q/,
    /^systemctl (is-active|is-enabled|status) /,
    /^getenforce$/,
    /^sysctl -n /,
    /^swapon --show/,
    /^kubectl (--kubeconfig=\S+ )?get /,
    / --help$/,
];
const stateChanging = (cmds: string[]) => cmds.filter((c) => !READ_ONLY.some((re) => re.test(c)));

function ok(r: RunResult, what: string): RunResult {
    assert.equal(r.code, 0, `${what} failed (${r.code}):\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    return r;
}

/** The closing line of a script. */
function status(r: RunResult, script: string, action: string, changed: "changed" | "unchanged", stream: "stdout" | "stderr" = "stdout") {
    const lines = r[stream].trimEnd().split("\n");
    assert.equal(
        lines[lines.length - 1],
        `kubevirt-lab: ${script} ${action}: ${changed}`,
        `last ${stream} line of ${script}:\n${r[stream]}`,
    );
}

interface Step {
    readonly result: RunResult;
    /** Commands the stand-ins logged during the run. */
    readonly calls: string[];
    /** Upper-layer differences made by the run (files and dirs). */
    readonly diff: string[];
}

interface StepOptions {
    readonly stdin?: string;
    readonly env?: Record<string, string>;
    /** Run the script from another directory (a mutated copy). */
    readonly scriptsDir?: string;
}

/** Run a script and return what it did. */
async function step(sb: Sandbox, script: string, args: string[], opts: StepOptions = {}): Promise<Step> {
    const before = sb.snapshot();
    const mark = sb.callCount();
    const result = await sb.runAsync(scriptCommand(script, args, opts.scriptsDir ?? HOST_SCRIPTS), opts);
    return { result, calls: sb.commandsSince(mark), diff: diffSnapshots(before, sb.snapshot()) };
}

/** Where lib.sh's own_file keeps its record of the files the lab wrote (test/ownership.test.ts reads it). */
const OWNED = "/var/lib/kubevirt-lab/owned";

/** Files (not directories) a step created, changed or deleted, the simulator's own state and the lab's ownership records left out. */
function files(s: Step): string[] {
    return s.diff.filter((d) => !d.endsWith("(dir)") && !d.includes(` ${SIM_STATE}/`) && !d.includes(` ${OWNED}/`));
}

/** Run the script again: nothing may change, nothing state-changing may be called. */
async function assertNoop(sb: Sandbox, script: string, args: string[], action: string, opts: StepOptions = {}): Promise<Step> {
    const s = await step(sb, script, args, opts);
    ok(s.result, `second ${script} ${args.join(" ")}`);
    assert.deepEqual(s.diff, [], `second run of ${script} changed files`);
    assert.deepEqual(stateChanging(s.calls), [], `second run of ${script} made state-changing calls`);
    status(s.result, script, action, "unchanged");
    return s;
}

/** The simulated cluster of a finished kubeadm init, as the stand-ins keep it: control plane, master, kube-proxy. */
async function seedFinishedCluster(sb: Sandbox): Promise<void> {
    ok(
        await sb.runAsync(`set -e
      mkdir -p /etc/kubernetes/manifests ${SIM_APISERVER}/nodes
      printf 'kind: Pod\\n' > /etc/kubernetes/manifests/kube-apiserver.yaml
      printf 'advertise=172.31.50.221\\nport=6443\\nversion=v1.9.4\\nhost=km1\\nmaster=km1\\n' > ${SIM_APISERVER}/cluster
      printf 'name=km1\\nrole=master\\nhost=km1\\nversion=v1.9.4\\nstatus=Ready\\ncreated=0\\n' > ${SIM_APISERVER}/nodes/km1
      printf 'kube-system daemonset kube-proxy\\n' > ${SIM_APISERVER}/addons`),
        "seeding a finished cluster",
    );
}

function tokensIn(apiserverDir: string): string[] {
    const d = path.join(apiserverDir, "tokens");
    return fs.existsSync(d) ? fs.readdirSync(d) : [];
}

// ---------------------------------------------------------------------------

/** Two prepared hosts on one simulated API server, km1 initialised. */
async function initializedPair() {
    const api = sharedApiserver();
    const km1 = await sandbox({ hostname: "km1", binds: api.binds });
    const kn1 = await sandbox({ hostname: "kn1", binds: api.binds });
    await seedPreparedHost(km1);
    await seedPreparedHost(kn1);
    ok(await km1.runScriptAsync("kubeadm-init.sh", act("apply", { ...INIT_ARGS, "ssh-user": "root" })), "init");
    return { api, km1, kn1 };
}

describe("host scripts", { skip, concurrency: 3 }, () => {
    it("every script follows the README conventions (as sent: lib.sh inlined)", () => {
        for (const s of SCRIPTS) {
            const text = renderScript(s, HOST_SCRIPTS);
            assert.match(text, /^#!\/usr\/bin\/env bash\n/, `${s}: shebang`);
            assert.match(text, /\nset -euo pipefail\n/, `${s}: set -euo pipefail`);
            assert.doesNotMatch(
                text,
                /(^|[\s;|&(])\/(usr\/)?s?bin\/(yum|rpm|systemctl|sysctl|kubeadm|kubectl|setenforce|getenforce)\b/m,
                `${s}: calls a tool by path`,
            );
            const raw = fs.readFileSync(path.join(HOST_SCRIPTS, s), "utf8");
            // one dispatcher (lib.sh) reads the action and the options and prints the closing line
            assert.match(raw, /\nkvl::main "\$@"\n$/, `${s}: ends with kvl::main "$@"`);
            assert.ok(scriptOptions(s, HOST_SCRIPTS), `${s}: declares its OPTIONS`);
            assert.doesNotMatch(raw, /^\s*finish\b|\$# >= 1\)\) \|\| usage|^case \$action in/m, `${s}: no dispatch of its own`);
        }
    });

    describe("repo.sh", { concurrency: 3 }, () => {
        it("writes the post's kubernetes.repo, literal $basearch, keys on one line; a second run is a no-op", async () => {
            const sb = await sandbox();
            const s = await step(sb, "repo.sh", act("apply", { baseurl: BASEURL, gpgkey: GPGKEYS }));
            ok(s.result, "repo.sh apply");
            status(s.result, "repo.sh", "apply", "changed");
            assert.equal(sb.readFile(REPO_FILE), REPO_CONTENT);
            assert.equal(sb.stat(REPO_FILE), "root:root 644");
            assert.deepEqual(files(s), [`created ${REPO_FILE} (file)`]);
            assert.deepEqual(s.calls, []);
            await assertNoop(sb, "repo.sh", act("apply", { baseurl: BASEURL, gpgkey: GPGKEYS }), "apply");
        });

        it("rewrites a changed file, refuses bad arguments with usage and changes nothing, remove deletes it once", async () => {
            const sb = await sandbox();
            await sb.writeFileAsync(REPO_FILE, "[kubernetes]\nbaseurl=http://old\n");
            const s = await step(
                sb,
                "repo.sh",
                act("apply", { baseurl: "https://mirror/el7-$basearch", gpgkey: ["https://mirror/key.gpg"] }),
            );
            ok(s.result, "apply");
            assert.equal(
                sb.readFile(REPO_FILE),
                REPO_CONTENT.replace(BASEURL, "https://mirror/el7-$basearch").replace(/gpgkey=.*/, "gpgkey=https://mirror/key.gpg"),
            );
            // a required option missing, an unknown one, a positional word, an option twice or without a value: usage, exit 2
            const good = act("apply", { baseurl: BASEURL, gpgkey: GPGKEYS });
            for (const argv of [
                act("apply", { baseurl: BASEURL }),
                [...good, "--gpg-key", "k"],
                ["apply", BASEURL, ...GPGKEYS],
                [...good, "--baseurl", BASEURL],
                [...good, "--gpgkey"],
                ["install", ...good.slice(1)],
                [],
            ]) {
                const bad = await step(sb, "repo.sh", argv);
                assert.equal(bad.result.code, 2, `usage for ${argv.join(" ")}`);
                assert.equal(bad.result.stderr, "usage: repo.sh apply --baseurl <baseurl> --gpgkey <gpgkey>... | remove\n");
                assert.deepEqual(bad.diff, [], `nothing changed by ${argv.join(" ")}`);
            }
            const rm = await step(sb, "repo.sh", act("remove"));
            ok(rm.result, "remove");
            status(rm.result, "repo.sh", "remove", "changed");
            assert.equal(sb.readFile(REPO_FILE), "[kubernetes]\nbaseurl=http://old\n", "the file that was there before is back");
            await assertNoop(sb, "repo.sh", act("remove"), "remove");
        });
    });

    describe("packages.sh", { concurrency: 3 }, () => {
        const ARGS = act("apply", {
            "yum-update": "yes",
            "kubernetes-version": "1.9.4",
            package: ["docker", "ansible", "git", "curl", "wget"],
        });
        const PKGS = ["kubelet-1.9.4", "kubeadm-1.9.4", "kubectl-1.9.4", "docker", "ansible", "git", "curl", "wget"];

        it("updates, installs what rpm -q does not find, checks it; a second run only queries", async () => {
            const sb = await sandbox();
            await sb.writeFileAsync(REPO_FILE, REPO_CONTENT);
            const s = await step(sb, "packages.sh", ARGS);
            ok(s.result, "packages.sh");
            status(s.result, "packages.sh", "apply", "changed");
            assert.deepEqual(s.calls, [
                `rpm -q ${PKGS.join(" ")}`,
                "rpm -q --quiet kubelet",
                "yum update -y",
                `yum install -y ${PKGS.join(" ")}`,
                `rpm -q ${PKGS.join(" ")}`,
            ]);
            assert.deepEqual(files(s), [], "packages.sh writes no file itself");
            const again = await assertNoop(sb, "packages.sh", ARGS, "apply");
            assert.deepEqual(again.calls, [`rpm -q ${PKGS.join(" ")}`]);
        });

        it("installs only the missing ones, no yum update once kubelet is there or when told no", async () => {
            const sb = await sandbox();
            await sb.writeFileAsync(REPO_FILE, REPO_CONTENT);
            ok(
                await sb.runAsync(
                    `mkdir -p ${SIM_STATE}/rpmdb && printf 1.9.4-0 > ${SIM_STATE}/rpmdb/kubelet && printf 2.0-1 > ${SIM_STATE}/rpmdb/git`,
                ),
                "seed",
            );
            const s = await step(sb, "packages.sh", ARGS);
            ok(s.result, "packages.sh");
            assert.deepEqual(stateChanging(s.calls), ["yum install -y kubeadm-1.9.4 kubectl-1.9.4 docker ansible curl wget"]);

            const sb2 = await sandbox();
            await sb2.writeFileAsync(REPO_FILE, REPO_CONTENT);
            const s2 = await step(sb2, "packages.sh", act("apply", { "yum-update": "no", "kubernetes-version": "1.9.4" }));
            ok(s2.result, "packages.sh no");
            assert.deepEqual(stateChanging(s2.calls), ["yum install -y kubelet-1.9.4 kubeadm-1.9.4 kubectl-1.9.4"]);
        });

        it("fails clearly without the Kubernetes repo and on bad arguments", async () => {
            const sb = await sandbox();
            const r = await sb.runScriptAsync("packages.sh", act("apply", { "yum-update": "no", "kubernetes-version": "1.9.4" }));
            assert.notEqual(r.code, 0);
            assert.match(r.stdout + r.stderr, /No package kubelet-1\.9\.4 available/);
            const bad = await step(sb, "packages.sh", act("apply", { "kubernetes-version": "1.9.4", package: ["git"] }));
            assert.equal(bad.result.code, 2);
            assert.equal(
                bad.result.stderr,
                "usage: packages.sh apply --yum-update <yum-update> --kubernetes-version <kubernetes-version> [--package <package>]... | remove\n",
            );
            assert.deepEqual(bad.calls, [], "nothing called without --yum-update");
            const rm = ok(await sb.runScriptAsync("packages.sh", act("remove")), "remove");
            status(rm, "packages.sh", "remove", "unchanged");
        });
    });

    describe("docker-storage.sh", { concurrency: 3 }, () => {
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

    describe("services.sh", { concurrency: 3 }, () => {
        it("starts+enables docker (storage setup first), enables kubelet; a second run only asks", async () => {
            const sb = await sandbox();
            ok(
                await sb.runAsync(
                    `mkdir -p ${SIM_STATE}/rpmdb && printf 1.13.1-53 > ${SIM_STATE}/rpmdb/docker && printf 1.9.4-0 > ${SIM_STATE}/rpmdb/kubelet`,
                ),
                "seed",
            );
            await sb.writeFileAsync(STORAGE_FILE, storageContent("/dev/vdb"));
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

    describe("sysctl.sh", { concurrency: 3 }, () => {
        it("writes k8s.conf with the two bridge lines, sysctl --system once; remove deletes it and reloads", async () => {
            const sb = await sandbox();
            const s = await step(sb, "sysctl.sh", act("apply"));
            ok(s.result, "apply");
            status(s.result, "sysctl.sh", "apply", "changed");
            assert.equal(sb.readFile(SYSCTL_FILE), SYSCTL_CONTENT);
            assert.deepEqual(files(s), [`created ${SYSCTL_FILE} (file)`]);
            assert.deepEqual(s.calls, ["sysctl --system"]);
            assert.equal((await sb.runAsync("sysctl -n net.bridge.bridge-nf-call-iptables")).stdout, "1\n");
            await assertNoop(
                sb,
                "sysctl.sh",
                act("apply", { setting: ["net.bridge.bridge-nf-call-ip6tables = 1", "net.bridge.bridge-nf-call-iptables = 1"] }),
                "apply",
            );

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
    });

    describe("swap.sh", { concurrency: 3 }, () => {
        const FSTAB = "/etc/fstab";
        const FSTAB_BACKUP = "/etc/fstab.kubevirt-lab.orig";
        const CENTOS_FSTAB = [
            "# /etc/fstab",
            "/dev/mapper/centos-root /                       xfs     defaults        0 0",
            "UUID=2b1b6d0e /boot                   xfs     defaults        0 0",
            "/dev/mapper/centos-swap swap                    swap    defaults        0 0",
            "",
        ].join("\n");
        const SWAP_OFF_FSTAB = CENTOS_FSTAB.replace(
            "/dev/mapper/centos-swap",
            "#kubevirt-lab: swap off for kubeadm#/dev/mapper/centos-swap",
        );

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
    });

    describe("selinux.sh", { concurrency: 3 }, () => {
        it("CentOS host: setenforce 0, only the SELINUX= line changed (a note above it); remove puts that line back", async () => {
            const sb = await sandbox();
            await sb.writeFileAsync(SELINUX_FILE, CENTOS_SELINUX_CONFIG);
            const s = await step(sb, "selinux.sh", act("apply", { mode: "disabled" }));
            ok(s.result, "apply");
            status(s.result, "selinux.sh", "apply", "changed");
            assert.deepEqual(s.calls, ["getenforce", "setenforce 0"]);
            assert.equal(sb.readFile(SELINUX_FILE), selinuxEdited("disabled"));
            assert.deepEqual(files(s), [`changed ${SELINUX_FILE} (file)`]);
            assert.equal((await sb.runAsync("getenforce")).stdout, "Permissive\n");
            const again = await assertNoop(sb, "selinux.sh", act("apply", { mode: "disabled" }), "apply");
            assert.deepEqual(again.calls, ["getenforce"]);

            // a mode change keeps what the first change replaced
            ok(await sb.runScriptAsync("selinux.sh", act("apply", { mode: "permissive" })), "permissive");
            assert.equal(sb.readFile(SELINUX_FILE), selinuxEdited("permissive"));

            const rm = await step(sb, "selinux.sh", act("remove"));
            ok(rm.result, "remove");
            status(rm.result, "selinux.sh", "remove", "changed");
            assert.equal(sb.readFile(SELINUX_FILE), CENTOS_SELINUX_CONFIG);
            assert.deepEqual(rm.calls, []);
            await assertNoop(sb, "selinux.sh", act("remove"), "remove");
        });

        it("enforcing leaves the running mode alone; permissive when already Permissive calls no setenforce", async () => {
            const sb = await sandbox();
            await sb.writeFileAsync(SELINUX_FILE, CENTOS_SELINUX_CONFIG);
            const s = await step(sb, "selinux.sh", act("apply", { mode: "enforcing" }));
            ok(s.result, "enforcing");
            assert.deepEqual(s.calls, []);
            assert.equal(sb.readFile(SELINUX_FILE), selinuxEdited("enforcing"));
            ok(await sb.runAsync("setenforce 0"), "setenforce");
            const p = await step(sb, "selinux.sh", act("apply", { mode: "permissive" }));
            ok(p.result, "permissive");
            assert.deepEqual(p.calls, ["getenforce"]);
            assert.equal((await sb.runScriptAsync("selinux.sh", ["apply", "permissive"])).code, 2, "a positional mode");
            assert.equal((await sb.runScriptAsync("selinux.sh", act("apply"))).code, 2, "no --mode");
        });

        it("host without a config: writes the post's file, the lab's; remove deletes it", async () => {
            const sb = await sandbox();
            ok(await sb.runAsync(`rm -f ${SELINUX_FILE}`), "no config");
            ok(await sb.runScriptAsync("selinux.sh", act("apply", { mode: "disabled" })), "apply");
            assert.equal(sb.readFile(SELINUX_FILE), selinuxContent("disabled"));
            ok(await sb.runScriptAsync("selinux.sh", act("remove")), "remove");
            assert.equal(sb.readFile(SELINUX_FILE), undefined);
        });

        it("a host an earlier release changed (whole file replaced, original kept): apply edits the original's line, remove gives it back", async () => {
            const sb = await sandbox();
            await sb.writeFileAsync(SELINUX_FILE, selinuxContent("disabled"));
            await sb.writeFileAsync(SELINUX_BACKUP, CENTOS_SELINUX_CONFIG);
            ok(await sb.runScriptAsync("selinux.sh", act("apply", { mode: "disabled" })), "apply");
            assert.equal(sb.readFile(SELINUX_FILE), selinuxEdited("disabled"));
            assert.equal(sb.readFile(SELINUX_BACKUP), undefined);
            ok(await sb.runScriptAsync("selinux.sh", act("remove")), "remove");
            assert.equal(sb.readFile(SELINUX_FILE), CENTOS_SELINUX_CONFIG);
            const none = await sandbox();
            ok(await none.runAsync(`rm -f ${SELINUX_FILE}`), "no config");
            await none.writeFileAsync(SELINUX_FILE, selinuxContent("disabled"));
            await none.writeFileAsync(SELINUX_NONE, "");
            ok(await none.runScriptAsync("selinux.sh", act("remove")), "remove");
            assert.equal(none.readFile(SELINUX_FILE), undefined);
            assert.equal(none.readFile(SELINUX_NONE), undefined);
        });

        it("has teeth: a selinux.sh without the SELINUX= line fails the content check", async () => {
            const sb = await sandbox();
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-mutant-"));
            try {
                const text = fs.readFileSync(path.join(HOST_SCRIPTS, "selinux.sh"), "utf8");
                const mutant = text.replace(/^ *"SELINUX=\$1" \\\n/m, "");
                assert.notEqual(mutant, text, "the mutation applies");
                fs.writeFileSync(path.join(dir, "selinux.sh"), mutant);
                fs.copyFileSync(path.join(HOST_SCRIPTS, "lib.sh"), path.join(dir, "lib.sh"));
                ok(await sb.runAsync(scriptCommand("selinux.sh", act("apply", { mode: "disabled" }), dir)), "mutant runs");
                assert.throws(() => assert.equal(sb.readFile(SELINUX_FILE), selinuxContent("disabled")));
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });
    });

    it("has teeth: a repo.sh that always rewrites its file fails the second-run check", async () => {
        const sb = await sandbox();
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-mutant-"));
        try {
            const text = fs.readFileSync(path.join(HOST_SCRIPTS, "repo.sh"), "utf8");
            const mutant = text.replace('own_file "$REPO_FILE"', 'write_file "$REPO_FILE"');
            assert.notEqual(mutant, text, "the mutation applies");
            fs.writeFileSync(path.join(dir, "repo.sh"), mutant);
            fs.copyFileSync(path.join(HOST_SCRIPTS, "lib.sh"), path.join(dir, "lib.sh"));
            const args = act("apply", { baseurl: BASEURL, gpgkey: GPGKEYS });
            ok((await step(sb, "repo.sh", args, { scriptsDir: dir })).result, "first");
            await assert.rejects(assertNoop(sb, "repo.sh", args, "apply", { scriptsDir: dir }), (e: Error) => {
                assert.match(e.message, /second run of repo\.sh changed files/);
                assert.match(e.message, /touched \/etc\/yum\.repos\.d\/kubernetes\.repo \(file\)/);
                return true;
            });
            assert.equal(sb.readFile(REPO_FILE), REPO_CONTENT, "same content, yet caught");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    describe("kubeadm-init.sh, kubeconfig.sh, flannel.sh", { concurrency: 3 }, () => {
        it("inits once, copies admin.conf to root's ~/.kube/config (600); second run no-op; token never printed", async () => {
            const api = sharedApiserver();
            const sb = await sandbox({ hostname: "km1", binds: api.binds });
            await seedPreparedHost(sb);
            const s = await step(sb, "kubeadm-init.sh", act("apply", { ...INIT_ARGS, "ssh-user": "root" }));
            ok(s.result, "init");
            status(s.result, "kubeadm-init.sh", "apply", "changed");
            assert.deepEqual(s.calls, [INIT_COMMAND]);
            const admin = sb.readFile(ADMIN_CONF)!;
            assert.match(admin, /^apiVersion: v1\n/);
            assert.match(admin, /\n {4}server: https:\/\/172\.31\.50\.221:6443\n/);
            assert.match(admin, /\n {4}certificate-authority-data: [A-Za-z0-9+/=]+\n/);
            assert.match(admin, /\ncurrent-context: kubernetes-admin@kubernetes\n/);
            assert.match(admin, /\n {4}client-key-data: [A-Za-z0-9+/=]+\n/);
            assert.equal(sb.readFile("/root/.kube/config"), admin);
            assert.equal(sb.stat("/root/.kube/config"), "root:root 600");
            const tokens = tokensIn(api.dir);
            assert.equal(tokens.length, 1, "kubeadm init made a token");
            assert.ok(!s.result.stdout.includes(tokens[0]) && !s.result.stderr.includes(tokens[0]), "the init token is hidden");
            assert.match(s.result.stdout, /kubeadm join --token <token hidden by kubevirt-lab> 172\.31\.50\.221:6443/);
            await assertNoop(sb, "kubeadm-init.sh", act("apply", { ...INIT_ARGS, "ssh-user": "root" }), "apply");

            // kubeconfig.sh: stdout is exactly admin.conf
            const kc = ok(await sb.runScriptAsync("kubeconfig.sh", run()), "kubeconfig.sh");
            assert.equal(kc.stdout, admin);
            status(kc, "kubeconfig.sh", "run", "unchanged", "stderr");

            // flannel.sh: applied once per URL and cluster
            const f = await step(sb, "flannel.sh", act("apply", { "manifest-url": FLANNEL_URL }));
            ok(f.result, "flannel");
            status(f.result, "flannel.sh", "apply", "changed");
            assert.deepEqual(f.calls, [`kubectl ${KC} apply -f ${FLANNEL_URL}`]);
            assert.match(
                fs.readFileSync(path.join(api.dir, "applied"), "utf8"),
                / km1 apply https:\/\/raw\.githubusercontent\.com\/coreos\/flannel\/v0\.9\.1\/Documentation\/kube-flannel\.yml\n$/,
            );
            await assertNoop(sb, "flannel.sh", act("apply", { "manifest-url": FLANNEL_URL }), "apply");
            const f2 = await step(sb, "flannel.sh", act("apply", { "manifest-url": "https://mirror/kube-flannel.yml" }));
            assert.deepEqual(f2.calls, [`kubectl ${KC} apply -f https://mirror/kube-flannel.yml`]);
            status(ok(await sb.runScriptAsync("flannel.sh", act("remove")), "flannel remove"), "flannel.sh", "remove", "changed");

            // remove: the master's own Node drained and deleted, kubeadm reset (1.9: no --force), the kubeconfig goes
            const rm = await step(sb, "kubeadm-init.sh", act("remove", INIT_REMOVE));
            ok(rm.result, "remove");
            status(rm.result, "kubeadm-init.sh", "remove", "changed");
            assert.deepEqual(rm.calls, [...MASTER_DRAIN, "kubeadm reset --help", "kubeadm reset"]);
            assert.deepEqual(sb.readFiles([ADMIN_CONF, "/root/.kube/config", "/etc/kubernetes/pki/ca.crt"]), [
                undefined,
                undefined,
                undefined,
            ]);
            assert.equal(fs.existsSync(path.join(api.dir, "cluster")), false, "the simulated cluster is gone");
            await assertNoop(sb, "kubeadm-init.sh", act("remove", INIT_REMOVE), "remove");
            const kc2 = await sb.runScriptAsync("kubeconfig.sh", run());
            assert.equal(kc2.code, 1);
            assert.match(kc2.stderr, /admin\.conf does not exist/);
        });

        it("admin.conf of a working cluster already there: no kubeadm init, only the copy; other SSH user gets it owned", async () => {
            const sb = await sandbox({ hostname: "km1" });
            await seedPreparedHost(sb);
            await sb.writeFileAsync(ADMIN_CONF, "apiVersion: v1\nkind: Config\n# existing\n", "600");
            await seedFinishedCluster(sb);
            ok(await sb.runAsync("useradd -m -U centos"), "useradd");
            const s = await step(sb, "kubeadm-init.sh", act("apply", { ...INIT_ARGS, "ssh-user": "centos" }));
            ok(s.result, "apply");
            // no copy of it yet: the cluster is asked (it answers, with kube-proxy: a finished init)
            assert.deepEqual(
                s.calls,
                [
                    `kubectl ${KC} get nodes --request-timeout=10s`,
                    `kubectl ${KC} get daemonset kube-proxy -n kube-system --request-timeout=10s`,
                ],
                "no kubeadm init",
            );
            assert.match(s.result.stdout, /already initialized/);
            assert.equal(sb.readFile("/home/centos/.kube/config"), "apiVersion: v1\nkind: Config\n# existing\n");
            assert.equal(sb.stat("/home/centos/.kube/config"), "centos:centos 600");
            assert.equal(sb.stat("/home/centos/.kube"), "centos:centos 755");
            await assertNoop(sb, "kubeadm-init.sh", act("apply", { ...INIT_ARGS, "ssh-user": "centos" }), "apply");
            // a changed owner is repaired
            ok(await sb.runAsync("chown root /home/centos/.kube/config"), "chown");
            const fix = await step(sb, "kubeadm-init.sh", act("apply", { ...INIT_ARGS, "ssh-user": "centos" }));
            status(fix.result, "kubeadm-init.sh", "apply", "changed");
            assert.equal(sb.stat("/home/centos/.kube/config"), "centos:centos 600");
            // bad arguments
            assert.match(
                (await sb.runScriptAsync("kubeadm-init.sh", act("apply", INIT_ARGS))).stderr,
                /^usage: kubeadm-init\.sh apply --pod-network-cidr <pod-network-cidr> .* --ssh-user <ssh-user> \[--ignore-preflight-errors <ignore-preflight-errors>\]\.\.\. \[--api-timeout <api-timeout>\] \| remove --ssh-user <ssh-user> --node-name <node-name>\n$/,
            );
            assert.match(
                (await sb.runScriptAsync("kubeadm-init.sh", act("apply", { ...INIT_ARGS, "ssh-user": "nobody-here" }))).stderr,
                /no such user/,
            );
        });

        it("remove on a host with nothing: no reset, unchanged; a newer kubeadm gets --force", async () => {
            const sb = await sandbox({ hostname: "km1" });
            const s = await step(sb, "kubeadm-init.sh", act("remove", INIT_REMOVE));
            ok(s.result, "remove");
            status(s.result, "kubeadm-init.sh", "remove", "unchanged");
            assert.deepEqual(s.calls, []);

            const env = { SIM_KUBEADM_RESET_FORCE: "1" };
            const sb2 = await sandbox({ hostname: "km1", env });
            await seedPreparedHost(sb2);
            ok(await sb2.runScriptAsync("kubeadm-init.sh", act("apply", { ...INIT_ARGS, "ssh-user": "root" })), "init");
            const rm = await step(sb2, "kubeadm-init.sh", act("remove", INIT_REMOVE));
            ok(rm.result, "remove");
            assert.deepEqual(rm.calls, [...MASTER_DRAIN, "kubeadm reset --help", "kubeadm reset --force"]);
            assert.equal(sb2.readFile(ADMIN_CONF), undefined);
        });

        it("init fails on kubeadm's preflight when docker is not running", async () => {
            const sb = await sandbox({ hostname: "km1" });
            const r = await sb.runScriptAsync("kubeadm-init.sh", act("apply", { ...INIT_ARGS, "ssh-user": "root" }));
            assert.notEqual(r.code, 0);
            assert.match(r.stdout, /\[ERROR Service-Docker\]/);
        });

        it("passes the preflight checks to ignore as one --ignore-preflight-errors=<a>,<b>; the others stay fatal", async () => {
            const sb = await sandbox({ hostname: "km1" }); // docker not running, the bridge sysctl not set
            const one = await step(sb, "kubeadm-init.sh", [
                ...act("apply", { ...INIT_ARGS, "ssh-user": "root", "ignore-preflight-errors": ["Service-Docker"] }),
            ]);
            assert.equal(one.result.code, 2, "the bridge check is still fatal");
            assert.deepEqual(one.calls, [`${INIT_COMMAND} --ignore-preflight-errors=Service-Docker`]);
            assert.match(one.result.stdout, /\[WARNING Service-Docker\]/);
            assert.match(one.result.stdout, /\[ERROR FileContent--proc-sys-net-bridge-bridge-nf-call-iptables\]/);
            const checks = ["Service-Docker", "FileContent--proc-sys-net-bridge-bridge-nf-call-iptables"];
            const two = await step(
                sb,
                "kubeadm-init.sh",
                act("apply", { ...INIT_ARGS, "ssh-user": "root", "ignore-preflight-errors": checks }),
            );
            ok(two.result, "init with both checks ignored");
            // (the calls log writes each word with printf %q: the comma as \,)
            assert.deepEqual(two.calls, [`${INIT_COMMAND} --ignore-preflight-errors=${checks.join("\\,")}`]);
            assert.doesNotMatch(two.result.stdout, /\[ERROR /);
            status(two.result, "kubeadm-init.sh", "apply", "changed");
        });
    });

    describe("cluster flow: km1 and kn1 share one simulated API server", { concurrency: 3 }, () => {
        it("init, flannel, join-command, join with the line on stdin, wait-nodes, drain, resets", async () => {
            const { api, km1, kn1 } = await initializedPair();
            ok(await km1.runScriptAsync("flannel.sh", act("apply", { "manifest-url": FLANNEL_URL })), "flannel");

            const jc = await step(km1, "join-command.sh", run({ ttl: "1h" }));
            ok(jc.result, "join-command");
            assert.deepEqual(jc.calls, ["kubeadm token create --ttl 1h --print-join-command"]);
            assert.equal(jc.result.stdout.split("\n").length, 2, "one line");
            const m = JOIN_RE.exec(jc.result.stdout.trimEnd());
            assert.ok(m, `join line: ${jc.result.stdout}`);
            const [line, token, hash] = m;
            status(jc.result, "join-command.sh", "run", "changed", "stderr");

            const j = await step(kn1, "kubeadm-join.sh", act("apply", { "node-name": "kn1" }), { stdin: `${line}\n` });
            ok(j.result, "join");
            status(j.result, "kubeadm-join.sh", "apply", "changed");
            assert.deepEqual(j.calls, [
                `kubeadm join --token ${token} 172.31.50.221:6443 --discovery-token-ca-cert-hash ${hash} --node-name kn1`,
            ]);
            assert.ok(!j.result.stdout.includes(token) && !j.result.stderr.includes(token), "token not printed");
            assert.match(kn1.readFile(KUBELET_CONF)!, /server: https:\/\/172\.31\.50\.221:6443/);
            assert.equal(kn1.readFile("/etc/kubernetes/pki/ca.crt"), km1.readFile("/etc/kubernetes/pki/ca.crt"));
            // kubelet.conf exists: no join, stdin not needed
            await assertNoop(kn1, "kubeadm-join.sh", act("apply", { "node-name": "kn1" }), "apply");

            const w = await step(km1, "wait-nodes.sh", run({ timeout: "30", node: ["km1", "kn1"] }));
            ok(w.result, "wait-nodes");
            status(w.result, "wait-nodes.sh", "run", "unchanged");
            assert.deepEqual(w.calls, [`kubectl ${KC} get nodes --no-headers`]);
            const nodes = ok(await km1.runAsync("kubectl get nodes"), "get nodes").stdout;
            assert.match(
                nodes,
                /^NAME +STATUS +ROLES +AGE +VERSION\nkm1 +Ready +master +\d+s +v1\.9\.4\nkn1 +Ready +<none> +\d+s +v1\.9\.4\n$/,
            );

            // teardown of the worker: drain + delete on the master, reset on the worker
            const d = await step(km1, "drain-node.sh", act("remove", { "node-name": "kn1" }));
            ok(d.result, "drain");
            status(d.result, "drain-node.sh", "remove", "changed");
            assert.deepEqual(d.calls, [
                `kubectl ${KC} get node kn1`,
                `kubectl ${KC} drain --help`,
                `kubectl ${KC} drain kn1 --ignore-daemonsets --delete-local-data --force --timeout=600s`,
                `kubectl ${KC} delete node kn1`,
            ]);
            assert.equal(fs.existsSync(path.join(api.dir, "nodes", "kn1")), false);
            const d2 = await assertNoop(km1, "drain-node.sh", act("remove", { "node-name": "kn1" }), "remove");
            assert.deepEqual(d2.calls, [`kubectl ${KC} get node kn1`]);
            status(
                ok(await km1.runScriptAsync("drain-node.sh", act("apply", { "node-name": "kn1" })), "drain apply"),
                "drain-node.sh",
                "apply",
                "unchanged",
            );

            const r = await step(kn1, "kubeadm-join.sh", act("remove"));
            ok(r.result, "join remove");
            status(r.result, "kubeadm-join.sh", "remove", "changed");
            assert.deepEqual(r.calls, ["kubeadm reset --help", "kubeadm reset"]);
            assert.equal(kn1.readFile(KUBELET_CONF), undefined);
            await assertNoop(kn1, "kubeadm-join.sh", act("remove"), "remove");
        });

        it("as 1.9's join writes only bootstrap-kubelet.conf: apply waits for the kubelet's kubelet.conf, or names the kubelet; remove leaves nothing of kubeadm's", async () => {
            // SIM_KUBEADM_JOIN_BOOTSTRAP=1: the stand-in's join does what real kubeadm 1.9.4's does
            // (measured in the simulated lab): bootstrap-kubelet.conf and pki/ca.crt, no kubelet.conf
            const api = sharedApiserver();
            const env = { SIM_KUBEADM_JOIN_BOOTSTRAP: "1" };
            const km1 = await sandbox({ hostname: "km1", binds: api.binds });
            const kn1 = await sandbox({ hostname: "kn1", binds: api.binds, env });
            const kn2 = await sandbox({ hostname: "kn2", binds: api.binds, env });
            for (const sb of [km1, kn1, kn2]) await seedPreparedHost(sb);
            ok(await km1.runScriptAsync("kubeadm-init.sh", act("apply", { ...INIT_ARGS, "ssh-user": "root" })), "init");
            const line = async () => ok(await km1.runScriptAsync("join-command.sh", run({ ttl: "1h" })), "join-command").stdout;
            const BOOTSTRAP_CONF = "/etc/kubernetes/bootstrap-kubelet.conf";

            // the kubelet's TLS bootstrap, a second after join: kubelet.conf with the node's own credentials,
            // then the node registered (as the kubelet does)
            const kubelet = kn1.runAsync(
                `for i in $(seq 300); do [ -f ${BOOTSTRAP_CONF} ] && break; sleep 0.1; done
                 sleep 1; sed s/tls-bootstrap-token-user/system:node:kn1/ ${BOOTSTRAP_CONF} > ${KUBELET_CONF}
                 printf 'name=kn1\\nrole=<none>\\nhost=kn1\\nversion=v1.9.4\\nstatus=Ready\\ncreated=0\\n' > ${SIM_APISERVER}/nodes/kn1`,
            );
            const args = { "node-name": "kn1", "ignore-preflight-errors": ["SystemVerification", "Service-Docker"] };
            const j = await step(kn1, "kubeadm-join.sh", act("apply", args), { stdin: await line() });
            ok(await kubelet, "the kubelet's bootstrap");
            ok(j.result, "join, then the kubelet's kubelet.conf");
            assert.match(
                j.calls[0],
                / --node-name kn1 --ignore-preflight-errors=SystemVerification\\,Service-Docker$/,
                "(printf %q in the log)",
            );
            assert.match(
                j.result.stdout,
                /kubeadm-join\.sh: the kubelet wrote \/etc\/kubernetes\/kubelet\.conf \(its TLS bootstrap\) [\d.]+s after kubeadm join\n/,
            );
            status(j.result, "kubeadm-join.sh", "apply", "changed");
            assert.match(kn1.readFile(KUBELET_CONF)!, /system:node:kn1/);
            await assertNoop(kn1, "kubeadm-join.sh", act("apply", args), "apply");

            // no kubelet: a bounded wait, then the kubelet is named
            const t0 = Date.now();
            const alone = await step(kn2, "kubeadm-join.sh", act("apply", { "node-name": "kn2", "kubelet-timeout": "1" }), {
                stdin: await line(),
            });
            assert.equal(alone.result.code, 1);
            assert.ok(Date.now() - t0 < 15_000, "bounded by --kubelet-timeout");
            assert.match(
                alone.result.stderr,
                /^kubeadm-join\.sh: kubeadm join wrote \/etc\/kubernetes\/bootstrap-kubelet\.conf, but the kubelet has not written \/etc\/kubernetes\/kubelet\.conf \(its TLS bootstrap\) within 1s: is it running\? \(systemctl status kubelet\)\n$/m,
            );

            // reset: 1.9 leaves bootstrap-kubelet.conf behind; remove takes it too
            for (const sb of [kn1, kn2]) {
                const r = await step(sb, "kubeadm-join.sh", act("remove"));
                ok(r.result, "join remove");
                status(r.result, "kubeadm-join.sh", "remove", "changed");
                const left = ok(await sb.runAsync("find /etc/kubernetes -type f"), "find").stdout;
                assert.equal(left, "", `no file of kubeadm's left in /etc/kubernetes, saw:\n${left}`);
                await assertNoop(sb, "kubeadm-join.sh", act("remove"), "remove");
            }
        });

        it("refuses bad join lines without showing the token; accepts another argument order", async () => {
            const { api, km1, kn1 } = await initializedPair();
            const line = ok(await km1.runScriptAsync("join-command.sh", run({ ttl: "2h" })), "join-command").stdout.trimEnd();
            const [, token, hash] = JOIN_RE.exec(line)!;
            const bad = [
                "",
                `kubeadm join --token ${token} 172.31.50.221:6443`,
                `kubeadm join --token ${token} 172.31.50.221:6443 --discovery-token-ca-cert-hash sha256:abc`,
                `kubeadm join --token ${token.toUpperCase()} 172.31.50.221:6443 --discovery-token-ca-cert-hash ${hash}`,
                `kubeadm join --token ${token} 172.31.50.221:6443 --discovery-token-ca-cert-hash ${hash} ; touch /etc/pwned`,
                `kubeadm join --token ${token} 172.31.50.221:6443 --discovery-token-ca-cert-hash ${hash} --unexpected`,
                `kubeadm reset --token ${token} 172.31.50.221:6443 --discovery-token-ca-cert-hash ${hash}`,
                `kubeadm join --token ${token} --token ${token} 172.31.50.221:6443 --discovery-token-ca-cert-hash ${hash}`,
            ];
            for (const b of bad) {
                const s = await step(kn1, "kubeadm-join.sh", act("apply", { "node-name": "kn1" }), { stdin: `${b}\n` });
                assert.equal(s.result.code, 1, `refused: ${b}`);
                assert.match(
                    s.result.stderr,
                    /kubeadm-join\.sh: the join line on stdin is not of the form 'kubeadm join --token <token> <host:port> --discovery-token-ca-cert-hash sha256:<hex>': /,
                );
                for (const secret of [token, token.toUpperCase(), token.split(".")[1]]) {
                    assert.ok(!s.result.stdout.includes(secret) && !s.result.stderr.includes(secret), `token shown for: ${b}`);
                }
                assert.deepEqual(s.calls, [], `nothing called for: ${b}`);
                assert.deepEqual(s.diff, []);
            }
            assert.equal(kn1.exists("/etc/pwned"), false);

            // bash -x traces no token, and another argument order joins
            const reordered = `kubeadm join 172.31.50.221:6443 --discovery-token-ca-cert-hash=${hash} --token=${token}`;
            const traced = await kn1.runAsync(
                scriptCommand("kubeadm-join.sh", act("apply", { "node-name": "kn1" })).replace(/\nbash "\$d"\//, '\nbash -x "$d"/'),
                { stdin: reordered },
            );
            ok(traced, "join under bash -x");
            assert.match(traced.stderr, /^\+ /m, "it was traced");
            assert.ok(!traced.stdout.includes(token) && !traced.stderr.includes(token), "token not traced");
            assert.deepEqual(kn1.commands().slice(-1), [
                `kubeadm join --token ${token} 172.31.50.221:6443 --discovery-token-ca-cert-hash ${hash} --node-name kn1`,
            ]);

            // a well-formed line with a token the cluster does not know fails in kubeadm, not silently
            const kn2 = await sandbox({ hostname: "kn2", binds: api.binds });
            await seedPreparedHost(kn2);
            const unknown = await kn2.runScriptAsync("kubeadm-join.sh", act("apply", { "node-name": "kn2" }), {
                stdin: `kubeadm join --token abcdef.0123456789abcdef 172.31.50.221:6443 --discovery-token-ca-cert-hash ${hash}\n`,
            });
            assert.equal(unknown.code, 1);
            assert.match(unknown.stdout + unknown.stderr, /token id is invalid for this cluster/);
            assert.ok(!(unknown.stdout + unknown.stderr).includes("0123456789abcdef"));
            assert.equal(kn2.readFile(KUBELET_CONF), undefined);
        });

        it("wait-nodes times out naming the node that is missing or NotReady", async () => {
            const api = sharedApiserver();
            const km1 = await sandbox({ hostname: "km1", binds: api.binds });
            // a cluster as the stand-ins keep it: km1 Ready, kn2 NotReady, no kn1
            await km1.writeFileAsync(ADMIN_CONF, "apiVersion: v1\nkind: Config\n", "600");
            fs.mkdirSync(path.join(api.dir, "nodes"));
            fs.writeFileSync(path.join(api.dir, "cluster"), "advertise=172.31.50.221\nport=6443\nversion=v1.9.4\nhost=km1\n");
            fs.writeFileSync(
                path.join(api.dir, "nodes", "km1"),
                "name=km1\nrole=master\nhost=km1\nversion=v1.9.4\nstatus=Ready\ncreated=0\n",
            );
            fs.writeFileSync(
                path.join(api.dir, "nodes", "kn2"),
                "name=kn2\nrole=<none>\nhost=kn2\nversion=v1.9.4\nstatus=NotReady\ncreated=0\n",
            );
            const started = Date.now();
            const s = await step(km1, "wait-nodes.sh", run({ timeout: "3", node: ["km1", "kn1", "kn2"], interval: "0.2" }));
            assert.equal(s.result.code, 1);
            assert.ok(Date.now() - started < 10_000, "bounded by the timeout");
            assert.match(
                s.result.stderr,
                /^wait-nodes\.sh: timed out after 3s \(\d+ polls\): not Ready: kn1 \(not registered\), kn2 \(NotReady\)\n/,
            );
            assert.match(s.result.stderr, /last 'kubectl get nodes --no-headers' output:\nkm1 +Ready +master/);
            // It polls (more than once in 3 s even on a loaded machine) and stops: at most 3 s / 0.2 s + 2 polls.
            assert.ok(s.calls.length >= 2 && s.calls.length <= 17, `polls: ${s.calls.length}`);
            assert.ok(s.calls.every((c) => c === `kubectl ${KC} get nodes --no-headers`));
            assert.equal((await km1.runScriptAsync("wait-nodes.sh", ["10", "km1"])).code, 2, "positional words");
            assert.equal((await km1.runScriptAsync("wait-nodes.sh", run({ timeout: "10" }))).code, 2, "no --node");
        });
    });

    it("wait-pods.sh prints the ready pods on stdout, its closing line on stderr; times out showing what it saw", async () => {
        const bin = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-fake-kubectl-"));
        after(() => fs.rmSync(bin, { recursive: true, force: true }));
        fs.writeFileSync(path.join(bin, "kubectl"), '#!/usr/bin/env bash\nprintf "%s\\n" "$*" >>/root/kubectl.args\ncat /root/pods\n', {
            mode: 0o755,
        });
        const sb = await sandbox({ hostname: "km1", binDirs: [bin, STANDINS_BIN] });
        await sb.writeFileAsync("/root/pods", "ingress-1 10.244.1.4 kn1 Running True\ningress-2 10.244.2.4 kn2 Pending False\n");
        const wait = { timeout: "5", namespace: "ingress-nginx", selector: "app=ingress-nginx", "min-ready": "1", interval: "1" };
        const r = ok(await sb.runScriptAsync("wait-pods.sh", run(wait)), "wait-pods");
        assert.equal(r.stdout, "ingress-1 10.244.1.4 kn1\n", "stdout is exactly the pod lines");
        status(r, "wait-pods.sh", "run", "unchanged", "stderr");
        assert.match(
            sb.readFile("/root/kubectl.args")!,
            /^--kubeconfig=\/etc\/kubernetes\/admin\.conf get pods -n ingress-nginx -l app=ingress-nginx -o go-template=\{\{range \.items\}\}/,
        );
        const slow = await sb.runScriptAsync("wait-pods.sh", run({ ...wait, "min-ready": "2", timeout: "1" }));
        assert.equal(slow.code, 1);
        assert.equal(slow.stdout, "");
        assert.match(
            slow.stderr,
            /^wait-pods\.sh: fewer than 2 ready pods with app=ingress-nginx in ingress-nginx after 1s; last seen:\ningress-1 10\.244\.1\.4 kn1 Running True\n/,
        );
        assert.equal(
            (await sb.runScriptAsync("wait-pods.sh", ["5", "ingress-nginx", "app=ingress-nginx", "1"])).code,
            2,
            "positional words: usage",
        );
    });

    it("wait-pods.sh's pod lines, formatted by the real kubectl 1.9.4: one line per pod, a column for every field", async (t) => {
        // kubectl 1.9's jsonpath dropped the newline after a nested range: every pod on one line,
        // which hid the ready ones (found against the real API server). The template is run here by
        // the real kubectl 1.9.4 (`convert --local`: the same printers as `get`) on a pod list.
        const env = spawnSync("bash", [path.join(REPO, "harness", "kubernetes.sh"), "--print-env"], { encoding: "utf8" });
        const real = /KUBEVIRT_LAB_K8S_BIN=["']?([^"'\n]+)/.exec(env.stdout)?.[1];
        if (env.status !== 0 || !real || !fs.existsSync(path.join(real, "kubectl")))
            return t.skip("Kubernetes v1.9.4 binaries missing (bash harness/kubernetes.sh builds them)");
        const bin = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-kubectl-194-"));
        after(() => fs.rmSync(bin, { recursive: true, force: true }));
        fs.copyFileSync(path.join(real, "kubectl"), path.join(bin, "kubectl-1.9.4"));
        fs.chmodSync(path.join(bin, "kubectl-1.9.4"), 0o755);
        // `get pods ... -o go-template=T` → the real printer with the same -o, on /root/pods.json
        fs.writeFileSync(
            path.join(bin, "kubectl"),
            '#!/usr/bin/env bash\nexec "$(dirname "$0")/kubectl-1.9.4" convert --local -f /root/pods.json "${@: -2}"\n',
            { mode: 0o755 },
        );
        const pod = (name: string, status: object, nodeName?: string) => ({
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name, namespace: "kube-system" },
            spec: { ...(nodeName ? { nodeName } : {}), containers: [{ name: "c", image: "kubevirt/virt-controller:v0.4.1" }] },
            status,
        });
        const ready = (ip: string) => ({ phase: "Running", podIP: ip, conditions: [{ type: "Ready", status: "True" }] });
        const items = [
            pod("virt-controller-1", ready("10.244.2.2"), "kn1"),
            pod("virt-controller-2", { phase: "Pending" }),
            pod("virt-controller-3", ready("10.244.1.3"), "kn2"),
        ];
        const sb = await sandbox({ hostname: "km1", binDirs: [bin, STANDINS_BIN] });
        await sb.writeFileAsync("/root/pods.json", JSON.stringify({ apiVersion: "v1", kind: "List", items }));
        const wait = { timeout: "5", namespace: "kube-system", selector: "kubevirt.io=virt-controller", "min-ready": "2", interval: "1" };
        const r = ok(await sb.runScriptAsync("wait-pods.sh", run(wait)), "wait-pods");
        assert.equal(r.stdout, "virt-controller-1 10.244.2.2 kn1\nvirt-controller-3 10.244.1.3 kn2\n", "the two ready pods, a line each");
        const slow = await sb.runScriptAsync("wait-pods.sh", run({ ...wait, "min-ready": "3", timeout: "1" }));
        assert.equal(slow.code, 1);
        assert.match(slow.stderr, /\nvirt-controller-2 - - Pending \n/, `the pending pod's line, its unset fields as "-": ${slow.stderr}`);
    });

    it("delete-daemonsets.sh remove: each DaemonSet orphaning its dependents, then its pods and revisions; one that is gone is left", async () => {
        const bin = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-fake-kubectl-"));
        after(() => fs.rmSync(bin, { recursive: true, force: true }));
        // get daemonset: the selector from /root/ds/<ns>_<name>, else 1.9's NotFound; anything else: recorded
        fs.writeFileSync(
            path.join(bin, "kubectl"),
            `#!/usr/bin/env bash
printf '%s\\n' "$*" >>/root/kubectl.args
if [[ $2 == get && $3 == daemonset ]]; then
  f=/root/ds/$6_$3_$4
  [[ -f $f ]] && { cat "$f"; exit 0; }
  echo "Error from server (NotFound): daemonsets.extensions $4 not found" >&2; exit 1
fi
`,
            { mode: 0o755 },
        );
        const sb = await sandbox({ hostname: "km1", binDirs: [bin, STANDINS_BIN] });
        const args = { daemonset: ["skydive/skydive-agent", "kube-system/virt-handler"] };
        const none = ok(await sb.runScriptAsync("delete-daemonsets.sh", act("remove", args)), "no cluster");
        assert.match(none.stdout, /\/etc\/kubernetes\/admin\.conf does not exist: no cluster to delete DaemonSets from/);
        status(none, "delete-daemonsets.sh", "remove", "unchanged");
        await sb.writeFileAsync(ADMIN_CONF, "apiVersion: v1\n");
        await sb.writeFileAsync("/root/ds/skydive_daemonset_skydive-agent", "app=skydive,tier=agent,");
        const r = ok(await sb.runScriptAsync("delete-daemonsets.sh", act("remove", args)), "remove");
        status(r, "delete-daemonsets.sh", "remove", "changed");
        assert.match(r.stdout, /DaemonSet kube-system\/virt-handler is not there/);
        const calls = sb.readFile("/root/kubectl.args")!.trimEnd().split("\n");
        const tmpl = "{{range $k, $v := .spec.selector.matchLabels}}{{$k}}={{$v}},{{end}}";
        assert.deepEqual(calls, [
            `${KC} get daemonset skydive-agent -n skydive -o go-template=${tmpl}`,
            `${KC} delete daemonset skydive-agent -n skydive --cascade=false`,
            `${KC} delete pods,controllerrevisions -n skydive -l app=skydive,tier=agent --ignore-not-found`,
            `${KC} get daemonset virt-handler -n kube-system -o go-template=${tmpl}`,
        ]);
        const a = ok(await sb.runScriptAsync("delete-daemonsets.sh", act("apply", args)), "apply");
        status(a, "delete-daemonsets.sh", "apply", "unchanged");
        assert.equal(sb.readFile("/root/kubectl.args")!.trimEnd().split("\n").length, 4, "apply asks nothing of the cluster");
    });

    it("join-command.sh needs --ttl; drain-node.sh remove without a cluster is a no-op", async () => {
        const sb = await sandbox({ hostname: "km1" });
        for (const argv of [["1h"], run()]) {
            const r = await step(sb, "join-command.sh", argv);
            assert.equal(r.result.code, 2);
            assert.equal(r.result.stderr, "usage: join-command.sh --ttl <ttl>\n");
            assert.deepEqual(r.calls, [], "no token created");
        }
        const d = await step(sb, "drain-node.sh", act("remove", { "node-name": "kn1" }));
        ok(d.result, "drain without cluster");
        status(d.result, "drain-node.sh", "remove", "unchanged");
        assert.deepEqual(d.calls, []);
        const j = await step(sb, "kubeadm-join.sh", act("remove"));
        ok(j.result, "join remove on a clean host");
        status(j.result, "kubeadm-join.sh", "remove", "unchanged");
        assert.deepEqual(j.calls, []);
    });

    describe("runs cut off midway (a killed engine, a reboot): the next run finishes the step", { concurrency: 3 }, () => {
        const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
        /** Wrappers of cp and sysctl that, once /run/kvl-cut-<prog> exists, do half their work and kill the script that called them. */
        function cutBin(): string {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-cut-bin-"));
            after(() => fs.rmSync(dir, { recursive: true, force: true }));
            const cut = (prog: string, half: string, real: string) =>
                fs.writeFileSync(
                    path.join(dir, prog),
                    `#!/bin/bash\nif [ -e /run/kvl-cut-${prog} ]; then\n  rm -f /run/kvl-cut-${prog}\n  ${half}\n  kill -KILL $PPID\n  exit 137\nfi\nexec ${real} "$@"\n`,
                    { mode: 0o755 },
                );
            cut("cp", `src=\${@: -2:1} dst=\${@: -1}; head -c 40 -- "$src" >"$dst"`, "/bin/cp");
            // The stand-in is exec'd through the sandbox's /usr/local/bin: the repo itself may be under
            // /tmp (a CI clone), which the sandbox hides behind its own tmpfs.
            fs.copyFileSync(path.join(STANDINS_BIN, "sysctl"), path.join(dir, "sysctl.standin"));
            cut("sysctl", ":", "/usr/local/bin/sysctl.standin");
            return dir;
        }
        const RESET_INIT = ["kubeadm reset --help", "kubeadm reset", INIT_COMMAND];
        const APPLY_INIT = act("apply", { ...INIT_ARGS, "ssh-user": "root", "api-timeout": "2" });
        const GET_NODES = `kubectl ${KC} get nodes --request-timeout=10s`;
        const GET_PROXY = `kubectl ${KC} get daemonset kube-proxy -n kube-system --request-timeout=10s`;

        it("kubeadm init killed after admin.conf: the next run waits for it, resets and inits; killed before the add-ons, or with an API that never answers: the same", async () => {
            const api = sharedApiserver();
            const sb = await sandbox({ hostname: "km1", binds: api.binds });
            await seedPreparedHost(sb);

            // killed after the kubeconfig files: while it still lives, the step run again waits for it
            const env = { SIM_KUBEADM_CUT: "init-kubeconfig", SIM_KUBEADM_CUT_DELAY: "2" };
            const cut = sb.runScriptAsync("kubeadm-init.sh", APPLY_INIT, { env });
            for (let i = 0; i < 100 && !sb.exists(ADMIN_CONF); i++) await wait(100);
            assert.ok(sb.exists(ADMIN_CONF), "the cut kubeadm init wrote admin.conf");
            const again = await step(sb, "kubeadm-init.sh", APPLY_INIT);
            assert.notEqual((await cut).code, 0, "the cut run failed");
            ok(again.result, "apply after the cut");
            assert.match(
                again.result.stdout,
                /^kubeadm-init\.sh: an earlier kubeadm run of kubevirt-lab on this host is still at work .*: waiting for it to end$/m,
            );
            assert.match(
                again.result.stdout,
                /^kubeadm-init\.sh: \/etc\/kubernetes\/admin\.conf exists, but no control plane manifest: a kubeadm init cut off midway$/m,
            );
            assert.deepEqual(again.calls, RESET_INIT);
            status(again.result, "kubeadm-init.sh", "apply", "changed");
            assert.equal(sb.readFile("/root/.kube/config"), sb.readFile(ADMIN_CONF));
            assert.ok(fs.existsSync(path.join(api.dir, "addons")), "the new init finished");
            await assertNoop(sb, "kubeadm-init.sh", APPLY_INIT, "apply");

            // killed with the control plane up, before the add-ons: the API answers, without kube-proxy
            ok(await sb.runScriptAsync("kubeadm-init.sh", act("remove", INIT_REMOVE)), "remove");
            assert.notEqual((await sb.runScriptAsync("kubeadm-init.sh", APPLY_INIT, { env: { SIM_KUBEADM_CUT: "init-addons" } })).code, 0);
            const noProxy = await step(sb, "kubeadm-init.sh", APPLY_INIT);
            ok(noProxy.result, "apply after the cut before the add-ons");
            assert.match(
                noProxy.result.stdout,
                /its API server answers, but it has no kube-proxy \(the last thing kubeadm init makes\): a kubeadm init cut off midway$/m,
            );
            assert.deepEqual(noProxy.calls, [GET_NODES, GET_PROXY, ...RESET_INIT]);

            // the control plane written, its API server never answering: waited for --api-timeout, then the same
            ok(await sb.runScriptAsync("kubeadm-init.sh", act("remove", INIT_REMOVE)), "remove");
            assert.notEqual((await sb.runScriptAsync("kubeadm-init.sh", APPLY_INIT, { env: { SIM_KUBEADM_CUT: "init-addons" } })).code, 0);
            fs.rmSync(path.join(api.dir, "cluster"));
            const t0 = Date.now();
            const silent = await step(sb, "kubeadm-init.sh", APPLY_INIT);
            ok(silent.result, "apply after the cut, API down");
            assert.ok(Date.now() - t0 < 20_000, "bounded by --api-timeout");
            assert.match(
                silent.result.stdout,
                /its API server has not answered within 2s: a kubeadm init cut off midway \(last answer: The connection to the server .* was refused/,
            );
            assert.deepEqual(silent.calls.slice(-3), RESET_INIT);
            const polls = silent.calls.slice(0, -3);
            assert.ok(polls.length >= 2 && polls.every((c) => c === GET_NODES), `polls: ${polls.join("\n")}`);

            // a finished init (the SSH user's copy of admin.conf) is never reset, also while its API is down
            fs.rmSync(path.join(api.dir, "cluster"));
            const down = await assertNoop(sb, "kubeadm-init.sh", APPLY_INIT, "apply");
            assert.deepEqual(down.calls, []);
            assert.match(down.result.stdout, /already initialized/);
        });

        it("kubeadm join killed after bootstrap-kubelet.conf: reset and joined again; a node not in the cluster too; an API that does not answer fails and changes nothing", async () => {
            const { api, km1, kn1 } = await initializedPair();
            const line = async () => ok(await km1.runScriptAsync("join-command.sh", run({ ttl: "1h" })), "join-command").stdout;
            const apply = act("apply", { "node-name": "kn1", "kubelet-timeout": "1" });
            const GET_KN1 = "kubectl --kubeconfig=/etc/kubernetes/kubelet.conf get node kn1 --request-timeout=10s";
            const isJoin = (c: string) =>
                /^kubeadm join --token [a-z0-9.]+ 172\.31\.50\.221:6443 --discovery-token-ca-cert-hash sha256:[0-9a-f]{64} --node-name kn1$/.test(
                    c,
                );

            const cut = await kn1.runScriptAsync("kubeadm-join.sh", apply, {
                stdin: await line(),
                env: { SIM_KUBEADM_CUT: "join-bootstrap" },
            });
            assert.notEqual(cut.code, 0, "the cut join failed");
            assert.deepEqual(
                kn1.readFiles(["/etc/kubernetes/bootstrap-kubelet.conf", KUBELET_CONF]).map((f) => f !== undefined),
                [true, false],
            );
            // (without the reset, 1.9's preflight would refuse: pki/ca.crt exists)
            const again = await step(kn1, "kubeadm-join.sh", apply, { stdin: await line() });
            ok(again.result, "join after the cut");
            assert.match(
                again.result.stdout,
                /^kubeadm-join\.sh: \/etc\/kubernetes\/bootstrap-kubelet\.conf exists, but no kubelet has written \/etc\/kubernetes\/kubelet\.conf within 1s: a kubeadm join cut off midway$/m,
            );
            assert.deepEqual(again.calls.slice(0, 2), ["kubeadm reset --help", "kubeadm reset"]);
            assert.ok(again.calls.length === 3 && isJoin(again.calls[2]), again.calls.join("\n"));
            status(again.result, "kubeadm-join.sh", "apply", "changed");
            assert.ok(fs.existsSync(path.join(api.dir, "nodes", "kn1")), "kn1 registered");
            const joined = await assertNoop(kn1, "kubeadm-join.sh", apply, "apply");
            assert.deepEqual(joined.calls, [GET_KN1], "a joined node is asked, stdin is not read");

            // kubelet.conf there, the node not in the cluster: reset and joined again
            fs.rmSync(path.join(api.dir, "nodes", "kn1"));
            const gone = await step(kn1, "kubeadm-join.sh", apply, { stdin: await line() });
            ok(gone.result, "join of a node not in the cluster");
            assert.match(
                gone.result.stdout,
                /^kubeadm-join\.sh: \/etc\/kubernetes\/kubelet\.conf exists, but node kn1 is not in the cluster after 1s: a kubeadm join cut off midway$/m,
            );
            const [reset, ...rest] = gone.calls.slice(-3);
            assert.deepEqual([reset, rest[0]], ["kubeadm reset --help", "kubeadm reset"]);
            assert.ok(isJoin(rest[1]) && gone.calls.slice(0, -3).every((c) => c === GET_KN1), gone.calls.join("\n"));
            assert.ok(fs.existsSync(path.join(api.dir, "nodes", "kn1")), "kn1 registered again");

            // the API server does not answer: whether kn1 joined cannot be told: no reset, nothing changed
            const cluster = fs.readFileSync(path.join(api.dir, "cluster"), "utf8");
            fs.rmSync(path.join(api.dir, "cluster"));
            try {
                const down = await step(kn1, "kubeadm-join.sh", apply);
                assert.equal(down.result.code, 1, down.result.stdout + down.result.stderr);
                assert.match(
                    down.result.stderr,
                    /^kubeadm-join\.sh: cannot ask the API server whether node kn1 has joined \(.*\): is the master up\?$/m,
                );
                assert.deepEqual(down.diff, []);
                assert.ok(down.calls.length >= 1 && down.calls.every((c) => c === GET_KN1), down.calls.join("\n"));
            } finally {
                fs.writeFileSync(path.join(api.dir, "cluster"), cluster);
            }
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

        it("selinux.sh and swap.sh: a run cut off while writing the host's file leaves it whole; the next run finishes, remove undoes it", async () => {
            const sb = await sandbox({ binDirs: [cutBin(), standinsWithJoinConfig()] });
            await sb.writeFileAsync(SELINUX_FILE, CENTOS_SELINUX_CONFIG);
            ok(await sb.runAsync("touch /run/kvl-cut-cp"), "arm the cut");
            assert.notEqual((await sb.runScriptAsync("selinux.sh", act("apply", { mode: "disabled" }))).code, 0, "cut off");
            assert.equal(sb.readFile(SELINUX_FILE), CENTOS_SELINUX_CONFIG, "the file as it was");
            ok(await sb.runScriptAsync("selinux.sh", act("apply", { mode: "disabled" })), "apply after the cut");
            assert.match(sb.readFile(SELINUX_FILE)!, /\nSELINUX=disabled\n/);
            ok(await sb.runScriptAsync("selinux.sh", act("remove")), "remove");
            assert.equal(sb.readFile(SELINUX_FILE), CENTOS_SELINUX_CONFIG, "the whole original is back");

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

    it(
        "the post's heredocs are what the tests expect (when the post is at hand)",
        { skip: !findPost() && "the post is not beside the repository" },
        () => {
            const post = fs.readFileSync(findPost()!, "utf8");
            const heredoc = (target: string) => {
                const m = new RegExp(`cat <<EOF > +${target.replace(/[.]/g, "\\.")}\\n([\\s\\S]*?)\\nEOF\\n`).exec(post);
                assert.ok(m, `heredoc for ${target}`);
                return `${m[1].replace(/\\\$/g, "$")}\n`;
            };
            assert.equal(heredoc(REPO_FILE), REPO_CONTENT);
            assert.equal(heredoc(STORAGE_FILE), storageContent("/dev/vdb"));
            assert.equal(heredoc(SYSCTL_FILE), SYSCTL_CONTENT);
            assert.equal(heredoc(SELINUX_FILE), selinuxContent("disabled"));
        },
    );
});

function findPost(): string | undefined {
    return [path.join(REPO_ROOT, "..", "shared"), "/work/shared"]
        .map((d) => path.join(d, "seed", "kubevirt-network-deep-dive.txt"))
        .find((p) => fs.existsSync(p));
}

// ---------------------------------------------------------------------------
// What reaches a host: the script with lib.sh inlined (components/remote.ts).

/** Every host script (lib.sh is not one: it is inlined into them). */
const ALL_SCRIPTS = fs
    .readdirSync(HOST_SCRIPTS)
    .filter((f) => f.endsWith(".sh") && f !== "lib.sh")
    .sort();
const LIB_LINE = /^.*# kubevirt-lab:lib\s*$/m;
const SOURCES_LIB = /^\s*(source|\.)\s.*\blib\.sh\b/m;

describe("rendered host scripts (lib.sh inlined)", () => {
    it("the scripts that share code name lib.sh on one marker line right after SCRIPT=", () => {
        const lib = fs.readFileSync(path.join(HOST_SCRIPTS, "lib.sh"), "utf8");
        assert.doesNotMatch(lib, LIB_LINE, "lib.sh has no marker line of its own");
        assert.doesNotMatch(lib, /^\s*set\s/m, "lib.sh sets no shell option");
        for (const s of SCRIPTS) {
            const raw = fs.readFileSync(path.join(HOST_SCRIPTS, s), "utf8");
            const markers = raw.split("\n").filter((l) => LIB_LINE.test(l));
            assert.equal(markers.length, 1, `${s}: one marker line`);
            assert.match(raw, /\nSCRIPT=\S+\n# shellcheck source=lib\.sh\n[^\n]*# kubevirt-lab:lib\n/, `${s}: the marker follows SCRIPT=`);
        }
    });

    it("has no marker and no source of lib.sh, carries lib.sh's functions, passes bash -n and shellcheck -S warning", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-rendered-"));
        try {
            const files: string[] = [];
            for (const s of ALL_SCRIPTS) {
                const text = renderScript(s, HOST_SCRIPTS);
                assert.doesNotMatch(text, LIB_LINE, `${s}: marker left`);
                assert.doesNotMatch(text, SOURCES_LIB, `${s}: sources lib.sh`);
                assert.doesNotMatch(text, /# shellcheck source=lib\.sh/, `${s}: source directive left`);
                if (SCRIPTS.includes(s)) assert.match(text, /\nfinish\(\) \{\n/, `${s}: lib.sh inlined`);
                const file = path.join(dir, s);
                fs.writeFileSync(file, text);
                files.push(file);
                const n = spawnSync("bash", ["-n", file], { encoding: "utf8", timeout: 10_000 });
                assert.equal(n.status, 0, `bash -n ${s}: ${n.stderr}`);
            }
            const sc = spawnSync("shellcheck", ["-S", "warning", "-s", "bash", "-f", "gcc", ...files], {
                encoding: "utf8",
                timeout: 60_000,
            });
            assert.ok(sc.status !== null && !sc.error, `shellcheck did not run: ${sc.error ?? sc.signal}`);
            assert.equal(`${sc.stdout}${sc.stderr}`.trim(), "", "shellcheck findings in the rendered scripts");
            assert.equal(sc.status, 0);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("renders from the given directory: marker and its shellcheck line replaced, lib.sh's shebang dropped", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-render-"));
        try {
            fs.writeFileSync(path.join(dir, "lib.sh"), "#!/usr/bin/env bash\n# the lib\nhello() { echo hello; }\n");
            fs.writeFileSync(
                path.join(dir, "t.sh"),
                '#!/usr/bin/env bash\nSCRIPT=t.sh\n# shellcheck source=lib.sh\nsource "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh" # kubevirt-lab:lib\nhello\n',
            );
            fs.writeFileSync(path.join(dir, "plain.sh"), "#!/usr/bin/env bash\necho plain\n");
            assert.equal(renderScript("t.sh", dir), "#!/usr/bin/env bash\nSCRIPT=t.sh\n# the lib\nhello() { echo hello; }\nhello\n");
            assert.equal(renderScript("plain.sh", dir), "#!/usr/bin/env bash\necho plain\n");
            // the file run directly sources lib.sh beside it, from any working directory
            for (const [cwd, file] of [
                [dir, "t.sh"],
                [os.tmpdir(), path.join(dir, "t.sh")],
            ]) {
                const r = spawnSync("bash", [file], { cwd, encoding: "utf8", timeout: 10_000 });
                assert.equal(r.stdout, "hello\n", `bash ${file} in ${cwd}: ${r.stderr}`);
            }
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("a host script run directly finds lib.sh beside it (usage, exit 2)", () => {
        for (const [cwd, file] of [
            [HOST_SCRIPTS, "repo.sh"],
            [os.tmpdir(), path.join(HOST_SCRIPTS, "repo.sh")],
        ]) {
            const r = spawnSync("bash", [file], { cwd, encoding: "utf8", timeout: 10_000 });
            assert.equal(r.status, 2, `bash ${file} in ${cwd}: ${r.stderr}`);
            assert.equal(r.stderr, "usage: repo.sh apply --baseurl <baseurl> --gpgkey <gpgkey>... | remove\n");
        }
    });

    it("the command line is the production one: the script in clear text, run by root's bash, arguments named and quoted", () => {
        const cmd = scriptCommand("repo.sh", act("apply", { baseurl: "https://x/$basearch", gpgkey: ["k"] }));
        const lines = cmd.split("\n");
        assert.equal(lines[0], `d=$(mktemp -d) && trap 'rm -rf "$d"' EXIT && cat >"$d"/repo.sh <<'${SCRIPT_END}' || exit`);
        assert.equal(`${lines.slice(1, -2).join("\n")}\n`, renderScript("repo.sh", HOST_SCRIPTS), "the rendered script, verbatim");
        assert.equal(lines[lines.length - 2], SCRIPT_END);
        assert.equal(lines[lines.length - 1], `bash "$d"/repo.sh apply --baseurl 'https://x/$basearch' --gpgkey k`);
        assert.doesNotMatch(cmd, /base64|[A-Za-z0-9+/]{100,}/, "no encoded blob");
        assert.equal(scriptCommandLine("echo hi\n", "t.sh", [], "centos").split("\n").pop(), `sudo -n bash "$d"/t.sh`);
        assert.throws(() => scriptCommandLine(`echo a\n${SCRIPT_END}\necho b\n`, "t.sh", [], "root"), /the end of its here-document/);
        assert.throws(() => scriptCommandLine("echo a\n", "t sh", [], "root"), /not a script file name/);
    });

    it("the command line runs in bash and in dash (a POSIX login shell): verbatim text, argv, stdin, exit status, no temp dir left", () => {
        const text = [
            "#!/usr/bin/env bash",
            "set -euo pipefail",
            `# quotes ' " \\ \` $HOME $(false), and a here-document of its own`,
            "cat <<'EOF'",
            "inner ' $HOME",
            "EOF",
            'printf "<%s>" "$@"; echo',
            'IFS= read -r line; echo "stdin=$line"',
            'echo "dir=$(dirname -- "$0")" >&2',
            "exit 3",
        ].join("\n");
        for (const shell of ["bash", "dash"]) {
            if (spawnSync(shell, ["-c", "true"]).status !== 0) continue;
            const cmd = scriptCommandLine(text, "t.sh", ["a b", "it's", "--x", ""], "root");
            const r = spawnSync(shell, ["-c", cmd], { input: "the join line\n", encoding: "utf8", timeout: 10_000 });
            assert.equal(r.status, 3, `${shell}: exit status of the script: ${r.stderr}`);
            assert.equal(r.stdout, "inner ' $HOME\n<a b><it's><--x><>\nstdin=the join line\n", shell);
            const dir = /^dir=(.*)$/m.exec(r.stderr)![1];
            assert.match(dir, /^\/tmp\/tmp\.\w+$/, `${shell}: a private temp dir`);
            assert.equal(fs.existsSync(dir), false, `${shell}: the temp dir is removed`);
        }
    });
});

// ---------------------------------------------------------------------------
// Named arguments: declared by each script (OPTIONS), checked at program time
// against what the components pass, values checked by config.ts only.

describe("named arguments", () => {
    it("every host script declares its options; the components' arguments match them", () => {
        for (const s of ALL_SCRIPTS) {
            const opts = scriptOptions(s, HOST_SCRIPTS);
            assert.ok(opts && (opts.has("run") || (opts.has("apply") && opts.has("remove"))), `${s}: OPTIONS`);
        }
        assert.deepEqual(
            [...scriptOptions("repo.sh", HOST_SCRIPTS)!.get("apply")!],
            [
                ["baseurl", ""],
                ["gpgkey", "+"],
            ],
        );
        assert.deepEqual(
            [...scriptOptions("wait-nodes.sh", HOST_SCRIPTS)!.get("run")!],
            [
                ["timeout", ""],
                ["node", "+"],
                ["interval", "?"],
            ],
        );
    });

    it("a wrong argument fails at program time, naming the script, the action and the option", () => {
        assert.doesNotThrow(() => checkArgs("repo.sh", "apply", { baseurl: "https://x", gpgkey: ["https://k"] }));
        assert.throws(
            () => checkArgs("repo.sh", "apply", { baseurl: "https://x" }),
            /^Error: repo\.sh apply: --gpgkey is required at least once$/,
        );
        assert.throws(() => checkArgs("repo.sh", "apply", { baseurl: "https://x", gpgkey: [] }), /--gpgkey is required at least once/);
        assert.throws(
            () => checkArgs("repo.sh", "apply", { baseurl: "https://x", gpgkey: ["k"], gpgkeys: ["k"] }),
            /--gpgkeys is not one of its options/,
        );
        assert.throws(
            () => checkArgs("repo.sh", "apply", { baseurl: ["https://x"], gpgkey: ["k"] }),
            /--baseurl takes one value, not a list/,
        );
        assert.throws(() => checkArgs("repo.sh", "apply", { baseurl: "https://x", gpgkey: "k" }), /--gpgkey takes a list/);
        assert.throws(() => checkArgs("kubeadm-init.sh", "remove", {}), /kubeadm-init\.sh remove: --ssh-user is required/);
        assert.throws(() => checkArgs("kubeconfig.sh", "apply", {}), /declares no options for apply/);
        assert.doesNotThrow(() => checkArgs("docker-storage.sh", "apply", { device: undefined }), "an optional one may be left out");
        const host = { name: "km1", address: "10.0.0.1" };
        const ssh = { user: "root" } as never;
        assert.throws(
            () => hostStep("x", { host, ssh, script: "repo.sh", args: { baseurl: "https://x", gpgkey: ["k"] } }, {}),
            /repo\.sh takes apply\/remove/,
        );
        assert.throws(
            () => hostStep("x", { host, ssh, script: "flannel.sh", withActions: true, args: ["https://x"] }, {}),
            /takes named arguments/,
        );
    });

    it("the values the scripts no longer check are refused by config.ts, before any command line is written", () => {
        const refused: Array<[string, unknown]> = [
            ["yumRepoBaseUrl", "https://x y"], // repo.sh: white space
            ["kubernetesVersion", "latest"], // packages.sh, kubeadm-init.sh: a version like 1.9.4
            ["extraPackages", ["no such/package"]], // packages.sh: package names
            ["dockerStorageDevice", "vdb"], // docker-storage.sh: a device path
            ["sysctl", ["no-equals-sign"]], // sysctl.sh: key = value
            ["sysctl", ["net.ipv4.ip_forward=1"]], // sysctl.sh wrote it as "key = value"; config wants that form
            ["selinux", "off"], // selinux.sh: disabled, permissive or enforcing
            ["podNetworkCidr", "10.244.0.0"], // kubeadm-init.sh: a CIDR
            ["serviceCidr", "10.96.0.0/99"],
            ["flannelManifestUrl", "not a url"], // flannel.sh: a URL without white space
            ["joinTokenTtl", "1 day"], // join-command.sh: a Go duration
            ["nodeReadyTimeoutSeconds", "soon"], // wait-nodes.sh: whole seconds
        ];
        for (const [key, value] of refused) {
            assert.throws(
                () => parseConfig(sourceOf(stackConfig("dev", { [key]: value }))),
                (e: Error) => e.message.includes(`kubevirt-lab:${key}`),
                `${key}=${JSON.stringify(value)} is refused`,
            );
        }
    });
});

// ---------------------------------------------------------------------------
// Golden files (test/golden/): the command lines the components write, compared
// byte for byte. After an intended change: UPDATE_GOLDEN=1 node --import tsx --test test/host-scripts.test.ts

const GOLDEN = path.join(REPO_ROOT, "test", "golden");

function golden(file: string, actual: string): void {
    const p = path.join(GOLDEN, file);
    if (process.env.UPDATE_GOLDEN === "1") {
        fs.mkdirSync(GOLDEN, { recursive: true });
        fs.writeFileSync(p, actual);
        return;
    }
    assert.ok(fs.existsSync(p), `${path.relative(REPO_ROOT, p)} is missing: run with UPDATE_GOLDEN=1 to write it`);
    assert.equal(
        actual,
        fs.readFileSync(p, "utf8"),
        `differs from ${path.relative(REPO_ROOT, p)}; if intended, run with UPDATE_GOLDEN=1 and review the diff`,
    );
}

/** A command line with the script's text (checked to be the rendered file) shown as one line naming it. */
function elideScript(cmd: string): string {
    const lines = cmd.split("\n");
    const name = /cat >"\$d"\/(\S+) <</.exec(lines[0])?.[1];
    const end = lines.lastIndexOf(SCRIPT_END);
    assert.ok(name && end > 0, `not a host script command line: ${lines[0]}`);
    assert.equal(
        `${lines.slice(1, end).join("\n")}\n`,
        renderScript(name, HOST_SCRIPTS),
        `${name}: the text carried is the rendered script`,
    );
    return [lines[0], `    <steps/${name} as renderScript makes it>`, ...lines.slice(end)].join("\n");
}

describe("golden command lines", () => {
    it("every host step of the dev stack: create and delete (scripts elided), logging, stdin", async () => {
        const r = spawnSync(process.execPath, ["--import", "tsx", path.join(REPO_ROOT, "test/lib/dump-graph.ts")], {
            env: { ...process.env, KVL_CONFIG: JSON.stringify(stackConfig("dev")) },
            encoding: "utf8",
            maxBuffer: 64 << 20,
            timeout: 120_000,
        });
        assert.equal(r.status, 0, r.stderr);
        const graph = JSON.parse(r.stdout) as Record<string, Record<string, any>>;
        const out: string[] = [];
        for (const key of Object.keys(graph)
            .filter((k) => k.startsWith("command:remote:Command "))
            .sort()) {
            const inputs = graph[key];
            out.push(
                `## ${key.split(" ")[1]} on ${inputs.connection.host} (logging: ${inputs.logging}${inputs.stdin !== undefined ? ", stdin: a secret" : ""})`,
            );
            out.push("create:", elideScript(String(inputs.create)));
            if (inputs.delete !== undefined) out.push("delete:", elideScript(String(inputs.delete)));
            out.push("");
        }
        assert.ok(out.length > 100, "the dev stack has its host steps");
        golden("host-steps.txt", out.join("\n"));
    });

    it("one whole command line, as root and through sudo", () => {
        golden(
            "sysctl-apply.root.txt",
            scriptCommand(
                "sysctl.sh",
                act("apply", { setting: ["net.bridge.bridge-nf-call-ip6tables = 1", "net.bridge.bridge-nf-call-iptables = 1"] }),
            ),
        );
        golden(
            "kubeadm-init-remove.sudo.txt",
            scriptCommandLine(
                renderScript("kubeadm-init.sh", HOST_SCRIPTS),
                "kubeadm-init.sh",
                act("remove", { "ssh-user": "centos", "node-name": "km1.virtomation.com" }),
                "centos",
            ),
        );
    });
});
