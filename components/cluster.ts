// The whole kubeadm cluster of the post: every host prepared in parallel, the
// master initialised with Flannel, the workers joined in parallel, a bounded
// wait until every node is Ready, and the Kubernetes provider of the cluster
// that every later stage takes from it.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as command from "@pulumi/command";
import { HostSpec, LabConfig, SshSettings, shortName } from "./config";
import { HostPrep } from "./hostPrep";
import { Master } from "./master";
import { Worker } from "./worker";
import { PodWait, PodWaitArgs, clusterProvider, waitForPods } from "./k8s";
import { hostStep } from "./remote";
import * as waitNodesStep from "../steps/wait-nodes/step";
import { TYPES } from "./types";

export class Cluster extends pulumi.ComponentResource {
    public readonly prep: Record<string, HostPrep> = {};
    public readonly master: Master;
    public readonly workers: Record<string, Worker> = {};
    /** Done when every configured node is Ready: what every later stage depends on. */
    public readonly ready: command.remote.Command;
    /** The admin kubeconfig, its server the master's address (secret). */
    public readonly kubeconfig: pulumi.Output<string>;
    public readonly nodeNames: string[];
    /** Every node (master first), for what addresses them by name: DNS, the Ansible inventory. */
    public readonly nodes: HostSpec[];
    /** The master host: where kubectl runs the lab's waits. */
    public readonly masterHost: HostSpec;
    public readonly ssh: SshSettings;
    private k8sProvider?: k8s.Provider;

    constructor(name: string, cfg: LabConfig, opts?: pulumi.ComponentResourceOptions) {
        super(TYPES.cluster, name, {}, opts);
        const { ssh } = cfg;
        this.ssh = ssh;
        this.masterHost = cfg.master;
        this.nodes = [cfg.master, ...cfg.workers];

        for (const host of [cfg.master, ...cfg.workers]) {
            this.prep[host.name] = new HostPrep(shortName(host.name), { host, ssh, settings: cfg.hostPrep }, { parent: this });
        }

        this.master = new Master(
            shortName(cfg.master.name),
            {
                host: cfg.master,
                ssh,
                settings: cfg.cluster,
                kubernetesVersion: cfg.hostPrep.kubernetesVersion,
                prepared: this.prep[cfg.master.name].done,
            },
            { parent: this },
        );

        for (const host of cfg.workers) {
            this.workers[host.name] = new Worker(
                shortName(host.name),
                {
                    host,
                    master: cfg.master,
                    ssh,
                    joinTokenTtl: cfg.cluster.joinTokenTtl,
                    ignorePreflightErrors: cfg.cluster.kubeadmIgnorePreflightErrors,
                    prepared: this.prep[host.name].done,
                    masterReady: this.master.ready,
                },
                { parent: this },
            );
        }

        this.nodeNames = [cfg.master.name, ...cfg.workers.map((w) => w.name)];
        this.ready = hostStep(
            `${name}-nodes-ready`,
            {
                host: cfg.master,
                ssh,
                script: waitNodesStep.script,
                args: waitNodesStep.args(cfg.cluster.nodeReadyTimeoutSeconds, this.nodeNames),
            },
            {
                parent: this,
                dependsOn: Object.values(this.workers)
                    .map((w) => w.membership)
                    .concat([this.master.ready]),
            },
        );
        this.kubeconfig = this.master.kubeconfig;
        this.registerOutputs({ kubeconfig: this.kubeconfig, nodeNames: this.nodeNames });
    }

    /**
     * The cluster's Kubernetes provider (see clusterProvider), made on first use so that a lab of
     * the cluster alone has none. It exists once every node is Ready, so everything that uses it
     * waits for that too.
     */
    public get provider(): k8s.Provider {
        this.k8sProvider ??= clusterProvider("lab", this.kubeconfig, {
            parent: this,
            dependsOn: [this.ready],
            // Made at the top of the program before the cluster owned it: the same provider, not a new one.
            aliases: [{ parent: pulumi.rootStackResource }],
        });
        return this.k8sProvider;
    }

    /** A bounded wait, on the master, for ready pods of a selector (see waitForPods). */
    public waitForPods(name: string, args: PodWaitArgs, opts: pulumi.CustomResourceOptions): PodWait {
        return waitForPods(name, this, args, opts);
    }
}
