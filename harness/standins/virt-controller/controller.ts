// The controllers of KubeVirt v0.4.1's virt-controller, as far as the API can tell them apart from
// the real ones, with nothing behind them (no libvirt, no VM):
//
// - the OfflineVirtualMachine controller (watch/ovm.go): `running: true` → a VirtualMachine from
//   the template, owned by the OVM; `running: false` → that VM deleted; a VM in a final phase
//   deleted so that it starts again; the OVM's Running/Failure conditions; Events.
// - the VirtualMachinePreset initializer (watch/preset.go), reduced to its mark: a VM gets the
//   presets-applied annotation before anything else looks at it (presets are not merged).
// - the VirtualMachine controller (watch/vm.go): an initialized VM without phase gets the defaults
//   and its virt-launcher pod and goes to Scheduling; once that pod runs with all containers ready,
//   Scheduled with the pod's node (status.nodeName, the kubevirt.io/nodeName label) and IP
//   (status.interfaces); a VM that is gone or final loses its unfinished virt-launcher pods.
// - optionally (on by default) what virt-handler would report next (virt-handler/vm.go): a
//   Scheduled VM whose pod still runs is Running; a Scheduled or Running VM whose pod is gone or
//   finished is Failed.
import { ApiError, Kube, isConflict, isNotFound } from "./kube";
import { Informer, keyOf } from "./informer";
import { Logger, WorkQueue } from "./queue";
import {
    APP_LABEL,
    DOMAIN_LABEL,
    GROUP_VERSION,
    KObject,
    NODE_NAME_LABEL,
    PRESETS_APPLIED_ANNOTATION,
    Phase,
    TemplateSettings,
    UNFINISHED_POD_FIELDS,
    controllerOf,
    eventFor,
    launcherPod,
    launcherSelector,
    ovmConditions,
    ovmOwnerReference,
    podContainersReady,
    selectorMatches,
    vmFromOvm,
    vmNameOf,
    withVmDefaults,
} from "./render";

export interface ControllerOptions {
    template: TemplateSettings;
    /** Also move VMs Scheduled → Running / → Failed as virt-handler would report them. */
    handlerPhases: boolean;
    /** Watch one namespace only (default: all). */
    namespace?: string;
}

const KV = "/apis/kubevirt.io/v1alpha1";
const nsPath = (ns: string | undefined) => (ns ? `/namespaces/${ns}` : "");
const split = (key: string): [string, string] => {
    const i = key.indexOf("/");
    return [key.slice(0, i), key.slice(i + 1)];
};
const isFinal = (vm: KObject) => vm.status?.phase === Phase.Failed || vm.status?.phase === Phase.Succeeded;
const unfinished = (pod: KObject) => pod.status?.phase !== "Failed" && pod.status?.phase !== "Succeeded";
const isLauncher = (pod: KObject) => pod.metadata.labels?.[APP_LABEL] === "virt-launcher" && !!pod.metadata.labels?.[DOMAIN_LABEL];

export class VirtController {
    readonly ovms: Informer;
    readonly vms: Informer;
    readonly pods: Informer;
    private readonly ovmQueue: WorkQueue;
    private readonly vmQueue: WorkQueue;

