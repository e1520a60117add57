/**
 * A throwaway "host" for tests of the host scripts: a bash command runs as
 * root in a private mount, network, PID and UTS namespace (`unshare`), where
 *
 * - `/etc`, `/var`, `/root` and `/home` are overlayfs mounts over the real
 *   directories, their upper layers in a per-sandbox temp directory: the
 *   command sees the machine's files but every change lands in the sandbox;
 * - `/usr/local/bin` shows only the recording stand-ins (`harness/standins/bin`,
 *   read-only) and PATH starts there, so `yum`, `systemctl`, `sysctl`,
 *   `kubeadm`... are the stand-ins;
 * - everything else (`/usr`, `/opt`, `/work`, `/sys`, `/proc/sys`...) is
 *   read-only: a write there fails instead of reaching the machine;
 * - `/tmp` and `/run` are empty tmpfs (no socket of the real systemd);
 * - there is no network (not even loopback up).
 *
 * The namespaces are made once, by `Sandbox.create`, and held by a small
 * process (PID 1 of the sandbox) that ends when `dispose` is called or the
 * test process exits; every `run` enters them with `nsenter`. So a second
 * `run` sees what the first one left (files, /tmp), like a second
 * `pulumi up` on the same host, and a run costs two process starts. Several
 * sandboxes can share a directory (`binds`), e.g. the stand-ins' simulated
 * API server, to play one cluster of several hosts.
 *
 *     const km1 = await Sandbox.create({ hostname: "km1" });
 *     const before = km1.snapshot();
 *     const r = await km1.runScriptAsync("repo.sh", ["apply", "--baseurl", url, "--gpgkey", key]); // or runScript (sync)
 *     assert.equal(r.code, 0, r.stderr);
 *     km1.readFile("/etc/yum.repos.d/kubernetes.repo");
 *     km1.commands();   // ["yum install -y ...", ...] from the calls log
 *     diffSnapshots(before, km1.snapshot()); // ["created /etc/yum.repos.d/kubernetes.repo (file)", ...]
 *     await km1.dispose();
 *
 * Needs root (unshare, nsenter, mount), Linux overlayfs and perl (PID 1 does
 * the mounts with the mount syscall: one process start instead of twenty).
 * `sandboxSupported()` says whether this machine can.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { hostScript, shQuote } from "../../components/remote";

export { shQuote };

/** The repository root (this file is test/lib/sandbox.ts). */
export const REPO_ROOT = path.resolve(__dirname, "..", "..");
/** The recording stand-ins, mounted on /usr/local/bin. */
export const STANDINS_BIN = path.join(REPO_ROOT, "harness", "standins", "bin");
/** The host scripts. */
/** The host steps' root: steps/<step>/<step>.sh and steps/lib.sh (components/remote.ts STEPS_DIR). */
export const HOST_SCRIPTS = path.join(REPO_ROOT, "steps");
/** Where the stand-ins log calls inside a sandbox (their default). */
export const CALLS_LOG = "/var/log/kubevirt-lab/calls.log";
/** The stand-ins' state directory inside a sandbox (their default). */
export const SIM_STATE = "/var/lib/kubevirt-lab-sim";
/** The stand-ins' simulated API server inside a sandbox (their default). */
export const SIM_APISERVER = "/var/lib/kubevirt-lab-sim/apiserver";

/** The directories that get an overlay (writes go to the sandbox). */
const OVERLAID = ["/etc", "/var", "/root", "/home"] as const;

const SANDBOX_PATH = "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface Bind {
    /** A directory of the real machine. */
    readonly source: string;
    /** Where it appears in the sandbox (created if missing). */
    readonly target: string;
    readonly readOnly?: boolean;
}

export interface SandboxOptions {
    /** Host name (UTS namespace) and so the stand-ins' SIM_HOST. Default "sandbox". */
    readonly hostname?: string;
    /** Environment of every run, on top of PATH, HOME, LANG, USER. */
    readonly env?: Readonly<Record<string, string>>;
    /** Directories mounted (stacked, first wins) on /usr/local/bin. Default [STANDINS_BIN]. */
    readonly binDirs?: readonly string[];
    /** Real directories made visible in the sandbox, e.g. a shared SIM_APISERVER. */
    readonly binds?: readonly Bind[];
    /** Parent of the sandbox's temp directory. Default os.tmpdir(). */
    readonly tmpParent?: string;
}

