// The local processes the kubelet stand-in runs in place of containers: the static pods' programs
// (static-pods.ts) and the programs of known images for API pods (pod-programs.ts). Each process
// logs to its file, is restarted with a back-off (1 s doubling to 20 s; reset after a minute of
// running) when it exits, and gets SIGTERM, then SIGKILL after its grace period, when stopped. Its
// pid (and start time) is kept in a state folder, so that a stand-in killed with SIGKILL has its
// leftovers stopped by the next one.
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { errText, log, now, sleep } from "./api";

export interface ContainerState {
    name: string;
    image: string;
    running: boolean;
    startedAt?: string;
    restarts: number;
    /** why it is not running, when it is not */
    waiting?: { reason: string; message: string };
    lastExit?: { exitCode: number; signal?: string; finishedAt: string };
}

/** What a container's process is: its command line, environment and log. */
export interface ProcSpec {
    /** what the log lines name: `static pod <ns>/<name>`, `pod <ns>/<name>` */
    label: string;
    name: string;
    image: string;
    command: string[];
    env: Record<string, string>;
    /** the stand-in's own environment under env (static pods); else env alone */
    inheritEnv: boolean;
    cwd: string;
    /**
     * Where its output goes. A plain log file gets it as written (static pods); a CRI log (API
     * pods) gets one `<RFC3339Nano> <stdout|stderr> F <line>` line a line, as 1.9's CRI runtimes
     * write `/var/log/pods/<uid>/<container>_<restarts>.log`, one file per start: `kubectl logs`
     * (through the kubelet API) reads them.
     */
    logFile: string;
    /** the CRI log format, with the file of each start named by `criLogFile(restarts)` */
    criLogFile?: (restarts: number) => string;
    /** called with the pid once a process started, and with 0 once it ended */
    onPid?: (pid: number) => void;
    /** whether an exit (its code; null for a signal) is followed by a start again (default: always) */
    restart?: (code: number | null) => boolean;
}

/** One container's process, with its state. */
export interface Proc extends ProcSpec {
    child?: ChildProcess;
    startedAtMs?: number;
    startedAt?: string;
    restarts: number;
    backoffMs: number;
    timer?: NodeJS.Timeout;
    stopped: boolean;
    waiting?: { reason: string; message: string };
    lastExit?: { exitCode: number; signal?: string; finishedAt: string };
    exited?: Promise<void>;
    graceMs: number;
}

const MIN_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 20_000;

export function newProc(
    p: ProcSpec & {
        /** the pod's terminationGracePeriodSeconds; at most 10 s are waited */
        graceSeconds: number;
    },
): Proc {
    const { graceSeconds, ...rest } = p;
    return { ...rest, restarts: 0, backoffMs: MIN_BACKOFF_MS, stopped: false, graceMs: Math.min(Math.max(graceSeconds, 0), 10) * 1000 };
}

export function stateOf(c: Proc): ContainerState {
    return {
        name: c.name,
        image: c.image,
        running: !!c.child && c.child.exitCode === null && c.child.signalCode === null && !!c.startedAt,
        startedAt: c.startedAt,
        restarts: c.restarts,
        waiting: c.waiting,
        lastExit: c.lastExit,
    };
}

function isExecutable(p: string): boolean {
    try {
        const st = fs.statSync(p);
        if (!st.isFile()) return false;
        fs.accessSync(p, fs.constants.X_OK);
        return true;
    } catch {
        return false;
    }
}

export function resolveProgram(cmd0: string, binDir?: string): string | undefined {
    const base = path.basename(cmd0);
    if (binDir && isExecutable(path.join(binDir, base))) return path.join(binDir, base);
    if (cmd0.includes("/")) return isExecutable(cmd0) ? cmd0 : undefined;
    for (const d of (process.env.PATH ?? "").split(":")) {
        if (d && isExecutable(path.join(d, cmd0))) return path.join(d, cmd0);
    }
    return undefined;
}

/** The start time of a process (field 22 of /proc/<pid>/stat), to tell it from a later one with the same pid. */
function startTimeOf(pid: number): string {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "";
    } catch {
        return "";
    }
}

/** RFC 3339 with nanoseconds, as Go's time.RFC3339Nano (the CRI log's timestamps). */
function rfc3339Nano(d = new Date()): string {
    const ms = d.getUTCMilliseconds();
    const base = d.toISOString().slice(0, 19);
    return ms ? `${base}.${String(ms).padStart(3, "0").replace(/0+$/, "")}Z` : `${base}Z`;
}

/**
 * The container's stdout and stderr as pipes (FIFOs, as docker gives them: Node's own "pipe"
 * stdio are socket pairs, and a program that opens /dev/stdout, as nginx's log links do, gets
 * ENXIO from a socket), read into fd in the CRI log format, one entry a line (a last line
 * without its newline is written when the stream ends); fd is closed once both streams ended.
 * Returns the two write ends for the child's stdio; the caller closes them once it is spawned.
 */
