// A worker: a join line minted for it on the master at join time (so a worker
// added months later still joins), `kubeadm join` on the worker, and on removal
// a drain and delete on the master before `kubeadm reset` on the worker.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { HostSpec, SshSettings } from "./config";
import { hostStep } from "./remote";
import * as joinStep from "../steps/kubeadm-join/step";
import * as joinCommandStep from "../steps/join-command/step";
import * as drainStep from "../steps/drain-node/step";
import { TYPES } from "./types";

export interface WorkerArgs {
    host: HostSpec;
    master: HostSpec;
    ssh: SshSettings;
    joinTokenTtl: string;
    /** Preflight checks `kubeadm join` only warns about (the kubeadmIgnorePreflightErrors setting). */
    ignorePreflightErrors: string[];
    /** The worker's host preparation. */
    prepared: pulumi.Resource[];
    /** The master is Ready with Flannel. */
    masterReady: pulumi.Resource;
}

export class Worker extends pulumi.ComponentResource {
    public readonly join: command.remote.Command;
    /** Its delete drains the node and deletes it from the cluster (before the worker's reset). */
    public readonly membership: command.remote.Command;

    constructor(name: string, args: WorkerArgs, opts?: pulumi.ComponentResourceOptions) {
        super(TYPES.worker, name, {}, opts);
        const { host, master, ssh } = args;

        const joinLine = hostStep(
            `${name}-join-command`,
            { host: master, ssh, script: joinCommandStep.script, args: joinCommandStep.args(args.joinTokenTtl), secretOutput: true },
            { parent: this, dependsOn: [args.masterReady] },
        );
        this.join = hostStep(
            `${name}-kubeadm-join`,
            {
                host,
                ssh,
                script: joinStep.script,
                withActions: true,
                args: joinStep.args(host, args.ignorePreflightErrors),
                stdin: pulumi.secret(joinLine.stdout),
            },
            // The line is needed for the first join only; a fresh token must not count as a change.
            { parent: this, dependsOn: [...args.prepared, joinLine], ignoreChanges: ["stdin"] },
        );
        this.membership = hostStep(
            `${name}-drain`,
            {
                host: master,
                ssh,
                script: drainStep.script,
                withActions: true,
                args: drainStep.args(host),
                removeArgs: drainStep.args(host),
            },
            { parent: this, dependsOn: [this.join] },
        );
        this.registerOutputs({ node: host.name });
    }
}
