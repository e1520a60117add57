// What the app stage gets inside the simulated lab (harness/app-stage.sh), without a lab: two
// network namespaces made here and removed after, joined by a veth pair, with no other link and no
// route out of them. In "mirror" (10.213.0.1): the app's mirror as the lab's mirror host serves it
// (harness/simlab/mirror-app.sh into a folder, python's http.server) and the lab's mongod (the
// guests' packages: FerretDB v1.24.2 behind it) with the configuration file the mongodb role
// writes. In "vm" (10.213.0.2), as the nodejs VM: git clones nodejs-ex over HTTP (dumb protocol)
// and checks out the tag 93fc25f; npm installs the app's dependencies from the mirror's registry
// (Node 20's npm, --production): exactly the harness's lockfile; the `mongo` of the guests' packages
// (mongosh with the legacy shell's db.auth) runs the mongodb role's user scripts, as the role does;
// and the app's own server.js, with its 2018 driver (mongodb 2.2.36, OP_QUERY), logs in with
// SCRAM-SHA-1, inserts and counts: the page-view count grows.
//
// Skipped, with the reason, where the parts are not built (`harness/app-stage.sh --check`) or
// namespaces cannot be made (needs root, iproute2, util-linux, git, python3, npm).
import assert from "node:assert/strict";
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";

const REPO = path.join(__dirname, "..");
const APP_STAGE = path.join(REPO, "harness", "app-stage.sh");
const MIRROR_APP = path.join(REPO, "harness", "simlab", "mirror-app.sh");
const LOCK = path.join(REPO, "harness", "app-mirror", "nodejs-ex", "package-lock.json");
const TEMPLATES = path.join(REPO, "ansible", "roles", "mongodb", "templates");
const CACHE = process.env.KUBEVIRT_LAB_CACHE ?? path.join(os.homedir(), ".cache", "kubevirt-lab");
const LAYER = path.join(CACHE, "dataplane", "bin", "guest-packages");
/** Not "kvl-...": `harness/simlab.sh down` takes down every namespace named kvl-<a-z...>. */
const NS = { mirror: `kvl_appstage_${process.pid}_mirror`, vm: `kvl_appstage_${process.pid}_vm` };
const IP = { mirror: "10.213.0.1", vm: "10.213.0.2" };
const HTTP_PORT = 8080;
const ORIGIN = `http://${IP.mirror}:${HTTP_PORT}`;
const PASSWORDS = { admin: "admin-pw.123", app: "nodejs-pw_456" };

function skipReason(): string | false {
    if (process.platform !== "linux") return "needs Linux (namespaces)";
    if (process.getuid?.() !== 0) return "needs root (network and mount namespaces)";
    for (const tool of ["ip", "unshare", "git", "python3", "npm", "node", "curl"]) {
        if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) return `needs ${tool}`;
    }
    const check = spawnSync("bash", [APP_STAGE, "--check"], { encoding: "utf8", timeout: 60_000 });
    if (check.status !== 0) return `the app stage's parts are not built (${(check.stderr || "").trim()}): run bash harness/app-stage.sh`;
    return false;
}

const skip = skipReason();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function run(cmd: string, args: string[], opts: { timeout?: number; input?: string; cwd?: string } = {}) {
    const r = spawnSync(cmd, args, { encoding: "utf8", timeout: opts.timeout ?? 30_000, input: opts.input, cwd: opts.cwd });
    return { code: r.status, out: r.stdout ?? "", err: `${r.stderr ?? ""}${r.error ? String(r.error) : ""}` };
}

