// steps/dnsmasq-records/dnsmasq-records.sh, run for real the way Pulumi runs it: the
// rendered script (lib.sh inlined) in the command line hostStep writes
// (components/remote.ts), run by the login shell, with named arguments; a
// recording `systemctl` first on PATH. Then a real dnsmasq on a loopback
// address serves the file it wrote and answers the post's names. The values
// themselves (addresses, names, the domain, the file's path) are checked by
// components/config.ts (test/config.test.ts), not here. Last, the command lines
// of the dev stack's dns-records step (golden/commands.txt).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { hostScript, renderScript } from "../../components/remote";
import { startDnsmasq } from "../../test/lib/dnsmasq";
import { act, assertCommandsGolden } from "../../test/lib/steps";

const SCRIPT = "dnsmasq-records.sh";
const USAGE =
    "usage: dnsmasq-records.sh apply --conf-path <conf-path> --ingress-domain <ingress-domain> --ingress-ip <ingress-ip> --record <record>... | remove --conf-path <conf-path>\n";

const nodes = ["km1.virtomation.com=172.31.50.221", "kn1.virtomation.com=172.31.50.231", "kn2.virtomation.com=172.31.50.232"];
const postFile = [
    "# Managed by kubevirt-lab (scripts/host/dnsmasq-records.sh): local changes are overwritten.",
    "address=/km1.virtomation.com/172.31.50.221",
    "address=/kn1.virtomation.com/172.31.50.231",
    "address=/kn2.virtomation.com/172.31.50.232",
    "",
    "# Needed for nginx-ingress",
    "address=/.ingress.virtomation.com/172.31.50.231",
    "",
].join("\n");

interface RunResult {
    code: number | null;
    stdout: string;
    stderr: string;
}

let dir: string;
let bin: string;
let calls: string;
let conf: string;

/** apply with the post's records, the wildcard to `ingressIp`, and `records` (default: the three nodes). */
const applyArgs = (ingressIp: string, records: string[] = nodes, domain = "ingress.virtomation.com"): string[] =>
    act("apply", { "conf-path": conf, "ingress-domain": domain, "ingress-ip": ingressIp, record: records });

/** Runs the production command line (as the SSH user root: no sudo) with `sh -c`, as the login shell does. */
function runScript(words: string[], extraPath: string[] = []): Promise<RunResult> {
    return new Promise((resolve, reject) => {
        const child = spawn("sh", ["-c", hostScript(SCRIPT, words, "root")], {
            env: { ...process.env, PATH: [...extraPath, bin, process.env.PATH].join(":"), DNSMASQ_CONF_DIR: path.dirname(conf) },
            stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
        child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
        const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
        child.on("error", reject);
        child.on("close", (code) => {
            clearTimeout(timer);
            resolve({ code, stdout, stderr });
        });
    });
}

function systemctlCalls(): string[] {
    return fs.existsSync(calls) ? fs.readFileSync(calls, "utf8").split("\n").filter(Boolean) : [];
}

function strayTempFiles(): string[] {
    return fs.readdirSync(path.dirname(conf)).filter((f) => f.startsWith(`.${path.basename(conf)}.`));
}

function show(r: RunResult): string {
    return `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-dnsmasq-records-"));
    bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    calls = path.join(dir, "systemctl.calls");
    // The recording stand-in: never the real systemctl. With <dir>/cut-restart it kills the
    // script that called it instead (once): a run cut off between the new file and the restart.
    fs.writeFileSync(
        path.join(bin, "systemctl"),
        `#!/bin/sh\nif [ -e '${dir}/cut-restart' ]; then rm -f '${dir}/cut-restart'; kill -KILL $PPID; exit 137; fi\n` +
            `echo "systemctl $*" >> '${calls}'\n`,
        { mode: 0o755 },
    );
    fs.mkdirSync(path.join(dir, "dnsmasq.d"));
    conf = path.join(dir, "dnsmasq.d", "virtomation.conf");
});

after(() => fs.rmSync(dir, { recursive: true, force: true }));

