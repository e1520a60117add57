// The kubelet's TLS bootstrap (1.9, certificates.k8s.io/v1beta1), as the real kubelet does it when
// --kubeconfig does not exist yet but --bootstrap-kubeconfig does: a private key and a CSR for
// CN=system:node:<node>, O=system:nodes (openssl), sent with the bootstrap credentials; then the
// wait for the controller-manager to approve and sign it; then the certificate and key in
// --cert-dir and a kubeconfig at --kubeconfig that points at them.
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { ApiError, Client, Credentials, errText, loadKubeconfig, log, retry, sleep } from "./api";

export interface BootstrapOptions {
    nodeName: string;
    kubeconfig: string;
    bootstrapKubeconfig: string;
    certDir: string;
    /** how long to wait for the CSR to be approved and signed */
    timeoutMs: number;
    signal: AbortSignal;
}

const CSR_API = "/apis/certificates.k8s.io/v1beta1/certificatesigningrequests";

function writeFileAtomic(file: string, data: string | Buffer, mode: number): void {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, data, { mode });
    fs.renameSync(tmp, file);
}

const badSaid = new Map<string, string>();
function tryLoad(file: string): Credentials | undefined {
    try {
        if (!fs.existsSync(file)) return undefined;
        const c = loadKubeconfig(file);
        badSaid.delete(file);
        return c;
    } catch (e) {
        // said once per error: kubeadm may be writing the file right now
        if (badSaid.get(file) !== errText(e)) log(`${file} is not usable (yet): ${errText(e)}`);
        badSaid.set(file, errText(e));
        return undefined;
    }
}

/**
 * Returns the node's own credentials: from --kubeconfig when it exists, else by the TLS bootstrap
 * with --bootstrap-kubeconfig. While neither file exists it waits (the real kubelet exits here and
 * systemd starts it again until kubeadm has written one of them).
 */
export async function nodeCredentials(o: BootstrapOptions): Promise<Credentials | undefined> {
    let said = false;
    while (!o.signal.aborted) {
        const own = tryLoad(o.kubeconfig);
        if (own) return own;
        if (fs.existsSync(o.bootstrapKubeconfig)) {
            const boot = tryLoad(o.bootstrapKubeconfig);
            if (boot) return await bootstrap(o, boot);
        }
        if (!said) {
            log(
                `waiting for ${o.kubeconfig} or ${o.bootstrapKubeconfig} (kubeadm init or join writes them; the real kubelet exits here and systemd restarts it)`,
            );
            said = true;
        }
        await sleep(1000, o.signal);
    }
    return undefined;
}

function openssl(args: string[]): string {
    return execFileSync("openssl", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

async function bootstrap(o: BootstrapOptions, boot: Credentials): Promise<Credentials | undefined> {
    const keyFile = path.join(o.certDir, "kubelet-client.key");
    const certFile = path.join(o.certDir, "kubelet-client.crt");
    fs.mkdirSync(o.certDir, { recursive: true, mode: 0o755 });
    // The 1.9 kubelet reuses a key it already has and makes an ECDSA P-256 one otherwise.
    if (!fs.existsSync(keyFile)) {
        const pem = openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout"]);
        writeFileAtomic(keyFile, pem, 0o600);
        log(`TLS bootstrap: new private key ${keyFile}`);
    }
    const csrPem = openssl(["req", "-new", "-key", keyFile, "-subj", `/O=system:nodes/CN=system:node:${o.nodeName}`]);
    // Like the kubelet: the CSR's name follows from the key and the subject, so a restart while
    // waiting finds the same request again instead of filing a second one.
    const pub = openssl(["pkey", "-in", keyFile, "-pubout"]);
    const digest = crypto.createHash("sha512").update(pub).update(o.nodeName).digest("base64url").slice(0, 43);
    const name = `node-csr-${digest}`;
    const client = new Client(boot);
    try {
        const body = {
            apiVersion: "certificates.k8s.io/v1beta1",
            kind: "CertificateSigningRequest",
            metadata: { name },
            spec: {
                request: Buffer.from(csrPem).toString("base64"),
                usages: ["digital signature", "key encipherment", "client auth"],
            },
        };
        await retry(
            `TLS bootstrap: create CSR ${name}`,
            async () => {
                try {
                    await client.request("POST", CSR_API, body);
                    log(
                        `TLS bootstrap: CSR ${name} created for CN=system:node:${o.nodeName}, O=system:nodes with ${o.bootstrapKubeconfig}`,
                    );
                } catch (e) {
                    if (e instanceof ApiError && e.status === 409) log(`TLS bootstrap: CSR ${name} exists already; waiting for it`);
                    else throw e;
                }
            },
            { attempts: 30, baseMs: 1000, maxMs: 10_000, signal: o.signal },
        );
        const deadline = Date.now() + o.timeoutMs;
        let polls = 0;
        let approvedSaid = false;
        while (!o.signal.aborted) {
            if (Date.now() > deadline) throw new Error(`TLS bootstrap: CSR ${name} not signed within ${o.timeoutMs / 1000} s`);
            polls++;
            let csr: any;
            try {
                csr = await client.request("GET", `${CSR_API}/${name}`);
            } catch (e) {
                if (polls % 20 === 1) log(`TLS bootstrap: reading CSR ${name} failed: ${errText(e)}`);
                await sleep(1000, o.signal);
                continue;
            }
            const conds: any[] = csr?.status?.conditions ?? [];
            const denied = conds.find((c) => c.type === "Denied");
            if (denied) throw new Error(`TLS bootstrap: CSR ${name} denied: ${denied.reason ?? ""} ${denied.message ?? ""}`);
            if (!approvedSaid && conds.some((c) => c.type === "Approved")) {
                log(`TLS bootstrap: CSR ${name} approved`);
                approvedSaid = true;
            }
            const cert = csr?.status?.certificate;
            if (cert) {
                const certPem = Buffer.from(cert, "base64");
                writeFileAtomic(certFile, certPem, 0o644);
                writeKubeconfig(o, boot, certFile, keyFile);
                log(`TLS bootstrap: CSR ${name} signed; wrote ${certFile} and ${o.kubeconfig}`);
                return loadKubeconfig(o.kubeconfig);
            }
            await sleep(polls < 60 ? 250 : 2000, o.signal);
        }
        return undefined;
    } finally {
        client.close();
    }
}

function writeKubeconfig(o: BootstrapOptions, boot: Credentials, certFile: string, keyFile: string): void {
    const cluster: Record<string, unknown> = { server: boot.server };
    if (boot.ca) cluster["certificate-authority-data"] = boot.ca.toString("base64");
    if (boot.insecure) cluster["insecure-skip-tls-verify"] = true;
    const doc = {
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "default-cluster", cluster }],
        contexts: [{ name: "default-context", context: { cluster: "default-cluster", namespace: "default", user: "default-auth" } }],
        "current-context": "default-context",
        preferences: {},
        users: [{ name: "default-auth", user: { "client-certificate": certFile, "client-key": keyFile } }],
    };
    writeFileAtomic(o.kubeconfig, YAML.stringify(doc), 0o600);
}
