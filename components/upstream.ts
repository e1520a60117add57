// The upstream manifests of the add-ons, fetched from their configured URLs before anything is
// registered: a URL that fails stops the program with nothing touched.
import { AddonSettings } from "./config";
import { K8sObject, fetchManifest } from "./manifests";
import { INGRESS_NGINX_FILES } from "./ingressNginx";

export interface UpstreamManifests {
    kubevirt: K8sObject[];
    skydive: K8sObject[];
    /** ingress-nginx's deploy/ files, concatenated in INGRESS_NGINX_FILES order. */
    ingressNginx: K8sObject[];
}

/** Fetches every add-on manifest, in parallel. */
export async function fetchUpstreamManifests(a: AddonSettings): Promise<UpstreamManifests> {
    const [kubevirt, skydive, ...ingress] = await Promise.all([
        fetchManifest("kubevirtManifestUrl", a.kubevirtManifestUrl),
        fetchManifest("skydiveManifestUrl", a.skydiveManifestUrl),
        ...INGRESS_NGINX_FILES.map((f) => fetchManifest("ingressNginxManifestBaseUrl", `${a.ingressNginxManifestBaseUrl}/${f}`)),
    ]);
    return { kubevirt, skydive, ingressNginx: ingress.flat() };
}
