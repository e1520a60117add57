// harness/standins/bin/docker: the two calls kubeadm 1.9's reset makes (`docker ps -a --filter
// name=k8s_ -q`, then `docker rm --force --volumes <id>...`) answered from the kubelet stand-in's
// records. Run in a private mount namespace (a tmpfs on /var/lib, the records written there), so
// the machine's own /var/lib is never read or changed.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, it } from "node:test";

const DOCKER = path.resolve(__dirname, "..", "harness", "standins", "bin", "docker");
const skip = process.getuid?.() !== 0 ? "needs root (a mount namespace)" : false;

/** a pod record as runtime.ts writes it, and a container record with the pid of a process started here */
const SCRIPT = String.raw`
set -u
docker() { "$DOCKER" "$@"; } # the stand-in itself, whatever else is on PATH
R=/var/lib/kubelet/kubelet-standin/runtime/pods
pod() { # <uid> <netns> <sandbox id or ""> <pid>
  mkdir -p "$R/$1/containers"
  if [[ -n $3 ]]; then sid=",\"sandboxID\":\"$3\""; else sid=""; fi
  printf '{"namespace":"kube-system","name":"p-%s","uid":"%s","netns":"%s","ip":"172.31.0.9"%s}' "$1" "$1" "$2" "$sid" >"$R/$1/pod.json"
  printf '{"name":"c","image":"i","pid":%s}' "$4" >"$R/$1/containers/c.json"
}
setsid sleep 300 & hostpid=$!
setsid sleep 300 & cnipid=$!
setsid sleep 300 & oldpid=$!
pod host "" aaaa "$hostpid"     # a host-network pod (kube-flannel, kube-proxy): its sandbox is its pause container
pod cni cni-gone bbbb "$cnipid" # a pod with a network namespace of its own (gone already)
pod old "" "" "$oldpid"         # a record without a sandbox id: nothing docker knows
echo "ps:$(docker ps -a --filter name=k8s_ -q | sort | tr '\n' ' ')"
echo "other:$(docker ps -q | tr '\n' ' ')"
echo "rm:$(docker rm --force --volumes aaaa bbbb cccc 2>/var/lib/docker-rm.err | tr '\n' ' ')"
echo "err:$(cat /var/lib/docker-rm.err)"
wait "$hostpid"; echo "host-exit:$?"
wait "$cnipid"; echo "cni-exit:$?"
kill -0 "$oldpid" && echo "old:running"; kill "$oldpid"
echo "left:$(ls "$R" | tr '\n' ' ')"
echo "calls:$(grep -c ' docker ' /var/lib/calls.log)"
`;

describe("docker stand-in (kubeadm reset's docker ps / docker rm)", { skip }, () => {
    it("lists every pod with a sandbox, host-network ones too, and rm kills its processes and removes its record", () => {
        const r = spawnSync(
            "unshare",
            [
                "--mount",
                "--propagation",
                "private",
                "--",
                "bash",
                "-c",
                `mount -t tmpfs kvl-docker-test /var/lib && export DOCKER=${DOCKER} SIM_CALLS=/var/lib/calls.log SIM_STATE=/var/lib/kubevirt-lab-sim SIM_HOST=kn1 && ${SCRIPT}`,
            ],
            { encoding: "utf8", timeout: 30_000 },
        );
        assert.equal(r.status, 0, r.stderr);
        const out = Object.fromEntries(
            r.stdout
                .trim()
                .split("\n")
                .map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1).trim()]),
        );
        assert.equal(out.ps, "aaaa bbbb", "one id a pod with a sandbox, the host-network pod's included");
        assert.equal(out.other, "", "any other ps: no output");
        assert.equal(out.rm, "aaaa bbbb", "each removed id printed, as docker does");
        assert.equal(out.err, "Error: No such container: cccc");
        assert.equal(out["host-exit"], "137", "the host-network pod's process killed (SIGKILL)");
        assert.equal(out["cni-exit"], "137", "the pod's process killed (SIGKILL)");
        assert.equal(out.old, "running", "a record docker does not know is left alone");
        assert.equal(out.left, "old", "the removed pods' records gone");
        assert.equal(out.calls, "3", "each call recorded, as every stand-in does");
    });
});