function criPipes(logFile: string, fd: number): { stdout: number; stderr: number; start: () => void } {
    const ends: Record<string, { w: number; path: string }> = {};
    for (const name of ["stdout", "stderr"]) {
        const fifo = `${path.dirname(logFile)}/.${path.basename(logFile)}.${name}`;
        fs.rmSync(fifo, { force: true });
        const r = spawnSync("mkfifo", ["-m", "0600", fifo]);
        if (r.status !== 0) throw new Error(`mkfifo ${fifo}: ${String(r.stderr).trim()}`);
        // read-write: opening a FIFO so never waits for the other end
        ends[name] = { w: fs.openSync(fifo, "r+"), path: fifo };
    }
    const start = () => {
        let open = 2;
        const write = (stream: string, line: string) => {
            try {
                fs.writeSync(fd, `${rfc3339Nano()} ${stream} F ${line}\n`);
            } catch {
                /* a full disk: the line is lost, the container runs on */
            }
        };
        for (const name of ["stdout", "stderr"]) {
            // the read end, non-blocking, as a libuv pipe (event-driven: a file stream would hold a
            // thread of libuv's small pool per FIFO in a blocking read, and starve every other file
            // operation once a few containers run)
            const rfd = fs.openSync(ends[name].path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
            // our write end goes now that the child has its copy and we read: EOF when the child's copies close
            fs.closeSync(ends[name].w);
            fs.rmSync(ends[name].path, { force: true });
            const s = new net.Socket({ fd: rfd, readable: true, writable: false });
            s.setEncoding("utf8");
            let rest = "";
            s.on("data", (chunk) => {
                const lines = (rest + String(chunk)).split("\n");
                rest = lines.pop() ?? "";
                for (const l of lines) write(name, l);
            });
            const done = () => {
                if (rest) write(name, rest);
                rest = "";
                if (--open === 0) fs.closeSync(fd);
            };
            s.on("close", done);
            s.on("error", () => undefined);
        }
    };
    return { stdout: ends.stdout.w, stderr: ends.stderr.w, start };
}

export interface SupervisorOptions {
    binDir?: string;
    /** pid files of the running processes */
    stateDir: string;
    /** called after a process started or exited */
    onChange: () => void;
}

/** `sig` to the process group `pid` leads (each process is started detached: a group of its own); false when it is gone. */
function killGroup(pid: number, sig: NodeJS.Signals): boolean {
    try {
        process.kill(-pid, sig);
        return true;
    } catch {
        return false;
    }
}

export class Supervisor {
    /** the processes running now */
    private live = new Set<ChildProcess>();

    constructor(private readonly o: SupervisorOptions) {}

    /** SIGKILL to every running process's group, at once: the stand-in exits without waiting for them (its last resort). */
    killAll(): number {
        let n = 0;
        for (const child of this.live)
            if (child.pid && child.exitCode === null && child.signalCode === null && killGroup(child.pid, "SIGKILL")) n++;
        return n;
    }

    /** Processes an earlier stand-in started and could not stop (it was killed): stopped now. */
    async stopLeftovers(): Promise<void> {
        let files: string[] = [];
        try {
            files = fs.readdirSync(this.o.stateDir).filter((f) => f.endsWith(".pid"));
        } catch {
            return;
        }
        for (const f of files) {
            const file = path.join(this.o.stateDir, f);
            try {
                const rec = JSON.parse(fs.readFileSync(file, "utf8")) as { pid: number; start: string; what: string };
                if (rec.start && startTimeOf(rec.pid) === rec.start) {
                    log(`stopping ${rec.what} (pid ${rec.pid}), left running by an earlier stand-in`);
                    killGroup(rec.pid, "SIGTERM");
                    for (let i = 0; i < 50 && startTimeOf(rec.pid) === rec.start; i++) await sleep(100);
                    if (startTimeOf(rec.pid) === rec.start) killGroup(rec.pid, "SIGKILL");
                }
            } catch {
                /* unreadable: nothing to stop */
            }
            fs.rmSync(file, { force: true });
        }
    }

    /** Starts the process (again, after an exit, with the back-off) until it is stopped. */
    run(proc: Proc): void {
        if (proc.stopped) return;
        proc.timer = undefined;
        if (proc.command.length === 0) {
            proc.waiting = {
                reason: "NoCommand",
                message: "the kubelet stand-in runs only a local program named by the container's command (it runs no images)",
            };
            log(`${proc.label}: container ${proc.name} has no command; not started (the stand-in runs no images)`);
            return;
        }
        const program = resolveProgram(proc.command[0], this.o.binDir);
        if (!program) {
            proc.waiting = {
                reason: "ProgramNotFound",
                message: `no local program ${path.basename(proc.command[0])} (looked in ${this.o.binDir ?? "-"} and PATH)`,
            };
            log(`${proc.label}: container ${proc.name}: ${proc.waiting.message}; again in ${proc.backoffMs / 1000} s`);
            this.again(proc);
            return;
        }
        let fd: number | undefined;
        if (proc.criLogFile) proc.logFile = proc.criLogFile(proc.restarts);
        try {
            fs.mkdirSync(path.dirname(proc.logFile), { recursive: true });
            fd = fs.openSync(proc.logFile, "a");
        } catch (e) {
            log(`${proc.label}: container ${proc.name}: cannot open ${proc.logFile}: ${errText(e)}; output discarded`);
        }
        let pipes: ReturnType<typeof criPipes> | undefined;
        if (proc.criLogFile && fd !== undefined) {
            try {
                pipes = criPipes(proc.logFile, fd);
            } catch (e) {
                log(`${proc.label}: container ${proc.name}: ${errText(e)}; output straight to ${proc.logFile}`);
            }
        }
        const child = spawn(program, proc.command.slice(1), {
            cwd: fs.existsSync(proc.cwd) ? proc.cwd : "/",
            env: proc.inheritEnv ? { ...process.env, ...proc.env } : proc.env,
            stdio: ["ignore", pipes?.stdout ?? fd ?? "ignore", pipes?.stderr ?? fd ?? "ignore"],
            detached: true,
        });
        if (pipes) pipes.start();
        else if (fd !== undefined) fs.closeSync(fd);
        proc.child = child;
        this.live.add(child);
        proc.startedAtMs = Date.now();
        proc.startedAt = now();
        proc.waiting = undefined;
        let resolveExit!: () => void;
        proc.exited = new Promise((r) => (resolveExit = r));
        const pidFile = child.pid ? path.join(this.o.stateDir, `${child.pid}.pid`) : undefined;
        if (pidFile) {
            try {
                fs.mkdirSync(this.o.stateDir, { recursive: true });
                fs.writeFileSync(
                    pidFile,
                    JSON.stringify({ pid: child.pid, start: startTimeOf(child.pid!), what: `${proc.label} container ${proc.name}` }),
                );
            } catch {
                /* without it only a SIGKILL of the stand-in leaves the process behind */
            }
        }
        let done = false;
        const onEnd = (code: number | null, signal: NodeJS.Signals | null, err?: Error) => {
            if (done) return;
            done = true;
            this.live.delete(child);
            const ranMs = Date.now() - (proc.startedAtMs ?? Date.now());
            proc.lastExit = { exitCode: code ?? (err ? 127 : 137), signal: signal ?? undefined, finishedAt: now() };
            proc.startedAt = undefined;
            if (pidFile) fs.rmSync(pidFile, { force: true });
            proc.onPid?.(0);
            resolveExit();
            if (proc.stopped) return;
            if (proc.restart && !proc.restart(code)) {
                proc.stopped = true;
                this.o.onChange();
                return;
            }
            if (ranMs > 60_000) proc.backoffMs = MIN_BACKOFF_MS;
            proc.restarts++;
            proc.waiting = {
                reason: "CrashLoopBackOff",
                message: `exited (${err ? errText(err) : (signal ?? `code ${code}`)}); restarting in ${proc.backoffMs / 1000} s`,
            };
            log(`${proc.label}: container ${proc.name} (pid ${child.pid}) ${proc.waiting.message}`);
            this.again(proc);
            this.o.onChange();
        };
        child.on("error", (e) => onEnd(null, null, e));
        child.on("exit", (code, signal) => onEnd(code, signal));
        if (child.pid) proc.onPid?.(child.pid);
        if (child.pid)
            log(
                `${proc.label}: started container ${proc.name}: ${program} ${proc.command.slice(1).join(" ")} (pid ${child.pid}, output in ${proc.logFile})`.slice(
                    0,
                    2000,
                ),
            );
        this.o.onChange();
    }

    private again(proc: Proc): void {
        if (proc.stopped) return;
        proc.timer = setTimeout(() => this.run(proc), proc.backoffMs);
        proc.backoffMs = Math.min(proc.backoffMs * 2, MAX_BACKOFF_MS);
    }

    /** SIGTERM to its process group, SIGKILL after its grace period; no restart after. */
    async stop(proc: Proc): Promise<void> {
        proc.stopped = true;
        clearTimeout(proc.timer);
        const child = proc.child;
        if (!child || child.exitCode !== null || child.signalCode !== null || !child.pid) return;
        const pid = child.pid;
        const kill = (sig: NodeJS.Signals) => {
            if (killGroup(pid, sig)) return;
            try {
                child.kill(sig);
            } catch {
                /* gone */
            }
        };
        kill("SIGTERM");
        const exited = proc.exited ?? Promise.resolve();
        const timedOut = await Promise.race([exited.then(() => false), sleep(proc.graceMs).then(() => true)]);
        if (timedOut) {
            log(`${proc.label}: container ${proc.name} (pid ${pid}) did not stop in ${proc.graceMs / 1000} s; SIGKILL`);
            kill("SIGKILL");
            await Promise.race([exited, sleep(2000)]);
        }
        log(`${proc.label}: stopped container ${proc.name} (pid ${pid})`);
    }
}
