// How a host script reaches a host: one `remote.Command` per step, the script
// carried in clear text inside the command line (so a changed file is an
// in-place update of that step, shown line by line by `pulumi preview --diff`),
// values as named, quoted arguments, secrets on stdin. See steps/README.md.
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { HostSpec, SshSettings } from "./config";

/** The host steps: `<STEPS_DIR>/<step>/<step>.sh`, and the functions they share in `<STEPS_DIR>/lib.sh`. */
export const STEPS_DIR = path.join(__dirname, "..", "steps");

/** The file of a step's script `<name>` (`repo.sh`) under the steps root `root`: `<root>/repo/repo.sh`. */
export function scriptFile(name: string, root: string = STEPS_DIR): string {
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]*\.sh$/.test(name)) throw new Error(`not a step script: ${JSON.stringify(name)}`);
    return path.join(root, name.slice(0, -3), name);
}

/** Quotes a value for a POSIX shell: 'it'\''s'. */
export function shQuote(s: string): string {
    return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A script's line that stands for lib.sh: it sources it when the file is run directly. */
const LIB_MARKER = "# kubevirt-lab:lib";
/** The lines that open and close a part of a script (or of lib.sh) that only its `check` action needs. */
const CHECK_BEGIN = "# kubevirt-lab:check {";
const CHECK_END = "# kubevirt-lab:check }";

const scriptCache = new Map<string, string>();

/** `lines` without its check-only parts (from a CHECK_BEGIN line to the CHECK_END line, both included). */
function withoutCheck(lines: string[], name: string): string[] {
    const out: string[] = [];
    let inside = false;
    for (const line of lines) {
        if (line === CHECK_BEGIN) {
            if (inside) throw new Error(`${name}: ${CHECK_BEGIN} inside a check-only part`);
            inside = true;
        } else if (line === CHECK_END) {
            if (!inside) throw new Error(`${name}: ${CHECK_END} without its ${CHECK_BEGIN}`);
            inside = false;
        } else if (!inside) out.push(line);
    }
    if (inside) throw new Error(`${name}: ${CHECK_BEGIN} never closed`);
    return out;
}

/**
 * The text of the step script `<name>` as it is sent to a host: every line that
 * ends in `# kubevirt-lab:lib` (the `source .../lib.sh` line, and a `# shellcheck
 * source=` line right above it) replaced by `<root>/lib.sh` without its shebang
 * line, so that the host receives one self-contained script. The parts that only
 * the read-only `check` action needs (CHECK_BEGIN to CHECK_END, in the script and
 * in lib.sh) are left out unless `forCheck`: what `apply` and `remove` send does
 * not change when a check does, so a new or changed check is no update of a lab's
 * steps. Cached: the files are read once per process.
 */
export function renderScript(name: string, root: string = STEPS_DIR, forCheck = false): string {
    const key = `${root}\0${name}\0${forCheck}`;
    let text = scriptCache.get(key);
    if (text === undefined) {
        const lines = fs.readFileSync(scriptFile(name, root), "utf8").split("\n");
        const out: string[] = [];
        for (const line of lines) {
            if (!line.trimEnd().endsWith(LIB_MARKER)) out.push(line);
            else {
                if (out.length > 0 && /^\s*# shellcheck source=/.test(out[out.length - 1])) out.pop();
                out.push(
                    ...fs
                        .readFileSync(path.join(root, "lib.sh"), "utf8")
                        .replace(/^#![^\n]*\n/, "")
                        .replace(/\n$/, "")
                        .split("\n"),
                );
            }
        }
        text = (forCheck ? out : withoutCheck(out, name)).join("\n");
        scriptCache.set(key, text);
    }
    return text;
}

/** The line that ends the script's here-document in a command line; no script may have it as a line. */
export const SCRIPT_END = "KUBEVIRT_LAB_SCRIPT_END";

/**
 * The command line that runs the script `text` as root on a host, in clear
 * text so that `pulumi preview --diff` shows a changed script line by line:
 *
 *     d=$(mktemp -d) && trap 'rm -rf "$d"' EXIT && cat >"$d"/<name> <<'KUBEVIRT_LAB_SCRIPT_END' || exit
 *     <the script, verbatim>
 *     KUBEVIRT_LAB_SCRIPT_END
 *     sudo -n bash "$d"/<name> <argv, quoted>
 *
 * The login shell of the SSH user (any POSIX shell) writes the script to a
 * private temporary directory (removed when it exits) and runs it with bash:
 * stdin stays the step's stdin (a secret join line). `sudo -n` fails at once
 * instead of waiting for a password when sudo needs one; it is left out when
 * the SSH user is root.
 */
export function scriptCommandLine(text: string, name: string, argv: readonly string[], sshUser: string): string {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new Error(`not a script file name: ${JSON.stringify(name)}`);
    if (text.split("\n").includes(SCRIPT_END))
        throw new Error(`${name}: a line of the script is ${SCRIPT_END}, the end of its here-document`);
    const body = text.endsWith("\n") ? text : `${text}\n`;
    const sudo = sshUser === "root" ? "" : "sudo -n ";
    const file = `"$d"/${name}`;
    return [
        `d=$(mktemp -d) && trap 'rm -rf "$d"' EXIT && cat >${file} <<'${SCRIPT_END}' || exit`,
        `${body}${SCRIPT_END}`,
        `${sudo}bash ${file}${argv.map((a) => ` ${shQuote(a)}`).join("")}`,
    ].join("\n");
}

/**
 * The command line that runs the step script `<name>` (rendered: lib.sh inlined) as root on a
 * host; a `check` (argv[0]) carries the script's check-only parts, the other actions do not.
 */
export function hostScript(name: string, argv: readonly string[], sshUser: string, root: string = STEPS_DIR): string {
    return scriptCommandLine(renderScript(name, root, argv[0] === "check"), name, argv, sshUser);
}

// ---------- named arguments ----------

/** How often an option may be given (steps/lib.sh, OPTIONS): "" once, "?" at most once, "+" once or more, "*" any number of times. */
export type OptionKind = "" | "?" | "+" | "*";
/** The options of each action of a script (`apply`, `remove`, or `run` for a script without actions; and `check`), in declared order. */
export type ScriptOptions = ReadonlyMap<string, ReadonlyMap<string, OptionKind>>;

const optionsCache = new Map<string, ScriptOptions | undefined>();

/**
 * The options `<dir>/<name>` declares on its `OPTIONS[<action>]='<spec>'`
 * lines (see lib.sh), or undefined for a script that declares none.
 */
export function scriptOptions(name: string, root: string = STEPS_DIR): ScriptOptions | undefined {
    const key = `${root}\0${name}`;
    if (!optionsCache.has(key)) {
        const raw = fs.readFileSync(scriptFile(name, root), "utf8");
        const actions = new Map<string, Map<string, OptionKind>>();
        for (const m of raw.matchAll(/^OPTIONS\[(apply|remove|run|check)\]='([^']*)'$/gm)) {
            const opts = new Map<string, OptionKind>();
            for (const word of m[2].split(/\s+/).filter((w) => w !== "")) {
                const w = /^([a-z][a-z0-9-]*)([?+*]?)$/.exec(word);
                if (!w) throw new Error(`${name}: OPTIONS[${m[1]}]: not an option: ${JSON.stringify(word)}`);
                opts.set(w[1], w[2] as OptionKind);
            }
            if ([...opts.values()].filter((k) => k === "+" || k === "*").length > 1)
                throw new Error(`${name}: OPTIONS[${m[1]}]: more than one repeatable option`);
            actions.set(m[1], opts);
        }
        // `OPTIONS[check]=${OPTIONS[apply]}`: a check takes what its apply takes (the same binding).
        const same = /^OPTIONS\[check\]=\$\{OPTIONS\[(apply|run)\]\}$/m.exec(raw);
        if (same && actions.has(same[1])) actions.set("check", actions.get(same[1])!);
        const main = actions.size - (actions.has("check") ? 1 : 0);
        if (main > 0 && !(actions.has("run") ? main === 1 : actions.has("apply") && actions.has("remove") && main === 2)) {
            throw new Error(`${name}: OPTIONS must declare apply and remove, or run alone (and check, if the step has one)`);
        }
        optionsCache.set(key, actions.size > 0 ? actions : undefined);
    }
    return optionsCache.get(key);
}

/** Named arguments of a script action: `{ "pod-network-cidr": "10.244.0.0/16" }`; a list repeats the option, undefined leaves it out. */
export type ScriptArgs = Readonly<Record<string, pulumi.Input<string> | readonly pulumi.Input<string>[] | undefined>>;
/** ScriptArgs with their values known. */
export type ResolvedArgs = Readonly<Record<string, string | readonly string[] | undefined>>;

/**
 * Checks named arguments against what the script declares for the action, at
 * program time (before anything runs): every key an option of the action, a
 * list exactly for the repeatable option, every required option given. The
 * values were checked by components/config.ts; the script checks nothing more.
 */
export function checkArgs(script: string, action: string, args: ScriptArgs, root: string = STEPS_DIR): void {
    const declared = scriptOptions(script, root)?.get(action);
    if (!declared) throw new Error(`${script} declares no options for ${action} (OPTIONS[${action}] in the script)`);
    const problems: string[] = [];
    for (const [key, value] of Object.entries(args)) {
        const kind = declared.get(key);
        if (kind === undefined) problems.push(`--${key} is not one of its options`);
        else if (value !== undefined && Array.isArray(value) !== (kind === "+" || kind === "*"))
            problems.push(`--${key} takes ${Array.isArray(value) ? "one value, not a list" : "a list"}`);
    }
    for (const [key, kind] of declared) {
        const value = args[key];
        if (kind === "" && value === undefined) problems.push(`--${key} is required`);
        if (kind === "+" && (value === undefined || (Array.isArray(value) && value.length === 0)))
            problems.push(`--${key} is required at least once`);
    }
    if (problems.length > 0) throw new Error(`${script} ${action}: ${problems.join("; ")}`);
}

/** The words of named arguments, in the order of the keys: `--<key> <value>`, once per value of a list. */
export function namedArgv(args: ResolvedArgs): string[] {
    const out: string[] = [];
    for (const [key, value] of Object.entries(args)) {
        for (const v of value === undefined ? [] : typeof value === "string" ? [value] : value) out.push(`--${key}`, v);
    }
    return out;
}

/**
 * The SSH connection of a host: the key as a secret, the host's own host key pinned (the command
 * provider refuses any other: components/hostKeys.ts), bounded dialing so that a dead host fails fast.
 */
export function connection(host: HostSpec, ssh: SshSettings): command.types.input.remote.ConnectionArgs {
    const hostKey = ssh.hostKeys?.get(host.address);
    if (hostKey === undefined) throw new Error(`${host.name}: no host key to pin (index.ts pins every host's key before its steps)`);
    return {
        host: host.address,
        port: ssh.port,
        user: ssh.user,
        privateKey: ssh.privateKey,
        hostKey,
        dialErrorLimit: ssh.dialErrorLimit,
        perDialTimeout: ssh.perDialTimeout,
    };
}

export interface StepArgs {
    host: HostSpec;
    ssh: SshSettings;
    /** The step's script, `repo.sh` for steps/repo/repo.sh. */
    script: string;
    /**
     * Arguments of the `apply` run (or of the `run` of a script without
     * actions), named: `{ "node-name": host.name }` becomes `--node-name <name>`
     * (checked against the script's OPTIONS, see checkArgs). Positional words
     * only for a script that declares no OPTIONS (none of steps/ does).
     */
    args?: ScriptArgs | readonly pulumi.Input<string>[];
    /** Whether the script takes `apply`/`remove` as its first argument. */
    withActions?: boolean;
    /** Arguments of the `remove` run on `pulumi destroy` (only with withActions), as `args`. */
    removeArgs?: ResolvedArgs | readonly string[];
    /** Data for the script's stdin (a secret such as a join line). */
    stdin?: pulumi.Input<string>;
    /** The step prints a secret: its stdout is kept secret and never logged. */
    secretOutput?: boolean;
}

/** The argv of one action of a step's script: the action word (with actions), then its arguments. */
function actionArgv(
    a: StepArgs,
    action: "apply" | "remove" | "run",
    args: ScriptArgs | readonly pulumi.Input<string>[] | undefined,
): pulumi.Output<string[]> {
    const word = action === "run" ? [] : [action];
    if (Array.isArray(args)) {
        if (scriptOptions(a.script)) throw new Error(`${a.script} takes named arguments (its OPTIONS), not positional ones`);
        return pulumi.all([...(args as readonly pulumi.Input<string>[])]).apply((words: string[]) => [...word, ...words]);
    }
    const named = (args ?? {}) as ScriptArgs;
    checkArgs(a.script, action, named);
    return pulumi.output(named).apply((resolved) => [...word, ...namedArgv(resolved as ResolvedArgs)]);
}

/**
 * One host step as a `remote.Command`: create runs the script, a changed script or
 * argument re-runs it in place (no `update` command, so `create` runs again),
 * and delete runs its `remove` action. Both carry the whole script; the diff of
 * `delete` is hidden (`hideDiffs`), so that a changed script shows once per
 * step in `pulumi preview --diff`, in `create`, unless create's changes are
 * ignored (then in `delete`, the one that will run).
 */
export function hostStep(name: string, a: StepArgs, opts: pulumi.CustomResourceOptions): command.remote.Command {
    const declared = scriptOptions(a.script);
    if (declared && declared.has("apply") !== !!a.withActions) {
        throw new Error(
            `${name}: ${a.script} ${declared.has("apply") ? "takes" : "does not take"} apply/remove: set withActions accordingly`,
        );
    }
    const create = actionArgv(a, a.withActions ? "apply" : "run", a.args).apply((argv) => hostScript(a.script, argv, a.ssh.user));
    const del = a.withActions ? actionArgv(a, "remove", a.removeArgs).apply((argv) => hostScript(a.script, argv, a.ssh.user)) : undefined;
    const createIgnored = (opts.ignoreChanges ?? []).includes("create");
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
            ...(a.withActions && !createIgnored ? { hideDiffs: [...(opts.hideDiffs ?? []), "delete"] } : {}),
            ...(a.secretOutput ? { additionalSecretOutputs: ["stdout", "stderr"] } : {}),
        },
    );
}
