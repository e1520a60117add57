// The application inside the VMs, installed by Ansible (ansible/) from the
// operator's machine: the inventory is written from the live lab (the VMs'
// SSH NodePorts, the Skydive analyzer's address), the passwords travel on
// stdin, and the run repeats only when the playbook, roles or inventory change.
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as YAML from "yaml";
import { AppSettings, HostSpec, WorkloadSettings, nodeAddress } from "./config";
import { shQuote } from "./remote";

export const ANSIBLE_DIR = path.join(__dirname, "..", "ansible");

export interface InventoryArgs {
    /** Address of the node each VM's SSH NodePort is reached on. */
    nodejsHost: string;
    mongodbHost: string;
    workload: WorkloadSettings;
    guestUser: string;
    /** Skydive analyzer pod IP. */
    analyzerIp: string;
    privateKeyPath?: string;
}

/** The inventory of ansible/README.md: groups mongodb and nodejs, reached through their SSH NodePorts. */
export function inventory(a: InventoryArgs): string {
    const vars: Record<string, unknown> = {
        ansible_user: a.guestUser,
        ansible_become: true,
        ansible_python_interpreter: "/usr/bin/python3",
        analyzers: `${a.analyzerIp}:8082`,
    };
    if (a.privateKeyPath) vars.ansible_ssh_private_key_file = a.privateKeyPath;
    return YAML.stringify({
        all: {
            vars,
            children: {
                mongodb: { hosts: { "mongodb-1": { ansible_host: a.mongodbHost, ansible_port: a.workload.mongodbSshNodePort } } },
                nodejs: { hosts: { "nodejs-1": { ansible_host: a.nodejsHost, ansible_port: a.workload.nodejsSshNodePort } } },
            },
        },
    });
}

/** A hash of every file under ansible/: a changed role or playbook re-runs the playbook. */
export function ansibleTreeHash(dir = ANSIBLE_DIR): string {
    const h = crypto.createHash("sha256");
    const walk = (d: string) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((x, y) => x.name.localeCompare(y.name))) {
            const p = path.join(d, e.name);
            if (e.isDirectory()) walk(p);
            else if (e.isFile()) h.update(path.relative(dir, p)).update("\0").update(fs.readFileSync(p)).update("\0");
        }
    };
    walk(dir);
    return h.digest("hex");
}

/** The shell line that writes the inventory to a private temp file and runs ansible/run-playbook.sh on it. */
export function playbookCommand(inventoryYaml: string): string {
    const b64 = Buffer.from(inventoryYaml).toString("base64");
    return [
        "set -eu",
        'inv=$(mktemp "${TMPDIR:-/tmp}/kubevirt-lab-inventory.XXXXXX")',
        "trap 'rm -f \"$inv\"' EXIT",
        `printf %s ${shQuote(b64)} | base64 -d > "$inv"`,
        'bash ansible/run-playbook.sh "$inv"',
    ].join("\n");
}

export interface AppArgs {
    settings: AppSettings;
    workload: WorkloadSettings;
    nodes: HostSpec[];
    privateKeyPath?: string;
    /** Node of each running VM and the analyzer's pod IP, from the live lab. */
    nodejsNode: pulumi.Input<string>;
    mongodbNode: pulumi.Input<string>;
    analyzerIp: pulumi.Input<string>;
    /** The VMs run and the analyzer is ready. */
    after: pulumi.Resource[];
}

export class App extends pulumi.ComponentResource {
    public readonly playbook: command.local.Command;

    constructor(name: string, args: AppArgs, opts?: pulumi.ComponentResourceOptions) {
        super("kubevirt-lab:app:Ansible", name, {}, opts);
        const inv = pulumi.all([args.nodejsNode, args.mongodbNode, args.analyzerIp]).apply(([nodejsNode, mongodbNode, analyzerIp]) =>
            inventory({
                nodejsHost: nodeAddress(args.nodes, nodejsNode, "the nodejs VM"),
                mongodbHost: nodeAddress(args.nodes, mongodbNode, "the mongodb VM"),
                workload: args.workload,
                guestUser: args.settings.guestUser,
                analyzerIp,
                privateKeyPath: args.privateKeyPath,
            }),
        );
        const secrets = pulumi
            .all([args.settings.mongodbAdminPassword, args.settings.mongodbPassword])
            .apply(([admin, app]) => JSON.stringify({ mongodb_admin_password: admin, mongodb_app_password: app }));
        this.playbook = new command.local.Command(
            `${name}-playbook`,
            {
                create: inv.apply(playbookCommand),
                stdin: pulumi.secret(secrets),
                dir: path.join(__dirname, ".."),
                triggers: [ansibleTreeHash()],
                addPreviousOutputInEnv: false,
            },
            { parent: this, dependsOn: args.after },
        );
        this.registerOutputs({});
    }
}
