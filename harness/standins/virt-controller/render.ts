// The shapes of the objects KubeVirt v0.4.1's virt-controller writes, as pure functions: the
// VirtualMachine an OfflineVirtualMachine starts, the defaults virt-controller fills in before it
// schedules a VM, and the virt-launcher pod it renders for it. Written from the v0.4.1 sources
// named in README.md; no KubeVirt code is copied.
import { createHash, randomUUID } from "node:crypto";

// --- object types (only the fields this stand-in reads or writes) -----------------------------

export interface ObjectMeta {
    name?: string;
    generateName?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
    finalizers?: string[];
    deletionTimestamp?: string;
    [k: string]: unknown;
}

export interface OwnerReference {
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
}

export interface KObject {
    apiVersion?: string;
    kind?: string;
    metadata: ObjectMeta;
    spec?: any;
    status?: any;
    [k: string]: unknown;
}

export interface Condition {
    type: string;
    status: string;
    lastProbeTime?: string | null;
    lastTransitionTime?: string | null;
    reason?: string;
    message?: string;
}

// --- constants of v0.4.1 (pkg/api/v1/types.go, pkg/virt-controller/watch/*.go) ----------------

export const GROUP = "kubevirt.io";
export const GROUP_VERSION = "kubevirt.io/v1alpha1";
export const APP_LABEL = "kubevirt.io";
export const DOMAIN_LABEL = "kubevirt.io/domain";
export const VM_UID_LABEL = "kubevirt.io/vmUID";
export const NODE_NAME_LABEL = "kubevirt.io/nodeName";
/** Set by the VirtualMachinePreset initializer once it has looked at a VM (watch/preset.go). */
export const PRESETS_APPLIED_ANNOTATION = "presets.virtualmachines.kubevirt.io/presets-applied";
export const DEFAULT_GRACE_PERIOD_SECONDS = 30;
/** The namespace of the stable firmware UUIDs an OfflineVirtualMachine gives its VM (watch/ovm.go). */
export const FIRMWARE_UUID_NAMESPACE = "6a1a24a1-4061-4607-8bf4-a3963d0c5895";

export const Phase = {
    Unset: "",
    Pending: "Pending",
    Scheduling: "Scheduling",
    Scheduled: "Scheduled",
    Running: "Running",
    Succeeded: "Succeeded",
    Failed: "Failed",
} as const;

export interface TemplateSettings {
    /** `--launcher-image`; the v0.4.1 manifest passes kubevirt/virt-launcher:v0.4.1. */
    launcherImage: string;
    /** `--kubevirt-share-dir` (default /var/run/kubevirt). */
    virtShareDir: string;
    /** `--ephemeral-disk-dir` (default /var/run/libvirt/kubevirt-ephemeral-disk). */
    ephemeralDiskDir: string;
    /** `--image-pull-secret` (default none). */
    imagePullSecret: string;
}

export const DEFAULT_TEMPLATE_SETTINGS: TemplateSettings = {
    launcherImage: "kubevirt/virt-launcher:v0.4.1",
    virtShareDir: "/var/run/kubevirt",
    ephemeralDiskDir: "/var/run/libvirt/kubevirt-ephemeral-disk",
    imagePullSecret: "",
};

const clone = <T>(o: T): T => JSON.parse(JSON.stringify(o)) as T;

// --- UUIDs ------------------------------------------------------------------------------------

