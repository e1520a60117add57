// steps/repo/repo.sh, run the way the components run it (the rendered script in the command line)
// in sandboxes (test/lib/sandbox.ts) with the recording stand-ins: the post's kubernetes.repo byte
// for byte, a second run that changes nothing, lib.sh's usage on bad arguments, remove; the post's
// heredoc; the command lines of the dev stack's repo steps (golden/commands.txt).
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { REPO_FILE, sandboxes } from "../../test/lib/hosts";
import {
    POST_SKIP,
    act,
    assertCommandsGolden,
    assertNoop,
    files,
    ok,
    postHeredoc,
    sandboxSkip,
    status,
    step,
    withMutant,
} from "../../test/lib/steps";

// What the post writes (section "Kubernetes"), byte for byte.
const BASEURL = "https://packages.cloud.google.com/yum/repos/kubernetes-el7-$basearch";
const GPGKEYS = ["https://packages.cloud.google.com/yum/doc/yum-key.gpg", "https://packages.cloud.google.com/yum/doc/rpm-package-key.gpg"];
const REPO_CONTENT =
    "[kubernetes]\n" +
    "name=Kubernetes\n" +
    "baseurl=https://packages.cloud.google.com/yum/repos/kubernetes-el7-$basearch\n" +
    "enabled=1\n" +
    "gpgcheck=1\n" +
    "repo_gpgcheck=1\n" +
    "gpgkey=https://packages.cloud.google.com/yum/doc/yum-key.gpg https://packages.cloud.google.com/yum/doc/rpm-package-key.gpg\n";

const sandbox = sandboxes();

describe("repo.sh", { skip: sandboxSkip(), concurrency: 3 }, () => {
    it("writes the post's kubernetes.repo, literal $basearch, keys on one line; a second run is a no-op", async () => {
        const sb = await sandbox();
        const s = await step(sb, "repo.sh", act("apply", { baseurl: BASEURL, gpgkey: GPGKEYS }));
        ok(s.result, "repo.sh apply");
        status(s.result, "repo.sh", "apply", "changed");
        assert.equal(sb.readFile(REPO_FILE), REPO_CONTENT);
        assert.equal(sb.stat(REPO_FILE), "root:root 644");
        assert.deepEqual(files(s), [`created ${REPO_FILE} (file)`]);
        assert.deepEqual(s.calls, []);
        await assertNoop(sb, "repo.sh", act("apply", { baseurl: BASEURL, gpgkey: GPGKEYS }), "apply");
    });

    it("rewrites a changed file, refuses bad arguments with usage and changes nothing, remove deletes it once", async () => {
        const sb = await sandbox();
        await sb.writeFileAsync(REPO_FILE, "[kubernetes]\nbaseurl=http://old\n");
        const s = await step(sb, "repo.sh", act("apply", { baseurl: "https://mirror/el7-$basearch", gpgkey: ["https://mirror/key.gpg"] }));
        ok(s.result, "apply");
        assert.equal(
            sb.readFile(REPO_FILE),
            REPO_CONTENT.replace(BASEURL, "https://mirror/el7-$basearch").replace(/gpgkey=.*/, "gpgkey=https://mirror/key.gpg"),
        );
        // a required option missing, an unknown one, a positional word, an option twice or without a value: usage, exit 2
        const good = act("apply", { baseurl: BASEURL, gpgkey: GPGKEYS });
        for (const argv of [
            act("apply", { baseurl: BASEURL }),
            [...good, "--gpg-key", "k"],
            ["apply", BASEURL, ...GPGKEYS],
            [...good, "--baseurl", BASEURL],
            [...good, "--gpgkey"],
            ["install", ...good.slice(1)],
            [],
        ]) {
            const bad = await step(sb, "repo.sh", argv);
            assert.equal(bad.result.code, 2, `usage for ${argv.join(" ")}`);
            assert.equal(bad.result.stderr, "usage: repo.sh apply --baseurl <baseurl> --gpgkey <gpgkey>... | remove\n");
            assert.deepEqual(bad.diff, [], `nothing changed by ${argv.join(" ")}`);
        }
        const rm = await step(sb, "repo.sh", act("remove"));
        ok(rm.result, "remove");
        status(rm.result, "repo.sh", "remove", "changed");
        assert.equal(sb.readFile(REPO_FILE), "[kubernetes]\nbaseurl=http://old\n", "the file that was there before is back");
        await assertNoop(sb, "repo.sh", act("remove"), "remove");
    });

    it("has teeth: a repo.sh that always rewrites its file fails the second-run check", async () => {
        const sb = await sandbox();
        await withMutant(
            "repo.sh",
            (text) => text.replace('own_file "$REPO_FILE"', 'write_file "$REPO_FILE"'),
            async (dir) => {
                const args = act("apply", { baseurl: BASEURL, gpgkey: GPGKEYS });
                ok((await step(sb, "repo.sh", args, { scriptsDir: dir })).result, "first");
                await assert.rejects(assertNoop(sb, "repo.sh", args, "apply", { scriptsDir: dir }), (e: Error) => {
                    assert.match(e.message, /second run of repo\.sh changed files/);
                    assert.match(e.message, /touched \/etc\/yum\.repos\.d\/kubernetes\.repo \(file\)/);
                    return true;
                });
                assert.equal(sb.readFile(REPO_FILE), REPO_CONTENT, "same content, yet caught");
            },
        );
    });
});

it("the post's heredoc of kubernetes.repo is what these tests expect (when the post is at hand)", { skip: POST_SKIP }, () => {
    assert.equal(postHeredoc(REPO_FILE), REPO_CONTENT);
});

it("the dev stack's repo.sh steps: create and delete command lines (script elided), logging, stdin, as golden/commands.txt", () => {
    assertCommandsGolden("repo");
});
