// scripts/host/dnsmasq-records.sh, run for real the way Pulumi runs it
// (`bash -c "<script>" dnsmasq-records.sh args...`), with a recording
// `systemctl` first on PATH; then a real dnsmasq on a loopback address serves
// the file it wrote and answers the post's names.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startDnsmasq } from "./lib/dnsmasq";

const repo = path.resolve(__dirname, "..");
const scriptPath = path.join(repo, "scripts", "host", "dnsmasq-records.sh");
const script = fs.readFileSync(scriptPath, "utf8");

const nodes = [
  "km1.virtomation.com=172.31.50.221",
  "kn1.virtomation.com=172.31.50.231",
  "kn2.virtomation.com=172.31.50.232",
];
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

function runScript(args: string[], extraPath: string[] = []): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", script, "dnsmasq-records.sh", ...args], {
      env: { ...process.env, PATH: [...extraPath, bin, process.env.PATH].join(":") },
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
  // The recording stand-in: never the real systemctl.
  fs.writeFileSync(path.join(bin, "systemctl"), `#!/bin/sh\necho "systemctl $*" >> '${calls}'\n`, { mode: 0o755 });
  fs.mkdirSync(path.join(dir, "dnsmasq.d"));
  conf = path.join(dir, "dnsmasq.d", "virtomation.conf");
});

after(() => fs.rmSync(dir, { recursive: true, force: true }));

test("shellcheck finds nothing", async () => {
  const r = await new Promise<RunResult>((resolve, reject) => {
    const child = spawn("shellcheck", [scriptPath], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr: "" });
    });
  });
  assert.equal(r.code, 0, r.stdout);
});

