// npm run bench: wall times of the real engine against the simulated lab, and
// the critical path of the work the hosts did.
//
// The stand-ins sleep a fixed time per call (SIM_DELAY_*), standing in for
// yum, kubeadm and kubectl taking time. From the calls each host recorded, the
// critical path is max(prep) + init + Flannel and master wait + max(join):
// what an ideal orchestrator could not beat. up / critical path shows what the
// engine, SSH and our sequencing add. Fresh `up` is measured with 2 and with 6
// workers: prepared and joined in parallel, 6 should cost little more than 2.
//
// Then the whole post, stage by stage, on a lab of real Kubernetes 1.9.4 (the stack of
// `npm run lab`, Pulumi.lab.yaml): one `up` per stage added, in the post's order (the cluster,
// then the add-ons, the workload, the app, DNS), so that each up's time is that stage's; then a
// no-op up (the engine's own cost, part of every figure) and the destroy of it all.
import { Project, SimLab, engineEnv, parseCalls } from "./lib/simlab";
import { standinsWithJoinConfig } from "./lib/standins";

const DELAYS: Record<string, number> = { yum: 1.0, kubeadm: 1.0, kubectl: 0.3, systemctl: 0.1, sysctl: 0.1, setenforce: 0.1 };
const PREP = new Set(["yum", "rpm", "systemctl", "sysctl", "setenforce", "getenforce", "docker-storage-setup", "modprobe"]);

function delayOf(prog: string): number {
    return DELAYS[prog] ?? 0;
}

interface Figures {
    workers: number;
    freshUp: number;
    noopUp?: number;
    destroy?: number;
    critical: number;
    parts: { prep: number; init: number; flannel: number; join: number };
}

