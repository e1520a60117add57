// harness/simlab.sh up --vms: two hosts standing in for the post's KubeVirt VMs (the Fedora cloud
// image's user with the lab's key and passwordless sudo, as cloud-init leaves them), reached as the
// app stage reaches the VMs: through the SSH NodePorts (30022 nodejs, 30122 mongodb) of any
// Kubernetes host, forwarded as kube-proxy does. Then the App component's own command line
// (components/app.ts playbookCommand with inventory()) runs ansible/run-playbook.sh from the
// operator namespace with the simulated lab's skipped tags, and the rendered files are read on the
// VM hosts. Lab `kvlvm`; needs root, sshd, iptables and ansible-playbook; skipped otherwise.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { inventory, playbookCommand } from "../components/app";
import { parseConfig } from "../components/config";
import { REPO, SimLab, run } from "../harness/lib/simlab";
import { sourceOf, stackConfig } from "./lib/stack";

const HOSTS = { km1: "172.31.50.221", kn1: "172.31.50.231", kn2: "172.31.50.232" };
const VMS = { nodejs: "172.31.50.241", mongodb: "172.31.50.242" };
/** What the simulated lab's VM hosts cannot do (ansible/README.md): the setting appSkipTags. */
const SIM_TAGS = ["packages", "source", "users", "service"];
const SECRETS = JSON.stringify({ mongodb_admin_password: "admin-pw-123", mongodb_app_password: "app-pw-456" });

const missing = ["ip", "sshd", "ssh", "unshare", "nsenter", "iptables", "ansible-playbook", "useradd", "sudo"].filter(
    (c) => spawnSync("bash", ["-c", `command -v ${c} || test -x /usr/sbin/${c}`]).status !== 0,
);
const skip = process.getuid?.() !== 0 ? "needs root" : missing.length ? `missing ${missing.join(", ")}` : false;

const lab = new SimLab("kvlvm");
const csv = (m: Record<string, string>) =>
    Object.entries(m)
        .map(([h, ip]) => `${h}=${ip}`)
        .join(",");

