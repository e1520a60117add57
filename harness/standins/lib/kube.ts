// What the stand-ins' Kubernetes REST clients (harness/standins/kubelet/api.ts and
// harness/standins/virt-controller/kube.ts) have in common: the error of a non-2xx answer, a
// kubeconfig's file-or-data references and bearer token, and the splitting of a watch stream
// into its newline-delimited JSON events. Each client keeps its own requests: their timeouts,
// headers and error texts are those of the program it stands in for.
import * as fs from "node:fs";
import * as path from "node:path";

/** A non-2xx answer of the API server: its HTTP status and the Status object's reason. */
export class ApiError extends Error {
    constructor(
        public readonly status: number,
        public readonly reason: string,
        message: string,
    ) {
        super(message);
        this.name = "ApiError";
    }
}

export const isNotFound = (e: unknown) => e instanceof ApiError && e.status === 404;
export const isConflict = (e: unknown) => e instanceof ApiError && e.status === 409;
export const isGone = (e: unknown) => e instanceof ApiError && e.status === 410;

/**
 * A kubeconfig's `<name>-data` (base64) or `<name>` (a file, relative to the kubeconfig's folder
 * `base`): the bytes, and the file they came from. Nothing when neither is set; throws when the
 * file cannot be read.
 */
export function readRef(data: unknown, file: unknown, base: string): { buf?: Buffer; file?: string } {
    if (typeof data === "string" && data !== "") return { buf: Buffer.from(data, "base64") };
    if (typeof file === "string" && file !== "") {
        const f = path.isAbsolute(file) ? file : path.join(base, file);
        return { buf: fs.readFileSync(f), file: f };
    }
    return {};
}

/** A kubeconfig user's bearer token: `token`, else the content of `tokenFile`; undefined if none. */
export function userToken(user: Record<string, any>, base: string): string | undefined {
    if (typeof user.token === "string" && user.token !== "") return user.token;
    if (typeof user.tokenFile === "string") return fs.readFileSync(path.resolve(base, user.tokenFile), "utf8").trim();
    return undefined;
}

/**
 * A feeder for a watch stream's text chunks: calls onLine with each complete, non-empty line
 * (trimmed). When onLine throws, fail gets the error and the rest of that chunk is not read (the
 * caller ends the stream).
 */
export function lineSplitter(onLine: (line: string) => void, fail: (e: unknown) => void): (chunk: string) => void {
    let buf = "";
    return (chunk) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line) continue;
            try {
                onLine(line);
            } catch (e) {
                fail(e);
                return;
            }
        }
    };
}
