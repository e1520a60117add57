// Tests that are steps of one scenario, each building on the ones before: after a failed step the
// rest are skipped (said so, not failed again), and each step's time is kept for a closing line.
import { test } from "node:test";

export class Steps {
    /** whether a step has failed (the after hook keeps the logs then) */
    failed = false;
    /** milliseconds per step (by `timingKey` of its name), and whatever else the test adds */
    readonly timings: Record<string, number> = {};

    constructor(private readonly timingKey: (name: string) => string = (name) => name) {}

    step(name: string, fn: () => Promise<void> | void, timeoutMs: number): void {
        test(name, { timeout: timeoutMs }, async (t) => {
            if (this.failed) return t.skip("an earlier step failed");
            const t0 = Date.now();
            try {
                await fn();
            } catch (e) {
                this.failed = true;
                throw e;
            } finally {
                this.timings[this.timingKey(name)] = Date.now() - t0;
            }
        });
    }
}
