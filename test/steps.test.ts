/**
 * What is about every host step (steps/<step>/<step>.sh, and steps/lib.sh that they share): the
 * README's conventions, what reaches a host (the script with lib.sh inlined, in clear text in the
 * command line), the named arguments (declared by each script, checked at program time; values by
 * config.ts), and that every host step of the dev stack is in the golden file of its step. The
 * tests of one step are in steps/<step>/*.test.ts (helpers: test/lib/steps.ts).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";

import { SCRIPT_END, checkArgs, hostStep, renderScript, scriptCommandLine, scriptFile, scriptOptions } from "../components/remote";
import { parseConfig } from "../components/config";
import { sourceOf, stackConfig } from "./lib/stack";
import { HOST_SCRIPTS, scriptCommand } from "./lib/sandbox";
import { act, assertCommandsGolden, hostStepSections } from "./lib/steps";

/** The scripts whose conventions these tests check (dnsmasq-records.sh and the others have tests of their own). */
const SCRIPTS = [
    "repo.sh",
    "packages.sh",
    "docker-storage.sh",
    "services.sh",
    "sysctl.sh",
    "swap.sh",
    "selinux.sh",
    "kubeadm-init.sh",
    "kubeconfig.sh",
    "flannel.sh",
    "wait-nodes.sh",
    "join-command.sh",
    "kubeadm-join.sh",
    "drain-node.sh",
    "wait-pods.sh",
    "delete-daemonsets.sh",
];