/** RFC 4122 name-based UUID, version 5 (SHA-1), as pborman/uuid's NewSHA1 makes it. */
export function uuidV5(namespace: string, name: string): string {
    const ns = Buffer.from(namespace.replace(/-/g, ""), "hex");
    if (ns.length !== 16) throw new Error(`not a UUID: ${namespace}`);
    const h = createHash("sha1").update(ns).update(Buffer.from(name, "utf8")).digest().subarray(0, 16);
    h[6] = (h[6] & 0x0f) | 0x50;
    h[8] = (h[8] & 0x3f) | 0x80;
    const x = h.toString("hex");
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

// --- resource quantities (as k8s.io/apimachinery's resource.Quantity reads and prints them) ----

const BINARY: Record<string, number> = { Ki: 1, Mi: 2, Gi: 3, Ti: 4, Pi: 5, Ei: 6 };
const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, "": 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIXES = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
const DECIMAL_SUFFIXES: Record<number, string> = { 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E" };

export type QuantityFormat = "BinarySI" | "DecimalSI" | "DecimalExponent";

/** A quantity as a whole number of base units (rounded up, as Quantity.Value does) and its format. */
export interface Quantity {
    value: bigint;
    format: QuantityFormat;
}

const ceilDiv = (a: bigint, b: bigint): bigint => (a >= 0n ? (a + b - 1n) / b : a / b);

export function parseQuantity(s: string | number): Quantity {
    const text = String(s).trim();
    const m = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/.exec(text);
    if (!m) throw new Error(`not a quantity: ${JSON.stringify(s)}`);
    const [, sign, digits, exp, suffix = ""] = m;
    const [whole, frac = ""] = digits.split(".");
    let num = BigInt((whole || "0") + frac) * (sign === "-" ? -1n : 1n);
    let den = 10n ** BigInt(frac.length);
    let format: QuantityFormat = "DecimalSI";
    if (exp) {
        format = "DecimalExponent";
        const e = Number(exp.slice(1));
        if (e >= 0) num *= 10n ** BigInt(e);
        else den *= 10n ** BigInt(-e);
    } else if (suffix in BINARY) {
        format = "BinarySI";
        num *= 1024n ** BigInt(BINARY[suffix]);
    } else {
        const e = DECIMAL[suffix];
        if (e >= 0) num *= 10n ** BigInt(e);
        else den *= 10n ** BigInt(-e);
    }
    return { value: ceilDiv(num, den), format };
}

/** The canonical text of a whole-unit quantity in its format (Quantity.String). */
export function formatQuantity(q: Quantity): string {
    const v = q.value;
    const neg = v < 0n;
    const abs = neg ? -v : v;
    const sign = neg ? "-" : "";
    if (q.format === "BinarySI" && abs >= 1024n) {
        let mant = abs;
        let i = 0;
        while (i < BINARY_SUFFIXES.length - 1 && mant % 1024n === 0n) {
            mant /= 1024n;
            i++;
        }
        return `${sign}${mant}${BINARY_SUFFIXES[i]}`;
    }
    if (abs === 0n) return "0";
    let mant = abs;
    let e = 0;
    while (mant % 10n === 0n) {
        mant /= 10n;
        e++;
    }
    while (e % 3 !== 0) {
        mant *= 10n;
        e--;
    }
    if (q.format === "DecimalExponent") return e === 0 ? `${sign}${mant}` : `${sign}${mant}e${e}`;
    if (e > 18) {
        mant *= 10n ** BigInt(e - 18);
        e = 18;
    }
    return `${sign}${mant}${DECIMAL_SUFFIXES[e]}`;
}

/**
 * The memory the virt-launcher pod asks for beyond the guest's: page tables (one byte per 512 of
 * guest RAM, the RAM counted in whole kB), 64M fixed, 8Mi per vCPU core (cores × 8Mi; 8Mi when the
 * domain names no CPU), 8Mi for the IO thread, 16Mi video RAM (services/template.go,
 * setMemoryOverhead).
 */
export function memoryOverheadBytes(domain: any): bigint {
    const guest = parseQuantity(domain?.resources?.requests?.memory ?? 0).value;
    const pagetables = (ceilDiv(guest, 1000n) * 1000n) / 512n;
    const Mi = 1024n * 1024n;
    const cores = domain?.cpu ? BigInt(domain.cpu.cores ?? 0) : 1n;
    return pagetables + 64_000_000n + 8n * Mi * cores + 8n * Mi + 16n * Mi;
}

// --- label selectors ----------------------------------------------------------------------------

export function selectorMatches(selector: any, labels: Record<string, string> = {}): boolean {
    if (!selector) return false;
    for (const [k, v] of Object.entries<string>(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
    for (const e of selector.matchExpressions ?? []) {
        const has = Object.prototype.hasOwnProperty.call(labels, e.key);
        const values: string[] = e.values ?? [];
        switch (e.operator) {
            case "In":
                if (!has || !values.includes(labels[e.key])) return false;
                break;
            case "NotIn":
                if (has && values.includes(labels[e.key])) return false;
                break;
            case "Exists":
                if (!has) return false;
                break;
            case "DoesNotExist":
                if (has) return false;
                break;
            default:
                return false;
        }
    }
    return true;
}

// --- OfflineVirtualMachine → VirtualMachine (watch/ovm.go) ----------------------------------

export function controllerOf(o: KObject): OwnerReference | undefined {
    return (o.metadata.ownerReferences ?? []).find((r) => r.controller === true);
}

export function ovmOwnerReference(ovm: KObject): OwnerReference {
    return {
        apiVersion: GROUP_VERSION,
        kind: "OfflineVirtualMachine",
        name: ovm.metadata.name!,
        uid: ovm.metadata.uid!,
        controller: true,
        blockOwnerDeletion: true,
    };
}

/** The name of the VM an OVM starts: the template's name, else its generateName, else the OVM's. */
export function vmNameOf(ovm: KObject): string {
    const t = ovm.spec?.template?.metadata ?? {};
    return t.name || t.generateName || ovm.metadata.name!;
}

/**
 * The VirtualMachine an OfflineVirtualMachine with `running: true` creates: the template's
 * metadata (name and generateName both set to the base name, the template's labels), the
 * template's spec with a firmware UUID derived from the name when it has none, and a controller
 * owner reference to the OVM that blocks the owner's deletion.
 */
export function vmFromOvm(ovm: KObject): KObject {
    const template = clone(ovm.spec.template ?? {});
    const name = vmNameOf(ovm);
    const metadata: ObjectMeta = { ...(template.metadata ?? {}) };
    metadata.name = name;
    metadata.generateName = name;
    metadata.namespace = ovm.metadata.namespace;
    if (template.metadata?.labels) metadata.labels = template.metadata.labels;
    else delete metadata.labels;
    metadata.ownerReferences = [ovmOwnerReference(ovm)];
    const spec = template.spec ?? {};
    spec.domain = spec.domain ?? {};
    spec.domain.firmware = spec.domain.firmware ?? {};
    if (!spec.domain.firmware.uuid) spec.domain.firmware.uuid = uuidV5(FIRMWARE_UUID_NAMESPACE, name);
    return { apiVersion: GROUP_VERSION, kind: "VirtualMachine", metadata, spec };
}

/**
 * The OVM's status conditions after a sync (watch/ovm.go, updateStatus): `Running` (True) once its VM
 * is in phase Running while `running` is true, `Failure` (reason FailedCreate/FailedDelete) while
 * creating or deleting the VM fails. Returns undefined when nothing changes.
 */
export function ovmConditions(ovm: KObject, vm: KObject | undefined, syncError: string | undefined, now: string): Condition[] | undefined {
    const conds: Condition[] = clone(ovm.status?.conditions ?? []);
    const has = (t: string) => conds.some((c) => c.type === t);
    const running = ovm.spec?.running === true;
    const runningMatch = running === has("Running");
    const errMatch = (syncError !== undefined) === has("Failure");
    if (runningMatch && errMatch) return undefined;
    let out = conds;
    if (!errMatch) {
        if (syncError !== undefined) {
            out.push({
                type: "Failure",
                status: "True",
                reason: running ? "FailedCreate" : "FailedDelete",
                message: syncError,
                lastProbeTime: null,
                lastTransitionTime: now,
            });
        } else out = out.filter((c) => c.type !== "Failure");
    }
    if (!runningMatch) {
        if (vm && running && syncError === undefined && vm.status?.phase === Phase.Running) {
            const why = `Created by OVM ${ovm.metadata.name}`;
            out.push({ type: "Running", status: "True", reason: why, message: why, lastProbeTime: null, lastTransitionTime: now });
        } else out = out.filter((c) => c.type !== "Running");
    }
    // v0.4.1 writes the OVM on every sync until the conditions match; an unchanged list is not written here.
    if (JSON.stringify(out) === JSON.stringify(ovm.status?.conditions ?? [])) return undefined;
    return out;
}

// --- defaults virt-controller sets before scheduling (pkg/api/v1/defaults.go) ------------------

const enable = (o: any) => {
    if (o && o.enabled === undefined) o.enabled = true;
};

/** SetObjectDefaults_VirtualMachine of v0.4.1, applied to a copy. */
export function withVmDefaults(vm: KObject): KObject {
    const out = clone(vm);
    out.spec = out.spec ?? {};
    const d = (out.spec.domain = out.spec.domain ?? {});
    d.resources = d.resources ?? {};
    if (d.resources.requests?.memory === undefined) d.resources.requests = { memory: "8192Ki" };
    d.firmware = d.firmware ?? {};
    d.features = d.features ?? {};
    d.machine = d.machine ?? {};
    if (!d.machine.type) d.machine.type = "q35";
    const machine: string = d.machine.type;
    const bus = machine.startsWith("pc-q35") || machine.startsWith("q35") ? "sata" : "ide";
    d.devices = d.devices ?? {};
    for (const disk of d.devices.disks ?? []) {
        if (!disk.disk && !disk.cdrom && !disk.floppy && !disk.lun) disk.disk = {};
        for (const k of ["disk", "cdrom", "lun"]) if (disk[k] && !disk[k].bus) disk[k].bus = bus;
        if (disk.floppy && !disk.floppy.tray) disk.floppy.tray = "closed";
        if (disk.cdrom) {
            if (disk.cdrom.readonly === undefined) disk.cdrom.readonly = true;
            if (!disk.cdrom.tray) disk.cdrom.tray = "closed";
        }
    }
    if (!d.firmware.uuid) d.firmware.uuid = randomUUID();
    const timer = d.clock?.timer;
    if (timer) for (const k of ["hpet", "kvm", "pit", "rtc", "hyperv"]) enable(timer[k]);
    d.features.acpi = d.features.acpi ?? {};
    enable(d.features.acpi);
    enable(d.features.apic);
    const hv = d.features.hyperv;
    if (hv) {
        for (const k of ["relaxed", "vapic", "vpindex", "runtime", "synic", "synictimer", "reset", "vendorid"]) enable(hv[k]);
        if (hv.spinlocks) {
            enable(hv.spinlocks);
            if (hv.spinlocks.enabled === true && hv.spinlocks.spinlocks === undefined) hv.spinlocks.spinlocks = 4096;
        }
    }
    const wd = d.devices.watchdog;
    if (wd) {
        wd.i6300esb = wd.i6300esb ?? {};
        if (!wd.i6300esb.action) wd.i6300esb.action = "reset";
    }
    return out;
}

// --- the virt-launcher pod (services/template.go, registry-disk/registry-disk.go) -------------

const readinessProbe = (period: number, success: number) => ({
    exec: { command: ["cat", "/tmp/healthy"] },
    initialDelaySeconds: 2,
    periodSeconds: period,
    timeoutSeconds: 5,
    successThreshold: success,
    failureThreshold: 5,
});

/**
 * The pod virt-controller creates as a VM's place: generateName `virt-launcher-<vm>-`, labels
 * kubevirt.io=virt-launcher, kubevirt.io/domain=<vm>, kubevirt.io/vmUID=<uid>, the VM's
 * nodeSelector and node affinity, one container per registry disk (`volume<name>`) and the
 * privileged `compute` container running virt-launcher's /entrypoint.sh, which asks for the
 * domain's resources plus the memory overhead.
 */
export function launcherPod(vm: KObject, t: TemplateSettings = DEFAULT_TEMPLATE_SETTINGS): KObject {
    const name = vm.metadata.name;
    const namespace = vm.metadata.namespace;
    const uid = vm.metadata.uid;
    if (!name || !namespace || !uid) throw new Error("a VM needs a name, a namespace and a uid to render its pod");
    const spec = vm.spec ?? {};
    const domain = spec.domain ?? {};
    const grace =
        (typeof spec.terminationGracePeriodSeconds === "number" ? spec.terminationGracePeriodSeconds : DEFAULT_GRACE_PERIOD_SECONDS) + 15;
    const graceKillAfter = grace + 15;

    const volumes: any[] = [];
    const mounts: any[] = [
        { name: "virt-share-dir", mountPath: t.virtShareDir },
        { name: "libvirt-runtime", mountPath: "/var/run/libvirt" },
    ];
    const pullSecrets: Array<{ name: string }> = [];
    const addSecret = (s: string) => {
        if (!pullSecrets.some((x) => x.name === s)) pullSecrets.push({ name: s });
    };
    for (const v of spec.volumes ?? []) {
        const mount = { name: v.name, mountPath: `/var/run/kubevirt-private/vm-disks/${v.name}` };
        if (v.persistentVolumeClaim) {
            mounts.push(mount);
            volumes.push({ name: v.name, persistentVolumeClaim: clone(v.persistentVolumeClaim) });
        }
        if (v.ephemeral) {
            mounts.push(mount);
            volumes.push({ name: v.name, persistentVolumeClaim: clone(v.ephemeral.persistentVolumeClaim) });
        }
        if (v.registryDisk?.imagePullSecret) addSecret(v.registryDisk.imagePullSecret);
    }
    if (t.imagePullSecret) addSecret(t.imagePullSecret);

    const resources: any = { requests: { ...(domain.resources?.requests ?? {}) } };
    if (domain.resources?.limits) resources.limits = { ...domain.resources.limits };
    const overhead = memoryOverheadBytes(domain);
    const addOverhead = (text: string | undefined): string => {
        const q = text === undefined ? { value: 0n, format: "DecimalSI" as QuantityFormat } : parseQuantity(text);
        return formatQuantity({ value: q.value + overhead, format: q.format });
    };
    resources.requests.memory = addOverhead(resources.requests.memory);
    if (resources.limits?.memory !== undefined) resources.limits.memory = addOverhead(resources.limits.memory);

    const diskBase = `${t.ephemeralDiskDir}/registry-disk-data/${namespace}/${name}`;
    const containers: any[] = [];
    for (const v of spec.volumes ?? []) {
        if (!v.registryDisk) continue;
        containers.push({
            name: `volume${v.name}`,
            image: v.registryDisk.image,
            imagePullPolicy: "IfNotPresent",
            command: ["/entry-point.sh"],
            env: [{ name: "COPY_PATH", value: `${diskBase}/disk_${v.name}/disk-image` }],
            volumeMounts: [{ name: "libvirt-runtime", mountPath: "/var/run/libvirt" }],
            readinessProbe: readinessProbe(5, 2),
        });
    }
    containers.push({
        name: "compute",
        image: t.launcherImage,
        imagePullPolicy: "IfNotPresent",
        securityContext: { runAsUser: 0, privileged: true },
        command: [
            "/entrypoint.sh",
            "--qemu-timeout",
            "5m",
            "--name",
            name,
            "--namespace",
            namespace,
            "--kubevirt-share-dir",
            t.virtShareDir,
            "--readiness-file",
            "/tmp/healthy",
            "--grace-period-seconds",
            String(grace),
        ],
        volumeMounts: mounts,
        readinessProbe: readinessProbe(2, 1),
        resources,
    });
    volumes.push({ name: "virt-share-dir", hostPath: { path: t.virtShareDir } });
    volumes.push({ name: "libvirt-runtime", emptyDir: {} });

    const podSpec: any = {
        securityContext: { runAsUser: 0 },
        terminationGracePeriodSeconds: graceKillAfter,
        restartPolicy: "Never",
        containers,
        volumes,
    };
    if (spec.nodeSelector && Object.keys(spec.nodeSelector).length > 0) podSpec.nodeSelector = { ...spec.nodeSelector };
    if (pullSecrets.length > 0) podSpec.imagePullSecrets = pullSecrets;
    if (spec.affinity) {
        podSpec.affinity = {};
        if (spec.affinity.nodeAffinity) podSpec.affinity.nodeAffinity = clone(spec.affinity.nodeAffinity);
    }
    return {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
            generateName: `virt-launcher-${name}-`,
            namespace,
            labels: { [APP_LABEL]: "virt-launcher", [DOMAIN_LABEL]: name, [VM_UID_LABEL]: uid },
        },
        spec: podSpec,
    };
}

/** The label selector of a VM's virt-launcher pods (services/vm.go, UnfinishedVMPodSelector). */
export function launcherSelector(vmName: string): string {
    return `${APP_LABEL}=virt-launcher,${DOMAIN_LABEL} in (${vmName})`;
}
export const UNFINISHED_POD_FIELDS = "status.phase!=Failed,status.phase!=Succeeded";

/** A pod counts as ready for the VM when every container status says ready (watch/vm.go, verifyReadiness). */
export function podContainersReady(pod: KObject): boolean {
    return (pod.status?.containerStatuses ?? []).every((c: any) => c.ready === true);
}

/** Whether an object's numeric resourceVersion is older than another's (same uid assumed). */
export function olderVersion(a: string | undefined, b: string | undefined): boolean {
    if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
    return BigInt(a) < BigInt(b);
}

/**
 * An Event as client-go's recorder writes it: about `object` (its kind and apiVersion given), from
 * `component`, counted once, stamped `at`; named <object name>.<nanoseconds in hex>.
 */
export function eventFor(
    object: KObject,
    ref: { apiVersion: string; kind: string },
    e: { component: string; type: "Normal" | "Warning"; reason: string; message: string },
    at: Date = new Date(),
): KObject {
    const ts = at.toISOString().replace(/\.\d+Z$/, "Z");
    const ns = object.metadata.namespace!;
    return {
        apiVersion: "v1",
        kind: "Event",
        metadata: { name: `${object.metadata.name}.${(BigInt(at.getTime()) * 1_000_000n).toString(16)}`, namespace: ns },
        involvedObject: {
            kind: ref.kind,
            namespace: ns,
            name: object.metadata.name,
            uid: object.metadata.uid,
            apiVersion: ref.apiVersion,
            resourceVersion: object.metadata.resourceVersion,
        },
        reason: e.reason,
        message: e.message,
        source: { component: e.component },
        firstTimestamp: ts,
        lastTimestamp: ts,
        count: 1,
        type: e.type,
    } as KObject;
}