describe("apply", () => {
  test("writes the post's file, then restarts dnsmasq once", async () => {
    const r = await runScript(["apply", conf, "ingress.virtomation.com", "172.31.50.231", ...nodes]);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, "kubevirt-lab: dnsmasq-records.sh apply: changed\n");
    assert.equal(fs.readFileSync(conf, "utf8"), postFile);
    assert.equal(fs.statSync(conf).mode & 0o777, 0o644);
    assert.deepEqual(systemctlCalls(), ["systemctl restart dnsmasq"]);
    assert.deepEqual(strayTempFiles(), []);
  });

  test("the same arguments again: unchanged, no restart, file untouched", async () => {
    const before = fs.statSync(conf);
    const r = await runScript(["apply", conf, "ingress.virtomation.com", "172.31.50.231", ...nodes]);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, "kubevirt-lab: dnsmasq-records.sh apply: unchanged\n");
    assert.deepEqual(systemctlCalls(), ["systemctl restart dnsmasq"]);
    assert.equal(fs.statSync(conf).mtimeMs, before.mtimeMs);
    assert.equal(fs.statSync(conf).ino, before.ino);
  });

  test("a leading dot on the ingress domain means the same thing", async () => {
    const r = await runScript(["apply", conf, ".ingress.virtomation.com", "172.31.50.231", ...nodes]);
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
    const r = await runScript(["apply", conf, "ingress.virtomation.com", "172.31.50.232", ...nodes.slice(0, 2)]);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, "kubevirt-lab: dnsmasq-records.sh apply: changed\n");
    assert.match(fs.readFileSync(conf, "utf8"), /^address=\/\.ingress\.virtomation\.com\/172\.31\.50\.232$/m);
    assert.doesNotMatch(fs.readFileSync(conf, "utf8"), /kn2/);
    assert.deepEqual(systemctlCalls(), ["systemctl restart dnsmasq", "systemctl restart dnsmasq"]);
    // Back to the post's file for what follows.
    const back = await runScript(["apply", conf, "ingress.virtomation.com", "172.31.50.231", ...nodes]);
    assert.equal(back.code, 0, show(back));
    assert.equal(fs.readFileSync(conf, "utf8"), postFile);
    assert.equal(systemctlCalls().length, 3);
  });

  test("a file dnsmasq rejects is refused and the old file stays", async () => {
    // A stand-in dnsmasq whose --test fails as the real one does on a bad line.
    const badBin = path.join(dir, "bad-bin");
    fs.mkdirSync(badBin, { recursive: true });
    fs.writeFileSync(
      path.join(badBin, "dnsmasq"),
      '#!/bin/sh\nfor a; do case $a in --conf-file=*) f=${a#--conf-file=};; esac; done\n' +
        'echo "dnsmasq: bad address at line 3 of $f" >&2\nexit 1\n',
      { mode: 0o755 },
    );
    const restarts = systemctlCalls().length;
    const r = await runScript(["apply", conf, "ingress.virtomation.com", "172.31.50.231", "km1.virtomation.com=172.31.50.29"], [badBin]);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /dnsmasq rejects the new records, .*virtomation\.conf is left as it was: dnsmasq: bad address at line 3 of <new .*virtomation\.conf>/);
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

  const invalid: Array<[string, string[], RegExp]> = [
    ["ingress IP out of range", [conf, "ingress.virtomation.com", "172.31.50.256", ...nodes], /ingress-ip '172\.31\.50\.256' is not an IPv4 address/],
    ["ingress IP with leading zero", [conf, "ingress.virtomation.com", "172.31.050.231", ...nodes], /ingress-ip '172\.31\.050\.231' is not an IPv4 address/],
    ["ingress domain with a slash", [conf, "ingress/virtomation.com", "172.31.50.231", ...nodes], /ingress-domain 'ingress\/virtomation\.com' is not a domain name/],
    ["record without =", [conf, "ingress.virtomation.com", "172.31.50.231", "km1.virtomation.com"], /record 'km1\.virtomation\.com' is not of the form <fqdn>=<ip>/],
    ["record with a bad name", [conf, "ingress.virtomation.com", "172.31.50.231", "km1..virtomation.com=172.31.50.221"], /'km1\.\.virtomation\.com' is not a domain name/],
    ["record with a glob", [conf, "ingress.virtomation.com", "172.31.50.231", "*=172.31.50.221"], /'\*' is not a domain name/],
    ["record with a bad IP", [conf, "ingress.virtomation.com", "172.31.50.231", "km1.virtomation.com=172.31.50"], /'172\.31\.50' is not an IPv4 address/],
    ["a name given twice", [conf, "ingress.virtomation.com", "172.31.50.231", nodes[0], nodes[0]], /km1\.virtomation\.com is given twice/],
    ["relative conf path", ["virtomation.conf", "ingress.virtomation.com", "172.31.50.231", ...nodes], /conf-path 'virtomation\.conf' must be an absolute path/],
    ["conf dir missing", [path.join(dir, "nope", "x.conf"), "ingress.virtomation.com", "172.31.50.231", ...nodes], /the directory of conf-path .* does not exist/],
  ];
  for (const [name, args, message] of invalid) {
    test(`refuses invalid arguments: ${name}`, async () => {
      const restarts = systemctlCalls().length;
      const r = await runScript(["apply", ...args]);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, message);
      assert.equal(r.stdout, "");
      assert.equal(fs.readFileSync(conf, "utf8"), postFile);
      assert.equal(systemctlCalls().length, restarts);
      assert.deepEqual(strayTempFiles(), []);
    });
  }

  test("too few arguments or an unknown action print the usage", async () => {
    for (const args of [[], ["apply", conf, "ingress.virtomation.com", "172.31.50.231"], ["frobnicate"], ["remove"]]) {
      const r = await runScript(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${show(r)}`);
      assert.match(r.stderr, /^usage: dnsmasq-records\.sh apply <conf-path>/);
    }
  });
});

describe("remove", () => {
  test("a file someone else wrote is left in place", async () => {
    const foreign = path.join(dir, "dnsmasq.d", "theirs.conf");
    fs.writeFileSync(foreign, "address=/x.example/192.0.2.1\n");
    const restarts = systemctlCalls().length;
    const r = await runScript(["remove", foreign]);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, "kubevirt-lab: dnsmasq-records.sh remove: unchanged\n");
    assert.match(r.stderr, /was not written by kubevirt-lab/);
    assert.ok(fs.existsSync(foreign));
    assert.equal(systemctlCalls().length, restarts);
  });

  test("deletes our file and restarts dnsmasq; a second remove does nothing", async () => {
    const restarts = systemctlCalls().length;
    const r = await runScript(["remove", conf]);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, "kubevirt-lab: dnsmasq-records.sh remove: changed\n");
    assert.equal(fs.existsSync(conf), false);
    assert.equal(systemctlCalls().length, restarts + 1);
    assert.equal(systemctlCalls().at(-1), "systemctl restart dnsmasq");
    // Only that file: the rest of the directory is untouched.
    assert.deepEqual(fs.readdirSync(path.dirname(conf)), ["theirs.conf"]);

    const again = await runScript(["remove", conf]);
    assert.equal(again.code, 0, show(again));
    assert.equal(again.stdout, "kubevirt-lab: dnsmasq-records.sh remove: unchanged\n");
    assert.equal(systemctlCalls().length, restarts + 1);
  });
});
