/**
 * shellcheck over every shell script of the project: *.sh under scripts/ and
 * steps/ (steps/lib.sh too, and followed from each step script's `source`
 * line: -x with source path SCRIPTDIR) and every file of harness/standins/bin
 * (the stand-ins have no extension; sim-lib.sh is sourced by them) at severity
 * "style", *.sh under tools/ at "warning". The host scripts as sent to a host
 * (lib.sh inlined) are checked in test/steps.test.ts.
 * Fails listing each finding as file:line:column: level: message [SCxxxx].
 * The files are checked by two shellcheck processes at once (2 cores).
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";

const ROOT = path.resolve(__dirname, "..");

function walk(dir: string, keep: (file: string) => boolean): string[] {
    if (!fs.existsSync(dir)) return [];
    const out: string[] = [];
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) {
            if (e.name !== "node_modules" && !e.name.startsWith(".")) out.push(...walk(p, keep));
        } else if (e.isFile() && keep(p)) out.push(p);
    }
    return out;
}

const isShell = (file: string) => file.endsWith(".sh") || /^#!.*\b(ba)?sh\b/.test(fs.readFileSync(file, "utf8").split("\n", 1)[0]);

/** The files this test checks, relative to the repository root, with the severity they must pass. */
export function shellFiles(): { file: string; severity: "style" | "warning" }[] {
    const rel = (f: string) => path.relative(ROOT, f);
    return [
        ...walk(path.join(ROOT, "scripts"), (f) => f.endsWith(".sh")).map((f) => ({ file: rel(f), severity: "style" as const })),
        ...walk(path.join(ROOT, "steps"), (f) => f.endsWith(".sh")).map((f) => ({ file: rel(f), severity: "style" as const })),
        ...walk(path.join(ROOT, "harness", "standins", "bin"), isShell).map((f) => ({ file: rel(f), severity: "style" as const })),
        ...walk(path.join(ROOT, "tools"), (f) => f.endsWith(".sh")).map((f) => ({ file: rel(f), severity: "warning" as const })),
    ].sort((a, b) => a.file.localeCompare(b.file));
}

function shellcheck(severity: string, files: string[]): Promise<string> {
    if (files.length === 0) return Promise.resolve("");
    return new Promise((resolve, reject) => {
        const child = spawn("shellcheck", ["-S", severity, "-x", "-P", "SCRIPTDIR", "-f", "gcc", ...files], { cwd: ROOT });
        let out = "";
        child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
        child.stderr.setEncoding("utf8").on("data", (d: string) => (out += d));
        child.on("error", reject);
        child.on("close", (code) => resolve(code === 0 ? out.trim() : out.trim() || `shellcheck exited ${code}`));
    });
}

describe("shellcheck", () => {
    it("finds the host scripts and the stand-ins", () => {
        const files = shellFiles().map((f) => f.file);
        for (const f of [
            "steps/repo/repo.sh",
            "steps/kubeadm-join/kubeadm-join.sh",
            "steps/lib.sh",
            "harness/standins/bin/kubeadm",
            "harness/standins/bin/sim-lib.sh",
        ]) {
            assert.ok(files.includes(f), `${f} is checked`);
        }
    });

    it("reports nothing (style for scripts/, steps/ and the stand-ins, warning for tools/)", async () => {
        const version = spawnSync("shellcheck", ["--version"], { encoding: "utf8" });
        assert.equal(version.status, 0, "shellcheck is not installed (Debian: apt-get install shellcheck)");
        const all = shellFiles();
        const style = all.filter((f) => f.severity === "style").map((f) => f.file);
        const warning = all.filter((f) => f.severity === "warning").map((f) => f.file);
        // two processes of about the same size
        const half = Math.ceil((style.length + warning.length) / 2);
        const jobs = [shellcheck("style", style.slice(0, half)), shellcheck("style", style.slice(half)), shellcheck("warning", warning)];
        const findings = (await Promise.all(jobs)).filter((f) => f !== "").join("\n");
        assert.equal(findings, "", `shellcheck findings in ${all.length} files:\n${findings}`);
    });
});
