// eslint: the recommended rules of eslint and typescript-eslint for the program, the harness and
// the tests. Formatting is prettier's (npm run lint runs both).
import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
    { ignores: ["node_modules/", "bin/", ".tmp-*/"] },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    {
        languageOptions: { globals: globals.node },
        rules: {
            "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
        },
    },
    {
        // The product (the program, its components and the user commands) never reaches into the
        // development harness or the tests: a user of real hosts has neither.
        files: ["index.ts", "components/**/*.ts", "tools/**/*.ts", "steps/*/step.ts"],
        rules: {
            "no-restricted-imports": [
                "error",
                { patterns: [{ group: ["**/harness/**", "**/test/**"], message: "the product never imports harness/ or test/" }] },
            ],
        },
    },
    {
        // Tests read the engine's JSON output (preview steps, stack exports), and the stand-ins the
        // Kubernetes API's JSON: neither has types here.
        files: ["test/**/*.ts", "steps/**/*.test.ts", "harness/standins/**/*.ts"],
        rules: { "@typescript-eslint/no-explicit-any": "off" },
    },
);
