// The binding of steps/kubernetes-objects/kubernetes-objects.sh (check only): the objects to look
// for, as `<kind>/<namespace>/<name>` (namespace empty: cluster-scoped).
export const script = "kubernetes-objects.sh";
export interface ObjectRef {
    kind: string;
    namespace: string;
    name: string;
}
export const args = (objects: readonly ObjectRef[]) => ({ object: objects.map((o) => `${o.kind}/${o.namespace}/${o.name}`) });
