// Kubernetes manifests as data: upstream ones fetched at deploy time from their
// configured URLs (http, https, or file:// for a local mirror and for tests),
// the lab's own from manifests/, both parsed into plain objects that the
// components change in code before registering them.
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";

export const MANIFEST_DIR = path.join(__dirname, "..", "manifests");

/** A Kubernetes object as parsed from YAML. */
export interface K8sObject {
    apiVersion: string;
    kind: string;
    metadata: {
        name: string;
        namespace?: string;
        labels?: Record<string, string>;
        annotations?: Record<string, string>;
        [k: string]: unknown;
    };
    // Parsed YAML: the post's changes reach into it freely (spec.template.spec.containers[0]...).
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    [k: string]: any;
}

/** Parses a multi-document YAML stream, dropping empty documents and List wrappers. */
export function parseManifest(text: string, source: string): K8sObject[] {
    const out: K8sObject[] = [];
    for (const doc of YAML.parseAllDocuments(text)) {
        if (doc.errors.length > 0) throw new Error(`${source}: not valid YAML: ${doc.errors[0].message}`);
        const o = doc.toJS();
        if (o === null || o === undefined) continue;
        const items = o.kind === "List" && Array.isArray(o.items) ? o.items : [o];
        for (const item of items) {
            if (!item || typeof item.kind !== "string" || typeof item.apiVersion !== "string" || !item.metadata?.name) {
                throw new Error(`${source}: a document is not a Kubernetes object (apiVersion, kind and metadata.name needed)`);
            }
            out.push(item as K8sObject);
        }
    }
    return out;
}

/** One of the lab's own manifests in manifests/. */
export function labManifest(file: string): K8sObject[] {
    const p = path.join(MANIFEST_DIR, file);
    return parseManifest(fs.readFileSync(p, "utf8"), `manifests/${file}`);
}

/**
 * Fetches a manifest named by a setting. Errors name the setting and the URL.
 * Bounded: `timeoutMs` per attempt, `attempts` tries.
 */
export async function fetchManifest(setting: string, url: string, timeoutMs = 30000, attempts = 3): Promise<K8sObject[]> {
    const source = `${setting} (${url})`;
    if (url.startsWith("file://")) {
        const file = new URL(url).pathname;
        let text: string;
        try {
            text = fs.readFileSync(file, "utf8");
        } catch (e) {
            throw new Error(`cannot read ${source}: ${(e as Error).message}`);
        }
        return parseManifest(text, source);
    }
    let last = "";
    for (let i = 0; i < attempts; i++) {
        try {
            const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "follow" });
            if (!res.ok) {
                last = `HTTP ${res.status}`;
                if (res.status < 500) break; // a 404 does not get better
            } else {
                return parseManifest(await res.text(), source);
            }
        } catch (e) {
            last = (e as Error).message;
        }
    }
    throw new Error(`cannot fetch ${source}: ${last}`);
}

/** The one object of a kind and name; a clear error if the manifest lacks it. */
export function find(objs: K8sObject[], kind: string, name: string, source: string): K8sObject {
    const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
    if (!o) {
        const have = objs.map((x) => `${x.kind}/${x.metadata.name}`).join(", ");
        throw new Error(`${source}: no ${kind}/${name} in the manifest (it has: ${have || "nothing"})`);
    }
    return o;
}

/** A deep copy, so that changes in code never touch a parsed manifest shared by others. */
export function clone<T>(o: T): T {
    return JSON.parse(JSON.stringify(o)) as T;
}