    constructor(
        private readonly kube: Kube,
        private readonly opts: ControllerOptions,
        private readonly log: Logger,
    ) {
        const ns = nsPath(opts.namespace);
        this.ovmQueue = new WorkQueue("OfflineVirtualMachine", (k) => this.syncOvm(k), log);
        this.vmQueue = new WorkQueue("VirtualMachine", (k) => this.syncVm(k), log);
        const ovmKeyOfVm = (vm: KObject) => {
            const ref = controllerOf(vm);
            if (ref) return ref.kind === "OfflineVirtualMachine" ? `${vm.metadata.namespace}/${ref.name}` : undefined;
            return keyOf(vm); // an orphan: an OVM of the same name may adopt it
        };
        const onVm = (vm: KObject) => {
            this.vmQueue.add(keyOf(vm));
            const k = ovmKeyOfVm(vm);
            if (k) this.ovmQueue.add(k);
        };
        const onPod = (pod: KObject, deleted: boolean) => {
            if (!isLauncher(pod)) return;
            const phase = pod.status?.phase;
            const vmKey = `${pod.metadata.namespace}/${pod.metadata.labels![DOMAIN_LABEL]}`;
            // As v0.4.1: running, finished or deleted pods wake their VM. Besides: a pod whose VM is
            // not known (gone while this was not running) wakes it too, so that it is cleaned up.
            if (
                deleted ||
                pod.metadata.deletionTimestamp ||
                phase === "Running" ||
                phase === "Failed" ||
                phase === "Succeeded" ||
                !this.vms.get(vmKey)
            ) {
                this.vmQueue.add(vmKey);
            }
        };
        this.ovms = new Informer(
            kube,
            "OfflineVirtualMachines",
            `${KV}${ns}/offlinevirtualmachines`,
            { apiVersion: GROUP_VERSION, kind: "OfflineVirtualMachine" },
            {
                add: (o) => this.ovmQueue.add(keyOf(o)),
                update: (_, o) => this.ovmQueue.add(keyOf(o)),
                delete: (o) => this.ovmQueue.add(keyOf(o)),
            },
            log,
        );
        this.vms = new Informer(
            kube,
            "VirtualMachines",
            `${KV}${ns}/virtualmachines`,
            { apiVersion: GROUP_VERSION, kind: "VirtualMachine" },
            {
                add: onVm,
                update: (old, cur) => {
                    onVm(cur);
                    const before = ovmKeyOfVm(old);
                    if (before && before !== ovmKeyOfVm(cur)) this.ovmQueue.add(before);
                },
                delete: onVm,
            },
            log,
        );
        this.pods = new Informer(
            kube,
            "pods",
            `/api/v1${ns}/pods`,
            { apiVersion: "v1", kind: "Pod" },
            {
                add: (p) => onPod(p, false),
                update: (_, p) => onPod(p, false),
                delete: (p) => onPod(p, true),
            },
            log,
            { labelSelector: APP_LABEL },
        );
    }

    /** Runs until the signal aborts; the queues start once all three caches are filled. */
    async run(signal: AbortSignal): Promise<void> {
        const informers = [this.ovms, this.vms, this.pods].map((i) => i.run(signal));
        const synced = Promise.all([this.ovms.synced, this.vms.synced, this.pods.synced]);
        const aborted = new Promise<void>((r) => (signal.aborted ? r() : signal.addEventListener("abort", () => r(), { once: true })));
        await Promise.race([synced, aborted]);
        let workers: Promise<unknown> = Promise.resolve();
        if (!signal.aborted) {
            this.log(
                `caches filled: ${this.ovms.list().length} OfflineVirtualMachines, ${this.vms.list().length} VirtualMachines, ` +
                    `${this.pods.list().length} pods labelled ${APP_LABEL}; controllers started`,
            );
            workers = Promise.all([this.ovmQueue.run(), this.vmQueue.run()]);
        }
        await aborted;
        this.ovmQueue.stop();
        this.vmQueue.stop();
        await Promise.all([...informers, workers]);
    }

    // --- OfflineVirtualMachine controller ------------------------------------------------------

