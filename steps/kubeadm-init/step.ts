// The binding of steps/kubeadm-init/kubeadm-init.sh: apply's (and check's) options and remove's,
// from the settings and the master.
import type { ClusterSettings, HostSpec } from "../../components/config";

export const script = "kubeadm-init.sh";
export const args = (c: ClusterSettings, master: HostSpec, kubernetesVersion: string, sshUser: string) => ({
    "pod-network-cidr": c.podNetworkCidr,
    "service-cidr": c.serviceCidr,
    "node-name": master.name,
    "advertise-address": master.address,
    "kubernetes-version": kubernetesVersion,
    "ssh-user": sshUser,
    "ignore-preflight-errors": c.kubeadmIgnorePreflightErrors,
});
/** The master's own Node is drained and deleted before its reset, as every node's is. */
export const removeArgs = (master: HostSpec, sshUser: string) => ({ "ssh-user": sshUser, "node-name": master.name });
