// Every setting's domain, exactly: a table of bad values across every setting, each
// refused with its whole message (key, value, what is expected), and the valid values
// that sit at the edges of those domains accepted. The kinds of issue 18 (control
// characters, URLs not written as they are read or with credentials, http where https
// is due, paths out of their folder, special addresses, names twice, ports Kubernetes
// holds, cluster bounds, the Linux argument limit, unknown keys, plain-text secrets)
// and more of each.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LabConfigError, parseConfig } from "../components/config";
import { SETTINGS } from "../components/settings";
import { TEST_PRIVATE_KEY, sourceOf, stackConfig } from "./lib/stack";

const P = "kubevirt-lab";
/** One expected problem: `kubevirt-lab:<at>: got <value as JSON>, expected <what>`. */
const m = (at: string, value: unknown, expected: string) => `${P}:${at}: got ${JSON.stringify(value)}, expected ${expected}`;

const CLEAN = "text without control characters (newline, carriage return, tab, ...) or leading or trailing spaces";
const HOST_ADDRESS = "a unicast IPv4 address such as 172.31.50.221";
const HOST_NAME = "a lower-case DNS name such as km1.virtomation.com";
const special = (kind: string) => `a unicast IPv4 address a host can have, not ${kind}`;
const UNDER_DOMAIN = (short: string) => `a name under the lab's domain virtomation.com (such as ${short}.virtomation.com)`;
const HTTP = (origin: string) =>
    `an https URL (plain http only from an origin listed in plainHttpOrigins, such as a mirror inside the lab's network: ${origin} is not)`;
const CREDENTIALS = "a URL without a user or password in it (credentials do not belong in the stack file or on a command line)";
const READS_AS = (href: string) => `a URL written as it is read (this one reads as ${JSON.stringify(href)})`;
const YUM_URL = "an https or file:// URL of a yum repository";
const REPO_URL = "an https URL of the app's git repository (cloned in the nodejs VM)";
const GIT_REF = "a git branch, tag or commit (letters, digits, . _ / -; no .., //, or trailing . or /)";
const GPG_URL = "an https or file:// URL of a GPG key";
const NODE_PORT = "a NodePort from 30000 to 32767";
const SSH_PORT_RANGE = "a port outside Kubernetes' NodePort range 30000-32767 (kube-proxy takes those on every node)";
const TTL = "a Go duration from 1m to 24h such as 15m, 1h or 1.5h";
const POD_NET = "an IPv4 network like 10.244.0.0/16";
const SVC_SIZE = "a network from /12 (the largest the API server takes) to /28 (kube-dns is its 10th address)";
const DNS_FILE = "a file directly in /etc/dnsmasq.d/ named <name>.conf (letters, digits, _, - and single dots; dnsmasq reads that folder)";
const NAMESPACE = "a Kubernetes namespace name that is not Kubernetes' own (default, kube-*) nor an add-on's (skydive, ingress-nginx)";
const IMAGE_PINNED = "an image reference with a tag or a digest (name:tag, name@sha256:<64 hex digits>)";
const VM_IMAGE = "a container image reference of a KubeVirt registry disk (name[:tag][@sha256:<digest>])";
const SSH_PUBLIC_KEY = 'an OpenSSH public key line such as "ssh-ed25519 AAAA... you@host"';
const HOST_KEY = 'the host\'s SSH public key as ssh-keyscan prints it, such as "ssh-ed25519 AAAA..."';
const PASSWORD = "8 to 128 characters from A-Z a-z 0-9 . _ ~ - (it goes into a mongodb:// URL)";
const PLAIN_SECRET = (k: string) => `a secret: it is in plain text in the stack file; set it with \`pulumi config set --secret ${k}\``;
const EMPTY_SECRET = (k: string) => `a secret that is not empty (\`pulumi config rm ${k}\` leaves it unset)`;
const EACH_ONCE = "each item once";
const DIGEST = `sha256:${"0123456789abcdef".repeat(4)}`;
const ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILd030Ykq49QxBdCLTvfR19kgFgpFmAytBtTWRHs3L6K";

const km1 = { name: "km1.virtomation.com", address: "172.31.50.221" };
const kn1 = { name: "kn1.virtomation.com", address: "172.31.50.231" };
const kn2 = { name: "kn2.virtomation.com", address: "172.31.50.232" };
const dns1 = { name: "dns1.virtomation.com", address: "172.31.50.10" };
const manyWorkers = (n: number) =>
    Array.from({ length: n }, (_, i) => ({
        name: `kn${i + 1}.virtomation.com`,
        address: `172.31.${60 + Math.floor(i / 200)}.${(i % 200) + 1}`,
    }));

interface Row {
    /** Settings changed from the dev stack (keys without the prefix; undefined removes). */
    set: Record<string, unknown>;
    /** The problems, exactly (a RegExp: one problem matching it). */
    want: string | RegExp | string[];
    /** Keys set in plain text though they are secrets. */
    plain?: string[];
}