    private async syncOvm(key: string): Promise<void> {
        const ovm = this.ovms.get(key);
        // A deleted OVM needs nothing here: its VM carries an owner reference with
        // blockOwnerDeletion, and the garbage collector of kube-controller-manager deletes it.
        if (!ovm) return;
        if (!ovm.spec?.template) {
            this.log(`OfflineVirtualMachine ${key} has no spec.template; left alone`);
            return;
        }
        const ns = ovm.metadata.namespace!;
        const vmKey = `${ns}/${vmNameOf(ovm)}`;
        let vm = this.vms.get(vmKey);
        let syncError: string | undefined;
        if (vm) {
            const ref = controllerOf(vm);
            if (!ref && !ovm.metadata.deletionTimestamp) {
                const refs = [...(vm.metadata.ownerReferences ?? []), ovmOwnerReference(ovm)];
                vm = await this.kube.mergePatch(`${KV}/namespaces/${ns}/virtualmachines/${vm.metadata.name}`, {
                    metadata: { ownerReferences: refs },
                });
                this.vms.upsert(vm!);
                this.log(`adopted VirtualMachine ${vmKey} for OfflineVirtualMachine ${key}`);
            } else if (ref && ref.uid !== ovm.metadata.uid) {
                syncError = `VirtualMachine ${vmKey} is controlled by ${ref.kind} ${ref.name} (uid ${ref.uid})`;
                vm = undefined;
            }
        }
        if (!syncError && !ovm.metadata.deletionTimestamp) {
            try {
                vm = await this.startStop(ovm, vm);
            } catch (e) {
                syncError = (e as Error).message;
            }
        }
        if (ovm.metadata.deletionTimestamp && (ovm.metadata.finalizers ?? []).includes("orphan")) {
            // Deleted with orphaning: the VM stays, without the owner reference.
            if (vm && controllerOf(vm)?.uid === ovm.metadata.uid) {
                const refs = (vm.metadata.ownerReferences ?? []).filter((r) => r.uid !== ovm.metadata.uid);
                this.vms.upsert(
                    await this.kube.mergePatch(`${KV}/namespaces/${ns}/virtualmachines/${vm.metadata.name}`, {
                        metadata: { ownerReferences: refs },
                    }),
                );
                this.log(`released VirtualMachine ${vmKey} of OfflineVirtualMachine ${key} (deleted with orphaning)`);
            }
            return;
        }
        const conditions = ovmConditions(ovm, vm, syncError, new Date().toISOString().replace(/\.\d+Z$/, "Z"));
        if (conditions) {
            const updated = { ...ovm, status: { ...(ovm.status ?? {}), conditions } };
            if (conditions.length === 0) delete updated.status.conditions;
            try {
                this.ovms.upsert(await this.kube.put(`${KV}/namespaces/${ns}/offlinevirtualmachines/${ovm.metadata.name}`, updated));
                this.log(`OfflineVirtualMachine ${key}: conditions [${conditions.map((c) => `${c.type}=${c.status}`).join(", ")}]`);
            } catch (e) {
                if (!isConflict(e) && !isNotFound(e)) throw e;
                // A newer OVM is on its way through the watch; it brings the key back.
            }
        }
        if (syncError) throw new Error(syncError);
    }

    /** Creates or deletes the OVM's VM; returns the VM as it now is (undefined when none). */
    private async startStop(ovm: KObject, vm: KObject | undefined): Promise<KObject | undefined> {
        const ns = ovm.metadata.namespace!;
        const key = keyOf(ovm);
        if (ovm.spec.running === true) {
            if (vm) {
                if (isFinal(vm) && !vm.metadata.deletionTimestamp) {
                    await this.deleteVm(ovm, vm, `it is ${vm.status.phase}; it starts again`);
                }
                return vm;
            }
            const want = vmFromOvm(ovm);
            let created: KObject;
            try {
                created = await this.kube.post(`${KV}/namespaces/${ns}/virtualmachines`, want);
            } catch (e) {
                await this.event(ovm, "Warning", "FailedCreate", `Error creating virtual machine: ${(e as Error).message}`);
                throw e;
            }
            this.vms.upsert(created);
            this.log(
                `created VirtualMachine ${ns}/${created.metadata.name} (uid ${created.metadata.uid}) for OfflineVirtualMachine ${key}`,
            );
            await this.event(ovm, "Normal", "SuccessfulCreate", `Created virtual machine: ${created.metadata.name}`);
            return created;
        }
        if (vm && !vm.metadata.deletionTimestamp) {
            await this.deleteVm(ovm, vm, "running is false");
            return vm;
        }
        return vm;
    }

