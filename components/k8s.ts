// The Kubernetes side of the lab: a provider built from the cluster's secret
// kubeconfig and configured for a 1.9 API server, and registration of parsed
// objects with namespaces and CRDs first.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { K8sObject } from "./manifests";

/**
 * A provider for the post's Kubernetes 1.9: no server-side apply (1.16+) and
 * no server-side dry run (1.13+), so previews diff on the client side.
 * Created only once every node is Ready, which makes everything that uses it wait too.
 */
export function clusterProvider(name: string, kubeconfig: pulumi.Input<string>, clusterReady: pulumi.Resource): k8s.Provider {
    return new k8s.Provider(
        name,
        {
            kubeconfig,
            enableServerSideApply: false,
            enableDryRun: false,
            suppressDeprecationWarnings: true,
        },
        { dependsOn: [clusterReady] },
    );
}

const FIRST_KINDS = new Set(["Namespace", "CustomResourceDefinition"]);

/**
 * Registers objects as typed resources (named <namespace>/<name>), Namespaces and
 * CRDs first so that what lives in them is created after them.
 */
export function applyObjects(name: string, objs: K8sObject[], opts: pulumi.ComponentResourceOptions & { parent: pulumi.Resource }): pulumi.Resource[] {
    const first = objs.filter((o) => FIRST_KINDS.has(o.kind));
    const rest = objs.filter((o) => !FIRST_KINDS.has(o.kind));
    const groups: pulumi.Resource[] = [];
    let base: k8s.yaml.ConfigGroup | undefined;
    if (first.length > 0) {
        base = new k8s.yaml.ConfigGroup(`${name}-base`, { objs: first }, opts);
        groups.push(base);
    }
    if (rest.length > 0) {
        const deps = ([] as pulumi.Input<pulumi.Resource>[]).concat((opts.dependsOn as pulumi.Input<pulumi.Resource>[] | undefined) ?? []);
        groups.push(new k8s.yaml.ConfigGroup(name, { objs: rest }, { ...opts, dependsOn: base ? [...deps, base] : deps }));
    }
    return groups;
}