function problemsOf(set: Record<string, unknown>, plain: string[] = []): string[] {
    try {
        parseConfig(sourceOf(stackConfig("dev", set), plain));
    } catch (e) {
        assert.ok(e instanceof LabConfigError, String(e));
        return e.problems;
    }
    return [];
}

const row = (set: Record<string, unknown>, want: Row["want"], plain?: string[]): Row => ({ set, want, plain });

const BAD: Row[] = [
    // domain
    row(
        { domain: "com" },
        m("domain", "com", "a domain of at least two labels such as virtomation.com (the lab's names are made under it)"),
    ),
    row({ domain: "Virtomation.com" }, m("domain", "Virtomation.com", "a DNS domain such as virtomation.com")),
    row({ domain: "virtomation.com." }, m("domain", "virtomation.com.", "a DNS domain such as virtomation.com")),
    row({ domain: "virtomation.com\n" }, m("domain", "virtomation.com\n", CLEAN)),
    row({ domain: " virtomation.com" }, m("domain", " virtomation.com", CLEAN)),
    row({ domain: "-lab.com" }, m("domain", "-lab.com", "a DNS domain such as virtomation.com")),
    // master, workers, dnsHost: the host objects
    row(
        { master: { ...km1, address: "0.0.0.0" } },
        m("master.address", "0.0.0.0", special("'this network' (0.0.0.0/8, 0.0.0.0 unspecified)")),
    ),
    row({ master: { ...km1, address: "127.0.0.1" } }, m("master.address", "127.0.0.1", special("loopback (127.0.0.0/8)"))),
    row(
        { master: { ...km1, address: "255.255.255.255" } },
        m("master.address", "255.255.255.255", special("reserved (240.0.0.0/4, 255.255.255.255 broadcast)")),
    ),
    row({ master: { ...km1, address: "224.0.0.1" } }, m("master.address", "224.0.0.1", special("multicast (224.0.0.0/4)"))),
    row({ master: { ...km1, address: "169.254.10.1" } }, m("master.address", "169.254.10.1", special("link-local (169.254.0.0/16)"))),
    row({ master: { ...km1, address: "172.31.50.221 " } }, m("master.address", "172.31.50.221 ", CLEAN)),
    row({ master: { ...km1, address: "::1" } }, m("master.address", "::1", HOST_ADDRESS)),
    row({ master: { ...km1, name: "km1.example.org" } }, m("master.name", "km1.example.org", UNDER_DOMAIN("km1"))),
    row(
        { master: { ...km1, name: "km1.ingress.virtomation.com" } },
        m(
            "master.name",
            "km1.ingress.virtomation.com",
            "a name outside ingress.virtomation.com, whose names dnsmasq sends to the ingress controller",
        ),
    ),
    row({ master: { ...km1, name: "km1.virtomation.com\r" } }, m("master.name", "km1.virtomation.com\r", CLEAN)),
    row({ master: { ...km1, name: "KM1.virtomation.com" } }, m("master.name", "KM1.virtomation.com", HOST_NAME)),
    row({ master: { ...km1, hostKey: "ssh-ed25519 AAAA" } }, m("master.hostKey", "ssh-ed25519 AAAA", HOST_KEY)),
    row({ master: { ...km1, hostKey: `${ED25519}\n` } }, m("master.hostKey", `${ED25519}\n`, CLEAN)),
    row({ master: { ...km1, role: "master" } }, m("master.role", "master", "no such field (a host has only name, address and hostKey)")),
    row({ master: "km1" }, m("master", "km1", 'an object {"name": ..., "address": ...}')),
    row(
        { workers: [kn1, { name: "kn1.lab.virtomation.com", address: "172.31.50.232" }], mongodbVmNode: "kn1" },
        m("workers[1].name", "kn1.lab.virtomation.com", "a short name not already used by workers[0]"),
    ),
    row(
        { workers: [kn1, { ...kn2, address: kn1.address }] },
        m("workers[1].address", kn1.address, "an address not already used by workers[0]"),
    ),
    row(
        { workers: [kn1, { ...kn2, address: "0.0.0.0" }] },
        m("workers[1].address", "0.0.0.0", special("'this network' (0.0.0.0/8, 0.0.0.0 unspecified)")),
    ),
    row({ workers: [kn1, { ...kn2, name: "kn2.other.net" }] }, m("workers[1].name", "kn2.other.net", UNDER_DOMAIN("kn2"))),
    row({ workers: [kn1, { ...kn2, name: "kn2\n.virtomation.com" }] }, m("workers[1].name", "kn2\n.virtomation.com", CLEAN)),
    row({ workers: { name: "kn1" } }, m("workers", { name: "kn1" }, 'a list of hosts [{"name": ..., "address": ...}]')),
    row(
        { workers: manyWorkers(300), nodejsVmNode: "kn1", mongodbVmNode: "kn2" },
        m("podNetworkCidr", "10.244.0.0/16", "a network with a /24 for each of the 301 nodes (it holds 256)"),
    ),
    row(
        { dnsHost: { name: "kn1.virtomation.com", address: "172.31.50.10" } },
        m(
            "dnsHost",
            { name: "kn1.virtomation.com", address: "172.31.50.10" },
            "a host that is one of the nodes (the same name and address) or shares neither short name nor address with workers[0]",
        ),
    ),
    row({ dnsHost: { ...dns1, address: "127.0.0.53" } }, m("dnsHost.address", "127.0.0.53", special("loopback (127.0.0.0/8)"))),
    row({ dnsHost: { ...dns1, name: "dns1.example.org" } }, m("dnsHost.name", "dns1.example.org", UNDER_DOMAIN("dns1"))),
    // SSH
    row({ sshUser: "Root" }, m("sshUser", "Root", "a Unix user name such as root")),
    row({ sshUser: "-oProxyCommand=x" }, m("sshUser", "-oProxyCommand=x", "a Unix user name such as root")),
    row({ sshUser: "root\n" }, m("sshUser", "root\n", CLEAN)),
    row({ sshPort: "30022" }, m("sshPort", 30022, SSH_PORT_RANGE)),
    row({ sshPort: "32767" }, m("sshPort", 32767, SSH_PORT_RANGE)),
    row({ sshPort: "6443" }, m("sshPort", 6443, "a port Kubernetes does not use on the nodes (6443 is the API server's)")),
    row({ sshPort: "10250" }, m("sshPort", 10250, "a port Kubernetes does not use on the nodes (10250 is the kubelet's)")),
    row({ sshPort: "2379" }, m("sshPort", 2379, "a port Kubernetes does not use on the nodes (2379 is etcd's)")),
    row({ sshPort: "0" }, m("sshPort", "0", "a whole number from 1 to 65535")),
    row({ sshPort: "65536" }, m("sshPort", "65536", "a whole number from 1 to 65535")),
    row({ sshPort: "22 " }, m("sshPort", "22 ", "a whole number from 1 to 65535")),
    row({ sshPrivateKey: "not a key" }, m("sshPrivateKey", "[secret]", "a PEM or OpenSSH private key (-----BEGIN ... PRIVATE KEY-----)")),
    row({ sshPrivateKey: TEST_PRIVATE_KEY }, m("sshPrivateKey", "[secret]", PLAIN_SECRET("sshPrivateKey")), ["sshPrivateKey"]),
    row({ sshPrivateKey: "" }, m("sshPrivateKey", "", EMPTY_SECRET("sshPrivateKey"))),
    row({ sshPrivateKey: undefined, sshPrivateKeyPath: "~/.ssh/id_rsa\n" }, m("sshPrivateKeyPath", "~/.ssh/id_rsa\n", CLEAN)),
    row(
        { sshPrivateKey: undefined, sshPrivateKeyPath: "/nonexistent/id" },
        m("sshPrivateKeyPath", "/nonexistent/id", "a readable private key file (ENOENT)"),
    ),
    row({ sshDialErrorLimit: "0" }, m("sshDialErrorLimit", "0", "a whole number from 1 to 1000")),
    row({ sshDialErrorLimit: "ten" }, m("sshDialErrorLimit", "ten", "a whole number from 1 to 1000")),
    row({ sshPerDialTimeout: "601" }, m("sshPerDialTimeout", "601", "a whole number from 1 to 600")),
    row({ sshPerDialTimeout: "-5" }, m("sshPerDialTimeout", "-5", "a whole number from 1 to 600")),
    // plainHttpOrigins
    row(
        { plainHttpOrigins: ["https://172.31.50.5"] },
        m(
            "plainHttpOrigins[0]",
            "https://172.31.50.5",
            "http origins such as http://172.31.50.5 (scheme and host, a port if any, nothing else)",
        ),
    ),
    row(
        { plainHttpOrigins: ["http://172.31.50.5/mirror"] },
        m(
            "plainHttpOrigins[0]",
            "http://172.31.50.5/mirror",
            "http origins such as http://172.31.50.5 (scheme and host, a port if any, nothing else)",
        ),
    ),
    row(
        { plainHttpOrigins: ["http://u:p@172.31.50.5"] },
        m(
            "plainHttpOrigins[0]",
            "http://u:p@172.31.50.5",
            "http origins such as http://172.31.50.5 (scheme and host, a port if any, nothing else)",
        ),
    ),
    row(
        { plainHttpOrigins: ["http://172.31.50.5", "http://172.31.50.5"] },
        m("plainHttpOrigins", ["http://172.31.50.5", "http://172.31.50.5"], EACH_ONCE),
    ),
    // yum
    row({ yumRepoBaseUrl: "ftp://mirror.example/k8s" }, m("yumRepoBaseUrl", "ftp://mirror.example/k8s", YUM_URL)),
    row({ yumRepoBaseUrl: "http://mirror.example/k8s" }, m("yumRepoBaseUrl", "http://mirror.example/k8s", HTTP("http://mirror.example"))),
    row(
        { yumRepoBaseUrl: "https://mirror.example/k8s\n[evil]\nbaseurl=https://evil.example/\ngpgcheck=0" },
        m("yumRepoBaseUrl", "https://mirror.example/k8s\n[evil]\nbaseurl=https://evil.example/\ngpgcheck=0", CLEAN),
    ),
    row({ yumRepoBaseUrl: "https://me:pw@mirror.example/k8s" }, m("yumRepoBaseUrl", "https://me:pw@mirror.example/k8s", CREDENTIALS)),
    row(
        { yumRepoBaseUrl: "https://mirror.example/a/../k8s" },
        m("yumRepoBaseUrl", "https://mirror.example/a/../k8s", READS_AS("https://mirror.example/k8s")),
    ),
    row(
        { yumRepoBaseUrl: "https://Mirror.Example/k8s" },
        m("yumRepoBaseUrl", "https://Mirror.Example/k8s", READS_AS("https://mirror.example/k8s")),
    ),
    row(
        { yumRepoBaseUrl: "https://mirror.example/k 8s" },
        m("yumRepoBaseUrl", "https://mirror.example/k 8s", READS_AS("https://mirror.example/k%208s")),
    ),
    row({ yumRepoBaseUrl: "file://mirror/srv/k8s" }, m("yumRepoBaseUrl", "file://mirror/srv/k8s", YUM_URL)),
    row({ yumRepoBaseUrl: "mirror.example/k8s" }, m("yumRepoBaseUrl", "mirror.example/k8s", YUM_URL)),
    row(
        { yumRepoGpgKeys: ["http://mirror.example/key.gpg"] },
        m("yumRepoGpgKeys[0]", "http://mirror.example/key.gpg", HTTP("http://mirror.example")),
    ),
    row(
        { yumRepoGpgKeys: ["https://mirror.example/key.gpg\ngpgcheck=0"] },
        m("yumRepoGpgKeys[0]", "https://mirror.example/key.gpg\ngpgcheck=0", CLEAN),
    ),
    row(
        { yumRepoGpgKeys: ["https://a:b@mirror.example/key.gpg"] },
        m("yumRepoGpgKeys[0]", "https://a:b@mirror.example/key.gpg", CREDENTIALS),
    ),
    row(
        { yumRepoGpgKeys: ["https://k.example/a.gpg", "https://k.example/a.gpg"] },
        m("yumRepoGpgKeys", ["https://k.example/a.gpg", "https://k.example/a.gpg"], EACH_ONCE),
    ),
    row({ yumRepoGpgKeys: [] }, m("yumRepoGpgKeys", [], "at least one GPG key URL (the repo has gpgcheck=1)")),
    row({ yumRepoGpgKeys: ["ftp://k.example/key.gpg"] }, m("yumRepoGpgKeys[0]", "ftp://k.example/key.gpg", GPG_URL)),
    row(
        { yumRepoGpgKeys: "https://k.example/key.gpg" },
        m("yumRepoGpgKeys", "https://k.example/key.gpg", "a list of https or file:// URLs of GPG keys"),
    ),
    row({ yumUpdate: "yes" }, m("yumUpdate", "yes", "true or false")),
    row({ yumUpdate: "TRUE" }, m("yumUpdate", "TRUE", "true or false")),
    row(
        { kubernetesVersion: "1.10.0" },
        m("kubernetesVersion", "1.10.0", "a Kubernetes 1.9 release like 1.9.4 (no leading v; the lab's kubeadm steps are 1.9's)"),
    ),
    row(
        { kubernetesVersion: "1.9" },
        m("kubernetesVersion", "1.9", "a Kubernetes 1.9 release like 1.9.4 (no leading v; the lab's kubeadm steps are 1.9's)"),
    ),
    // packages, storage, sysctl, SELinux
    ...["kubelet", "kubectl-1.10.0", "-y", "a;b"].map((p) =>
        row(
            { extraPackages: ["docker", p] },
            m("extraPackages[1]", p, "yum package names other than kubelet, kubeadm and kubectl (installed at kubernetesVersion)"),
        ),
    ),
    row({ extraPackages: ["git", "git"] }, m("extraPackages", ["git", "git"], EACH_ONCE)),
    row({ extraPackages: ["git\n"] }, m("extraPackages[0]", "git\n", CLEAN)),
    row(
        { extraPackages: Array.from({ length: 20000 }, (_, i) => `package-number-${i}`) },
        /^kubevirt-lab:extraPackages: got \["package-number-0",.*\.\.\. \(20000 items\), expected a list whose command line \(packages\.sh with a --package per item\) stays under Linux's 131072-byte limit for one argument \(it would take about \d+\)$/,
    ),
    ...["/dev/../etc/passwd", "/dev/./vdb", "vdb", "/dev/vdb/"].map((d) =>
        row(
            { dockerStorageDevice: d },
            m("dockerStorageDevice", d, "a block device path like /dev/vdb (no . or .. in it), or none to skip dedicated Docker storage"),
        ),
    ),
    row({ dockerStorageDevice: "/dev/vdb\n" }, m("dockerStorageDevice", "/dev/vdb\n", CLEAN)),
    row({ sysctl: ["net.ipv4.ip_forward=1"] }, m("sysctl[0]", "net.ipv4.ip_forward=1", 'sysctl lines of the form "key = value"')),
    row({ sysctl: ["ip_forward = 1"] }, m("sysctl[0]", "ip_forward = 1", 'sysctl lines of the form "key = value"')),
    row(
        { sysctl: ["net.ipv4.ip_forward = 1\nkernel.core_pattern = |/tmp/x"] },
        m("sysctl[0]", "net.ipv4.ip_forward = 1\nkernel.core_pattern = |/tmp/x", CLEAN),
    ),
    row(
        { sysctl: ["net.ipv4.ip_forward = 1", "net.ipv4.ip_forward = 0"] },
        m("sysctl", ["net.ipv4.ip_forward = 1", "net.ipv4.ip_forward = 0"], "each sysctl key once"),
    ),
    row({ selinux: "off" }, m("selinux", "off", "disabled, permissive or enforcing")),
    row({ selinux: "Disabled" }, m("selinux", "Disabled", "disabled, permissive or enforcing")),
    // networks
    row({ podNetworkCidr: "127.0.0.0/8" }, m("podNetworkCidr", "127.0.0.0/8", "a network that does not overlap loopback (127.0.0.0/8)")),
    row(
        { podNetworkCidr: "169.254.0.0/16" },
        m("podNetworkCidr", "169.254.0.0/16", "a network that does not overlap link-local (169.254.0.0/16)"),
    ),
    row({ podNetworkCidr: "224.0.0.0/16" }, m("podNetworkCidr", "224.0.0.0/16", "a network that does not overlap multicast (224.0.0.0/4)")),
    row(
        { podNetworkCidr: "0.0.0.0/0" },
        m("podNetworkCidr", "0.0.0.0/0", "a network that does not overlap 'this network' (0.0.0.0/8, 0.0.0.0 unspecified)"),
    ),
    row(
        { podNetworkCidr: "10.244.0.0/25" },
        m("podNetworkCidr", "10.244.0.0/25", "a network of /24 or larger (Flannel gives each node a /24)"),
    ),
    row({ podNetworkCidr: "10.244.0.1/16" }, m("podNetworkCidr", "10.244.0.1/16", POD_NET)),
    row({ podNetworkCidr: "10.244.0.0/16\n" }, m("podNetworkCidr", "10.244.0.0/16\n", CLEAN)),
    row({ serviceCidr: "10.96.0.0/32" }, m("serviceCidr", "10.96.0.0/32", SVC_SIZE)),
    row({ serviceCidr: "10.96.0.0/29" }, m("serviceCidr", "10.96.0.0/29", SVC_SIZE)),
    row({ serviceCidr: "10.0.0.0/8" }, m("serviceCidr", "10.0.0.0/8", SVC_SIZE)),
    row({ serviceCidr: "127.96.0.0/12" }, m("serviceCidr", "127.96.0.0/12", "a network that does not overlap loopback (127.0.0.0/8)")),
    row({ serviceCidr: "10.96.0.0" }, m("serviceCidr", "10.96.0.0", "an IPv4 network like 10.96.0.0/12")),
    // Flannel, the join token, kubeadm
    row(
        { flannelManifestUrl: "file:///tmp/kube-flannel.yml" },
        m("flannelManifestUrl", "file:///tmp/kube-flannel.yml", "an https URL of the Flannel manifest (kubectl on the master fetches it)"),
    ),
    row(
        { flannelManifestUrl: "http://mirror.example/kube-flannel.yml" },
        m("flannelManifestUrl", "http://mirror.example/kube-flannel.yml", HTTP("http://mirror.example")),
    ),
    row(
        { flannelManifestUrl: "https://mirror.example/%2e%2e/kube-flannel.yml" },
        m("flannelManifestUrl", "https://mirror.example/%2e%2e/kube-flannel.yml", READS_AS("https://mirror.example/kube-flannel.yml")),
    ),
    ...["999999h", "9999999999999999h", "0s", "30s", "25h", "15 m", "-15m", "15", "1d"].map((t) =>
        row({ joinTokenTtl: t }, m("joinTokenTtl", t, TTL)),
    ),
    row(
        { kubeadmIgnorePreflightErrors: ["Swap,SystemVerification"] },
        m(
            "kubeadmIgnorePreflightErrors[0]",
            "Swap,SystemVerification",
            "names of kubeadm preflight checks such as SystemVerification or FileExisting-iptables, or all",
        ),
    ),
    row({ kubeadmIgnorePreflightErrors: ["Swap", "Swap"] }, m("kubeadmIgnorePreflightErrors", ["Swap", "Swap"], EACH_ONCE)),
    row({ nodeReadyTimeoutSeconds: "5" }, m("nodeReadyTimeoutSeconds", "5", "a whole number from 10 to 7200")),
    row({ stages: ["dns", "dns"], dnsIngressNode: "kn1" }, m("stages", ["dns", "dns"], EACH_ONCE)),
    row({ stages: ["cluster"] }, m("stages[0]", "cluster", "stage names (addons, workload, app, dns)")),
    row({ protect: "yes" }, m("protect", "yes", "true or false")),
    row({ etcdSnapshotDir: "snapshots" }, m("etcdSnapshotDir", "snapshots", "an absolute path (or ~/...) of a directory on this machine")),
    row({ etcdSnapshotDir: "/var/backups/etcd\n" }, m("etcdSnapshotDir", "/var/backups/etcd\n", CLEAN)),
    // add-ons
    row({ kubevirtVersion: "0.4.1" }, m("kubevirtVersion", "0.4.1", "a release tag like v0.4.1")),
    row(
        { kubevirtManifestUrl: "http://github.com/kubevirt/kubevirt.yaml" },
        m("kubevirtManifestUrl", "http://github.com/kubevirt/kubevirt.yaml", HTTP("http://github.com")),
    ),
    row(
        { kubevirtManifestUrl: "https://token:x@github.com/kubevirt.yaml" },
        m("kubevirtManifestUrl", "https://token:x@github.com/kubevirt.yaml", CREDENTIALS),
    ),
    row(
        { kubevirtManifestUrl: "ftp://github.com/kubevirt.yaml" },
        m("kubevirtManifestUrl", "ftp://github.com/kubevirt.yaml", "an https or file:// URL of kubevirt.yaml"),
    ),
    row(
        { skydiveManifestUrl: "https://raw.githubusercontent.com/skydive.yaml\t" },
        m("skydiveManifestUrl", "https://raw.githubusercontent.com/skydive.yaml\t", CLEAN),
    ),
    row(
        { skydiveManifestUrl: "http://raw.githubusercontent.com/skydive.yaml" },
        m("skydiveManifestUrl", "http://raw.githubusercontent.com/skydive.yaml", HTTP("http://raw.githubusercontent.com")),
    ),
    row({ ingressNginxVersion: "v0.13.0" }, m("ingressNginxVersion", "v0.13.0", "a release like 0.13.0 (no leading v)")),
    row(
        { ingressNginxManifestBaseUrl: "https://raw.githubusercontent.com/kubernetes/ingress-nginx/nginx-0.13.0/deploy/" },
        m(
            "ingressNginxManifestBaseUrl",
            "https://raw.githubusercontent.com/kubernetes/ingress-nginx/nginx-0.13.0/deploy/",
            "the folder's URL without a trailing / (its files' names are appended)",
        ),
    ),
    row(
        { ingressNginxManifestBaseUrl: "http://raw.githubusercontent.com/deploy" },
        m("ingressNginxManifestBaseUrl", "http://raw.githubusercontent.com/deploy", HTTP("http://raw.githubusercontent.com")),
    ),
    ...[
        "quay.io/kubernetes-ingress-controller/nginx-ingress-controller",
        "quay.io/x/NGINX:0.13.0",
        "nginx@sha256:abc",
        "nginx:0.13.0 --privileged",
    ].map((i) => row({ ingressNginxControllerImage: i }, m("ingressNginxControllerImage", i, IMAGE_PINNED))),
    ...(
        [
            ["ingressHttpNodePort", "29999"],
            ["ingressHttpsNodePort", "32768"],
            ["ingressMgmtNodePort", "http"],
            ["nodejsSshNodePort", "22"],
        ] as const
    ).map(([k, v]) => row({ [k]: v }, m(k, v, NODE_PORT))),
    row({ ingressMgmtNodePort: "30000" }, m("ingressMgmtNodePort", 30000, "a NodePort not already used by ingressHttpNodePort")),
    row({ mongodbSshNodePort: "30022" }, m("mongodbSshNodePort", 30022, "a NodePort not already used by nodejsSshNodePort")),
    row({ addonReadyTimeoutSeconds: "9" }, m("addonReadyTimeoutSeconds", "9", "a whole number from 10 to 7200")),
    // workload
    ...["kube-system", "default", "skydive", "ingress-nginx", "kube-lab", "Nodejs-ex"].map((n) =>
        row({ workloadNamespace: n }, m("workloadNamespace", n, NAMESPACE)),
    ),
    row({ nodejsVmNode: "kn9" }, m("nodejsVmNode", "kn9", "one of the workers (kn1.virtomation.com, kn2.virtomation.com)")),
    row({ nodejsVmNode: "kn1\n" }, m("nodejsVmNode", "kn1\n", CLEAN)),
    row({ mongodbVmNode: "KN2" }, m("mongodbVmNode", "KN2", "a worker's short or full name")),
    row({ mongodbVmNode: "km1" }, m("mongodbVmNode", "km1", "one of the workers (kn1.virtomation.com, kn2.virtomation.com)")),
    row({ vmsRunning: "1" }, m("vmsRunning", "1", "true or false")),
    row({ vmImage: "Kubevirt/Fedora" }, m("vmImage", "Kubevirt/Fedora", VM_IMAGE)),
    row({ vmImage: "kubevirt/fedora@sha256:abc" }, m("vmImage", "kubevirt/fedora@sha256:abc", VM_IMAGE)),
    row({ vmImage: "kubevirt/fedora\n" }, m("vmImage", "kubevirt/fedora\n", CLEAN)),
    row({ vmSshPublicKey: `${ED25519} me@host\r` }, m("vmSshPublicKey", `${ED25519} me@host\r`, CLEAN)),
    row({ vmSshPublicKey: `${ED25519}\nruncmd: [touch, /pwned]` }, m("vmSshPublicKey", `${ED25519}\nruncmd: [touch, /pwned]`, CLEAN)),
    row({ vmSshPublicKey: "ssh-dss AAAAB3NzaC1kc3M= me@host" }, m("vmSshPublicKey", "ssh-dss AAAAB3NzaC1kc3M= me@host", SSH_PUBLIC_KEY)),
    row(
        { vmSshPublicKey: `ssh-rsa ${ED25519.split(" ")[1]} me@host` },
        m("vmSshPublicKey", `ssh-rsa ${ED25519.split(" ")[1]} me@host`, SSH_PUBLIC_KEY),
    ),
    row(
        { vmSshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI me@host" },
        m("vmSshPublicKey", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI me@host", SSH_PUBLIC_KEY),
    ),
    row({ vmGuestUser: "Fedora" }, m("vmGuestUser", "Fedora", "a Unix user name")),
    // app and DNS
    row({ mongodbPassword: "short" }, m("mongodbPassword", "[secret]", PASSWORD)),
    row({ mongodbPassword: "" }, m("mongodbPassword", "", EMPTY_SECRET("mongodbPassword"))),
    row({ mongodbPassword: "a-long-password" }, m("mongodbPassword", "[secret]", PLAIN_SECRET("mongodbPassword")), ["mongodbPassword"]),
    row({ mongodbAdminPassword: "has space in it" }, m("mongodbAdminPassword", "[secret]", PASSWORD)),
    row({ mongodbAdminPassword: "" }, m("mongodbAdminPassword", "", EMPTY_SECRET("mongodbAdminPassword"))),
    row(
        { appSkipTags: ["always"] },
        m(
            "appSkipTags[0]",
            "always",
            "tags of the Ansible roles (packages, source, config, service, users, skydive_service; `always`, the checks of the settings, cannot be skipped)",
        ),
    ),
    row({ appSkipTags: ["config", "config"] }, m("appSkipTags", ["config", "config"], EACH_ONCE)),
    row({ nodejsRepoUrl: "git@github.com:sclorg/nodejs-ex.git" }, m("nodejsRepoUrl", "git@github.com:sclorg/nodejs-ex.git", REPO_URL)),
    row(
        { nodejsRepoUrl: "http://mirror.example/nodejs-ex" },
        m("nodejsRepoUrl", "http://mirror.example/nodejs-ex", HTTP("http://mirror.example")),
    ),
    row(
        { nodejsRepoUrl: "https://u:token@github.com/sclorg/nodejs-ex" },
        m("nodejsRepoUrl", "https://u:token@github.com/sclorg/nodejs-ex", CREDENTIALS),
    ),
    row(
        { nodejsRepoUrl: "https://github.com/sclorg/{{ lookup('pipe', 'id') }}" },
        m(
            "nodejsRepoUrl",
            "https://github.com/sclorg/{{ lookup('pipe', 'id') }}",
            READS_AS("https://github.com/sclorg/%7B%7B%20lookup('pipe',%20'id')%20%7D%7D"),
        ),
    ),
    ...["-b", "master..dev", "feature//x", "v1.", "refs/", "main.lock", "{{ x }}", "a b", "/abs"].map((v) =>
        row({ nodejsRepoVersion: v }, m("nodejsRepoVersion", v, GIT_REF)),
    ),
    row({ npmRegistryUrl: "registry.npmjs.org" }, m("npmRegistryUrl", "registry.npmjs.org", "an https URL of an npm registry")),
    row({ npmRegistryUrl: "http://172.31.50.5/npm/" }, m("npmRegistryUrl", "http://172.31.50.5/npm/", HTTP("http://172.31.50.5"))),
    ...[
        "/etc/resolv.conf",
        "/etc/dnsmasq.d/../dnsmasq.conf",
        "/etc/dnsmasq.d/../../etc/resolv.conf",
        "/tmp/lab.conf",
        "/etc/dnsmasq.d/.lab.conf",
        "/etc/dnsmasq.d/sub/lab.conf",
        "/etc/dnsmasq.d/lab..conf",
        "/etc/dnsmasq.d/lab.txt",
    ].map((p) => row({ dnsConfigPath: p }, m("dnsConfigPath", p, DNS_FILE))),
    row({ dnsConfigPath: "/etc/dnsmasq.d/lab.conf\n" }, m("dnsConfigPath", "/etc/dnsmasq.d/lab.conf\n", CLEAN)),
    row(
        { dnsIngressNode: "kn7" },
        m("dnsIngressNode", "kn7", "one of the nodes (km1.virtomation.com, kn1.virtomation.com, kn2.virtomation.com)"),
    ),
    row({ dnsIngressNode: "kn1 " }, m("dnsIngressNode", "kn1 ", CLEAN)),
    // keys the lab does not know
    row(
        { sshHostkey: "ssh-ed25519 AAAA" },
        m(
            "sshHostkey",
            "ssh-ed25519 AAAA",
            'sshHostKey (its spelling): no such setting any more: a host\'s key goes in its host object as "hostKey" ({"name": ..., "address": ..., "hostKey": "ssh-ed25519 AAAA..."}); without one, the first pulumi up records each host\'s key',
        ),
    ),
    row(
        { yumRepoBaseURL: "https://m.example/k8s" },
        m(
            "yumRepoBaseURL",
            "https://m.example/k8s",
            "one of the lab's settings: there is no kubevirt-lab:yumRepoBaseURL (the closest is yumRepoBaseUrl)",
        ),
    ),
    row({ workerz: "[]" }, m("workerz", "[]", "one of the lab's settings: there is no kubevirt-lab:workerz (the closest is workers)")),
    row(
        { vmsRuning: "false" },
        m("vmsRuning", "false", "one of the lab's settings: there is no kubevirt-lab:vmsRuning (the closest is vmsRunning)"),
    ),
];

/** Values at the edges of the domains, all accepted. */
const GOOD: Array<Record<string, unknown>> = [
    { joinTokenTtl: "1.5h" },
    { joinTokenTtl: "1h30m" },
    { joinTokenTtl: "24h" },
    { joinTokenTtl: "1m" },
    { yumRepoBaseUrl: "file:///srv/repos/kubernetes-el7-$basearch", yumRepoGpgKeys: ["file:///etc/pki/rpm-gpg/k8s.gpg"] },
    { yumRepoBaseUrl: "http://172.31.50.5/k8s/el7-$basearch", plainHttpOrigins: ["http://172.31.50.5"] },
    { ingressNginxControllerImage: `quay.io/kubernetes-ingress-controller/nginx-ingress-controller@${DIGEST}` },
    { ingressNginxControllerImage: `registry.lab:5000/nginx-ingress-controller:0.13.0@${DIGEST}` },
    { vmImage: `kubevirt/fedora-cloud-registry-disk-demo@${DIGEST}` },
    { vmImage: "registry.lab:5000/kubevirt/fedora-cloud-registry-disk-demo:v0.4.1" },
    { vmSshPublicKey: `${ED25519} me: with a colon # and a hash` },
    { master: { ...km1, hostKey: `${ED25519} root@km1` } },
    { sshPort: "2222" },
    { serviceCidr: "10.96.0.0/28" },
    { podNetworkCidr: "10.128.0.0/9", workers: manyWorkers(300) },
    { dnsConfigPath: "/etc/dnsmasq.d/lab.virtomation.conf" },
    { dnsHost: km1 },
    { workloadNamespace: "lab" },
    { protect: "true", etcdSnapshotDir: "~/lab-snapshots" },
    { kubernetesVersion: "1.9.11" },
    { sshPrivateKey: TEST_PRIVATE_KEY },
    { mongodbPassword: "a-long-password", mongodbAdminPassword: "another.long~password" },
    {
        plainHttpOrigins: ["http://172.31.50.5"],
        nodejsRepoUrl: "http://172.31.50.5/github.com/sclorg/nodejs-ex",
        nodejsRepoVersion: "93fc25f",
        npmRegistryUrl: "http://172.31.50.5/registry.npmjs.org/",
    },
    { nodejsRepoVersion: "release/v1.2_rc-3" },
];

describe("every setting's domain", () => {
    it(`refuses ${BAD.length} bad values, each with its key, value and what is expected`, () => {
        assert.ok(BAD.length >= 120, `${BAD.length} bad values`);
        const failures: string[] = [];
        for (const r of BAD) {
            const got = problemsOf(r.set, r.plain);
            const ok =
                r.want instanceof RegExp
                    ? got.length === 1 && r.want.test(got[0])
                    : JSON.stringify(got) === JSON.stringify(Array.isArray(r.want) ? r.want : [r.want]);
            if (!ok) failures.push(`${JSON.stringify(r.set).slice(0, 160)}\n    want: ${String(r.want)}\n    got:  ${JSON.stringify(got)}`);
        }
        assert.deepEqual(failures, [], `${failures.length} of ${BAD.length} rows:\n${failures.join("\n")}`);
    });

    it("touches every setting", () => {
        const touched = new Set(BAD.flatMap((r) => Object.keys(r.set)));
        const missing = Object.keys(SETTINGS).filter((k) => !touched.has(k));
        assert.deepEqual(missing, [], "settings without a bad value in the table");
    });

    it(`accepts the ${GOOD.length} valid values at the edges`, () => {
        const failures = GOOD.map((set) => [JSON.stringify(set).slice(0, 200), problemsOf(set)] as const).filter(([, p]) => p.length > 0);
        assert.deepEqual(failures, []);
    });

    it("reports every problem of a stack at once", () => {
        const p = problemsOf({ domain: "com", sshPort: "30022", dnsConfigPath: "/etc/resolv.conf", bogus: "1" });
        assert.equal(p.length, 4, p.join("\n"));
    });
});
