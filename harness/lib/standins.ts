// The recording stand-ins of harness/standins/bin with kubeadm 1.9's `join --config` added
// (harness/lib/kubeadm-join-config.sh): a copy in a private temp dir, made once per process, for a
// Sandbox's binDirs or a simulated lab's SIMLAB_STANDINS (harness/simlab.sh copies its stand-ins
// from there). steps/kubeadm-join/kubeadm-join.sh gives kubeadm its token in a NodeConfiguration on
// stdin, which the stand-in itself does not read yet.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const REPO = path.join(__dirname, "..", "..");
let made: string | undefined;

/** The directory: every stand-in as it is, `kubeadm` the join --config bridge, the stand-in as `kubeadm.standin`. */
export function standinsWithJoinConfig(): string {
    if (made && fs.existsSync(path.join(made, "kubeadm"))) return made;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvl-standins-"));
    fs.chmodSync(dir, 0o755);
    const src = path.join(REPO, "harness", "standins", "bin");
    for (const f of fs.readdirSync(src)) fs.copyFileSync(path.join(src, f), path.join(dir, f === "kubeadm" ? "kubeadm.standin" : f));
    fs.copyFileSync(path.join(REPO, "harness", "lib", "kubeadm-join-config.sh"), path.join(dir, "kubeadm"));
    fs.chmodSync(path.join(dir, "kubeadm"), 0o755);
    process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
    return (made = dir);
}
