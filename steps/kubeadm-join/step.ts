// The binding of steps/kubeadm-join/kubeadm-join.sh: its options (the join line goes on stdin).
import type { HostSpec } from "../../components/config";

export const script = "kubeadm-join.sh";
export const args = (worker: HostSpec, ignorePreflightErrors: string[]) => ({
    "node-name": worker.name,
    "ignore-preflight-errors": ignorePreflightErrors,
});
