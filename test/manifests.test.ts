// The post's changes applied to upstream objects, on the local stand-in manifests.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { fetchManifest, labManifest, parseManifest } from "../components/manifests";
import { INGRESS_NGINX_FILES, ingressNginxObjects } from "../components/ingressNginx";
import { skydiveObjects } from "../components/skydive";
import { cloudInitUserData, workloadObjects } from "../components/workload";
import { parsePodLines } from "../components/k8s";
import { kubevirtReadiness } from "../components/kubevirt";
import { parseConfig } from "../components/config";
import { FIXTURE_URLS, TEST_PUBLIC_KEY, sourceOf, stackConfig } from "./lib/stack";

const cfg = (o: Record<string, unknown> = {}) => parseConfig(sourceOf(stackConfig("dev", o)));

async function ingressUpstream() {
    const parts = await Promise.all(
        INGRESS_NGINX_FILES.map((f) => fetchManifest("ingressNginxManifestBaseUrl", `${FIXTURE_URLS.ingressNginxManifestBaseUrl}/${f}`)),
    );
    return parts.flat();
}

describe("ingress-nginx: the post's three changes", () => {
    it("turns vts status on, adds http-mgmt 18080, and puts the Service on NodePorts 30000/30443/32000", async () => {
        const upstream = await ingressUpstream();
        const before = JSON.stringify(upstream);
        const objs = ingressNginxObjects(upstream, cfg().addons, "virtomation.com");
        assert.equal(JSON.stringify(upstream), before, "the parsed upstream objects are not modified");

        const cm = objs.find((o) => o.kind === "ConfigMap" && o.metadata.name === "nginx-configuration")!;
        assert.deepEqual(cm.data, { "enable-vts-status": "true" });

        const dep = objs.find((o) => o.kind === "Deployment" && o.metadata.name === "nginx-ingress-controller")!;
        const c = dep.spec.template.spec.containers[0];
        assert.equal(c.image, "quay.io/kubernetes-ingress-controller/nginx-ingress-controller:0.13.0");
        assert.deepEqual(c.ports, [
            { name: "http", containerPort: 80 },
            { name: "https", containerPort: 443 },
            { name: "http-mgmt", containerPort: 18080 },
        ]);
        assert.ok(c.args.includes("--configmap=$(POD_NAMESPACE)/nginx-configuration"));
        assert.ok(c.args.includes("--annotations-prefix=nginx.ingress.kubernetes.io"));

        const svc = objs.find((o) => o.kind === "Service" && o.metadata.name === "ingress-nginx")!;
        assert.equal(svc.spec.type, "NodePort");
        assert.deepEqual(svc.spec.selector, { app: "ingress-nginx" });
        assert.deepEqual(
            svc.spec.ports.map((p: any) => [p.name, p.port, p.targetPort, p.nodePort]),
            [
                ["http", 80, 80, 30000],
                ["https", 443, 443, 30443],
                ["http-mgmt", 18080, 18080, 32000],
            ],
        );

        const status = objs.find((o) => o.kind === "Ingress" && o.metadata.name === "nginx-status")!;
        assert.equal(status.metadata.namespace, "ingress-nginx");
        assert.deepEqual(status.spec.rules, [
            {
                host: "mgmt.ingress.virtomation.com",
                http: { paths: [{ path: "/nginx_status", backend: { serviceName: "ingress-nginx", servicePort: 18080 } }] },
            },
        ]);
        assert.deepEqual(objs.map((o) => `${o.kind}/${o.metadata.name}`).sort(), [
            "ClusterRole/nginx-ingress-clusterrole",
            "ClusterRoleBinding/nginx-ingress-clusterrole-nisa-binding",
            "ConfigMap/nginx-configuration",
            "ConfigMap/tcp-services",
            "ConfigMap/udp-services",
            "Deployment/default-http-backend",
            "Deployment/nginx-ingress-controller",
            "Ingress/nginx-status",
            "Namespace/ingress-nginx",
            "Service/default-http-backend",
            "Service/ingress-nginx",
            "ServiceAccount/nginx-ingress-serviceaccount",
        ]);
    });

    it("follows the settings: other NodePorts, another domain and image", async () => {
        const s = cfg({
            ingressHttpNodePort: 31000,
            ingressHttpsNodePort: 31443,
            ingressMgmtNodePort: 31800,
            ingressNginxControllerImage: "mirror.lab:5000/nginx-ingress-controller:0.13.0",
        }).addons;
        const objs = ingressNginxObjects(await ingressUpstream(), s, "lab.example.org");
        const svc = objs.find((o) => o.kind === "Service" && o.metadata.name === "ingress-nginx")!;
        assert.deepEqual(
            svc.spec.ports.map((p: any) => p.nodePort),
            [31000, 31443, 31800],
        );
        assert.equal(objs.find((o) => o.kind === "Ingress")!.spec.rules[0].host, "mgmt.ingress.lab.example.org");
        assert.equal(
            objs.find((o) => o.metadata.name === "nginx-ingress-controller")!.spec.template.spec.containers[0].image,
            "mirror.lab:5000/nginx-ingress-controller:0.13.0",
        );
    });

    it("names what is missing when upstream changes shape", async () => {
        const upstream = (await ingressUpstream()).filter((o) => o.kind !== "ConfigMap");
        assert.throws(
            () => ingressNginxObjects(upstream, cfg().addons, "virtomation.com"),
            /ingress-nginx 0\.13\.0: no ConfigMap\/nginx-configuration in the manifest \(it has: /,
        );
    });
});

describe("skydive", () => {
    it("lives in namespace skydive with its Ingress skydive.ingress.<domain> → skydive-analyzer:8082", async () => {
        const objs = skydiveObjects(await fetchManifest("skydiveManifestUrl", FIXTURE_URLS.skydiveManifestUrl), "virtomation.com");
        assert.deepEqual(objs[0], { apiVersion: "v1", kind: "Namespace", metadata: { name: "skydive" } });
        for (const o of objs.filter((x) => !["Namespace", "ClusterRoleBinding"].includes(x.kind)))
            assert.equal(o.metadata.namespace, "skydive", `${o.kind}/${o.metadata.name}`);
        const crb = objs.find((o) => o.kind === "ClusterRoleBinding")!;
        assert.equal(crb.metadata.namespace, undefined);
        assert.equal(crb.subjects[0].namespace, "skydive", "the view role is bound to the account where it lives");
        const ing = objs.find((o) => o.kind === "Ingress")!;
        assert.deepEqual(ing.spec.rules, [
            {
                host: "skydive.ingress.virtomation.com",
                http: { paths: [{ backend: { serviceName: "skydive-analyzer", servicePort: 8082 } }] },
            },
        ]);
    });
});

describe("workload", () => {
    it("builds the post's VMs, pinned, with cloud-init built from the operator's key", () => {
        const { vms, services, ingress } = workloadObjects(cfg().workload, "virtomation.com");
        assert.deepEqual(
            vms.map((v) => v.metadata.name),
            ["nodejs", "mongodb"],
        );
        for (const vm of vms) {
            assert.equal(vm.apiVersion, "kubevirt.io/v1alpha1");
            assert.equal(vm.kind, "OfflineVirtualMachine");
            assert.equal(vm.metadata.namespace, "nodejs-ex");
            assert.equal(vm.spec.running, true);
            const t = vm.spec.template.spec;
            assert.deepEqual(t.domain.cpu, { cores: 2 });
            assert.deepEqual(t.domain.resources, { requests: { memory: "1024M" } });
            assert.deepEqual(t.domain.machine, { type: "q35" });
            assert.deepEqual(
                t.domain.devices.disks.map((d) => [d.name, d.disk.bus]),
                [
                    ["disk0", "virtio"],
                    ["cloudinitdisk", "virtio"],
                ],
            );
            assert.equal(t.volumes[0].registryDisk?.image, "kubevirt/fedora-cloud-registry-disk-demo");
            const userData = Buffer.from(t.volumes[1].cloudInitNoCloud!.userDataBase64, "base64").toString();
            assert.equal(userData, `#cloud-config\nssh_pwauth: True\ndisable_root: false\nssh_authorized_keys:\n- ${TEST_PUBLIC_KEY}\n`);
        }
        assert.deepEqual(vms[0].spec.template.spec.nodeSelector, { "kubernetes.io/hostname": "kn1.virtomation.com" });
        assert.deepEqual(vms[1].spec.template.spec.nodeSelector, { "kubernetes.io/hostname": "kn2.virtomation.com" });
        const byName = Object.fromEntries(services.map((s) => [s.metadata.name, s]));
        const launcher = (vm: string) => ({ "kubevirt.io": "virt-launcher", "kubevirt.io/domain": vm });
        assert.deepEqual(byName.mongodb.spec, {
            selector: launcher("mongodb"),
            ports: [{ protocol: "TCP", port: 27017, targetPort: 27017 }],
        });
        assert.deepEqual(byName.nodejs.spec, { selector: launcher("nodejs"), ports: [{ protocol: "TCP", port: 8080, targetPort: 8080 }] });
        assert.deepEqual(byName["nodejs-ssh"].spec, {
            type: "NodePort",
            selector: launcher("nodejs"),
            ports: [{ protocol: "TCP", nodePort: 30022, port: 22, targetPort: 22 }],
        });
        assert.deepEqual(byName["mongodb-ssh"].spec, {
            type: "NodePort",
            selector: launcher("mongodb"),
            ports: [{ protocol: "TCP", nodePort: 30122, port: 22, targetPort: 22 }],
        });
        assert.deepEqual(ingress.metadata.annotations, { "kubernetes.io/ingress.class": "nginx" });
        assert.deepEqual(ingress.spec.rules, [
            { host: "nodejs.ingress.virtomation.com", http: { paths: [{ backend: { serviceName: "nodejs", servicePort: 8080 } }] } },
        ]);
    });

    it("follows the settings: stopped VMs, other nodes, ports and namespace", () => {
        const three = [1, 2, 3].map((i) => ({ name: `kn${i}.virtomation.com`, address: `172.31.50.${230 + i}` }));
        const { vms, services, ingress } = workloadObjects(
            cfg({ workers: three, vmsRunning: false, nodejsVmNode: "kn3", workloadNamespace: "lab", nodejsSshNodePort: 30999 }).workload,
            "virtomation.com",
        );
        assert.ok(vms.every((v) => v.spec.running === false && v.metadata.namespace === "lab"));
        assert.equal(vms[0].spec.template.spec.nodeSelector!["kubernetes.io/hostname"], "kn3.virtomation.com");
        assert.equal(services.find((s) => s.metadata.name === "nodejs-ssh")!.spec.ports[0].nodePort, 30999);
        assert.equal(ingress.metadata.namespace, "lab");
    });

    it("reads the launcher pod line of wait-pods.sh", () => {
        assert.deepEqual(parsePodLines("virt-launcher-nodejs-5r59c 10.244.1.8 kn1.virtomation.com\n", "VM nodejs"), [
            { pod: "virt-launcher-nodejs-5r59c", ip: "10.244.1.8", node: "kn1.virtomation.com" },
        ]);
        assert.deepEqual(
            parsePodLines("virt-handler-a 10.244.1.3 kn1.virtomation.com\nvirt-handler-b 10.244.2.3 kn2.virtomation.com\n", "handlers").map(
                (p) => p.node,
            ),
            ["kn1.virtomation.com", "kn2.virtomation.com"],
        );
        assert.throws(() => parsePodLines("", "VM nodejs"), /VM nodejs: wait-pods\.sh printed no pod/);
        assert.throws(
            () => parsePodLines("just-a-name\n", "VM nodejs"),
            /VM nodejs: expected "<pod> <ip> <node>" lines from wait-pods\.sh, got "just-a-name\\n"/,
        );
        assert.equal(cloudInitUserData("ssh-ed25519 AAAA x").split("\n")[0], "#cloud-config");
    });

    it("no key can change the cloud-init user data: read as cloud-init reads it (PyYAML's safe_load), it is the key and the post's two settings", () => {
        const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILd030Ykq49QxBdCLTvfR19kgFgpFmAytBtTWRHs3L6K";
        // The setting refuses the control characters (test/settings-domain.test.ts); the YAML stays whole even without that.
        for (const k of [
            `${key} me@host`,
            `${key} runcmd: [touch, /pwned]`,
            `${key} me #not a comment`,
            `${key}\rruncmd: [x]`,
            `${key}\nruncmd: [x]`,
        ]) {
            const r = spawnSync("python3", ["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))"], {
                input: cloudInitUserData(k),
                encoding: "utf8",
            });
            assert.equal(r.status, 0, r.stderr);
            assert.deepEqual(JSON.parse(r.stdout), { ssh_pwauth: true, disable_root: false, ssh_authorized_keys: [k] }, JSON.stringify(k));
        }
        assert.equal(
            cloudInitUserData(`${key} me@host`),
            `#cloud-config\nssh_pwauth: True\ndisable_root: false\nssh_authorized_keys:\n- ${key} me@host\n`,
            "the post's text",
        );
    });
});

describe("manifests", () => {
    it("parses the lab's own files and refuses what is not a Kubernetes object", () => {
        assert.equal(labManifest("nodejs-ex.yaml").length, 5);
        assert.throws(() => parseManifest("foo: bar\n", "x.yaml"), /x\.yaml: a document is not a Kubernetes object/);
        assert.throws(() => parseManifest("a: [\n", "y.yaml"), /y\.yaml: not valid YAML/);
        assert.equal(
            parseManifest("---\n---\nkind: List\napiVersion: v1\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n", "z")
                .length,
            1,
        );
    });

    it("names the setting and URL of a manifest it cannot get", async () => {
        await assert.rejects(
            fetchManifest("kubevirtManifestUrl", "file:///nonexistent/kubevirt.yaml"),
            /^Error: cannot read kubevirtManifestUrl \(file:\/\/\/nonexistent\/kubevirt\.yaml\): ENOENT/,
        );
        // A local HTTP server on loopback answering 404: no retry storm, a clear message.
        const http = await import("node:http");
        let hits = 0;
        const server = http.createServer((_req, res) => {
            hits++;
            res.writeHead(404);
            res.end();
        });
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
        const port = (server.address() as any).port;
        await assert.rejects(
            fetchManifest("skydiveManifestUrl", `http://127.0.0.1:${port}/skydive.yaml`, 2000, 3),
            /cannot fetch skydiveManifestUrl \(http:\/\/127\.0\.0\.1:\d+\/skydive\.yaml\): HTTP 404/,
        );
        assert.equal(hits, 1, "a 404 is not retried");
        server.close();
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-m-"));
        fs.writeFileSync(path.join(dir, "k.yaml"), "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n");
        assert.equal((await fetchManifest("k", `file://${dir}/k.yaml`)).length, 1);
        fs.rmSync(dir, { recursive: true });
    });

    it("waits for a virt-handler per worker", () => {
        assert.deepEqual(kubevirtReadiness(2), [
            ["kubevirt.io=virt-api", 1],
            ["kubevirt.io=virt-controller", 1],
            ["kubevirt.io=virt-handler", 2],
        ]);
    });
});
