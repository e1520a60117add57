// The application playbook (ansible/): the inventory contract, syntax,
// ansible-lint's production profile, and a real run against this machine
// (connection local) of everything that needs neither Fedora, systemd nor
// network, twice: the second run must change nothing.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";

const repo = path.resolve(__dirname, "..");
const ansibleDir = path.join(repo, "ansible");
const playbook = path.join(ansibleDir, "playbooks", "main.yml");
const runPlaybook = path.join(ansibleDir, "run-playbook.sh");
const contractInventory = path.join(repo, "test", "fixtures", "ansible", "inventory.yml");
const localInventory = path.join(repo, "test", "fixtures", "ansible", "local-inventory.yml");

// Test passwords: one with characters that must be URL-encoded in MONGO_URL.
const adminPassword = "Adm1n-T3st-Secret-91c4";
const appPassword = "app p@ss/w:rd%7-Secret-5e2b";
const appPasswordEncoded = "app%20p%40ss%2Fw%3Ard%257-Secret-5e2b";

interface RunResult {
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
}

/** Runs a program with a hard time limit; never throws on a non-zero exit. */
function run(
    cmd: string,
    args: string[],
    opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs: number },
): Promise<RunResult> {
    return new Promise((resolve, reject) => {
        const child = spawn(cmd, args, { cwd: opts.cwd ?? repo, env: opts.env ?? process.env, stdio: "pipe" });
        let stdout = "";
        let stderr = "";
        child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
        child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
        const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs);
        child.on("error", (err) => {
            clearTimeout(timer);
            reject(err);
        });
        child.on("close", (code, signal) => {
            clearTimeout(timer);
            resolve({ code, signal, stdout, stderr });
        });
        child.stdin.end(opts.input ?? "");
    });
}

