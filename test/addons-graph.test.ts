// Add-ons and workload under mocks, for the dev stack with the upstream
// manifests served from the local stand-ins.
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import assert from "node:assert/strict";
import * as YAML from "yaml";
import { Graph, isSecret, runProgram } from "./lib/graph";
import { stackConfig } from "./lib/stack";

let g: Graph;
before(async () => {
    g = await runProgram(stackConfig("dev"));
});

const k8sResources = () => g.resources.filter((r) => r.type.startsWith("kubernetes:") && r.type !== "pulumi:providers:kubernetes");
const obj = (type: string, name: string) => {
    const r = g.resources.find((x) => x.type === type && x.name === name);
    assert.ok(
        r,
        `expected ${type} ${name}; have ${k8sResources()
            .map((x) => `${x.type} ${x.name}`)
            .join(", ")}`,
    );
    return r!;
};

describe("dev stack: add-ons and workload", () => {
    it("uses one Kubernetes provider built from the kubeconfig, for 1.9, created once every node is Ready", () => {
        const providers = g.ofType("pulumi:providers:kubernetes");
        assert.equal(providers.length, 1);
        const p = providers[0];
        // Provider inputs travel as strings.
        assert.equal(String(p.inputs.enableServerSideApply), "false");
        assert.equal(String(p.inputs.enableDryRun), "false");
        assert.match(String(p.inputs.kubeconfig), /server: https:\/\/172\.31\.50\.221:6443/);
        assert.deepEqual(p.dependsOn, ["cluster-nodes-ready"]);
        assert.equal(p.parent, "cluster", "the cluster makes and owns its provider");
        assert.deepEqual(
            (p.opts.aliases as any[]).map((x) => x.parent === pulumi.rootStackResource),
            [true],
            "aliased to the root-level provider of the previous release, so it is not replaced",
        );
        for (const r of k8sResources().filter((x) => !x.type.startsWith("kubernetes:yaml"))) {
            assert.ok(
                r.opts.provider === p.resource || (r.parent && g.byName(r.parent).opts.provider === p.resource),
                `${r.type} ${r.name} uses the lab provider`,
            );
        }
    });

    it("deletes every DaemonSet on the master before the provider does (Kubernetes 1.9's foreground delete never ends)", () => {
        const daemonsets = k8sResources()
            .filter((r) => r.type === "kubernetes:extensions/v1beta1:DaemonSet")
            .map((r) => r.name)
            .sort();
        assert.deepEqual(daemonsets, ["kube-system/virt-handler", "skydive/skydive-agent"]);
        const steps = g.resources.filter((r) => /-daemonsets$/.test(r.name));
        assert.deepEqual(steps.map((r) => r.name).sort(), ["kubevirt-daemonsets", "skydive-daemonsets"]);
        for (const st of steps) {
            const ds = st.name === "kubevirt-daemonsets" ? "kube-system/virt-handler" : "skydive/skydive-agent";
            assert.match(String(st.inputs.delete), new RegExp(`delete-daemonsets\\.sh remove --daemonset ${ds}\n?$`));
            assert.match(String(st.inputs.create), new RegExp(`delete-daemonsets\\.sh apply --daemonset ${ds}\n?$`));
            // it depends on the objects' groups: a destroy deletes it (its removal runs) before them
            const group = st.name.replace(/-daemonsets$/, "");
            assert.ok(st.dependsOn.includes(group), `${st.name} depends on ${group}: ${st.dependsOn}`);
            assert.match(String(st.inputs.connection?.host ?? JSON.stringify(st.inputs.connection)), /172\.31\.50\.221/, "on the master");
        }
    });

    it("deploys KubeVirt and waits for its pods on the master", () => {
        obj("kubernetes:apiextensions.k8s.io/v1beta1:CustomResourceDefinition", "offlinevirtualmachines.kubevirt.io");
        obj("kubernetes:extensions/v1beta1:DaemonSet", "kube-system/virt-handler");
        const waits = g.resources
            .filter((r) => /^kubevirt-ready-/.test(r.name))
            .map((r) => String(r.inputs.create).replace(/^[\s\S]*wait-pods\.sh /, ""));
        assert.deepEqual(waits.sort(), [
            "--timeout 900 --namespace kube-system --selector kubevirt.io=virt-api --min-ready 1",
            "--timeout 900 --namespace kube-system --selector kubevirt.io=virt-controller --min-ready 1",
            "--timeout 900 --namespace kube-system --selector kubevirt.io=virt-handler --min-ready 2",
        ]);
    });

    it("deploys Skydive in its namespace with its Ingress", () => {
        obj("kubernetes:core/v1:Namespace", "skydive");
        const ing = obj("kubernetes:extensions/v1beta1:Ingress", "skydive/skydive");
        assert.equal((ing.inputs.spec as any).rules[0].host, "skydive.ingress.virtomation.com");
        obj("kubernetes:extensions/v1beta1:Deployment", "skydive/skydive-analyzer");
    });

    it("deploys ingress-nginx with the post's NodePorts and vts", () => {
        const svc = obj("kubernetes:core/v1:Service", "ingress-nginx/ingress-nginx");
        assert.deepEqual(
            (svc.inputs.spec as any).ports.map((p: any) => p.nodePort),
            [30000, 30443, 32000],
        );
        const cm = obj("kubernetes:core/v1:ConfigMap", "ingress-nginx/nginx-configuration");
        assert.equal((cm.inputs.data as any)["enable-vts-status"], "true");
        obj("kubernetes:extensions/v1beta1:Ingress", "ingress-nginx/nginx-status");
        assert.match(
            String(g.byName("ingress-nginx-controller-ready").inputs.create),
            /wait-pods\.sh --timeout 900 --namespace ingress-nginx --selector app=ingress-nginx --min-ready 1$/,
        );
    });

    it("creates the workload after KubeVirt and the ingress controller are ready", () => {
        const ns = obj("kubernetes:core/v1:Namespace", "nodejs-ex-namespace");
        assert.deepEqual((ns.inputs.metadata as any).name, "nodejs-ex");
        for (const w of [
            "kubevirt-ready-virt-api",
            "kubevirt-ready-virt-controller",
            "kubevirt-ready-virt-handler",
            "ingress-nginx-controller-ready",
        ]) {
            assert.ok(g.dependsOn("nodejs-ex-namespace", w), `the workload waits for ${w}`);
        }
        for (const vm of ["nodejs", "mongodb"]) {
            const r = obj("kubernetes:kubevirt.io/v1alpha1:OfflineVirtualMachine", `nodejs-ex/${vm}`);
            const spec = r.inputs.spec as any;
            assert.equal(spec.running, true);
            assert.equal((r.inputs.metadata as any).namespace, "nodejs-ex");
            assert.ok(g.dependsOn(`nodejs-ex/${vm}`, "nodejs-ex-namespace"));
            assert.match(
                String(g.byName(`nodejs-ex-${vm}-running`).inputs.create),
                new RegExp(
                    `wait-pods\\.sh --timeout 900 --namespace nodejs-ex --selector kubevirt\\.io=virt-launcher,kubevirt\\.io/domain=${vm} --min-ready 1$`,
                ),
            );
        }
        for (const svc of ["mongodb", "nodejs", "nodejs-ssh", "mongodb-ssh"]) obj("kubernetes:core/v1:Service", `nodejs-ex/${svc}`);
        const ing = obj("kubernetes:extensions/v1beta1:Ingress", "nodejs-ex/nodejs");
        assert.equal((ing.inputs.metadata as any).annotations["kubernetes.io/ingress.class"], "nginx");
    });

    it("runs Ansible with an inventory of the live lab and the passwords on stdin only", async () => {
        const r = g.byName("app-playbook");
        assert.equal(r.type, "command:local:Command");
        const create = String(r.inputs.create);
        assert.ok(!create.includes("nodejspassword"), "no password on the command line");
        assert.match(create, /bash ansible\/run-playbook\.sh "\$inv" --known-hosts "\$inv_dir\/known_hosts"$/);
        assert.doesNotMatch(create, /base64/, "the inventory travels in clear text");
        const inv = YAML.parse(/<<'KUBEVIRT_LAB_INVENTORY_END'\n([\s\S]*?)\nKUBEVIRT_LAB_INVENTORY_END\n/.exec(create)![1]);
        assert.deepEqual(inv.all.children, {
            mongodb: { hosts: { "mongodb-1": { ansible_host: "172.31.50.232", ansible_port: 30122 } } },
            nodejs: { hosts: { "nodejs-1": { ansible_host: "172.31.50.231", ansible_port: 30022 } } },
        });
        assert.deepEqual(inv.all.vars, {
            ansible_user: "fedora",
            ansible_become: true,
            ansible_python_interpreter: "/usr/bin/python3",
            analyzers: "10.244.1.2:8082",
            // the post's app at the post's commit (its master is another app now), from npm's registry
            nodejs_repo_url: "https://github.com/sclorg/nodejs-ex",
            nodejs_repo_version: "93fc25fd35068aa311f4722e4d7e5187b06edd7b",
            nodejs_npm_registry: "https://registry.npmjs.org/",
        });
        assert.deepEqual(JSON.parse(String(r.inputs.stdin)), {
            mongodb_admin_password: "nodejspassword",
            mongodb_app_password: "nodejspassword",
        });
        assert.ok(await isSecret(r.props.stdin as any), "the passwords are a secret input");
        assert.equal((r.inputs.triggers as string[]).length, 1);
        assert.match((r.inputs.triggers as string[])[0], /^[0-9a-f]{64}$/, "re-run when anything under ansible/ changes");
        for (const dep of ["nodejs-ex-nodejs-running", "nodejs-ex-mongodb-running", "skydive-analyzer-ready"])
            assert.ok(g.dependsOn("app-playbook", dep), `after ${dep}`);
    });

    it("publishes the nodes and the ingress wildcard (the controller's node) in dnsmasq on dns1", () => {
        const r = g.byName("dns-records");
        assert.equal((r.inputs.connection as any).host, "172.31.50.10");
        assert.match(
            String(r.inputs.create),
            /dnsmasq-records\.sh apply --conf-path \/etc\/dnsmasq\.d\/virtomation\.conf --ingress-domain ingress\.virtomation\.com --ingress-ip 172\.31\.50\.231 --record km1\.virtomation\.com=172\.31\.50\.221 --record kn1\.virtomation\.com=172\.31\.50\.231 --record kn2\.virtomation\.com=172\.31\.50\.232$/,
        );
        assert.match(String(r.inputs.delete), /dnsmasq-records\.sh remove --conf-path \/etc\/dnsmasq\.d\/virtomation\.conf$/);
        assert.ok(g.dependsOn("dns-records", "ingress-nginx-controller-ready"));
        assert.equal(g.exports.ingressAddress, "172.31.50.231");
        assert.equal(g.exports.dnsServer, "172.31.50.10");
        assert.deepEqual(g.exports.vms, {
            nodejs: { pod: "virt-launcher-nodejs-5r59c", ip: "10.244.1.8", node: "kn1.virtomation.com" },
            mongodb: { pod: "virt-launcher-mongodb-qdpmg", ip: "10.244.2.7", node: "kn2.virtomation.com" },
        });
    });

    it("nothing of the add-ons or workload feeds back into the cluster stage", () => {
        const clusterNames = new Set(
            g.resources.filter((r) => r.type === "command:remote:Command" && /^(km|kn)\d-|^cluster-/.test(r.name)).map((r) => r.name),
        );
        for (const n of clusterNames) {
            for (const k of k8sResources()) assert.ok(!g.dependsOn(n, k.name), `${n} must not depend on ${k.name}`);
        }
    });

    it("registers typed outputs: the stack exports read them, parsing nothing", () => {
        assert.deepEqual(g.exports.vms, {
            nodejs: { pod: "virt-launcher-nodejs-5r59c", ip: "10.244.1.8", node: "kn1.virtomation.com" },
            mongodb: { pod: "virt-launcher-mongodb-qdpmg", ip: "10.244.2.7", node: "kn2.virtomation.com" },
        });
        assert.equal(g.exports.ingressAddress, "172.31.50.231", "the wildcard follows the controller's node");
        assert.equal(g.exports.httpNodePort, 30000);
        assert.equal(g.exports.mgmtNodePort, 32000);
    });

    it("skips the provider's Ingress await, which watches networking.k8s.io/v1 that Kubernetes 1.9 does not serve", () => {
        const ingresses = g.ofType("kubernetes:extensions/v1beta1:Ingress");
        assert.deepEqual(ingresses.map((r) => r.name).sort(), ["ingress-nginx/nginx-status", "nodejs-ex/nodejs", "skydive/skydive"]);
        for (const r of ingresses) {
            assert.equal((r.inputs.metadata as any).annotations["pulumi.com/skipAwait"], "true", `${r.name}: pulumi.com/skipAwait`);
        }
        for (const r of g.resources.filter((x) => x.type.startsWith("kubernetes:") && !x.type.endsWith(":Ingress"))) {
            if (r.name === "kube-system/virt-controller") continue;
            assert.equal((r.inputs.metadata as any)?.annotations?.["pulumi.com/skipAwait"], undefined, `${r.type} ${r.name} is awaited`);
        }
    });

    it("skips the provider's Deployment await of virt-controller, whose pods are Ready only while they lead (the post's 0/1 and 1/1)", () => {
        const d = g.ofType("kubernetes:extensions/v1beta1:Deployment").find((r) => r.name === "kube-system/virt-controller");
        assert.ok(d, "the virt-controller Deployment");
        assert.equal((d.inputs.metadata as any).annotations["pulumi.com/skipAwait"], "true");
    });
});