/** ssh from the operator namespace, as Ansible connects: `<user>@<node address>` on a NodePort. */
async function ssh(target: string, port: number, command: string) {
    return lab.op(
        [
            "ssh",
            ...["-i", lab.keyPath, "-p", String(port), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"],
            ...["-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", target, command],
        ],
        {},
        30_000,
    );
}

async function sshOk(target: string, port: number, command: string): Promise<string> {
    const r = await ssh(target, port, command);
    assert.equal(r.code, 0, `ssh -p ${port} ${target} ${command}: ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
}

/** The App component's command line, run in the operator namespace with the passwords on stdin. */
async function playbook(home: string) {
    const cfg = parseConfig(sourceOf(stackConfig("dev")));
    const inv = inventory({
        nodejsHost: HOSTS.kn1,
        mongodbHost: HOSTS.kn2,
        workload: cfg.workload,
        guestUser: "fedora",
        analyzerIp: "10.244.1.2",
        privateKeyPath: lab.keyPath,
    });
    const r = await run(
        "bash",
        [
            path.join(REPO, "harness", "simlab.sh"),
            "--name",
            lab.name,
            "op",
            "env",
            `HOME=${home}`,
            "bash",
            "-c",
            playbookCommand(inv, SIM_TAGS),
        ],
        { cwd: REPO, input: SECRETS, timeoutMs: 240_000 },
    );
    assert.equal(r.code, 0, `the playbook failed (${r.code}):\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-2000)}`);
    const recap = (host: string) => {
        const m = new RegExp(`^${host}\\s+:\\s+ok=(\\d+)\\s+changed=(\\d+)\\s+unreachable=(\\d+)\\s+failed=(\\d+)`, "m").exec(r.stdout);
        assert.ok(m, `no recap of ${host}:\n${r.stdout.slice(-2000)}`);
        return { ok: Number(m[1]), changed: Number(m[2]), unreachable: Number(m[3]), failed: Number(m[4]) };
    };
    return { r, nodejs: recap("nodejs-1"), mongodb: recap("mongodb-1") };
}

/** `stat` of a file on a host, and its text. */
async function fileOn(host: string, file: string) {
    const stat = (await lab.cli(["exec", host, "stat", "-c", "%a %U:%G", file])).stdout.trim();
    return { stat, text: (await lab.file(host, file)) ?? "" };
}

describe("simlab up --vms: the VM hosts behind the NodePorts, and the app stage's Ansible run", { skip }, () => {
    let home = "";

    before(async () => {
        await lab.down(); // a stale lab of the same name, if any
        const t0 = Date.now();
        await lab.cli(["up", "--hosts", csv(HOSTS), "--dns", "", "--vms", csv(VMS)]);
        console.log(`simlab up with VM hosts: ${Date.now() - t0} ms`);
        home = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-vms-home-"));
    });

    after(async () => {
        const r = await lab.down();
        assert.equal(r.code, 0, r.stderr);
        if (home) fs.rmSync(home, { recursive: true, force: true });
        const netns = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
        assert.doesNotMatch(netns, /^kvlvm-/m, "down leaves no namespace of the lab (the NodePort rules live in them)");
    });

    it("refuses a VM that is not nodejs or mongodb, a missing one and a bad NodePort, before touching the lab", async () => {
        const up = (args: string[]) =>
            run("bash", [path.join(REPO, "harness", "simlab.sh"), "--name", lab.name, "up", "--dns", "", ...args], { timeoutMs: 30_000 });
        for (const [args, message] of [
            [["--vms", `nodejs=${VMS.nodejs}`], /--vms: no mongodb \(expected nodejs=IP,mongodb=IP\)/],
            [["--vms", `nodejs=${VMS.nodejs},redis=172.31.50.243`], /--vms: 'redis' is not a VM/],
            [
                ["--vms", csv(VMS), "--vm-ports", "nodejs=22,mongodb=30122"],
                /--vm-ports: nodejs=22: expected a NodePort from 30000 to 32767/,
            ],
            [["--vms", csv(VMS), "--vm-ports", "nodejs=30022,mongodb=30022"], /--vm-ports: port 30022 given twice/],
            [["--vms", csv(VMS), "--vm-ports", "nodejs=30022"], /--vm-ports: no port for mongodb/],
            [["--vms", csv(VMS), "--vm-user", "root"], /VM user 'root' must be a plain user name/],
        ] as Array<[string[], RegExp]>) {
            const r = await up(args);
            assert.notEqual(r.code, 0, args.join(" "));
            assert.match(r.stderr, message);
        }
        const status = await run("bash", [path.join(REPO, "harness", "simlab.sh"), "--name", lab.name, "status"], { timeoutMs: 30_000 });
        assert.equal(status.code, 0, `the running lab is untouched:\n${status.stdout}`);
    });

    it("reaches the nodejs VM host on 30022 and the mongodb one on 30122 of any node, as fedora with passwordless sudo and python3", async () => {
        for (const [node, port, vm] of [
            ["km1", 30022, "nodejs"],
            ["kn1", 30122, "mongodb"],
            ["kn1", 30022, "nodejs"],
            ["kn2", 30122, "mongodb"],
        ] as const) {
            const out = await sshOk(
                `fedora@${HOSTS[node]}`,
                port,
                "hostname; id -un; sudo -n true && echo sudo-ok; /usr/bin/python3 -c 'print(42)'",
            );
            assert.deepEqual(out.trim().split("\n"), [`${vm}.virtomation.com`, "fedora", "sudo-ok", "42"], `${node}:${port}`);
        }
        const status = (await lab.cli(["status"])).stdout;
        for (const h of Object.keys(HOSTS)) assert.match(status, new RegExp(`^${h}\\s.*NodePorts 30022->nodejs 30122->mongodb$`, "m"));
        for (const h of Object.keys(VMS))
            assert.match(
                status,
                new RegExp(`^${h}\\s+${VMS[h as keyof typeof VMS].replace(/\./g, "\\.")}\\s.*VM host \\(user fedora\\)$`, "m"),
            );
    });

    it("forwards as kube-proxy's NodePort does: the VM host sees the node as the client; a VM host is no node and takes no root login", async () => {
        const conn = await sshOk(`fedora@${HOSTS.km1}`, 30122, "echo $SSH_CONNECTION");
        assert.match(conn, new RegExp(`^${HOSTS.km1.replace(/\./g, "\\.")} \\d+ ${VMS.mongodb.replace(/\./g, "\\.")} 22$`, "m"));
        assert.notEqual((await ssh(`root@${VMS.nodejs}`, 22, "true")).code, 0, "no root login on a VM host (cloud-init's default)");
        // the key is in the user's own authorized_keys, as cloud-init writes it
        const keys = await fileOn("nodejs", "/home/fedora/.ssh/authorized_keys");
        assert.equal(keys.stat, "600 fedora:fedora");
        assert.ok(keys.text.includes(fs.readFileSync(`${lab.keyPath}.pub`, "utf8").trim()));
        // nothing listens on a VM host's NodePort itself, and the node's own port 22 is its own sshd
        assert.notEqual((await ssh(`fedora@${VMS.nodejs}`, 30022, "true")).code, 0);
        assert.equal((await sshOk(`fedora@${VMS.nodejs}`, 22, "hostname")).trim(), "nodejs.virtomation.com");
    });

    it("gives a host added later the NodePorts too", async () => {
        await lab.cli(["add-host", "kn3=172.31.50.233"]);
        assert.equal((await sshOk("fedora@172.31.50.233", 30022, "hostname")).trim(), "nodejs.virtomation.com");
    });

    it("runs the roles with --skip-tags packages,source,users,service: the files rendered on the VM hosts, a second run changes nothing", async () => {
        const first = await playbook(home);
        assert.deepEqual([first.nodejs.failed, first.nodejs.unreachable, first.mongodb.failed, first.mongodb.unreachable], [0, 0, 0, 0]);
        assert.ok(first.nodejs.changed > 0 && first.mongodb.changed > 0, first.r.stdout.slice(-1500));
        assert.match(first.r.stdout, /RUNNING HANDLER \[mongodb : Mongodb \| Restart mongod\] \*+\nskipping: \[mongodb-1\]/);
        assert.doesNotMatch(first.r.stdout, /TASK \[[^\]]*(Install|Clone|Start|Create the administrator)/, "no task of a skipped tag ran");

        const mongod = await fileOn("mongodb", "/etc/mongod.conf");
        assert.equal(mongod.stat, "644 root:root");
        assert.match(mongod.text, /^net:\n {2}port: 27017\n {2}bindIp: 0\.0\.0\.0$/m);
        const sysconfig = await fileOn("nodejs", "/etc/sysconfig/nodejs");
        assert.equal(sysconfig.stat, "600 root:root");
        assert.equal(sysconfig.text, "MONGO_URL=mongodb://nodejs:app-pw-456@mongodb/nodejs\n");
        assert.match(
            (await fileOn("nodejs", "/etc/systemd/system/nodejs.service")).text,
            /^ExecStart=\/usr\/bin\/node \/opt\/nodejs-ex\/server\.js$/m,
        );
        for (const vm of ["nodejs", "mongodb"]) {
            const skydive = await fileOn(vm, "/etc/skydive/skydive.yml");
            assert.equal(skydive.stat, "644 root:root", vm);
            assert.match(skydive.text, /^analyzers:\n {2}- 10\.244\.1\.2:8082$/m, vm);
        }
        // only the VM hosts got them: not the nodes, not this machine
        assert.equal(await lab.file("kn1", "/etc/mongod.conf"), undefined);
        assert.equal(fs.existsSync("/etc/sysconfig/nodejs"), false);

        const second = await playbook(home);
        assert.deepEqual(
            [second.nodejs.changed, second.mongodb.changed, second.nodejs.failed, second.mongodb.failed],
            [0, 0, 0, 0],
            second.r.stdout.slice(-1500),
        );
        console.log(`playbook: first run ${first.r.ms} ms, second ${second.r.ms} ms`);
    });
});

describe("simlab up --vms with other NodePorts and another user (SimLab.up's options)", { skip }, () => {
    before(async () => {
        await lab.down();
        await lab.up(csv({ km1: HOSTS.km1 }), "", { vms: csv(VMS), vmPorts: "nodejs=31022,mongodb=31122", vmUser: "cloud" });
    });

    after(async () => {
        await lab.down();
    });

    it("forwards the given ports, not the post's, to the VM hosts' user", async () => {
        assert.equal((await sshOk(`cloud@${HOSTS.km1}`, 31022, "hostname; sudo -n true")).trim(), "nodejs.virtomation.com");
        assert.equal((await sshOk(`cloud@${HOSTS.km1}`, 31122, "id -un")).trim(), "cloud");
        assert.notEqual((await ssh(`cloud@${HOSTS.km1}`, 30022, "true")).code, 0, "30022 is not forwarded");
        assert.notEqual((await ssh(`fedora@${HOSTS.km1}`, 31022, "true")).code, 0, "no fedora user");
        const info = (await lab.cli(["info"])).stdout;
        assert.match(info, /^SIMLAB_VM_PORTS=nodejs=31022 mongodb=31122$/m);
        assert.match(info, /^SIMLAB_VM_USER=cloud$/m);
    });
});
