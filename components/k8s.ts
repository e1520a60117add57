// The Kubernetes side of the lab: a provider built from the cluster's secret
// kubeconfig and configured for a 1.9 API server, registration of parsed
// objects with namespaces and CRDs first, and the one way the lab waits for pods.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as command from "@pulumi/command";
import { HostSpec, SshSettings } from "./config";
import { K8sObject, clone } from "./manifests";
import { hostStep } from "./remote";
import * as waitPodsStep from "../steps/wait-pods/step";
import * as deleteDaemonsetsStep from "../steps/delete-daemonsets/step";

/**
 * A provider for the post's Kubernetes 1.9: no server-side apply (1.16+) and
 * no server-side dry run (1.13+), so previews diff on the client side.
 * Created only once every node is Ready, which makes everything that uses it wait too.
 */
export function clusterProvider(name: string, kubeconfig: pulumi.Input<string>, opts: pulumi.CustomResourceOptions): k8s.Provider {
    return new k8s.Provider(
        name,
        {
            kubeconfig,
            enableServerSideApply: false,
            enableDryRun: false,
            suppressDeprecationWarnings: true,
        },
        opts,
    );
}

/** A Running and Ready pod, as wait-pods.sh prints it: `<pod> <ip> <node>`. */
export interface PodStatus {
    pod: string;
    ip: string;
    node: string;
}

/** Parses wait-pods.sh's stdout: one `<pod> <ip> <node>` line per ready pod. */
export function parsePodLines(stdout: string, what: string): PodStatus[] {
    const pods = stdout
        .split("\n")
        .filter((l) => l.trim().length > 0)
        .map((line) => {
            const [pod, ip, node] = line.trim().split(/\s+/);
            if (!pod || !ip || !node)
                throw new Error(`${what}: expected "<pod> <ip> <node>" lines from wait-pods.sh, got ${JSON.stringify(stdout)}`);
            return { pod, ip, node };
        });
    if (pods.length === 0) throw new Error(`${what}: wait-pods.sh printed no pod`);
    return pods;
}

/** Where pods are waited for: kubectl on the master, over SSH. */
export interface PodWaitTarget {
    masterHost: HostSpec;
    ssh: SshSettings;
}

export interface PodWaitArgs {
    namespace: string;
    /** A label selector, e.g. `app=ingress-nginx`. */
    selector: string;
    minReady: number;
    timeoutSeconds: number;
}

/** A bounded wait for ready pods, and the pods it found. */
export interface PodWait {
    /** The step: done when at least minReady pods are Running and Ready. */
    step: command.remote.Command;
    /** Every ready pod found. */
    pods: pulumi.Output<PodStatus[]>;
    /** The first of them (the one a single-pod wait is about). */
    first: pulumi.Output<PodStatus>;
}

/** The lab's one pod wait: wait-pods.sh on the master, its stdout parsed into typed pods. */
export function waitForPods(name: string, on: PodWaitTarget, a: PodWaitArgs, opts: pulumi.CustomResourceOptions): PodWait {
    const step = hostStep(
        name,
        {
            host: on.masterHost,
            ssh: on.ssh,
            script: waitPodsStep.script,
            args: waitPodsStep.args(a),
        },
        opts,
    );
    const pods = step.stdout.apply((out) => parsePodLines(out, `pods ${a.selector} in ${a.namespace}`));
    return { step, pods, first: pods.apply((p) => p[0]) };
}

const FIRST_KINDS = new Set(["Namespace", "CustomResourceDefinition"]);

/**
 * An object as the 1.9 API server and @pulumi/kubernetes 3.30.2 can agree on it: an Ingress gets
 * `pulumi.com/skipAwait: "true"`. The provider's Ingress await lists and watches
 * networking.k8s.io/v1 Ingresses, which 1.9 does not serve, so without it the post's
 * extensions/v1beta1 Ingresses are waited for until the timeout and fail (measured against a
 * real v1.9.4 API server). Their backends are waited for by the pod waits instead. A copy; the
 * input is not changed.
 */
export function forKubernetes19<T extends K8sObject>(obj: T): T {
    if (obj.kind !== "Ingress") return obj;
    const c = clone(obj);
    c.metadata.annotations = { ...(c.metadata.annotations ?? {}), "pulumi.com/skipAwait": "true" };
    return c;
}

/**
 * Registers objects as typed resources (named <namespace>/<name>), Namespaces and
 * CRDs first so that what lives in them is created after them.
 */
export function applyObjects(
    name: string,
    objs: K8sObject[],
    opts: pulumi.ComponentResourceOptions & { parent: pulumi.Resource },
    on: PodWaitTarget,
): pulumi.Resource[] {
    const first = objs.filter((o) => FIRST_KINDS.has(o.kind));
    const rest = objs.filter((o) => !FIRST_KINDS.has(o.kind)).map(forKubernetes19);
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
    // Kubernetes 1.9 never finishes the provider's foreground delete of a DaemonSet
    // (steps/delete-daemonsets/delete-daemonsets.sh says why): a step on the master that depends on the
    // objects, so that a destroy runs its removal (the DaemonSets, orphaning, then their pods and
    // revisions) before the provider deletes them.
    const daemonsets = rest.filter((o) => o.kind === "DaemonSet").map((o) => `${o.metadata.namespace ?? "default"}/${o.metadata.name}`);
    if (daemonsets.length > 0) {
        hostStep(
            `${name}-daemonsets`,
            {
                host: on.masterHost,
                ssh: on.ssh,
                script: deleteDaemonsetsStep.script,
                withActions: true,
                args: deleteDaemonsetsStep.args(daemonsets),
                removeArgs: deleteDaemonsetsStep.args(daemonsets),
            },
            { parent: opts.parent, dependsOn: groups },
        );
    }
    return groups;
}
