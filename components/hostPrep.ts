// Host preparation, the post's "Packages" to "Additional prerequisites": six
// idempotent steps per host, each its own script and its own resource, so that
// a changed setting re-runs only its step.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { HostPrepSettings, HostSpec, SshSettings } from "./config";
import { ResolvedArgs, hostStep } from "./remote";
import { TYPES } from "./types";
import * as repoStep from "../steps/repo/step";
import * as packagesStep from "../steps/packages/step";
import * as dockerStorageStep from "../steps/docker-storage/step";
import * as servicesStep from "../steps/services/step";
import * as sysctlStep from "../steps/sysctl/step";
import * as swapStep from "../steps/swap/step";
import * as selinuxStep from "../steps/selinux/step";

export interface HostPrepArgs {
    host: HostSpec;
    ssh: SshSettings;
    settings: HostPrepSettings;
}

/** The prep steps in the post's order; each runs after the one before it on the same host. */
export const PREP_STEPS = ["repo", "packages", "docker-storage", "services", "sysctl", "swap", "selinux"] as const;

/** Each prep step's binding (steps/<step>/step.ts): its script and its options from the settings. */
export const PREP_BINDINGS: Record<(typeof PREP_STEPS)[number], { script: string; args: (s: HostPrepSettings) => ResolvedArgs }> = {
    repo: repoStep,
    packages: packagesStep,
    "docker-storage": dockerStorageStep,
    services: servicesStep,
    sysctl: sysctlStep,
    swap: swapStep,
    selinux: selinuxStep,
};

export class HostPrep extends pulumi.ComponentResource {
    /** Every step, by name. */
    public readonly steps: Record<(typeof PREP_STEPS)[number], command.remote.Command>;

    constructor(name: string, args: HostPrepArgs, opts?: pulumi.ComponentResourceOptions) {
        super(TYPES.hostPrep, name, {}, opts);
        const s = args.settings;
        const step = (id: (typeof PREP_STEPS)[number], after: pulumi.Resource[]) =>
            hostStep(
                `${name}-${id}`,
                { host: args.host, ssh: args.ssh, script: PREP_BINDINGS[id].script, args: PREP_BINDINGS[id].args(s), withActions: true },
                { parent: this, dependsOn: after },
            );

        const repo = step("repo", []);
        const packages = step("packages", [repo]);
        // docker-storage-setup reads its file when docker first starts: written before the services step.
        const dockerStorage = step("docker-storage", [packages]);
        const services = step("services", [dockerStorage]);
        // The bridge-nf-call keys exist once docker has loaded br_netfilter.
        const sysctl = step("sysctl", [services]);
        // SELinux is independent of the others: prepared in parallel with them.
        const selinux = step("selinux", []);
        // kubeadm 1.9's preflight refuses a host with swap on: off now and at every boot (independent too).
        const swap = step("swap", []);

        this.steps = { repo, packages, "docker-storage": dockerStorage, services, sysctl, swap, selinux };
        this.registerOutputs({ host: args.host.name });
    }

    /** Resources that later stages on this host wait for. */
    public get done(): pulumi.Resource[] {
        return Object.values(this.steps);
    }
}
