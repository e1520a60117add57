// The binding of steps/wait-nodes/wait-nodes.sh: the nodes to wait for, and how long.
export const script = "wait-nodes.sh";
export const args = (timeoutSeconds: number, nodes: string[]) => ({ timeout: String(timeoutSeconds), node: nodes });
