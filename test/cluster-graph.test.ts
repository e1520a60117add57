// The cluster stage's resource graph under mocks, for the post's dev stack.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as YAML from "yaml";
import { FAKE_JOIN_LINE, Graph, isSecret, runProgram } from "./lib/graph";
import { stackConfig } from "./lib/stack";
import { PREP_STEPS } from "../components/hostPrep";

let g: Graph;
const HOSTS = ["km1", "kn1", "kn2"];
const cmd = (g: Graph, name: string) => String(g.byName(name).inputs.create);

before(async () => {
    g = await runProgram(stackConfig("dev"));
});

describe("dev stack: cluster", () => {
    it("prepares every host with the seven steps, in the post's order (and swap off, which kubeadm needs)", () => {
        for (const h of HOSTS) {
            for (const step of PREP_STEPS) {
                const r = g.byName(`${h}-${step}`);
                assert.equal(r.type, "command:remote:Command", `${h}-${step}`);
                assert.match(cmd(g, `${h}-${step}`), new RegExp(`\\b${step}\\.sh apply`), `${h}-${step} runs ${step}.sh apply`);
                assert.match(String(r.inputs.delete), new RegExp(`\\b${step}\\.sh remove`), `${h}-${step} removes on destroy`);
            }
            assert.ok(g.dependsOn(`${h}-packages`, `${h}-repo`), `${h}: packages after the repo file`);
            assert.ok(g.dependsOn(`${h}-docker-storage`, `${h}-packages`), `${h}: storage file after packages`);
            assert.ok(g.dependsOn(`${h}-services`, `${h}-docker-storage`), `${h}: docker starts after its storage file`);
            assert.ok(g.dependsOn(`${h}-sysctl`, `${h}-services`), `${h}: sysctl after docker`);
        }
    });

    it("connects to each host at its address, as root, with the key as a secret", async () => {
        const addr: Record<string, string> = { km1: "172.31.50.221", kn1: "172.31.50.231", kn2: "172.31.50.232" };
        for (const h of HOSTS) {
            const conn = g.byName(`${h}-repo`).inputs.connection as any;
            assert.equal(conn.host, addr[h]);
            assert.equal(conn.user, "root");
            assert.equal(conn.port, 22);
            assert.match(conn.privateKey, /^-----BEGIN OPENSSH PRIVATE KEY-----/);
            assert.ok(await isSecret(g.byName(`${h}-repo`).props.connection as any), `${h}: the connection, key included, is a secret`);
        }
    });

    it("passes the post's values to the prep scripts", () => {
        assert.match(
            cmd(g, "km1-repo"),
            / apply --baseurl 'https:\/\/packages\.cloud\.google\.com\/yum\/repos\/kubernetes-el7-\$basearch' --gpgkey https:\/\/packages\.cloud\.google\.com\/yum\/doc\/yum-key\.gpg --gpgkey https:\/\/packages\.cloud\.google\.com\/yum\/doc\/rpm-package-key\.gpg$/,
        );
        assert.match(
            cmd(g, "kn1-packages"),
            / apply --yum-update yes --kubernetes-version 1\.9\.4 --package docker --package ansible --package git --package curl --package wget$/,
        );
        assert.match(cmd(g, "kn2-docker-storage"), / apply --device \/dev\/vdb$/);
        assert.match(
            cmd(g, "km1-sysctl"),
            / apply --setting 'net\.bridge\.bridge-nf-call-ip6tables = 1' --setting 'net\.bridge\.bridge-nf-call-iptables = 1'$/,
        );
        assert.match(cmd(g, "km1-selinux"), / apply --mode disabled$/);
    });

    it("runs one kubeadm init, after the master's preparation, guarded against re-creation", () => {
        const inits = g.resources.filter((r) => /kubeadm-init\.sh/.test(String(r.inputs.create)));
        assert.deepEqual(
            inits.map((r) => r.name),
            ["km1-kubeadm-init"],
        );
        assert.match(
            cmd(g, "km1-kubeadm-init"),
            / apply --pod-network-cidr 10\.244\.0\.0\/16 --service-cidr 10\.96\.0\.0\/12 --node-name km1\.virtomation\.com --advertise-address 172\.31\.50\.221 --kubernetes-version 1\.9\.4 --ssh-user root$/,
        );
        for (const step of PREP_STEPS) assert.ok(g.dependsOn("km1-kubeadm-init", `km1-${step}`), `init after km1-${step}`);
        assert.deepEqual(g.byName("km1-kubeadm-init").opts.ignoreChanges, ["create"]);
        assert.equal(g.byName("km1-kubeadm-init").opts.deleteBeforeReplace, true, "a replaced init resets first, then inits");
        for (const step of PREP_STEPS)
            assert.equal(g.byName(`kn1-${step}`).opts.deleteBeforeReplace, true, `kn1-${step}: undone before it is done again`);
        assert.equal(g.byName("kn1-kubeadm-join").opts.deleteBeforeReplace, true);
        assert.equal(g.byName("km1-kubeconfig").opts.deleteBeforeReplace, undefined, "a read-only step has nothing to undo");
        assert.match(
            String(g.byName("km1-kubeadm-init").inputs.delete),
            /kubeadm-init\.sh remove --ssh-user root --node-name km1\.virtomation\.com$/,
            "the master's own Node is drained and deleted before its reset",
        );
        for (const w of ["kn1", "kn2"])
            assert.match(
                cmd(g, `${w}-kubeadm-join`),
                new RegExp(`kubeadm-join\\.sh apply --node-name ${w}\\.virtomation\\.com$`),
                "no check ignored",
            );
    });

    it("passes kubeadmIgnorePreflightErrors to kubeadm init and every join, one option per check", async () => {
        const ig = await runProgram(stackConfig("dev", { kubeadmIgnorePreflightErrors: ["SystemVerification", "Service-Docker"] }));
        const flags = "--ignore-preflight-errors SystemVerification --ignore-preflight-errors Service-Docker";
        assert.match(String(ig.byName("km1-kubeadm-init").inputs.create), new RegExp(` --ssh-user root ${flags}$`));
        for (const w of ["kn1", "kn2"])
            assert.match(
                String(ig.byName(`${w}-kubeadm-join`).inputs.create),
                new RegExp(`apply --node-name ${w}\\.virtomation\\.com ${flags}$`),
            );
    });

    it("applies Flannel after init and waits for the master", () => {
        assert.match(
            cmd(g, "km1-flannel"),
            / apply --manifest-url https:\/\/raw\.githubusercontent\.com\/coreos\/flannel\/v0\.9\.1\/Documentation\/kube-flannel\.yml$/,
        );
        assert.ok(g.dependsOn("km1-flannel", "km1-kubeadm-init"));
        assert.ok(g.dependsOn("km1-ready", "km1-flannel"));
        assert.match(cmd(g, "km1-ready"), /wait-nodes\.sh --timeout 600 --node km1\.virtomation\.com$/);
    });

    it("joins each worker with a line minted on the master after Flannel, in parallel", () => {
        const joins = g.resources.filter((r) => /kubeadm-join\.sh/.test(String(r.inputs.create)));
        assert.deepEqual(joins.map((r) => r.name).sort(), ["kn1-kubeadm-join", "kn2-kubeadm-join"]);
        for (const w of ["kn1", "kn2"]) {
            const line = g.byName(`${w}-join-command`);
            assert.equal((line.inputs.connection as any).host, "172.31.50.221", "the join line is minted on the master");
            assert.match(String(line.inputs.create), /join-command\.sh --ttl 15m$/);
            assert.ok(g.dependsOn(`${w}-join-command`, "km1-flannel"), `${w}: token after Flannel`);
            assert.ok(g.dependsOn(`${w}-kubeadm-join`, `${w}-join-command`));
            for (const step of PREP_STEPS) assert.ok(g.dependsOn(`${w}-kubeadm-join`, `${w}-${step}`), `${w}: join after ${step}`);
            assert.equal((g.byName(`${w}-kubeadm-join`).inputs.connection as any).host.startsWith("172.31.50.23"), true);
            assert.deepEqual(g.byName(`${w}-kubeadm-join`).opts.ignoreChanges, ["stdin"]);
            assert.match(
                String(g.byName(`${w}-drain`).inputs.delete),
                new RegExp(`drain-node\\.sh remove --node-name ${w}\\.virtomation\\.com$`),
            );
            assert.ok(g.dependsOn(`${w}-drain`, `${w}-kubeadm-join`), `${w}: drained before its reset on destroy`);
        }
        assert.ok(
            !g.dependsOn("kn1-kubeadm-join", "kn2-kubeadm-join") && !g.dependsOn("kn2-kubeadm-join", "kn1-kubeadm-join"),
            "joins are independent",
        );
        assert.ok(!g.dependsOn("kn1-repo", "km1-repo") && !g.dependsOn("km1-packages", "kn2-packages"), "hosts are prepared in parallel");
    });

    it("keeps join lines and the kubeconfig secret and out of the logs", async () => {
        for (const w of ["kn1", "kn2"]) {
            const line = g.byName(`${w}-join-command`);
            assert.ok(
                ["stdout", "stderr"].every((k) => line.opts.additionalSecretOutputs?.includes(k)),
                `${w}-join-command: stdout and stderr are secret outputs`,
            );
            assert.equal(line.inputs.logging, "none");
            assert.equal(g.byName(`${w}-kubeadm-join`).inputs.logging, "none");
            assert.ok(
                await isSecret(g.byName(`${w}-kubeadm-join`).props.stdin as any),
                `${w}: the join line reaches the worker as a secret`,
            );
            assert.equal(g.byName(`${w}-kubeadm-join`).inputs.stdin, FAKE_JOIN_LINE);
        }
        const kc = g.byName("km1-kubeconfig");
        assert.ok(
            ["stdout", "stderr"].every((k) => kc.opts.additionalSecretOutputs?.includes(k)),
            "admin.conf is a secret output",
        );
        assert.equal(kc.inputs.logging, "none");
    });

    it("exports the kubeconfig with the master's address and the node names", () => {
        const conf = YAML.parse(String(g.exports.kubeconfig));
        assert.equal(conf.users[0].user["client-key-data"], "S0VZLXNlY3JldA==", "the rest of admin.conf is kept");
        assert.equal(conf.clusters[0].cluster.server, "https://172.31.50.221:6443");
        assert.deepEqual(g.exports.nodes, ["km1.virtomation.com", "kn1.virtomation.com", "kn2.virtomation.com"]);
        assert.ok(g.dependsOn("cluster-nodes-ready", "kn1-drain") && g.dependsOn("cluster-nodes-ready", "kn2-drain"));
        assert.match(
            cmd(g, "cluster-nodes-ready"),
            /wait-nodes\.sh --timeout 600 --node km1\.virtomation\.com --node kn1\.virtomation\.com --node kn2\.virtomation\.com$/,
        );
    });
});
