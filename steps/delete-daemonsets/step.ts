// The binding of steps/delete-daemonsets/delete-daemonsets.sh: an add-on's DaemonSets, as
// `<namespace>/<name>` (apply does nothing with them; remove deletes them).
export const script = "delete-daemonsets.sh";
export const args = (daemonsets: string[]) => ({ daemonset: daemonsets });
