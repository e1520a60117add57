// kubevirt-lab: the homelab of "KubeVirt Network Deep Dive", in the post's order.
import { loadConfig } from "./components/config";
import { Cluster } from "./components/cluster";
import { clusterProvider } from "./components/k8s";
import { fetchManifest } from "./components/manifests";
import { KubeVirt } from "./components/kubevirt";
import { Skydive } from "./components/skydive";
import { INGRESS_NGINX_FILES, IngressNginx } from "./components/ingressNginx";
import { Workload } from "./components/workload";

export = async () => {
    // The lab as configured in Pulumi.<stack>.yaml, validated before anything is touched.
    const cfg = loadConfig();
    const on = { master: cfg.master, ssh: cfg.ssh };

    // 1. Hosts and cluster: every host prepared in parallel, kubeadm init on the
    //    master, Flannel, the workers joined, all nodes Ready.
    const cluster = new Cluster("cluster", cfg);
    const outputs: Record<string, unknown> = { kubeconfig: cluster.kubeconfig, nodes: cluster.nodeNames };
    if (!cfg.stages.addons) return outputs;

    // 2. Add-ons, from the upstream manifests fetched now, through a provider
    //    that exists once every node is Ready.
    const a = cfg.addons;
    const [kubevirtYaml, skydiveYaml, ...ingressYamls] = await Promise.all([
        fetchManifest("kubevirtManifestUrl", a.kubevirtManifestUrl),
        fetchManifest("skydiveManifestUrl", a.skydiveManifestUrl),
        ...INGRESS_NGINX_FILES.map((f) => fetchManifest("ingressNginxManifestBaseUrl", `${a.ingressNginxManifestBaseUrl}/${f}`)),
    ]);
    const provider = clusterProvider("lab", cluster.kubeconfig, cluster.ready);
    const timeout = a.readyTimeoutSeconds;
    const kubevirt = new KubeVirt("kubevirt", { objs: kubevirtYaml, provider, ...on, workerCount: cfg.workers.length, readyTimeoutSeconds: timeout });
    const skydive = new Skydive("skydive", { objs: skydiveYaml, domain: cfg.domain, provider, ...on, readyTimeoutSeconds: timeout });
    const ingress = new IngressNginx("ingress-nginx", { objs: ingressYamls.flat(), settings: a, domain: cfg.domain, provider, ...on });
    if (!cfg.stages.workload) return outputs;

    // 3. The workload: the nodejs and mongodb VMs, their Services and the Ingress.
    const workload = new Workload("nodejs-ex", {
        settings: cfg.workload, domain: cfg.domain, provider, ...on, readyTimeoutSeconds: timeout,
        addonsReady: [...kubevirt.ready, ingress.controller],
    });
    outputs.vms = workload.status;
    return outputs;
};
