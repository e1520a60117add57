// harness/prereqs.sh, the set-up check every README command runs first: with the programs it
// needs hidden from PATH it installs them (root with apt-get: here a recording apt-get that
// links the real programs of each package, found with dpkg -L) saying what and why, or stops
// with one line naming what is missing and the command that installs it.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const REPO = path.join(__dirname, "..");
const PREREQS = path.join(REPO, "harness", "prereqs.sh");
const PKG = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8"));

/** What each README command runs for real, by profile (harness/prereqs.sh's tables). */
const LAB = [
    "sshd",
    "ssh",
    "ssh-keygen",
    "ip",
    "unshare",
    "nsenter",
    "dnsmasq",
    "dig",
    "curl",
    "sudo",
    "iptables",
    "ansible-playbook",
    "ping",
];
const PROFILES: Record<string, string[]> = {
    lab: [...LAB, "dot"],
    e2e: [...LAB, "dot"],
    bench: LAB,
    test: [...LAB, "dot", "shellcheck", "ansible-lint"],
};
/** The README's commands and the profile each one checks. */
const COMMANDS: Record<string, string> = { test: "test", "test:e2e": "e2e", bench: "bench", lint: "lint" };
/** The user commands: they check with the product's tools/need.sh, never the harness. */
const USER_COMMANDS = ["verify", "drift", "diagnose"];
const NEED = path.join(REPO, "tools", "need.sh");

/** Programs the script itself runs: the only ones on the hidden PATH. */
const BASICS = ["bash", "dirname", "id", "cat"];

