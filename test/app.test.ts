// The shell line the App component runs on the operator's machine, run for
// real with bash and the real ansible/run-playbook.sh; only ansible-playbook
// is a recording stand-in. The inventory reaches it as a file, the passwords
// as a 0600 vars file, and nothing is left behind, pass or fail.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { inventory, playbookCommand } from "../components/app";
import { LabConfigError, parseConfig } from "../components/config";
import { runProgram } from "./lib/graph";
import { REPO, sourceOf, stackConfig } from "./lib/stack";

const SECRETS = JSON.stringify({ mongodb_admin_password: "admin-pw-123", mongodb_app_password: "app-pw-456" });

function runPlaybookLine(exitCode: number, skipTags: string[] = []) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-app-"));
    fs.mkdirSync(path.join(dir, "ansible"));
    fs.copyFileSync(path.join(REPO, "ansible/run-playbook.sh"), path.join(dir, "ansible/run-playbook.sh"));
    fs.mkdirSync(path.join(dir, "bin"));
    fs.mkdirSync(path.join(dir, "tmp"));
    // ansible-playbook stand-in: records its arguments, the inventory and the vars file with its mode.
    fs.writeFileSync(
        path.join(dir, "bin/ansible-playbook"),
        `#!/bin/bash
rec=${dir}/record
printf '%s\\n' "$@" > "$rec.args"
while (($#)); do
  case $1 in
    -i) cat "$2" > "$rec.inventory"; shift ;;
    -e) f=\${2#@}; cat "$f" > "$rec.secrets"; stat -c %a "$f" > "$rec.mode"; stat -c %a "$(dirname "$f")" > "$rec.dirmode"; shift ;;
  esac
  shift
done
exit ${exitCode}
`,
        { mode: 0o755 },
    );
    const cfg = parseConfig(sourceOf(stackConfig("dev")));
    const inv = inventory({
        nodejsHost: "172.31.50.231",
        mongodbHost: "172.31.50.232",
        workload: cfg.workload,
        analyzerIp: "10.244.1.2",
    });
    const r = spawnSync("bash", ["-c", playbookCommand(inv, skipTags)], {
        cwd: dir,
        input: SECRETS,
        encoding: "utf8",
        timeout: 30000,
        env: { ...process.env, PATH: `${dir}/bin:${process.env.PATH}`, TMPDIR: `${dir}/tmp` },
    });
    const read = (f: string) => (fs.existsSync(path.join(dir, f)) ? fs.readFileSync(path.join(dir, f), "utf8") : undefined);
    const result = {
        r,
        inv,
        args: read("record.args"),
        inventory: read("record.inventory"),
        secrets: read("record.secrets"),
        mode: read("record.mode"),
        dirmode: read("record.dirmode"),
        left: fs.readdirSync(path.join(dir, "tmp")),
    };
    fs.rmSync(dir, { recursive: true });
    return result;
}

describe("the Ansible run of the App component", () => {
    it("hands ansible-playbook the inventory file and the passwords as a private vars file, then removes both", () => {
        const x = runPlaybookLine(0);
        assert.equal(x.r.status, 0, x.r.stderr);
        assert.equal(x.inventory, x.inv, "the inventory is the one built from the live lab");
        assert.match(x.inv, /ansible_port: 30022/);
        assert.equal(x.secrets?.trim(), SECRETS, "the passwords arrive through the vars file");
        assert.equal(x.mode?.trim(), "600");
        assert.equal(x.dirmode?.trim(), "700");
        assert.match(x.args ?? "", /playbooks\/main\.yml\n-e\n@.*secrets\.yml\n$/);
        // the yaml inventory plugin reads only .yml, .yaml, .json or no suffix (ansible-playbook 2.14)
        assert.match(x.args ?? "", /^-i\n\S+\/kubevirt-lab-inventory\.\w+\/inventory\.yml\n/);
        assert.ok(!(x.args ?? "").includes("app-pw-456"), "no password on the command line");
        assert.deepEqual(x.left, [], "no inventory or secrets file left in TMPDIR");
    });

    it("fails when the playbook fails, and still leaves nothing behind", () => {
        const x = runPlaybookLine(2);
        assert.equal(x.r.status, 2);
        assert.deepEqual(x.left, []);
    });
});