function show(r: RunResult): string {
    return `exit ${r.code}${r.signal ? ` (${r.signal})` : ""}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

interface Recap {
    ok: number;
    changed: number;
    unreachable: number;
    failed: number;
}

/** The PLAY RECAP lines, by host. */
function parseRecap(stdout: string): Map<string, Recap> {
    const recap = new Map<string, Recap>();
    const at = stdout.lastIndexOf("PLAY RECAP");
    assert.ok(at >= 0, `no PLAY RECAP in:\n${stdout}`);
    const re = /^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/gm;
    for (const m of stdout.slice(at).matchAll(re)) {
        recap.set(m[1], { ok: +m[2], changed: +m[3], unreachable: +m[4], failed: +m[5] });
    }
    return recap;
}

/** An environment where ansible keeps its temporary files and state in `dir`. */
function ansibleEnv(dir: string): NodeJS.ProcessEnv {
    return {
        ...process.env,
        ANSIBLE_CONFIG: path.join(ansibleDir, "ansible.cfg"),
        ANSIBLE_HOME: path.join(dir, "ansible-home"),
        ANSIBLE_LOCAL_TEMP: path.join(dir, "ansible-local-tmp"),
        ANSIBLE_REMOTE_TEMP: path.join(dir, "ansible-remote-tmp"),
        ANSIBLE_NOCOLOR: "1",
        ANSIBLE_FORCE_COLOR: "0",
        ANSIBLE_LOCALHOST_WARNING: "false",
        TMPDIR: path.join(dir, "tmp"),
    };
}

const ansibleTimeoutMs = 240_000;

describe("inventory contract and static checks", () => {
    let staticDir: string;
    before(() => {
        staticDir = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-ansible-static-"));
    });
    after(() => fs.rmSync(staticDir, { recursive: true, force: true }));
    test("the contract inventory gives each VM its NodePort and the group vars", async () => {
        const r = await run("ansible-inventory", ["-i", contractInventory, "--list"], {
            env: ansibleEnv(staticDir),
            timeoutMs: 60_000,
        });
        assert.equal(r.code, 0, show(r));
        const inv = JSON.parse(r.stdout);
        assert.deepEqual(inv.mongodb.hosts, ["mongodb-1"]);
        assert.deepEqual(inv.nodejs.hosts, ["nodejs-1"]);
        const hv = inv._meta.hostvars;
        assert.equal(hv["mongodb-1"].ansible_port, 30122);
        assert.equal(hv["nodejs-1"].ansible_port, 30022);
        for (const host of ["mongodb-1", "nodejs-1"]) {
            assert.equal(hv[host].ansible_user, "fedora", host);
            assert.equal(hv[host].ansible_become, true, host);
            assert.equal(hv[host].ansible_python_interpreter, "/usr/bin/python3", host);
            assert.match(hv[host].analyzers, /^[0-9.]+:8082$/, host);
            assert.ok(hv[host].ansible_host, host);
            for (const secret of ["mongodb_admin_password", "mongodb_app_password"]) {
                assert.equal(hv[host][secret], undefined, `${secret} must not be in the inventory`);
            }
        }
    });

    test("ansible-playbook --syntax-check passes", async () => {
        const r = await run("ansible-playbook", ["--syntax-check", "-i", contractInventory, playbook], {
            env: ansibleEnv(staticDir),
            timeoutMs: 60_000,
        });
        assert.equal(r.code, 0, show(r));
        assert.doesNotMatch(r.stdout + r.stderr, /\[WARNING\]/, show(r));
    });

    test("ansible-lint passes with the production profile, offline", async () => {
        const config = parseYaml(fs.readFileSync(path.join(ansibleDir, ".ansible-lint"), "utf8"));
        assert.equal(config.profile, "production");
        assert.equal(config.offline, true);
        assert.equal(config.skip_list, undefined, "no rule is skipped");
        assert.equal(config.warn_list, undefined, "no rule is downgraded");
        const r = await run("ansible-lint", ["--nocolor"], {
            cwd: ansibleDir,
            env: { ...ansibleEnv(staticDir), NO_COLOR: "1" },
            timeoutMs: 180_000,
        });
        assert.equal(r.code, 0, show(r));
        assert.match(r.stdout + r.stderr, /Passed with production profile: 0 failure\(s\), 0 warning\(s\)/, show(r));
    });

    test("run-playbook.sh is shellcheck-clean", async () => {
        const r = await run("shellcheck", [runPlaybook], { timeoutMs: 30_000 });
        assert.equal(r.code, 0, show(r));
    });

    test("no role default holds a password", () => {
        for (const role of ["mongodb", "nodejs", "skydive_agent"]) {
            const defaults = parseYaml(fs.readFileSync(path.join(ansibleDir, "roles", role, "defaults", "main.yml"), "utf8"));
            assert.equal(defaults.mongodb_admin_password, undefined, role);
            assert.equal(defaults.mongodb_app_password, undefined, role);
        }
    });
});

describe("real run against localhost (connection local)", () => {
    let dir: string;
    let env: NodeJS.ProcessEnv;
    let p: Record<string, string>;
    let pathsFile: string;
    const secrets = JSON.stringify({ mongodb_admin_password: adminPassword, mongodb_app_password: appPassword });
    const skipTags = "packages,service,users,source";

    // The real paths the roles write by default: the run must leave them as they were.
    const realPaths = [
        "/etc/mongod.conf",
        "/etc/sysconfig/nodejs",
        "/etc/systemd/system/nodejs.service",
        "/etc/skydive",
        "/etc/systemd/system/skydive-agent.service",
    ];
    const realBefore = new Map<string, string>();
    function fingerprint(file: string): string {
        try {
            const st = fs.statSync(file);
            return `${st.mtimeMs}:${st.size}`;
        } catch {
            return "absent";
        }
    }

    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-ansible-"));
        env = ansibleEnv(dir);
        fs.mkdirSync(env.TMPDIR!, { recursive: true });
        const etc = path.join(dir, "etc");
        fs.mkdirSync(path.join(etc, "sysconfig"), { recursive: true });
        fs.mkdirSync(path.join(etc, "systemd", "system"), { recursive: true });
        p = {
            mongodb_conf_path: path.join(etc, "mongod.conf"),
            nodejs_sysconfig_path: path.join(etc, "sysconfig", "nodejs"),
            nodejs_unit_path: path.join(etc, "systemd", "system", "nodejs.service"),
            skydive_agent_conf_path: path.join(etc, "skydive", "skydive.yml"),
            skydive_agent_unit_path: path.join(etc, "systemd", "system", "skydive-agent.service"),
        };
        pathsFile = path.join(dir, "paths.yml");
        fs.writeFileSync(
            pathsFile,
            stringifyYaml({
                ...p,
                mongodb_manage_service: false,
                nodejs_manage_service: false,
                skydive_agent_manage_service: false,
            }),
        );
        for (const f of realPaths) realBefore.set(f, fingerprint(f));
    });

    after(() => {
        for (const f of realPaths) assert.equal(fingerprint(f), realBefore.get(f), `${f} was touched`);
        fs.rmSync(dir, { recursive: true, force: true });
    });

    function playbookRun(input: string, extra: string[], runEnv = env): Promise<RunResult> {
        return run("bash", [runPlaybook, localInventory, "--skip-tags", skipTags, "-e", `@${pathsFile}`, ...extra], {
            env: runEnv,
            input,
            timeoutMs: ansibleTimeoutMs,
        });
    }

    function assertNoSecretIn(r: RunResult): void {
        for (const s of [adminPassword, appPassword, appPasswordEncoded, "p@ss/w:rd"]) {
            assert.ok(!r.stdout.includes(s), `a password appears in ansible's stdout:\n${r.stdout}`);
            assert.ok(!r.stderr.includes(s), `a password appears in ansible's stderr:\n${r.stderr}`);
        }
    }

    function assertSecretsFileGone(): void {
        const left = fs.readdirSync(env.TMPDIR!).filter((f) => f.startsWith("kubevirt-lab-ansible."));
        assert.deepEqual(left, [], "run-playbook.sh left its secrets directory behind");
    }

    test("first run renders the files and changes them", { timeout: ansibleTimeoutMs + 10_000 }, async () => {
        const r = await playbookRun(secrets, []);
        assert.equal(r.code, 0, show(r));
        const recap = parseRecap(r.stdout);
        assert.deepEqual([...recap.keys()].sort(), ["mongodb-local", "nodejs-local"]);
        for (const [host, h] of recap) {
            assert.equal(h.failed, 0, `${host}: ${show(r)}`);
            assert.equal(h.unreachable, 0, host);
            assert.ok(h.changed > 0, `${host} changed nothing on a first run`);
        }
        assertNoSecretIn(r);
        assertSecretsFileGone();

        // /etc/sysconfig/nodejs: exactly the one line, private.
        assert.equal(fs.readFileSync(p.nodejs_sysconfig_path, "utf8"), `MONGO_URL=mongodb://nodejs:${appPasswordEncoded}@mongodb/nodejs\n`);
        assert.equal(fs.statSync(p.nodejs_sysconfig_path).mode & 0o777, 0o600);

        assert.equal(
            fs.readFileSync(p.nodejs_unit_path, "utf8"),
            [
                "# Ansible managed",
                "[Unit]",
                "Description=nodejs-ex, the Node.js example application of kubevirt-lab",
                "After=network.target",
                "",
                "[Service]",
                "Type=simple",
                "WorkingDirectory=/opt/nodejs-ex",
                `EnvironmentFile=${p.nodejs_sysconfig_path}`,
                "Environment=PORT=8080",
                "ExecStart=/usr/bin/node /opt/nodejs-ex/server.js",
                "Restart=on-failure",
                "RestartSec=5",
                "",
                "[Install]",
                "WantedBy=multi-user.target",
                "",
            ].join("\n"),
        );
        assert.equal(fs.statSync(p.nodejs_unit_path).mode & 0o777, 0o644);

        const mongodConf = fs.readFileSync(p.mongodb_conf_path, "utf8");
        assert.equal(
            mongodConf,
            [
                "# Ansible managed",
                "# Written by the kubevirt-lab role mongodb.",
                "",
                "systemLog:",
                "  destination: file",
                "  path: /var/log/mongodb/mongod.log",
                "  logAppend: true",
                "",
                "processManagement:",
                "  fork: true",
                "  pidFilePath: /var/run/mongodb/mongod.pid",
                "",
                "net:",
                "  port: 27017",
                "  bindIp: 0.0.0.0",
                "",
                "storage:",
                "  dbPath: /var/lib/mongodb",
                "",
            ].join("\n"),
        );
        // And it is the YAML mongod reads, with bindIp under net.
        assert.equal(parseYaml(mongodConf).net.bindIp, "0.0.0.0");

        assert.equal(
            fs.readFileSync(p.skydive_agent_conf_path, "utf8"),
            [
                "# Ansible managed",
                "# Skydive agent of kubevirt-lab: reports this VM's topology to the analyzers.",
                "analyzers:",
                "  - 127.0.0.1:8082",
                "",
                "agent:",
                "  listen: 127.0.0.1:8081",
                "  topology:",
                "    probes:",
                "      - netlink",
                "      - netns",
                "",
            ].join("\n"),
        );
        assert.equal(
            fs.readFileSync(p.skydive_agent_unit_path, "utf8"),
            [
                "# Ansible managed",
                "[Unit]",
                "Description=Skydive agent (kubevirt-lab)",
                "Wants=network-online.target",
                "After=network-online.target",
                "",
                "[Service]",
                "Type=simple",
                `ExecStart=/usr/local/bin/skydive agent --conf ${p.skydive_agent_conf_path}`,
                "Restart=on-failure",
                "RestartSec=5",
                "",
                "[Install]",
                "WantedBy=multi-user.target",
                "",
            ].join("\n"),
        );
    });

    test("second run changes nothing", { timeout: ansibleTimeoutMs + 10_000 }, async () => {
        const r = await playbookRun(secrets, []);
        assert.equal(r.code, 0, show(r));
        const recap = parseRecap(r.stdout);
        assert.equal(recap.size, 2, show(r));
        for (const [host, h] of recap) {
            assert.equal(h.failed, 0, `${host}: ${show(r)}`);
            assert.equal(h.changed, 0, `${host} changed something on the second run:\n${r.stdout}`);
        }
        assertNoSecretIn(r);
        assertSecretsFileGone();
    });

    // The mongodb play comes first and stops the run.
    test("a missing password stops the run with a message naming the variables", { timeout: ansibleTimeoutMs + 10_000 }, async () => {
        const r = await playbookRun(JSON.stringify({ mongodb_admin_password: adminPassword }), []);
        assert.notEqual(r.code, 0, show(r));
        assert.match(r.stdout, /mongodb_admin_password and mongodb_app_password must be set to non-empty\s+strings/, show(r));
        assertNoSecretIn(r);
        assertSecretsFileGone();
    });

    test("no secrets on stdin: run-playbook.sh refuses before ansible runs", { timeout: 30_000 }, async () => {
        const r = await run("bash", [runPlaybook, localInventory], { env, input: "", timeoutMs: 20_000 });
        assert.equal(r.code, 2, show(r));
        assert.match(r.stderr, /no secrets on stdin/);
        assertSecretsFileGone();
    });

    test(
        "mongodb_authorization=true adds the security section (the post leaves it off)",
        { timeout: ansibleTimeoutMs + 10_000 },
        async () => {
            const conf = path.join(dir, "auth", "mongod.conf");
            fs.mkdirSync(path.dirname(conf), { recursive: true });
            const r = await playbookRun(secrets, [
                "--tags",
                "mongodb",
                "--limit",
                "mongodb",
                "-e",
                JSON.stringify({ mongodb_authorization: true, mongodb_conf_path: conf }),
            ]);
            assert.equal(r.code, 0, show(r));
            const text = fs.readFileSync(conf, "utf8");
            assert.ok(text.endsWith("\nsecurity:\n  authorization: enabled\n"), text);
            assert.equal(parseYaml(text).security.authorization, "enabled");
            assertNoSecretIn(r);
        },
    );

    test("skydive_agent_enabled=false leaves the agent out", { timeout: ansibleTimeoutMs + 10_000 }, async () => {
        const other = path.join(dir, "no-skydive");
        const conf = path.join(other, "skydive", "skydive.yml");
        const r = await playbookRun(secrets, [
            "--tags",
            "skydive",
            "-e",
            JSON.stringify({ skydive_agent_enabled: false, skydive_agent_conf_path: conf }),
        ]);
        assert.equal(r.code, 0, show(r));
        for (const [host, h] of parseRecap(r.stdout)) assert.equal(h.changed, 0, host);
        assert.equal(fs.existsSync(path.dirname(conf)), false);
    });
});
