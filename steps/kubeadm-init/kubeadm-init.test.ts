// steps/kubeadm-init/kubeadm-init.sh in sandboxes with the recording stand-ins (kubeadm, kubectl
// and a simulated API server): init once, admin.conf copied for the SSH user, a second run that
// changes nothing, the init token never printed, the preflight checks to ignore, remove (the
// master's Node drained, kubeadm reset); kubeconfig.sh and flannel.sh on the cluster it made; runs
// cut off midway; the command lines of the dev stack's kubeadm-init step and one whole command line
// through sudo (golden/). The cluster flow with workers: steps/kubeadm-join/kubeadm-join.test.ts.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";

import { renderScript, scriptCommandLine } from "../../components/remote";
import { sandboxes, seedPreparedHost, sharedApiserver } from "../../test/lib/hosts";
import { HOST_SCRIPTS, SIM_APISERVER, Sandbox } from "../../test/lib/sandbox";
import {
    ADMIN_CONF,
    FLANNEL_URL,
    INIT_ARGS,
    KC,
    act,
    assertCommandsGolden,
    assertNoop,
    golden,
    ok,
    run,
    sandboxSkip,
    status,
    step,
} from "../../test/lib/steps";

const INIT_COMMAND =
    "kubeadm init --pod-network-cidr=10.244.0.0/16 --service-cidr=10.96.0.0/12 --node-name=km1 " +
    "--apiserver-advertise-address=172.31.50.221 --kubernetes-version=v1.9.4";
/** kubeadm-init.sh remove of the master km1 (its own Node is drained first). */
const INIT_REMOVE = { "ssh-user": "root", "node-name": "km1" };
/** What kubeadm-init.sh remove runs on km1 before its reset: km1's own Node drained and deleted. */
const MASTER_DRAIN = [
    `kubectl ${KC} get node km1`,
    `kubectl ${KC} drain --help`,
    `kubectl ${KC} drain km1 --ignore-daemonsets --delete-local-data --force --timeout=600s`,
    `kubectl ${KC} delete node km1`,
    `kubectl ${KC} get nodes -o name`,
];

const sandbox = sandboxes();

/** The simulated cluster of a finished kubeadm init, as the stand-ins keep it: control plane, master, kube-proxy. */
async function seedFinishedCluster(sb: Sandbox): Promise<void> {
    ok(
        await sb.runAsync(`set -e
      mkdir -p /etc/kubernetes/manifests ${SIM_APISERVER}/nodes
      printf 'kind: Pod\\n' > /etc/kubernetes/manifests/kube-apiserver.yaml
      printf 'advertise=172.31.50.221\\nport=6443\\nversion=v1.9.4\\nhost=km1\\nmaster=km1\\n' > ${SIM_APISERVER}/cluster
      printf 'name=km1\\nrole=master\\nhost=km1\\nversion=v1.9.4\\nstatus=Ready\\ncreated=0\\n' > ${SIM_APISERVER}/nodes/km1
      printf 'kube-system daemonset kube-proxy\\n' > ${SIM_APISERVER}/addons`),
        "seeding a finished cluster",
    );
}

function tokensIn(apiserverDir: string): string[] {
    const d = path.join(apiserverDir, "tokens");
    return fs.existsSync(d) ? fs.readdirSync(d) : [];
}

