// Host preparation, the post's "Packages" to "Additional prerequisites": six
// idempotent steps per host, each its own script and its own resource, so that
// a changed setting re-runs only its step.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { HostPrepSettings, HostSpec, SshSettings } from "./config";
import { ScriptArgs, hostStep } from "./remote";
import { TYPES } from "./types";

export interface HostPrepArgs {
    host: HostSpec;
    ssh: SshSettings;
    settings: HostPrepSettings;
}

/** The prep steps in the post's order; each runs after the one before it on the same host. */
export const PREP_STEPS = ["repo", "packages", "docker-storage", "services", "sysctl", "swap", "selinux"] as const;

export class HostPrep extends pulumi.ComponentResource {
    /** Every step, by name. */
    public readonly steps: Record<(typeof PREP_STEPS)[number], command.remote.Command>;

    constructor(name: string, args: HostPrepArgs, opts?: pulumi.ComponentResourceOptions) {
        super(TYPES.hostPrep, name, {}, opts);
        const s = args.settings;
        const step = (id: string, stepArgs: ScriptArgs, after: pulumi.Resource[]) =>
            hostStep(
                `${name}-${id}`,
                { host: args.host, ssh: args.ssh, script: `${id}.sh`, args: stepArgs, withActions: true },
                { parent: this, dependsOn: after },
            );

        const repo = step("repo", { baseurl: s.yumRepoBaseUrl, gpgkey: s.yumRepoGpgKeys }, []);
        const packages = step(
            "packages",
            { "yum-update": s.yumUpdate ? "yes" : "no", "kubernetes-version": s.kubernetesVersion, package: s.extraPackages },
            [repo],
        );
        // docker-storage-setup reads its file when docker first starts: written before the services step.
        const dockerStorage = step("docker-storage", { device: s.dockerStorageDevice || undefined }, [packages]);
        const services = step("services", {}, [dockerStorage]);
        // The bridge-nf-call keys exist once docker has loaded br_netfilter.
        const sysctl = step("sysctl", { setting: s.sysctl }, [services]);
        // SELinux is independent of the others: prepared in parallel with them.
        const selinux = step("selinux", { mode: s.selinux }, []);
        // kubeadm 1.9's preflight refuses a host with swap on: off now and at every boot (independent too).
        const swap = step("swap", {}, []);

        this.steps = { repo, packages, "docker-storage": dockerStorage, services, sysctl, swap, selinux };
        this.registerOutputs({ host: args.host.name });
    }

    /** Resources that later stages on this host wait for. */
    public get done(): pulumi.Resource[] {
        return Object.values(this.steps);
    }
}
