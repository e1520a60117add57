// harness/simlab.sh: a lab of real SSH hosts in namespaces. Brings a lab up under
// its own name (so it does not collide with a developer's "kvl" lab), checks
// what the Pulumi program relies on, and that `down` leaves nothing behind.
// Needs root, iproute2, openssh-server, dnsmasq and dig; skipped otherwise.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync, SpawnSyncReturns } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";

const SIMLAB = path.resolve(__dirname, "..", "harness", "simlab.sh");
const NAME = `slt${process.pid % 100000}`;
const RUN = `/tmp/kubevirt-lab-sim/${NAME}`;
const HOSTS: Record<string, string> = { km1: "172.31.50.221", kn1: "172.31.50.231", kn2: "172.31.50.232" };
const DNS = { dns1: "172.31.50.10" };

const missing = ["ip", "sshd", "ssh", "dnsmasq", "dig", "unshare", "nsenter"].filter(
    (c) => spawnSync("bash", ["-c", `command -v ${c} || test -x /usr/sbin/${c}`]).status !== 0,
);
const skip = process.getuid?.() !== 0 ? "needs root" : missing.length ? `missing ${missing.join(", ")}` : false;

type Run = SpawnSyncReturns<string> & { ms: number };

function run(cmd: string, args: string[], timeoutMs = 30_000, env?: NodeJS.ProcessEnv): Run {
    const t0 = Date.now();
    const r = spawnSync(cmd, args, { encoding: "utf8", timeout: timeoutMs, env: env ?? process.env });
    return Object.assign(r, { ms: Date.now() - t0 });
}

const sim = (args: string[], timeoutMs = 30_000, env?: NodeJS.ProcessEnv, name = NAME) =>
    run("bash", [SIMLAB, "--name", name, ...args], timeoutMs, env);

