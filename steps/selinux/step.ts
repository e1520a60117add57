// The binding of steps/selinux/selinux.sh: its option from the settings.
import type { HostPrepSettings } from "../../components/config";

export const script = "selinux.sh";
export const args = (s: HostPrepSettings) => ({ mode: s.selinux });
/** The file whose SELINUX= line the step sets (selinux.sh's CONF), for the settings' description. */
export const FILE = "/etc/selinux/config";
