// The binding of steps/flannel/flannel.sh: the manifest to apply.
import type { ClusterSettings } from "../../components/config";

export const script = "flannel.sh";
export const args = (c: ClusterSettings) => ({ "manifest-url": c.flannelManifestUrl });
