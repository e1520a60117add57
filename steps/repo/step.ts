// The binding of steps/repo/repo.sh: its options from the settings (components/hostPrep.ts runs
// `apply` with them, npm run drift `check`).
import type { HostPrepSettings } from "../../components/config";

export const script = "repo.sh";
export const args = (s: HostPrepSettings) => ({ baseurl: s.yumRepoBaseUrl, gpgkey: s.yumRepoGpgKeys });
