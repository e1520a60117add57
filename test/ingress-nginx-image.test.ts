// The lab's images of ingress-nginx 0.13.0 (quay.io/kubernetes-ingress-controller/
// nginx-ingress-controller:0.13.0) and of its default backend (gcr.io/google_containers/
// defaultbackend:1.4), run as the kubelet stand-in runs them (container-run.sh with the files and
// entrypoints of their IMAGES entries), without a cluster: in one network namespace of this run
// (kvl-ingress-test-<pid>, the post's ingress pod address 10.244.1.4 on its loopback, no link out),
// the controller's nginx is driven by ingress-nginx-offline (the controller's own code for its nginx
// steps: the template rendered with the ConfigMap's enable-vts-status and the post's two Ingresses,
// nginx -t, nginx.conf written, nginx -s reload) beside a tiny upstream for nodejs-ex's Service and
// the built default backend. The real controller binary answers --version in its image.
import assert from "node:assert/strict";
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { commandLine, Image, imageFiles, IMAGES } from "../harness/standins/kubelet/images";
import { pollEvery } from "./lib/wait";
/** The shared poll (test/lib/wait.ts), every 200 ms unless told. */
const waitFor = pollEvery(200);

const REPO = path.join(__dirname, "..");
const RUNNER = path.join(REPO, "harness", "standins", "kubelet", "container-run.sh");
const CONTROLLER_IMAGE = "quay.io/kubernetes-ingress-controller/nginx-ingress-controller:0.13.0";
const BACKEND_IMAGE = "gcr.io/google_containers/defaultbackend:1.4";
const CACHE = process.env.KUBEVIRT_LAB_CACHE ?? path.join(os.homedir(), ".cache", "kubevirt-lab");
/** the data plane's builds (harness/dataplane.sh) */
const BIN = process.env.KUBEVIRT_LAB_DATAPLANE_BIN || path.join(CACHE, "dataplane", "bin");
const OFFLINE = path.join(BIN, "ingress-nginx-offline");
const NS = `kvl-ingress-test-${process.pid}`;
/** the post's ingress-nginx pod address (10.244.1.4), here on the loopback of this run's namespace only */
const POD_IP = "10.244.1.4";
const UPSTREAM_PORT = 18500;
const NODEJS_HOST = "nodejs.ingress.virtomation.com";
const MGMT_HOST = "mgmt.ingress.virtomation.com";
const DEBIAN_MODULES = [
    "ndk_http_module",
    "ngx_http_lua_module",
    "ngx_http_headers_more_filter_module",
    "ngx_http_geoip_module",
    "ngx_stream_module",
];
const DUMB_INIT = "/usr/bin/dumb-init";

function skipReason(): string | false {
    if (process.platform !== "linux") return "needs Linux (network and mount namespaces)";
    if (process.getuid?.() !== 0) return "needs root (network and mount namespaces)";
    for (const tool of ["ip", "unshare", "nsenter", "curl", "setpriv"])
        if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) return `needs ${tool}`;
    if (!fs.existsSync("/usr/sbin/nginx")) return "needs Debian's nginx at /usr/sbin/nginx (harness/prereqs.sh test installs it)";
    for (const m of DEBIAN_MODULES)
        if (!fs.existsSync(`/usr/lib/nginx/modules/${m}.so`))
            return `needs Debian's /usr/lib/nginx/modules/${m}.so (harness/prereqs.sh test installs it)`;
    if (!fs.existsSync(DUMB_INIT)) return `needs ${DUMB_INIT} (Debian's dumb-init; harness/prereqs.sh test installs it)`;
    for (const image of [CONTROLLER_IMAGE, BACKEND_IMAGE]) {
        const found = imageFiles(IMAGES[image], { dataplane: BIN });
        if ("missing" in found) return `${image}: ${found.missing}`;
        const absent = Object.values(found.files).find((f) => !fs.existsSync(f));
        if (absent) return `${image}: ${absent} is not built (bash harness/dataplane.sh ingress-nginx builds it)`;
    }
    if (!fs.existsSync(OFFLINE)) return `${OFFLINE} is not built (bash harness/dataplane.sh ingress-nginx builds it)`;
    return false;
}

const SKIP = skipReason();

let work = "";
const started: { name: string; child: ChildProcess; log: string }[] = [];

