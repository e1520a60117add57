// The application inside the VMs, installed by Ansible (ansible/) from the
// operator's machine: the inventory is written from the live lab (the VMs'
// SSH NodePorts, the Skydive analyzer's address) and the settings (where the
// app's source and npm dependencies come from), the passwords travel on
// stdin, and the run repeats only when the playbook, roles or inventory change.
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as YAML from "yaml";
import { AppSettings, NodejsSource, WorkloadSettings, nodeAddress } from "./config";
import { Cluster } from "./cluster";
import { PodStatus } from "./k8s";
import { TYPES } from "./types";
import { keyscanCommand } from "./hostKeys";

/** Seconds ssh-keyscan waits for a VM's answer. */
const HOST_KEY_SCAN_SECONDS = 15;
/** Seconds a VM's sshd may take to answer after its virt-launcher pod runs (its guest boots, DHCP, sshd). */
const VM_BOOT_SECONDS = 180;

export const ANSIBLE_DIR = path.join(__dirname, "..", "ansible");

export interface InventoryArgs {
    /** Address of the node each VM's SSH NodePort is reached on. */
    nodejsHost: string;
    mongodbHost: string;
    /** The VMs' SSH NodePorts and their guest user. */
    workload: WorkloadSettings;
    /** Skydive analyzer pod IP. */
    analyzerIp: string;
    privateKeyPath?: string;
    /** Where the nodejs VM gets the app and its npm dependencies; unset: the roles' defaults. */
    source?: NodejsSource;
}

