// Stack configuration as the engine hands it to the program: Pulumi.yaml's
// defaults overlaid with Pulumi.<stack>.yaml, every value a string (objects and
// lists as JSON), keys prefixed with the project name.
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import type { ConfigSource } from "../../components/config";
import { SETTINGS, Setting } from "../../components/settings";

export const REPO = path.join(__dirname, "..", "..");

/** A syntactically valid stand-in key: parsed by nobody, only checked for its PEM frame. */
export const TEST_PRIVATE_KEY =
    "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LXRlc3Qta2V5LW5vdC1yZWFs\n-----END OPENSSH PRIVATE KEY-----\n";
export const TEST_PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILd030Ykq49QxBdCLTvfR19kgFgpFmAytBtTWRHs3L6K operator@kubevirt-lab";

function asString(v: unknown): string {
    return typeof v === "string" ? v : JSON.stringify(v);
}

/** The YAML of a file of the repo, parsed once per process (the tests build hundreds of stacks). */
const parsed = new Map<string, any>();
function yamlOf(file: string): any {
    if (!parsed.has(file)) parsed.set(file, YAML.parse(fs.readFileSync(path.join(REPO, file), "utf8")));
    return structuredClone(parsed.get(file));
}

export function projectDefaults(): Record<string, string> {
    const project = yamlOf("Pulumi.yaml");
    const out: Record<string, string> = {};
    for (const [key, decl] of Object.entries<any>(project.config ?? {})) {
        if (decl && decl.default !== undefined) out[`kubevirt-lab:${key}`] = asString(decl.default);
    }
    return out;
}

/**
 * The config map of a stack, with the test SSH keys in place of the user's
 * key file, then `overrides` (keys without the prefix; undefined deletes).
 */
/** The upstream manifest settings pointed at the local stand-ins in test/fixtures/upstream. */
export const FIXTURE_URLS = {
    kubevirtManifestUrl: `file://${REPO}/test/fixtures/upstream/kubevirt.yaml`,
    skydiveManifestUrl: `file://${REPO}/test/fixtures/upstream/skydive.yaml`,
    ingressNginxManifestBaseUrl: `file://${REPO}/test/fixtures/upstream/ingress-nginx/deploy`,
};

export function stackConfig(stack: string, overrides: Record<string, unknown> = {}): Record<string, string> {
    const file = yamlOf(`Pulumi.${stack}.yaml`);
    const out = projectDefaults();
    for (const [key, v] of Object.entries<unknown>(file.config ?? {})) out[key] = asString(v);
    delete out["kubevirt-lab:sshPrivateKeyPath"];
    out["kubevirt-lab:sshPrivateKey"] = TEST_PRIVATE_KEY;
    out["kubevirt-lab:vmSshPublicKey"] = TEST_PUBLIC_KEY;
    for (const [key, url] of Object.entries(FIXTURE_URLS)) out[`kubevirt-lab:${key}`] = url;
    for (const [key, v] of Object.entries(overrides)) {
        if (v === undefined) delete out[`kubevirt-lab:${key}`];
        else out[`kubevirt-lab:${key}`] = asString(v);
    }
    return out;
}

/** The settings the stack must hold as secrets (components/settings.ts: secret). */
const SECRET_SETTINGS = new Set(
    Object.entries(SETTINGS)
        .filter(([, s]) => (s as Setting<unknown>).secret)
        .map(([k]) => k),
);

/**
 * A ConfigSource over such a map, for parseConfig: its keys, and the secret settings held as
 * secrets (`pulumi config set --secret`), unless `plain` names keys set without --secret.
 */
export function sourceOf(map: Record<string, string>, plain: readonly string[] = []): ConfigSource {
    const prefix = "kubevirt-lab:";
    return {
        get: (key: string) => map[`${prefix}${key}`],
        keys: () =>
            Object.keys(map)
                .filter((k) => k.startsWith(prefix))
                .map((k) => k.slice(prefix.length)),
        isSecret: (key: string) => SECRET_SETTINGS.has(key) && !plain.includes(key),
    };
}