export interface RunOptions {
    /** Data on stdin (default: none, stdin is empty). */
    readonly stdin?: string;
    /** Extra environment of this run. */
    readonly env?: Readonly<Record<string, string>>;
    /** Kill the run after this long. Default 30 s. */
    readonly timeoutMs?: number;
}

export interface RunResult {
    readonly stdout: string;
    readonly stderr: string;
    /** Exit code; null when killed by a signal (see `signal`). */
    readonly code: number | null;
    readonly signal: NodeJS.Signals | null;
    /** Wall time of the run in milliseconds. */
    readonly ms: number;
}

/** One line of the stand-ins' calls log. */
export interface Call {
    readonly ms: number;
    readonly host: string;
    readonly prog: string;
    readonly args: readonly string[];
    /** "prog arg1 arg2 ..." (args as logged, shell-quoted when needed). */
    readonly command: string;
}

/** One entry of an upper-layer snapshot: what a second run must not change. */
export interface Entry {
    readonly kind: "file" | "dir" | "symlink" | "whiteout" | "other";
    readonly mode: number;
    readonly uid: number;
    readonly gid: number;
    readonly mtimeNs: bigint;
    /** sha256 of a file's content, a symlink's target. */
    readonly hash?: string;
}

/** Sandbox path -> entry, for every path in the upper layers. */
export type Snapshot = Map<string, Entry>;

/**
 * The command line kubevirt-lab's Pulumi components run on a host (see
 * steps/README.md), made by the production code: `<scriptsDir>/<step>/<script>`
 * with lib.sh inlined, in clear text inside the command, as the SSH user root.
 * `args` are the script's words: the action, then `--name value`... (the
 * tests build them with `namedArgv`, as hostStep does; or give bad ones).
 * A mutated copy of a script under another root needs lib.sh in that root: `<root>/repo/repo.sh`, `<root>/lib.sh`.
 */
export function scriptCommand(script: string, args: readonly string[], scriptsDir = HOST_SCRIPTS): string {
    return hostScript(script, args, "root", scriptsDir);
}

/** Split one logged argument list (bash printf %q words) into words. */
export function parseLoggedArgs(text: string): string[] {
    const words: string[] = [];
    let i = 0;
    const escapes: Record<string, string> = {
        n: "\n",
        t: "\t",
        r: "\r",
        "\\": "\\",
        "'": "'",
        '"': '"',
        e: "\x1b",
        a: "\x07",
        b: "\b",
        f: "\f",
        v: "\v",
    };
    while (i < text.length) {
        while (text[i] === " ") i++;
        if (i >= text.length) break;
        let word = "";
        while (i < text.length && text[i] !== " ") {
            const c = text[i];
            if (c === "\\") {
                word += text[i + 1] ?? "";
                i += 2;
            } else if (c === "'") {
                const end = text.indexOf("'", i + 1);
                word += text.slice(i + 1, end);
                i = end + 1;
            } else if (c === "$" && text[i + 1] === "'") {
                i += 2;
                while (i < text.length && text[i] !== "'") {
                    if (text[i] === "\\") {
                        const e = text[i + 1];
                        if (e === "x") {
                            word += String.fromCharCode(parseInt(text.slice(i + 2, i + 4), 16));
                            i += 4;
                        } else if (/[0-7]/.test(e)) {
                            const oct = /^[0-7]{1,3}/.exec(text.slice(i + 1))![0];
                            word += String.fromCharCode(parseInt(oct, 8));
                            i += 1 + oct.length;
                        } else {
                            word += escapes[e] ?? e;
                            i += 2;
                        }
                    } else {
                        word += text[i++];
                    }
                }
                i++;
            } else {
                word += c;
                i++;
            }
        }
        words.push(word);
    }
    return words;
}

let counter = 0;

type Located = { where: "upper"; real: string } | { where: "lower"; real: string } | { where: "absent" } | { where: "run" };

export class Sandbox {
    /** The sandbox's temp directory (upper layers under layers/<dir>/upper). */
    readonly dir: string;
    readonly hostname: string;
    private readonly options: SandboxOptions;
    private holder?: ChildProcess;
    /** PID (on the machine) of the sandbox's PID 1, the target of nsenter. */
    private pid = 0;
    private disposed = false;

