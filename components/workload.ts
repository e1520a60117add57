// The post's workload in namespace nodejs-ex: the nodejs and mongodb
// OfflineVirtualMachines pinned to their workers, their Services, the SSH
// NodePorts Ansible uses, and the Ingress nodejs.ingress.<domain>.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as YAML from "yaml";
import { WorkloadSettings } from "./config";
import { Cluster } from "./cluster";
import { K8sObject, clone, find, labManifest } from "./manifests";
import { PodStatus, forKubernetes19 } from "./k8s";
import { TYPES } from "./types";

/** kubevirt.io/v1alpha1 OfflineVirtualMachine, as far as the lab uses it (KubeVirt v0.4). */
export interface OfflineVirtualMachine {
    apiVersion: "kubevirt.io/v1alpha1";
    kind: "OfflineVirtualMachine";
    metadata: { name: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string> };
    spec: {
        running: boolean;
        template: {
            metadata: { labels: Record<string, string> };
            spec: {
                nodeSelector?: Record<string, string>;
                domain: {
                    cpu: { cores: number };
                    devices: { disks: Array<{ name: string; volumeName: string; disk: { bus: "virtio" | "sata" } }> };
                    machine: { type: string };
                    resources: { requests: { memory: string } };
                };
                volumes: Array<{
                    name: string;
                    registryDisk?: { image: string };
                    cloudInitNoCloud?: { userDataBase64: string };
                }>;
            };
        };
    };
}

export const VM_NAMES = ["nodejs", "mongodb"] as const;
export type VmName = (typeof VM_NAMES)[number];

/**
 * cloud-init user data authorising the operator's key for the guest user (the companion repo's
 * cloud-init.txt). The key is one YAML scalar, written by the YAML library: plain as the post has
 * it when it can be, quoted when its comment holds `: `, ` #` or the like, so that no key can add
 * a line or a key of its own to the user data (the setting refuses control characters too).
 */
export function cloudInitUserData(sshPublicKey: string): string {
    const item = YAML.stringify([sshPublicKey], { lineWidth: 0 }).trimEnd();
    return ["#cloud-config", "ssh_pwauth: True", "disable_root: false", "ssh_authorized_keys:", item, ""].join("\n");
}

/** The lab's workload objects with the settings applied. */
export function workloadObjects(s: WorkloadSettings, domain: string) {
    const base = labManifest("nodejs-ex.yaml").concat(labManifest("vm-ssh.yaml"));
    const src = "manifests/nodejs-ex.yaml";
    const inNamespace = <T extends K8sObject>(o: T): T => {
        const c = clone(o);
        c.metadata.namespace = s.workloadNamespace;
        return c;
    };
    const userDataBase64 = Buffer.from(cloudInitUserData(s.vmSshPublicKey)).toString("base64");
    const node: Record<VmName, string> = { nodejs: s.nodejsVmNode, mongodb: s.mongodbVmNode };
    const vms = VM_NAMES.map((name) => {
        const vm = inNamespace(find(base, "OfflineVirtualMachine", name, src)) as unknown as OfflineVirtualMachine;
        vm.spec.running = s.vmsRunning;
        vm.spec.template.spec.nodeSelector = { "kubernetes.io/hostname": node[name] };
        for (const v of vm.spec.template.spec.volumes) {
            if (v.registryDisk) v.registryDisk.image = s.vmImage;
            if (v.cloudInitNoCloud) v.cloudInitNoCloud.userDataBase64 = userDataBase64;
        }
        return vm;
    });
    const services = ["mongodb", "nodejs"].map((n) => inNamespace(find(base, "Service", n, src)));
    const sshPort: Record<VmName, number> = { nodejs: s.nodejsSshNodePort, mongodb: s.mongodbSshNodePort };
    const sshServices = VM_NAMES.map((n) => {
        const svc = inNamespace(find(base, "Service", `${n}-ssh`, "manifests/vm-ssh.yaml"));
        svc.spec.ports[0].nodePort = sshPort[n];
        return svc;
    });
    const ingress = inNamespace(find(base, "Ingress", "nodejs", src));
    ingress.spec.rules[0].host = `nodejs.ingress.${domain}`;
    return { vms, services: [...services, ...sshServices], ingress };
}

export interface WorkloadArgs {
    settings: WorkloadSettings;
    domain: string;
    cluster: Cluster;
    readyTimeoutSeconds: number;
    /** KubeVirt and ingress-nginx are ready. */
    addonsReady: pulumi.Resource[];
}

/** A running VM: its virt-launcher pod, the pod's IP (the VM's) and node. */
export type VmStatus = PodStatus;

export class Workload extends pulumi.ComponentResource {
    public readonly vms: Record<VmName, k8s.apiextensions.CustomResource>;
    /** Per running VM, its virt-launcher pod, pod IP and node (none while the VMs are stopped). */
    public readonly status: Partial<Record<VmName, pulumi.Output<VmStatus>>> = {};
    /** The steps that wait for the VMs' pods (empty when the VMs are stopped). */
    public readonly running: pulumi.Resource[] = [];

    constructor(name: string, args: WorkloadArgs, opts?: pulumi.ComponentResourceOptions) {
        super(TYPES.workload, name, {}, opts);
        const s = args.settings;
        const objs = workloadObjects(s, args.domain);
        const k8sOpts = { parent: this, provider: args.cluster.provider };

        const namespace = new k8s.core.v1.Namespace(
            `${name}-namespace`,
            { metadata: { name: s.workloadNamespace } },
            { ...k8sOpts, dependsOn: args.addonsReady },
        );
        const inNs = { ...k8sOpts, dependsOn: [namespace] };
        for (const svc of objs.services) {
            new k8s.core.v1.Service(`${s.workloadNamespace}/${svc.metadata.name}`, svc as k8s.types.input.core.v1.Service, inNs);
        }
        new k8s.extensions.v1beta1.Ingress(
            `${s.workloadNamespace}/nodejs`,
            forKubernetes19(objs.ingress) as k8s.types.input.extensions.v1beta1.Ingress,
            inNs,
        );

        const vms = {} as Record<VmName, k8s.apiextensions.CustomResource>;
        for (const vm of objs.vms) {
            const vmName = vm.metadata.name as VmName;
            vms[vmName] = new k8s.apiextensions.CustomResource(`${s.workloadNamespace}/${vmName}`, vm, inNs);
            if (!s.vmsRunning) continue;
            const wait = args.cluster.waitForPods(
                `${name}-${vmName}-running`,
                {
                    namespace: s.workloadNamespace,
                    selector: `kubevirt.io=virt-launcher,kubevirt.io/domain=${vmName}`,
                    minReady: 1,
                    timeoutSeconds: args.readyTimeoutSeconds,
                },
                { parent: this, dependsOn: [vms[vmName]] },
            );
            this.running.push(wait.step);
            this.status[vmName] = wait.first;
        }
        this.vms = vms;
        this.registerOutputs({ status: this.status });
    }
}
