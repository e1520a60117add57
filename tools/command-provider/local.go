package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// After the context is done, how long a killed local command may keep its output pipes open.
const localWaitDelay = 10 * time.Second

// runLocal runs script with /bin/sh -c (or the interpreter) in c.Dir, with c.Environment added
// to the provider's environment and c.Stdin on standard input.
func runLocal(ctx context.Context, c *command, script string, logOut, logErr func(string)) (runResult, error) {
	if len(c.ArchivePaths) > 0 || len(c.AssetPaths) > 0 {
		return runResult{}, errors.New("archivePaths and assetPaths are not supported by this provider")
	}
	argv := []string{"/bin/sh", "-c"}
	if len(c.Interpreter) > 0 {
		argv = append([]string(nil), c.Interpreter...)
	}
	argv = append(argv, script)

	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = c.Dir
	cmd.Env = os.Environ()
	for k, v := range c.Environment {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	for _, kv := range previousOutputEnv(c) {
		cmd.Env = append(cmd.Env, kv[0]+"="+kv[1])
	}
	if c.Stdin != "" {
		cmd.Stdin = strings.NewReader(c.Stdin)
	}
	stdout, stderr := newOutputSink(logOut), newOutputSink(logErr)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Its own process group, so that cancelling stops the whole command, not only the shell.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = localWaitDelay

	err := cmd.Run()
	res := runResult{Stdout: stdout.finish(), Stderr: stderr.finish()}
	if err == nil {
		return res, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ctx.Err() != nil {
			return res, fmt.Errorf("cancelled: %w", ctx.Err())
		}
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return res, &exitError{Status: fmt.Sprintf("Process killed by signal %v", ws.Signal())}
		}
		return res, &exitError{Status: fmt.Sprintf("Process exited with status %d", ee.ExitCode())}
	}
	return res, err
}