    private constructor(options: SandboxOptions) {
        this.options = options;
        this.hostname = options.hostname ?? "sandbox";
        if (!/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(this.hostname)) throw new Error(`bad sandbox hostname ${this.hostname}`);
        this.dir = fs.mkdtempSync(path.join(options.tmpParent ?? os.tmpdir(), `kvl-sandbox-${process.pid}-${counter++}-`));
        for (const d of OVERLAID) {
            fs.mkdirSync(path.join(this.dir, "layers", d, "upper"), { recursive: true });
            fs.mkdirSync(path.join(this.dir, "layers", d, "work"), { recursive: true });
        }
    }

    /** Make a sandbox: temp dir, namespaces, mounts. Call `dispose` when done. */
    static async create(options: SandboxOptions = {}): Promise<Sandbox> {
        const sb = new Sandbox(options);
        try {
            await sb.start();
        } catch (e) {
            await sb.dispose();
            throw e;
        }
        return sb;
    }

    /** The upper layer (on the real machine) that holds the sandbox's changes to `dir`. */
    upperDir(dir: (typeof OVERLAID)[number]): string {
        return path.join(this.dir, "layers", dir, "upper");
    }

    /**
     * The program of the sandbox's PID 1 (perl, so that all the mounts cost one
     * process start, not twenty): mounts, host name, "ready", then it holds the
     * namespaces until its stdin closes (dispose(), or the test process ends);
     * PID 1 ending ends every process of the sandbox.
     */
    private setupScript(): string {
        const p = (s: string) => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
        const ops: string[] = [];
        for (const d of OVERLAID) {
            const l = path.join(this.dir, "layers", d);
            ops.push(`mnt('overlay', ${p(d)}, 'overlay', 0, ${p(`lowerdir=${d},upperdir=${l}/upper,workdir=${l}/work`)});`);
        }
        const bins = this.options.binDirs ?? [STANDINS_BIN];
        if (bins.length === 0) throw new Error("binDirs must not be empty");
        if (bins.length === 1) ops.push(`ro_bind(${p(bins[0])}, '/usr/local/bin');`);
        else ops.push(`mnt('overlay', '/usr/local/bin', 'overlay', MS_RDONLY, ${p(`lowerdir=${bins.join(":")}`)});`);
        // Each bind's source is opened first and bound from its descriptor: a source under /tmp or
        // /run (a repository cloned into /tmp) is still reached once those are the sandbox's tmpfs,
        // and a target under them is bound after they are mounted.
        const binds = this.options.binds ?? [];
        const bindOp = (b: Bind, i: number) => [
            `make_path(${p(b.target)});`,
            b.readOnly ? `ro_bind($src[${i}], ${p(b.target)});` : `mnt($src[${i}], ${p(b.target)}, 0, MS_BIND, 0);`,
        ];
        const inTmpfs = (b: Bind) => /^\/(tmp|run)(\/|$)/.test(b.target);
        const opens = binds.map(
            (b, i) =>
                `open(my $fh${i}, "<", ${p(b.source)}) or die "sandbox: ${i}: $!\n"; $src[${i}] = "/proc/self/fd/" . fileno($fh${i});`,
        );
        binds.forEach((b, i) => inTmpfs(b) || ops.push(...bindOp(b, i)));
        const late = binds.flatMap((b, i) => (inTmpfs(b) ? bindOp(b, i) : []));
        return `
use strict; use warnings; use File::Path qw(make_path);
use constant { MS_RDONLY => 1, MS_REMOUNT => 32, MS_BIND => 4096, MS_REC => 16384 };
my $SYS_mount = eval { require "syscall.ph"; &SYS_mount() } // 165; # 165: x86_64
sub mnt { my ($src, $tgt, $type, $flags, $data) = @_;
  syscall($SYS_mount, $src, $tgt, $type, $flags, $data) == 0 or die "sandbox: mount $tgt: $!\n"; }
sub ro_bind { my ($src, $tgt) = @_;
  mnt($src, $tgt, 0, MS_BIND | MS_REC, 0);
  mnt(0, $tgt, 0, MS_REMOUNT | MS_BIND | MS_RDONLY, 0); }
my @src;
${opens.join("\n")}
${ops.join("\n")}
# Every other top-level directory read-only: a write there fails instead of
# reaching the machine (the mounts above keep their own flags).
opendir(my $root, "/") or die "sandbox: /: $!\n";
for my $e (sort readdir($root)) {
  next if $e =~ /^(\\.|\\.\\.|etc|var|root|home|tmp|run|proc|dev|lost\\+found)$/;
  my $d = "/$e";
  ro_bind($d, $d) if -d $d && ! -l $d;
}
open(my $h, ">", "/proc/sys/kernel/hostname") or die "sandbox: hostname: $!\n";
print $h ${p(this.hostname)}; close($h) or die "sandbox: hostname: $!\n";
ro_bind("/proc/sys", "/proc/sys");
mnt("tmpfs", "/tmp", "tmpfs", 0, "mode=1777");
mnt("tmpfs", "/run", "tmpfs", 0, "mode=755");
${late.join("\n")}
$| = 1; print "ready\n";
my $wait = <STDIN>;
`;
    }

