// ingress-nginx as the post installed it (its ingress.sh): the upstream
// manifests of the pinned release tag, with three changes made in code to the
// parsed objects: vts status on, a third container port http-mgmt 18080, and
// the NodePort Service on fixed ports; plus the nginx-status Ingress.
import * as pulumi from "@pulumi/pulumi";
import { AddonSettings } from "./config";
import { Cluster } from "./cluster";
import { K8sObject, clone, find, labManifest } from "./manifests";
import { PodStatus, applyObjects } from "./k8s";
import { TYPES } from "./types";

export const INGRESS_NAMESPACE = "ingress-nginx";

/** The upstream files under deploy/ of the release tag, in the order the post's ingress.sh applied them. */
export const INGRESS_NGINX_FILES = [
    "namespace.yaml",
    "default-backend.yaml",
    "configmap.yaml",
    "tcp-services-configmap.yaml",
    "udp-services-configmap.yaml",
    "rbac.yaml",
    "with-rbac.yaml",
    "provider/baremetal/service-nodeport.yaml",
] as const;

export const MGMT_PORT = 18080;

/** Applies the post's changes to the upstream objects (copies; the inputs are not touched). */
export function ingressNginxObjects(upstream: K8sObject[], s: AddonSettings, domain: string): K8sObject[] {
    const objs = upstream.map(clone);
    const src = `ingress-nginx ${s.ingressNginxVersion}`;

    // 1. vts status page on.
    const cm = find(objs, "ConfigMap", "nginx-configuration", src);
    cm.data = { ...(cm.data ?? {}), "enable-vts-status": "true" };

    // 2. The controller: the pinned image and a third container port http-mgmt 18080 beside http and https.
    const deployment = find(objs, "Deployment", "nginx-ingress-controller", src);
    const container = deployment.spec?.template?.spec?.containers?.[0];
    if (!container) throw new Error(`${src}: Deployment/nginx-ingress-controller has no container`);
    container.image = s.ingressNginxControllerImage;
    const ports: Array<{ name: string; containerPort: number }> = (container.ports ?? []).filter(
        (p: { name?: string }) => p.name !== "http-mgmt",
    );
    container.ports = [...ports, { name: "http-mgmt", containerPort: MGMT_PORT }];

    // 3. The Service on fixed NodePorts.
    const service = find(objs, "Service", "ingress-nginx", src);
    service.spec = {
        ...service.spec,
        type: "NodePort",
        selector: { app: "ingress-nginx" },
        ports: [
            { name: "http", port: 80, targetPort: 80, nodePort: s.ingressHttpNodePort, protocol: "TCP" },
            { name: "https", port: 443, targetPort: 443, nodePort: s.ingressHttpsNodePort, protocol: "TCP" },
            { name: "http-mgmt", port: MGMT_PORT, targetPort: MGMT_PORT, nodePort: s.ingressMgmtNodePort, protocol: "TCP" },
        ],
    };

    const status = clone(labManifest("nginx-status-ingress.yaml")[0]);
    status.spec.rules[0].host = `mgmt.ingress.${domain}`;
    return [...objs, status];
}

export interface IngressNginxArgs {
    /** The parsed upstream files, concatenated in INGRESS_NGINX_FILES order. */
    objs: K8sObject[];
    settings: AddonSettings;
    domain: string;
    cluster: Cluster;
}

export class IngressNginx extends pulumi.ComponentResource {
    /** Done when the controller is ready. */
    public readonly ready: pulumi.Resource;
    /** The ready controller pod; DNS points the ingress wildcard at its node. */
    public readonly controller: pulumi.Output<PodStatus>;
    /** The NodePorts of the ingress-nginx Service: http, https and http-mgmt (vts status). */
    public readonly httpNodePort: number;
    public readonly httpsNodePort: number;
    public readonly mgmtNodePort: number;

    constructor(name: string, args: IngressNginxArgs, opts?: pulumi.ComponentResourceOptions) {
        super(TYPES.ingressNginx, name, {}, opts);
        const s = args.settings;
        const objects = applyObjects(
            name,
            ingressNginxObjects(args.objs, s, args.domain),
            { parent: this, provider: args.cluster.provider },
            args.cluster,
        );
        const wait = args.cluster.waitForPods(
            `${name}-controller-ready`,
            { namespace: INGRESS_NAMESPACE, selector: "app=ingress-nginx", minReady: 1, timeoutSeconds: s.addonReadyTimeoutSeconds },
            { parent: this, dependsOn: objects },
        );
        this.ready = wait.step;
        this.controller = wait.first;
        this.httpNodePort = s.ingressHttpNodePort;
        this.httpsNodePort = s.ingressHttpsNodePort;
        this.mgmtNodePort = s.ingressMgmtNodePort;
        this.registerOutputs({
            controller: this.controller,
            httpNodePort: this.httpNodePort,
            httpsNodePort: this.httpsNodePort,
            mgmtNodePort: this.mgmtNodePort,
        });
    }
}
