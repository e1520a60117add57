/**
 * A throwaway "host" for tests of the host scripts: a bash command runs as
 * root in a private mount, network, PID and UTS namespace (`unshare`), where
 *
 * - `/etc`, `/var`, `/root` and `/home` are overlayfs mounts over the real
 *   directories, their upper layers in a per-sandbox temp directory: the
 *   command sees the machine's files but every change lands in the sandbox;
 * - `/usr/local/bin` shows only the recording stand-ins (`test/standins/bin`,
 *   read-only) and PATH starts there, so `yum`, `systemctl`, `sysctl`,
 *   `kubeadm`... are the stand-ins; `/proc/sys` is read-only besides;
 * - `/tmp` and `/run` are empty tmpfs (no socket of the real systemd);
 * - there is no network but loopback.
 *
 * The upper layers are kept between runs, so a second `run` of one sandbox
 * sees what the first one left, like a second `pulumi up` on the same host.
 * Several sandboxes can share a directory (`binds`), e.g. the stand-ins'
 * simulated API server, to play one cluster of several hosts.
 *
 *     const km1 = new Sandbox({ hostname: "km1" });
 *     const r = km1.runScript("repo.sh", ["apply", url, key1, key2]);
 *     assert.equal(r.code, 0, r.stderr);
 *     km1.readFile("/etc/yum.repos.d/kubernetes.repo");
 *     km1.commands();   // ["yum install -y ...", ...] from the calls log
 *     km1.dispose();
 *
 * Needs root (unshare, mount) and Linux overlayfs.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** The repository root (this file is test/lib/sandbox.ts). */
export const REPO_ROOT = path.resolve(__dirname, "..", "..");
/** The recording stand-ins, mounted on /usr/local/bin. */
export const STANDINS_BIN = path.join(REPO_ROOT, "test", "standins", "bin");
/** The host scripts. */
export const HOST_SCRIPTS = path.join(REPO_ROOT, "scripts", "host");
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

/** Quote a word for bash (single quotes). */
export function shQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command line kubevirt-lab's Pulumi components run on a host (see
 * scripts/host/README.md): the script inside the command, base64-encoded.
 */
export function scriptCommand(script: string, args: readonly string[], scriptsDir = HOST_SCRIPTS): string {
  const b64 = fs.readFileSync(path.join(scriptsDir, script)).toString("base64");
  return `bash -c "$(printf %s '${b64}' | base64 -d)" ${shQuote(script)} ${args.map(shQuote).join(" ")}`;
}

