// The command lines of the dev stack's flannel step (golden/commands.txt). flannel.sh itself runs on
// the cluster kubeadm-init.sh makes: steps/kubeadm-init/kubeadm-init.test.ts (apply once per URL,
// a second run that changes nothing, remove) and the cluster flow in steps/kubeadm-join/.
import { it } from "node:test";

import { assertCommandsGolden } from "../../test/lib/steps";

it("the dev stack's flannel.sh steps: create and delete command lines (script elided), logging, stdin, as golden/commands.txt", () => {
    assertCommandsGolden("flannel");
});
