/**
 * A host step is one place (steps/README.md): the files a step's script writes (its top-level
 * path constants) and the lines it writes in them (its quoted key=value literals) appear in no
 * other file of the product: not in index.ts, components/, tools/, another step's folder or
 * steps/lib.sh. The product reaches them through the step's binding (steps/<step>/step.ts) and
 * its check. Tests outside the folder (test/, test/e2e/) look at hosts from outside and may name
 * what they look at; the harness and the documentation are not the product.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";

const ROOT = path.resolve(__dirname, "..");
const STEPS = path.join(ROOT, "steps");

/** The files of a folder, recursively. */
function walk(dir: string): string[] {
    return fs
        .readdirSync(dir, { withFileTypes: true })
        .flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

/** What a step's script owns: its path constants (NAME=/abs/path) and the file lines it writes ("key=value" literals). */
export function owned(script: string): string[] {
    const out = new Set<string>();
    for (const m of script.matchAll(/^[A-Z_]+=(\/[^\s$"']+)$/gm)) out.add(m[1]);
    for (const m of script.matchAll(/"([^"$\\\n]{14,})"/g)) if (/^[A-Za-z_][\w.-]*\s?=\s?\S/.test(m[1])) out.add(m[1]);
    return [...out];
}

const steps = fs.readdirSync(STEPS).filter((d) => fs.existsSync(path.join(STEPS, d, `${d}.sh`)));
/** The product's files, but a step's own tests and golden files (they are in its folder anyway). */
const product = [
    path.join(ROOT, "index.ts"),
    ...walk(path.join(ROOT, "components")),
    ...walk(path.join(ROOT, "tools")).filter((f) => /\.(ts|sh)$/.test(f)),
    path.join(STEPS, "lib.sh"),
    ...steps.flatMap((d) =>
        walk(path.join(STEPS, d)).filter((f) => !f.endsWith(".test.ts") && !f.includes(`${path.sep}golden${path.sep}`)),
    ),
];

describe("a host step is one place", () => {
    it("finds what each step owns (the test has teeth)", () => {
        const of = (d: string) => owned(fs.readFileSync(path.join(STEPS, d, `${d}.sh`), "utf8"));
        assert.ok(of("repo").includes("/etc/yum.repos.d/kubernetes.repo"), of("repo").join(" | "));
        assert.ok(of("repo").includes("name=Kubernetes") || of("repo").includes("repo_gpgcheck=1"), of("repo").join(" | "));
        assert.ok(of("docker-storage").includes("CONTAINER_ROOT_LV_NAME=dockerlv"), of("docker-storage").join(" | "));
        assert.ok(of("sysctl").includes("net.bridge.bridge-nf-call-iptables = 1"), of("sysctl").join(" | "));
        assert.ok(of("selinux").includes("/etc/selinux/config"), of("selinux").join(" | "));
    });

    for (const d of steps) {
        it(`nothing ${d} owns is written outside steps/${d}/`, () => {
            const mine = owned(fs.readFileSync(path.join(STEPS, d, `${d}.sh`), "utf8"));
            const found: string[] = [];
            for (const f of product.filter((p) => !p.startsWith(path.join(STEPS, d) + path.sep))) {
                const text = fs.readFileSync(f, "utf8");
                for (const s of mine) if (text.includes(s)) found.push(`${path.relative(ROOT, f)}: ${s}`);
            }
            assert.deepEqual(found, [], `what steps/${d}/${d}.sh owns, elsewhere`);
        });
    }
});
