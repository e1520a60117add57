// kubevirt-lab: the homelab of "KubeVirt Network Deep Dive", in the post's order.
import * as pulumi from "@pulumi/pulumi";
import { loadConfig } from "./components/config";
import { Cluster } from "./components/cluster";
import { clusterProvider } from "./components/k8s";
import { fetchManifest } from "./components/manifests";
import { KubeVirt } from "./components/kubevirt";
import { Skydive } from "./components/skydive";
import { INGRESS_NGINX_FILES, IngressNginx } from "./components/ingressNginx";
import { Workload, parsePodLine } from "./components/workload";
import { App } from "./components/app";
import { Dns } from "./components/dns";

export = async () => {
    // The lab as configured in Pulumi.<stack>.yaml, validated before anything is touched.
    const cfg = loadConfig();
    const on = { master: cfg.master, ssh: cfg.ssh };
    const nodes = [cfg.master, ...cfg.workers];
    // The upstream manifests, fetched before anything is registered: a URL that fails stops the program untouched.
    const a = cfg.addons;
    const upstream = cfg.stages.addons
        ? await Promise.all([
              fetchManifest("kubevirtManifestUrl", a.kubevirtManifestUrl),
              fetchManifest("skydiveManifestUrl", a.skydiveManifestUrl),
              ...INGRESS_NGINX_FILES.map((f) => fetchManifest("ingressNginxManifestBaseUrl", `${a.ingressNginxManifestBaseUrl}/${f}`)),
          ])
        : undefined;

    // 1. Hosts and cluster: every host prepared in parallel, kubeadm init on the
    //    master, Flannel, the workers joined, all nodes Ready.
    const cluster = new Cluster("cluster", cfg);
    const outputs: Record<string, unknown> = { kubeconfig: cluster.kubeconfig, nodes: cluster.nodeNames, domain: cfg.domain };
    let ingressNode: pulumi.Input<string> | undefined = cfg.dns?.ingressNode;
    const dnsAfter: pulumi.Resource[] = [cluster.ready];

    if (upstream) {
        // 2. Add-ons, from the upstream manifests, through a Kubernetes
        //    provider that exists once every node is Ready.
        const [kubevirtYaml, skydiveYaml, ...ingressYamls] = upstream;
        const timeout = a.readyTimeoutSeconds;
        const provider = clusterProvider("lab", cluster.kubeconfig, cluster.ready);
        const kubevirt = new KubeVirt("kubevirt", { objs: kubevirtYaml, provider, ...on, workerCount: cfg.workers.length, readyTimeoutSeconds: timeout });
        const skydive = new Skydive("skydive", { objs: skydiveYaml, domain: cfg.domain, provider, ...on, readyTimeoutSeconds: timeout });
        const ingress = new IngressNginx("ingress-nginx", { objs: ingressYamls.flat(), settings: a, domain: cfg.domain, provider, ...on });
        ingressNode ??= ingress.controller.stdout.apply((out) => parsePodLine(out, "ingress controller").node);
        dnsAfter.push(ingress.controller);
        Object.assign(outputs, { httpNodePort: a.ingressHttpNodePort, mgmtNodePort: a.ingressMgmtNodePort });

        // 3. The workload: the nodejs and mongodb VMs, their Services and the Ingress.
        if (cfg.stages.workload) {
            const workload = new Workload("nodejs-ex", {
                settings: cfg.workload, domain: cfg.domain, provider, ...on, readyTimeoutSeconds: timeout,
                addonsReady: [...kubevirt.ready, ingress.controller],
            });
            outputs.vms = workload.status;

            // 4. The app inside the VMs, installed by Ansible with the passwords as secrets.
            const { nodejs, mongodb } = workload.status;
            if (cfg.stages.app && nodejs && mongodb) {
                if (cfg.app.usesPostPassword) {
                    pulumi.log.warn("mongodbPassword is not set: the post's published password is used; set your own with `pulumi config set --secret mongodbPassword`");
                }
                new App("app", {
                    settings: cfg.app, workload: cfg.workload, nodes, privateKeyPath: cfg.ssh.privateKeyPath,
                    nodejsNode: nodejs.node, mongodbNode: mongodb.node,
                    analyzerIp: skydive.analyzer.stdout.apply((out) => parsePodLine(out, "skydive analyzer").ip),
                    after: [...workload.running, skydive.analyzer],
                });
            }
        }
    }

    // 5. DNS: the nodes and the ingress wildcard in dnsmasq on the DNS host.
    if (cfg.dns && ingressNode) {
        const dns = new Dns("dns", { settings: cfg.dns, domain: cfg.domain, nodes, ssh: cfg.ssh, ingressNode, after: dnsAfter });
        Object.assign(outputs, { dnsServer: cfg.dns.host.address, ingressAddress: dns.ingressAddress });
    }
    return outputs;
};