const tmpDirs: string[] = [];
after(() => tmpDirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function hiddenPath(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-prereqs-"));
    tmpDirs.push(dir);
    fs.chmodSync(dir, 0o755); // readable by the unprivileged user of the no-root case
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    for (const p of BASICS) {
        const real = spawnSync("bash", ["-c", `command -v ${p}`], { encoding: "utf8" }).stdout.trim();
        fs.symlinkSync(real, path.join(bin, p));
    }
    return bin;
}

/** A recording apt-get: logs its arguments; `install PKG...` links every program of each package (dpkg -L) into its own dir. */
function fakeApt(bin: string): { apt: string; log: string } {
    const apt = path.join(path.dirname(bin), "apt-get");
    const log = path.join(path.dirname(bin), "apt.log");
    fs.writeFileSync(
        apt,
        `#!/bin/bash
set -euo pipefail
PATH=/usr/bin:/bin
echo "$*" >>'${log}'
[[ $1 == install ]] || exit 0
for p in "$@"; do
  [[ $p == -* || $p == install ]] && continue
  # The package and what it depends on directly (a transitional package such as dnsutils holds no program itself).
  deps=$(dpkg-query -W -f='\${Depends}' "$p" | tr ',|' '\n\n' | sed -E 's/\\(.*\\)//; s/:any//; s/[[:space:]]//g')
  for q in "$p" $deps; do
    files=$'\n'$(dpkg -L "$q" 2>/dev/null || true)$'\n'
    grep -E '/s?bin/[^/]+$' <<<"$files" | while read -r f; do
      [[ -e '${bin}'/\${f##*/} ]] || ln -s "$f" '${bin}'/\${f##*/}
    done || true
    # A program that is an alternative of the package's (iptables: iptables-nft), by its name.
    while read -r name _ target; do
      if [[ $files == *$'\n'$target$'\n'* && ! -e '${bin}'/$name ]]; then ln -s "$target" '${bin}'/$name; fi
    done < <(update-alternatives --get-selections 2>/dev/null || true)
  done
done
`,
        { mode: 0o755 },
    );
    return { apt, log };
}

function runPrereqs(profile: string, bin: string, opts: { user?: "nobody"; apt?: string } = {}) {
    const env = { PATH: bin, HOME: os.tmpdir(), KUBEVIRT_LAB_PREREQS: "packages", ...(opts.apt ? { KUBEVIRT_LAB_APT: opts.apt } : {}) };
    const argv = opts.user
        ? ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/bin/bash", PREREQS, profile]
        : ["/bin/bash", PREREQS, profile];
    return spawnSync(argv[0], argv.slice(1), { env, encoding: "utf8", timeout: 120_000 });
}

const isRoot = process.getuid?.() === 0;

describe("harness/prereqs.sh", () => {
    it("every README command runs it first, for its own profile", () => {
        for (const [script, profile] of Object.entries(COMMANDS)) {
            assert.match(
                PKG.scripts[script],
                new RegExp(`^bash harness/prereqs\\.sh ${profile} && `),
                `npm run ${script}: ${PKG.scripts[script]}`,
            );
        }
        assert.match(
            fs.readFileSync(path.join(REPO, "harness", "lab.sh"), "utf8"),
            /bash "\$repo\/harness\/prereqs\.sh" lab\n/,
            "npm run lab (harness/lab.sh) runs the lab check",
        );
    });

    for (const [profile, tools] of Object.entries(PROFILES)) {
        it(
            `${profile}: without root, one line naming every missing program and the install command`,
            { skip: !isRoot && "needs root (setpriv)" },
            () => {
                const r = runPrereqs(profile, hiddenPath(), { user: "nobody" });
                assert.equal(r.status, 1, `exit status; stderr:\n${r.stderr}`);
                const lines = r.stderr.trim().split("\n");
                assert.equal(lines.length, 1, `one line, saw:\n${r.stderr}`);
                assert.match(lines[0], new RegExp(`^prereqs: missing for npm run ${profile}: `));
                for (const t of tools) assert.ok(lines[0].includes(`${t} (`), `${t} named in: ${lines[0]}`);
                const cmd = lines[0].match(/install them with: (sudo apt-get install -y .*)$/);
                assert.ok(cmd, `the install command in: ${lines[0]}`);
                assert.ok(cmd![1].includes(" openssh-server ") && cmd![1].includes("dnsmasq"), cmd![1]);
            },
        );

        it(`${profile}: as root with apt-get, installs what is missing, saying what and why`, { skip: !isRoot && "needs root" }, () => {
            const bin = hiddenPath();
            const { apt, log } = fakeApt(bin);
            const r = runPrereqs(profile, bin, { apt });
            assert.equal(r.status, 0, `exit status; stderr:\n${r.stderr}`);
            for (const t of tools)
                assert.match(
                    r.stderr,
                    new RegExp(`^prereqs: installing ${t.replace(/[-]/g, "\\-")} \\([a-z0-9-]+: .+\\)$`, "m"),
                    `says why ${t}`,
                );
            const calls = fs.readFileSync(log, "utf8").trim().split("\n");
            assert.equal(calls[0], "update -qq");
            assert.match(calls[1], /^install -y -qq --no-install-recommends /);
            for (const t of tools) assert.ok(fs.existsSync(path.join(bin, t)), `${t} on PATH after the install`);
            // Everything there now: a second check installs nothing and says nothing.
            const again = runPrereqs(profile, bin, { apt });
            assert.equal(again.status, 0, again.stderr);
            assert.equal(again.stderr, "");
            assert.equal(fs.readFileSync(log, "utf8").trim().split("\n").length, 2, "apt-get not called again");
        });
    }

    it("as root without apt-get, explains instead of installing", { skip: !isRoot && "needs root" }, () => {
        const r = runPrereqs("lab", hiddenPath(), { apt: "/nonexistent/apt-get" });
        assert.equal(r.status, 1);
        assert.match(
            r.stderr,
            /^prereqs: missing for npm run lab: sshd \(openssh-server: .*install them with: sudo apt-get install -y openssh-server openssh-client iproute2/,
        );
    });

    it("refuses an unknown command", () => {
        const r = runPrereqs("deploy", hiddenPath());
        assert.equal(r.status, 2);
        assert.match(r.stderr, /^usage: harness\/prereqs\.sh lab\|test\|e2e\|bench\|lint/);
    });
});

describe("tools/need.sh (the user commands' check)", () => {
    /** tools/need.sh with only `bin` on PATH, as root: it installs nothing even so. */
    const runNeed = (what: string, bin: string) =>
        spawnSync("/bin/bash", [NEED, what], { env: { PATH: bin, HOME: os.tmpdir() }, encoding: "utf8", timeout: 60_000 });

    it("npm run verify, drift and diagnose run it, and nothing of harness/", () => {
        for (const c of USER_COMMANDS) {
            assert.match(
                PKG.scripts[c],
                new RegExp(`^bash tools/need\\.sh ${c} && tsx tools/${c}\\.ts$`),
                `npm run ${c}: ${PKG.scripts[c]}`,
            );
            assert.doesNotMatch(PKG.scripts[c], /harness/);
        }
    });

    it("diagnose needs ssh and Graphviz's dot: one line naming both and the install line; no apt-get run", () => {
        const bin = hiddenPath();
        const { apt, log } = fakeApt(bin);
        fs.symlinkSync(apt, path.join(bin, "apt-get"));
        const r = runNeed("diagnose", bin);
        assert.equal(r.status, 1, r.stderr);
        assert.match(
            r.stderr,
            /^kubevirt-lab: missing for npm run diagnose: ssh \(openssh-client: .*\), dot \(graphviz: .*\); install them with: sudo apt-get install -y openssh-client graphviz\n$/,
        );
        assert.ok(!fs.existsSync(log), "apt-get not run");
    });

    it("drift needs ssh; verify needs no system program", () => {
        const r = runNeed("drift", hiddenPath());
        assert.equal(r.status, 1);
        assert.match(
            r.stderr,
            /^kubevirt-lab: missing for npm run drift: ssh \(openssh-client: .*\); install them with: sudo apt-get install -y openssh-client\n$/,
        );
        const v = runNeed("verify", hiddenPath());
        assert.equal(v.status, 0, v.stderr);
        assert.equal(v.stderr, "");
    });

    it("with every program there it says nothing", () => {
        const bin = hiddenPath();
        for (const p of ["ssh", "dot"])
            fs.symlinkSync(spawnSync("bash", ["-c", `command -v ${p}`], { encoding: "utf8" }).stdout.trim(), path.join(bin, p));
        const r = runNeed("diagnose", bin);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stderr, "");
    });

    it("refuses an unknown command", () => {
        const r = runNeed("up", hiddenPath());
        assert.equal(r.status, 2);
        assert.match(r.stderr, /^usage: tools\/need\.sh verify\|drift\|diagnose/);
    });
});
