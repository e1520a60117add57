// The settings are declared once (components/settings.ts); Pulumi.yaml's config
// block and the README's settings table are generated from that declaration and
// must be what the generator writes. The declared defaults must pass their own
// checks, and the generated block must keep the engine's rules.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { SETTINGS, Setting } from "../components/settings";
import { README_BEGIN, README_END, configBlock, declared, renderPulumiYaml, renderReadme } from "../harness/gen-settings";
import { REPO } from "./lib/stack";

const entries = Object.entries(SETTINGS) as Array<[string, Setting<unknown>]>;
const read = (file: string) => fs.readFileSync(path.join(REPO, file), "utf8");
/** A value as the engine hands it to the program: strings as they are, the rest as JSON. */
const asEngine = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));

describe("the generated files", () => {
    it("Pulumi.yaml's config block is what `npm run gen:settings` writes", () => {
        const text = read("Pulumi.yaml");
        assert.ok(
            renderPulumiYaml(text) === text,
            "Pulumi.yaml's config block is not what components/settings.ts declares: run `npm run gen:settings`",
        );
    });

    it("the README's settings table is what `npm run gen:settings` writes", () => {
        const text = read("README.md");
        assert.ok(
            renderReadme(text) === text,
            "README.md's settings table is not what components/settings.ts declares: run `npm run gen:settings`",
        );
    });
});

describe("the declaration", () => {
    it("gives each default, as the engine hands it over, back from its own schema", () => {
        for (const [key, s] of entries) {
            if (s.default === undefined) continue;
            const r = s.schema.safeParse(asEngine(s.default));
            assert.ok(r.success, `${key}: the default ${asEngine(s.default)} fails its schema: ${r.error?.message}`);
            assert.deepEqual(r.data, s.default, key);
            assert.deepEqual(s.schema.parse(undefined), s.default, `${key}: unset is the default`);
            assert.deepEqual(s.schema.parse(""), s.default, `${key}: "" is unset`);
        }
    });

    it("reads an unset setting's Pulumi.yaml default as unset, and refuses a missing required one", () => {
        const inYaml = YAML.parse(read("Pulumi.yaml")).config;
        for (const [key, s] of entries) {
            if (s.unset && !s.secret) assert.equal(s.schema.parse(asEngine(inYaml[key].default)), undefined, key);
            if (s.secret) assert.equal(inYaml[key], undefined, `${key}: a secret is not declared in Pulumi.yaml`);
            if (s.required) {
                const r = s.schema.safeParse(undefined);
                assert.equal(r.success, false, `${key} is required`);
                assert.equal(r.error?.issues[0].message, s.required);
            }
            assert.equal(
                [s.default !== undefined, !!s.unset, !!s.required].filter(Boolean).length,
                1,
                `${key}: exactly one of default, unset, required`,
            );
            assert.ok(s.description.length > 0 && !s.description.includes("\n"), `${key}: a one-line description`);
        }
    });

    it("writes a config block the engine accepts: every setting but the secrets", () => {
        const config = YAML.parse(configBlock()).config;
        assert.deepEqual(
            Object.keys(config),
            declared().map(([k]) => k),
        );
        const typeOk: Record<string, (v: unknown) => boolean> = {
            string: (v) => typeof v === "string",
            integer: (v) => Number.isInteger(v),
            boolean: (v) => typeof v === "boolean",
            array: (v) => Array.isArray(v) && v.every((x) => typeof x === "string"),
        };
        for (const [key, d] of Object.entries<any>(config)) {
            const s = SETTINGS[key as keyof typeof SETTINGS] as Setting<unknown>;
            assert.ok(d.description, `config.${key} has a description`);
            // The engine treats a declared key without default as required, and refuses defaults of declared secrets.
            assert.equal("default" in d, !s.required, `config.${key}: a default unless required`);
            assert.ok(!d.secret, `config.${key}: no declared secret (the engine would refuse a default, or require it)`);
            if (d.type === "array") assert.deepEqual(d.items, { type: "string" }, `config.${key}: an array names its items' type`);
            if (d.type && "default" in d) assert.ok(typeOk[d.type](d.default), `config.${key}: the default is a ${d.type}`);
        }
    });
});

describe("the generator", () => {
    const project = [
        "name: p",
        "# kept: the runtime",
        "runtime: nodejs",
        "",
        "# an old comment above config",
        "config:",
        "  stale:",
        "    default: 1",
        "# kept: after config",
        "main: index.ts",
        "",
    ].join("\n");

    it("replaces only the config block and the comment above it in Pulumi.yaml", () => {
        const out = renderPulumiYaml(project);
        assert.ok(
            out.startsWith("name: p\n# kept: the runtime\nruntime: nodejs\n\n# Generated from components/settings.ts"),
            out.slice(0, 200),
        );
        assert.ok(out.endsWith("\n# kept: after config\nmain: index.ts\n"), out.slice(-200));
        assert.ok(!out.includes("an old comment") && !out.includes("stale"));
        const doc = YAML.parse(out);
        assert.equal(doc.name, "p");
        assert.equal(doc.main, "index.ts");
        assert.deepEqual(doc.config, YAML.parse(configBlock()).config);
        assert.equal(renderPulumiYaml(out), out, "a second run changes nothing");
    });

    it("adds a config block to a Pulumi.yaml without one", () => {
        const out = renderPulumiYaml("name: p\nruntime: nodejs\n");
        assert.ok(out.startsWith("name: p\nruntime: nodejs\n# Generated"));
        assert.deepEqual(
            Object.keys(YAML.parse(out).config),
            declared().map(([k]) => k),
        );
    });

    it("replaces only the text between the README's markers, and needs them", () => {
        const readme = `# t\n\n## Settings\n\n${README_BEGIN}\nold table\n${README_END}\n\n## Next\n`;
        const out = renderReadme(readme);
        assert.ok(out.startsWith(`# t\n\n## Settings\n\n${README_BEGIN}\n`) && out.endsWith(`\n${README_END}\n\n## Next\n`));
        assert.ok(!out.includes("old table") && out.includes("| `domain` | string | `virtomation.com` |"));
        assert.equal(renderReadme(out), out);
        assert.throws(() => renderReadme("# no markers\n"), /settings:begin/);
    });

    it("lists every setting once in the README table, secrets marked", () => {
        const rows = renderReadme(`${README_BEGIN}${README_END}`)
            .split("\n")
            .filter((l) => l.startsWith("| `"));
        assert.deepEqual(
            rows.map((r) => /^\| `([^`]+)`/.exec(r)?.[1]),
            entries.map(([k]) => k),
        );
        for (const [key, s] of entries)
            assert.equal(
                rows.some((r) => r.startsWith(`| \`${key}\` (secret) |`)),
                s.secret,
                key,
            );
    });
});
