// harness/engine.sh on an empty cache: a tampered release-source archive stops the setup with a
// message naming the file and both hashes, before anything is built or unpacked; --check names
// everything that is missing; without go it says so in one line.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const REPO = path.join(__dirname, "..");
const ENGINE = path.join(REPO, "harness", "engine.sh");
const UPSTREAM = path.join(REPO, "..", "shared", "upstream");
const ARCHIVES = ["pulumi-language-nodejs-3.248.0.tar.gz", "pulumi-command-1.2.1.tar.gz", "pulumi-kubernetes-3.30.2.tar.gz"];
const GO_BIN = path.dirname(spawnSync("bash", ["-c", "command -v go"], { encoding: "utf8" }).stdout.trim() || "/usr/local/go/bin/go");

const root = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-engine-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** Runs harness/engine.sh with its own empty cache and plugin dir, and the given archives folder. */
function engine(args: string[], upstream: string, pathDirs = [GO_BIN, "/usr/bin", "/bin"]) {
    const cache = fs.mkdtempSync(path.join(root, "cache-"));
    const env = {
        PATH: pathDirs.join(":"),
        HOME: root,
        KUBEVIRT_LAB_CACHE: cache,
        KUBEVIRT_LAB_UPSTREAM: upstream,
        KUBEVIRT_LAB_OFFLINE: "1",
        PULUMI_HOME: path.join(cache, "pulumi-home"),
        GOFLAGS: "-mod=mod",
    };
    const r = spawnSync("bash", [ENGINE, ...args], { env, encoding: "utf8", timeout: 60_000 });
    return { ...r, cache };
}

describe("harness/engine.sh", { skip: !fs.existsSync(UPSTREAM) && `no release sources at ${UPSTREAM}` }, () => {
    for (const tampered of ARCHIVES) {
        it(`a tampered ${tampered} stops the setup before anything is built`, () => {
            const dir = fs.mkdtempSync(path.join(root, "upstream-"));
            for (const a of ARCHIVES) fs.copyFileSync(path.join(UPSTREAM, a), path.join(dir, a));
            fs.appendFileSync(path.join(dir, tampered), "tampered");
            const r = engine([], dir);
            assert.equal(r.status, 1, `exit status; stderr:\n${r.stderr}`);
            const m = r.stderr.match(
                /engine: error: (\S+): sha256 mismatch: expected ([0-9a-f]{64}), got ([0-9a-f]{64}); not building from it/,
            );
            assert.ok(m, `the mismatch message in:\n${r.stderr}`);
            assert.equal(m![1], path.join(dir, tampered));
            assert.notEqual(m![2], m![3]);
            const got = spawnSync("sha256sum", [path.join(dir, tampered)], { encoding: "utf8" }).stdout.split(" ")[0];
            assert.equal(m![3], got, "the actual hash is the file's");
            assert.ok(!fs.existsSync(path.join(r.cache, "engine")), `nothing built or unpacked: ${fs.readdirSync(r.cache).join(", ")}`);
            assert.doesNotMatch(r.stderr, /usually about|still /, "no build started");
        });
    }

    it("a missing archive is named with the setting that points at the folder", () => {
        const r = engine([], fs.mkdtempSync(path.join(root, "empty-")));
        assert.equal(r.status, 1);
        assert.match(
            r.stderr,
            /engine: error: pulumi-language-nodejs-3\.248\.0\.tar\.gz not found in \S+ \(set KUBEVIRT_LAB_UPSTREAM to the folder of the release sources\)/,
        );
    });

    it("--check names everything missing and builds nothing", () => {
        const r = engine(["--check"], UPSTREAM);
        assert.equal(r.status, 1);
        assert.match(
            r.stderr,
            /^engine: missing: pulumi v3\.248\.0, pulumi-language-nodejs v3\.248\.0, plugin resource command v1\.2\.1, plugin resource kubernetes v3\.30\.2 \(/m,
        );
        assert.ok(!fs.existsSync(path.join(r.cache, "engine")));
    });

    it("without go, one line saying so", () => {
        const r = engine([], UPSTREAM, ["/usr/bin", "/bin"]);
        assert.equal(r.status, 1);
        assert.equal(r.stderr.trim(), "engine: error: go is not on PATH (expected /usr/local/go/bin); it builds what is missing");
    });
});