/** Seconds `pulumi <args>` took in the project; a failure stops the bench with its output. */
async function timed(project: Project, what: string, args: string[]): Promise<number> {
    const t0 = Date.now();
    const r = await project.pulumi(args, 1_800_000);
    if (r.code !== 0) throw new Error(`${what} failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
    return (Date.now() - t0) / 1000;
}

const UP = ["up", "--yes", "--skip-preview"];
const DESTROY = ["destroy", "--yes", "--skip-preview"];

async function measure(workers: number, full: boolean, engine: Record<string, string>): Promise<Figures> {
    const lab = new SimLab("kvlbench");
    const names = Array.from({ length: workers }, (_, i) => `kn${i + 1}`);
    const hosts = [["km1", "172.31.50.221"], ...names.map((n, i) => [n, `172.31.50.${231 + i}`])];
    await lab.down();
    // the stand-ins with kubeadm's join --config (harness/lib/standins.ts), for this lab of stand-ins only
    process.env.SIMLAB_STANDINS = standinsWithJoinConfig();
    await lab.up(hosts.map(([n, a]) => `${n}=${a}`).join(","));
    delete process.env.SIMLAB_STANDINS;
    const project = new Project(lab, "bench", engine);
    try {
        for (const [h] of hosts) {
            const lines = Object.entries(DELAYS)
                .map(([p, s]) => `SIM_DELAY_${p.toUpperCase()}=${s}`)
                .join("\\n");
            await lab.cli(["exec", h, "sh", "-c", `printf '${lines}\\n' >> /etc/kubevirt-lab-sim/env`]);
        }
        project.configure({ workers: names.map((n, i) => ({ name: `${n}.virtomation.com`, address: `172.31.50.${231 + i}` })) });
        await project.init();
        const freshUp = await timed(project, "up", UP);

        // The critical path, from what each host recorded.
        const sum = (calls: ReturnType<typeof parseCalls>) => calls.reduce((s, c) => s + delayOf(c.prog), 0);
        const prepOf = (h: string) => sum(parseCalls(lab.calls(h)).filter((c) => PREP.has(c.prog)));
        const km1 = parseCalls(lab.calls("km1"));
        const prep = Math.max(...hosts.map(([h]) => prepOf(h)));
        const init = sum(km1.filter((c) => c.prog === "kubeadm" && c.args[0] === "init"));
        // kubectl on the master: the Flannel apply and the Ready waits.
        const flannel = sum(km1.filter((c) => c.prog === "kubectl"));
        const tokenEach = sum(km1.filter((c) => c.prog === "kubeadm" && c.args[0] === "token")) / Math.max(1, workers);
        const join =
            workers === 0
                ? 0
                : tokenEach + Math.max(...names.map((h) => sum(parseCalls(lab.calls(h)).filter((c) => c.prog === "kubeadm"))));
        const fig: Figures = { workers, freshUp, critical: prep + init + flannel + join, parts: { prep, init, flannel, join } };

        if (full) {
            fig.noopUp = await timed(project, "no-op up", UP);
            fig.destroy = await timed(project, "destroy", DESTROY);
        }
        return fig;
    } finally {
        await lab.down();
        project.cleanup();
    }
}

const STAGES = ["addons", "workload", "app", "dns"] as const;

interface StageFigures {
    /** seconds of the up that added each stage ("cluster": the first, with no stage) */
    stages: Record<string, number>;
    noopUp: number;
    destroy: number;
}

async function measureStages(engine: Record<string, string>): Promise<StageFigures> {
    const lab = new SimLab("kvlbench");
    await lab.down();
    await lab.up("km1=172.31.50.221,kn1=172.31.50.231,kn2=172.31.50.232", "dns1=172.31.50.10", {
        kubernetes: "real",
        mirror: "mirror=172.31.50.5",
    });
    const project = new Project(lab, "benchpost", engine);
    try {
        const stages: Record<string, number> = {};
        for (let i = 0; i <= STAGES.length; i++) {
            project.configure({ stages: STAGES.slice(0, i) }, "lab");
            if (i === 0) await project.init();
            stages[i === 0 ? "cluster" : STAGES[i - 1]] = await timed(project, `up with ${i} stage(s)`, UP);
        }
        const noopUp = await timed(project, "no-op up", UP);
        const destroy = await timed(project, "destroy", DESTROY);
        return { stages, noopUp, destroy };
    } finally {
        await lab.down();
        project.cleanup();
    }
}

async function main() {
    const engine = { ...engineEnv(), PULUMI_NODEJS_TRANSPILE_ONLY: "true" };
    const two = await measure(2, true, engine);
    const six = await measure(6, false, engine);
    const f = (n: number | undefined) => (n === undefined ? "-" : `${n.toFixed(1)} s`);
    console.log("kubevirt-lab bench (simulated lab, stand-in delays " + JSON.stringify(DELAYS) + ")");
    console.log(`| workers | fresh up | no-op up | destroy | critical path (prep + init + flannel/waits + join) | up / critical |`);
    console.log(`|---|---|---|---|---|---|`);
    for (const x of [two, six]) {
        const p = x.parts;
        console.log(
            `| ${x.workers} | ${f(x.freshUp)} | ${f(x.noopUp)} | ${f(x.destroy)} | ${f(x.critical)} (${p.prep.toFixed(1)} + ${p.init.toFixed(1)} + ${p.flannel.toFixed(1)} + ${p.join.toFixed(1)}) | ${(x.freshUp / x.critical).toFixed(2)} |`,
        );
    }
    console.log(`fresh up, 6 workers vs 2: ${(six.freshUp / two.freshUp).toFixed(2)}x`);

    const post = await measureStages(engine);
    console.log("");
    console.log("the whole post on real Kubernetes 1.9.4 (Pulumi.lab.yaml), one up per stage added:");
    console.log(`| cluster (hosts, init, Flannel, joins) | + add-ons | + workload | + app | + DNS | whole post | no-op up | destroy |`);
    console.log(`|---|---|---|---|---|---|---|---|`);
    const st = post.stages;
    const total = Object.values(st).reduce((a, b) => a + b, 0);
    console.log(
        `| ${f(st.cluster)} | ${f(st.addons)} | ${f(st.workload)} | ${f(st.app)} | ${f(st.dns)} | ${f(total)} | ${f(post.noopUp)} | ${f(post.destroy)} |`,
    );
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
