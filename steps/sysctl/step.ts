// The binding of steps/sysctl/sysctl.sh: its options from the settings, and the setting's default
// (the lines sysctl.sh writes when it is given none).
import type { HostPrepSettings } from "../../components/config";

export const script = "sysctl.sh";
export const args = (s: HostPrepSettings) => ({ setting: s.sysctl });
/** The lines of the post's k8s.conf: the default of the sysctl setting, and sysctl.sh's without one. */
export const DEFAULT_LINES = ["net.bridge.bridge-nf-call-ip6tables = 1", "net.bridge.bridge-nf-call-iptables = 1"];
/** The file the step writes (sysctl.sh's CONF), for the settings' description and diagnose's advice. */
export const FILE = "/etc/sysctl.d/k8s.conf";
