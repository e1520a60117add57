// steps/kubeadm-join/kubeadm-join.sh in sandboxes with the recording stand-ins (kubeadm, kubectl)
// that share one simulated API server: the cluster flow (kubeadm-init.sh, flannel.sh,
// join-command.sh, the join with the line on stdin, wait-nodes.sh, drain-node.sh, the resets), 1.9's
// join that leaves kubelet.conf to the kubelet, bad join lines refused without showing the token,
// runs cut off midway; the command lines of the dev stack's kubeadm-join steps (golden/).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";

import { sandboxes, seedPreparedHost, sharedApiserver } from "../../test/lib/hosts";
import { SIM_APISERVER, scriptCommand } from "../../test/lib/sandbox";
import {
    FLANNEL_URL,
    INIT_ARGS,
    KC,
    act,
    assertCommandsGolden,
    assertNoop,
    initializedHosts,
    ok,
    run,
    sandboxSkip,
    status,
    step,
} from "../../test/lib/steps";

const KUBELET_CONF = "/etc/kubernetes/kubelet.conf";
const JOIN_RE =
    /^kubeadm join --token ([a-z0-9]{6}\.[a-z0-9]{16}) 172\.31\.50\.221:6443 --discovery-token-ca-cert-hash (sha256:[0-9a-f]{64})$/;

const sandbox = sandboxes();

/** Two prepared hosts on one simulated API server, km1 initialised. */
async function initializedPair() {
    const {
        api,
        hosts: [km1, kn1],
    } = await initializedHosts(sandbox, ["km1", "kn1"]);
    return { api, km1, kn1 };
}