const ok = (r: Run, what: string): string => {
    assert.equal(r.status, 0, `${what}: exit ${r.status} ${r.signal ?? ""}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
};

// anything that talks to the hosts runs in the operator namespace
const op = (args: string[], timeoutMs = 15_000) => run("ip", ["netns", "exec", `${NAME}-op`, ...args], timeoutMs);
// ssh through the lab's ssh_config, as documented
const ssh = (host: string, command: string, timeoutMs = 15_000) => op(["ssh", "-F", `${RUN}/ssh_config`, host, command], timeoutMs);
const dig = (name: string) => ok(op(["dig", "+short", "+time=1", "+tries=2", "@172.31.50.10", name]), `dig ${name}`).trim();

const rootNsLeaks = (): string[] => {
    const addr = ok(run("ip", ["-4", "addr", "show"]), "ip addr");
    const route = ok(run("ip", ["-4", "route", "show", "table", "all"]), "ip route");
    return [...addr.split("\n"), ...route.split("\n")].filter((l) => l.includes("172.31."));
};

const netnsOfLab = () =>
    ok(run("ip", ["netns", "list"]), "ip netns list")
        .split("\n")
        .map((l) => l.split(" ")[0])
        .filter((n) => n.startsWith(`${NAME}-`));

describe("harness/simlab.sh", { skip }, () => {
    let upMs = 0;

    before(() => {
        sim(["down"]); // a stale lab of the same name, if any
        const up = sim(
            [
                "up",
                "--hosts",
                Object.entries(HOSTS)
                    .map(([h, ip]) => `${h}=${ip}`)
                    .join(","),
                "--dns",
                "dns1=172.31.50.10",
            ],
            60_000,
        );
        ok(up, "simlab up");
        upMs = up.ms;
        console.log(`simlab up: ${upMs} ms`);
    });

    after(() => {
        sim(["down"]); // whatever happened
    });

    it("makes one operator namespace and one namespace per host, nothing in the root namespace", () => {
        assert.deepEqual(netnsOfLab().sort(), [`${NAME}-dns1`, `${NAME}-km1`, `${NAME}-kn1`, `${NAME}-kn2`, `${NAME}-op`].sort());
        assert.deepEqual(rootNsLeaks(), [], "172.31. address or route in the root network namespace");
        const opRoutes = ok(op(["ip", "-4", "route"]), "op ip route");
        assert.doesNotMatch(opRoutes, /default/, `the operator namespace must have no way out:\n${opRoutes}`);
        assert.match(opRoutes, /172\.31\.50\.0\/24 dev \S+-br0/);
        assert.equal(ok(op(["cat", "/proc/sys/net/ipv4/ip_forward"]), "ip_forward").trim(), "0");
        const status = sim(["status"]);
        assert.equal(status.status, 0, status.stdout + status.stderr);
        for (const [h, ip] of Object.entries({ ...HOSTS, ...DNS })) {
            assert.match(status.stdout, new RegExp(`^${h}\\s+${ip.replace(/\./g, "\\.")}\\s+alive\\(\\d+\\)\\s+alive\\s+reachable`, "m"));
        }
    });

    it("answers ssh on every host with the host's own FQDN", () => {
        for (const h of [...Object.keys(HOSTS), ...Object.keys(DNS)]) {
            assert.equal(ok(ssh(h, "hostname"), `ssh ${h} hostname`).trim(), `${h}.virtomation.com`);
        }
        // by address too, as the Pulumi program connects
        assert.equal(ok(ssh(HOSTS.kn1, "hostname -s"), "ssh by address").trim(), "kn1");
    });

    it("gives each host its own /etc, invisible to the other hosts and to the machine", () => {
        const file = `/etc/simlab-test-${process.pid}`;
        assert.equal(ok(ssh("km1", `echo km1 > ${file} && cat ${file}`), "write on km1").trim(), "km1");
        assert.notEqual(ssh("kn1", `test -e ${file}`).status, 0, `${file} must not exist on kn1`);
        assert.equal(existsSync(file), false, `${file} must not exist on the real machine`);
        assert.equal(readFileSync(`${RUN}/hosts/km1/ovl/etc/upper/simlab-test-${process.pid}`, "utf8").trim(), "km1");
        assert.equal(ok(sim(["exec", "km1", "cat", file]), "exec km1").trim(), "km1");
    });

    it("resolves sysctl/systemctl to the stand-ins in /usr/local/bin, even by absolute path", () => {
        // The real value is written back unchanged, so even a broken guard
        // would change nothing; the stand-in must record the call.
        const real = readFileSync("/proc/sys/vm/swappiness", "utf8").trim();
        const sudo = existsSync("/usr/bin/sudo");
        const out = ok(
            ssh(
                "km1",
                [
                    "command -v sysctl systemctl modprobe kubeadm kubectl",
                    'echo "PATH=$PATH"',
                    sudo ? "sudo -n sh -c 'echo sudo:$(command -v sysctl)'" : "true",
                    `/usr/sbin/sysctl -w vm.swappiness=${real} >/dev/null`,
                    `echo Ready > ${RUN}/apiserver/nodes/simlab-test`,
                ].join("; "),
            ),
            "km1 session",
        )
            .trim()
            .split("\n");
        assert.deepEqual(
            out.slice(0, 5),
            ["sysctl", "systemctl", "modprobe", "kubeadm", "kubectl"].map((c) => `/usr/local/bin/${c}`),
        );
        assert.match(out[5], /^PATH=\/usr\/local\/s?bin:/);
        if (sudo) assert.equal(out[6], "sudo:/usr/local/bin/sysctl");
        const calls = ok(sim(["exec", "km1", "cat", "/var/log/kubevirt-lab/calls.log"]), "calls log");
        assert.match(calls, new RegExp(`km1\\.virtomation\\.com sysctl -w vm\\.swappiness=${real}`));
        assert.equal(readFileSync(`${RUN}/hosts/km1/ovl/var/upper/log/kubevirt-lab/calls.log`, "utf8"), calls);
        // kn2: its env file; the apiserver dir is one directory shared by all hosts
        const kn2 = ok(ssh("kn2", `cat /etc/kubevirt-lab-sim/env ${RUN}/apiserver/nodes/simlab-test`), "kn2 session");
        assert.match(kn2, /^SIM_HOST=kn2\.virtomation\.com$/m);
        assert.match(kn2, /^SIM_CALLS=\/var\/log\/kubevirt-lab\/calls\.log$/m);
        assert.match(kn2, /^SIM_STATE=\/var\/lib\/kubevirt-lab-sim$/m);
        assert.match(kn2, new RegExp(`^SIM_APISERVER=${RUN}/apiserver$`, "m"));
        assert.match(kn2, /^Ready$/m);
    });

    it("serves a record added to dns1's /etc/dnsmasq.d once the restart hook ran", () => {
        assert.equal(dig("probe.virtomation.com"), "");
        ok(ssh("dns1", "echo 'address=/probe.virtomation.com/172.31.50.99' > /etc/dnsmasq.d/simlab-test.conf"), "write record");
        assert.equal(dig("probe.virtomation.com"), "", "not served before the restart");
        ok(ssh("dns1", "/etc/kubevirt-lab-sim/hooks/systemctl-restart-dnsmasq"), "restart hook");
        assert.equal(dig("probe.virtomation.com"), "172.31.50.99");
        // the operator namespace resolves through dns1
        assert.match(ok(sim(["op", "getent", "hosts", "probe.virtomation.com"]), "getent"), /^172\.31\.50\.99\s/);
    });

    const standinSystemctl = path.resolve(__dirname, "..", "harness", "standins", "bin", "systemctl");
    const hookAware = !existsSync(standinSystemctl) || readFileSync(standinSystemctl, "utf8").includes("kubevirt-lab-sim/hooks");
    it(
        "restarts the real dnsmasq on `systemctl restart dnsmasq` (the stand-in runs the hook)",
        { skip: hookAware ? false : "harness/standins/bin/systemctl does not run /etc/kubevirt-lab-sim/hooks/systemctl-<verb>-<unit> yet" },
        () => {
            ok(ssh("dns1", "echo 'address=/.ingress.virtomation.com/172.31.50.231' > /etc/dnsmasq.d/virtomation.conf"), "write wildcard");
            ok(ssh("dns1", "systemctl restart dnsmasq"), "systemctl restart dnsmasq");
            assert.equal(dig("nodejs.ingress.virtomation.com"), "172.31.50.231");
        },
    );

    it("makes ssh fail fast on a host whose sshd is stopped, and work again once restarted", () => {
        ok(sim(["stop-sshd", "kn2"]), "stop-sshd");
        const r = ssh("kn2", "hostname");
        assert.equal(r.status, 255, r.stderr);
        assert.ok(r.ms < 5_000, `ssh to a stopped host took ${r.ms} ms`);
        assert.match(r.stderr, /Connection refused|timed out/);
        const status = sim(["status"]);
        assert.equal(status.status, 1);
        assert.match(status.stdout, /^kn2\s+\S+\s+alive\(\d+\)\s+dead\s+unreachable/m);
        ok(sim(["start-sshd", "kn2"]), "start-sshd");
        assert.equal(ok(ssh("kn2", "hostname"), "ssh after start-sshd").trim(), "kn2.virtomation.com");
    });

    it("adds a host to the running lab", () => {
        ok(sim(["add-host", "kn3=172.31.50.233"]), "add-host");
        assert.equal(ok(ssh("kn3", "hostname"), "ssh kn3").trim(), "kn3.virtomation.com");
        assert.match(ok(sim(["info"]), "info"), /^SIMLAB_HOSTS=.*kn3=172\.31\.50\.233/m);
        assert.deepEqual(rootNsLeaks(), []);
    });

    it("reads the lab.env of a lab made when the VMs were hosts of the lab (VMS, VM_PORTS, VM_USER)", () => {
        // as the previous simlab.sh left a lab made with --vms: kn3 now one of its VMS, a host
        // that HOSTS does not name but hosts/ and netns.list do (the teardown below must remove it)
        const env = `${RUN}/lab.env`;
        const lines = readFileSync(env, "utf8")
            .split("\n")
            .map((l) => (l.startsWith("HOSTS=") ? l.replace(/\\? ?kn3=172\.31\.50\.233/, "") : l))
            .filter(Boolean);
        assert.ok(!lines.some((l) => l.includes("kn3")), lines.join("\n"));
        writeFileSync(env, [...lines, "VMS=kn3=172.31.50.233", "VM_PORTS=nodejs=30022\\ mongodb=30122", "VM_USER=fedora", ""].join("\n"));
        const info = ok(sim(["info"]), "info of an older lab");
        assert.doesNotMatch(info, /VM|kn3/);
        const status = sim(["status"]);
        assert.equal(status.status, 0, status.stdout + status.stderr);
        assert.doesNotMatch(status.stdout, /kn3|VM|NodePorts/);
        assert.ok(netnsOfLab().includes(`${NAME}-kn3`));
    });

    it("tears everything down: no namespace, mount or process left, and down is idempotent", () => {
        const namespaces = netnsOfLab();
        assert.ok(namespaces.length >= 5);
        const pids = namespaces.flatMap((ns) =>
            ok(run("ip", ["netns", "pids", ns]), `ip netns pids ${ns}`)
                .split(/\s+/)
                .filter(Boolean)
                .map(Number),
        );
        assert.ok(pids.length >= 5, `expected the hosts' processes, got ${pids.join(" ")}`);
        const down = sim(["down"]);
        ok(down, "simlab down");
        console.log(`simlab up: ${upMs} ms, down: ${down.ms} ms`);
        assert.deepEqual(netnsOfLab(), []);
        const mounts = readFileSync("/proc/mounts", "utf8")
            .split("\n")
            .filter((l) => l.includes(RUN) || l.includes(`/run/netns/${NAME}-`));
        assert.deepEqual(mounts, []);
        // a zombie (State Z) has exited: only the machine's init has yet to reap it
        const alive = pids.filter((p) => {
            try {
                return !/^State:\s+[ZX]/m.test(readFileSync(`/proc/${p}/status`, "utf8"));
            } catch {
                return false;
            }
        });
        assert.deepEqual(alive, [], `processes of the lab still alive: ${alive.join(" ")}`);
        assert.equal(existsSync(RUN), false, `${RUN} left behind`);
        assert.equal(existsSync(`/etc/netns/${NAME}-op`), false);
        assert.deepEqual(rootNsLeaks(), []);
        ok(sim(["down"]), "second down");
    });

    it("refuses --vms, --vm-ports and --vm-user in one line: the VMs are guests in their virt-launcher pods", () => {
        const name = `${NAME}v`.slice(0, 11);
        for (const opt of [
            ["--vms", "nodejs=172.31.50.241,mongodb=172.31.50.242"],
            ["--vm-ports", "nodejs=30022,mongodb=30122"],
            ["--vm-user", "fedora"],
        ]) {
            const r = sim(["up", "--hosts", "km1=172.31.50.221", "--dns", "", ...opt], 30_000, undefined, name);
            assert.equal(r.status, 1, `up ${opt[0]} must fail:\n${r.stdout}\n${r.stderr}`);
            assert.equal(r.stdout, "");
            assert.match(
                r.stderr,
                new RegExp(
                    `^simlab: up: ${opt[0]}: the VMs are .*guests in their virt-launcher pods \\(see harness/standins/virt-launcher/README\\.md\\).*\\n$`,
                ),
            );
            assert.equal(r.stderr.split("\n").length, 2, r.stderr);
        }
        assert.equal(existsSync(`/tmp/kubevirt-lab-sim/${name}`), false);
        assert.deepEqual(
            ok(run("ip", ["netns", "list"]), "ip netns list")
                .split("\n")
                .filter((l) => l.startsWith(`${name}-`)),
            [],
        );
    });

    it("tears down what it made when up fails mid-way", () => {
        const name = `${NAME}f`.slice(0, 11);
        // an sshd_config sshd refuses: the host's init dies after its network is made
        const env = { ...process.env, SIMLAB_ACCEPT_ENV: "LANG\nNoSuchSshdOption yes" };
        const r = sim(["up", "--hosts", "km1=172.31.50.221", "--dns", ""], 60_000, env, name);
        assert.notEqual(r.status, 0, "up must fail");
        assert.match(r.stderr, /tearing down/);
        assert.deepEqual(
            ok(run("ip", ["netns", "list"]), "ip netns list")
                .split("\n")
                .filter((l) => l.startsWith(`${name}-`)),
            [],
        );
        assert.equal(existsSync(`/tmp/kubevirt-lab-sim/${name}`), false);
        assert.equal(existsSync(`/etc/netns/${name}-op`), false);
    });
});

