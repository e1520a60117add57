// The binding of steps/docker-storage/docker-storage.sh: its options from the settings (no device:
// docker keeps its default storage).
import type { HostPrepSettings } from "../../components/config";

export const script = "docker-storage.sh";
export const args = (s: HostPrepSettings) => ({ device: s.dockerStorageDevice || undefined });
