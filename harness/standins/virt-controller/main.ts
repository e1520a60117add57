// virt-controller stand-in (KubeVirt v0.4.1): see README.md beside this file.
//
//   node --import tsx harness/standins/virt-controller/main.ts --kubeconfig <file> [options]
//   node --import tsx harness/standins/virt-controller/main.ts --server http://127.0.0.1:8080 [options]
//
// One line on stderr per action; SIGTERM or SIGINT stops it (exit 0).
import * as os from "node:os";
import { Kube, fromKubeconfig, fromServer } from "./kube";
import { VirtController } from "./controller";
import { LEADER_DEFAULTS, LeaderElector } from "./leader";
import { DEFAULT_TEMPLATE_SETTINGS, TemplateSettings } from "./render";

const USAGE = `usage: main.ts (--kubeconfig FILE [--context NAME] | --server URL) [options]
  --kubeconfig FILE          cluster and client certificate (or token) of a kubeconfig (default: $KUBECONFIG)
  --context NAME             a context other than the kubeconfig's current-context
  --server URL               a server without credentials instead, e.g. http://127.0.0.1:8080 (tests)
  --namespace NS             watch one namespace only (default: all)
  --launcher-image IMAGE     image of the compute container (default ${DEFAULT_TEMPLATE_SETTINGS.launcherImage})
  --kubevirt-share-dir DIR   default ${DEFAULT_TEMPLATE_SETTINGS.virtShareDir}
  --ephemeral-disk-dir DIR   default ${DEFAULT_TEMPLATE_SETTINGS.ephemeralDiskDir}
  --image-pull-secret NAME   default none
  --no-handler-phases        stop at phase Scheduled (leave Running/Failed to a virt-handler)
  --leader-elect             act only while holding the Endpoints lock ${LEADER_DEFAULTS.name} (as v0.4.1 always does);
                             identity $HOSTNAME (a pod's name), else the host name
  --leader-elect-namespace NS               the lock's namespace (default ${LEADER_DEFAULTS.namespace})
  --leader-elect-lease-duration DURATION    default ${LEADER_DEFAULTS.leaseMs / 1000}s
  --leader-elect-renew-deadline DURATION    default ${LEADER_DEFAULTS.renewDeadlineMs / 1000}s
  --leader-elect-retry-period DURATION      default ${LEADER_DEFAULTS.retryMs / 1000}s
  --port PORT                accepted (v0.4.1's container passes --port 8182); nothing is served
`;

function log(msg: string): void {
    process.stderr.write(`${new Date().toISOString()} virt-controller: ${msg}\n`);
}

/** A Go duration of whole units (15s, 1m30s, 500ms) in ms. */
function parseDuration(s: string): number {
    let total = 0;
    let matched = "";
    for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
        total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
        matched += m[0];
    }
    if (!s || matched !== s || total <= 0) throw new Error(`not a duration: ${s}`);
    return total;
}

function parseArgs(argv: string[]) {
    const o: Record<string, string> = {};
    let handlerPhases = true;
    let leaderElect = false;
    const valued = new Set([
        "kubeconfig",
        "context",
        "server",
        "namespace",
        "launcher-image",
        "kubevirt-share-dir",
        "ephemeral-disk-dir",
        "image-pull-secret",
        "leader-elect-namespace",
        "leader-elect-lease-duration",
        "leader-elect-renew-deadline",
        "leader-elect-retry-period",
        "port",
    ]);
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "-h" || a === "--help") {
            process.stdout.write(USAGE);
            process.exit(0);
        }
        if (a === "--no-handler-phases") {
            handlerPhases = false;
            continue;
        }
        if (a === "--leader-elect" || a === "--leader-elect=true") {
            leaderElect = true;
            continue;
        }
        const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
        if (!m || !valued.has(m[1])) throw new Error(`unknown argument ${a}`);
        const v = m[2] ?? argv[++i];
        if (v === undefined || v === "") throw new Error(`${a} needs a value`);
        o[m[1]] = v;
    }
    const leader = {
        ...LEADER_DEFAULTS,
        namespace: o["leader-elect-namespace"] ?? LEADER_DEFAULTS.namespace,
        identity: process.env.HOSTNAME || os.hostname(),
        leaseMs: o["leader-elect-lease-duration"] ? parseDuration(o["leader-elect-lease-duration"]) : LEADER_DEFAULTS.leaseMs,
        renewDeadlineMs: o["leader-elect-renew-deadline"]
            ? parseDuration(o["leader-elect-renew-deadline"])
            : LEADER_DEFAULTS.renewDeadlineMs,
        retryMs: o["leader-elect-retry-period"] ? parseDuration(o["leader-elect-retry-period"]) : LEADER_DEFAULTS.retryMs,
    };
    if (leader.renewDeadlineMs > leader.leaseMs)
        throw new Error("--leader-elect-renew-deadline must not exceed --leader-elect-lease-duration");
    return { o, handlerPhases, leader: leaderElect ? leader : undefined };
}

