// The images the kubelet stand-in can run. There is no image registry and no container runtime
// here, so an "image" is what the lab built of it: the image's own program(s), built from the
// project's release source (harness/kubernetes.sh, harness/dataplane.sh), put at the path the
// image has them, on a root filesystem that is otherwise the host's /usr (container-run.sh). The
// container's command and args are run as the pod spec says (or the image's entrypoint, when the
// spec gives none), unchanged. A container of any other image is only reported running: its pod
// still gets its network (a real namespace and address), but nothing runs in it, and the node
// says so (event NoContainerRun).
import * as path from "node:path";

export interface Image {
    /** for the log and the pod's events */
    what: string;
    /** the image's ENTRYPOINT, used when the container has no command */
    entrypoint: string[];
    /** the image's programs: path in the image → file of the lab's build (a key of the bin dirs, see `ImageDirs`) */
    files: Record<string, { dir: keyof ImageDirs; name: string }>;
}

/** Where the lab's builds are. */
export interface ImageDirs {
    /** Kubernetes 1.9.4 (harness/kubernetes.sh): kube-proxy */
    k8s?: string;
    /** the post's data plane (harness/dataplane.sh): flanneld, kube-dns, KubeVirt, ... */
    dataplane?: string;
    /** the repository's harness/ folder (files the lab writes for an image: templates, scripts); always this repository's */
    harness?: string;
}

const HARNESS = path.resolve(__dirname, "..", "..");

const dp = (name: string) => ({ dir: "dataplane" as const, name });
/** a file or folder of the repository's harness/, by its path there */
export const harnessFile = (name: string) => ({ dir: "harness" as const, name });
const k8s = (name: string) => ({ dir: "k8s" as const, name });

