// Runs the Pulumi program under mocks and records every resource with its
// inputs, options, parent and dependencies, so tests can read the graph like a
// policy: "every join depends on the master's Flannel step".
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { REPO } from "./stack";

export interface Registered {
    type: string;
    name: string;
    /** Constructor arguments as given (may hold Outputs). */
    props: Record<string, unknown>;
    /** Inputs as the engine received them: resolved and serialized (what a provider would see). */
    inputs: Record<string, any>;
    opts: pulumi.CustomResourceOptions;
    /** Names of the resources in opts.dependsOn. */
    dependsOn: string[];
    parent?: string;
    resource: pulumi.Resource;
}

/** Canned outputs of the host steps that print something the program reads. */
export const FAKE_ADMIN_CONF = [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- cluster:",
    "    certificate-authority-data: Q0EtREFUQQ==",
    "    server: https://10.0.2.15:6443",
    "  name: kubernetes",
    "contexts:",
    "- context: {cluster: kubernetes, user: kubernetes-admin}",
    "  name: kubernetes-admin@kubernetes",
    "current-context: kubernetes-admin@kubernetes",
    "users:",
    "- name: kubernetes-admin",
    "  user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZLXNlY3JldA==}",
    "",
].join("\n");
/** An ed25519 host key line (`<type> <base64>`) of a fake host, different per address. */
export function fakeHostKey(address: string): string {
    const seed = Buffer.alloc(32, Number(address.split(".").pop() ?? 0));
    return `ssh-ed25519 ${Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from("ssh-ed25519"), Buffer.from([0, 0, 0, 32]), seed]).toString("base64")}`;
}

/** What ssh-keyscan prints for a host of the command line `create` (components/hostKeys.ts keyscanCommand). */
function fakeKeyscan(create: string): string {
    const address = /-t \S+ (\S+) /.exec(create)?.[1] ?? "0.0.0.0";
    return `${address} ${fakeHostKey(address)}\n`;
}

export const FAKE_JOIN_LINE =
    "kubeadm join --token abcdef.0123456789abcdef 172.31.50.221:6443 --discovery-token-ca-cert-hash sha256:" + "ab".repeat(32);

/** What wait-pods.sh prints for the post's lab: `<pod> <ip> <node>`. */
export function fakePods(create: string): string {
    const vm = /kubevirt\.io\/domain=(\w+)/.exec(create)?.[1];
    if (vm === "nodejs") return "virt-launcher-nodejs-5r59c 10.244.1.8 kn1.virtomation.com\n";
    if (vm === "mongodb") return "virt-launcher-mongodb-qdpmg 10.244.2.7 kn2.virtomation.com\n";
    if (create.includes("app=ingress-nginx")) return "nginx-ingress-controller-85c8787886-vf5tp 10.244.1.4 kn1.virtomation.com\n";
    if (create.includes("tier=analyzer")) return "skydive-analyzer-5db567b4bc-m77kq 10.244.1.2 kn1.virtomation.com\n";
    return "pod-x 10.244.0.9 km1.virtomation.com\n";
}

export class Graph {
    constructor(
        public readonly resources: Registered[],
        public readonly exports: Record<string, unknown>,
    ) {}

    byName(name: string): Registered {
        const r = this.resources.find((x) => x.name === name);
        if (!r) throw new Error(`no resource named ${name}; have: ${this.resources.map((x) => x.name).join(", ")}`);
        return r;
    }

    ofType(type: string): Registered[] {
        return this.resources.filter((r) => r.type === type);
    }

    /** Whether `from` depends on `to`, directly or through other resources' dependsOn. */
    dependsOn(from: string, to: string): boolean {
        const edges = new Map(this.resources.map((r) => [r.name, r.dependsOn]));
        const seen = new Set<string>();
        const stack = [...(edges.get(from) ?? [])];
        while (stack.length > 0) {
            const n = stack.pop()!;
            if (n === to) return true;
            if (seen.has(n)) continue;
            seen.add(n);
            stack.push(...(edges.get(n) ?? []));
        }
        return false;
    }
}

/**
 * Sets `config`, installs mocks, loads index.ts and waits until registrations settle.
 * Call once per process (node:test runs each test file in its own process).
 */