describe("kubeadm-init.sh, kubeconfig.sh, flannel.sh", { skip: sandboxSkip(), concurrency: 3 }, () => {
    it("inits once, copies admin.conf to root's ~/.kube/config (600); second run no-op; token never printed", async () => {
        const api = sharedApiserver();
        const sb = await sandbox({ hostname: "km1", binds: api.binds });
        await seedPreparedHost(sb);
        const s = await step(sb, "kubeadm-init.sh", act("apply", { ...INIT_ARGS, "ssh-user": "root" }));
        ok(s.result, "init");
        status(s.result, "kubeadm-init.sh", "apply", "changed");
        assert.deepEqual(s.calls, [INIT_COMMAND]);
        const admin = sb.readFile(ADMIN_CONF)!;
        assert.match(admin, /^apiVersion: v1\n/);
        assert.match(admin, /\n {4}server: https:\/\/172\.31\.50\.221:6443\n/);
        assert.match(admin, /\n {4}certificate-authority-data: [A-Za-z0-9+/=]+\n/);
        assert.match(admin, /\ncurrent-context: kubernetes-admin@kubernetes\n/);
        assert.match(admin, /\n {4}client-key-data: [A-Za-z0-9+/=]+\n/);
        assert.equal(sb.readFile("/root/.kube/config"), admin);
        assert.equal(sb.stat("/root/.kube/config"), "root:root 600");
        const tokens = tokensIn(api.dir);
        assert.equal(tokens.length, 1, "kubeadm init made a token");
        assert.ok(!s.result.stdout.includes(tokens[0]) && !s.result.stderr.includes(tokens[0]), "the init token is hidden");
        assert.match(s.result.stdout, /kubeadm join --token <token hidden by kubevirt-lab> 172\.31\.50\.221:6443/);
        await assertNoop(sb, "kubeadm-init.sh", act("apply", { ...INIT_ARGS, "ssh-user": "root" }), "apply");

        // kubeconfig.sh: stdout is exactly admin.conf
        const kc = ok(await sb.runScriptAsync("kubeconfig.sh", run()), "kubeconfig.sh");
        assert.equal(kc.stdout, admin);
        status(kc, "kubeconfig.sh", "run", "unchanged", "stderr");

        // flannel.sh: applied once per URL and cluster
        const f = await step(sb, "flannel.sh", act("apply", { "manifest-url": FLANNEL_URL }));
        ok(f.result, "flannel");
        status(f.result, "flannel.sh", "apply", "changed");
        assert.deepEqual(f.calls, [`kubectl ${KC} apply -f ${FLANNEL_URL}`]);
        assert.match(
            fs.readFileSync(path.join(api.dir, "applied"), "utf8"),
            / km1 apply https:\/\/raw\.githubusercontent\.com\/coreos\/flannel\/v0\.9\.1\/Documentation\/kube-flannel\.yml\n$/,
        );
        await assertNoop(sb, "flannel.sh", act("apply", { "manifest-url": FLANNEL_URL }), "apply");
        const f2 = await step(sb, "flannel.sh", act("apply", { "manifest-url": "https://mirror/kube-flannel.yml" }));
        assert.deepEqual(f2.calls, [`kubectl ${KC} apply -f https://mirror/kube-flannel.yml`]);
        status(ok(await sb.runScriptAsync("flannel.sh", act("remove")), "flannel remove"), "flannel.sh", "remove", "changed");

        // remove: the master's own Node drained and deleted, kubeadm reset (1.9: no --force), the kubeconfig goes
        const rm = await step(sb, "kubeadm-init.sh", act("remove", INIT_REMOVE));
        ok(rm.result, "remove");
        status(rm.result, "kubeadm-init.sh", "remove", "changed");
        assert.deepEqual(rm.calls, [...MASTER_DRAIN, "kubeadm reset --help", "kubeadm reset"]);
        assert.deepEqual(sb.readFiles([ADMIN_CONF, "/root/.kube/config", "/etc/kubernetes/pki/ca.crt"]), [undefined, undefined, undefined]);
        assert.equal(fs.existsSync(path.join(api.dir, "cluster")), false, "the simulated cluster is gone");
        await assertNoop(sb, "kubeadm-init.sh", act("remove", INIT_REMOVE), "remove");
        const kc2 = await sb.runScriptAsync("kubeconfig.sh", run());
        assert.equal(kc2.code, 1);
        assert.match(kc2.stderr, /admin\.conf does not exist/);
    });

    it("admin.conf of a working cluster already there: no kubeadm init, only the copy; other SSH user gets it owned", async () => {
        const sb = await sandbox({ hostname: "km1" });
        await seedPreparedHost(sb);
        await sb.writeFileAsync(ADMIN_CONF, "apiVersion: v1\nkind: Config\n# existing\n", "600");
        await seedFinishedCluster(sb);
        ok(await sb.runAsync("useradd -m -U centos"), "useradd");
        const s = await step(sb, "kubeadm-init.sh", act("apply", { ...INIT_ARGS, "ssh-user": "centos" }));
        ok(s.result, "apply");
        // no copy of it yet: the cluster is asked (it answers, with kube-proxy: a finished init)
        assert.deepEqual(
            s.calls,
            [
                `kubectl ${KC} get nodes --request-timeout=10s`,
                `kubectl ${KC} get daemonset kube-proxy -n kube-system --request-timeout=10s`,
            ],
            "no kubeadm init",
        );
        assert.match(s.result.stdout, /already initialized/);
        assert.equal(sb.readFile("/home/centos/.kube/config"), "apiVersion: v1\nkind: Config\n# existing\n");
        assert.equal(sb.stat("/home/centos/.kube/config"), "centos:centos 600");
        assert.equal(sb.stat("/home/centos/.kube"), "centos:centos 755");
        await assertNoop(sb, "kubeadm-init.sh", act("apply", { ...INIT_ARGS, "ssh-user": "centos" }), "apply");
        // a changed owner is repaired
        ok(await sb.runAsync("chown root /home/centos/.kube/config"), "chown");
        const fix = await step(sb, "kubeadm-init.sh", act("apply", { ...INIT_ARGS, "ssh-user": "centos" }));
        status(fix.result, "kubeadm-init.sh", "apply", "changed");
        assert.equal(sb.stat("/home/centos/.kube/config"), "centos:centos 600");
        // bad arguments
        assert.match(
            (await sb.runScriptAsync("kubeadm-init.sh", act("apply", INIT_ARGS))).stderr,
            /^usage: kubeadm-init\.sh apply --pod-network-cidr <pod-network-cidr> .* --ssh-user <ssh-user> \[--ignore-preflight-errors <ignore-preflight-errors>\]\.\.\. \[--api-timeout <api-timeout>\] \| remove --ssh-user <ssh-user> --node-name <node-name>\n$/,
        );
        assert.match(
            (await sb.runScriptAsync("kubeadm-init.sh", act("apply", { ...INIT_ARGS, "ssh-user": "nobody-here" }))).stderr,
            /no such user/,
        );
    });

    it("remove on a host with nothing: no reset, unchanged; a newer kubeadm gets --force", async () => {
        const sb = await sandbox({ hostname: "km1" });
        const s = await step(sb, "kubeadm-init.sh", act("remove", INIT_REMOVE));
        ok(s.result, "remove");
        status(s.result, "kubeadm-init.sh", "remove", "unchanged");
        assert.deepEqual(s.calls, []);

        const env = { SIM_KUBEADM_RESET_FORCE: "1" };
        const sb2 = await sandbox({ hostname: "km1", env });
        await seedPreparedHost(sb2);
        ok(await sb2.runScriptAsync("kubeadm-init.sh", act("apply", { ...INIT_ARGS, "ssh-user": "root" })), "init");
        const rm = await step(sb2, "kubeadm-init.sh", act("remove", INIT_REMOVE));
        ok(rm.result, "remove");
        assert.deepEqual(rm.calls, [...MASTER_DRAIN, "kubeadm reset --help", "kubeadm reset --force"]);
        assert.equal(sb2.readFile(ADMIN_CONF), undefined);
    });

    it("init fails on kubeadm's preflight when docker is not running", async () => {
        const sb = await sandbox({ hostname: "km1" });
        const r = await sb.runScriptAsync("kubeadm-init.sh", act("apply", { ...INIT_ARGS, "ssh-user": "root" }));
        assert.notEqual(r.code, 0);
        assert.match(r.stdout, /\[ERROR Service-Docker\]/);
    });

    it("passes the preflight checks to ignore as one --ignore-preflight-errors=<a>,<b>; the others stay fatal", async () => {
        const sb = await sandbox({ hostname: "km1" }); // docker not running, the bridge sysctl not set
        const one = await step(sb, "kubeadm-init.sh", [
            ...act("apply", { ...INIT_ARGS, "ssh-user": "root", "ignore-preflight-errors": ["Service-Docker"] }),
        ]);
        assert.equal(one.result.code, 2, "the bridge check is still fatal");
        assert.deepEqual(one.calls, [`${INIT_COMMAND} --ignore-preflight-errors=Service-Docker`]);
        assert.match(one.result.stdout, /\[WARNING Service-Docker\]/);
        assert.match(one.result.stdout, /\[ERROR FileContent--proc-sys-net-bridge-bridge-nf-call-iptables\]/);
        const checks = ["Service-Docker", "FileContent--proc-sys-net-bridge-bridge-nf-call-iptables"];
        const two = await step(
            sb,
            "kubeadm-init.sh",
            act("apply", { ...INIT_ARGS, "ssh-user": "root", "ignore-preflight-errors": checks }),
        );
        ok(two.result, "init with both checks ignored");
        // (the calls log writes each word with printf %q: the comma as \,)
        assert.deepEqual(two.calls, [`${INIT_COMMAND} --ignore-preflight-errors=${checks.join("\\,")}`]);
        assert.doesNotMatch(two.result.stdout, /\[ERROR /);
        status(two.result, "kubeadm-init.sh", "apply", "changed");
    });

    describe("runs cut off midway (a killed engine, a reboot): the next run finishes the step", { concurrency: 3 }, () => {
        const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
        const RESET_INIT = ["kubeadm reset --help", "kubeadm reset", INIT_COMMAND];
        const APPLY_INIT = act("apply", { ...INIT_ARGS, "ssh-user": "root", "api-timeout": "2" });
        const GET_NODES = `kubectl ${KC} get nodes --request-timeout=10s`;
        const GET_PROXY = `kubectl ${KC} get daemonset kube-proxy -n kube-system --request-timeout=10s`;
        it("kubeadm init killed after admin.conf: the next run waits for it, resets and inits; killed before the add-ons, or with an API that never answers: the same", async () => {
            const api = sharedApiserver();
            const sb = await sandbox({ hostname: "km1", binds: api.binds });
            await seedPreparedHost(sb);

            // killed after the kubeconfig files: while it still lives, the step run again waits for it
            const env = { SIM_KUBEADM_CUT: "init-kubeconfig", SIM_KUBEADM_CUT_DELAY: "2" };
            const cut = sb.runScriptAsync("kubeadm-init.sh", APPLY_INIT, { env });
            for (let i = 0; i < 100 && !sb.exists(ADMIN_CONF); i++) await wait(100);
            assert.ok(sb.exists(ADMIN_CONF), "the cut kubeadm init wrote admin.conf");
            const again = await step(sb, "kubeadm-init.sh", APPLY_INIT);
            assert.notEqual((await cut).code, 0, "the cut run failed");
            ok(again.result, "apply after the cut");
            assert.match(
                again.result.stdout,
                /^kubeadm-init\.sh: an earlier kubeadm run of kubevirt-lab on this host is still at work .*: waiting for it to end$/m,
            );
            assert.match(
                again.result.stdout,
                /^kubeadm-init\.sh: \/etc\/kubernetes\/admin\.conf exists, but no control plane manifest: a kubeadm init cut off midway$/m,
            );
            assert.deepEqual(again.calls, RESET_INIT);
            status(again.result, "kubeadm-init.sh", "apply", "changed");
            assert.equal(sb.readFile("/root/.kube/config"), sb.readFile(ADMIN_CONF));
            assert.ok(fs.existsSync(path.join(api.dir, "addons")), "the new init finished");
            await assertNoop(sb, "kubeadm-init.sh", APPLY_INIT, "apply");

            // killed with the control plane up, before the add-ons: the API answers, without kube-proxy
            ok(await sb.runScriptAsync("kubeadm-init.sh", act("remove", INIT_REMOVE)), "remove");
            assert.notEqual((await sb.runScriptAsync("kubeadm-init.sh", APPLY_INIT, { env: { SIM_KUBEADM_CUT: "init-addons" } })).code, 0);
            const noProxy = await step(sb, "kubeadm-init.sh", APPLY_INIT);
            ok(noProxy.result, "apply after the cut before the add-ons");
            assert.match(
                noProxy.result.stdout,
                /its API server answers, but it has no kube-proxy \(the last thing kubeadm init makes\): a kubeadm init cut off midway$/m,
            );
            assert.deepEqual(noProxy.calls, [GET_NODES, GET_PROXY, ...RESET_INIT]);

            // the control plane written, its API server never answering: waited for --api-timeout, then the same
            ok(await sb.runScriptAsync("kubeadm-init.sh", act("remove", INIT_REMOVE)), "remove");
            assert.notEqual((await sb.runScriptAsync("kubeadm-init.sh", APPLY_INIT, { env: { SIM_KUBEADM_CUT: "init-addons" } })).code, 0);
            fs.rmSync(path.join(api.dir, "cluster"));
            const t0 = Date.now();
            const silent = await step(sb, "kubeadm-init.sh", APPLY_INIT);
            ok(silent.result, "apply after the cut, API down");
            assert.ok(Date.now() - t0 < 20_000, "bounded by --api-timeout");
            assert.match(
                silent.result.stdout,
                /its API server has not answered within 2s: a kubeadm init cut off midway \(last answer: The connection to the server .* was refused/,
            );
            assert.deepEqual(silent.calls.slice(-3), RESET_INIT);
            const polls = silent.calls.slice(0, -3);
            assert.ok(polls.length >= 2 && polls.every((c) => c === GET_NODES), `polls: ${polls.join("\n")}`);

            // a finished init (the SSH user's copy of admin.conf) is never reset, also while its API is down
            fs.rmSync(path.join(api.dir, "cluster"));
            const down = await assertNoop(sb, "kubeadm-init.sh", APPLY_INIT, "apply");
            assert.deepEqual(down.calls, []);
            assert.match(down.result.stdout, /already initialized/);
        });
    });
});

it("the dev stack's kubeadm-init.sh steps: create and delete command lines (script elided), logging, stdin, as golden/commands.txt", () => {
    assertCommandsGolden("kubeadm-init");
});

it("one whole command line, through sudo: remove, as golden/remove.sudo.txt", () => {
    golden(
        "kubeadm-init",
        "remove.sudo.txt",
        scriptCommandLine(
            renderScript("kubeadm-init.sh", HOST_SCRIPTS),
            "kubeadm-init.sh",
            act("remove", { "ssh-user": "centos", "node-name": "km1.virtomation.com" }),
            "centos",
        ),
    );
});
