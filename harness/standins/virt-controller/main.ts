// virt-controller stand-in (KubeVirt v0.4.1): see README.md beside this file.
//
//   node --import tsx harness/standins/virt-controller/main.ts --kubeconfig <file> [options]
//   node --import tsx harness/standins/virt-controller/main.ts --server http://127.0.0.1:8080 [options]
//
// One line on stderr per action; SIGTERM or SIGINT stops it (exit 0).
import { Kube, fromKubeconfig, fromServer } from "./kube";
import { VirtController } from "./controller";
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
`;

function log(msg: string): void {
    process.stderr.write(`${new Date().toISOString()} virt-controller: ${msg}\n`);
}

function parseArgs(argv: string[]) {
    const o: Record<string, string> = {};
    let handlerPhases = true;
    const valued = new Set([
        "kubeconfig",
        "context",
        "server",
        "namespace",
        "launcher-image",
        "kubevirt-share-dir",
        "ephemeral-disk-dir",
        "image-pull-secret",
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
        const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
        if (!m || !valued.has(m[1])) throw new Error(`unknown argument ${a}`);
        const v = m[2] ?? argv[++i];
        if (v === undefined || v === "") throw new Error(`${a} needs a value`);
        o[m[1]] = v;
    }
    return { o, handlerPhases };
}

async function main(): Promise<number> {
    let args: ReturnType<typeof parseArgs>;
    try {
        args = parseArgs(process.argv.slice(2));
    } catch (e) {
        process.stderr.write(`virt-controller: ${(e as Error).message}\n${USAGE}`);
        return 2;
    }
    const { o, handlerPhases } = args;
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
        `started (stand-in for KubeVirt v0.4.1 virt-controller; no VM runs) against ${kube.access.describe}; launcher image ${template.launcherImage}${o.namespace ? `, namespace ${o.namespace}` : ""}${handlerPhases ? "" : ", no handler phases"}`,
    );
    await controller.run(stop.signal);
    kube.access.agent.destroy();
    log("stopped");
    return 0;
}

main().then(
    (code) => process.exit(code),
    (e) => {
        process.stderr.write(`virt-controller: ${(e as Error).stack ?? e}\n`);
        process.exit(1);
    },
);
