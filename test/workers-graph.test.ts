// Any number of workers: five workers give five preparations and five joins.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Graph, runProgram } from "./lib/graph";
import { stackConfig } from "./lib/stack";

const WORKERS = [1, 2, 3, 4, 5].map((i) => ({ name: `kn${i}.virtomation.com`, address: `172.31.50.${230 + i}` }));
let g: Graph;
before(async () => {
    g = await runProgram(stackConfig("dev", { workers: WORKERS, stages: [] }));
});

describe("a five-worker cluster, without later stages", () => {
    it("joins five workers, each after its own preparation, with its own join line", () => {
        const joins = g.resources.filter((r) => /kubeadm-join\.sh apply/.test(String(r.inputs.create)));
        assert.equal(joins.length, 5);
        for (const w of WORKERS) {
            const short = w.name.split(".")[0];
            assert.equal((g.byName(`${short}-kubeadm-join`).inputs.connection as any).host, w.address);
            assert.ok(g.dependsOn(`${short}-kubeadm-join`, `${short}-sysctl`));
            assert.ok(g.dependsOn(`${short}-kubeadm-join`, `${short}-join-command`));
        }
        assert.equal(g.resources.filter((r) => /join-command\.sh/.test(String(r.inputs.create))).length, 5);
        assert.equal(g.resources.filter((r) => r.type === "kubevirt-lab:hosts:HostPrep").length, 6);
    });

    it("registers nothing of the Kubernetes stages", () => {
        assert.equal(g.resources.filter((r) => r.type.startsWith("kubernetes:") || r.type === "pulumi:providers:kubernetes").length, 0);
        assert.deepEqual(Object.keys(g.exports).sort(), ["domain", "kubeconfig", "nodes"]);
    });
});
