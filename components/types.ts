// The Pulumi types of the lab's components: registered by the components, and the URNs that
// `npm run drift` (tools/drift.ts) prints for a repair are made of them.
export const TYPES = {
    cluster: "kubevirt-lab:cluster:Cluster",
    hostPrep: "kubevirt-lab:hosts:HostPrep",
    hostKeys: "kubevirt-lab:hosts:HostKeys",
    master: "kubevirt-lab:cluster:Master",
    worker: "kubevirt-lab:cluster:Worker",
    etcdSnapshot: "kubevirt-lab:cluster:EtcdSnapshot",
    dns: "kubevirt-lab:dns:Dnsmasq",
    kubevirt: "kubevirt-lab:addons:KubeVirt",
    skydive: "kubevirt-lab:addons:Skydive",
    ingressNginx: "kubevirt-lab:addons:IngressNginx",
    workload: "kubevirt-lab:workload:Workload",
    app: "kubevirt-lab:app:Ansible",
} as const;
