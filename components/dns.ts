// dnsmasq on the home network's DNS host (the post's dns1): an address= line
// per node and the wildcard .ingress.<domain> → the node that runs the ingress
// controller, in one file that `pulumi destroy` removes.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { DnsSettings, nodeAddress } from "./config";
import { Cluster } from "./cluster";
import { hostStep } from "./remote";
import * as recordsStep from "../steps/dnsmasq-records/step";
import { TYPES } from "./types";

export interface DnsArgs {
    settings: DnsSettings;
    domain: string;
    /** Its nodes get an address= line each. */
    cluster: Cluster;
    /** Name of the node whose address the ingress wildcard points at. */
    ingressNode: pulumi.Input<string>;
    /** Done before the records are written (the cluster; the ingress controller when looked up). */
    after: pulumi.Resource[];
}

export class Dns extends pulumi.ComponentResource {
    public readonly records: command.remote.Command;
    /** The address the `.ingress.<domain>` wildcard points at. */
    public readonly ingressAddress: pulumi.Output<string>;
    /** The DNS server the lab's names are asked of. */
    public readonly server: string;

    constructor(name: string, args: DnsArgs, opts?: pulumi.ComponentResourceOptions) {
        super(TYPES.dns, name, {}, opts);
        const s = args.settings;
        const nodes = args.cluster.nodes;
        this.server = s.host.address;
        this.ingressAddress = pulumi.output(args.ingressNode).apply((n) => nodeAddress(nodes, n, "the ingress controller"));
        this.records = hostStep(
            `${name}-records`,
            {
                host: s.host,
                ssh: args.cluster.ssh,
                script: recordsStep.script,
                withActions: true,
                args: recordsStep.args(s, args.domain, nodes, this.ingressAddress),
                removeArgs: recordsStep.removeArgs(s),
            },
            { parent: this, dependsOn: args.after },
        );
        this.registerOutputs({ ingressAddress: this.ingressAddress, server: this.server });
    }
}
