// The binding of steps/drain-node/drain-node.sh: the node to drain and delete at remove.
import type { HostSpec } from "../../components/config";

export const script = "drain-node.sh";
export const args = (worker: HostSpec) => ({ "node-name": worker.name });