describe("appSkipTags", () => {
    const SIM_TAGS = ["packages", "source", "users", "service"];

    it("reaches ansible-playbook as --skip-tags a,b after the playbook's own arguments", () => {
        const x = runPlaybookLine(0, SIM_TAGS);
        assert.equal(x.r.status, 0, x.r.stderr);
        assert.match(x.args ?? "", /@.*secrets\.yml\n--skip-tags\npackages,source,users,service\n$/);
    });

    it("is --skip-tags in clear text at the end of the app-playbook command of the graph; unset, no flag", async () => {
        const g = await runProgram(stackConfig("dev", { appSkipTags: SIM_TAGS }));
        const create = String(g.byName("app-playbook").inputs.create);
        assert.match(
            create,
            /\nbash ansible\/run-playbook\.sh "\$inv" --known-hosts "\$inv_dir\/known_hosts" --skip-tags packages,source,users,service$/,
        );
        const cfg = parseConfig(sourceOf(stackConfig("dev")));
        assert.deepEqual(cfg.app.skipTags, []);
        assert.match(playbookCommand("all: {}\n", cfg.app.skipTags), /run-playbook\.sh "\$inv"$/);
    });

    it("refuses always and unknown tags, naming the key, the value and what is expected", () => {
        const problems = (v: unknown) => {
            try {
                parseConfig(sourceOf(stackConfig("dev", { appSkipTags: v })));
            } catch (e) {
                if (e instanceof LabConfigError) return e.problems;
                throw e;
            }
            return [];
        };
        assert.deepEqual(problems(["config", "always"]), [
            'kubevirt-lab:appSkipTags[1]: got "always", expected tags of the Ansible roles (packages, source, config, service, users, skydive_service; `always`, the checks of the settings, cannot be skipped)',
        ]);
        assert.match(problems(["dnf"])[0], /^kubevirt-lab:appSkipTags\[0\]: got "dnf", expected tags of the Ansible roles \(packages, /);
        assert.match(problems("packages")[0], /^kubevirt-lab:appSkipTags: got "packages", expected a list of tags of the Ansible roles/);
    });
});

describe("where the nodejs VM gets the app", () => {
    const varsOf = (create: string) =>
        YAML.parse(create.split("<<'KUBEVIRT_LAB_INVENTORY_END'\n")[1].split("\nKUBEVIRT_LAB_INVENTORY_END")[0]).all.vars;

    it("the inventory gives the nodejs role the settings' repository, version and npm registry: by default the post's commit", async () => {
        const g = await runProgram(stackConfig("dev"));
        const vars = varsOf(String(g.byName("app-playbook").inputs.create));
        assert.equal(vars.nodejs_repo_url, "https://github.com/sclorg/nodejs-ex");
        assert.equal(vars.nodejs_repo_version, "93fc25fd35068aa311f4722e4d7e5187b06edd7b");
        assert.equal(vars.nodejs_npm_registry, "https://registry.npmjs.org/");
    });

    it("a mirror of plain http inside the lab, as Pulumi.lab.yaml's", async () => {
        const g = await runProgram(
            stackConfig("dev", {
                plainHttpOrigins: ["http://172.31.50.5"],
                nodejsRepoUrl: "http://172.31.50.5/github.com/sclorg/nodejs-ex",
                nodejsRepoVersion: "93fc25f",
                npmRegistryUrl: "http://172.31.50.5/registry.npmjs.org/",
            }),
        );
        const vars = varsOf(String(g.byName("app-playbook").inputs.create));
        assert.equal(vars.nodejs_repo_url, "http://172.31.50.5/github.com/sclorg/nodejs-ex");
        assert.equal(vars.nodejs_repo_version, "93fc25f");
        assert.equal(vars.nodejs_npm_registry, "http://172.31.50.5/registry.npmjs.org/");
    });
});
