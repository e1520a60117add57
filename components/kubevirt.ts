// KubeVirt from its release manifest (the post: `kubectl create -f .../v0.4.1/kubevirt.yaml`),
// then a wait until virt-api, virt-controller and a virt-handler per worker are ready.
import * as pulumi from "@pulumi/pulumi";
import { Cluster } from "./cluster";
import { K8sObject, clone } from "./manifests";
import { PodStatus, applyObjects } from "./k8s";
import { TYPES } from "./types";

export interface KubeVirtArgs {
    /** The parsed kubevirt.yaml. */
    objs: K8sObject[];
    cluster: Cluster;
    /** virt-handler is a DaemonSet on the schedulable nodes: the workers. */
    workerCount: number;
    readyTimeoutSeconds: number;
}

/** What must be ready before VMs can be created: [label selector, how many]. */
export function kubevirtReadiness(workerCount: number): Array<[string, number]> {
    return [
        ["kubevirt.io=virt-api", 1],
        // Two virt-controllers run, but only the elected leader reports Ready (the post shows 0/1 and 1/1).
        ["kubevirt.io=virt-controller", 1],
        ["kubevirt.io=virt-handler", workerCount],
    ];
}

/**
 * virt-controller's Deployment gets `pulumi.com/skipAwait: "true"`: v0.4.1's virt-controller pods
 * are Ready only while they lead (readiness probe GET /leader; the post shows 0/1 and 1/1), so the
 * Deployment never has its two replicas available and the provider's Deployment await would
 * time out. The wait below (one ready virt-controller) is its readiness. A copy; the input is not changed.
 */
export function leaderOnlyReady(obj: K8sObject): K8sObject {
    if (obj.kind !== "Deployment" || obj.metadata.name !== "virt-controller") return obj;
    const c = clone(obj);
    c.metadata.annotations = { ...(c.metadata.annotations ?? {}), "pulumi.com/skipAwait": "true" };
    return c;
}

export class KubeVirt extends pulumi.ComponentResource {
    /** Done when KubeVirt's pods are ready. */
    public readonly ready: pulumi.Resource[];
    /** The nodes whose virt-handler is ready: where VMs can run. */
    public readonly handlerNodes: pulumi.Output<string[]>;
    /** The ready virt-controller (the elected leader). */
    public readonly controller: pulumi.Output<PodStatus>;

    constructor(name: string, args: KubeVirtArgs, opts?: pulumi.ComponentResourceOptions) {
        super(TYPES.kubevirt, name, {}, opts);
        const objects = applyObjects(name, args.objs.map(leaderOnlyReady), { parent: this, provider: args.cluster.provider }, args.cluster);
        const waits = kubevirtReadiness(args.workerCount).map(([selector, count]) =>
            args.cluster.waitForPods(
                `${name}-ready-${selector.split("=")[1]}`,
                { namespace: "kube-system", selector, minReady: count, timeoutSeconds: args.readyTimeoutSeconds },
                { parent: this, dependsOn: objects },
            ),
        );
        this.ready = waits.map((w) => w.step);
        this.controller = waits[1].first;
        this.handlerNodes = waits[2].pods.apply((pods) => pods.map((p) => p.node).sort());
        this.registerOutputs({ handlerNodes: this.handlerNodes, controller: this.controller });
    }
}