// The mirror host: a real HTTP server (Python's http.server) in its own namespace, serving the
// post's upstream manifests under the host and path of their upstream URLs.
const MIRROR_SRC = path.resolve(__dirname, "..", "..", "shared", "upstream", "manifests");
describe("harness/simlab.sh --mirror", { skip: skip || (!existsSync(MIRROR_SRC) && `no upstream manifests at ${MIRROR_SRC}`) }, () => {
    const name = `mir${process.pid % 100000}`;
    const mirrorOp = (args: string[]) => run("ip", ["netns", "exec", `${name}-op`, ...args], 15_000);
    before(() =>
        ok(
            sim(["up", "--hosts", "km1=172.31.50.221", "--dns", "", "--mirror", "mirror=172.31.50.5"], 60_000, undefined, name),
            "up --mirror",
        ),
    );
    after(() => sim(["down"], 60_000, undefined, name));

    it("serves each upstream file at its upstream URL's host and path, byte for byte", () => {
        const files: Record<string, string> = {
            "flannel-v0.9.1/kube-flannel.yml": "raw.githubusercontent.com/coreos/flannel/v0.9.1/Documentation/kube-flannel.yml",
            "kubevirt-v0.4.1/kubevirt.yaml": "github.com/kubevirt/kubevirt/releases/download/v0.4.1/kubevirt.yaml",
            "skydive/skydive.yaml": "raw.githubusercontent.com/skydive-project/skydive/master/contrib/kubernetes/skydive.yaml",
            "ingress-nginx-0.13.0/configmap.yaml": "raw.githubusercontent.com/kubernetes/ingress-nginx/nginx-0.13.0/deploy/configmap.yaml",
            "ingress-nginx-0.13.0/provider/baremetal/service-nodeport.yaml":
                "raw.githubusercontent.com/kubernetes/ingress-nginx/nginx-0.13.0/deploy/provider/baremetal/service-nodeport.yaml",
        };
        for (const [src, url] of Object.entries(files)) {
            const got = ok(mirrorOp(["curl", "-sf", `http://172.31.50.5/${url}`]), url);
            assert.equal(got, readFileSync(path.join(MIRROR_SRC, src), "utf8"), url);
        }
        assert.notEqual(
            mirrorOp(["curl", "-sf", "http://172.31.50.5/raw.githubusercontent.com/nothing.yaml"]).status,
            0,
            "a missing file is an HTTP error",
        );
        const log = readFileSync(`/tmp/kubevirt-lab-sim/${name}/hosts/mirror/http.log`, "utf8");
        assert.match(
            log,
            /"GET \/github\.com\/kubevirt\/kubevirt\/releases\/download\/v0\.4\.1\/kubevirt\.yaml HTTP\/1\.1" 200/,
            "requests are logged",
        );
        assert.match(ok(sim(["status"], 30_000, undefined, name), "status"), /^mirror +172\.31\.50\.5 .* http mirror serving$/m);
    });
});

