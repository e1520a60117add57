// harness/dataplane.sh on an empty cache: a tampered release-source archive stops the setup with a
// message naming the file and both hashes, before anything is unpacked or built; --check names
// every missing binary; without go it says so in one line. Nothing here builds (a few seconds).
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const REPO = path.join(__dirname, "..");
const DATAPLANE = path.join(REPO, "harness", "dataplane.sh");
const UPSTREAM = path.join(REPO, "..", "shared", "upstream");
const ARCHIVES = [
    "flannel-0.9.1.tar.gz",
    "kube-dns-1.14.7.tar.gz",
    "kubevirt-0.4.1.tar.gz",
    "ingress-nginx-0.13.0.tar.gz",
    "nginx-module-vts-0.1.15.tar.gz",
];
const NAMES = [
    "cni/bridge",
    "cni/host-local",
    "cni/loopback",
    "cni/portmap",
    "cni/flannel",
    "flanneld",
    "kube-dns",
    "dnsmasq-nanny",
    "sidecar",
    "virt-controller",
    "virt-api",
    "virt-handler",
    "virt-launcher",
    "nginx-ingress-controller",
    "nginx-modules/ngx_http_vhost_traffic_status_module.so",
];
const GO_BIN = path.dirname(spawnSync("bash", ["-c", "command -v go"], { encoding: "utf8" }).stdout.trim() || "/usr/local/go/bin/go");

const root = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-dataplane-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** Runs harness/dataplane.sh with its own empty cache, offline, and the given release-sources folder (its dataplane/ has the archives). */
function dataplane(args: string[], upstream: string, pathDirs = [GO_BIN, "/usr/bin", "/bin"]) {
    const cache = fs.mkdtempSync(path.join(root, "cache-"));
    const env = {
        PATH: pathDirs.join(":"),
        HOME: root,
        KUBEVIRT_LAB_CACHE: cache,
        KUBEVIRT_LAB_UPSTREAM: upstream,
        KUBEVIRT_LAB_OFFLINE: "1",
        // Never an installer: nothing here may get as far as installing nginx-dev.
        KUBEVIRT_LAB_APT: path.join(root, "no-apt-get"),
    };
    const r = spawnSync("bash", [DATAPLANE, ...args], { env, encoding: "utf8", timeout: 60_000 });
    return { ...r, cache };
}

/** A release-sources folder whose dataplane/ links the real archives, with a tampered copy of one. */
function upstreamWithTampered(tampered: string): string {
    const dir = fs.mkdtempSync(path.join(root, "upstream-"));
    fs.mkdirSync(path.join(dir, "dataplane"));
    for (const a of ARCHIVES) {
        const to = path.join(dir, "dataplane", a);
        if (a === tampered) {
            fs.copyFileSync(path.join(UPSTREAM, "dataplane", a), to);
            fs.appendFileSync(to, "tampered");
        } else fs.symlinkSync(path.join(UPSTREAM, "dataplane", a), to);
    }
    return dir;
}

describe(
    "harness/dataplane.sh",
    { skip: !fs.existsSync(path.join(UPSTREAM, "dataplane")) && `no release sources at ${UPSTREAM}/dataplane` },
    () => {
        for (const tampered of ARCHIVES) {
            it(`a tampered ${tampered} stops the setup before anything is unpacked`, () => {
                const dir = upstreamWithTampered(tampered);
                const r = dataplane([], dir);
                assert.equal(r.status, 1, `exit status; stderr:\n${r.stderr}`);
                const m = r.stderr.match(
                    /dataplane: error: (\S+): sha256 mismatch: expected ([0-9a-f]{64}), got ([0-9a-f]{64}); not building from it/,
                );
                assert.ok(m, `the mismatch message in:\n${r.stderr}`);
                assert.equal(m![1], path.join(dir, "dataplane", tampered));
                assert.notEqual(m![2], m![3]);
                const got = spawnSync("sha256sum", [path.join(dir, "dataplane", tampered)], { encoding: "utf8" }).stdout.split(" ")[0];
                assert.equal(m![3], got, "the actual hash is the file's");
                assert.ok(
                    !fs.existsSync(path.join(r.cache, "dataplane")),
                    `nothing unpacked or built: ${fs.readdirSync(r.cache).join(", ")}`,
                );
                assert.doesNotMatch(r.stderr, /usually about|still /, "no step started");
                assert.equal(r.stdout, "", "no export line");
            });
        }

        it("a tampered archive stops even a setup of its one binary", () => {
            const dir = upstreamWithTampered("kubevirt-0.4.1.tar.gz");
            const r = dataplane(["virt-handler"], dir);
            assert.equal(r.status, 1);
            assert.match(r.stderr, /dataplane: error: \S+\/kubevirt-0\.4\.1\.tar\.gz: sha256 mismatch: /);
            assert.ok(!fs.existsSync(path.join(r.cache, "dataplane")));
        });

        it("a missing archive is named with the setting that points at the folder", () => {
            const r = dataplane([], fs.mkdtempSync(path.join(root, "empty-")));
            assert.equal(r.status, 1);
            assert.match(
                r.stderr,
                /dataplane: error: flannel-0\.9\.1\.tar\.gz not found in \S+\/dataplane \(set KUBEVIRT_LAB_UPSTREAM to the folder of the release sources\)/,
            );
            assert.ok(!fs.existsSync(path.join(r.cache, "dataplane")));
        });

        it("--check names every missing binary and builds nothing", () => {
            const r = dataplane(["--check"], UPSTREAM);
            assert.equal(r.status, 1);
            assert.equal(r.stdout, "");
            assert.equal(
                r.stderr.trim(),
                `dataplane: missing or not at their versions in ${path.join(r.cache, "dataplane", "bin")}: ${NAMES.join(" ")}`,
            );
            assert.ok(!fs.existsSync(path.join(r.cache, "dataplane")));
        });

        it("--check with names looks at those only (a name, its last part, a group)", () => {
            const r = dataplane(["--check", "cni/bridge", "flanneld", "kubevirt"], UPSTREAM);
            assert.equal(r.status, 1);
            assert.match(r.stderr, /: cni\/bridge flanneld virt-controller virt-api virt-handler virt-launcher$/m);
            const bad = dataplane(["--check", "kube-proxy"], UPSTREAM);
            assert.equal(bad.status, 2);
            assert.match(bad.stderr, /^dataplane: unknown name 'kube-proxy' \(one of: cni\/bridge /);
        });

        it("without go, one line saying so", () => {
            const r = dataplane([], UPSTREAM, ["/usr/bin", "/bin"]);
            assert.equal(r.status, 1);
            assert.equal(
                r.stderr.trim(),
                `dataplane: error: missing in ${path.join(r.cache, "dataplane", "bin")}: ${NAMES.join(" ")} ` +
                    "(KUBEVIRT_LAB_OFFLINE=1, and there is no 'go' on PATH to build them)",
            );
            assert.ok(!fs.existsSync(path.join(r.cache, "dataplane")));
        });
    },
);