export async function runProgram(
    config: Record<string, string>,
    outputs: (type: string, name: string, inputs: any) => Record<string, unknown> = () => ({}),
    /** What ssh-keyscan finds now at an address (local.run, the host key check of every run); default: the recorded key. */
    liveKeyscan: (address: string) => string = (a) => `${a} ${fakeHostKey(a)}\n`,
): Promise<Graph> {
    pulumi.runtime.setAllConfig(
        config,
        Object.keys(config).filter((k) => /sshPrivateKey$|Password$/.test(k)),
    );
    const resources: Registered[] = [];
    const names = new WeakMap<pulumi.Resource, string>();
    const engineInputs = new Map<string, Record<string, any>>();
    await pulumi.runtime.setMocks(
        {
            newResource(args) {
                engineInputs.set(`${args.type}::${args.name}`, args.inputs);
                const state: Record<string, unknown> = { ...args.inputs, ...outputs(args.type, args.name, args.inputs) };
                if (args.type === "command:remote:Command" && state.stdout === undefined) {
                    const create = String(args.inputs.create ?? "");
                    state.stdout = create.includes("kubeconfig.sh")
                        ? FAKE_ADMIN_CONF
                        : create.includes("join-command.sh")
                          ? FAKE_JOIN_LINE
                          : create.includes("wait-pods.sh")
                            ? fakePods(create)
                            : "";
                    state.stderr = "";
                }
                if (args.type === "command:local:Command" && /-host-keys?$/.test(args.name) && state.stdout === undefined)
                    state.stdout = fakeKeyscan(String(args.inputs.create));
                return { id: `${args.name}-id`, state };
            },
            // local.run is the host key check of every run (components/hostKeys.ts): the hosts offer their recorded keys.
            call: (args) =>
                args.token === "command:local:run"
                    ? { ...args.inputs, stdout: liveKeyscan(/-t \S+ (\S+) /.exec(String(args.inputs.command))?.[1] ?? "") }
                    : args.inputs,
        },
        "kubevirt-lab",
        "test",
        false,
    );
    const transformation: pulumi.ResourceTransformation = (args) => {
        names.set(args.resource, args.name);
        const deps = ([] as pulumi.Resource[]).concat((args.opts.dependsOn as pulumi.Resource[] | undefined) ?? []);
        resources.push({
            type: args.type,
            name: args.name,
            props: args.props as Record<string, unknown>,
            opts: args.opts,
            inputs: {},
            dependsOn: [],
            parent: undefined,
            resource: args.resource,
            _deps: deps,
        } as Registered & { _deps: pulumi.Resource[] });
        return undefined;
    };
    let program: Record<string, unknown> = {};
    try {
        await pulumi.runtime.runInPulumiStack(async () => {
            pulumi.runtime.registerStackTransformation(transformation);
            const mod = await import(path.join(REPO, "index.ts"));
            const main = typeof mod.default === "function" ? mod.default : mod;
            program = typeof main === "function" ? await main() : main;
            return program;
        });
    } catch (e) {
        // What the program registered before it stopped (the stack resource itself is not counted).
        throw Object.assign(e as Error, { registered: resources.map((r) => `${r.type} ${r.name}`) });
    }
    // Let every apply and registration run: wait until the count stays still (bounded).
    let last = -1;
    for (let i = 0; i < 200 && last !== resources.length; i++) {
        last = resources.length;
        await new Promise((r) => setTimeout(r, 20));
    }
    for (const r of resources as Array<Registered & { _deps: pulumi.Resource[] }>) {
        r.dependsOn = r._deps.map((d) => names.get(d) ?? "?");
        r.parent = r.opts.parent ? names.get(r.opts.parent) : undefined;
        r.inputs = unwrapSecrets(engineInputs.get(`${r.type}::${r.name}`) ?? {});
    }
    const exportsResolved: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(program)) {
        exportsResolved[k] = await promiseOf(pulumi.output(v as any));
    }
    return new Graph(resources, exportsResolved);
}

const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** Serialized secrets ({sig, value}) replaced by their values, so tests can read what a provider receives. */
export function unwrapSecrets(v: any): any {
    if (Array.isArray(v)) return v.map(unwrapSecrets);
    if (v && typeof v === "object") {
        if (v[SECRET_SIG] === "1b47061264138c4ac30d75fd1eb44270") return unwrapSecrets(v.value);
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapSecrets(x)]));
    }
    return v;
}

/** The value of an Output under mocks. */
export function promiseOf<T>(o: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve) =>
        o.apply((v) => {
            resolve(v);
            return v;
        }),
    );
}

export async function isSecret(o: pulumi.Output<unknown>): Promise<boolean> {
    return (o as any).isSecret as Promise<boolean>;
}