describe("kubeadm-join.sh", { skip: sandboxSkip(), concurrency: 3 }, () => {
    describe("cluster flow: km1 and kn1 share one simulated API server", { concurrency: 3 }, () => {
        it("init, flannel, join-command, join with the line on stdin, wait-nodes, drain, resets", async () => {
            const { api, km1, kn1 } = await initializedPair();
            ok(await km1.runScriptAsync("flannel.sh", act("apply", { "manifest-url": FLANNEL_URL })), "flannel");

            const jc = await step(km1, "join-command.sh", run({ ttl: "1h" }));
            ok(jc.result, "join-command");
            assert.deepEqual(jc.calls, ["kubeadm token create --ttl 1h --print-join-command"]);
            assert.equal(jc.result.stdout.split("\n").length, 2, "one line");
            const m = JOIN_RE.exec(jc.result.stdout.trimEnd());
            assert.ok(m, `join line: ${jc.result.stdout}`);
            const [line, token, hash] = m;
            status(jc.result, "join-command.sh", "run", "changed", "stderr");

            const j = await step(kn1, "kubeadm-join.sh", act("apply", { "node-name": "kn1" }), { stdin: `${line}\n` });
            ok(j.result, "join");
            status(j.result, "kubeadm-join.sh", "apply", "changed");
            assert.deepEqual(j.calls, [
                `kubeadm join --token ${token} 172.31.50.221:6443 --discovery-token-ca-cert-hash ${hash} --node-name kn1`,
            ]);
            assert.ok(!j.result.stdout.includes(token) && !j.result.stderr.includes(token), "token not printed");
            assert.match(kn1.readFile(KUBELET_CONF)!, /server: https:\/\/172\.31\.50\.221:6443/);
            assert.equal(kn1.readFile("/etc/kubernetes/pki/ca.crt"), km1.readFile("/etc/kubernetes/pki/ca.crt"));
            // kubelet.conf exists: no join, stdin not needed
            await assertNoop(kn1, "kubeadm-join.sh", act("apply", { "node-name": "kn1" }), "apply");

            const w = await step(km1, "wait-nodes.sh", run({ timeout: "30", node: ["km1", "kn1"] }));
            ok(w.result, "wait-nodes");
            status(w.result, "wait-nodes.sh", "run", "unchanged");
            assert.deepEqual(w.calls, [`kubectl ${KC} get nodes --no-headers`]);
            const nodes = ok(await km1.runAsync("kubectl get nodes"), "get nodes").stdout;
            assert.match(
                nodes,
                /^NAME +STATUS +ROLES +AGE +VERSION\nkm1 +Ready +master +\d+s +v1\.9\.4\nkn1 +Ready +<none> +\d+s +v1\.9\.4\n$/,
            );

            // teardown of the worker: drain + delete on the master, reset on the worker
            const d = await step(km1, "drain-node.sh", act("remove", { "node-name": "kn1" }));
            ok(d.result, "drain");
            status(d.result, "drain-node.sh", "remove", "changed");
            assert.deepEqual(d.calls, [
                `kubectl ${KC} get node kn1`,
                `kubectl ${KC} drain --help`,
                `kubectl ${KC} drain kn1 --ignore-daemonsets --delete-local-data --force --timeout=600s`,
                `kubectl ${KC} delete node kn1`,
            ]);
            assert.equal(fs.existsSync(path.join(api.dir, "nodes", "kn1")), false);
            const d2 = await assertNoop(km1, "drain-node.sh", act("remove", { "node-name": "kn1" }), "remove");
            assert.deepEqual(d2.calls, [`kubectl ${KC} get node kn1`]);
            status(
                ok(await km1.runScriptAsync("drain-node.sh", act("apply", { "node-name": "kn1" })), "drain apply"),
                "drain-node.sh",
                "apply",
                "unchanged",
            );

            const r = await step(kn1, "kubeadm-join.sh", act("remove"));
            ok(r.result, "join remove");
            status(r.result, "kubeadm-join.sh", "remove", "changed");
            assert.deepEqual(r.calls, ["kubeadm reset --help", "kubeadm reset"]);
            assert.equal(kn1.readFile(KUBELET_CONF), undefined);
            await assertNoop(kn1, "kubeadm-join.sh", act("remove"), "remove");
        });

        it("as 1.9's join writes only bootstrap-kubelet.conf: apply waits for the kubelet's kubelet.conf, or names the kubelet; remove leaves nothing of kubeadm's", async () => {
            // SIM_KUBEADM_JOIN_BOOTSTRAP=1: the stand-in's join does what real kubeadm 1.9.4's does
            // (measured in the simulated lab): bootstrap-kubelet.conf and pki/ca.crt, no kubelet.conf
            const api = sharedApiserver();
            const env = { SIM_KUBEADM_JOIN_BOOTSTRAP: "1" };
            const km1 = await sandbox({ hostname: "km1", binds: api.binds });
            const kn1 = await sandbox({ hostname: "kn1", binds: api.binds, env });
            const kn2 = await sandbox({ hostname: "kn2", binds: api.binds, env });
            for (const sb of [km1, kn1, kn2]) await seedPreparedHost(sb);
            ok(await km1.runScriptAsync("kubeadm-init.sh", act("apply", { ...INIT_ARGS, "ssh-user": "root" })), "init");
            const line = async () => ok(await km1.runScriptAsync("join-command.sh", run({ ttl: "1h" })), "join-command").stdout;
            const BOOTSTRAP_CONF = "/etc/kubernetes/bootstrap-kubelet.conf";

            // the kubelet's TLS bootstrap, a second after join: kubelet.conf with the node's own credentials,
            // then the node registered (as the kubelet does)
            const kubelet = kn1.runAsync(
                `for i in $(seq 300); do [ -f ${BOOTSTRAP_CONF} ] && break; sleep 0.1; done
                 sleep 1; sed s/tls-bootstrap-token-user/system:node:kn1/ ${BOOTSTRAP_CONF} > ${KUBELET_CONF}
                 printf 'name=kn1\\nrole=<none>\\nhost=kn1\\nversion=v1.9.4\\nstatus=Ready\\ncreated=0\\n' > ${SIM_APISERVER}/nodes/kn1`,
            );
            const args = { "node-name": "kn1", "ignore-preflight-errors": ["SystemVerification", "Service-Docker"] };
            const j = await step(kn1, "kubeadm-join.sh", act("apply", args), { stdin: await line() });
            ok(await kubelet, "the kubelet's bootstrap");
            ok(j.result, "join, then the kubelet's kubelet.conf");
            assert.match(
                j.calls[0],
                / --node-name kn1 --ignore-preflight-errors=SystemVerification\\,Service-Docker$/,
                "(printf %q in the log)",
            );
            assert.match(
                j.result.stdout,
                /kubeadm-join\.sh: the kubelet wrote \/etc\/kubernetes\/kubelet\.conf \(its TLS bootstrap\) [\d.]+s after kubeadm join\n/,
            );
            status(j.result, "kubeadm-join.sh", "apply", "changed");
            assert.match(kn1.readFile(KUBELET_CONF)!, /system:node:kn1/);
            await assertNoop(kn1, "kubeadm-join.sh", act("apply", args), "apply");

            // no kubelet: a bounded wait, then the kubelet is named
            const t0 = Date.now();
            const alone = await step(kn2, "kubeadm-join.sh", act("apply", { "node-name": "kn2", "kubelet-timeout": "1" }), {
                stdin: await line(),
            });
            assert.equal(alone.result.code, 1);
            assert.ok(Date.now() - t0 < 15_000, "bounded by --kubelet-timeout");
            assert.match(
                alone.result.stderr,
                /^kubeadm-join\.sh: kubeadm join wrote \/etc\/kubernetes\/bootstrap-kubelet\.conf, but the kubelet has not written \/etc\/kubernetes\/kubelet\.conf \(its TLS bootstrap\) within 1s: is it running\? \(systemctl status kubelet\)\n$/m,
            );

            // reset: 1.9 leaves bootstrap-kubelet.conf behind; remove takes it too
            for (const sb of [kn1, kn2]) {
                const r = await step(sb, "kubeadm-join.sh", act("remove"));
                ok(r.result, "join remove");
                status(r.result, "kubeadm-join.sh", "remove", "changed");
                const left = ok(await sb.runAsync("find /etc/kubernetes -type f"), "find").stdout;
                assert.equal(left, "", `no file of kubeadm's left in /etc/kubernetes, saw:\n${left}`);
                await assertNoop(sb, "kubeadm-join.sh", act("remove"), "remove");
            }
        });

        it("refuses bad join lines without showing the token; accepts another argument order", async () => {
            const { api, km1, kn1 } = await initializedPair();
            const line = ok(await km1.runScriptAsync("join-command.sh", run({ ttl: "2h" })), "join-command").stdout.trimEnd();
            const [, token, hash] = JOIN_RE.exec(line)!;
            const bad = [
                "",
                `kubeadm join --token ${token} 172.31.50.221:6443`,
                `kubeadm join --token ${token} 172.31.50.221:6443 --discovery-token-ca-cert-hash sha256:abc`,
                `kubeadm join --token ${token.toUpperCase()} 172.31.50.221:6443 --discovery-token-ca-cert-hash ${hash}`,
                `kubeadm join --token ${token} 172.31.50.221:6443 --discovery-token-ca-cert-hash ${hash} ; touch /etc/pwned`,
                `kubeadm join --token ${token} 172.31.50.221:6443 --discovery-token-ca-cert-hash ${hash} --unexpected`,
                `kubeadm reset --token ${token} 172.31.50.221:6443 --discovery-token-ca-cert-hash ${hash}`,
                `kubeadm join --token ${token} --token ${token} 172.31.50.221:6443 --discovery-token-ca-cert-hash ${hash}`,
            ];
            for (const b of bad) {
                const s = await step(kn1, "kubeadm-join.sh", act("apply", { "node-name": "kn1" }), { stdin: `${b}\n` });
                assert.equal(s.result.code, 1, `refused: ${b}`);
                assert.match(
                    s.result.stderr,
                    /kubeadm-join\.sh: the join line on stdin is not of the form 'kubeadm join --token <token> <host:port> --discovery-token-ca-cert-hash sha256:<hex>': /,
                );
                for (const secret of [token, token.toUpperCase(), token.split(".")[1]]) {
                    assert.ok(!s.result.stdout.includes(secret) && !s.result.stderr.includes(secret), `token shown for: ${b}`);
                }
                assert.deepEqual(s.calls, [], `nothing called for: ${b}`);
                assert.deepEqual(s.diff, []);
            }
            assert.equal(kn1.exists("/etc/pwned"), false);

            // bash -x traces no token, and another argument order joins
            const reordered = `kubeadm join 172.31.50.221:6443 --discovery-token-ca-cert-hash=${hash} --token=${token}`;
            const traced = await kn1.runAsync(
                scriptCommand("kubeadm-join.sh", act("apply", { "node-name": "kn1" })).replace(/\nbash "\$d"\//, '\nbash -x "$d"/'),
                { stdin: reordered },
            );
            ok(traced, "join under bash -x");
            assert.match(traced.stderr, /^\+ /m, "it was traced");
            assert.ok(!traced.stdout.includes(token) && !traced.stderr.includes(token), "token not traced");
            assert.deepEqual(kn1.commands().slice(-1), [
                `kubeadm join --token ${token} 172.31.50.221:6443 --discovery-token-ca-cert-hash ${hash} --node-name kn1`,
            ]);

            // a well-formed line with a token the cluster does not know fails in kubeadm, not silently
            const kn2 = await sandbox({ hostname: "kn2", binds: api.binds });
            await seedPreparedHost(kn2);
            const unknown = await kn2.runScriptAsync("kubeadm-join.sh", act("apply", { "node-name": "kn2" }), {
                stdin: `kubeadm join --token abcdef.0123456789abcdef 172.31.50.221:6443 --discovery-token-ca-cert-hash ${hash}\n`,
            });
            assert.equal(unknown.code, 1);
            assert.match(unknown.stdout + unknown.stderr, /token id is invalid for this cluster/);
            assert.ok(!(unknown.stdout + unknown.stderr).includes("0123456789abcdef"));
            assert.equal(kn2.readFile(KUBELET_CONF), undefined);
        });
    });

    it("remove on a clean host is a no-op", async () => {
        const sb = await sandbox({ hostname: "km1" });
        const j = await step(sb, "kubeadm-join.sh", act("remove"));
        ok(j.result, "join remove on a clean host");
        status(j.result, "kubeadm-join.sh", "remove", "unchanged");
        assert.deepEqual(j.calls, []);
    });

    describe("runs cut off midway (a killed engine, a reboot): the next run finishes the step", { concurrency: 3 }, () => {
        it("kubeadm join killed after bootstrap-kubelet.conf: reset and joined again; a node not in the cluster too; an API that does not answer fails and changes nothing", async () => {
            const { api, km1, kn1 } = await initializedPair();
            const line = async () => ok(await km1.runScriptAsync("join-command.sh", run({ ttl: "1h" })), "join-command").stdout;
            const apply = act("apply", { "node-name": "kn1", "kubelet-timeout": "1" });
            const GET_KN1 = "kubectl --kubeconfig=/etc/kubernetes/kubelet.conf get node kn1 --request-timeout=10s";
            const isJoin = (c: string) =>
                /^kubeadm join --token [a-z0-9.]+ 172\.31\.50\.221:6443 --discovery-token-ca-cert-hash sha256:[0-9a-f]{64} --node-name kn1$/.test(
                    c,
                );

            const cut = await kn1.runScriptAsync("kubeadm-join.sh", apply, {
                stdin: await line(),
                env: { SIM_KUBEADM_CUT: "join-bootstrap" },
            });
            assert.notEqual(cut.code, 0, "the cut join failed");
            assert.deepEqual(
                kn1.readFiles(["/etc/kubernetes/bootstrap-kubelet.conf", KUBELET_CONF]).map((f) => f !== undefined),
                [true, false],
            );
            // (without the reset, 1.9's preflight would refuse: pki/ca.crt exists)
            const again = await step(kn1, "kubeadm-join.sh", apply, { stdin: await line() });
            ok(again.result, "join after the cut");
            assert.match(
                again.result.stdout,
                /^kubeadm-join\.sh: \/etc\/kubernetes\/bootstrap-kubelet\.conf exists, but no kubelet has written \/etc\/kubernetes\/kubelet\.conf within 1s: a kubeadm join cut off midway$/m,
            );
            assert.deepEqual(again.calls.slice(0, 2), ["kubeadm reset --help", "kubeadm reset"]);
            assert.ok(again.calls.length === 3 && isJoin(again.calls[2]), again.calls.join("\n"));
            status(again.result, "kubeadm-join.sh", "apply", "changed");
            assert.ok(fs.existsSync(path.join(api.dir, "nodes", "kn1")), "kn1 registered");
            const joined = await assertNoop(kn1, "kubeadm-join.sh", apply, "apply");
            assert.deepEqual(joined.calls, [GET_KN1], "a joined node is asked, stdin is not read");

            // kubelet.conf there, the node not in the cluster: reset and joined again
            fs.rmSync(path.join(api.dir, "nodes", "kn1"));
            const gone = await step(kn1, "kubeadm-join.sh", apply, { stdin: await line() });
            ok(gone.result, "join of a node not in the cluster");
            assert.match(
                gone.result.stdout,
                /^kubeadm-join\.sh: \/etc\/kubernetes\/kubelet\.conf exists, but node kn1 is not in the cluster after 1s: a kubeadm join cut off midway$/m,
            );
            const [reset, ...rest] = gone.calls.slice(-3);
            assert.deepEqual([reset, rest[0]], ["kubeadm reset --help", "kubeadm reset"]);
            assert.ok(isJoin(rest[1]) && gone.calls.slice(0, -3).every((c) => c === GET_KN1), gone.calls.join("\n"));
            assert.ok(fs.existsSync(path.join(api.dir, "nodes", "kn1")), "kn1 registered again");

            // the API server does not answer: whether kn1 joined cannot be told: no reset, nothing changed
            const cluster = fs.readFileSync(path.join(api.dir, "cluster"), "utf8");
            fs.rmSync(path.join(api.dir, "cluster"));
            try {
                const down = await step(kn1, "kubeadm-join.sh", apply);
                assert.equal(down.result.code, 1, down.result.stdout + down.result.stderr);
                assert.match(
                    down.result.stderr,
                    /^kubeadm-join\.sh: cannot ask the API server whether node kn1 has joined \(.*\): is the master up\?$/m,
                );
                assert.deepEqual(down.diff, []);
                assert.ok(down.calls.length >= 1 && down.calls.every((c) => c === GET_KN1), down.calls.join("\n"));
            } finally {
                fs.writeFileSync(path.join(api.dir, "cluster"), cluster);
            }
        });
    });
});

it("the dev stack's kubeadm-join.sh steps: create and delete command lines (script elided), logging, stdin, as golden/commands.txt", () => {
    assertCommandsGolden("kubeadm-join");
});
