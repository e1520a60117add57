// steps/delete-daemonsets/delete-daemonsets.sh in a sandbox with a recording kubectl: each
// DaemonSet deleted orphaning its dependents, then its pods and revisions, one that is gone left, no
// cluster no call; the command lines of the dev stack's delete-daemonsets steps (golden/).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";

import { sandboxes } from "../../test/lib/hosts";
import { STANDINS_BIN } from "../../test/lib/sandbox";
import { ADMIN_CONF, KC, act, assertCommandsGolden, ok, sandboxSkip, status } from "../../test/lib/steps";

const sandbox = sandboxes();

describe("delete-daemonsets.sh", { skip: sandboxSkip(), concurrency: 3 }, () => {
    it("delete-daemonsets.sh remove: each DaemonSet orphaning its dependents, then its pods and revisions; one that is gone is left", async () => {
        const bin = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-fake-kubectl-"));
        after(() => fs.rmSync(bin, { recursive: true, force: true }));
        // get daemonset: the selector from /root/ds/<ns>_<name>, else 1.9's NotFound; anything else: recorded
        fs.writeFileSync(
            path.join(bin, "kubectl"),
            `#!/usr/bin/env bash
printf '%s\\n' "$*" >>/root/kubectl.args
if [[ $2 == get && $3 == daemonset ]]; then
  f=/root/ds/$6_$3_$4
  [[ -f $f ]] && { cat "$f"; exit 0; }
  echo "Error from server (NotFound): daemonsets.extensions $4 not found" >&2; exit 1
fi
`,
            { mode: 0o755 },
        );
        const sb = await sandbox({ hostname: "km1", binDirs: [bin, STANDINS_BIN] });
        const args = { daemonset: ["skydive/skydive-agent", "kube-system/virt-handler"] };
        const none = ok(await sb.runScriptAsync("delete-daemonsets.sh", act("remove", args)), "no cluster");
        assert.match(none.stdout, /\/etc\/kubernetes\/admin\.conf does not exist: no cluster to delete DaemonSets from/);
        status(none, "delete-daemonsets.sh", "remove", "unchanged");
        await sb.writeFileAsync(ADMIN_CONF, "apiVersion: v1\n");
        await sb.writeFileAsync("/root/ds/skydive_daemonset_skydive-agent", "app=skydive,tier=agent,");
        const r = ok(await sb.runScriptAsync("delete-daemonsets.sh", act("remove", args)), "remove");
        status(r, "delete-daemonsets.sh", "remove", "changed");
        assert.match(r.stdout, /DaemonSet kube-system\/virt-handler is not there/);
        const calls = sb.readFile("/root/kubectl.args")!.trimEnd().split("\n");
        const tmpl = "{{range $k, $v := .spec.selector.matchLabels}}{{$k}}={{$v}},{{end}}";
        assert.deepEqual(calls, [
            `${KC} get daemonset skydive-agent -n skydive -o go-template=${tmpl}`,
            `${KC} delete daemonset skydive-agent -n skydive --cascade=false`,
            `${KC} delete pods,controllerrevisions -n skydive -l app=skydive,tier=agent --ignore-not-found`,
            `${KC} get daemonset virt-handler -n kube-system -o go-template=${tmpl}`,
        ]);
        const a = ok(await sb.runScriptAsync("delete-daemonsets.sh", act("apply", args)), "apply");
        status(a, "delete-daemonsets.sh", "apply", "unchanged");
        assert.equal(sb.readFile("/root/kubectl.args")!.trimEnd().split("\n").length, 4, "apply asks nothing of the cluster");
    });
});

it("the dev stack's delete-daemonsets.sh steps: create and delete command lines (script elided), logging, stdin, as golden/commands.txt", () => {
    assertCommandsGolden("delete-daemonsets");
});
