// The images the kubelet stand-in knows: for a container of an API pod bound to its node whose
// image is a key of IMAGE_PROGRAMS, it runs that entry's local program in the container's place
// (pod-programs.ts); every other container is only reported running. One entry per image; add
// another here with its program and its command line.
import * as path from "node:path";
import { pathToFileURL } from "node:url";

/** What a program gets to build its command line from. */
export interface ProgramContext {
    pod: any;
    container: any;
    /** a kubeconfig with the API server the kubelet uses, the cluster CA and the pod's ServiceAccount token */
    kubeconfig: string;
}

export interface ImageProgram {
    /** for the log and the pod's event */
    what: string;
    /** the program and its arguments (command[0] absolute, or found as a static pod's program is) */
    command(ctx: ProgramContext): string[];
}

const REPO = path.resolve(__dirname, "..", "..", "..");

/** A TypeScript stand-in of this repository, run by this Node with the repository's tsx. */
const tsxProgram = (main: string, args: string[]) => [
    process.execPath,
    "--import",
    pathToFileURL(path.join(REPO, "node_modules", "tsx", "dist", "loader.mjs")).href,
    path.join(REPO, main),
    ...args,
];

/** The container's arguments after the image's own program (command[0]), as its entrypoint would get them. */
export const containerArgs = (c: any): string[] =>
    [...((c.command ?? []) as unknown[]).slice(1), ...((c.args ?? []) as unknown[])].map(String);

export const IMAGE_PROGRAMS: Record<string, ImageProgram> = {
    // kubevirt.yaml v0.4.1's Deployment: /virt-controller --launcher-image kubevirt/virt-launcher:v0.4.1 --port 8182.
    // v0.4.1 always elects a leader, with the lock in its ServiceAccount's namespace (the pod's).
    "kubevirt/virt-controller:v0.4.1": {
        what: "the virt-controller stand-in (harness/standins/virt-controller)",
        command: (ctx) =>
            tsxProgram("harness/standins/virt-controller/main.ts", [
                ...containerArgs(ctx.container),
                "--kubeconfig",
                ctx.kubeconfig,
                "--leader-elect",
                "--leader-elect-namespace",
                String(ctx.pod.metadata.namespace),
            ]),
    },
};
