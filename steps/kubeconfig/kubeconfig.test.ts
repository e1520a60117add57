// The command lines of the dev stack's kubeconfig step (golden/commands.txt). kubeconfig.sh itself
// runs on the cluster kubeadm-init.sh makes: steps/kubeadm-init/kubeadm-init.test.ts (its stdout
// exactly admin.conf; without a cluster, an error).
import { it } from "node:test";

import { assertCommandsGolden } from "../../test/lib/steps";

it("the dev stack's kubeconfig.sh steps: create and delete command lines (script elided), logging, stdin, as golden/commands.txt", () => {
    assertCommandsGolden("kubeconfig");
});
