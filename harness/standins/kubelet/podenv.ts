// What the 1.9 kubelet gives a container besides its image: the environment (the pod spec's
// variables, downward-API fields, and the variables of the Services of the pod's namespace and
// the master Service, as pkg/kubelet/envvars makes them), $(VAR) expansion of command and args,
// and the files it puts into the container: /etc/resolv.conf (dnsPolicy), /etc/hosts and
// /etc/hostname.

/** The variables of one Service (pkg/kubelet/envvars.FromServices): {SVC}_SERVICE_HOST, docker links. */
export function serviceEnv(svc: any): Record<string, string> {
    const ip = svc?.spec?.clusterIP;
    if (!ip || ip === "None") return {};
    const name = String(svc.metadata.name).toUpperCase().replace(/-/g, "_");
    const ports: any[] = svc.spec.ports ?? [];
    const env: Record<string, string> = { [`${name}_SERVICE_HOST`]: ip };
    if (ports.length === 0) return env;
    env[`${name}_SERVICE_PORT`] = String(ports[0].port);
    for (const p of ports) if (p.name) env[`${name}_SERVICE_PORT_${String(p.name).toUpperCase().replace(/-/g, "_")}`] = String(p.port);
    // the docker links
    const proto = (p: any) => String(p.protocol ?? "TCP").toLowerCase();
    env[`${name}_PORT`] = `${proto(ports[0])}://${ip}:${ports[0].port}`;
    for (const p of ports) {
        const prefix = `${name}_PORT_${p.port}_${proto(p).toUpperCase()}`;
        env[prefix] = `${proto(p)}://${ip}:${p.port}`;
        env[`${prefix}_PROTO`] = proto(p);
        env[`${prefix}_PORT`] = String(p.port);
        env[`${prefix}_ADDR`] = ip;
    }
    return env;
}

/** The Services' variables as the kubelet builds them: the pod's namespace's, and the master Service "kubernetes" of default. */
export function servicesEnv(podNamespace: string, services: any[]): Record<string, string> {
    const env: Record<string, string> = {};
    for (const s of services) {
        const ns = s?.metadata?.namespace;
        if (ns === podNamespace || (ns === "default" && s.metadata.name === "kubernetes")) Object.assign(env, serviceEnv(s));
    }
    return env;
}

/** $(VAR) references expanded as the kubelet does (pkg/kubelet/container.ExpandContainerCommandAndArgs); $$ is a literal $. */
export function expand(s: string, env: Record<string, string>): string {
    return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name?: string) => {
        if (m === "$$") return "$";
        return name !== undefined && name in env ? env[name] : m;
    });
}

/** The pod's fields a fieldRef may name. */
export function podFields(pod: any, nodeName: string, hostIP: string, podIP: string): Record<string, string> {
    const f: Record<string, string> = {
        "metadata.name": pod.metadata.name,
        "metadata.namespace": pod.metadata.namespace,
        "metadata.uid": pod.metadata.uid,
        "spec.nodeName": nodeName,
        "spec.serviceAccountName": pod.spec?.serviceAccountName ?? "default",
        "status.hostIP": hostIP,
        "status.podIP": podIP,
    };
    for (const [k, v] of Object.entries<string>(pod.metadata.labels ?? {})) f[`metadata.labels['${k}']`] = v;
    for (const [k, v] of Object.entries<string>(pod.metadata.annotations ?? {})) f[`metadata.annotations['${k}']`] = v;
    return f;
}

export interface DnsOptions {
    clusterDNS: string[];
    clusterDomain: string;
    /** the host's /etc/resolv.conf */
    hostResolv: string;
}

/**
 * The pod's /etc/resolv.conf (pkg/kubelet/network/dns in 1.9): ClusterFirst (the default) is the
 * cluster DNS with the pod's search path before the host's, ndots 5, unless the pod is on the
 * host network (then Default, as 1.9 does without ClusterFirstWithHostNet); Default is the host's file.
 */
export function resolvConf(pod: any, o: DnsOptions): string {
    const policy = pod.spec?.dnsPolicy ?? "ClusterFirst";
    const clusterFirst = policy === "ClusterFirstWithHostNet" || (policy === "ClusterFirst" && !pod.spec?.hostNetwork);
    if (!clusterFirst || o.clusterDNS.length === 0 || !o.clusterDomain) return o.hostResolv;
    const hostSearch = o.hostResolv
        .split("\n")
        .filter((l) => /^\s*search\s/.test(l))
        .flatMap((l) => l.trim().split(/\s+/).slice(1));
    const d = o.clusterDomain.replace(/\.$/, "");
    const search = [`${pod.metadata.namespace}.svc.${d}`, `svc.${d}`, d, ...hostSearch].slice(0, 6);
    return [...o.clusterDNS.map((s) => `nameserver ${s}`), `search ${search.join(" ")}`, "options ndots:5", ""].join("\n");
}

/** The kubelet-managed /etc/hosts of a pod that is not on the host network. */
export function hostsFile(pod: any, podIP: string): string {
    const name = pod.spec?.hostname ?? pod.metadata.name;
    const lines = [
        "# Kubernetes-managed hosts file.",
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "fe00::0\tip6-localnet",
        "fe00::0\tip6-mcastprefix",
        "fe00::1\tip6-allnodes",
        "fe00::2\tip6-allrouters",
        `${podIP}\t${name}`,
    ];
    for (const h of (pod.spec?.hostAliases ?? []) as any[]) lines.push(`${h.ip}\t${((h.hostnames ?? []) as string[]).join("\t")}`);
    return lines.join("\n") + "\n";
}