export const IMAGES: Record<string, Image> = {
    // kube-flannel.yml v0.9.1: the install-cni init container (cp, the image's busybox) and flanneld.
    "quay.io/coreos/flannel:v0.9.1-amd64": {
        what: "flanneld v0.9.1",
        entrypoint: ["/opt/bin/flanneld"],
        files: { "/opt/bin/flanneld": dp("flanneld") },
    },
    // kubeadm 1.9.4's kube-proxy DaemonSet: /usr/local/bin/kube-proxy --config=/var/lib/kube-proxy/config.conf
    "gcr.io/google_containers/kube-proxy-amd64:v1.9.4": {
        what: "kube-proxy v1.9.4",
        entrypoint: ["/usr/local/bin/kube-proxy"],
        // its iptables-restore: the host's, through a wrapper that spells kube-proxy 1.9's wait flag
        // as iptables 1.8 takes it (harness/images/kube-proxy/iptables-restore says why)
        files: {
            "/usr/local/bin/kube-proxy": k8s("kube-proxy"),
            "/usr/local/sbin/iptables-restore": harnessFile("images/kube-proxy/iptables-restore"),
        },
    },
    // kubeadm 1.9.4's kube-dns Deployment: three containers, args only (the images' entrypoints).
    "gcr.io/google_containers/k8s-dns-kube-dns-amd64:1.14.7": {
        what: "kube-dns 1.14.7",
        entrypoint: ["/kube-dns"],
        files: { "/kube-dns": dp("kube-dns") },
    },
    // its dnsmasq is the host's (Debian's /usr/sbin/dnsmasq), where the image had Alpine's
    "gcr.io/google_containers/k8s-dns-dnsmasq-nanny-amd64:1.14.7": {
        what: "dnsmasq-nanny 1.14.7 (with Debian's dnsmasq)",
        entrypoint: ["/dnsmasq-nanny"],
        files: { "/dnsmasq-nanny": dp("dnsmasq-nanny") },
    },
    "gcr.io/google_containers/k8s-dns-sidecar-amd64:1.14.7": {
        what: "k8s-dns-sidecar 1.14.7",
        entrypoint: ["/sidecar"],
        files: { "/sidecar": dp("sidecar") },
    },
    // kubevirt.yaml v0.4.1
    "kubevirt/virt-controller:v0.4.1": {
        what: "KubeVirt v0.4.1 virt-controller",
        entrypoint: ["/virt-controller"],
        files: { "/virt-controller": dp("virt-controller") },
    },
    // the DaemonSet's /virt-handler -v 3 --hostname-override $(NODE_NAME): privileged, hostPID, the
    // launchers' sockets in /var/run/kubevirt (a hostPath)
    "kubevirt/virt-handler:v0.4.1": {
        what: "KubeVirt v0.4.1 virt-handler",
        entrypoint: ["/virt-handler"],
        files: { "/virt-handler": dp("virt-handler") },
    },
    "kubevirt/virt-api:v0.4.1": {
        what: "KubeVirt v0.4.1 virt-api",
        entrypoint: ["/virt-api"],
        files: { "/virt-api": dp("virt-api") },
    },
    // virt-controller 0.4.1's virt-launcher-<vm>-xxxxx pods: container "compute" runs /entrypoint.sh
    // with 0.4.1's flags. The lab's launcher (harness/standins/virt-launcher): KubeVirt's own code
    // with a guest made of namespaces in place of libvirt, QEMU and the Fedora cloud image, whose
    // files (root script, sshd_config, units) are the repository's.
    "kubevirt/virt-launcher:v0.4.1": {
        what: "KubeVirt v0.4.1 virt-launcher (the lab's: a guest of namespaces in place of libvirt and QEMU)",
        entrypoint: ["/entrypoint.sh"],
        files: {
            "/entrypoint.sh": dp("virt-launcher"),
            "/usr/local/libexec/virt-launcher-lab": harnessFile("standins/virt-launcher/guest"),
            // what the post's dnf installs put in the VMs (harness/app-stage.sh: mongod on FerretDB,
            // mongo, their unit, user and files), laid in the guest by guest-root.sh
            "/usr/local/libexec/virt-launcher-lab-packages": dp("guest-packages"),
        },
    },
    // ingress-nginx 0.13.0 (with-rbac.yaml: args only, starting with /nginx-ingress-controller).
    // The image's ENTRYPOINT is dumb-init (Debian's, from the host's /usr); /kubevirt-lab/init
    // runs before it and lays what the image's writable layers had (harness/images/README.md).
    // Its nginx is Debian's /usr/sbin/nginx with Debian's modules and the lab's VTS; the
    // template is 0.13.0's, fitted to Debian's nginx (harness/images/ingress-nginx/).
    "quay.io/kubernetes-ingress-controller/nginx-ingress-controller:0.13.0": {
        what: "ingress-nginx 0.13.0 controller (with Debian's nginx 1.22.1 and the lab's VTS module)",
        entrypoint: ["/kubevirt-lab/init", "/usr/bin/dumb-init"],
        files: {
            "/nginx-ingress-controller": dp("nginx-ingress-controller"),
            "/etc/nginx/template": dp("ingress-nginx-image/etc/nginx/template"),
            "/etc/nginx/lua": dp("ingress-nginx-image/etc/nginx/lua"),
            "/etc/nginx/geoip": dp("ingress-nginx-image/etc/nginx/geoip"),
            "/etc/nginx/modules/ngx_http_vhost_traffic_status_module.so": dp("nginx-modules/ngx_http_vhost_traffic_status_module.so"),
            "/ingress-controller/clean-nginx-conf.sh": dp("ingress-nginx-image/ingress-controller/clean-nginx-conf.sh"),
            "/ingress-controller/indent.sh": dp("ingress-nginx-image/ingress-controller/indent.sh"),
            "/kubevirt-lab/nginx.conf": dp("ingress-nginx-image/etc/nginx/nginx.conf"),
            "/kubevirt-lab/init": harnessFile("images/ingress-nginx/init.sh"),
        },
    },
    // default-backend.yaml: no command nor args. The image (images/404-server of ingress-nginx
    // 0.13.0's tree, TAG 1.4) is FROM scratch with USER 65534:65534: setpriv (util-linux, the
    // host's) gives the server that user and group, as the runtime would.
    "gcr.io/google_containers/defaultbackend:1.4": {
        what: "defaultbackend 1.4 (404-server of ingress-nginx 0.13.0)",
        entrypoint: ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/server"],
        files: { "/server": dp("404-server") },
    },
};

/** The image's files on this machine (image path → local file), or the first one missing. */
export function imageFiles(img: Image, dirs: ImageDirs): { files: Record<string, string> } | { missing: string } {
    const files: Record<string, string> = {};
    for (const [at, f] of Object.entries(img.files)) {
        const dir = f.dir === "harness" ? (dirs.harness ?? HARNESS) : dirs[f.dir];
        if (!dir) return { missing: `${f.name} (no ${f.dir === "k8s" ? "--bin-dir" : "--image-bin-dir"})` };
        files[at] = path.join(dir, f.name);
    }
    return { files };
}

/** The container's command line: its command (else the image's entrypoint) and args. */
export function commandLine(img: Image, c: any): string[] {
    const command: string[] = ((c.command as unknown[] | undefined)?.length ? c.command : img.entrypoint).map(String);
    return [...command, ...((c.args ?? []) as unknown[]).map(String)];
}