    private async deleteVm(ovm: KObject, vm: KObject, why: string): Promise<void> {
        const ns = vm.metadata.namespace!;
        try {
            await this.kube.delete(`${KV}/namespaces/${ns}/virtualmachines/${vm.metadata.name}`, undefined, {
                kind: "DeleteOptions",
                apiVersion: "v1",
            });
        } catch (e) {
            if (isNotFound(e)) return;
            await this.event(ovm, "Warning", "FailedDelete", `Error deleting virtual machine ${vm.metadata.name}: ${(e as Error).message}`);
            throw e;
        }
        this.log(`deleted VirtualMachine ${keyOf(vm)} of OfflineVirtualMachine ${keyOf(ovm)}: ${why}`);
        await this.event(ovm, "Normal", "SuccessfulDelete", `Deleted virtual machine: ${vm.metadata.uid}`);
    }

    /** An Event about an OVM, as the recorder of component offlinevirtualmachine-controller writes it (best effort). */
    private async event(ovm: KObject, type: "Normal" | "Warning", reason: string, message: string): Promise<void> {
        const ns = ovm.metadata.namespace!;
        const body = eventFor(
            ovm,
            { apiVersion: GROUP_VERSION, kind: "OfflineVirtualMachine" },
            { component: "offlinevirtualmachine-controller", type, reason, message },
        );
        try {
            await this.kube.post(`/api/v1/namespaces/${ns}/events`, body);
        } catch (e) {
            this.log(`event ${reason} for OfflineVirtualMachine ${keyOf(ovm)} not recorded: ${(e as Error).message}`);
        }
    }

    // --- VirtualMachine controller -----------------------------------------------------------

    /** The VM's virt-launcher pods that have not finished, asked of the API server (not the cache). */
    private async launcherPods(ns: string, name: string): Promise<KObject[]> {
        const list = await this.kube.get(`/api/v1/namespaces/${ns}/pods`, {
            labelSelector: launcherSelector(name),
            fieldSelector: UNFINISHED_POD_FIELDS,
        });
        return list.items ?? [];
    }

    private async deleteLauncherPods(ns: string, name: string, pods: KObject[], why: string): Promise<void> {
        await this.kube.delete(`/api/v1/namespaces/${ns}/pods`, {
            labelSelector: launcherSelector(name),
            fieldSelector: UNFINISHED_POD_FIELDS,
        });
        this.log(
            `deleted virt-launcher pod${pods.length === 1 ? "" : "s"} ${pods.map((p) => p.metadata.name).join(", ")} of VirtualMachine ${ns}/${name}: ${why}`,
        );
    }

    private async putVm(vm: KObject): Promise<KObject> {
        const out = await this.kube.put(`${KV}/namespaces/${vm.metadata.namespace}/virtualmachines/${vm.metadata.name}`, vm);
        this.vms.upsert(out);
        return out;
    }

    /** The VM's virt-launcher pods in the cache that are neither finished nor being deleted. */
    private cachedLauncherPods(ns: string, name: string): KObject[] {
        return this.pods
            .list()
            .filter(
                (p) =>
                    p.metadata.namespace === ns &&
                    isLauncher(p) &&
                    p.metadata.labels![DOMAIN_LABEL] === name &&
                    unfinished(p) &&
                    !p.metadata.deletionTimestamp,
            );
    }

