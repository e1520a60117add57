// Skydive: namespace `skydive`, the upstream manifest, and the Ingress
// skydive.ingress.<domain> to the analyzer's UI on 8082.
import * as pulumi from "@pulumi/pulumi";
import { Cluster } from "./cluster";
import { K8sObject, clone, labManifest } from "./manifests";
import { PodStatus, applyObjects } from "./k8s";
import { TYPES } from "./types";

export const SKYDIVE_NAMESPACE = "skydive";

export interface SkydiveArgs {
    /** The parsed skydive.yaml. */
    objs: K8sObject[];
    domain: string;
    cluster: Cluster;
    readyTimeoutSeconds: number;
}

/** The upstream objects placed in the skydive namespace (the post: `kubectl create -n skydive -f`), plus the lab's Ingress. */
export function skydiveObjects(upstream: K8sObject[], domain: string): K8sObject[] {
    const ns: K8sObject = { apiVersion: "v1", kind: "Namespace", metadata: { name: SKYDIVE_NAMESPACE } };
    const placed = upstream.map((o) => {
        const c = clone(o);
        if (c.kind !== "Namespace" && !CLUSTER_SCOPED.has(c.kind)) c.metadata.namespace = SKYDIVE_NAMESPACE;
        // Upstream binds the `view` role to its service account in `default`; the account lives in skydive here.
        if (c.kind === "ClusterRoleBinding" && Array.isArray(c.subjects)) {
            for (const s of c.subjects) if (s.kind === "ServiceAccount") s.namespace = SKYDIVE_NAMESPACE;
        }
        return c;
    });
    const ingress = clone(labManifest("skydive-ingress.yaml")[0]);
    ingress.spec.rules[0].host = `skydive.ingress.${domain}`;
    return [ns, ...placed, ingress];
}

const CLUSTER_SCOPED = new Set(["ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PersistentVolume", "StorageClass"]);

export class Skydive extends pulumi.ComponentResource {
    /** Done when the analyzer is ready. */
    public readonly ready: pulumi.Resource;
    /** The ready analyzer pod: Ansible's skydive agents point at its IP (port 8082). */
    public readonly analyzer: pulumi.Output<PodStatus>;

    constructor(name: string, args: SkydiveArgs, opts?: pulumi.ComponentResourceOptions) {
        super(TYPES.skydive, name, {}, opts);
        const objects = applyObjects(
            name,
            skydiveObjects(args.objs, args.domain),
            { parent: this, provider: args.cluster.provider },
            args.cluster,
        );
        const wait = args.cluster.waitForPods(
            `${name}-analyzer-ready`,
            { namespace: SKYDIVE_NAMESPACE, selector: "app=skydive,tier=analyzer", minReady: 1, timeoutSeconds: args.readyTimeoutSeconds },
            { parent: this, dependsOn: objects },
        );
        this.ready = wait.step;
        this.analyzer = wait.first;
        this.registerOutputs({ analyzer: this.analyzer });
    }
}
