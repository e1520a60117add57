// npm-mirror.ts: the npm registry of the lab's mirror host for one locked dependency tree, as
// static files that any HTTP server of files serves (the mirror host's python http.server):
//
//   <out>/<name>                     the packument of <name>: the locked versions only, each the
//                                    tarball's own package.json with the registry's dist (tarball
//                                    URL, integrity, shasum); dist-tags.latest the highest of them
//   <out>/-/<name>-<version>.tgz     the tarballs (a scoped name keeps its @scope/ folder)
//
// The packuments cannot sit beside npm's own tarball paths (`<name>/-/...` would make <name> a
// folder), so the tarballs are under `-/`, a name no package can have (npm's API lives there). The
// tarball URLs begin with ORIGIN_PLACEHOLDER: harness/simlab/mirror-app.sh writes the mirror's
// origin there when it fills the mirror. With only the locked versions in the packuments, npm
// resolves the app's package.json to exactly the lockfile's tree.
//
//   tsx harness/lib/npm-mirror.ts --lock <package-lock.json> --tarballs <dir of npm pack> --out <dir>
//
// The tarballs are `npm pack <name>@<version>...`'s (the registry's files, unchanged); each is
// checked against the lockfile's integrity before it is used.
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";

export const ORIGIN_PLACEHOLDER = "@KUBEVIRT_LAB_MIRROR_ORIGIN@";
/** Where the registry is on the mirror host: the upstream registry's host, as the mirror's other paths. */
export const REGISTRY_PATH = "registry.npmjs.org";

interface LockEntry {
    name?: string;
    version: string;
    resolved?: string;
    integrity?: string;
    link?: boolean;
}

/** The packages of a lockfile v2/v3 (name@version once each), without the root and links. */
export function lockedPackages(lock: {
    packages?: Record<string, LockEntry>;
}): Array<{ name: string; version: string; integrity: string }> {
    const seen = new Map<string, { name: string; version: string; integrity: string }>();
    for (const [where, e] of Object.entries(lock.packages ?? {})) {
        if (where === "" || e.link) continue;
        const name = e.name ?? where.slice(where.lastIndexOf("node_modules/") + "node_modules/".length);
        if (!e.integrity) throw new Error(`${where}: no integrity in the lockfile`);
        seen.set(`${name}@${e.version}`, { name, version: e.version, integrity: e.integrity });
    }
    return [...seen.values()].sort((a, b) => (a.name === b.name ? a.version.localeCompare(b.version) : a.name.localeCompare(b.name)));
}

/** npm pack's file name of name@version: @scope/name → scope-name-<version>.tgz. */
export function packFileName(name: string, version: string): string {
    return `${name.replace(/^@/, "").replace("/", "-")}-${version}.tgz`;
}

/** semver order of plain versions (x.y.z with an optional prerelease), enough for dist-tags.latest. */
export function compareVersions(a: string, b: string): number {
    const parse = (v: string) => {
        const [main, pre] = v.split(/-(.*)/s, 2);
        return { nums: main.split(".").map((n) => Number(n)), pre };
    };
    const x = parse(a);
    const y = parse(b);
    for (let i = 0; i < 3; i++) if (x.nums[i] !== y.nums[i]) return (x.nums[i] ?? 0) - (y.nums[i] ?? 0);
    if (x.pre === y.pre) return 0;
    if (x.pre === undefined) return 1;
    if (y.pre === undefined) return -1;
    return x.pre.localeCompare(y.pre);
}

/** The tarball's top-level package.json and whether it has an npm-shrinkwrap.json beside it. */
function readManifest(tgz: string): { manifest: Record<string, unknown>; shrinkwrap: boolean } {
    const entries = execFileSync("tar", ["-tzf", tgz], { encoding: "utf8", maxBuffer: 64 << 20 }).split("\n");
    const top = entries.find((e) => /^[^/]+\/package\.json$/.test(e));
    if (!top) throw new Error(`${tgz}: no package.json at its top`);
    const text = execFileSync("tar", ["-xzOf", tgz, top], { encoding: "utf8", maxBuffer: 64 << 20 });
    const dir = top.slice(0, top.indexOf("/"));
    return { manifest: JSON.parse(text) as Record<string, unknown>, shrinkwrap: entries.includes(`${dir}/npm-shrinkwrap.json`) };
}

function main(): void {
    const { values } = parseArgs({ options: { lock: { type: "string" }, tarballs: { type: "string" }, out: { type: "string" } } });
    if (!values.lock || !values.tarballs || !values.out) {
        console.error("usage: npm-mirror.ts --lock <package-lock.json> --tarballs <dir> --out <dir>");
        process.exit(2);
    }
    const lock = JSON.parse(fs.readFileSync(values.lock, "utf8"));
    const packages = lockedPackages(lock);
    const out = values.out;
    const packuments = new Map<string, { versions: Record<string, unknown>; latest: string }>();
    for (const p of packages) {
        const file = path.join(values.tarballs, packFileName(p.name, p.version));
        const bytes = fs.readFileSync(file);
        const [algo] = p.integrity.split("-", 1);
        const got = `${algo}-${crypto.createHash(algo).update(bytes).digest("base64")}`;
        if (got !== p.integrity) throw new Error(`${file}: integrity ${got}, the lockfile says ${p.integrity}`);
        const rel = `-/${p.name}-${p.version}.tgz`;
        fs.mkdirSync(path.dirname(path.join(out, rel)), { recursive: true });
        fs.writeFileSync(path.join(out, rel), bytes);
        const { manifest, shrinkwrap } = readManifest(file);
        if (manifest.name !== p.name || manifest.version !== p.version)
            throw new Error(
                `${file}: its package.json is ${String(manifest.name)}@${String(manifest.version)}, not ${p.name}@${p.version}`,
            );
        delete manifest.readme;
        delete manifest.readmeFilename;
        const doc = {
            ...manifest,
            _id: `${p.name}@${p.version}`,
            _hasShrinkwrap: shrinkwrap,
            dist: {
                tarball: `${ORIGIN_PLACEHOLDER}/${REGISTRY_PATH}/${rel}`,
                integrity: p.integrity,
                shasum: crypto.createHash("sha1").update(bytes).digest("hex"),
            },
        };
        const entry = packuments.get(p.name) ?? { versions: {}, latest: p.version };
        entry.versions[p.version] = doc;
        if (compareVersions(p.version, entry.latest) > 0) entry.latest = p.version;
        packuments.set(p.name, entry);
    }
    for (const [name, e] of packuments) {
        const file = path.join(out, name);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, `${JSON.stringify({ _id: name, name, "dist-tags": { latest: e.latest }, versions: e.versions })}\n`);
    }
    console.log(`npm-mirror: ${packuments.size} packuments, ${packages.length} tarballs in ${out}`);
}

if (require.main === module) main();
