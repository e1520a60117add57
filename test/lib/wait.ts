// waitFor: the tests' one poll, bounded by count and by time.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Calls fn every `everyMs` until it returns (or resolves to) something truthy, and returns that; at
 * most timeoutMs / everyMs + 1 calls and never past timeoutMs. A call that throws counts as not yet;
 * the last error is in the message of the timeout.
 */
export async function waitFor<T>(
    what: string,
    fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
    timeoutMs: number,
    everyMs = 500,
): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    const max = Math.ceil(timeoutMs / everyMs) + 1;
    let last: unknown;
    for (let i = 0; i < max && Date.now() <= deadline; i++) {
        try {
            const v = await fn();
            if (v) return v;
        } catch (e) {
            last = e;
        }
        await sleep(everyMs);
    }
    throw new Error(
        `${what}: not within ${timeoutMs} ms${last ? ` (last error: ${last instanceof Error ? last.message : String(last)})` : ""}`,
    );
}

/** waitFor with another default interval: `const waitFor = pollEvery(200)`. */
export const pollEvery =
    (defaultEveryMs: number) =>
    <T>(
        what: string,
        fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
        timeoutMs: number,
        everyMs = defaultEveryMs,
    ): Promise<T> =>
        waitFor(what, fn, timeoutMs, everyMs);
