// KubeVirt from its release manifest (the post: `kubectl create -f .../v0.4.1/kubevirt.yaml`),
// then a wait until virt-api, virt-controller and a virt-handler per worker are ready.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as command from "@pulumi/command";
import { HostSpec, SshSettings } from "./config";
import { K8sObject } from "./manifests";
import { applyObjects } from "./k8s";
import { hostStep } from "./remote";

export interface KubeVirtArgs {
    /** The parsed kubevirt.yaml. */
    objs: K8sObject[];
    provider: k8s.Provider;
    /** The master, where the wait runs with kubectl. */
    master: HostSpec;
    ssh: SshSettings;
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

export class KubeVirt extends pulumi.ComponentResource {
    /** Done when KubeVirt's pods are ready. */
    public readonly ready: command.remote.Command[];

    constructor(name: string, args: KubeVirtArgs, opts?: pulumi.ComponentResourceOptions) {
        super("kubevirt-lab:addons:KubeVirt", name, {}, opts);
        const objects = applyObjects(name, args.objs, { parent: this, provider: args.provider });
        this.ready = kubevirtReadiness(args.workerCount).map(([selector, count]) =>
            hostStep(
                `${name}-ready-${selector.split("=")[1]}`,
                { host: args.master, ssh: args.ssh, script: "wait-pods.sh", args: { timeout: String(args.readyTimeoutSeconds), namespace: "kube-system", selector, "min-ready": String(count) } },
                { parent: this, dependsOn: objects },
            ),
        );
        this.registerOutputs({});
    }
}
