// What the kubelet stand-in gives a pod besides its programs, against what the 1.9 kubelet gives:
// the Services' variables (pkg/kubelet/envvars), $(VAR) expansion, resolv.conf per dnsPolicy,
// the kubelet-managed /etc/hosts, and the CNI network it picks (pkg/kubelet/network/cni).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { defaultNetwork, resultIP } from "../harness/standins/kubelet/cni";
import { expand, hostsFile, resolvConf, serviceEnv, servicesEnv } from "../harness/standins/kubelet/podenv";

const svc = (ns: string, name: string, ip: string, ports: any[]) => ({ metadata: { namespace: ns, name }, spec: { clusterIP: ip, ports } });

describe("kubelet stand-in: a pod's environment and files", () => {
    it("a Service's variables are the kubelet's, docker links included", () => {
        const env = serviceEnv(svc("nodejs-ex", "mongodb", "10.108.188.170", [{ port: 27017, protocol: "TCP" }]));
        assert.deepEqual(env, {
            MONGODB_SERVICE_HOST: "10.108.188.170",
            MONGODB_SERVICE_PORT: "27017",
            MONGODB_PORT: "tcp://10.108.188.170:27017",
            MONGODB_PORT_27017_TCP: "tcp://10.108.188.170:27017",
            MONGODB_PORT_27017_TCP_PROTO: "tcp",
            MONGODB_PORT_27017_TCP_PORT: "27017",
            MONGODB_PORT_27017_TCP_ADDR: "10.108.188.170",
        });
        const named = serviceEnv(svc("ingress-nginx", "ingress-nginx", "10.110.173.97", [{ name: "http-mgmt", port: 18080 }]));
        assert.equal(named.INGRESS_NGINX_SERVICE_PORT_HTTP_MGMT, "18080");
        assert.deepEqual(serviceEnv({ metadata: { name: "h" }, spec: { clusterIP: "None", ports: [] } }), {});
    });

    it("only the pod's namespace's Services and the master Service become variables", () => {
        const env = servicesEnv("nodejs-ex", [
            svc("default", "kubernetes", "10.96.0.1", [{ name: "https", port: 443 }]),
            svc("default", "other", "10.96.0.9", [{ port: 80 }]),
            svc("nodejs-ex", "nodejs", "10.110.233.114", [{ port: 8080 }]),
            svc("kube-system", "kube-dns", "10.96.0.10", [{ name: "dns", port: 53, protocol: "UDP" }]),
        ]);
        assert.equal(env.KUBERNETES_SERVICE_HOST, "10.96.0.1");
        assert.equal(env.KUBERNETES_SERVICE_PORT, "443");
        assert.equal(env.NODEJS_SERVICE_HOST, "10.110.233.114");
        assert.equal(env.OTHER_SERVICE_HOST, undefined);
        assert.equal(env.KUBE_DNS_SERVICE_HOST, undefined);
    });

    it("$(VAR) is expanded from the container's variables, $$ is a $, unknown ones stay", () => {
        assert.equal(expand("--server=$(HOST):$(PORT) $$(HOST) $(NOPE)", { HOST: "a", PORT: "1" }), "--server=a:1 $(HOST) $(NOPE)");
    });

    const hostResolv = "search virtomation.com\nnameserver 172.31.50.2\n";
    const pod = (spec: any = {}) => ({ metadata: { name: "virt-launcher-nodejs-5r59c", namespace: "nodejs-ex" }, spec });
    it("ClusterFirst: the cluster DNS, the pod's search path before the host's, ndots 5 (the post's VM resolv.conf comes from it)", () => {
        const o = { clusterDNS: ["10.96.0.10"], clusterDomain: "cluster.local", hostResolv };
        assert.equal(
            resolvConf(pod(), o),
            "nameserver 10.96.0.10\nsearch nodejs-ex.svc.cluster.local svc.cluster.local cluster.local virtomation.com\noptions ndots:5\n",
        );
        // on the host network ClusterFirst falls back to the host's file (1.9), unless ClusterFirstWithHostNet
        assert.equal(resolvConf(pod({ hostNetwork: true }), o), hostResolv);
        assert.match(resolvConf(pod({ hostNetwork: true, dnsPolicy: "ClusterFirstWithHostNet" }), o), /^nameserver 10\.96\.0\.10$/m);
        assert.equal(resolvConf(pod({ dnsPolicy: "Default" }), o), hostResolv);
    });

    it("the kubelet-managed hosts file names the pod at its address", () => {
        const text = hostsFile(pod(), "10.244.1.8");
        assert.match(text, /^# Kubernetes-managed hosts file\.\n127\.0\.0\.1\tlocalhost\n/);
        assert.match(text, /\n10\.244\.1\.8\tvirt-launcher-nodejs-5r59c\n$/);
    });
});

describe("kubelet stand-in: the CNI network it picks", () => {
    it("the first file in sorted order with a type; conflists by their plugins; others skipped", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-cni-"));
        try {
            assert.equal(defaultNetwork(dir), undefined);
            fs.writeFileSync(path.join(dir, "99-other.conf"), JSON.stringify({ name: "other", type: "bridge" }));
            fs.writeFileSync(path.join(dir, "05-broken.conf"), "{");
            fs.writeFileSync(path.join(dir, "07-notype.conf"), JSON.stringify({ name: "x" }));
            fs.writeFileSync(path.join(dir, "README"), "not a configuration");
            // kube-flannel.yml v0.9.1's cni-conf.json, as its install-cni container copies it
            fs.writeFileSync(
                path.join(dir, "10-flannel.conf"),
                '{\n  "name": "cbr0",\n  "type": "flannel",\n  "delegate": {\n    "isDefaultGateway": true\n  }\n}\n',
            );
            const net = defaultNetwork(dir)!;
            assert.equal(path.basename(net.file), "10-flannel.conf");
            assert.equal(net.name, "cbr0");
            assert.equal(net.cniVersion, "");
            assert.deepEqual(net.plugins, [{ name: "cbr0", type: "flannel", delegate: { isDefaultGateway: true } }]);
            fs.writeFileSync(
                path.join(dir, "00-list.conflist"),
                JSON.stringify({ name: "l", cniVersion: "0.3.1", plugins: [{ type: "bridge" }, { type: "portmap" }] }),
            );
            assert.equal(defaultNetwork(dir)!.plugins.length, 2);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("the pod's address from a result of CNI 0.2 and 0.3", () => {
        assert.equal(resultIP({ ip4: { ip: "10.244.1.2/24", gateway: "10.244.1.1" } }), "10.244.1.2");
        assert.equal(resultIP({ cniVersion: "0.3.1", ips: [{ version: "4", address: "10.244.2.7/24" }] }), "10.244.2.7");
        assert.equal(resultIP({}), undefined);
    });
});
