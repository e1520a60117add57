// harness/lib/recover.sh, what it decides about the locks and pending operations a killed engine
// left in a file backend: a fake `pulumi` (stack --show-name, stack export, stack import) and a
// real lock directory; real processes play the engine that holds a lock (one named pulumi), the
// dead one, and the pid that is now another program. The real engine is killed in
// test/e2e/interrupt.test.ts.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const RECOVER = path.join(__dirname, "..", "harness", "lib", "recover.sh");
const FQ = "organization/kubevirt-lab/sim";
const CREATE = "urn:pulumi:sim::kubevirt-lab::kubevirt-lab:cluster:Cluster$command:remote:Command::km1-kubeadm-init";
const DELETE = "urn:pulumi:sim::kubevirt-lab::kubevirt-lab:hosts:HostPrep$command:remote:Command::kn1-repo";
const UPDATE = "urn:pulumi:sim::kubevirt-lab::kubevirt-lab:hosts:HostPrep$command:remote:Command::kn1-sysctl";

let dir: string;
let backend: string;
let bin: string;
const children: ChildProcess[] = [];

before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-recover-"));
    backend = path.join(dir, "state");
    bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    // the fake CLI: the commands recover.sh runs, each recorded; export copies $dir/export.json
    fs.writeFileSync(
        path.join(bin, "pulumi"),
        `#!/usr/bin/env bash
echo "$*" >>'${dir}/pulumi.calls'
words=" $* "
case $words in
  *" stack --show-name --fully-qualify-stack-names "*) echo '${FQ}' ;;
  *" stack export --file "*) cp '${dir}/export.json' "\${@: -1}" ;;
  *" stack import --file "*) cp "\${@: -1}" '${dir}/imported.json' ;;
  *) echo "fake pulumi: unexpected: $*" >&2; exit 3 ;;
esac
`,
        { mode: 0o755 },
    );
    // a program whose process name (comm) is "pulumi": a copy of sleep
    fs.mkdirSync(path.join(dir, "engine"));
    fs.copyFileSync("/bin/sleep", path.join(dir, "engine", "pulumi"));
    fs.chmodSync(path.join(dir, "engine", "pulumi"), 0o755);
});

after(() => {
    for (const c of children) c.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
});

/** Writes a lock file as the engine does (lock.go: pid, username, hostname, timestamp). */
function lock(pid: number, opts: { hostname?: string; at?: Date } = {}): string {
    const d = path.join(backend, ".pulumi", "locks", FQ);
    fs.mkdirSync(d, { recursive: true });
    const file = path.join(d, `${Math.random().toString(16).slice(2)}.json`);
    const at = opts.at ?? new Date();
    fs.writeFileSync(
        file,
        JSON.stringify({ pid, username: "root", hostname: opts.hostname ?? os.hostname(), timestamp: at.toISOString() }),
    );
    fs.writeFileSync(`${file}.attrs`, "{}");
    return file;
}

function locks(): string[] {
    const d = path.join(backend, ".pulumi", "locks", FQ);
    return fs.existsSync(d) ? fs.readdirSync(d).sort() : [];
}

function exportWith(ops: Array<{ type: string; urn: string; resource?: Record<string, unknown> }>): void {
    const deployment = {
        manifest: {},
        resources: [],
        pending_operations: ops.map((o) => ({ type: o.type, resource: { urn: o.urn, ...o.resource } })),
    };
    fs.writeFileSync(path.join(dir, "export.json"), JSON.stringify({ version: 3, deployment }));
}

function recover(...args: string[]) {
    fs.rmSync(path.join(dir, "pulumi.calls"), { force: true });
    fs.rmSync(path.join(dir, "imported.json"), { force: true });
    const r = spawnSync("bash", [RECOVER, ...args, "--", "pulumi", "--cwd", "/nowhere", "--non-interactive", "--stack", "sim"], {
        encoding: "utf8",
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, PULUMI_BACKEND_URL: `file://${backend}` },
        timeout: 30_000,
    });
    const callsFile = path.join(dir, "pulumi.calls");
    const calls = fs.existsSync(callsFile) ? fs.readFileSync(callsFile, "utf8").trimEnd().split("\n") : [];
    return { ...r, calls };
}

/** A pid that no process has any more. */
function deadPid(): number {
    const r = spawnSync("bash", ["-c", "echo $$"], { encoding: "utf8" });
    return Number(r.stdout.trim());
}