async function main(): Promise<number> {
    let args: ReturnType<typeof parseArgs>;
    try {
        args = parseArgs(process.argv.slice(2));
    } catch (e) {
        process.stderr.write(`virt-controller: ${(e as Error).message}\n${USAGE}`);
        return 2;
    }
    const { o, handlerPhases, leader } = args;
    const kubeconfig = o.kubeconfig ?? (o.server ? undefined : process.env.KUBECONFIG);
    if (!kubeconfig && !o.server) {
        process.stderr.write(`virt-controller: give --kubeconfig or --server\n${USAGE}`);
        return 2;
    }
    if (kubeconfig && o.server) {
        process.stderr.write("virt-controller: give either --kubeconfig or --server, not both\n");
        return 2;
    }
    let kube: Kube;
    try {
        kube = new Kube(kubeconfig ? fromKubeconfig(kubeconfig, o.context) : fromServer(o.server));
    } catch (e) {
        process.stderr.write(`virt-controller: ${(e as Error).message}\n`);
        return 1;
    }
    const template: TemplateSettings = {
        launcherImage: o["launcher-image"] ?? DEFAULT_TEMPLATE_SETTINGS.launcherImage,
        virtShareDir: o["kubevirt-share-dir"] ?? DEFAULT_TEMPLATE_SETTINGS.virtShareDir,
        ephemeralDiskDir: o["ephemeral-disk-dir"] ?? DEFAULT_TEMPLATE_SETTINGS.ephemeralDiskDir,
        imagePullSecret: o["image-pull-secret"] ?? DEFAULT_TEMPLATE_SETTINGS.imagePullSecret,
    };
    const controller = new VirtController(kube, { template, handlerPhases, namespace: o.namespace }, log);
    const stop = new AbortController();
    for (const sig of ["SIGTERM", "SIGINT"] as const) {
        process.once(sig, () => {
            log(`${sig}: stopping`);
            stop.abort();
        });
    }
    log(
        `started (stand-in for KubeVirt v0.4.1 virt-controller; no VM runs) against ${kube.access.describe}; launcher image ${template.launcherImage}${leader ? `, leader election ${leader.namespace}/${leader.name} as ${leader.identity}` : ""}${o.namespace ? `, namespace ${o.namespace}` : ""}${handlerPhases ? "" : ", no handler phases"}`,
    );
    let code = 0;
    if (!leader) await controller.run(stop.signal);
    else {
        // As v0.4.1: the informers and controllers start once the lease is held; losing it ends the
        // process (v0.4.1: glog.Fatal "leaderelection lost"), and its pod's restart makes it a candidate again.
        const elector = new LeaderElector(kube, leader, log);
        if (await elector.acquire(stop.signal)) {
            const leading = new AbortController();
            stop.signal.addEventListener("abort", () => leading.abort(), { once: true });
            const renewed = elector.renew(leading.signal).then((r) => {
                if (r === "lost") {
                    code = 1;
                    leading.abort();
                }
            });
            await controller.run(leading.signal);
            await renewed;
            if (code) log("leaderelection lost");
        }
    }
    kube.access.agent.destroy();
    log("stopped");
    return code;
}

main().then(
    (code) => process.exit(code),
    (e) => {
        process.stderr.write(`virt-controller: ${(e as Error).stack ?? e}\n`);
        process.exit(1);
    },
);
