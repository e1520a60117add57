// Add-ons and workload under mocks, for the dev stack with the upstream
// manifests served from the local stand-ins.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Graph, runProgram } from "./lib/graph";
import { stackConfig } from "./lib/stack";

let g: Graph;
before(async () => {
    g = await runProgram(stackConfig("dev"));
});

const k8sResources = () => g.resources.filter((r) => r.type.startsWith("kubernetes:") && r.type !== "pulumi:providers:kubernetes");
const obj = (type: string, name: string) => {
    const r = g.resources.find((x) => x.type === type && x.name === name);
    assert.ok(r, `expected ${type} ${name}; have ${k8sResources().map((x) => `${x.type} ${x.name}`).join(", ")}`);
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
        for (const r of k8sResources().filter((x) => !x.type.startsWith("kubernetes:yaml"))) {
            assert.ok(r.opts.provider === p.resource || (r.parent && g.byName(r.parent).opts.provider === p.resource), `${r.type} ${r.name} uses the lab provider`);
        }
    });

    it("deploys KubeVirt and waits for its pods on the master", () => {
        obj("kubernetes:apiextensions.k8s.io/v1beta1:CustomResourceDefinition", "offlinevirtualmachines.kubevirt.io");
        obj("kubernetes:extensions/v1beta1:DaemonSet", "kube-system/virt-handler");
        const waits = g.resources.filter((r) => /^kubevirt-ready-/.test(r.name)).map((r) => String(r.inputs.create).replace(/^.*wait-pods\.sh /, ""));
        assert.deepEqual(waits.sort(), ["900 kube-system kubevirt.io=virt-api 1", "900 kube-system kubevirt.io=virt-controller 1", "900 kube-system kubevirt.io=virt-handler 2"]);
    });

    it("deploys Skydive in its namespace with its Ingress", () => {
        obj("kubernetes:core/v1:Namespace", "skydive");
        const ing = obj("kubernetes:extensions/v1beta1:Ingress", "skydive/skydive");
        assert.equal((ing.inputs.spec as any).rules[0].host, "skydive.ingress.virtomation.com");
        obj("kubernetes:extensions/v1beta1:Deployment", "skydive/skydive-analyzer");
    });

    it("deploys ingress-nginx with the post's NodePorts and vts", () => {
        const svc = obj("kubernetes:core/v1:Service", "ingress-nginx/ingress-nginx");
        assert.deepEqual((svc.inputs.spec as any).ports.map((p: any) => p.nodePort), [30000, 30443, 32000]);
        const cm = obj("kubernetes:core/v1:ConfigMap", "ingress-nginx/nginx-configuration");
        assert.equal((cm.inputs.data as any)["enable-vts-status"], "true");
        obj("kubernetes:extensions/v1beta1:Ingress", "ingress-nginx/nginx-status");
        assert.match(String(g.byName("ingress-nginx-controller-ready").inputs.create), /wait-pods\.sh 900 ingress-nginx app=ingress-nginx 1$/);
    });

    it("creates the workload after KubeVirt and the ingress controller are ready", () => {
        const ns = obj("kubernetes:core/v1:Namespace", "nodejs-ex-namespace");
        assert.deepEqual((ns.inputs.metadata as any).name, "nodejs-ex");
        for (const w of ["kubevirt-ready-virt-api", "kubevirt-ready-virt-controller", "kubevirt-ready-virt-handler", "ingress-nginx-controller-ready"]) {
            assert.ok(g.dependsOn("nodejs-ex-namespace", w), `the workload waits for ${w}`);
        }
        for (const vm of ["nodejs", "mongodb"]) {
            const r = obj("kubernetes:kubevirt.io/v1alpha1:OfflineVirtualMachine", `nodejs-ex/${vm}`);
            const spec = r.inputs.spec as any;
            assert.equal(spec.running, true);
            assert.equal((r.inputs.metadata as any).namespace, "nodejs-ex");
            assert.ok(g.dependsOn(`nodejs-ex/${vm}`, "nodejs-ex-namespace"));
            assert.match(String(g.byName(`nodejs-ex-${vm}-running`).inputs.create), new RegExp(`wait-pods\\.sh 900 nodejs-ex kubevirt\\.io=virt-launcher,kubevirt\\.io/domain=${vm} 1$`));
        }
        for (const svc of ["mongodb", "nodejs", "nodejs-ssh", "mongodb-ssh"]) obj("kubernetes:core/v1:Service", `nodejs-ex/${svc}`);
        const ing = obj("kubernetes:extensions/v1beta1:Ingress", "nodejs-ex/nodejs");
        assert.equal((ing.inputs.metadata as any).annotations["kubernetes.io/ingress.class"], "nginx");
    });

    it("nothing of the add-ons or workload feeds back into the cluster stage", () => {
        const clusterNames = new Set(g.resources.filter((r) => r.type === "command:remote:Command" && /^(km|kn)\d-|^cluster-/.test(r.name)).map((r) => r.name));
        for (const n of clusterNames) {
            for (const k of k8sResources()) assert.ok(!g.dependsOn(n, k.name), `${n} must not depend on ${k.name}`);
        }
    });
});
