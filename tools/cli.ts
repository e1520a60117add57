// The entry point of a tool of tools/: main's exit code, or 2 with the error on stderr.
export function runCli(name: string, main: (argv: string[]) => Promise<number>): void {
    main(process.argv.slice(2)).then(
        (code) => (process.exitCode = code),
        (err) => {
            console.error(`${name}: ${(err as Error).stack ?? err}`);
            process.exitCode = 2;
        },
    );
}
