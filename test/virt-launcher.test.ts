// The lab's virt-launcher (harness/standins/virt-launcher) without a cluster. Namespaces made here
// and removed after: a "node" network namespace holding a cni0-like bridge 10.244.1.1/24 (MTU 1450,
// no uplink: nothing leaves it) and a "pod" network namespace whose eth0 is a port of it, with
// 10.244.1.5/24, a default route and 10.244.0.0/16 via 10.244.1.1, as flannel's CNI gives a pod.
// The launcher runs there exactly as the kubelet stand-in runs the "compute" container: through
// harness/standins/kubelet/container-run.sh with a plan (the image's files: /entrypoint.sh, the
// guest's files), with virt-controller 0.4.1's command line. KubeVirt's own cmd client drives it
// and its own notify server listens (virt-launcher-driver, built beside the launcher by
// harness/dataplane.sh), as virt-handler would.
//
// Skipped, with the reason, where the binaries are not built (`harness/dataplane.sh --check
// virt-launcher`) or namespaces cannot be made (needs root, iproute2, util-linux, OpenSSH,
// isc-dhcp-client, systemd).
import assert from "node:assert/strict";
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { pollEvery } from "./lib/wait";
/** The shared poll (test/lib/wait.ts), every 200 ms unless told. */
const waitFor = pollEvery(200);

const REPO = path.join(__dirname, "..");
const RUNNER = path.join(REPO, "harness", "standins", "kubelet", "container-run.sh");
const GUEST_DIR = path.join(REPO, "harness", "standins", "virt-launcher", "guest");
/** Not "kvl-...": `harness/simlab.sh down` takes down every namespace named kvl-<a-z...>. */
const NS_PREFIX = `kvl_vlauncher_${process.pid}_`;
const VM = { namespace: "nodejs-ex", name: "nodejs", uid: "9b3c5a2e-4f1d-4c1e-9d3a-7e0f00000001" };
const POD = { ip: "10.244.1.5", gw: "10.244.1.1", mac: "0a:58:0a:f4:01:05", mtu: 1450 };
const SEARCH = ["nodejs-ex.svc.cluster.local", "svc.cluster.local", "cluster.local"];
const HOLDER = `qemu-lab:${VM.namespace}_${VM.name}:`;
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function dataplaneBin(): string | Error {
    const script = path.join(REPO, "harness", "dataplane.sh");
    if (!fs.existsSync(script)) return new Error("harness/dataplane.sh is not there");
    const check = spawnSync("bash", [script, "--check", "virt-launcher"], { encoding: "utf8", timeout: 60_000 });
    if (check.status !== 0)
        return new Error(
            `the lab's virt-launcher is not built at the repository's sources (${(check.stderr || "").trim() || `--check exited ${check.status}`}); ` +
                "run harness/dataplane.sh virt-launcher",
        );
    const r = spawnSync("bash", [script, "--print-env", "virt-launcher"], { encoding: "utf8", timeout: 60_000 });
    const m = /^export KUBEVIRT_LAB_DATAPLANE_BIN=(.+)$/m.exec(r.stdout ?? "");
    if (r.status !== 0 || !m) return new Error(`harness/dataplane.sh --print-env: ${(r.stderr || "").trim()}`);
    return m[1].trim();
}

function skipReason(): string | false {
    if (process.platform !== "linux") return "needs Linux (namespaces)";
    if (process.getuid?.() !== 0) return "needs root (network, mount and PID namespaces)";
    for (const tool of [
        "ip",
        "bridge",
        "ss",
        "unshare",
        "nsenter",
        "ssh",
        "ssh-keygen",
        "/usr/sbin/sshd",
        "/usr/sbin/dhclient",
        "/lib/systemd/systemd",
    ]) {
        if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) return `needs ${tool}`;
    }
    const bin = dataplaneBin();
    return bin instanceof Error ? bin.message : false;
}

const skip = skipReason();

function run(cmd: string, args: string[], timeout = 20_000): { code: number | null; out: string; err: string } {
    const r = spawnSync(cmd, args, { encoding: "utf8", timeout });
    return { code: r.status, out: r.stdout ?? "", err: `${r.stderr ?? ""}${r.error ? String(r.error) : ""}` };
}

