// The first and only master: `kubeadm init`, the admin kubeconfig (a secret),
// Flannel applied with kubectl on the master as the post does, and a bounded
// wait until the master is Ready.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as YAML from "yaml";
import { ClusterSettings, HostSpec, SshSettings } from "./config";
import { hostStep } from "./remote";
import * as initStep from "../steps/kubeadm-init/step";
import * as flannelStep from "../steps/flannel/step";
import * as waitNodesStep from "../steps/wait-nodes/step";
import { TYPES } from "./types";

export interface MasterArgs {
    host: HostSpec;
    ssh: SshSettings;
    settings: ClusterSettings;
    kubernetesVersion: string;
    /** The master's host preparation. */
    prepared: pulumi.Resource[];
}

/** admin.conf with its server set to the master's address, so that it works from the operator's machine. */
export function externalKubeconfig(adminConf: string, masterAddress: string): string {
    const doc = YAML.parse(adminConf) as { clusters?: Array<{ cluster?: { server?: string } }> } | null;
    if (!doc || !Array.isArray(doc.clusters) || doc.clusters.length === 0 || !doc.clusters[0].cluster) {
        throw new Error("admin.conf read from the master is not a kubeconfig (no clusters[0].cluster)");
    }
    for (const c of doc.clusters) {
        if (c.cluster) c.cluster.server = `https://${masterAddress}:6443`;
    }
    return YAML.stringify(doc);
}

export class Master extends pulumi.ComponentResource {
    public readonly init: command.remote.Command;
    public readonly flannel: command.remote.Command;
    /** Done when the master node is Ready with Flannel. */
    public readonly ready: command.remote.Command;
    /** The admin kubeconfig, server set to the master's address (secret). */
    public readonly kubeconfig: pulumi.Output<string>;

    constructor(name: string, args: MasterArgs, opts?: pulumi.ComponentResourceOptions) {
        super(TYPES.master, name, {}, opts);
        const { host, ssh, settings: c } = args;
        const on = { host, ssh };

        this.init = hostStep(
            `${name}-kubeadm-init`,
            {
                ...on,
                script: initStep.script,
                withActions: true,
                args: initStep.args(c, host, args.kubernetesVersion, ssh.user),
                removeArgs: initStep.removeArgs(host, ssh.user),
            },
            // The cluster is the one thing a changed setting must never re-create; `protect` keeps a
            // destroy from resetting it at all (Pulumi refuses to delete a protected resource).
            { parent: this, dependsOn: args.prepared, ignoreChanges: ["create"], protect: c.protect },
        );

        const adminConf = hostStep(
            `${name}-kubeconfig`,
            { ...on, script: "kubeconfig.sh", secretOutput: true },
            { parent: this, dependsOn: [this.init] },
        );
        this.kubeconfig = pulumi.secret(adminConf.stdout.apply((text) => externalKubeconfig(text, host.address)));

        this.flannel = hostStep(
            `${name}-flannel`,
            { ...on, script: flannelStep.script, withActions: true, args: flannelStep.args(c) },
            { parent: this, dependsOn: [this.init] },
        );
        this.ready = hostStep(
            `${name}-ready`,
            { ...on, script: waitNodesStep.script, args: waitNodesStep.args(c.nodeReadyTimeoutSeconds, [host.name]) },
            { parent: this, dependsOn: [this.flannel] },
        );
        this.registerOutputs({ kubeconfig: this.kubeconfig });
    }
}
