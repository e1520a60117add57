// The engine the e2e runs on is the one users run: `pulumi about` and `pulumi plugin ls` in the
// engine's environment show the pinned CLI, language host and plugins, and the plugins are the
// official providers' code (their Go build info names the official modules).
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { REPO, engineEnv } from "../../harness/lib/simlab";

const state = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-about-"));
after(() => fs.rmSync(state, { recursive: true, force: true }));

function pulumi(args: string[]) {
    const env = { ...process.env, ...engineEnv(), PULUMI_BACKEND_URL: `file://${state}`, PULUMI_CONFIG_PASSPHRASE: "about" };
    const r = spawnSync("pulumi", args, { cwd: REPO, env, encoding: "utf8", timeout: 120_000 });
    assert.equal(r.status, 0, `pulumi ${args.join(" ")}:\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
}

describe("the engine at its pinned versions", () => {
    it("pulumi version is v3.248.0", () => {
        assert.equal(pulumi(["version"]).trim(), "v3.248.0");
    });

    it("pulumi plugin ls lists command 1.2.1 and kubernetes 3.30.2, built from the official providers", () => {
        const plugins: Array<{ name: string; kind: string; version: string }> = JSON.parse(pulumi(["plugin", "ls", "--json"]));
        const find = (name: string) => plugins.find((p) => p.kind === "resource" && p.name === name);
        assert.equal(find("command")?.version, "1.2.1", JSON.stringify(plugins));
        assert.equal(find("kubernetes")?.version, "3.30.2", JSON.stringify(plugins));
        const modules: Record<string, string> = {
            command: "github.com/pulumi/pulumi-command/provider/cmd/pulumi-resource-command",
            kubernetes: "github.com/pulumi/pulumi-kubernetes/provider/v3/cmd/pulumi-resource-kubernetes",
        };
        for (const [name, mod] of Object.entries(modules)) {
            // The engine's plugin cache layout: $PULUMI_HOME/plugins/resource-<name>-v<version>/pulumi-resource-<name>.
            const home = process.env.PULUMI_HOME ?? path.join(os.homedir(), ".pulumi");
            const bin = path.join(home, "plugins", `resource-${name}-v${find(name)!.version}`, `pulumi-resource-${name}`);
            const info = spawnSync("go", ["version", "-m", bin], { encoding: "utf8" }).stdout;
            assert.match(
                info,
                new RegExp(`^\\s+path\\s+${mod.replace(/\./g, "\\.")}$`, "m"),
                `${bin} is the official ${name} provider:\n${info.slice(0, 400)}`,
            );
        }
    });

    it("pulumi about shows the CLI 3.248.0, the nodejs language host 3.248.0 and the pinned SDKs", () => {
        const about = JSON.parse(pulumi(["about", "--json"]));
        assert.equal(about.cliAbout.version, "3.248.0");
        const plugin = (kind: string, name: string) => about.plugins.find((p: any) => p.kind === kind && p.name === name)?.version;
        assert.equal(plugin("language", "nodejs"), "3.248.0", JSON.stringify(about.plugins));
        assert.equal(plugin("resource", "command"), "1.2.1");
        assert.equal(plugin("resource", "kubernetes"), "3.30.2");
        const dep = (name: string) => about.dependencies.find((d: any) => d.name === name)?.version;
        assert.equal(dep("@pulumi/pulumi"), "3.248.0");
        assert.equal(dep("@pulumi/command"), "1.2.1");
        assert.equal(dep("@pulumi/kubernetes"), "3.30.2");
    });
});