async function livePulumi(): Promise<ChildProcess> {
    const c = spawn(path.join(dir, "engine", "pulumi"), ["60"], { stdio: "ignore" });
    children.push(c);
    await new Promise((r) => setTimeout(r, 100));
    return c;
}

describe("recover.sh: locks", () => {
    it("no lock, no pending operation: nothing to say, exit 0", () => {
        exportWith([]);
        const r = recover("--pending", "up");
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, "");
        assert.equal(r.stderr, "");
        assert.deepEqual(r.calls, [
            "--cwd /nowhere --non-interactive --stack sim stack --show-name --fully-qualify-stack-names",
            `--cwd /nowhere --non-interactive --stack sim stack export --file ${r.calls[1]?.split(" ").pop()}`,
        ]);
    });

    it("the lock of an engine that no longer runs is removed (with its .attrs), saying why that is safe", () => {
        const pid = deadPid();
        const file = lock(pid);
        const r = recover();
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(locks(), []);
        assert.match(
            r.stderr,
            new RegExp(
                `^recover: removed the stale lock of stack sim \\(${file.replace(/[.]/g, "\\.")}, pid ${pid}, root@${os.hostname()}, .*\\): ` +
                    `no process ${pid} runs on this machine any more, so no engine holds the stack; safe because a lock only marks a running engine`,
            ),
        );
        assert.equal(r.stderr.trimEnd().split("\n").length, 1, "one line");
    });

    it("a pid that is now another program, or a pulumi started after the lock: stale too", async () => {
        lock(process.pid); // this test's node
        const r = recover();
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stderr, new RegExp(`pid ${process.pid} is now 'node', not a pulumi engine`));
        assert.deepEqual(locks(), []);

        const young = await livePulumi();
        lock(young.pid!, { at: new Date(Date.now() - 3600_000) });
        const r2 = recover();
        assert.equal(r2.status, 0, r2.stderr);
        assert.match(r2.stderr, new RegExp(`pid ${young.pid} is a pulumi started after the lock was written`));
        assert.deepEqual(locks(), []);
    });

    it("the lock of a running engine is reported with its pid and left alone, and so is another machine's: exit 1", async () => {
        const engine = await livePulumi();
        const live = lock(engine.pid!);
        const r = recover("--pending", "up");
        assert.equal(r.status, 1);
        assert.match(
            r.stderr,
            new RegExp(
                `^recover: stack sim is in use by a running pulumi \\(pid ${engine.pid}, root@${os.hostname()}, since .*\\): left alone; .*kill -INT ${engine.pid}`,
            ),
        );
        assert.deepEqual(locks(), [path.basename(live), `${path.basename(live)}.attrs`]);
        assert.ok(!r.calls.some((c) => / stack (export|import) /.test(c)), "the state is not touched");
        fs.rmSync(live);
        fs.rmSync(`${live}.attrs`);

        const foreign = lock(4242, { hostname: "elsewhere" });
        const f = recover();
        assert.equal(f.status, 1);
        assert.match(
            f.stderr,
            /locked by pid 4242 on another machine \(root@elsewhere, .*if it does not: pulumi --cwd \/nowhere --non-interactive --stack sim cancel --yes/,
        );
        assert.ok(fs.existsSync(foreign));
        fs.rmSync(foreign);
        fs.rmSync(`${foreign}.attrs`);
    });
});