test("the rendered script (what reaches the host) has lib.sh inlined and shellcheck finds nothing", async () => {
    const text = renderScript(SCRIPT);
    assert.doesNotMatch(text, /kubevirt-lab:lib|lib\.sh"/, "lib.sh is inlined");
    assert.match(text, /\nkvl::main\(\) \{\n/);
    const r = await new Promise<RunResult>((resolve, reject) => {
        const child = spawn("shellcheck", ["-s", "bash", "-"], { stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
        const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
        child.on("error", reject);
        child.on("close", (code) => {
            clearTimeout(timer);
            resolve({ code, stdout, stderr: "" });
        });
        child.stdin.end(text);
    });
    assert.equal(r.code, 0, r.stdout);
});

describe("apply", () => {
    test("writes the post's file, then restarts dnsmasq once", async () => {
        const r = await runScript(applyArgs("172.31.50.231"));
        assert.equal(r.code, 0, show(r));
        assert.equal(r.stdout, "kubevirt-lab: dnsmasq-records.sh apply: changed\n");
        assert.equal(fs.readFileSync(conf, "utf8"), postFile);
        assert.equal(fs.statSync(conf).mode & 0o777, 0o644);
        assert.deepEqual(systemctlCalls(), ["systemctl restart dnsmasq"]);
        assert.deepEqual(strayTempFiles(), []);
    });

    test("the same arguments again: unchanged, no restart, file untouched", async () => {
        const before = fs.statSync(conf);
        const r = await runScript(applyArgs("172.31.50.231"));
        assert.equal(r.code, 0, show(r));
        assert.equal(r.stdout, "kubevirt-lab: dnsmasq-records.sh apply: unchanged\n");
        assert.deepEqual(systemctlCalls(), ["systemctl restart dnsmasq"]);
        assert.equal(fs.statSync(conf).mtimeMs, before.mtimeMs);
        assert.equal(fs.statSync(conf).ino, before.ino);
    });

    test("a leading dot on the ingress domain means the same thing", async () => {
        const r = await runScript(applyArgs("172.31.50.231", nodes, ".ingress.virtomation.com"));
        assert.equal(r.code, 0, show(r));
        assert.equal(r.stdout, "kubevirt-lab: dnsmasq-records.sh apply: unchanged\n");
    });

    test("a real dnsmasq serving the file answers the post's names", async () => {
        const dns = await startDnsmasq({ confFile: conf, address: "127.42.0.1" });
        try {
            const resolver = dns.resolver();
            assert.deepEqual(await resolver.resolve4("km1.virtomation.com"), ["172.31.50.221"]);
            assert.deepEqual(await resolver.resolve4("kn1.virtomation.com"), ["172.31.50.231"]);
            assert.deepEqual(await resolver.resolve4("kn2.virtomation.com"), ["172.31.50.232"]);
            assert.deepEqual(await resolver.resolve4("nodejs.ingress.virtomation.com"), ["172.31.50.231"]);
            assert.deepEqual(await resolver.resolve4("anything.ingress.virtomation.com"), ["172.31.50.231"]);
            assert.deepEqual(await resolver.resolve4("mgmt.ingress.virtomation.com"), ["172.31.50.231"]);
            // Nothing else is answered (no upstream): the names are the file's only.
            await assert.rejects(resolver.resolve4("example.org"));
        } finally {
            await dns.stop();
        }
    });

    test("new records replace the file and restart dnsmasq", async () => {
        const r = await runScript(applyArgs("172.31.50.232", nodes.slice(0, 2)));
        assert.equal(r.code, 0, show(r));
        assert.equal(r.stdout, "kubevirt-lab: dnsmasq-records.sh apply: changed\n");
        assert.match(fs.readFileSync(conf, "utf8"), /^address=\/\.ingress\.virtomation\.com\/172\.31\.50\.232$/m);
        assert.doesNotMatch(fs.readFileSync(conf, "utf8"), /kn2/);
        assert.deepEqual(systemctlCalls(), ["systemctl restart dnsmasq", "systemctl restart dnsmasq"]);
        // Back to the post's file for what follows.
        const back = await runScript(applyArgs("172.31.50.231"));
        assert.equal(back.code, 0, show(back));
        assert.equal(fs.readFileSync(conf, "utf8"), postFile);
        assert.equal(systemctlCalls().length, 3);
    });

    test("a run cut off between the new file and the restart: the next run restarts dnsmasq", async () => {
        const restarts = systemctlCalls().length;
        fs.writeFileSync(path.join(dir, "cut-restart"), "");
        const cut = await runScript(applyArgs("172.31.50.232"));
        assert.notEqual(cut.code, 0, show(cut));
        assert.match(fs.readFileSync(conf, "utf8"), /^address=\/\.ingress\.virtomation\.com\/172\.31\.50\.232$/m, "the new file is there");
        assert.equal(systemctlCalls().length, restarts, "dnsmasq not restarted yet");
        const r = await runScript(applyArgs("172.31.50.232"));
        assert.equal(r.code, 0, show(r));
        assert.equal(r.stdout, "kubevirt-lab: dnsmasq-records.sh apply: changed\n");
        assert.deepEqual(systemctlCalls().slice(restarts), ["systemctl restart dnsmasq"]);
        assert.deepEqual(strayTempFiles(), []);
        const again = await runScript(applyArgs("172.31.50.232"));
        assert.equal(again.stdout, "kubevirt-lab: dnsmasq-records.sh apply: unchanged\n", "restarted once");
        // Back to the post's file for what follows.
        assert.equal((await runScript(applyArgs("172.31.50.231"))).code, 0);
        assert.equal(fs.readFileSync(conf, "utf8"), postFile);
    });

    test("a file dnsmasq rejects is refused and the old file stays", async () => {
        // A stand-in dnsmasq whose --test fails as the real one does on a bad line.
        const badBin = path.join(dir, "bad-bin");
        fs.mkdirSync(badBin, { recursive: true });
        fs.writeFileSync(
            path.join(badBin, "dnsmasq"),
            "#!/bin/sh\nfor a; do case $a in --conf-file=*) f=${a#--conf-file=};; esac; done\n" +
                'echo "dnsmasq: bad address at line 3 of $f" >&2\nexit 1\n',
            { mode: 0o755 },
        );
        const restarts = systemctlCalls().length;
        const r = await runScript(applyArgs("172.31.50.231", ["km1.virtomation.com=172.31.50.29"]), [badBin]);
        assert.equal(r.code, 1, show(r));
        assert.match(
            r.stderr,
            /dnsmasq rejects the new records, .*virtomation\.conf is left as it was: dnsmasq: bad address at line 3 of <new .*virtomation\.conf>/,
        );
        assert.equal(r.stdout, "");
        assert.equal(fs.readFileSync(conf, "utf8"), postFile);
        assert.equal(systemctlCalls().length, restarts, "no restart after a refused file");
        assert.deepEqual(strayTempFiles(), [], "the rejected temporary file is removed");
    });

    test("the real dnsmasq --test rejects what the stand-in pretended to", async () => {
        // The validation step is the real program: show it fails on a bad line.
        const bad = path.join(dir, "bad.conf");
        fs.writeFileSync(bad, "address=/km1.virtomation.com/172.31.50.999\n");
        const r = await new Promise<number | null>((resolve, reject) => {
            const child = spawn("dnsmasq", ["--test", `--conf-file=${bad}`], { stdio: "ignore" });
            const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
            child.on("error", reject);
            child.on("close", (code) => {
                clearTimeout(timer);
                resolve(code);
            });
        });
        assert.notEqual(r, 0);
    });

    // What the host decides, and a record that is not <fqdn>=<ip>: refused before anything is written.
    const refused: Array<[string, () => string[], RegExp]> = [
        [
            "record without =",
            () => applyArgs("172.31.50.231", ["km1.virtomation.com"]),
            /^dnsmasq-records\.sh: record 'km1\.virtomation\.com' is not of the form <fqdn>=<ip>\n$/,
        ],
        ...[
            "/etc/resolv.conf",
            `${path.join(dir, "dnsmasq.d")}/../resolv.conf`,
            path.join(dir, "nope", "x.conf"),
            path.join(dir, "dnsmasq.d", ".x.conf"),
        ].map((p): [string, () => string[], RegExp] => [
            `a file out of dnsmasq's folder: ${p}`,
            () =>
                act("apply", { "conf-path": p, "ingress-domain": "ingress.virtomation.com", "ingress-ip": "172.31.50.231", record: nodes }),
            new RegExp(
                `^dnsmasq-records\\.sh: conf-path '${p.replace(/[.]/g, "\\.")}' is not a file directly in .*/dnsmasq\\.d: refused\n$`,
            ),
        ]),
        [
            "conf path is a directory",
            () => {
                fs.mkdirSync(path.join(dir, "dnsmasq.d", "adir.conf"), { recursive: true });
                return act("apply", {
                    "conf-path": path.join(dir, "dnsmasq.d", "adir.conf"),
                    "ingress-domain": "ingress.virtomation.com",
                    "ingress-ip": "172.31.50.231",
                    record: nodes,
                });
            },
            /^dnsmasq-records\.sh: conf-path '.*\/dnsmasq\.d\/adir\.conf' is a directory\n$/,
        ],
        [
            "a file of someone else's in the folder",
            () => {
                fs.writeFileSync(path.join(dir, "dnsmasq.d", "home.conf"), "address=/nas.home/192.168.1.5\n");
                return act("apply", {
                    "conf-path": path.join(dir, "dnsmasq.d", "home.conf"),
                    "ingress-domain": "ingress.virtomation.com",
                    "ingress-ip": "172.31.50.231",
                    record: nodes,
                });
            },
            /^dnsmasq-records\.sh: .*\/dnsmasq\.d\/home\.conf exists and was not written by kubevirt-lab \(no marker line\): refusing to replace it \(move it away, or set another dnsConfigPath\)\n$/,
        ],
    ];
    for (const [name, words, message] of refused) {
        test(`refuses: ${name}`, async () => {
            const restarts = systemctlCalls().length;
            const r = await runScript(words());
            assert.equal(r.code, 1, show(r));
            assert.match(r.stderr, message);
            assert.equal(r.stdout, "");
            assert.equal(fs.readFileSync(conf, "utf8"), postFile);
            const fixtures = ["adir.conf", "home.conf"]; // the cases' own
            assert.deepEqual(
                fs.readdirSync(path.dirname(conf)).filter((f) => !fixtures.includes(f)),
                [path.basename(conf)],
                "nothing else written",
            );
            if (fs.existsSync(path.join(dir, "dnsmasq.d", "home.conf")))
                assert.equal(fs.readFileSync(path.join(dir, "dnsmasq.d", "home.conf"), "utf8"), "address=/nas.home/192.168.1.5\n", "kept");
            assert.equal(systemctlCalls().length, restarts);
            assert.deepEqual(strayTempFiles(), []);
        });
    }

    test("a missing or unknown option, a positional word or an unknown action print lib.sh's usage, and nothing is done", async () => {
        const restarts = systemctlCalls().length;
        const full = applyArgs("172.31.50.231");
        const without = (option: string) => full.filter((w, i) => w !== `--${option}` && full[i - 1] !== `--${option}`);
        const cases: string[][] = [
            [],
            ["frobnicate"],
            without("record"), // --record is needed at least once
            without("conf-path"),
            without("ingress-ip"),
            [...full, "--ingress", "ingress.virtomation.com"], // unknown option
            [...full, "--conf-path", conf], // a once-only option twice
            [...full, "km1.virtomation.com=172.31.50.221"], // a positional word
            ["apply", conf, "ingress.virtomation.com", "172.31.50.231", ...nodes], // the old positional form
            ["remove"],
            ["remove", conf],
            act("remove", { "conf-path": conf, "ingress-ip": "172.31.50.231" }), // an option of apply only
        ];
        for (const words of cases) {
            const r = await runScript(words);
            assert.equal(r.code, 2, `${words.join(" ")}: ${show(r)}`);
            assert.equal(r.stderr, USAGE, words.join(" "));
            assert.equal(r.stdout, "", words.join(" "));
        }
        assert.equal(fs.readFileSync(conf, "utf8"), postFile);
        assert.equal(systemctlCalls().length, restarts);
        assert.deepEqual(strayTempFiles(), []);
    });
});

describe("remove", () => {
    test("a file someone else wrote is left in place", async () => {
        const foreign = path.join(dir, "dnsmasq.d", "theirs.conf");
        fs.writeFileSync(foreign, "address=/x.example/192.0.2.1\n");
        const restarts = systemctlCalls().length;
        const r = await runScript(act("remove", { "conf-path": foreign }));
        assert.equal(r.code, 0, show(r));
        assert.equal(r.stdout, "kubevirt-lab: dnsmasq-records.sh remove: unchanged\n");
        assert.match(r.stderr, /was not written by kubevirt-lab/);
        assert.ok(fs.existsSync(foreign));
        assert.equal(systemctlCalls().length, restarts);
    });

    test("deletes our file and restarts dnsmasq; a second remove does nothing", async () => {
        const restarts = systemctlCalls().length;
        const r = await runScript(act("remove", { "conf-path": conf }));
        assert.equal(r.code, 0, show(r));
        assert.equal(r.stdout, "kubevirt-lab: dnsmasq-records.sh remove: changed\n");
        assert.equal(fs.existsSync(conf), false);
        assert.equal(systemctlCalls().length, restarts + 1);
        assert.equal(systemctlCalls().at(-1), "systemctl restart dnsmasq");
        // Only that file: the rest of the directory is untouched.
        assert.deepEqual(fs.readdirSync(path.dirname(conf)), ["adir.conf", "home.conf", "theirs.conf"]);

        const again = await runScript(act("remove", { "conf-path": conf }));
        assert.equal(again.code, 0, show(again));
        assert.equal(again.stdout, "kubevirt-lab: dnsmasq-records.sh remove: unchanged\n");
        assert.equal(systemctlCalls().length, restarts + 1);
    });
});

test("the dev stack's dnsmasq-records.sh steps: create and delete command lines (script elided), logging, stdin, as golden/commands.txt", () => {
    assertCommandsGolden("dnsmasq-records");
});

describe("check", () => {
    test("clean after apply; a record changed by hand, or another ingress address given, is the file's drift; it writes and restarts nothing", async () => {
        const checkArgs = (ingressIp: string) => ["check", ...applyArgs(ingressIp).slice(1)];
        assert.equal((await runScript(applyArgs("172.31.50.231"))).code, 0);
        const before = systemctlCalls().length;
        const clean = await runScript(checkArgs("172.31.50.231"));
        assert.equal(clean.code, 0, show(clean));
        assert.equal(clean.stdout, `ok\tfile ${conf}\n`);
        assert.match(clean.stderr, /kubevirt-lab: dnsmasq-records\.sh check: unchanged\n$/);
        const other = await runScript(checkArgs("172.31.50.232"));
        assert.equal(
            other.stdout,
            `drift\tfile ${conf}\t${conf} line 7 "address=/.ingress.virtomation.com/172.31.50.232"\t"address=/.ingress.virtomation.com/172.31.50.231"\n`,
        );
        fs.writeFileSync(conf, postFile.replace("172.31.50.232", "172.31.50.99"));
        const edited = await runScript(checkArgs("172.31.50.231"));
        assert.match(
            edited.stdout,
            /^drift\tfile \S+\t\S+ line 4 "address=\/kn2\.virtomation\.com\/172\.31\.50\.232"\t"address=\/kn2\.virtomation\.com\/172\.31\.50\.99"\n$/,
        );
        assert.equal(fs.readFileSync(conf, "utf8"), postFile.replace("172.31.50.232", "172.31.50.99"), "the check wrote nothing");
        assert.equal(systemctlCalls().length, before, "no restart");
        assert.deepEqual(strayTempFiles(), []);
    });
});
