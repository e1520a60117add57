// Before `pulumi destroy` resets the master (kubeadm reset wipes etcd), a snapshot of its etcd is
// taken and kept on the operator's machine: a local.Command whose delete runs
// scripts/operator/fetch-etcd-snapshot.sh, which runs steps/etcd-snapshot/etcd-snapshot.sh on the master
// over SSH (the master's pinned host key, the lab's key) and prints where it kept the file. It
// depends on everything the lab makes, so that a destroy deletes it first: the snapshot holds the
// cluster as it was before anything of it was taken down. Nothing runs when it is made.
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { HostSpec, SshSettings, shortName } from "./config";
import { hostScript, shQuote } from "./remote";
import { TYPES } from "./types";

/** The line that ends the master's command line in the delete's here-document. */
const REMOTE_END = "KUBEVIRT_LAB_REMOTE_END";

export interface SnapshotCommandArgs {
    master: HostSpec;
    ssh: Pick<SshSettings, "user" | "port" | "privateKeyPath">;
    hostKey: string;
    /** The directory of the snapshots on this machine, `~` expanded. */
    dir: string;
    /** The file name's prefix: `<stack>-<master's short name>`. */
    prefix: string;
}

/**
 * The delete command (run by `/bin/sh -c` in the project directory): the master's command line
 * (etcd-snapshot.sh as every host step runs) in a here-document on fd 3, and the operator's script.
 */
export function snapshotCommand(a: SnapshotCommandArgs): string {
    const remote = hostScript("etcd-snapshot.sh", [], a.ssh.user);
    if (remote.split("\n").includes(REMOTE_END)) throw new Error(`the master's command line has a line ${REMOTE_END}`);
    const words = [
        ["address", a.master.address],
        ["port", String(a.ssh.port)],
        ["user", a.ssh.user],
        ["host-key", a.hostKey],
        ["node", a.master.name],
        ["dir", a.dir],
        ["prefix", a.prefix],
        ["remote", "/dev/fd/3"],
        ...(a.ssh.privateKeyPath ? [["key-file", a.ssh.privateKeyPath]] : []),
    ].flatMap(([k, v]) => [`--${k}`, shQuote(v)]);
    return [`bash scripts/operator/fetch-etcd-snapshot.sh ${words.join(" ")} 3<<'${REMOTE_END}'`, remote, REMOTE_END].join("\n");
}

export interface EtcdSnapshotArgs {
    master: HostSpec;
    ssh: SshSettings;
    dir: string;
    /** Everything the lab makes: the snapshot is deleted (taken) before any of it. */
    after: pulumi.Resource[];
}

export class EtcdSnapshot extends pulumi.ComponentResource {
    public readonly onDestroy: command.local.Command;

    constructor(name: string, args: EtcdSnapshotArgs, opts?: pulumi.ComponentResourceOptions) {
        super(TYPES.etcdSnapshot, name, {}, opts);
        const { master, ssh } = args;
        const hostKey = ssh.hostKeys?.get(master.address);
        if (hostKey === undefined) throw new Error(`${master.name}: no host key to pin`);
        const prefix = `${pulumi.getStack()}-${shortName(master.name)}`;
        this.onDestroy = new command.local.Command(
            `${name}-on-destroy`,
            {
                delete: pulumi.output(hostKey).apply((k) => snapshotCommand({ master, ssh, hostKey: k, dir: args.dir, prefix })),
                // The key given as a secret reaches the script's ssh-agent on stdin only.
                stdin: ssh.privateKeyPath ? undefined : ssh.privateKey,
                dir: path.join(__dirname, ".."),
                addPreviousOutputInEnv: false,
                logging: "stdoutAndStderr",
            },
            { parent: this, dependsOn: args.after },
        );
        this.registerOutputs({});
    }
}
