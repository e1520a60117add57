// kubevirt-lab: the homelab of "KubeVirt Network Deep Dive", in the post's order.
import * as pulumi from "@pulumi/pulumi";
import { loadConfig } from "./components/config";
import { fetchUpstreamManifests } from "./components/upstream";
import { pinHostKeys } from "./components/hostKeys";
import { Cluster } from "./components/cluster";
import { KubeVirt } from "./components/kubevirt";
import { Skydive } from "./components/skydive";
import { IngressNginx } from "./components/ingressNginx";
import { Workload } from "./components/workload";
import { App } from "./components/app";
import { Dns } from "./components/dns";
import { EtcdSnapshot } from "./components/etcdSnapshot";

export = async () => {
    // The lab as Pulumi.<stack>.yaml says, validated, and the add-ons' upstream manifests: all before anything is touched.
    const settings = loadConfig();
    const upstream = settings.stages.addons ? await fetchUpstreamManifests(settings.addons) : undefined;
    const timeoutSeconds = settings.addons.addonReadyTimeoutSeconds;

    // 0. Each host's SSH key, pinned or recorded by the first up: a host offering another stops the program here.
    const hostKeys = await pinHostKeys(settings);
    const cfg = { ...settings, ssh: { ...settings.ssh, hostKeys: hostKeys.keys } };

    // 1. Hosts and cluster: every host prepared in parallel, kubeadm init, Flannel, the workers joined, all nodes Ready.
    const cluster = new Cluster("cluster", cfg);
    const made: pulumi.Resource[] = [cluster];
    const outputs: Record<string, unknown> = { kubeconfig: cluster.kubeconfig, nodes: cluster.nodeNames, domain: cfg.domain };
    let ingressNode: pulumi.Input<string> | undefined = cfg.dns?.ingressNode;
    const dnsAfter: pulumi.Resource[] = [cluster.ready];

    if (upstream) {
        // 2. Add-ons from the upstream manifests, through the cluster's Kubernetes provider.
        const kubevirt = new KubeVirt("kubevirt", {
            objs: upstream.kubevirt,
            cluster,
            workerCount: cfg.workers.length,
            readyTimeoutSeconds: timeoutSeconds,
        });
        const skydive = new Skydive("skydive", {
            objs: upstream.skydive,
            domain: cfg.domain,
            cluster,
            readyTimeoutSeconds: timeoutSeconds,
        });
        const ingress = new IngressNginx("ingress-nginx", {
            objs: upstream.ingressNginx,
            settings: cfg.addons,
            domain: cfg.domain,
            cluster,
        });
        made.push(kubevirt, skydive, ingress);
        ingressNode ??= ingress.controller.node;
        dnsAfter.push(ingress.ready);
        Object.assign(outputs, { httpNodePort: ingress.httpNodePort, mgmtNodePort: ingress.mgmtNodePort });

        if (cfg.stages.workload) {
            // 3. The workload: the nodejs and mongodb VMs, their Services and the Ingress.
            const addonsReady = [...kubevirt.ready, ingress.ready];
            const workload = new Workload("nodejs-ex", {
                settings: cfg.workload,
                domain: cfg.domain,
                cluster,
                readyTimeoutSeconds: timeoutSeconds,
                addonsReady,
            });
            made.push(workload);
            outputs.vms = workload.status;

            // 4. The app inside the VMs, installed by Ansible with the passwords as secrets.
            const { nodejs, mongodb } = workload.status;
            if (cfg.stages.app && nodejs && mongodb) {
                const after = [...workload.running, skydive.ready];
                made.push(
                    new App("app", {
                        settings: cfg.app,
                        workload: cfg.workload,
                        cluster,
                        nodejs,
                        mongodb,
                        analyzer: skydive.analyzer,
                        after,
                    }),
                );
            }
        }
    }

    // 5. DNS: the nodes and the ingress wildcard in dnsmasq on the DNS host.
    if (cfg.dns && ingressNode) {
        const dns = new Dns("dns", { settings: cfg.dns, domain: cfg.domain, cluster, ingressNode, after: dnsAfter });
        made.push(dns);
        Object.assign(outputs, { dnsServer: dns.server, ingressAddress: dns.ingressAddress });
    }

    // On destroy, first of all: a snapshot of the master's etcd, kept on this machine, before anything is taken down.
    new EtcdSnapshot("etcd-snapshot", { master: cfg.master, ssh: cfg.ssh, dir: cfg.cluster.etcdSnapshotDir, after: made });
    return outputs;
};