// A lab of real Kubernetes (--kubernetes real): the v1.9.4 binaries and the repository visible in
// each host at fixed paths (read-only), yum "installs" the real kubeadm and kubectl and the kubelet
// stand-in as kubelet, and systemctl runs that stand-in as the kubelet service.
const K8S_CHECK = spawnSync("bash", [path.resolve(__dirname, "..", "harness", "kubernetes.sh"), "--check"], { encoding: "utf8" });
describe(
    "harness/simlab.sh --kubernetes real",
    { skip: skip || (K8S_CHECK.status !== 0 && `Kubernetes v1.9.4 binaries missing (bash harness/kubernetes.sh builds them)`) },
    () => {
        const name = `k8r${process.pid % 100000}`;
        const run8 = `/tmp/kubevirt-lab-sim/${name}`;
        const sshR = (command: string, timeoutMs = 30_000) =>
            run("ip", ["netns", "exec", `${name}-op`, "ssh", "-F", `${run8}/ssh_config`, "km1", command], timeoutMs);
        before(() => ok(sim(["up", "--hosts", "km1=172.31.50.221", "--dns", "", "--kubernetes", "real"], 60_000, undefined, name), "up"));
        after(() => sim(["down"], 60_000, undefined, name));

        it("records the mode and shows the binaries and the repository read-only at fixed paths", () => {
            assert.match(readFileSync(`${run8}/lab.env`, "utf8"), /^KUBERNETES=real$/m);
            assert.match(ok(sim(["info"], 30_000, undefined, name), "info"), /^SIMLAB_KUBERNETES=real$/m);
            const out = ok(
                sshR(
                    "/var/lib/kubevirt-lab-sim/k8s-bin/kubeadm version -o short; ls /var/lib/kubevirt-lab-sim/repo/harness/standins/kubelet/main.ts; " +
                        "touch /var/lib/kubevirt-lab-sim/repo/x 2>&1 || echo read-only; grep -E '^SIM_(KUBERNETES|K8S_BIN|REPO)=' /etc/kubevirt-lab-sim/env",
                ),
                "ssh km1",
            );
            assert.equal(
                out,
                "v1.9.4\n/var/lib/kubevirt-lab-sim/repo/harness/standins/kubelet/main.ts\n" +
                    "touch: cannot touch '/var/lib/kubevirt-lab-sim/repo/x': Read-only file system\nread-only\n" +
                    "SIM_KUBERNETES=real\nSIM_K8S_BIN=/var/lib/kubevirt-lab-sim/k8s-bin\nSIM_REPO=/var/lib/kubevirt-lab-sim/repo\n",
            );
        });

        it("yum installs the real kubeadm and kubectl (calls recorded) and the kubelet stand-in; systemctl starts and stops it", () => {
            const head = () => ok(sshR("sed -n 2p /usr/local/bin/kubeadm; systemctl is-active kubelet; true"), "head of kubeadm");
            assert.match(
                head(),
                /^# Recording stand-in for kubeadm 1\.9\. .*\nunknown\n$/,
                "the kubeadm stand-in until the package is installed",
            );
            const out = ok(
                sshR(
                    "mkdir -p /etc/yum.repos.d && echo '[kubernetes]' > /etc/yum.repos.d/kubernetes.repo && " +
                        "yum install -y kubelet-1.9.4 kubeadm-1.9.4 kubectl-1.9.4 >/dev/null && " +
                        "kubeadm version -o short && kubectl version --client --short && kubelet --version && " +
                        "systemctl enable --now kubelet 2>/dev/null && systemctl is-active kubelet && systemctl status kubelet",
                    60_000,
                ),
                "install and start",
            );
            assert.match(
                out,
                /^v1\.9\.4\nClient Version: v1\.9\.4\nKubernetes v1\.9\.4\nactive\n\* kubelet\.service\n {3}Active: active \(running\): the kubelet stand-in, pid \d+/,
            );
            assert.match(head(), /^# kubeadm of a lab of real Kubernetes .*\nactive\n$/, "the package put the real kubeadm there");
            const calls = readFileSync(`${run8}/hosts/km1/ovl/var/upper/log/kubevirt-lab/calls.log`, "utf8");
            assert.match(calls, / km1\.virtomation\.com kubeadm version -o short\n/, "the real kubeadm's calls are recorded");
            const standin = () =>
                ok(run("ip", ["netns", "pids", `${name}-km1`]), "pids")
                    .split(/\s+/)
                    .filter(Boolean)
                    .filter((p) => {
                        try {
                            return readFileSync(`/proc/${p}/cmdline`, "utf8").includes("harness/standins/kubelet/main.ts");
                        } catch {
                            return false;
                        }
                    });
            const pids = standin();
            assert.equal(pids.length, 1, "one kubelet stand-in runs in km1");
            const cmd = readFileSync(`/proc/${pids[0]}/cmdline`, "utf8").split("\0");
            assert.deepEqual(cmd.slice(cmd.indexOf("--node-name"), cmd.indexOf("--node-name") + 4), [
                "--node-name",
                "km1.virtomation.com",
                "--node-ip",
                "172.31.50.221",
            ]);
            // a service inherits no descriptor of its caller: a flock held by the script that started
            // it (kubeadm_lock around kubeadm join, which runs systemctl start kubelet) ends with it
            assert.equal(
                ok(
                    sshR(
                        "systemctl stop kubelet && (exec 9>>/run/lock/kvl-test.lock && flock 9 && systemctl start kubelet) && " +
                            "{ flock -n /run/lock/kvl-test.lock echo free || echo held by the kubelet; }",
                    ),
                    "start under a lock",
                ),
                "free\n",
            );
            assert.equal(
                ok(sshR("systemctl start kubelet && systemctl restart kubelet && systemctl is-active kubelet"), "restart"),
                "active\n",
            );
            assert.equal(standin().length, 1, "still one after start and restart");
            assert.equal(sshR("systemctl stop kubelet; systemctl is-active kubelet").stdout, "inactive\n");
            assert.deepEqual(standin(), [], "stopped");
        });
    },
);