/** Split one logged argument list (bash printf %q words) into words. */
export function parseLoggedArgs(text: string): string[] {
  const words: string[] = [];
  let i = 0;
  const escapes: Record<string, string> = { n: "\n", t: "\t", r: "\r", "\\": "\\", "'": "'", '"': '"', e: "\x1b", a: "\x07", b: "\b", f: "\f", v: "\v" };
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

export class Sandbox {
  /** The sandbox's temp directory (upper layers under layers/<dir>/upper). */
  readonly dir: string;
  readonly hostname: string;
  private readonly options: SandboxOptions;
  private disposed = false;

  constructor(options: SandboxOptions = {}) {
    this.options = options;
    this.hostname = options.hostname ?? "sandbox";
    if (!/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(this.hostname)) throw new Error(`bad sandbox hostname ${this.hostname}`);
    this.dir = fs.mkdtempSync(path.join(options.tmpParent ?? os.tmpdir(), `kvl-sandbox-${process.pid}-${counter++}-`));
    for (const d of OVERLAID) {
      fs.mkdirSync(path.join(this.dir, "layers", d, "upper"), { recursive: true });
      fs.mkdirSync(path.join(this.dir, "layers", d, "work"), { recursive: true });
    }
  }

  /** The upper layer (on the real machine) that holds the sandbox's changes to `dir`. */
  upperDir(dir: (typeof OVERLAID)[number]): string {
    return path.join(this.dir, "layers", dir, "upper");
  }

  private setupScript(): string {
    const q = shQuote;
    const lines = ["set -eu"];
    for (const d of OVERLAID) {
      const l = path.join(this.dir, "layers", d);
      lines.push(`mount -t overlay overlay -o ${q(`lowerdir=${d},upperdir=${l}/upper,workdir=${l}/work`)} ${d}`);
    }
    const bins = this.options.binDirs ?? [STANDINS_BIN];
    if (bins.length === 0) throw new Error("binDirs must not be empty");
    if (bins.length === 1) {
      lines.push(`mount --bind ${q(bins[0])} /usr/local/bin`, "mount -o remount,bind,ro /usr/local/bin");
    } else {
      lines.push(`mount -t overlay overlay -o ${q(`lowerdir=${bins.join(":")}`)} /usr/local/bin`);
    }
    for (const b of this.options.binds ?? []) {
      lines.push(`mkdir -p ${q(b.target)}`, `mount --bind ${q(b.source)} ${q(b.target)}`);
      if (b.readOnly) lines.push(`mount -o remount,bind,ro ${q(b.target)}`);
    }
    lines.push(
      "mount --bind /proc/sys /proc/sys",
      "mount -o remount,bind,ro /proc/sys",
      "mount -t tmpfs -o mode=1777 tmpfs /tmp",
      "mount -t tmpfs -o mode=755 tmpfs /run",
      `hostname ${q(this.hostname)}`,
      "cd /root",
      'exec bash -c "$1"',
    );
    return lines.join("\n");
  }

  /** Run a bash command as root in the sandbox. */
  run(command: string, opts: RunOptions = {}): RunResult {
    if (this.disposed) throw new Error("sandbox already disposed");
    const env: Record<string, string> = {
      PATH: SANDBOX_PATH,
      HOME: "/root",
      USER: "root",
      LOGNAME: "root",
      LANG: "C.UTF-8",
      // Node's stdio are socketpairs: bash would take that for sshd and
      // source ~/.bashrc (Debian's SSH_SOURCE_BASHRC), unless SHLVL >= 1.
      SHLVL: "1",
      ...this.options.env,
      ...opts.env,
    };
    const started = Date.now();
    const r = spawnSync(
      "unshare",
      ["--mount", "--propagation", "private", "--net", "--uts", "--pid", "--fork", "--kill-child", "--mount-proc",
        "bash", "-c", this.setupScript(), "sandbox-setup", command],
      {
        env,
        input: opts.stdin ?? "",
        encoding: "utf8",
        timeout: opts.timeoutMs ?? 30_000,
        killSignal: "SIGKILL",
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    if (r.error && !(r.error as NodeJS.ErrnoException).code?.includes("ETIMEDOUT")) throw r.error;
    return { stdout: r.stdout ?? "", stderr: r.stderr ?? "", code: r.status, signal: r.signal, ms: Date.now() - started };
  }

  /** Run a host script the way the Pulumi components do (scripts/host/README.md). */
  runScript(script: string, args: readonly string[], opts: RunOptions = {}): RunResult {
    return this.run(scriptCommand(script, args), opts);
  }

  /**
   * Read files as the sandbox sees them (one run for all). A missing file
   * gives undefined.
   */
  readFiles(paths: readonly string[]): (string | undefined)[] {
    const cmd = paths
      .map((p) => `if [ -f ${shQuote(p)} ]; then printf 'F '; base64 -w0 < ${shQuote(p)}; echo; else echo M; fi`)
      .join("\n");
    const r = this.run(cmd);
    if (r.code !== 0) throw new Error(`reading ${paths.join(" ")} failed: ${r.stderr}`);
    const lines = r.stdout.split("\n");
    return paths.map((_, i) => (lines[i].startsWith("F ") ? Buffer.from(lines[i].slice(2), "base64").toString("utf8") : undefined));
  }

  /** Read one file as the sandbox sees it; undefined when missing. */
  readFile(p: string): string | undefined {
    return this.readFiles([p])[0];
  }

  /** Does the path exist in the sandbox? */
  exists(p: string): boolean {
    return this.run(`test -e ${shQuote(p)} || test -L ${shQuote(p)}`).code === 0;
  }

  /** `stat -c '%U:%G %a'` of a path in the sandbox, e.g. "root:root 600". */
  stat(p: string): string {
    const r = this.run(`stat -c '%U:%G %a' ${shQuote(p)}`);
    if (r.code !== 0) throw new Error(r.stderr);
    return r.stdout.trim();
  }

  /** Write a file in the sandbox (parents created), e.g. to seed a host's state. */
  writeFile(p: string, content: string, mode = "644"): void {
    const r = this.run(`mkdir -p "$(dirname ${shQuote(p)})" && cat > ${shQuote(p)} && chmod ${mode} ${shQuote(p)}`, {
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
        return { ms: Number(m[1]), host: m[2], prog: m[3], args: parseLoggedArgs(m[4] ?? ""), command: m[4] ? `${m[3]} ${m[4]}` : m[3] };
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
   * content hash), the calls log left out. Two equal snapshots around a run
   * mean the run wrote, created, deleted and touched nothing.
   */
  snapshot(exclude: readonly string[] = [CALLS_LOG]): Snapshot {
    const snap: Snapshot = new Map();
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
          snap.set(p, { kind, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), mtimeNs: st.mtimeNs, hash });
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

  /** Remove the sandbox's temp directory. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Differences between two snapshots, one line per path ("" when none). */
export function diffSnapshots(before: Snapshot, after: Snapshot): string[] {
  const out: string[] = [];
  for (const [p, a] of after) {
    const b = before.get(p);
    if (!b) out.push(`created ${p} (${a.kind})`);
    else if (b.kind !== a.kind || b.hash !== a.hash) out.push(`changed ${p}`);
    else if (b.mode !== a.mode || b.uid !== a.uid || b.gid !== a.gid) out.push(`chmod/chown ${p}`);
    else if (b.mtimeNs !== a.mtimeNs) out.push(`touched ${p}`);
  }
  for (const p of before.keys()) if (!after.has(p)) out.push(`removed from upper layer ${p}`);
  return out;
}

/** Is root and can make the namespaces and overlays a Sandbox needs? */
export function sandboxSupported(): { ok: boolean; reason?: string } {
  if (process.getuid?.() !== 0) return { ok: false, reason: "sandbox tests need root (unshare, mount)" };
  const r = spawnSync("unshare", ["--mount", "--propagation", "private", "true"], { encoding: "utf8" });
  if (r.status !== 0) return { ok: false, reason: `unshare --mount failed: ${r.stderr}` };
  return { ok: true };
}
