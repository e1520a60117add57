// Writes Pulumi.yaml's `config:` block and the README's settings table from the
// declaration of the settings (components/settings.ts):
//
//   npm run gen:settings            rewrite both files
//   npm run gen:settings -- --check exit 1 (and say which) when either is not what it would write
//
// Only the `config:` block of Pulumi.yaml (with the comment above it) and the
// text between the README's settings markers are replaced; every other byte of
// the two files is kept. test/settings.test.ts fails when they are stale.
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { SETTINGS, Setting } from "../components/settings";

export const REPO = path.join(__dirname, "..");
export const README_BEGIN = "<!-- settings:begin -->";
export const README_END = "<!-- settings:end -->";

const entries = () => Object.entries(SETTINGS) as Array<[string, Setting<unknown>]>;

const HEADER = [
    "Generated from components/settings.ts by `npm run gen:settings`: edit there, not here.",
    'Every setting, with the post\'s value as default. An empty default ("" or {})',
    "means unset: derived from other settings or not used (see README). Secrets",
    "(sshPrivateKey, mongodbPassword, mongodbAdminPassword) are not declared here:",
    "the engine takes a declared key without default as required, and a default of",
    "a declared secret not at all; set them with `pulumi config set --secret`",
    '(the program refuses them in plain text, and "" as a value).',
];

/** The settings Pulumi.yaml declares: every one but the secrets (see HEADER). */
export const declared = () => entries().filter(([, s]) => !s.secret);

/** What Pulumi.yaml declares for one setting. The engine requires a key declared without default. */
export function pulumiDeclaration(s: Setting<unknown>): Record<string, unknown> {
    const d: Record<string, unknown> = {};
    if (s.pulumiType) d.type = s.pulumiType;
    if (s.pulumiType === "array") d.items = { type: "string" };
    d.description = s.description + (s.unset ? ` Unset: ${s.unset}.` : s.required ? " Required." : "");
    if (s.secret) throw new Error("a secret is not declared in Pulumi.yaml");
    if (s.required) {
        // declared without a default: the engine requires it
    } else if (s.unset) {
        if (s.pulumiType !== undefined && s.pulumiType !== "string") throw new Error(`an unset ${s.pulumiType} has no empty default`);
        d.default = s.pulumiType === "string" ? "" : {};
    } else {
        d.default = s.default;
    }
    return d;
}

/** The `config:` block, with the comment above it, as YAML text. */
export function configBlock(): string {
    const doc = new YAML.Document({ config: Object.fromEntries(declared().map(([k, s]) => [k, pulumiDeclaration(s)])) });
    const config = doc.get("config") as YAML.YAMLMap;
    let group = "";
    for (const pair of config.items) {
        const key = pair.key as YAML.Scalar;
        const s = SETTINGS[key.value as keyof typeof SETTINGS] as Setting<unknown>;
        if (s.group !== group) key.commentBefore = ` ${"-".repeat(64)} ${(group = s.group)}`;
        const dflt = (pair.value as YAML.YAMLMap).get("default", true);
        // Short lists of words on one line, as a person would write them.
        if (YAML.isSeq(dflt) && dflt.items.every((i) => YAML.isScalar(i) && /^[A-Za-z0-9._-]+$/.test(String(i.value)))) dflt.flow = true;
    }
    return HEADER.map((l) => `# ${l}\n`).join("") + doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}

/** Pulumi.yaml with its `config:` block (and the comment lines right above it) replaced. */
export function renderPulumiYaml(text: string): string {
    const doc = YAML.parseDocument(text);
    if (doc.errors.length > 0) throw new Error(`Pulumi.yaml: ${doc.errors[0].message}`);
    const pair = (doc.contents as YAML.YAMLMap).items.find((p) => YAML.isScalar(p.key) && p.key.value === "config");
    const block = configBlock();
    if (!pair) return text.replace(/\n*$/, "\n") + block;
    let start = (pair.key as YAML.Scalar).range![0];
    const end = (pair.value as YAML.Node).range![2];
    // The comment lines right above `config:` (blank lines among them too) belong to the block.
    for (let line = start; line > 0;) {
        line = text.lastIndexOf("\n", line - 2) + 1;
        const content = text.slice(line, text.indexOf("\n", line)).trim();
        if (content.startsWith("#")) start = line;
        else if (content !== "") break;
    }
    const rest = text.slice(end).replace(/^\n/, "");
    return text.slice(0, start) + block + rest;
}

function cell(s: string): string {
    return s.replace(/\|/g, "\\|");
}

function shownDefault(v: unknown): string {
    if (Array.isArray(v)) return `\`[${v.join(", ")}]\``;
    return `\`${String(v)}\``;
}

/** The README text between the markers: how settings are declared, and the table. */
export function readmeTable(): string {
    const rows = entries().map(([k, s]) => {
        const dflt = s.required ? "— (required)" : s.unset ? `unset: ${s.unset}` : shownDefault(s.default);
        return `| \`${k}\`${s.secret ? " (secret)" : ""} | ${cell(s.typeName)} | ${cell(dflt)} | ${cell(s.description)} |`;
    });
    for (const [k, s] of entries()) {
        // Outside code spans, <...> would be read as HTML.
        const prose = `${s.description} ${s.unset ?? ""}`.replace(/`[^`]*`/g, "");
        if (/[<>]/.test(prose)) throw new Error(`${k}: put <...> in backticks in its description (it is Markdown in the README)`);
    }
    return [
        "Every setting is declared once, in `components/settings.ts`: its type, its checks,",
        "its default (the post's value) and the line that describes it. This table and the",
        "`config:` block of `Pulumi.yaml` are written from there by `npm run gen:settings`;",
        "`components/config.ts` reads and checks every setting before anything is deployed.",
        "",
        "| setting | type | default (the post) | what it is |",
        "|---|---|---|---|",
        ...rows,
    ].join("\n");
}

/** README.md with the text between the settings markers replaced. */
export function renderReadme(text: string): string {
    const begin = text.indexOf(README_BEGIN);
    const end = text.indexOf(README_END);
    if (begin < 0 || end < begin) throw new Error(`README.md: no ${README_BEGIN} ... ${README_END} markers around the settings table`);
    return `${text.slice(0, begin + README_BEGIN.length)}\n${readmeTable()}\n${text.slice(end)}`;
}

export const TARGETS: Array<[string, (text: string) => string]> = [
    ["Pulumi.yaml", renderPulumiYaml],
    ["README.md", renderReadme],
];

function main(): void {
    const check = process.argv.includes("--check");
    let stale = 0;
    for (const [file, render] of TARGETS) {
        const p = path.join(REPO, file);
        const text = fs.readFileSync(p, "utf8");
        const out = render(text);
        if (out === text) continue;
        stale++;
        if (check) console.error(`${file} is not what components/settings.ts declares: run npm run gen:settings`);
        else {
            fs.writeFileSync(p, out);
            console.log(`wrote ${file}`);
        }
    }
    if (check && stale > 0) process.exit(1);
}

if (require.main === module) main();