    private env(extra?: Readonly<Record<string, string>>): Record<string, string> {
        return {
            PATH: SANDBOX_PATH,
            HOME: "/root",
            USER: "root",
            LOGNAME: "root",
            LANG: "C.UTF-8",
            // Node's stdio are socketpairs: bash would take that for sshd and
            // source ~/.bashrc (Debian's SSH_SOURCE_BASHRC), unless SHLVL >= 1.
            SHLVL: "1",
            ...this.options.env,
            ...extra,
        };
    }

    private async start(): Promise<void> {
        const holder = spawn(
            "unshare",
            [
                "--mount",
                "--propagation",
                "private",
                "--net",
                "--uts",
                "--pid",
                "--fork",
                "--kill-child",
                "--mount-proc",
                "perl",
                "-e",
                this.setupScript(),
            ],
            { env: this.env(), stdio: ["pipe", "pipe", "pipe"] },
        );
        this.holder = holder;
        let out = "";
        let err = "";
        await new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`sandbox setup timed out: ${err}`)), 30_000);
            holder.stdout!.on("data", (d: Buffer) => {
                out += d.toString();
                if (out.includes("ready\n")) {
                    clearTimeout(timer);
                    resolve();
                }
            });
            holder.stderr!.on("data", (d: Buffer) => (err += d.toString()));
            holder.on("exit", (code, signal) => {
                clearTimeout(timer);
                reject(new Error(`sandbox setup failed (${code ?? signal}): ${err}`));
            });
            holder.on("error", (e) => {
                clearTimeout(timer);
                reject(e);
            });
        });
        const children = fs.readFileSync(`/proc/${holder.pid}/task/${holder.pid}/children`, "utf8").trim().split(/\s+/);
        this.pid = Number(children[0]);
        if (!this.pid) throw new Error("sandbox: cannot find the PID 1 of the sandbox");
        // Do not keep the test process alive for the holder; its stdin closes
        // when the test process ends, and the sandbox with it.
        holder.unref();
        for (const s of [holder.stdin, holder.stdout, holder.stderr]) (s as unknown as { unref?: () => void }).unref?.();
    }

    /** Run a bash command as root in the sandbox (cwd /root, no network). */
    run(command: string, opts: RunOptions = {}): RunResult {
        if (this.disposed || !this.pid) throw new Error("sandbox not started or already disposed");
        const started = Date.now();
        const r = spawnSync(
            "nsenter",
            ["--target", String(this.pid), "--mount", "--uts", "--net", "--pid", "bash", "-c", `cd /root || exit 125\n${command}`],
            {
                env: this.env(opts.env),
                input: opts.stdin ?? "",
                encoding: "utf8",
                timeout: opts.timeoutMs ?? 30_000,
                killSignal: "SIGKILL",
                maxBuffer: 64 * 1024 * 1024,
            },
        );
        if (r.error && (r.error as NodeJS.ErrnoException).code !== "ETIMEDOUT") throw r.error;
        return { stdout: r.stdout ?? "", stderr: r.stderr ?? "", code: r.status, signal: r.signal, ms: Date.now() - started };
    }

    /**
     * Like `run`, without blocking the event loop: sandboxes of tests that run
     * concurrently then work in parallel.
     */
    runAsync(command: string, opts: RunOptions = {}): Promise<RunResult> {
        if (this.disposed || !this.pid) return Promise.reject(new Error("sandbox not started or already disposed"));
        const started = Date.now();
        const child = spawn(
            "nsenter",
            ["--target", String(this.pid), "--mount", "--uts", "--net", "--pid", "bash", "-c", `cd /root || exit 125\n${command}`],
            { env: this.env(opts.env), stdio: ["pipe", "pipe", "pipe"] },
        );
        return new Promise((resolve, reject) => {
            let stdout = "";
            let stderr = "";
            child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
            child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
            const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
            child.on("error", (e) => {
                clearTimeout(timer);
                reject(e);
            });
            child.on("close", (code, signal) => {
                clearTimeout(timer);
                resolve({ stdout, stderr, code, signal, ms: Date.now() - started });
            });
            child.stdin.on("error", () => undefined); // the command may not read its stdin
            child.stdin.end(opts.stdin ?? "");
        });
    }

    /** Run a host script the way the Pulumi components do (steps/README.md). */
    runScript(script: string, args: readonly string[], opts: RunOptions = {}): RunResult {
        return this.run(scriptCommand(script, args), opts);
    }

    /** `runScript` without blocking the event loop. */
    runScriptAsync(script: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
        return this.runAsync(scriptCommand(script, args), opts);
    }

    /**
     * Where a path of the sandbox is, seen from the machine: in the upper
     * layer (changed by the sandbox), in the lower layer (the machine's own),
     * absent, or "run" when only a run in the sandbox can tell (symlinks on the
     * way, paths outside the overlays, a machine file under a directory the
     * sandbox re-created).
     */
    private locate(p: string): Located {
        const norm = path.posix.normalize(p);
        const top = OVERLAID.find((d) => norm.startsWith(`${d}/`));
        if (!path.posix.isAbsolute(norm) || !top) return { where: "run" };
        const parts = norm.slice(top.length + 1).split("/");
        let upper = this.upperDir(top);
        let upperAncestor = false;
        for (let i = 0; i < parts.length; i++) {
            upper = path.join(upper, parts[i]);
            let st: fs.BigIntStats | undefined;
            try {
                st = fs.lstatSync(upper, { bigint: true });
            } catch {
                break; // not in the upper layer from here on
            }
            if (st.isCharacterDevice() && st.rdev === 0n) return { where: "absent" }; // whiteout
            if (st.isSymbolicLink()) return { where: "run" };
            if (i === parts.length - 1) return { where: "upper", real: upper };
            if (!st.isDirectory()) return { where: "absent" };
            upperAncestor = true;
        }
        let lowerSt: fs.Stats;
        try {
            lowerSt = fs.lstatSync(norm);
        } catch {
            return fs.existsSync(path.dirname(norm)) || upperAncestor ? { where: "absent" } : { where: "run" };
        }
        if (lowerSt.isSymbolicLink() || norm !== fs.realpathSync(norm)) return { where: "run" };
        // an upper directory on the way may be opaque (re-created): ask the sandbox
        return upperAncestor ? { where: "run" } : { where: "lower", real: norm };
    }

    /**
     * Read files as the sandbox sees them; a missing file (or a non-file) gives
     * undefined. Read from the layers on the machine when that is certain,
     * else with one run in the sandbox for all the others.
     */
    readFiles(paths: readonly string[]): (string | undefined)[] {
        const out: (string | undefined)[] = [];
        const ask: number[] = [];
        paths.forEach((p, i) => {
            const l = this.locate(p);
            if (l.where === "absent") out[i] = undefined;
            else if (l.where === "run") ask.push(i);
            else out[i] = fs.statSync(l.real).isFile() ? fs.readFileSync(l.real, "utf8") : undefined;
        });
        if (ask.length) {
            const cmd = ask
                .map((i) => shQuote(paths[i]))
                .map((q) => `if [ -f ${q} ]; then printf 'F '; base64 -w0 < ${q}; echo; else echo M; fi`)
                .join("\n");
            const r = this.run(cmd);
            if (r.code !== 0) throw new Error(`reading ${ask.map((i) => paths[i]).join(" ")} failed: ${r.stderr}`);
            const lines = r.stdout.split("\n");
            ask.forEach((i, k) => {
                out[i] = lines[k].startsWith("F ") ? Buffer.from(lines[k].slice(2), "base64").toString("utf8") : undefined;
            });
        }
        return out;
    }

    /** Read one file as the sandbox sees it; undefined when missing. */
    readFile(p: string): string | undefined {
        return this.readFiles([p])[0];
    }

    /** Does the path exist in the sandbox? */
    exists(p: string): boolean {
        const l = this.locate(p);
        if (l.where === "absent") return false;
        if (l.where !== "run") return true;
        return this.run(`test -e ${shQuote(p)} || test -L ${shQuote(p)}`).code === 0;
    }

    /** Owner, group and mode of a path in the sandbox, like `stat -c '%U:%G %a'`: "root:root 600". */
    stat(p: string): string {
        const l = this.locate(p);
        if (l.where === "absent") throw new Error(`stat ${p}: no such file in the sandbox`);
        if (l.where === "run") {
            const r = this.run(`stat -c '%U:%G %a' ${shQuote(p)}`);
            if (r.code !== 0) throw new Error(r.stderr);
            return r.stdout.trim();
        }
        const st = fs.lstatSync(l.real);
        const name = (file: string, id: number) =>
            (this.readFile(file) ?? "")
                .split("\n")
                .map((line) => line.split(":"))
                .find((f) => f[2] === String(id))?.[0] ?? String(id);
        return `${name("/etc/passwd", st.uid)}:${name("/etc/group", st.gid)} ${(st.mode & 0o7777).toString(8)}`;
    }

    /** Write a file in the sandbox (parents created), e.g. to seed a host's state. */
    writeFile(p: string, content: string, mode = "644"): void {
        const r = this.run(`mkdir -p "$(dirname ${shQuote(p)})" && cat > ${shQuote(p)} && chmod ${mode} ${shQuote(p)}`, {
            stdin: content,
        });
        if (r.code !== 0) throw new Error(`writing ${p} failed: ${r.stderr}`);
    }

    /** `writeFile` without blocking the event loop. */
    async writeFileAsync(p: string, content: string, mode = "644"): Promise<void> {
        const r = await this.runAsync(`mkdir -p "$(dirname ${shQuote(p)})" && cat > ${shQuote(p)} && chmod ${mode} ${shQuote(p)}`, {
            stdin: content,
        });
        if (r.code !== 0) throw new Error(`writing ${p} failed: ${r.stderr}`);
    }

    /** The stand-ins' calls log, parsed; [] when nothing was called. */
    calls(): Call[] {
        const file = path.join(this.upperDir("/var"), CALLS_LOG.slice("/var/".length));
        if (!fs.existsSync(file)) return [];
        return fs
            .readFileSync(file, "utf8")
            .split("\n")
            .filter((l) => l !== "")
            .map((line) => {
                const m = /^(\d+) (\S+) (\S+)(?: (.*))?$/.exec(line);
                if (!m) throw new Error(`bad calls log line: ${line}`);
                return {
                    ms: Number(m[1]),
                    host: m[2],
                    prog: m[3],
                    args: parseLoggedArgs(m[4] ?? ""),
                    command: m[4] ? `${m[3]} ${m[4]}` : m[3],
                };
            });
    }

    /** "prog args..." of every call, oldest first. */
    commands(): string[] {
        return this.calls().map((c) => c.command);
    }

    /** Number of calls logged so far: mark before a run, then `commandsSince(mark)`. */
    callCount(): number {
        return this.calls().length;
    }

    /** The commands logged after the first `mark` ones. */
    commandsSince(mark: number): string[] {
        return this.commands().slice(mark);
    }

    /**
     * Fingerprint of every path in the upper layers (type, mode, owner, mtime,
     * content hash), the calls log left out, and so are the folders above it
     * (the stand-ins' first call makes them; what else is in them is kept). Two
     * equal snapshots around a run mean the run wrote, created, deleted and
     * touched nothing.
     */
    snapshot(exclude: readonly string[] = [CALLS_LOG]): Snapshot {
        const snap: Snapshot = new Map();
        const above = new Set(
            exclude.flatMap((e) =>
                e
                    .split("/")
                    .slice(1, -1)
                    .map((_, i, parts) => `/${parts.slice(0, i + 1).join("/")}`),
            ),
        );
        for (const d of OVERLAID) {
            const upper = this.upperDir(d);
            const walk = (real: string, inside: string) => {
                for (const name of fs.readdirSync(real).sort()) {
                    const r = path.join(real, name);
                    const p = path.posix.join(inside, name);
                    if (exclude.includes(p)) continue;
                    const st = fs.lstatSync(r, { bigint: true });
                    let kind: Entry["kind"] = "other";
                    let hash: string | undefined;
                    if (st.isFile()) {
                        kind = "file";
                        hash = createHash("sha256").update(fs.readFileSync(r)).digest("hex");
                    } else if (st.isDirectory()) kind = "dir";
                    else if (st.isSymbolicLink()) {
                        kind = "symlink";
                        hash = fs.readlinkSync(r);
                    } else if (st.isCharacterDevice() && st.rdev === 0n) kind = "whiteout";
                    if (!above.has(p))
                        snap.set(p, {
                            kind,
                            mode: Number(st.mode & 0o7777n),
                            uid: Number(st.uid),
                            gid: Number(st.gid),
                            mtimeNs: st.mtimeNs,
                            hash,
                        });
                    if (kind === "dir") walk(r, p);
                }
            };
            walk(upper, d);
        }
        return snap;
    }

    /** Paths of regular files in the upper layers (what the sandbox created or changed). */
    changedFiles(exclude: readonly string[] = [CALLS_LOG]): string[] {
        return [...this.snapshot(exclude)].filter(([, e]) => e.kind === "file").map(([p]) => p);
    }

    /** Paths deleted in the sandbox (overlay whiteouts). */
    deletedPaths(): string[] {
        return [...this.snapshot()].filter(([, e]) => e.kind === "whiteout").map(([p]) => p);
    }

    /** End the sandbox's processes and namespaces, remove its temp directory. */
    async dispose(): Promise<void> {
        if (this.disposed) return;
        this.disposed = true;
        const holder = this.holder;
        if (holder && holder.exitCode === null && holder.signalCode === null) {
            await new Promise<void>((resolve) => {
                // Closing its stdin ends PID 1 (and so every process of the sandbox);
                // unshare reaps it and exits. SIGKILL only if that hangs.
                const timer = setTimeout(() => {
                    holder.kill("SIGKILL"); // --kill-child: PID 1 of the sandbox gets SIGKILL too
                    setTimeout(resolve, 1_000);
                }, 5_000);
                holder.once("exit", () => {
                    clearTimeout(timer);
                    resolve();
                });
                holder.stdin?.end();
            });
        }
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}

