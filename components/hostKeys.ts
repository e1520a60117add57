// Each host's SSH host key, pinned before anything runs on a host. A host object may carry
// its own `hostKey`; without one, the first `pulumi up` records the key the host offers
// (trust on first use, as k0sctl does) in the stack: a `local.Command` per host whose
// create runs ssh-keyscan and whose stdout, kept in the state, is the record. Every step
// of a host connects with that key (the command provider refuses any other), and on every
// preview and up, before a single host step is registered, the key each host offers now
// (ssh-keyscan again, through the provider's `local.run`, which runs on every run) is
// compared with the expected one: a mismatch stops the program with both fingerprints
// and how to accept a rebuilt host.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { HostSpec, LabConfig, shortName } from "./config";
import { PublicKey, fingerprint, parsePublicKey } from "./values";
import { TYPES } from "./types";

/** The key types asked for; the most preferred one a host offers is the one its steps pin. */
const PREFERENCE = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"];

/**
 * The shell line (run by `/bin/sh -c` on this machine) that prints a host's keys as ssh-keyscan
 * does, one `<host> <type> <base64>` line per key, and fails when it gets none.
 */
export function keyscanCommand(address: string, port: number, timeoutSeconds: number, waitSeconds = 0): string {
    const target = `${address}:${port}`;
    const scan = `keys=$(ssh-keyscan -T ${timeoutSeconds} -p ${port} -t ed25519,ecdsa,rsa ${address} 2>/dev/null)`;
    // waitSeconds: a host still booting (a VM whose sshd is not up yet) is scanned again every 2 s, that long at most
    // (bounded by count and by time: a scan of a host that does not answer takes timeoutSeconds)
    const tries = Math.max(1, Math.ceil(waitSeconds / 2) + 1);
    const attempt =
        tries === 1
            ? `${scan} && [ -n "$keys" ]`
            : `i=0; end=$(($(date +%s) + ${waitSeconds})); until ${scan} && [ -n "$keys" ]; do ` +
              `i=$((i+1)); [ "$i" -lt ${tries} ] && [ "$(date +%s)" -lt "$end" ] || break; sleep 2; done; [ -n "$keys" ]`;
    const found = tries === 1 ? attempt : `{ ${attempt}; }`;
    return `${found} && printf '%s\\n' "$keys" || { echo "kubevirt-lab: ssh-keyscan got no host key from ${target}" >&2; exit 1; }`;
}

/** The keys in ssh-keyscan's output (comment lines and anything else left out). */
export function parseKeyscan(stdout: string): PublicKey[] {
    const keys: PublicKey[] = [];
    for (const line of stdout.split("\n")) {
        const words = line.trim().split(/\s+/);
        if (words.length < 3 || line.startsWith("#")) continue;
        const k = parsePublicKey(`${words[1]} ${words[2]}`);
        if (k) keys.push(k);
    }
    return keys;
}

/** The key a host's steps pin: the most preferred type it offers. */
export function preferredKey(keys: PublicKey[]): PublicKey | undefined {
    return [...keys].sort((a, b) => PREFERENCE.indexOf(a.type) - PREFERENCE.indexOf(b.type))[0];
}

/** A key as the connection takes it and known_hosts holds it: `<type> <base64>`. */
export function keyLine(k: PublicKey): string {
    return `${k.type} ${k.base64}`;
}

/** `ssh-ed25519 SHA256:...`, as OpenSSH shows a key. */
export function shownKey(k: PublicKey): string {
    return `${k.type} ${fingerprint(k)}`;
}

/** The hosts the lab connects to, one per address (a node doubling as DNS host is one host). */
export function sshHosts(cfg: Pick<LabConfig, "master" | "workers" | "dns">): HostSpec[] {
    const out: HostSpec[] = [];
    for (const h of [cfg.master, ...cfg.workers, ...(cfg.dns ? [cfg.dns.host] : [])])
        if (!out.some((o) => o.address === h.address)) out.push(h);
    return out;
}

export interface HostKeysArgs {
    hosts: HostSpec[];
    port: number;
    /** Seconds ssh-keyscan waits for a host (sshPerDialTimeout). */
    timeoutSeconds: number;
}

/** The expected key of each host: pinned by its host object, or recorded by the first up. */
export class HostKeys extends pulumi.ComponentResource {
    /** address → `<type> <base64>` that host's steps expect. */
    public readonly keys = new Map<string, pulumi.Output<string>>();
    /** address → the record of a host without a pinned key (its create ran ssh-keyscan once). */
    public readonly records = new Map<string, command.local.Command>();

