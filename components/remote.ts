// How a host script reaches a host: one `remote.Command` per step, the script
// file carried inside the command line (so a changed file is an in-place update
// of that step, shown by `pulumi preview`), values as quoted arguments, secrets
// on stdin. See scripts/host/README.md.
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { HostSpec, SshSettings } from "./config";

export const SCRIPT_DIR = path.join(__dirname, "..", "scripts", "host");

/** Quotes a value for a POSIX shell: 'it'\''s'. */
export function shQuote(s: string): string {
    return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A script's line that stands for lib.sh: it sources it when the file is run directly. */
const LIB_MARKER = "# kubevirt-lab:lib";

const scriptCache = new Map<string, string>();

/**
 * The text of `<dir>/<name>` as it is sent to a host: every line that ends in
 * `# kubevirt-lab:lib` (the `source .../lib.sh` line, and a `# shellcheck
 * source=` line right above it) replaced by `<dir>/lib.sh` without its shebang
 * line, so that the host receives one self-contained script. Cached per
 * (dir, name): the files are read once per process.
 */
export function renderScript(name: string, dir: string = SCRIPT_DIR): string {
    const key = `${dir}\0${name}`;
    let text = scriptCache.get(key);
    if (text === undefined) {
        const raw = fs.readFileSync(path.join(dir, name), "utf8");
        const lines = raw.split("\n");
        if (lines.some((l) => l.trimEnd().endsWith(LIB_MARKER))) {
            const lib = fs.readFileSync(path.join(dir, "lib.sh"), "utf8").replace(/^#![^\n]*\n/, "").replace(/\n$/, "");
            const out: string[] = [];
            for (const line of lines) {
                if (!line.trimEnd().endsWith(LIB_MARKER)) out.push(line);
                else {
                    if (out.length > 0 && /^\s*# shellcheck source=/.test(out[out.length - 1])) out.pop();
                    out.push(lib);
                }
            }
            text = out.join("\n");
        } else {
            text = raw;
        }
        scriptCache.set(key, text);
    }
    return text;
}

/**
 * The command line that runs the script `text` as root on a host, `$0` being
 * `name`: `sudo -n bash -c "$(printf %s '<base64>' | base64 -d)" <name> args...`.
 * `sudo -n` fails at once instead of waiting for a password when sudo needs
 * one; it is left out when the SSH user is root.
 */
export function scriptCommandLine(text: string, name: string, args: readonly string[], sshUser: string): string {
    const b64 = Buffer.from(text).toString("base64");
    const sudo = sshUser === "root" ? "" : "sudo -n ";
    const argv = [name, ...args].map(shQuote).join(" ");
    return `${sudo}bash -c "$(printf %s '${b64}' | base64 -d)" ${argv}`;
}

/** The command line that runs `<dir>/<name>` (rendered: lib.sh inlined) as root on a host. */
export function hostScript(name: string, args: readonly string[], sshUser: string, dir: string = SCRIPT_DIR): string {
    return scriptCommandLine(renderScript(name, dir), name, args, sshUser);
}

/** The SSH connection of a host, with the key as a secret and bounded dialing so that a dead host fails fast. */
export function connection(host: HostSpec, ssh: SshSettings): command.types.input.remote.ConnectionArgs {
    return {
        host: host.address,
        port: ssh.port,
        user: ssh.user,
        privateKey: ssh.privateKey,
        hostKey: ssh.hostKey,
        dialErrorLimit: ssh.dialErrorLimit,
        perDialTimeout: ssh.perDialTimeout,
    };
}

export interface StepArgs {
    host: HostSpec;
    ssh: SshSettings;
    /** scripts/host/<script> */
    script: string;
    /** Arguments of the `apply` run; when `withActions` is set they follow the word `apply`. */
    args?: readonly pulumi.Input<string>[];
    /** Whether the script takes `apply`/`remove` as its first argument. */
    withActions?: boolean;
    /** Arguments of the `remove` run on `pulumi destroy` (only with withActions). */
    removeArgs?: readonly string[];
    /** Data for the script's stdin (a secret such as a join line). */
    stdin?: pulumi.Input<string>;
    /** The step prints a secret: its stdout is kept secret and never logged. */
    secretOutput?: boolean;
}

/**
 * One host step as a `remote.Command`: create runs the script, a changed script or
 * argument re-runs it in place (no `update` command, so `create` runs again),
 * and delete runs its `remove` action.
 */
export function hostStep(name: string, a: StepArgs, opts: pulumi.CustomResourceOptions): command.remote.Command {
    const args = a.args ?? [];
    const create = pulumi.all([...args]).apply((resolved) => hostScript(a.script, a.withActions ? ["apply", ...resolved] : resolved, a.ssh.user));
    const del = a.withActions ? hostScript(a.script, ["remove", ...(a.removeArgs ?? [])], a.ssh.user) : undefined;
    return new command.remote.Command(
        name,
        {
            connection: connection(a.host, a.ssh),
            create,
            delete: del,
            stdin: a.stdin,
            addPreviousOutputInEnv: false,
            logging: a.secretOutput || a.stdin !== undefined ? "none" : "stdoutAndStderr",
        },
        {
            ...opts,
            // A step that undoes itself on delete must undo before it is done again: creating the
            // new one first and then deleting the old one would remove what the new one just made
            // (a replaced kubeadm-init would end in `kubeadm reset`).
            ...(a.withActions ? { deleteBeforeReplace: true } : {}),
            ...(a.secretOutput ? { additionalSecretOutputs: ["stdout", "stderr"] } : {}),
        },
    );
}
