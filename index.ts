// kubevirt-lab: the homelab of "KubeVirt Network Deep Dive", in the post's order.
import { loadConfig } from "./components/config";
import { Cluster } from "./components/cluster";

// The lab as configured in Pulumi.<stack>.yaml, validated before anything is touched.
const cfg = loadConfig();

// 1. Hosts and cluster: every host prepared in parallel, kubeadm init on the
//    master, Flannel, the workers joined, all nodes Ready.
const cluster = new Cluster("cluster", cfg);

export const kubeconfig = cluster.kubeconfig;
export const nodes = cluster.nodeNames;
