// The whole kubeadm cluster of the post: every host prepared in parallel, the
// master initialised with Flannel, the workers joined in parallel, and a bounded
// wait until every node is Ready.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { LabConfig } from "./config";
import { HostPrep } from "./hostPrep";
import { Master } from "./master";
import { Worker } from "./worker";
import { hostStep } from "./remote";

/** Short resource names: km1.virtomation.com → km1. */
export function shortName(fqdn: string): string {
    return fqdn.split(".")[0];
}

export class Cluster extends pulumi.ComponentResource {
    public readonly prep: Record<string, HostPrep> = {};
    public readonly master: Master;
    public readonly workers: Record<string, Worker> = {};
    /** Done when every configured node is Ready: what every later stage depends on. */
    public readonly ready: command.remote.Command;
    public readonly kubeconfig: pulumi.Output<string>;
    public readonly nodeNames: string[];

    constructor(name: string, cfg: LabConfig, opts?: pulumi.ComponentResourceOptions) {
        super("kubevirt-lab:cluster:Cluster", name, {}, opts);
        const { ssh } = cfg;

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
                    prepared: this.prep[host.name].done,
                    masterReady: this.master.ready,
                },
                { parent: this },
            );
        }

        this.nodeNames = [cfg.master.name, ...cfg.workers.map((w) => w.name)];
        this.ready = hostStep(
            `${name}-nodes-ready`,
            { host: cfg.master, ssh, script: "wait-nodes.sh", args: { timeout: String(cfg.cluster.nodeReadyTimeoutSeconds), node: this.nodeNames } },
            { parent: this, dependsOn: Object.values(this.workers).map((w) => w.membership).concat([this.master.ready]) },
        );
        this.kubeconfig = this.master.kubeconfig;
        this.registerOutputs({ kubeconfig: this.kubeconfig, nodeNames: this.nodeNames });
    }
}