function must(cmd: string, args: string[], opts: { timeout?: number; input?: string; cwd?: string } = {}): string {
    const r = run(cmd, args, opts);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: exit ${r.code}: ${r.err.trim()}`);
    return r.out;
}

/** A command in a namespace. */
const inNs = (ns: string, cmd: string, ...args: string[]): [string, string[]] => ["ip", ["netns", "exec", ns, cmd, ...args]];

/** A command in a namespace with the guests' packages at /usr/local (a private mount namespace). */
function inGuest(ns: string, script: string, home: string): [string, string[]] {
    const [cmd, args] = inNs(
        ns,
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "bash",
        "-c",
        // mongosh's global configuration is /etc/mongosh.conf in the guests (no telemetry): here the layer's, by its test variable
        `mount --bind ${LAYER}/usr/local /usr/local && HOME=${"$"}1 MONGOSH_GLOBAL_CONFIG_FILE_FOR_TESTING=${LAYER}/etc/mongosh.conf ${script}`,
    );
    return [cmd, [...args, "guest", home]];
}

/** Until `ok()` holds, every 200 ms, for at most `ms` (then fails naming `what`). */
async function until(what: string, ok: () => boolean, ms: number): Promise<void> {
    for (const deadline = Date.now() + ms; !ok(); await sleep(200)) {
        if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    }
}

/** The role's template rendered as Ansible renders it for these variables (its filters: to_json, comment). */
function renderTemplate(file: string, vars: Record<string, string>): string {
    return fs
        .readFileSync(path.join(TEMPLATES, file), "utf8")
        .replace(/\{\{ ansible_managed \| comment\('c'\) \| trim \}\}/g, "Ansible managed")
        .replace(/\{\{ (\w+) \| to_json \}\}/g, (_, k: string) => {
            assert.ok(k in vars, `a value for ${k}`);
            return JSON.stringify(vars[k]);
        });
}

/** GET / of the app in the vm namespace: the count of `<span class="code" id="count-value">N</span>`. */
function pageCount(): number {
    const out = must(...inNs(NS.vm, "curl", "-s", "--max-time", "10", "http://127.0.0.1:8080/"));
    const m = /<span class="code" id="count-value">\s*(\d+)\s*<\/span>/.exec(out);
    assert.ok(m, `a page-view count in the page (${out.length} bytes: ${out.slice(0, 200)})`);
    return Number(m![1]);
}

describe("the app stage's parts, in namespaces with no route out", { skip, timeout: 120_000 }, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-app-stage-"));
    const www = path.join(dir, "www");
    const db = path.join(dir, "db");
    const conf = path.join(dir, "mongod.conf");
    const log = path.join(dir, "mongod.log");
    const pidFile = path.join(dir, "mongod.pid");
    const app = path.join(dir, "app");
    const procs: ChildProcess[] = [];
    let appOut = "";

    before(() => {
        for (const ns of Object.values(NS)) must("ip", ["netns", "add", ns]);
        must("ip", ["-n", NS.mirror, "link", "set", "lo", "up"]);
        must("ip", ["-n", NS.vm, "link", "set", "lo", "up"]);
        must("ip", ["-n", NS.mirror, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", NS.vm]);
        must("ip", ["-n", NS.mirror, "addr", "add", `${IP.mirror}/24`, "dev", "eth0"]);
        must("ip", ["-n", NS.vm, "addr", "add", `${IP.vm}/24`, "dev", "eth0"]);
        must("ip", ["-n", NS.mirror, "link", "set", "eth0", "up"]);
        must("ip", ["-n", NS.vm, "link", "set", "eth0", "up"]);
        must("bash", [MIRROR_APP, www, ORIGIN]);
        const server = spawn(
            ...inNs(NS.mirror, "python3", "-m", "http.server", String(HTTP_PORT), "--bind", IP.mirror, "--directory", www),
            {
                stdio: "ignore",
            },
        );
        procs.push(server);
    });

    after(() => {
        for (const p of procs) p.kill("SIGKILL");
        if (fs.existsSync(pidFile)) {
            const pid = Number(fs.readFileSync(pidFile, "utf8").trim());
            if (pid > 0) run("kill", [String(pid)]);
        }
        for (const ns of Object.values(NS)) {
            // what is left in them (mongod's child FerretDB, a git or npm cut off by a failure), by pid
            for (let i = 0; i < 20; i++) {
                const pids = run("ip", ["netns", "pids", ns]).out.split(/\s+/).filter(Boolean);
                if (pids.length === 0) break;
                run("kill", [i < 10 ? "-TERM" : "-KILL", ...pids]);
                spawnSync("sleep", ["0.2"]);
            }
            run("ip", ["netns", "delete", ns]);
        }
        fs.rmSync(dir, { recursive: true, force: true });
    });

    test("no route out of the namespaces: the veth's own /24 only", () => {
        for (const ns of Object.values(NS)) {
            const routes = must("ip", ["-n", ns, "-4", "route"]).trim().split("\n");
            assert.equal(routes.length, 1, routes.join("\n"));
            assert.match(routes[0], /^10\.213\.0\.0\/24 dev eth0 proto kernel scope link /);
        }
    });

    test("git clones nodejs-ex from the mirror over HTTP and checks out the tag 93fc25f: the archive's tree", async () => {
        await until(
            "the mirror's http.server",
            () => run(...inNs(NS.vm, "curl", "-sf", "--max-time", "2", `${ORIGIN}/github.com/sclorg/nodejs-ex/info/refs`)).code === 0,
            10_000,
        );
        must(
            ...inNs(
                NS.vm,
                "git",
                "-c",
                "advice.detachedHead=false",
                "clone",
                "-q",
                "--no-checkout",
                `${ORIGIN}/github.com/sclorg/nodejs-ex`,
                app,
            ),
            { timeout: 60_000 },
        );
        must("git", ["-C", app, "-c", "advice.detachedHead=false", "checkout", "-q", "93fc25f"]);
        const log = must("git", ["-C", app, "log", "--format=%s%n%b", "-1"]);
        assert.match(log, /^nodejs-ex at sclorg\/nodejs-ex@93fc25fd35068aa311f4722e4d7e5187b06edd7b\n/);
        assert.match(log, /cannot have the original's hash/);
        const tree = fs.mkdtempSync(path.join(dir, "archive-"));
        must("tar", [
            "-xzf",
            path.join(REPO, "..", "shared", "upstream", "dataplane", "nodejs-ex-93fc25f.tar.gz"),
            "-C",
            tree,
            "--strip-components=1",
        ]);
        const diff = run("diff", ["-r", "--exclude=.git", tree, app]);
        assert.equal(diff.code, 0, `the checkout is the archive's tree:\n${diff.out}`);
        assert.equal(must("git", ["-C", app, "rev-parse", "master"]), must("git", ["-C", app, "rev-parse", "93fc25f^{commit}"]));
    });

    test("npm (Node 20's, --production) installs the app's dependencies from the mirror's registry: the harness's lockfile", () => {
        const npm = run(
            ...inNs(
                NS.vm,
                // the guest's own environment: none of the npm_config_* that npm test passes down
                // (an omit-lockfile-registry-resolved in the operator's ~/.npmrc hides where each came from)
                "env",
                "-i",
                `PATH=${process.env.PATH}`,
                `HOME=${dir}`,
                "npm",
                "install",
                "--production",
                "--no-audit",
                "--no-fund",
                `--registry=${ORIGIN}/registry.npmjs.org/`,
                `--cache=${path.join(dir, "npm-cache")}`,
            ),
            { cwd: app, timeout: 90_000 },
        );
        assert.equal(npm.code, 0, `npm install: ${npm.err}`);
        const got = JSON.parse(fs.readFileSync(path.join(app, "package-lock.json"), "utf8")).packages as Record<
            string,
            { version?: string; resolved?: string }
        >;
        const want = JSON.parse(fs.readFileSync(LOCK, "utf8")).packages as Record<string, { version?: string }>;
        const differ = [...new Set([...Object.keys(got), ...Object.keys(want)])].filter((k) => k && got[k]?.version !== want[k]?.version);
        assert.deepEqual(differ, [], "the installed tree is the lockfile's");
        const elsewhere = Object.entries(got).filter(([k, v]) => k && !v.resolved?.startsWith(`${ORIGIN}/registry.npmjs.org/-/`));
        assert.deepEqual(elsewhere, [], "every tarball from the mirror");
        assert.equal(JSON.parse(fs.readFileSync(path.join(app, "node_modules", "mongodb", "package.json"), "utf8")).version, "2.2.36");
    });

    test("the lab's mongod, the role's user scripts through `mongo`, and the app's server.js with its 2018 driver: the count grows", async () => {
        fs.mkdirSync(db);
        // the mongodb role's mongod.conf (templates/mongod.conf.j2) with this test's paths
        fs.writeFileSync(
            conf,
            [
                "systemLog:",
                "  destination: file",
                `  path: ${log}`,
                "  logAppend: true",
                "processManagement:",
                "  fork: true",
                `  pidFilePath: ${pidFile}`,
                "net:",
                "  port: 27017",
                "  bindIp: 0.0.0.0",
                "storage:",
                `  dbPath: ${db}`,
                "",
            ].join("\n"),
        );
        // Fedora's unit: ExecStart=/usr/bin/mongod $OPTIONS run, OPTIONS="--quiet -f /etc/mongod.conf" (Type=forking)
        const started = run(...inNs(NS.mirror, path.join(LAYER, "usr/local/bin/mongod"), "--quiet", "-f", conf, "run"), {
            timeout: 60_000,
        });
        assert.equal(started.code, 0, `mongod: ${started.out}${started.err}`);
        assert.match(started.out, /child process started successfully, parent exiting/);
        assert.match(fs.readFileSync(log, "utf8"), /waiting for connections on port 27017/);

        // ansible/roles/mongodb/tasks/users.yml, on the mongodb VM: each script twice (created, then exists)
        const vars = {
            mongodb_admin_user: "admin",
            mongodb_admin_password: PASSWORDS.admin,
            mongodb_app_database: "nodejs",
            mongodb_app_user: "nodejs",
            mongodb_app_password: PASSWORDS.app,
        };
        const mongo = (script: string) =>
            run(...inGuest(NS.mirror, "mongo --quiet --norc --host 127.0.0.1 --port 27017 admin", dir), {
                input: renderTemplate(script, vars),
                timeout: 60_000,
            });
        for (const [script, first, second] of [
            ["create-admin.js.j2", "kubevirt-lab: admin created", "kubevirt-lab: admin exists"],
            ["create-app-user.js.j2", "kubevirt-lab: user created", "kubevirt-lab: user exists"],
        ]) {
            for (const marker of [first, second]) {
                const r = mongo(script);
                assert.equal(r.code, 0, `${script}: ${r.out}${r.err}`);
                assert.ok(r.out.includes(marker), `${script}: "${marker}" in\n${r.out}`);
            }
        }

        // the app as nodejs.service runs it: MONGO_URL from /etc/sysconfig/nodejs, PORT=8080
        const url = `mongodb://nodejs:${PASSWORDS.app}@${IP.mirror}/nodejs`;
        const server = spawn(...inNs(NS.vm, "env", `MONGO_URL=${url}`, "PORT=8080", "node", path.join(app, "server.js")), { cwd: app });
        procs.push(server);
        server.stdout!.on("data", (b: Buffer) => (appOut += b.toString()));
        server.stderr!.on("data", (b: Buffer) => (appOut += b.toString()));
        await until("the app's 'Connected to MongoDB at'", () => appOut.includes("Connected to MongoDB at:"), 20_000);
        assert.match(appOut, new RegExp(`Connected to MongoDB at: ${url.replace(/[.]/g, "\\.")}\n`));
        const counts = [pageCount(), pageCount(), pageCount()];
        assert.ok(counts[0] >= 1 && counts[1] > counts[0] && counts[2] > counts[1], `the count grows with each view: ${counts.join(", ")}`);

        const mongodLog = fs.readFileSync(log, "utf8");
        assert.match(
            mongodLog,
            /Successfully authenticated as principal nodejs on nodejs/,
            "the app logged in (SCRAM-SHA-1 of the 2018 driver)",
        );
        assert.match(mongodLog, /createUser nodejs@nodejs: roles readWrite@nodejs not kept/);

        // a wrong password is refused: the login is real
        const wrong = run(
            ...inNs(
                NS.vm,
                "node",
                "-e",
                `require(${JSON.stringify(path.join(app, "node_modules", "mongodb"))}).connect(process.argv[1], (err, c) => { console.log(err ? "refused: " + err.message : "connected"); if (c) c.close(); process.exit(0); })`,
                `mongodb://nodejs:not-the-password@${IP.mirror}/nodejs`,
            ),
            { timeout: 30_000 },
        );
        assert.match(wrong.out, /^refused: .*Authentication failed/m, wrong.out + wrong.err);
    });
});