/**
 * Differences between two snapshots, one line per path, sorted:
 * "created <path> (<kind>)" (a "whiteout" is a deleted file of the machine),
 * "changed <path> (<kind>)" (content or type), "chmod/chown <path> (<kind>)",
 * "touched <path> (<kind>)" (only the mtime: rewritten with the same content,
 * or for a dir: an entry added or removed), "removed <path> (<kind>)" (gone
 * from the upper layer: created by the sandbox, then deleted).
 */
export function diffSnapshots(before: Snapshot, after: Snapshot): string[] {
    const out: string[] = [];
    for (const [p, a] of after) {
        const b = before.get(p);
        if (!b) out.push(`created ${p} (${a.kind})`);
        else if (b.kind !== a.kind || b.hash !== a.hash) out.push(`changed ${p} (${a.kind})`);
        else if (b.mode !== a.mode || b.uid !== a.uid || b.gid !== a.gid) out.push(`chmod/chown ${p} (${a.kind})`);
        else if (b.mtimeNs !== a.mtimeNs) out.push(`touched ${p} (${a.kind})`);
    }
    for (const [p, b] of before) if (!after.has(p)) out.push(`removed ${p} (${b.kind})`);
    return out.sort();
}

/** Is root and can make the namespaces and overlays a Sandbox needs? */
export function sandboxSupported(): { ok: boolean; reason?: string } {
    if (process.getuid?.() !== 0) return { ok: false, reason: "sandbox tests need root (unshare, mount)" };
    const r = spawnSync("unshare", ["--mount", "--propagation", "private", "true"], { encoding: "utf8" });
    if (r.status !== 0) return { ok: false, reason: `unshare --mount failed: ${r.stderr}` };
    return { ok: true };
}