    private async syncVm(key: string): Promise<void> {
        const [ns, name] = split(key);
        const vm = this.vms.get(key);
        if (!vm) {
            // The VM is gone: its pods go too (the pods carry no owner reference in v0.4.1).
            const cached = this.cachedLauncherPods(ns, name);
            if (cached.length === 0) return;
            await this.deleteLauncherPods(ns, name, cached, "the VirtualMachine is gone");
            return;
        }
        if (!(PRESETS_APPLIED_ANNOTATION in (vm.metadata.annotations ?? {}))) {
            await this.initialize(vm);
            return;
        }
        const phase = vm.status?.phase ?? Phase.Unset;
        switch (phase) {
            case Phase.Unset:
            case Phase.Pending: {
                const pods = await this.launcherPods(ns, name);
                if (pods.length > 0) {
                    await this.deleteLauncherPods(ns, name, pods, "left over from before; a new one follows");
                    return;
                }
                const defaulted = withVmDefaults(vm);
                const pod = launcherPod(defaulted, this.opts.template);
                const created = await this.kube.post(`/api/v1/namespaces/${ns}/pods`, pod);
                const sel =
                    Object.entries(pod.spec.nodeSelector ?? {})
                        .map(([k, v]) => `${k}=${v}`)
                        .join(",") || "none";
                this.log(`created virt-launcher pod ${ns}/${created.metadata.name} for VirtualMachine ${key} (nodeSelector ${sel})`);
                defaulted.status = { ...(defaulted.status ?? {}), phase: Phase.Scheduling };
                await this.putVm(defaulted);
                this.log(`VirtualMachine ${key}: phase Scheduling`);
                return;
            }
            case Phase.Scheduling: {
                const pods = await this.launcherPods(ns, name);
                if (pods.length !== 1) return; // none yet (its events bring the key back), or several: wait for them to go
                const pod = pods[0];
                if (pod.status?.phase !== "Running" || !podContainersReady(pod)) return;
                const node: string = pod.spec?.nodeName ?? "";
                const next: KObject = JSON.parse(JSON.stringify(vm));
                next.metadata.labels = { ...(next.metadata.labels ?? {}), [NODE_NAME_LABEL]: node };
                const iface = pod.status?.podIP ? { ipAddress: pod.status.podIP } : {};
                next.status = { ...(next.status ?? {}), phase: Phase.Scheduled, nodeName: node, interfaces: [iface] };
                await this.putVm(next);
                this.log(
                    `VirtualMachine ${key}: phase Scheduled on node ${node || "(none)"}, pod ${pod.metadata.name}${pod.status?.podIP ? ` IP ${pod.status.podIP}` : ""}`,
                );
                return;
            }
            case Phase.Scheduled:
            case Phase.Running: {
                if (!this.opts.handlerPhases || vm.metadata.deletionTimestamp) return;
                const pods = await this.launcherPods(ns, name);
                const running = pods.find((p) => p.status?.phase === "Running");
                if (phase === Phase.Scheduled && running) {
                    await this.putVm({ ...vm, status: { ...vm.status, phase: Phase.Running } });
                    this.log(
                        `VirtualMachine ${key}: phase Running on node ${vm.status?.nodeName || "(none)"} (as virt-handler would report it; no domain runs)`,
                    );
                } else if (pods.length === 0) {
                    await this.putVm({ ...vm, status: { ...vm.status, phase: Phase.Failed } });
                    this.log(
                        `VirtualMachine ${key}: phase Failed, its virt-launcher pod is gone or finished (as virt-handler would report it)`,
                    );
                }
                return;
            }
            case Phase.Failed:
            case Phase.Succeeded: {
                const pods = this.cachedLauncherPods(ns, name);
                if (pods.length > 0) await this.deleteLauncherPods(ns, name, pods, `the VirtualMachine is ${phase}`);
                return;
            }
            default:
                return;
        }
    }

    /** The preset initializer's mark (watch/preset.go): matching presets are named, not merged. */
    private async initialize(vm: KObject): Promise<void> {
        const ns = vm.metadata.namespace!;
        let presets: KObject[] = [];
        try {
            presets = (await this.kube.get(`${KV}/namespaces/${ns}/virtualmachinepresets`)).items ?? [];
        } catch (e) {
            if (!(e instanceof ApiError && e.status === 404)) throw e;
        }
        const matching = presets.filter((p) => selectorMatches(p.spec?.selector, vm.metadata.labels));
        const next: KObject = JSON.parse(JSON.stringify(vm));
        next.metadata.annotations = { ...(next.metadata.annotations ?? {}), [PRESETS_APPLIED_ANNOTATION]: GROUP_VERSION };
        await this.putVm(next);
        const note =
            matching.length > 0
                ? `; VirtualMachinePresets ${matching.map((p) => p.metadata.name).join(", ")} match but this stand-in does not merge presets`
                : "";
        this.log(`VirtualMachine ${keyOf(vm)}: marked initialized (${PRESETS_APPLIED_ANNOTATION})${note}`);
    }
}