/** The inventory of ansible/README.md: groups mongodb and nodejs, reached through their SSH NodePorts. */
export function inventory(a: InventoryArgs): string {
    const vars: Record<string, unknown> = {
        ansible_user: a.workload.vmGuestUser,
        ansible_become: true,
        ansible_python_interpreter: "/usr/bin/python3",
        analyzers: `${a.analyzerIp}:8082`,
    };
    if (a.privateKeyPath) vars.ansible_ssh_private_key_file = a.privateKeyPath;
    if (a.source) {
        vars.nodejs_repo_url = a.source.repoUrl;
        vars.nodejs_repo_version = a.source.repoVersion;
        vars.nodejs_npm_registry = a.source.npmRegistry;
    }
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

/** The line that ends the inventory's here-document; YAML of the inventory never has it as a line. */
const INVENTORY_END = "KUBEVIRT_LAB_INVENTORY_END";
/** The line that ends the VMs' known_hosts here-document; ssh-keyscan's lines never are it. */
const KNOWN_HOSTS_END = "KUBEVIRT_LAB_KNOWN_HOSTS_END";

/** The two lines of a quoted here-document writing `body` to `target`; a body holding the end line is refused. */
function hereDoc(target: string, body: string, end: string, what: string): string[] {
    if (body.split("\n").includes(end)) throw new Error(`${what} a line ${end}`);
    return [`cat > ${target} <<'${end}'`, `${body.replace(/\n?$/, "\n")}${end}`];
}

/**
 * The shell line that writes the inventory to a private temp dir and runs ansible/run-playbook.sh
 * on it. The inventory travels in clear text (a here-document), so a preview shows a changed host
 * or port as it is, and so are the skipped tags (`--skip-tags a,b`: the setting appSkipTags) and
 * the VMs' SSH host keys (`knownHosts`, known_hosts lines: ssh accepts those and no other).
 */
export function playbookCommand(inventoryYaml: string, skipTags: readonly string[] = [], knownHosts?: string): string {
    const bad = skipTags.filter((t) => !/^[a-z][a-z0-9_]*$/.test(t));
    if (bad.length > 0) throw new Error(`not an Ansible tag: ${bad.join(", ")}`);
    const skip = skipTags.length > 0 ? ` --skip-tags ${skipTags.join(",")}` : "";
    const known = knownHosts === undefined ? [] : hereDoc('"$inv_dir/known_hosts"', knownHosts, KNOWN_HOSTS_END, "the known hosts have");
    return [
        "set -eu",
        // A private directory, and a .yml name: Ansible's yaml inventory plugin takes no other suffix.
        'inv_dir=$(mktemp -d "${TMPDIR:-/tmp}/kubevirt-lab-inventory.XXXXXX")',
        "trap 'rm -rf \"$inv_dir\"' EXIT",
        'inv="$inv_dir/inventory.yml"',
        ...hereDoc('"$inv"', inventoryYaml, INVENTORY_END, "the inventory has"),
        ...known,
        `bash ansible/run-playbook.sh "$inv"${knownHosts === undefined ? "" : ' --known-hosts "$inv_dir/known_hosts"'}${skip}`,
    ].join("\n");
}

export interface AppArgs {
    settings: AppSettings;
    workload: WorkloadSettings;
    cluster: Cluster;
    /** The running VMs (their nodes are where their SSH NodePorts are reached). */
    nodejs: pulumi.Input<PodStatus>;
    mongodb: pulumi.Input<PodStatus>;
    /** The ready Skydive analyzer, where the agents report. */
    analyzer: pulumi.Input<PodStatus>;
    /** The VMs run and the analyzer is ready. */
    after: pulumi.Resource[];
}

export class App extends pulumi.ComponentResource {
    public readonly playbook: command.local.Command;
    /** Where Ansible reaches each VM: `<node address>:<SSH NodePort>`. */
    public readonly targets: pulumi.Output<{ nodejs: string; mongodb: string }>;

    constructor(name: string, args: AppArgs, opts?: pulumi.ComponentResourceOptions) {
        super(TYPES.app, name, {}, opts);
        const { cluster, workload } = args;
        if (args.settings.usesPostPassword) {
            pulumi.log.warn(
                "mongodbPassword is not set: the post's published password is used; set your own with `pulumi config set --secret mongodbPassword`",
                this,
            );
        }
        const hosts = pulumi.all([args.nodejs, args.mongodb]).apply(([nodejs, mongodb]) => ({
            nodejs: nodeAddress(cluster.nodes, nodejs.node, "the nodejs VM"),
            mongodb: nodeAddress(cluster.nodes, mongodb.node, "the mongodb VM"),
        }));
        const inv = pulumi.all([hosts, args.analyzer]).apply(([h, analyzer]) =>
            inventory({
                nodejsHost: h.nodejs,
                mongodbHost: h.mongodb,
                workload,
                analyzerIp: analyzer.ip,
                privateKeyPath: cluster.ssh.privateKeyPath,
                source: args.settings.source,
            }),
        );
        const secrets = pulumi
            .all([args.settings.mongodbAdminPassword, args.settings.mongodbPassword])
            .apply(([admin, app]) => JSON.stringify({ mongodb_admin_password: admin, mongodb_app_password: app }));
        // The VMs' SSH host keys, recorded when these VM instances are first met (trust on first use,
        // as the hosts' own: components/hostKeys.ts): a VM made again (a new virt-launcher pod) is
        // a new record; the same VM offering another key is refused by ssh.
        const vmHostKeys = new command.local.Command(
            `${name}-vm-host-keys`,
            {
                create: hosts.apply((h) =>
                    [
                        keyscanCommand(h.nodejs, workload.nodejsSshNodePort, HOST_KEY_SCAN_SECONDS, VM_BOOT_SECONDS),
                        keyscanCommand(h.mongodb, workload.mongodbSshNodePort, HOST_KEY_SCAN_SECONDS, VM_BOOT_SECONDS),
                    ].join(" && "),
                ),
                triggers: [pulumi.output(args.nodejs).apply((p) => p.pod), pulumi.output(args.mongodb).apply((p) => p.pod)],
                addPreviousOutputInEnv: false,
                logging: "stderr",
            },
            { parent: this, dependsOn: args.after },
        );
        this.playbook = new command.local.Command(
            `${name}-playbook`,
            {
                create: pulumi.all([inv, vmHostKeys.stdout]).apply(([i, known]) => playbookCommand(i, args.settings.skipTags, known)),
                stdin: pulumi.secret(secrets),
                dir: path.join(__dirname, ".."),
                triggers: [ansibleTreeHash()],
                addPreviousOutputInEnv: false,
            },
            { parent: this, dependsOn: args.after },
        );
        this.targets = hosts.apply((h) => ({
            nodejs: `${h.nodejs}:${workload.nodejsSshNodePort}`,
            mongodb: `${h.mongodb}:${workload.mongodbSshNodePort}`,
        }));
        this.registerOutputs({ targets: this.targets });
    }
}
