// Prints the mocked resource graph of a config as JSON: {"<type> <name>": inputs}.
// Used by tests that compare two configs (one process per program run).
//   KVL_CONFIG='{"kubevirt-lab:...": "..."}' node --import tsx test/lib/dump-graph.ts
import { runProgram } from "./graph";

async function main() {
    const config = JSON.parse(process.env.KVL_CONFIG ?? "{}");
    const g = await runProgram(config);
    const out: Record<string, unknown> = {};
    for (const r of g.resources) out[`${r.type} ${r.name}`] = r.inputs;
    process.stdout.write(JSON.stringify(out));
}
main().catch((e) => {
    console.error(e.message);
    console.error(`registered: ${JSON.stringify(e.registered ?? null)}`);
    process.exit(1);
});
