// Prints the mocked resource graph of a config as JSON: {"<type> <name>": inputs}.
// Used by tests that compare two configs, or that see the program stop (one process per program run).
//   KVL_CONFIG='{"kubevirt-lab:...": "..."}' [KVL_HOST_KEYS='{"<address>": "<key line>"}'] node --import tsx test/lib/dump-graph.ts
// KVL_HOST_KEYS: the keys hosts offer now, where they differ from the recorded ones (fakeHostKey).
import { fakeHostKey, runProgram } from "./graph";

async function main() {
    const config = JSON.parse(process.env.KVL_CONFIG ?? "{}");
    const offered: Record<string, string> = JSON.parse(process.env.KVL_HOST_KEYS ?? "{}");
    const g = await runProgram(config, undefined, (a) => `${a} ${offered[a] ?? fakeHostKey(a)}\n`);
    const out: Record<string, unknown> = {};
    for (const r of g.resources) out[`${r.type} ${r.name}`] = r.inputs;
    process.stdout.write(JSON.stringify(out));
}
main().catch((e) => {
    console.error(e.message);
    console.error(`registered: ${JSON.stringify(e.registered ?? null)}`);
    process.exit(1);
});
