// A list-and-watch cache of one resource, as client-go's reflector and informer keep it: list,
// then watch from the list's resourceVersion; a watch the server ends is resumed from the last
// version seen; a 410 Gone or a lost connection means a new list (the difference to the cache is
// handed to the handlers as adds, updates and deletes). Retries wait a bounded, doubling delay.
import { Kube, isGone } from "./kube";
import { KObject, olderVersion } from "./render";
import type { Logger } from "./queue";

export interface Handlers {
    add(o: KObject): void;
    update(old: KObject, cur: KObject): void;
    delete(o: KObject): void;
}

export const keyOf = (o: KObject) => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : String(o.metadata.name));

const sleep = (ms: number, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
        if (signal.aborted) return resolve();
        const t = setTimeout(done, ms);
        function done() {
            clearTimeout(t);
            signal.removeEventListener("abort", done);
            resolve();
        }
        signal.addEventListener("abort", done);
    });

export interface InformerOptions {
    labelSelector?: string;
    /** Server-side watch timeout (randomised up to twice this, as client-go does). */
    watchTimeoutSeconds?: number;
    minBackoffMs?: number;
    maxBackoffMs?: number;
}

export class Informer {
    private readonly store = new Map<string, KObject>();
    private syncedFlag = false;
    private resolveSynced!: () => void;
    readonly synced: Promise<void> = new Promise((r) => (this.resolveSynced = r));

    constructor(
        private readonly kube: Kube,
        /** What the log calls it: "OfflineVirtualMachines" */
        readonly what: string,
        /** The collection path, e.g. /apis/kubevirt.io/v1alpha1/offlinevirtualmachines. */
        private readonly path: string,
        private readonly type: { apiVersion: string; kind: string },
        private readonly handlers: Handlers,
        private readonly log: Logger,
        private readonly opts: InformerOptions = {},
    ) {}

    get hasSynced(): boolean {
        return this.syncedFlag;
    }
    get(key: string): KObject | undefined {
        return this.store.get(key);
    }
    list(): KObject[] {
        return [...this.store.values()];
    }

    /** Records an object the controller has just written (a newer version wins; the watch confirms it). */
    upsert(o: KObject): void {
        const key = keyOf(o);
        const old = this.store.get(key);
        if (old && old.metadata.uid === o.metadata.uid && olderVersion(o.metadata.resourceVersion, old.metadata.resourceVersion)) return;
        this.store.set(key, o);
    }

    private apply(type: string, o: KObject): void {
        const key = keyOf(o);
        const old = this.store.get(key);
        if (type === "DELETED") {
            if (old && old.metadata.uid !== o.metadata.uid) return; // a newer object of that name is already known
            this.store.delete(key);
            this.handlers.delete(o);
            return;
        }
        if (old && old.metadata.uid === o.metadata.uid && olderVersion(o.metadata.resourceVersion, old.metadata.resourceVersion)) return;
        this.store.set(key, o);
        if (old) this.handlers.update(old, o);
        else this.handlers.add(o);
    }

    private replace(items: KObject[]): void {
        const seen = new Set<string>();
        for (const o of items) {
            seen.add(keyOf(o));
            this.apply("ADDED", o);
        }
        for (const [key, o] of [...this.store]) {
            if (!seen.has(key)) {
                this.store.delete(key);
                this.handlers.delete(o);
            }
        }
    }

    /** Lists and watches until the signal aborts. */
    async run(signal: AbortSignal): Promise<void> {
        const min = this.opts.minBackoffMs ?? 500;
        const max = this.opts.maxBackoffMs ?? 10_000;
        const timeout = this.opts.watchTimeoutSeconds ?? 300;
        let backoff = min;
        const fail = async (what: string, e: unknown) => {
            if (signal.aborted) return;
            this.log(`${what} ${this.what} failed: ${(e as Error).message}; again in ${backoff} ms`);
            await sleep(backoff, signal);
            backoff = Math.min(backoff * 2, max);
        };
        while (!signal.aborted) {
            let rv: string;
            try {
                const list = await this.kube.get(this.path, { labelSelector: this.opts.labelSelector });
                for (const o of list.items ?? []) {
                    // Items of a list carry no kind; writes of a cached object need it.
                    o.apiVersion = o.apiVersion ?? this.type.apiVersion;
                    o.kind = o.kind ?? this.type.kind;
                }
                this.replace(list.items ?? []);
                rv = list.metadata?.resourceVersion ?? "";
                if (!this.syncedFlag) {
                    this.syncedFlag = true;
                    this.resolveSynced();
                }
            } catch (e) {
                await fail("listing", e);
                continue;
            }
            // Watch until the version is gone or the connection is lost.
            for (;;) {
                if (signal.aborted) return;
                let gone = false;
                try {
                    const seconds = Math.floor(timeout * (1 + Math.random()));
                    await this.kube.watch(
                        this.path,
                        { labelSelector: this.opts.labelSelector, resourceVersion: rv, timeoutSeconds: String(seconds) },
                        (ev) => {
                            if (ev.type === "ERROR") {
                                const st = ev.object ?? {};
                                if (st.code === 410) {
                                    gone = true;
                                    throw new Error(`resourceVersion ${rv} is gone (${st.message ?? "410"})`);
                                }
                                throw new Error(`watch error ${st.code ?? ""} ${st.reason ?? ""}: ${st.message ?? JSON.stringify(st)}`);
                            }
                            if (!ev.object?.metadata) return;
                            rv = ev.object.metadata.resourceVersion ?? rv;
                            this.apply(ev.type, ev.object);
                        },
                        signal,
                        (seconds + 30) * 1000,
                    );
                    backoff = min; // the server closed a healthy watch: resume it
                } catch (e) {
                    if (signal.aborted) return;
                    if (gone || isGone(e)) this.log(`watching ${this.what}: ${(e as Error).message}; listing again`);
                    else await fail("watching", e);
                    break;
                }
            }
        }
    }
}