function must(cmd: string, args: string[], timeout = 20_000): string {
    const r = run(cmd, args, timeout);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: exit ${r.code}: ${r.err.trim()}`);
    return r.out;
}

/** Processes whose command name (argv[0]) is the guest holder's. */
function holders(): number[] {
    const out: number[] = [];
    for (const p of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(p)) continue;
        try {
            if (fs.readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0")[0] === HOLDER) out.push(Number(p));
        } catch {
            /* gone */
        }
    }
    return out;
}

/** Every process's network namespace (inode), for "nothing holds the guest's any more". */
function netnsInodes(): Set<string> {
    const s = new Set<string>();
    for (const p of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(p)) continue;
        try {
            s.add(fs.readlinkSync(`/proc/${p}/ns/net`));
        } catch {
            /* gone, or a kernel thread */
        }
    }
    return s;
}

function guestCgroups(): string[] {
    const base = "/sys/fs/cgroup/unified";
    if (!fs.existsSync(base)) return [];
    return fs.readdirSync(base).filter((n) => n.startsWith(`kubevirt-lab-guest.${VM.namespace}.${VM.name}.`));
}

interface DomainEvent {
    type: string;
    name: string;
    namespace: string;
    status: string;
    reason: string;
    spec?: any;
}

/** One lab: node and pod namespaces, the notify server, the launcher in its container. */
class Lab {
    readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-virt-launcher-"));
    readonly node: string;
    readonly pod: string;
    readonly share = path.join(this.dir, "share");
    readonly key = path.join(this.dir, "id_ed25519");
    readonly vmFile = path.join(this.dir, "vm.json");
    readonly events: DomainEvent[] = [];
    launcher?: ChildProcess;
    launcherLog = "";
    launcherExit?: { code: number | null; signal: NodeJS.Signals | null };
    startedAt = 0;
    private notify?: ChildProcess;

    constructor(
        readonly bin: string,
        tag: string,
    ) {
        this.node = `${NS_PREFIX}${tag}_node`;
        this.pod = `${NS_PREFIX}${tag}_pod`;
    }

    get socket(): string {
        return path.join(this.share, "sockets", `${VM.namespace}_${VM.name}_sock`);
    }

    driver(args: string[], timeout = 30_000) {
        return run(path.join(this.bin, "virt-launcher-driver"), args, timeout);
    }

    /** The node and the pod, as flannel's CNI (bridge plugin v0.6.0) leaves them. */
    network(): void {
        must("ip", ["netns", "add", this.node]);
        must("ip", ["netns", "add", this.pod]);
        const n = (...a: string[]) => must("ip", ["-n", this.node, ...a]);
        const p = (...a: string[]) => must("ip", ["-n", this.pod, ...a]);
        n("link", "set", "lo", "up");
        p("link", "set", "lo", "up");
        n("link", "add", "cni0", "type", "bridge");
        n("link", "set", "cni0", "mtu", String(POD.mtu), "up");
        n("addr", "add", `${POD.gw}/24`, "dev", "cni0");
        n("link", "add", "veth0", "mtu", String(POD.mtu), "type", "veth", "peer", "name", "eth0", "netns", this.pod);
        n("link", "set", "veth0", "master", "cni0", "up");
        p("link", "set", "eth0", "address", POD.mac, "mtu", String(POD.mtu), "up");
        p("addr", "add", `${POD.ip}/24`, "dev", "eth0");
        p("route", "add", "default", "via", POD.gw, "dev", "eth0");
        p("route", "add", "10.244.0.0/16", "via", POD.gw, "dev", "eth0");
    }

    vm(): void {
        must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "operator@kubevirt-lab", "-f", this.key]);
        const pub = fs.readFileSync(`${this.key}.pub`, "utf8").trim();
        // the lab's user data (components/workload.ts: the companion repository's cloud-init.txt)
        const userData = ["#cloud-config", "ssh_pwauth: True", "disable_root: false", "ssh_authorized_keys:", `- ${pub}`, ""].join("\n");
        const vm = {
            apiVersion: "kubevirt.io/v1alpha1",
            kind: "VirtualMachine",
            metadata: { name: VM.name, namespace: VM.namespace, uid: VM.uid },
            spec: {
                terminationGracePeriodSeconds: 10,
                domain: {
                    cpu: { cores: 2 },
                    devices: { disks: [{ name: "cloudinitdisk", volumeName: "cloudinitvolume", disk: { bus: "virtio" } }] },
                    machine: { type: "q35" },
                    resources: { requests: { memory: "1024M" } },
                },
                volumes: [{ name: "cloudinitvolume", cloudInitNoCloud: { userDataBase64: Buffer.from(userData).toString("base64") } }],
            },
        };
        fs.writeFileSync(this.vmFile, JSON.stringify(vm));
    }

    async startNotifyServer(): Promise<void> {
        fs.mkdirSync(this.share, { recursive: true });
        const child = spawn(path.join(this.bin, "virt-launcher-driver"), ["notify-server", this.share], {
            stdio: ["pipe", "pipe", "pipe"],
        });
        this.notify = child;
        let buf = "";
        child.stdout!.on("data", (d) => {
            buf += d;
            let i: number;
            while ((i = buf.indexOf("\n")) >= 0) {
                const line = buf.slice(0, i);
                buf = buf.slice(i + 1);
                if (line.trim()) this.events.push(JSON.parse(line));
            }
        });
        child.stderr!.on("data", () => undefined);
        await waitFor("the notify server's socket", () => fs.existsSync(path.join(this.share, "domain-notify.sock")), 10_000, 50);
    }

    /**
     * The launcher, as the kubelet stand-in starts the virt-launcher pod's "compute" container
     * (runtime.ts): PID 1 of its own PID namespace under `unshare --pid --fork --kill-child`, the
     * process started being that unshare, in a process group of its own.
     */
    startLauncher(grace = 25): void {
        const libvirt = path.join(this.dir, "libvirt-runtime");
        fs.mkdirSync(libvirt);
        const resolv = path.join(this.dir, "etc-resolv.conf");
        fs.writeFileSync(resolv, `nameserver 10.96.0.10\nsearch ${SEARCH.join(" ")}\noptions ndots:5\n`);
        // virt-controller 0.4.1's pod (pkg/virt-controller/services/template.go): the share dir
        // (a hostPath) and the libvirt runtime dir (an emptyDir) at their mountPaths.
        const args = ["/entrypoint.sh", "--qemu-timeout", "5m", "--name", VM.name, "--namespace", VM.namespace];
        args.push("--kubevirt-share-dir", "/var/run/kubevirt", "--readiness-file", "/tmp/healthy", "--grace-period-seconds", String(grace));
        const plan = [
            ["hostname", `virt-launcher-${VM.name}-x7k2q`],
            ["pidfile", this.pidFile],
            ["privileged", "1"],
            ["copy", resolv, "/etc/resolv.conf"],
            ["bind", this.share, "/var/run/kubevirt", "rw"],
            ["bind", libvirt, "/var/run/libvirt", "rw"],
            ["file", path.join(this.bin, "virt-launcher"), "/entrypoint.sh"],
            ["file", GUEST_DIR, "/usr/local/libexec/virt-launcher-lab"],
            ["env", `PATH=${DEFAULT_PATH}`],
            ["env", `HOSTNAME=virt-launcher-${VM.name}-x7k2q`],
            ["wd", "/"],
            ...args.map((a) => ["arg", a]),
        ];
        const planFile = path.join(this.dir, "compute.plan");
        fs.writeFileSync(planFile, plan.map((l) => l.join("\t")).join("\n") + "\n");
        this.startedAt = Date.now();
        const child = spawn(
            "/usr/bin/nsenter",
            [
                `--net=/run/netns/${this.pod}`,
                "--",
                "/usr/bin/unshare",
                "--mount",
                "--uts",
                "--ipc",
                "--pid",
                "--fork",
                "--kill-child",
                "--propagation",
                "private",
                "--",
                "/bin/bash",
                RUNNER,
                planFile,
            ],
            { stdio: ["ignore", "pipe", "pipe"], detached: true, env: { PATH: DEFAULT_PATH } },
        );
        this.launcher = child;
        child.stdout!.on("data", (d) => (this.launcherLog += d));
        child.stderr!.on("data", (d) => (this.launcherLog += d));
        child.on("exit", (code, signal) => (this.launcherExit = { code, signal }));
    }

    async ready(): Promise<void> {
        try {
            await waitFor(
                "the launcher's cmd socket answers Ping",
                () => fs.existsSync(this.socket) && this.driver(["ping", this.socket], 5000).code === 0,
                30_000,
            );
        } catch (e) {
            throw new Error(`${e instanceof Error ? e.message : String(e)}\n${this.tail()}`);
        }
    }

    sync(): void {
        const r = this.driver(["sync", this.socket, this.vmFile]);
        assert.equal(r.code, 0, `Sync: ${r.err}\n${this.tail()}`);
    }

    get pidFile(): string {
        return path.join(this.dir, "compute.pid");
    }

    /** The container's main process, the launcher (its pid as the machine sees it). */
    launcherPid(): number {
        return Number(fs.readFileSync(this.pidFile, "utf8").trim());
    }

    /** A signal to the container's process group, as the kubelet stand-in's stop sends it. */
    signalContainer(sig: NodeJS.Signals): void {
        process.kill(-this.launcher!.pid!, sig);
    }

    ssh(command: string, timeout = 10_000) {
        return run(
            "ip",
            [
                "netns",
                "exec",
                this.node,
                "ssh",
                "-i",
                this.key,
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=2",
                "-o",
                "LogLevel=ERROR",
                `fedora@${POD.ip}`,
                command,
            ],
            timeout,
        );
    }

    /** The guest's PID 1 (systemd), as this PID namespace sees it: the holder's child. */
    guestInit(): number {
        const h = holders();
        assert.equal(h.length, 1, `one guest holder (${HOLDER}), not ${h.length}`);
        const kids = fs.readFileSync(`/proc/${h[0]}/task/${h[0]}/children`, "utf8").trim().split(/\s+/);
        // PID 1 of the guest's namespace (its NSpid ends in 1), not a passing child of the holder's Go runtime
        const nspid = (k: string) => {
            try {
                return /^NSpid:.*$/m.exec(fs.readFileSync(`/proc/${k}/status`, "utf8"))?.[0] ?? "";
            } catch {
                return ""; // gone
            }
        };
        const init = kids.find((k) => /\s1$/.test(nspid(k)));
        assert.ok(init, `the guest's init among the holder's children ${kids.join(" ")}`);
        return Number(init);
    }

    async waitEvent(what: string, pred: (e: DomainEvent) => boolean, timeoutMs = 15_000): Promise<DomainEvent> {
        return waitFor(what, () => this.events.find(pred), timeoutMs, 100);
    }

    async launcherExited(timeoutMs: number) {
        return waitFor("the launcher's exit", () => this.launcherExit, timeoutMs, 100);
    }

    tail(): string {
        return `--- launcher log (last lines) ---\n${this.launcherLog.split("\n").slice(-40).join("\n")}`;
    }

    async cleanup(): Promise<void> {
        const pid = this.launcher?.pid;
        if (pid && !this.launcherExit) {
            try {
                process.kill(-pid, "SIGKILL");
            } catch {
                /* gone */
            }
            await waitFor("the killed launcher's exit", () => this.launcherExit, 5000, 100).catch(() => undefined);
        }
        // the holder cleans up when the launcher dies; bounded
        await waitFor("no guest holder", () => holders().length === 0, 10_000, 100).catch(() => undefined);
        if (this.notify && this.notify.exitCode === null) this.notify.kill("SIGTERM");
        for (const ns of [this.pod, this.node]) run("ip", ["netns", "delete", ns]);
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}

/** Nothing of the guest left: no holder, no process in its network namespace, no vnet0, and no cgroup (or, after a SIGKILL, an empty one). */
async function assertNothingLeft(lab: Lab, guestNet: string, cgroup: "removed" | "empty" = "removed"): Promise<void> {
    await waitFor("no guest holder process", () => holders().length === 0, 10_000, 100);
    await waitFor("no process in the guest's network namespace", () => !netnsInodes().has(guestNet), 10_000, 100);
    await waitFor("vnet0 gone from the pod", () => !/vnet0/.test(run("ip", ["-n", lab.pod, "-o", "link"]).out), 5000, 100);
    if (cgroup === "removed") assert.deepEqual(guestCgroups(), [], "the guest's cgroup was removed");
    else
        for (const cg of guestCgroups())
            assert.match(fs.readFileSync(`/sys/fs/cgroup/unified/${cg}/cgroup.events`, "utf8"), /^populated 0$/m, `${cg} is empty`);
}

describe(
    "virt-launcher (the lab's, harness/standins/virt-launcher): KubeVirt 0.4.1's launcher with a guest of namespaces",
    { skip },
    () => {
        const labs: Lab[] = [];
        /** the empty cgroups the SIGKILL test leaves, which the next guest's start removes */
        const killedCgroups: string[] = [];
        after(async () => {
            for (const lab of labs) await lab.cleanup();
            const left = run("ip", ["netns", "list"])
                .out.split("\n")
                .filter((l) => l.startsWith(NS_PREFIX));
            assert.deepEqual(left, [], "every network namespace of the test was deleted");
        });

        test(
            "SIGKILL of the container (the kubelet's, once the pod's grace period is over): the guest ends with its PID namespace, nothing left but an empty cgroup",
            { timeout: 45_000 },
            async () => {
                const lab = new Lab(dataplaneBin() as string, "c");
                labs.push(lab);
                lab.network();
                lab.vm();
                await lab.startNotifyServer();
                lab.startLauncher();
                await lab.ready();
                lab.sync();
                await lab.waitEvent("Modified Running", (e) => e.type === "MODIFIED" && e.status === "Running");
                const guestNet = fs.readlinkSync(`/proc/${lab.guestInit()}/ns/net`);
                const at = Date.now();
                lab.signalContainer("SIGKILL");
                await lab.launcherExited(5000);
                await assertNothingLeft(lab, guestNet, "empty");
                killedCgroups.push(...guestCgroups());
                console.log(`virt-launcher: SIGKILL of the container to nothing left ${Date.now() - at} ms`);
            },
        );

        test(
            "Sync: the post's pod network and VM network, ssh as fedora with sudo, the domain events; Kill ends everything",
            { timeout: 60_000 },
            async () => {
                const lab = new Lab(dataplaneBin() as string, "a");
                labs.push(lab);
                lab.network();
                lab.vm();
                await lab.startNotifyServer();
                lab.startLauncher();
                await lab.ready();
                const readyMs = Date.now() - lab.startedAt;
                lab.sync();
                const syncedMs = Date.now() - lab.startedAt;
                const answer = await waitFor(
                    "the guest's sshd answers as fedora with sudo",
                    () => {
                        const r = lab.ssh("sudo -n id -u; hostname", 8000);
                        return r.code === 0 ? r.out : undefined;
                    },
                    30_000,
                    300,
                );
                const sshMs = Date.now() - lab.startedAt;
                assert.equal(answer, `0\n${VM.name}\n`, "ssh fedora@10.244.1.5 'sudo -n id -u; hostname'");
                const cgroups = guestCgroups();
                assert.equal(cgroups.length, 1, `one guest cgroup, this guest's: ${cgroups.join(" ")}`);
                for (const cg of killedCgroups)
                    assert.ok(!cgroups.includes(cg), `the killed guest's empty cgroup ${cg} was removed by this guest's start`);

                // The pod (the post's Pod-level section): br1 with eth0 and vnet0, 169.254.75.86/32 on br1,
                // eth0 without its IPv4 address, the DHCP server on 0.0.0.0%br1:67.
                const ports = JSON.parse(must("bridge", ["-n", lab.pod, "-j", "link", "show"])) as any[];
                assert.deepEqual(ports.map((l) => [l.ifname, l.master]).sort(), [
                    ["eth0", "br1"],
                    ["vnet0", "br1"],
                ]);
                const links = JSON.parse(must("ip", ["-n", lab.pod, "-j", "-d", "addr", "show"])) as any[];
                const link = (name: string) => links.find((l) => l.ifname === name);
                assert.deepEqual(
                    link("br1")
                        .addr_info.filter((a: any) => a.family === "inet")
                        .map((a: any) => `${a.local}/${a.prefixlen}`),
                    ["169.254.75.86/32"],
                );
                assert.deepEqual(
                    link("eth0").addr_info.filter((a: any) => a.family === "inet"),
                    [],
                    "the pod's eth0 has no IPv4 address",
                );
                assert.notEqual(link("eth0").address, POD.mac, "the pod's eth0 got a new MAC (the VM has the old one)");
                assert.equal(link("vnet0").mtu, POD.mtu, "vnet0 has the pod's MTU, as libvirt gives its tap");
                assert.equal(link("vnet0").address, `fe${POD.mac.slice(2)}`, "vnet0's MAC is the VM's with fe:, as libvirt makes it");
                assert.match(
                    must("ip", ["netns", "exec", lab.pod, "ss", "-uapn"]),
                    /0\.0\.0\.0%br1:67\s.*users:\(\("virt-launcher",pid=\d+/,
                );

                // The VM (the post's VM-level section).
                const init = lab.guestInit();
                const guestNet = fs.readlinkSync(`/proc/${init}/ns/net`);
                const gaddr = JSON.parse(must("nsenter", ["-t", String(init), "-n", "ip", "-j", "addr", "show", "dev", "eth0"]))[0];
                assert.equal(gaddr.mtu, 1500, "the guest's eth0 stays at 1500 (no MTU option in KubeVirt's DHCP)");
                assert.equal(gaddr.address, POD.mac, "the guest's eth0 has the pod's original MAC");
                assert.deepEqual(
                    gaddr.addr_info.filter((a: any) => a.family === "inet").map((a: any) => `${a.local}/${a.prefixlen}`),
                    [`${POD.ip}/24`],
                );
                assert.match(
                    must("nsenter", ["-t", String(init), "-n", "ip", "route", "show", "default"]),
                    new RegExp(`^default via ${POD.gw.replace(/\./g, "\\.")} dev eth0`),
                );
                const resolv = fs.readFileSync(`/proc/${init}/root/etc/resolv.conf`, "utf8");
                assert.equal(
                    resolv,
                    `; generated by /usr/sbin/dhclient-script\nsearch ${SEARCH.map((s) => `${s}.`).join(" ")}\nnameserver 10.96.0.10\n`,
                );
                const units = lab.ssh(
                    "systemctl is-system-running; systemctl is-active sshd network; journalctl -u network --no-pager | grep -c DHCPACK",
                );
                assert.equal(units.code, 0, units.err);
                assert.match(
                    units.out,
                    /^running\nactive\nactive\n[1-9]/,
                    "systemd runs the guest: sshd and network active, dhclient in the journal",
                );

                // The domain (what virsh domiflist shows in the post) and its events.
                const dom = JSON.parse(lab.driver(["get-domain", lab.socket]).out);
                assert.equal(dom.Spec.Name, `${VM.namespace}_${VM.name}`);
                assert.deepEqual(dom.Status, { Status: "Running", Reason: "Unknown" });
                const nic = dom.Spec.Devices.Interfaces[0];
                assert.deepEqual(
                    [nic.Type, nic.Source.Bridge, nic.Model.Type, nic.MAC.MAC, nic.Target.Device],
                    ["bridge", "br1", "e1000", POD.mac, "vnet0"],
                    "interface vnet0, bridge br1, model e1000, the VM's MAC",
                );
                const domXML = fs.readFileSync(path.join(lab.dir, "libvirt-runtime", "qemu", `${VM.namespace}_${VM.name}.xml`), "utf8");
                assert.match(
                    domXML,
                    new RegExp(
                        `<interface type="bridge">\\s*<source bridge="br1"></source>\\s*<target dev="vnet0"></target>\\s*` +
                            `<model type="e1000"></model>\\s*<mac address="${POD.mac}"></mac>`,
                    ),
                    "the live domain XML where libvirt keeps it",
                );
                await lab.waitEvent("Added", (e) => e.type === "ADDED" && e.status === "Shutoff");
                const running = await lab.waitEvent("Modified Running", (e) => e.type === "MODIFIED" && e.status === "Running");
                assert.equal(running.spec?.Devices?.Interfaces?.[0]?.MAC?.MAC, POD.mac);

                // Kill (virt-handler's, once the grace period is over): the guest destroyed, the domain
                // undefined, the launcher gone, nothing left.
                const killedAt = Date.now();
                const k = lab.driver(["kill", lab.socket, lab.vmFile]);
                assert.equal(k.code, 0, k.err);
                await lab.waitEvent(
                    "Modified Shutoff/Destroyed",
                    (e) => e.type === "MODIFIED" && e.status === "Shutoff" && e.reason === "Destroyed",
                );
                await lab.waitEvent("Deleted", (e) => e.type === "DELETED");
                const exit = await lab.launcherExited(15_000);
                const exitMs = Date.now() - killedAt;
                assert.deepEqual(exit, { code: 0, signal: null }, lab.tail());
                assert.deepEqual(
                    lab.events.map((e) => `${e.type} ${e.status}/${e.reason}`),
                    ["ADDED Shutoff/Unknown", "MODIFIED Running/Unknown", "MODIFIED Shutoff/Destroyed", "DELETED NoState/NonExistent"],
                );
                await assertNothingLeft(lab, guestNet);
                console.log(
                    `virt-launcher timings: cmd socket ready ${readyMs} ms, Sync returned ${syncedMs} ms, the guest's sshd answered ${sshMs} ms ` +
                        `after the launcher's start; Kill to the launcher's exit ${exitMs} ms`,
                );
            },
        );

        test(
            "SIGTERM of the container: the graceful-shutdown trigger, Shutdown as virt-handler then calls it, the guest powers off, the launcher gone, nothing left",
            { timeout: 45_000 },
            async () => {
                const lab = new Lab(dataplaneBin() as string, "b");
                labs.push(lab);
                lab.network();
                lab.vm();
                await lab.startNotifyServer();
                lab.startLauncher(20);
                await lab.ready();
                lab.sync();
                await lab.waitEvent("Modified Running", (e) => e.type === "MODIFIED" && e.status === "Running");
                const guestNet = fs.readlinkSync(`/proc/${lab.guestInit()}/ns/net`);
                const at = Date.now();
                lab.signalContainer("SIGTERM");
                // virt-handler watches the trigger files and then signals the shutdown (processVmShutdown)
                const trigger = path.join(lab.share, "graceful-shutdown-trigger", `${VM.namespace}_${VM.name}`);
                await waitFor("the graceful-shutdown trigger file", () => fs.existsSync(trigger), 5000, 100);
                const r = lab.driver(["shutdown", lab.socket, lab.vmFile]);
                assert.equal(r.code, 0, `${r.err}\n${lab.tail()}`);
                await lab.waitEvent(
                    "Modified with the grace period's start",
                    (e) => e.type === "MODIFIED" && !!e.spec?.Metadata?.KubeVirt?.GracePeriod?.DeletionTimestamp,
                );
                await lab.waitEvent(
                    "Modified Shutoff/Shutdown",
                    (e) => e.type === "MODIFIED" && e.status === "Shutoff" && e.reason === "Shutdown",
                );
                await lab.waitEvent("Deleted", (e) => e.type === "DELETED");
                const exit = await lab.launcherExited(15_000);
                const ms = Date.now() - at;
                assert.deepEqual(exit, { code: 0, signal: null }, lab.tail());
                await assertNothingLeft(lab, guestNet);
                console.log(
                    `virt-launcher: SIGTERM to the launcher's exit, the guest powered off by Shutdown (grace period 20 s) ${ms} ms`,
                );
            },
        );
    },
);