describe("host scripts", () => {
    it("every script follows the README conventions (as sent: lib.sh inlined)", () => {
        for (const s of SCRIPTS) {
            const text = renderScript(s, HOST_SCRIPTS);
            assert.match(text, /^#!\/usr\/bin\/env bash\n/, `${s}: shebang`);
            assert.match(text, /\nset -euo pipefail\n/, `${s}: set -euo pipefail`);
            assert.doesNotMatch(
                text,
                /(^|[\s;|&(])\/(usr\/)?s?bin\/(yum|rpm|systemctl|sysctl|kubeadm|kubectl|setenforce|getenforce)\b/m,
                `${s}: calls a tool by path`,
            );
            const raw = fs.readFileSync(scriptFile(s, HOST_SCRIPTS), "utf8");
            // one dispatcher (lib.sh) reads the action and the options and prints the closing line
            assert.match(raw, /\nkvl::main "\$@"\n$/, `${s}: ends with kvl::main "$@"`);
            assert.ok(scriptOptions(s, HOST_SCRIPTS), `${s}: declares its OPTIONS`);
            assert.doesNotMatch(raw, /^\s*finish\b|\$# >= 1\)\) \|\| usage|^case \$action in/m, `${s}: no dispatch of its own`);
        }
    });
});

// ---------------------------------------------------------------------------
// What reaches a host: the script with lib.sh inlined (components/remote.ts).

/** Every host script (steps/<step>/<step>.sh; lib.sh is not one: it is inlined into them). */
const ALL_SCRIPTS = fs
    .readdirSync(HOST_SCRIPTS, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(scriptFile(`${d.name}.sh`, HOST_SCRIPTS)))
    .map((d) => `${d.name}.sh`)
    .sort();
const LIB_LINE = /^.*# kubevirt-lab:lib\s*$/m;
const SOURCES_LIB = /^\s*(source|\.)\s.*\blib\.sh\b/m;

describe("rendered host scripts (lib.sh inlined)", () => {
    it("the scripts that share code name lib.sh on one marker line right after SCRIPT=", () => {
        const lib = fs.readFileSync(path.join(HOST_SCRIPTS, "lib.sh"), "utf8");
        assert.doesNotMatch(lib, LIB_LINE, "lib.sh has no marker line of its own");
        assert.doesNotMatch(lib, /^\s*set\s/m, "lib.sh sets no shell option");
        for (const s of SCRIPTS) {
            const raw = fs.readFileSync(scriptFile(s, HOST_SCRIPTS), "utf8");
            const markers = raw.split("\n").filter((l) => LIB_LINE.test(l));
            assert.equal(markers.length, 1, `${s}: one marker line`);
            assert.match(
                raw,
                /\nSCRIPT=\S+\n# shellcheck source=\.\.\/lib\.sh\n[^\n]*# kubevirt-lab:lib\n/,
                `${s}: the marker follows SCRIPT=`,
            );
        }
    });

    it("has no marker and no source of lib.sh, carries lib.sh's functions, passes bash -n and shellcheck -S warning", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-rendered-"));
        try {
            const files: string[] = [];
            for (const s of ALL_SCRIPTS) {
                const text = renderScript(s, HOST_SCRIPTS);
                assert.doesNotMatch(text, LIB_LINE, `${s}: marker left`);
                assert.doesNotMatch(text, SOURCES_LIB, `${s}: sources lib.sh`);
                assert.doesNotMatch(text, /# shellcheck source=(\.\.\/)?lib\.sh/, `${s}: source directive left`);
                if (SCRIPTS.includes(s)) assert.match(text, /\nfinish\(\) \{\n/, `${s}: lib.sh inlined`);
                const file = path.join(dir, s);
                fs.writeFileSync(file, text);
                files.push(file);
                const n = spawnSync("bash", ["-n", file], { encoding: "utf8", timeout: 10_000 });
                assert.equal(n.status, 0, `bash -n ${s}: ${n.stderr}`);
            }
            const sc = spawnSync("shellcheck", ["-S", "warning", "-s", "bash", "-f", "gcc", ...files], {
                encoding: "utf8",
                timeout: 60_000,
            });
            assert.ok(sc.status !== null && !sc.error, `shellcheck did not run: ${sc.error ?? sc.signal}`);
            assert.equal(`${sc.stdout}${sc.stderr}`.trim(), "", "shellcheck findings in the rendered scripts");
            assert.equal(sc.status, 0);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("renders from the given root (<root>/<step>/<step>.sh, <root>/lib.sh): marker and its shellcheck line replaced, lib.sh's shebang dropped", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-render-"));
        try {
            fs.writeFileSync(path.join(dir, "lib.sh"), "#!/usr/bin/env bash\n# the lib\nhello() { echo hello; }\n");
            fs.mkdirSync(path.join(dir, "t"));
            fs.writeFileSync(
                path.join(dir, "t", "t.sh"),
                '#!/usr/bin/env bash\nSCRIPT=t.sh\n# shellcheck source=../lib.sh\nsource "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh" # kubevirt-lab:lib\nhello\n',
            );
            fs.mkdirSync(path.join(dir, "plain"));
            fs.writeFileSync(path.join(dir, "plain", "plain.sh"), "#!/usr/bin/env bash\necho plain\n");
            assert.equal(renderScript("t.sh", dir), "#!/usr/bin/env bash\nSCRIPT=t.sh\n# the lib\nhello() { echo hello; }\nhello\n");
            assert.equal(renderScript("plain.sh", dir), "#!/usr/bin/env bash\necho plain\n");
            // the file run directly sources ../lib.sh, from any working directory
            for (const [cwd, file] of [
                [path.join(dir, "t"), "t.sh"],
                [os.tmpdir(), path.join(dir, "t", "t.sh")],
            ]) {
                const r = spawnSync("bash", [file], { cwd, encoding: "utf8", timeout: 10_000 });
                assert.equal(r.stdout, "hello\n", `bash ${file} in ${cwd}: ${r.stderr}`);
            }
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("a host script run directly finds ../lib.sh (usage, exit 2)", () => {
        for (const [cwd, file] of [
            [path.join(HOST_SCRIPTS, "repo"), "repo.sh"],
            [os.tmpdir(), scriptFile("repo.sh", HOST_SCRIPTS)],
        ]) {
            const r = spawnSync("bash", [file], { cwd, encoding: "utf8", timeout: 10_000 });
            assert.equal(r.status, 2, `bash ${file} in ${cwd}: ${r.stderr}`);
            assert.equal(r.stderr, "usage: repo.sh apply --baseurl <baseurl> --gpgkey <gpgkey>... | remove\n");
        }
    });

    it("the command line is the production one: the script in clear text, run by root's bash, arguments named and quoted", () => {
        const cmd = scriptCommand("repo.sh", act("apply", { baseurl: "https://x/$basearch", gpgkey: ["k"] }));
        const lines = cmd.split("\n");
        assert.equal(lines[0], `d=$(mktemp -d) && trap 'rm -rf "$d"' EXIT && cat >"$d"/repo.sh <<'${SCRIPT_END}' || exit`);
        assert.equal(`${lines.slice(1, -2).join("\n")}\n`, renderScript("repo.sh", HOST_SCRIPTS), "the rendered script, verbatim");
        assert.equal(lines[lines.length - 2], SCRIPT_END);
        assert.equal(lines[lines.length - 1], `bash "$d"/repo.sh apply --baseurl 'https://x/$basearch' --gpgkey k`);
        assert.doesNotMatch(cmd, /base64|[A-Za-z0-9+/]{100,}/, "no encoded blob");
        assert.equal(scriptCommandLine("echo hi\n", "t.sh", [], "centos").split("\n").pop(), `sudo -n bash "$d"/t.sh`);
        assert.throws(() => scriptCommandLine(`echo a\n${SCRIPT_END}\necho b\n`, "t.sh", [], "root"), /the end of its here-document/);
        assert.throws(() => scriptCommandLine("echo a\n", "t sh", [], "root"), /not a script file name/);
    });

    it("the command line runs in bash and in dash (a POSIX login shell): verbatim text, argv, stdin, exit status, no temp dir left", () => {
        const text = [
            "#!/usr/bin/env bash",
            "set -euo pipefail",
            `# quotes ' " \\ \` $HOME $(false), and a here-document of its own`,
            "cat <<'EOF'",
            "inner ' $HOME",
            "EOF",
            'printf "<%s>" "$@"; echo',
            'IFS= read -r line; echo "stdin=$line"',
            'echo "dir=$(dirname -- "$0")" >&2',
            "exit 3",
        ].join("\n");
        for (const shell of ["bash", "dash"]) {
            if (spawnSync(shell, ["-c", "true"]).status !== 0) continue;
            const cmd = scriptCommandLine(text, "t.sh", ["a b", "it's", "--x", ""], "root");
            const r = spawnSync(shell, ["-c", cmd], { input: "the join line\n", encoding: "utf8", timeout: 10_000 });
            assert.equal(r.status, 3, `${shell}: exit status of the script: ${r.stderr}`);
            assert.equal(r.stdout, "inner ' $HOME\n<a b><it's><--x><>\nstdin=the join line\n", shell);
            const dir = /^dir=(.*)$/m.exec(r.stderr)![1];
            assert.match(dir, /^\/tmp\/tmp\.\w+$/, `${shell}: a private temp dir`);
            assert.equal(fs.existsSync(dir), false, `${shell}: the temp dir is removed`);
        }
    });
});

// ---------------------------------------------------------------------------
// Named arguments: declared by each script (OPTIONS), checked at program time
// against what the components pass, values checked by config.ts only.

describe("named arguments", () => {
    it("every host script declares its options; the components' arguments match them", () => {
        for (const s of ALL_SCRIPTS) {
            const opts = scriptOptions(s, HOST_SCRIPTS);
            // apply and remove, or run; and check (OPTIONS[check], in a # kubevirt-lab:check { ... } part), or check alone
            const actions = [...(opts?.keys() ?? [])].filter((a) => a !== "check");
            assert.ok(
                actions.join(" ") === "run" || actions.sort().join(" ") === "apply remove" || (actions.length === 0 && opts?.has("check")),
                `${s}: OPTIONS`,
            );
        }
        assert.deepEqual(
            [...scriptOptions("repo.sh", HOST_SCRIPTS)!.get("apply")!],
            [
                ["baseurl", ""],
                ["gpgkey", "+"],
            ],
        );
        assert.deepEqual(
            [...scriptOptions("wait-nodes.sh", HOST_SCRIPTS)!.get("run")!],
            [
                ["timeout", ""],
                ["node", "+"],
                ["interval", "?"],
            ],
        );
    });

    it("a wrong argument fails at program time, naming the script, the action and the option", () => {
        assert.doesNotThrow(() => checkArgs("repo.sh", "apply", { baseurl: "https://x", gpgkey: ["https://k"] }));
        assert.throws(
            () => checkArgs("repo.sh", "apply", { baseurl: "https://x" }),
            /^Error: repo\.sh apply: --gpgkey is required at least once$/,
        );
        assert.throws(() => checkArgs("repo.sh", "apply", { baseurl: "https://x", gpgkey: [] }), /--gpgkey is required at least once/);
        assert.throws(
            () => checkArgs("repo.sh", "apply", { baseurl: "https://x", gpgkey: ["k"], gpgkeys: ["k"] }),
            /--gpgkeys is not one of its options/,
        );
        assert.throws(
            () => checkArgs("repo.sh", "apply", { baseurl: ["https://x"], gpgkey: ["k"] }),
            /--baseurl takes one value, not a list/,
        );
        assert.throws(() => checkArgs("repo.sh", "apply", { baseurl: "https://x", gpgkey: "k" }), /--gpgkey takes a list/);
        assert.throws(() => checkArgs("kubeadm-init.sh", "remove", {}), /kubeadm-init\.sh remove: --ssh-user is required/);
        assert.throws(() => checkArgs("kubeconfig.sh", "apply", {}), /declares no options for apply/);
        assert.doesNotThrow(() => checkArgs("docker-storage.sh", "apply", { device: undefined }), "an optional one may be left out");
        const host = { name: "km1", address: "10.0.0.1" };
        const ssh = { user: "root" } as never;
        assert.throws(
            () => hostStep("x", { host, ssh, script: "repo.sh", args: { baseurl: "https://x", gpgkey: ["k"] } }, {}),
            /repo\.sh takes apply\/remove/,
        );
        assert.throws(
            () => hostStep("x", { host, ssh, script: "flannel.sh", withActions: true, args: ["https://x"] }, {}),
            /takes named arguments/,
        );
    });

    it("the values the scripts no longer check are refused by config.ts, before any command line is written", () => {
        const refused: Array<[string, unknown]> = [
            ["yumRepoBaseUrl", "https://x y"], // repo.sh: white space
            ["kubernetesVersion", "latest"], // packages.sh, kubeadm-init.sh: a version like 1.9.4
            ["extraPackages", ["no such/package"]], // packages.sh: package names
            ["dockerStorageDevice", "vdb"], // docker-storage.sh: a device path
            ["sysctl", ["no-equals-sign"]], // sysctl.sh: key = value
            ["sysctl", ["net.ipv4.ip_forward=1"]], // sysctl.sh wrote it as "key = value"; config wants that form
            ["selinux", "off"], // selinux.sh: disabled, permissive or enforcing
            ["podNetworkCidr", "10.244.0.0"], // kubeadm-init.sh: a CIDR
            ["serviceCidr", "10.96.0.0/99"],
            ["flannelManifestUrl", "not a url"], // flannel.sh: a URL without white space
            ["joinTokenTtl", "1 day"], // join-command.sh: a Go duration
            ["nodeReadyTimeoutSeconds", "soon"], // wait-nodes.sh: whole seconds
        ];
        for (const [key, value] of refused) {
            assert.throws(
                () => parseConfig(sourceOf(stackConfig("dev", { [key]: value }))),
                (e: Error) => e.message.includes(`kubevirt-lab:${key}`),
                `${key}=${JSON.stringify(value)} is refused`,
            );
        }
    });
});

// ---------------------------------------------------------------------------
// Golden files (steps/<step>/golden/commands.txt): each step's test checks the command lines of
// its steps; this one checks them all (UPDATE_GOLDEN=1 node --import tsx --test test/steps.test.ts
// rewrites them all) and that no step has one for steps the dev stack does not have.

describe("golden command lines", () => {
    it("every host step of the dev stack: create and delete (scripts elided), logging, stdin, in its step's golden/commands.txt", () => {
        const stems = [...hostStepSections().keys()].sort();
        assert.ok(stems.length > 10, "the dev stack has its host steps");
        for (const stem of stems) assertCommandsGolden(stem);
        const withGolden = fs
            .readdirSync(HOST_SCRIPTS)
            .filter((d) => fs.existsSync(path.join(HOST_SCRIPTS, d, "golden", "commands.txt")))
            .sort();
        assert.deepEqual(withGolden, stems, "steps/<step>/golden/commands.txt exactly for the steps with host steps in the dev stack");
    });
});