    constructor(
        name: string,
        private readonly args: HostKeysArgs,
        opts?: pulumi.ComponentResourceOptions,
    ) {
        super(TYPES.hostKeys, name, {}, opts);
        for (const h of args.hosts) {
            const pinned = h.hostKey === undefined ? undefined : parsePublicKey(h.hostKey);
            if (pinned) {
                this.keys.set(h.address, pulumi.output(keyLine(pinned)));
                continue;
            }
            const record = new command.local.Command(
                `${shortName(h.name)}-host-key`,
                { create: keyscanCommand(h.address, args.port, args.timeoutSeconds), addPreviousOutputInEnv: false, logging: "stderr" },
                // The record is made once: a changed address or timeout must not quietly record a new key
                // (the check below then compares the host at its new address with the recorded key).
                { parent: this, ignoreChanges: ["create"] },
            );
            this.records.set(h.address, record);
            this.keys.set(
                h.address,
                record.stdout.apply((out) => {
                    const k = preferredKey(parseKeyscan(out ?? ""));
                    if (!k) throw new Error(`${h.name}: the record of its host key holds no key (${JSON.stringify(out)})`);
                    return keyLine(k);
                }),
            );
        }
        this.registerOutputs({});
    }

    /**
     * Compares the key each host offers now with the expected one, for every host whose expected
     * key is known (in a preview, a host met for the first time has none yet). Resolves with the
     * problems, one message per host; a host that cannot be scanned now is left to its steps,
     * whose connections pin the key anyway.
     */
    async verify(scan: (h: HostSpec) => Promise<string | undefined> = (h) => this.scan(h)): Promise<string[]> {
        const problems = await Promise.all(
            this.args.hosts.map(async (h) => {
                const expected = await valueOf(this.keys.get(h.address)!);
                if (expected === undefined) return undefined;
                const now = await scan(h);
                if (now === undefined) {
                    pulumi.log.warn(`${h.name}: its host key could not be read now; its steps check it when they connect`);
                    return undefined;
                }
                return this.mismatch(h, parsePublicKey(expected)!, parseKeyscan(now));
            }),
        );
        return problems.filter((p): p is string => p !== undefined);
    }

    /** ssh-keyscan through the command provider (`local.run`: on every preview and up), or undefined when it fails. */
    private async scan(h: HostSpec): Promise<string | undefined> {
        try {
            const r = await command.local.run({
                command: keyscanCommand(h.address, this.args.port, this.args.timeoutSeconds),
                addPreviousOutputInEnv: false,
                logging: "none",
            });
            return r.stdout || undefined;
        } catch {
            return undefined;
        }
    }

    private async mismatch(h: HostSpec, expected: PublicKey, offered: PublicKey[]): Promise<string | undefined> {
        const same = offered.find((k) => k.type === expected.type);
        if (same?.base64 === expected.base64) return undefined;
        const now = same ?? preferredKey(offered);
        const record = this.records.get(h.address);
        const where = `${h.address}:${this.args.port}`;
        const accept = record
            ? [
                  `  pulumi up --replace '${await valueOf(record.urn)}'`,
                  `  (records the key it offers now), or pin it in its host object in Pulumi.<stack>.yaml: "hostKey": "<type> <base64>" (ssh-keyscan -p ${this.args.port} ${h.address} prints them after the address)`,
              ]
            : [
                  `  put its new key in the "hostKey" of its host object in Pulumi.<stack>.yaml (ssh-keyscan -p ${this.args.port} ${h.address} prints it after the address)`,
              ];
        return [
            `the SSH host key of ${h.name} (${where}) is not the one this stack expects:`,
            `  expected (${record ? "recorded by the first pulumi up" : "the hostKey of its host object"}): ${shownKey(expected)}`,
            `  the host offers now: ${now ? shownKey(now) : "no key"}`,
            `Someone else may answer at ${where}: nothing was run on any host. If ${h.name} was rebuilt, accept its new key:`,
            ...accept,
        ].join("\n");
    }
}

/** The value of an output, or undefined while it is unknown (a preview of a resource yet to be made). */
export function valueOf<T>(o: pulumi.Output<T>): Promise<T | undefined> {
    // Output.isKnown is in every Output of @pulumi/pulumi, marked internal in its typings.
    const known = (o as unknown as { isKnown: Promise<boolean> }).isKnown;
    return new Promise((resolve, reject) => {
        known.then((k) => (k ? undefined : resolve(undefined)), reject);
        o.apply((v) => {
            resolve(v);
            return v;
        });
    });
}

/**
 * The host keys of the lab, pinned and checked: every host's expected key (pinned, or recorded by
 * the first up), and a stop (RunError, every mismatched host in one message) before anything else
 * is registered when a host offers another key.
 */
export async function pinHostKeys(cfg: LabConfig): Promise<HostKeys> {
    const keys = new HostKeys("host-keys", { hosts: sshHosts(cfg), port: cfg.ssh.port, timeoutSeconds: cfg.ssh.perDialTimeout });
    const problems = await keys.verify();
    if (problems.length > 0) throw new pulumi.RunError(problems.join("\n\n"));
    return keys;
}