/** A container of `image` as the kubelet stand-in starts it: a plan for container-run.sh, in this run's namespace. */
function runContainer(name: string, image: Image, spec: { command?: string[]; args?: string[] }, extraFiles: Record<string, string> = {}) {
    const found = imageFiles(image, { dataplane: BIN });
    if ("missing" in found) throw new Error(found.missing);
    const lines: string[][] = [
        ["hostname", name],
        ["privileged", "0"],
        ["copy", path.join(work, "resolv.conf"), "/etc/resolv.conf"],
        ["copy", path.join(work, "hosts"), "/etc/hosts"],
    ];
    for (const [at, local] of Object.entries({ ...found.files, ...extraFiles })) lines.push(["file", local, at]);
    lines.push(["env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], ["env", `HOSTNAME=${name}`]);
    lines.push(["env", `POD_NAME=${name}`], ["env", "POD_NAMESPACE=ingress-nginx"], ["wd", "/"]);
    for (const a of commandLine(image, spec)) lines.push(["arg", a]);
    const plan = path.join(work, `${name}.plan`);
    fs.writeFileSync(plan, lines.map((l) => l.join("\t")).join("\n") + "\n");
    const log = path.join(work, `${name}.log`);
    const out = fs.openSync(log, "w");
    const child = spawn(
        "nsenter",
        [`--net=/run/netns/${NS}`, "--", "unshare", "--mount", "--uts", "--ipc", "--propagation", "private", "--", "bash", RUNNER, plan],
        { stdio: ["ignore", out, out] },
    );
    fs.closeSync(out);
    started.push({ name, child, log });
    return { child, log };
}

/** curl in this run's namespace: status line, headers and body */
function curl(url: string, host?: string): { status: number; headers: string; body: string } {
    const r = spawnSync(
        "nsenter",
        [`--net=/run/netns/${NS}`, "--", "curl", "-s", "-i", "--max-time", "5", ...(host ? ["-H", `Host: ${host}`] : []), url],
        { encoding: "utf8", timeout: 10_000 },
    );
    const out = r.stdout ?? "";
    const cut = out.indexOf("\r\n\r\n");
    const headers = cut < 0 ? out : out.slice(0, cut);
    return { status: Number(/^HTTP\/[\d.]+ (\d+)/.exec(headers)?.[1] ?? 0), headers, body: cut < 0 ? "" : out.slice(cut + 4) };
}

const header = (headers: string, name: string) => new RegExp(`^${name}: (.*)$`, "im").exec(headers)?.[1]?.trim();

describe(
    "ingress-nginx 0.13.0 image: the controller's nginx (Debian's 1.22.1, the fitted template, VTS) and the default backend",
    { skip: SKIP },
    () => {
        before(async () => {
            work = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-ingress-"));
            fs.writeFileSync(path.join(work, "resolv.conf"), "nameserver 127.0.0.1\n");
            fs.writeFileSync(path.join(work, "hosts"), `127.0.0.1\tlocalhost\n${POD_IP}\tnginx-ingress-controller\n`);
            const ip = (...args: string[]) => {
                const r = spawnSync("ip", args, { encoding: "utf8", timeout: 10_000 });
                assert.equal(r.status, 0, `ip ${args.join(" ")}: ${r.stderr}`);
            };
            ip("netns", "add", NS);
            ip("-n", NS, "link", "set", "lo", "up");
            ip("-n", NS, "addr", "add", `${POD_IP}/32`, "dev", "lo");
            // nodejs-ex's Service behind the Ingress: a tiny HTTP server that names itself and the Host it got
            const up = spawn(
                "nsenter",
                [
                    `--net=/run/netns/${NS}`,
                    "--",
                    process.execPath,
                    "-e",
                    `require("http").createServer((q, r) => r.end("nodejs-ex upstream: " + q.headers.host + " " + q.url + "\\n")).listen(${UPSTREAM_PORT}, "127.0.0.1")`,
                ],
                { stdio: "ignore" },
            );
            started.push({ name: "upstream", child: up, log: "" });
            runContainer("default-http-backend", IMAGES[BACKEND_IMAGE], {});
            runContainer(
                "nginx-ingress-controller",
                IMAGES[CONTROLLER_IMAGE],
                {
                    args: [
                        "/kubevirt-lab/ingress-nginx-offline",
                        "-configmap",
                        "enable-vts-status=true",
                        "-rule",
                        `nodejs-ex nodejs ${NODEJS_HOST} / nodejs 8080 127.0.0.1:${UPSTREAM_PORT}`,
                        "-rule",
                        `ingress-nginx nginx-status ${MGMT_HOST} /nginx_status ingress-nginx 18080 127.0.0.1:18080`,
                        "-default-backend",
                        "127.0.0.1:8080",
                    ],
                },
                { "/kubevirt-lab/ingress-nginx-offline": OFFLINE },
            );
            const ctl = started.find((s) => s.name === "nginx-ingress-controller")!;
            const written = await waitFor(
                "the controller's configuration written and nginx reloaded (or the container ended)",
                () => (/written, nginx reloaded/.test(fs.readFileSync(ctl.log, "utf8")) || ctl.child.exitCode !== null ? "done" : false),
                20_000,
            ).then(() => ctl.child.exitCode === null);
            assert.ok(written, `the controller's container ended:\n${fs.readFileSync(ctl.log, "utf8")}`);
            await waitFor(
                "the upstream and the default backend listening",
                () => curl(`http://127.0.0.1:${UPSTREAM_PORT}/`).status === 200 && curl("http://127.0.0.1:8080/healthz").status === 200,
                10_000,
            );
        });

        after(async () => {
            for (const s of started) if (s.child.exitCode === null && s.child.pid) s.child.kill("SIGTERM");
            await waitFor(
                "the containers stopped",
                () => started.every((s) => s.child.exitCode !== null || s.child.signalCode !== null),
                15_000,
            ).catch(() => undefined);
            // anything left in this run's namespace (nginx runs in its own process group), by pid
            const pids =
                spawnSync("ip", ["netns", "pids", NS], { encoding: "utf8", timeout: 10_000 }).stdout?.split(/\s+/).filter(Boolean) ?? [];
            for (const pid of pids)
                try {
                    process.kill(Number(pid), "SIGKILL");
                } catch {
                    /* gone */
                }
            spawnSync("ip", ["netns", "delete", NS], { timeout: 10_000 });
            if (work) fs.rmSync(work, { recursive: true, force: true });
        });

        test(`Host ${NODEJS_HOST}: proxied to nodejs-ex's upstream by Debian's nginx 1.22.1, logged to the container's stdout`, async () => {
            const r = curl(`http://${POD_IP}/`, NODEJS_HOST);
            assert.equal(r.status, 200, r.headers);
            assert.equal(header(r.headers, "Server"), "nginx/1.22.1");
            assert.equal(r.body, `nodejs-ex upstream: ${NODEJS_HOST} /\n`);
            const log = path.join(work, "nginx-ingress-controller.log");
            await waitFor(
                "the access log line (upstreaminfo format, upstream nodejs-ex-nodejs-8080)",
                () => /"GET \/ HTTP\/1.1" 200 .*\[nodejs-ex-nodejs-8080\]/.test(fs.readFileSync(log, "utf8")),
                5_000,
            );
        });

        test("another Host: the default backend's 404 (the 404-server built from 0.13.0's tree, as user 65534)", () => {
            const r = curl(`http://${POD_IP}/anything`, "other.example");
            assert.equal(r.status, 404, r.headers);
            assert.equal(header(r.headers, "Server"), "nginx/1.22.1");
            assert.equal(r.body, "default backend - 404");
            const backend = started.find((s) => s.name === "default-http-backend")!.child.pid!;
            const status = fs.readFileSync(`/proc/${backend}/status`, "utf8");
            assert.match(status, /^Uid:\s+65534\s+65534/m, "the server runs as the image's USER 65534");
            assert.match(status, /^Gid:\s+65534\s+65534/m);
        });

        test("the VTS page on 18080 (/nginx_status, HTML; /format/json with the nodejs server zone) and through the mgmt Ingress", () => {
            for (let i = 0; i < 3; i++) assert.equal(curl(`http://${POD_IP}/`, NODEJS_HOST).status, 200);
            const html = curl(`http://${POD_IP}:18080/nginx_status`);
            assert.equal(html.status, 200, html.headers);
            assert.match(header(html.headers, "Content-Type") ?? "", /^text\/html/);
            assert.match(html.body, /<title>nginx vhost traffic status monitor<\/title>/);
            const json = curl(`http://${POD_IP}:18080/nginx_status/format/json`);
            assert.equal(json.status, 200, json.headers);
            const vts = JSON.parse(json.body);
            assert.equal(vts.nginxVersion, "1.22.1");
            const zone = vts.serverZones?.[NODEJS_HOST];
            assert.ok(zone, `serverZones: ${Object.keys(vts.serverZones ?? {}).join(", ")}`);
            assert.ok(zone.requestCounter >= 3 && zone.responses["2xx"] >= 3, JSON.stringify(zone));
            // the post's mgmt.ingress.<domain>/nginx_status Ingress: to port 18080 of the controller
            const mgmt = curl(`http://${POD_IP}/nginx_status`, MGMT_HOST);
            assert.equal(mgmt.status, 200, mgmt.headers);
            assert.match(mgmt.body, /nginx vhost traffic status monitor/);
        });

        test("the generated nginx.conf: from the fitted template, Debian's modules and the lab's VTS loaded", () => {
            const ctl = started.find((s) => s.name === "nginx-ingress-controller")!.child.pid!;
            const conf = fs.readFileSync(`/proc/${ctl}/root/etc/nginx/nginx.conf`, "utf8");
            for (const m of DEBIAN_MODULES) assert.match(conf, new RegExp(`^load_module /usr/lib/nginx/modules/${m}\\.so;$`, "m"));
            assert.match(conf, /^load_module \/etc\/nginx\/modules\/ngx_http_vhost_traffic_status_module\.so;$/m);
            assert.match(conf, /^\s*vhost_traffic_status_zone shared:vhost_traffic_status:10m;$/m);
            assert.match(conf, /^\s*server_name nodejs\.ingress\.virtomation\.com ;$/m);
            assert.match(conf, /^\s*pid \/run\/nginx\.pid;$/m);
        });

        test("the real controller binary starts in its image: --version says 0.13.0", async () => {
            const { child, log } = runContainer("controller-version", IMAGES[CONTROLLER_IMAGE], {
                args: ["/nginx-ingress-controller", "--version"],
            });
            await waitFor("--version to end", () => child.exitCode !== null, 15_000);
            const out = fs.readFileSync(log, "utf8");
            assert.equal(child.exitCode, 0, out);
            assert.match(out, /Release:\s+0\.13\.0/);
            assert.match(out, /NGINX Ingress controller/);
        });
    },
);
