// harness/kubernetes.sh: the real Kubernetes v1.9.4 binaries in the cache answer their versions
// (skipped, with the reason, where they have not been built: `harness/kubernetes.sh` builds them,
// about 10 min cold), and without the binaries and without `go` the script fails at once with one
// line naming what is missing instead of trying to build.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const repo = path.resolve(__dirname, "..");
const script = path.join(repo, "harness", "kubernetes.sh");
const BINARIES = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kubeadm", "kubelet", "kube-proxy"];

/** The version command of each binary and the exact output it must give. */
const VERSIONS: Record<string, { args: string[]; want: string }> = {
    etcd: { args: ["--version"], want: "etcd Version: 3.1.11" },
    kubectl: { args: ["version", "--client", "--short"], want: "Client Version: v1.9.4" },
    kubeadm: { args: ["version", "-o", "short"], want: "v1.9.4" },
};
const versionOf = (name: string) => VERSIONS[name] ?? { args: ["--version"], want: "Kubernetes v1.9.4" };

function run(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
        execFile(file, args, { timeout: 20_000 }, (err, stdout, stderr) => {
            const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
            resolve({ code, stdout: String(stdout), stderr: String(stderr) });
        });
    });
}

const check = spawnSync("bash", [script, "--check"], { encoding: "utf8", timeout: 30_000 });
const present = check.status === 0;
const skipReason = present
    ? false
    : `the Kubernetes v1.9.4 binaries are not in the cache (${check.stderr.trim() || `--check exited ${check.status}`}); ` +
      "run harness/kubernetes.sh to build them (about 10 min)";

describe("Kubernetes v1.9.4 binaries", () => {
    test("each binary in the cache answers its version", { skip: skipReason }, async () => {
        const env = spawnSync("bash", [script, "--print-env"], { encoding: "utf8", timeout: 30_000 });
        assert.equal(env.status, 0, env.stderr);
        const m = /^export KUBEVIRT_LAB_K8S_BIN=(.+)$/.exec(env.stdout.trim());
        assert.ok(m, `--print-env prints only the export line, got: ${env.stdout}`);
        const bin = m[1];
        const results = await Promise.all(BINARIES.map((name) => run(path.join(bin, name), versionOf(name).args)));
        BINARIES.forEach((name, i) => {
            const r = results[i];
            assert.equal(r.code, 0, `${name} ${versionOf(name).args.join(" ")}: ${r.stderr}`);
            if (name === "etcd") assert.equal(r.stdout.split("\n")[0], versionOf(name).want, name);
            else assert.equal(r.stdout.trim(), versionOf(name).want, name);
        });
    });
});

describe("harness/kubernetes.sh without the binaries", () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-k8s-test-"));
    const cache = path.join(tmp, "cache");
    const pathDir = path.join(tmp, "path");
    fs.mkdirSync(cache);
    fs.mkdirSync(pathDir);
    // A PATH of bash alone (and a few coreutils): no go, no getent, no curl.
    for (const tool of ["bash", "env", "cat", "mkdir", "basename"]) {
        const found = spawnSync("bash", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim();
        if (found) fs.symlinkSync(found, path.join(pathDir, tool));
    }
    const env = { PATH: pathDir, HOME: tmp, KUBEVIRT_LAB_CACHE: cache, KUBEVIRT_LAB_OFFLINE: "1" };
    const bash = path.join(pathDir, "bash");
    after(() => fs.rmSync(tmp, { recursive: true, force: true }));

    test("--check exits 1 naming all eight", () => {
        const r = spawnSync(bash, [script, "--check"], { encoding: "utf8", env, timeout: 10_000 });
        assert.equal(r.status, 1, r.stderr);
        const lines = r.stderr.trim().split("\n");
        assert.equal(lines.length, 1, r.stderr);
        for (const name of BINARIES) assert.match(lines[0], new RegExp(`\\b${name}\\b`));
        assert.equal(r.stdout, "");
    });

    test("with no go on PATH it fails fast, in one line naming what is missing", () => {
        const started = Date.now();
        const r = spawnSync(bash, [script], { encoding: "utf8", env, timeout: 10_000 });
        assert.equal(r.status, 1, r.stderr);
        assert.equal(r.stdout, "", "nothing on stdout (no export line)");
        const lines = r.stderr.trim().split("\n");
        assert.equal(lines.length, 1, `one line, got:\n${r.stderr}`);
        assert.match(lines[0], /missing/);
        assert.match(lines[0], /no 'go' on PATH/);
        for (const name of BINARIES) assert.match(lines[0], new RegExp(`\\b${name}\\b`));
        assert.deepEqual(fs.readdirSync(cache), [], "it did not start a build (the cache stays empty)");
        assert.ok(Date.now() - started < 5_000, "fast");
    });
});