describe("recover.sh: pending operations", () => {
    it("up: each is named, all are cleared by export | import, an interrupted delete is printed for --replace", () => {
        exportWith([
            { type: "creating", urn: CREATE },
            { type: "updating", urn: UPDATE },
            { type: "deleting", urn: DELETE },
        ]);
        const r = recover("--pending", "up");
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, `--replace\n${DELETE}\n`);
        const lines = r.stderr.trimEnd().split("\n");
        assert.deepEqual(lines, [
            `recover: interrupted while creating: km1-kubeadm-init (${CREATE}): not in the state: the next up creates it again`,
            `recover: interrupted while updating: kn1-sysctl (${UPDATE}): the state keeps its old inputs: the next up updates it again`,
            `recover: interrupted while deleting: kn1-repo (${DELETE}): still in the state: the next up replaces it (--replace), its remove and its create run again`,
            "recover: 3 pending operation(s) of a killed run cleared from the state of stack sim (pulumi stack export, then pulumi stack import, which drops them)",
        ]);
        assert.ok(fs.existsSync(path.join(dir, "imported.json")), "stack import ran");
        assert.match(r.calls[2], /^--cwd \/nowhere --non-interactive --stack sim stack import --file /);
    });

    it("up: a Kubernetes object's create is kept in the state under its id, and the next up refreshes first", () => {
        const svc =
            "urn:pulumi:sim::kubevirt-lab::kubevirt-lab:addons:IngressNginx$kubernetes:core/v1:Service::ingress-nginx/ingress-nginx";
        const crd =
            "urn:pulumi:sim::kubevirt-lab::kubevirt-lab:addons:KubeVirt$kubernetes:apiextensions.k8s.io/v1beta1:CustomResourceDefinition::offlinevirtualmachines.kubevirt.io";
        const inputs = { apiVersion: "v1", kind: "Service", metadata: { name: "ingress-nginx", namespace: "ingress-nginx" } };
        const k8s = { custom: true, type: "kubernetes:core/v1:Service", inputs };
        exportWith([
            { type: "creating", urn: svc, resource: k8s },
            {
                type: "creating",
                urn: crd,
                resource: {
                    ...k8s,
                    type: "kubernetes:apiextensions.k8s.io/v1beta1:CustomResourceDefinition",
                    inputs: { metadata: { name: "offlinevirtualmachines.kubevirt.io" } },
                },
            },
            { type: "creating", urn: CREATE, resource: { custom: true, type: "command:remote:Command", inputs: {} } },
            { type: "deleting", urn: DELETE },
        ]);
        const r = recover("--pending", "up");
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, `--refresh\n--replace\n${DELETE}\n`);
        assert.match(
            r.stderr,
            /interrupted while creating: ingress-nginx\/ingress-nginx \(.*\): a Kubernetes object whose create may have reached the API server: kept in the state as ingress-nginx\/ingress-nginx; the next up reads it back first \(--refresh\), and creates it only if it is not there/,
        );
        assert.match(r.stderr, /interrupted while creating: km1-kubeadm-init \(.*\): not in the state: the next up creates it again/);
        const imported = JSON.parse(fs.readFileSync(path.join(dir, "imported.json"), "utf8")).deployment;
        assert.deepEqual(
            imported.resources.map((x: any) => [x.urn, x.id, x.outputs.metadata.name]),
            [
                [svc, "ingress-nginx/ingress-nginx", "ingress-nginx"],
                [crd, "offlinevirtualmachines.kubevirt.io", "offlinevirtualmachines.kubevirt.io"],
            ],
            "the two objects in the state, a namespaced one as <namespace>/<name>, a cluster-wide one as <name>",
        );
        // destroy: kept too, so that the destroy deletes it; no --refresh
        exportWith([{ type: "creating", urn: svc, resource: k8s }]);
        const d = recover("--pending", "destroy");
        assert.equal(d.stdout, "");
        assert.match(d.stderr, /kept in the state as ingress-nginx\/ingress-nginx; the next destroy deletes it/);
        const kept = JSON.parse(fs.readFileSync(path.join(dir, "imported.json"), "utf8")).deployment.resources;
        assert.deepEqual(
            kept.map((x: any) => x.id),
            ["ingress-nginx/ingress-nginx"],
        );
    });

    it("destroy: no --replace (destroy deletes it again); keep: the state is not read", () => {
        exportWith([{ type: "deleting", urn: DELETE }]);
        const d = recover("--pending", "destroy");
        assert.equal(d.status, 0, d.stderr);
        assert.equal(d.stdout, "");
        assert.match(d.stderr, /still in the state: the next destroy deletes it again/);
        assert.ok(fs.existsSync(path.join(dir, "imported.json")));
        const k = recover("--pending", "keep");
        assert.equal(k.status, 0, k.stderr);
        assert.equal(k.stderr, "");
        assert.equal(k.calls.length, 1, "only the stack's name");
    });

    it("not a file backend: says so and does nothing", () => {
        const r = spawnSync("bash", [RECOVER, "--pending", "up", "--", "pulumi"], {
            encoding: "utf8",
            env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, PULUMI_BACKEND_URL: "https://api.pulumi.com" },
        });
        assert.equal(r.status, 0);
        assert.match(r.stderr, /^recover: PULUMI_BACKEND_URL is not a file:\/\/ backend/);
    });
});
