// The binding of steps/packages/packages.sh: its options from the settings.
import type { HostPrepSettings } from "../../components/config";

export const script = "packages.sh";
export const args = (s: HostPrepSettings) => ({
    "yum-update": s.yumUpdate ? "yes" : "no",
    "kubernetes-version": s.kubernetesVersion,
    package: s.extraPackages,
});
