// The binding of steps/wait-pods/wait-pods.sh: which pods to wait for, how many, how long.
export const script = "wait-pods.sh";
export const args = (a: { timeoutSeconds: number; namespace: string; selector: string; minReady: number }) => ({
    timeout: String(a.timeoutSeconds),
    namespace: a.namespace,
    selector: a.selector,
    "min-ready": String(a.minReady),
});
