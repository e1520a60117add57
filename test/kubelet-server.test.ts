// kubelet-standin-server (harness/standins/kubelet-server), the kubelet API of the kubelet
// stand-in, built by harness/kubernetes.sh from Kubernetes 1.9.4's own kubelet server code: its
// self-test (kubelet-standin-server-selftest, built beside it) without a cluster. A fake API
// server with a test CA, a network namespace (kvl_kubeletsrv_test_<pid>) holding a "container"
// (a sleep) and a listener, the records and CRI log files the TypeScript stand-in writes; then
// exec through client-go's SPDY executor (output, exit code 3, stdin, tty), logs (tail, follow,
// previous, ...), port forwarding, the read-only port, x509/TokenReview/SubjectAccessReview.
//
// Skipped, with the reason, where the binaries are not built (`harness/kubernetes.sh --check`)
// or network namespaces cannot be made (needs root and iproute2, util-linux).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

const repo = path.resolve(__dirname, "..");
/** Not "kvl-...": `harness/simlab.sh down` takes down every namespace named kvl-<a-z...>. */
const NETNS = `kvl_kubeletsrv_test_${process.pid}`;
const TIMEOUT_MS = 60_000;

function k8sBin(): string | Error {
    const check = spawnSync("bash", [path.join(repo, "harness", "kubernetes.sh"), "--check"], { encoding: "utf8", timeout: 30_000 });
    if (check.status !== 0)
        return new Error(
            `the Kubernetes v1.9.4 binaries (with kubelet-standin-server at the repository's sources) are not in the cache ` +
                `(${check.stderr.trim() || `--check exited ${check.status}`}); run harness/kubernetes.sh to build them`,
        );
    const r = spawnSync("bash", [path.join(repo, "harness", "kubernetes.sh"), "--print-env"], { encoding: "utf8", timeout: 30_000 });
    const m = /^export KUBEVIRT_LAB_K8S_BIN=(.+)$/m.exec(r.stdout);
    if (r.status !== 0 || !m) return new Error(`harness/kubernetes.sh --print-env: ${r.stderr.trim()}`);
    return m[1].trim();
}

/** The folder of the binaries, or why the test cannot run here. */
function setup(): { bin: string; skip: false } | { bin: ""; skip: string } {
    const no = (skip: string) => ({ bin: "" as const, skip });
    if (process.platform !== "linux") return no("needs Linux (network namespaces)");
    if (process.getuid?.() !== 0) return no("needs root (ip netns add, nsenter)");
    for (const tool of ["ip", "unshare", "nsenter"]) {
        if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) return no(`needs ${tool}`);
    }
    const bin = k8sBin();
    return bin instanceof Error ? no(bin.message) : { bin, skip: false };
}

const { bin, skip } = setup();

function netnsList(): string[] {
    const r = spawnSync("ip", ["netns", "list"], { encoding: "utf8" });
    return r.stdout.split("\n").map((l) => l.split(" ")[0]);
}

describe("kubelet-standin-server: the kubelet API of the stand-in (1.9.4's kubelet server)", { skip }, () => {
    test(
        "its self-test passes: exec, exit codes, tty, logs, port-forward, auth; and leaves nothing behind",
        { timeout: TIMEOUT_MS + 10_000 },
        async () => {
            const selftest = path.join(bin, "kubelet-standin-server-selftest");
            const started = Date.now();
            const args = ["--server", path.join(bin, "kubelet-standin-server"), "--netns", NETNS, "--timeout", `${TIMEOUT_MS / 1000 - 5}s`];
            const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
                const child = spawn(selftest, args, { stdio: ["ignore", "pipe", "pipe"] });
                let out = "";
                child.stdout.on("data", (d) => (out += d));
                child.stderr.on("data", (d) => (out += d));
                const killer = setTimeout(() => child.kill("SIGTERM"), TIMEOUT_MS); // it cleans up on SIGTERM
                child.on("close", (code) => {
                    clearTimeout(killer);
                    resolve({ code, out });
                });
            });
            const seconds = ((Date.now() - started) / 1000).toFixed(1);
            console.log(`kubelet-standin-server-selftest (${seconds} s):\n${r.out}`);
            assert.equal(r.code, 0, r.out);
            assert.match(r.out, /^selftest: all \d+ checks passed/m);
            for (const check of [
                "exec ip -o link",
                "exec exit code",
                "exec tty",
                "exec stdin",
                "exec leaving a process behind",
                "exec in a container that runs nothing",
                "logs",
                "logs follow",
                "port-forward",
                "webhook authentication and authorization",
            ]) {
                assert.match(r.out, new RegExp(`^ok   ${check}: `, "m"), `check "${check}"`);
            }
            assert.match(r.out, /^ok {3}exec exit code: .*code 3/m);
            assert.ok(!netnsList().includes(NETNS), `the network namespace ${NETNS} was deleted`);
            const cleanup = /^cleanup: processes ([\d ]+) stopped \(still there: 0\)/m.exec(r.out);
            assert.ok(cleanup, "the self-test stopped its servers and its container process");
            for (const pid of cleanup[1].trim().split(" ")) {
                // gone, or a zombie its new parent has not reaped yet (a process an exec left behind)
                const stat = fs.existsSync(`/proc/${pid}/stat`) ? fs.readFileSync(`/proc/${pid}/stat`, "utf8") : "";
                assert.ok(stat === "" || /\) [ZX] /.test(stat), `process ${pid} is gone: ${stat}`);
            }
        },
    );
});
