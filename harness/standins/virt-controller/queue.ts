// A work queue of object keys, as client-go's rate-limited queue behaves for a controller: a key is
// queued once however often it is added, never handled by two workers at once (added again while
// it is handled, it runs once more afterwards), and a failed key comes back after a delay that
// doubles per failure up to a bound.

export type Logger = (msg: string) => void;

export class WorkQueue {
    private readonly queue: string[] = [];
    private readonly dirty = new Set<string>();
    private readonly processing = new Set<string>();
    private readonly failures = new Map<string, number>();
    private readonly timers = new Set<NodeJS.Timeout>();
    private wake: (() => void) | undefined;
    private stopped = false;

    constructor(
        private readonly name: string,
        private readonly handler: (key: string) => Promise<void>,
        private readonly log: Logger,
        private readonly opts = { baseDelayMs: 50, maxDelayMs: 10_000, workers: 2 },
    ) {}

    add(key: string): void {
        if (this.stopped || this.dirty.has(key)) return;
        this.dirty.add(key);
        if (this.processing.has(key)) return;
        this.queue.push(key);
        this.notify();
    }

    private addRateLimited(key: string): number {
        const n = (this.failures.get(key) ?? 0) + 1;
        this.failures.set(key, n);
        const delay = Math.min(this.opts.baseDelayMs * 2 ** (n - 1), this.opts.maxDelayMs);
        const t = setTimeout(() => {
            this.timers.delete(t);
            this.add(key);
        }, delay);
        this.timers.add(t);
        return delay;
    }

    private notify(): void {
        const w = this.wake;
        this.wake = undefined;
        w?.();
    }

    private async next(): Promise<string | undefined> {
        while (!this.stopped) {
            const key = this.queue.shift();
            if (key !== undefined) {
                this.dirty.delete(key);
                this.processing.add(key);
                return key;
            }
            await new Promise<void>((resolve) => {
                const prev = this.wake;
                this.wake = () => {
                    prev?.();
                    resolve();
                };
            });
        }
        return undefined;
    }

    private done(key: string): void {
        this.processing.delete(key);
        if (this.dirty.has(key)) {
            this.queue.push(key);
            this.notify();
        }
    }

    private async worker(): Promise<void> {
        for (let key = await this.next(); key !== undefined; key = await this.next()) {
            try {
                await this.handler(key);
                this.failures.delete(key);
            } catch (e) {
                if (!this.stopped) {
                    const delay = this.addRateLimited(key);
                    this.log(`${this.name} ${key}: ${(e as Error).message}; again in ${delay} ms`);
                }
            } finally {
                this.done(key);
            }
        }
    }

    /** Runs the workers until stop(); resolves when they have finished their current keys. */
    run(): Promise<void> {
        return Promise.all(Array.from({ length: this.opts.workers }, () => this.worker())).then(() => undefined);
    }

    stop(): void {
        this.stopped = true;
        for (const t of this.timers) clearTimeout(t);
        this.timers.clear();
        this.notify();
    }
}
