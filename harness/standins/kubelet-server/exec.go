package main

// exec: a command in a container is run with util-linux nsenter in the namespaces of the container's
// process (mount, UTS, IPC, network, its PID namespace when it has one of its own, its root and
// working directory), with that process's environment. A non-zero exit is returned as k8s.io/utils/exec's CodeExitError, which the 1.9.4
// remotecommand server (ServeExec) turns into a NonZeroExitCode status with the code as its cause:
// kubectl exits with that code. A tty is a pseudo-terminal (github.com/kr/pty as 1.9.4 vendors it
// for pkg/kubelet/container's StartPty), resized as the client asks (pkg/util/term.SetSize).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/ioutil"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kr/pty"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/remotecommand"
	kubecontainer "k8s.io/kubernetes/pkg/kubelet/container"
	"k8s.io/kubernetes/pkg/util/term"
	utilexec "k8s.io/utils/exec"
)

// outputDrain: how long, after the command exited, its output may still be copied (a background
// process that keeps the pipe or terminal open must not hold the session forever).
const outputDrain = 2 * time.Second

// ExecInContainer runs cmd in the container (kubectl exec).
func (h *host) ExecInContainer(name string, uid types.UID, container string, cmd []string, in io.Reader, out, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize, timeout time.Duration) error {
	c, err := h.command(name, uid, container, cmd, timeout)
	if err != nil {
		return err
	}
	defer c.cancel()
	logf("exec in %s/%s (pid %d, tty %v): %q", name, container, c.pid, tty, cmd)
	if tty {
		err = runTTY(c.Cmd, in, out, resize)
	} else {
		err = runPipes(c.Cmd, in, out, stderr)
	}
	return exitError(cmd, err)
}

// RunInContainer runs cmd and returns its stdout and stderr (the kubelet's /run endpoint).
func (h *host) RunInContainer(name string, uid types.UID, container string, cmd []string) ([]byte, error) {
	c, err := h.command(name, uid, container, cmd, 0)
	if err != nil {
		return nil, err
	}
	defer c.cancel()
	logf("run in %s/%s (pid %d): %q", name, container, c.pid, cmd)
	var buf bytes.Buffer
	err = runPipes(c.Cmd, nil, nopCloser{&buf}, nopCloser{&buf})
	return buf.Bytes(), exitError(cmd, err)
}

// AttachContainer: the containers here are local processes without a console to attach to.
func (h *host) AttachContainer(name string, uid types.UID, container string, in io.Reader, out, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	return fmt.Errorf("attach to container %s of pod %s: not supported by the kubelet stand-in (its containers are local processes without a console; use exec)", container, name)
}

type nsCommand struct {
	*exec.Cmd
	pid    int
	cancel context.CancelFunc
}

// command: nsenter into the namespaces of the container's process, with its environment.
func (h *host) command(podFullName string, uid types.UID, container string, cmd []string, timeout time.Duration) (*nsCommand, error) {
	if len(cmd) == 0 {
		return nil, errors.New("no command given")
	}
	p, rec, err := h.lookup(podFullName, uid, container)
	if err != nil {
		return nil, err
	}
	pid, err := livePid(p, rec)
	if err != nil {
		return nil, err
	}
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return nil, fmt.Errorf("nsenter (util-linux) is not on PATH: %v", err)
	}
	env, err := environ(pid)
	if err != nil {
		return nil, fmt.Errorf("container %s of pod %s/%s: the environment of its process %d: %v", rec.Name, p.Namespace, p.Name, pid, err)
	}
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, timeout)
	}
	args := []string{"--target", strconv.Itoa(pid), "--mount", "--uts", "--ipc", "--net"}
	if otherPidNamespace(pid) {
		// a container in a PID namespace of its own (the stand-in's container-run.sh): the command
		// joins it, as docker exec's does (nsenter forks for that and passes on the exit status)
		args = append(args, "--pid")
	}
	args = append(append(args, "--root", "--wd", "--"), cmd...)
	c := exec.CommandContext(ctx, nsenter, args...)
	c.Env = env
	c.WaitDelay = outputDrain
	return &nsCommand{Cmd: c, pid: pid, cancel: cancel}, nil
}

// otherPidNamespace: process pid is in another PID namespace than this program.
func otherPidNamespace(pid int) bool {
	theirs, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/pid")
	if err != nil {
		return false
	}
	ours, err := os.Readlink("/proc/self/ns/pid")
	return err == nil && theirs != ours
}

// environ: the environment of process pid (/proc/<pid>/environ), with a PATH when it has none.
func environ(pid int) ([]string, error) {
	data, err := ioutil.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return nil, err
	}
	var env []string
	hasPath := false
	for _, kv := range strings.Split(string(data), "\x00") {
		if kv == "" {
			continue
		}
		if strings.HasPrefix(kv, "PATH=") {
			hasPath = true
		}
		env = append(env, kv)
	}
	if !hasPath {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	return env, nil
}

// runPipes: stdin through a pipe that Wait closes (a client that never closes its stdin does not
// hold the session after the command exited), stdout and stderr as given.
func runPipes(c *exec.Cmd, in io.Reader, out, stderr io.Writer) error {
	if out != nil {
		c.Stdout = out
	}
	if stderr != nil {
		c.Stderr = stderr
	}
	var stdin io.WriteCloser
	if in != nil {
		var err error
		if stdin, err = c.StdinPipe(); err != nil {
			return err
		}
	}
	if err := c.Start(); err != nil {
		return err
	}
	if stdin != nil {
		go func() {
			io.Copy(stdin, in)
			stdin.Close()
		}()
	}
	return c.Wait()
}

// runTTY: the command on a new pseudo-terminal (its controlling terminal, stdin/stdout/stderr), as
// kr/pty's Start does, but with the master in non-blocking mode under Go's poller, so that closing
// it ends a read that a background process holding the terminal would otherwise keep blocked.
func runTTY(c *exec.Cmd, in io.Reader, out io.Writer, resize <-chan remotecommand.TerminalSize) error {
	master, tty, err := openPty()
	if err != nil {
		return err
	}
	defer master.Close()
	c.Stdin, c.Stdout, c.Stderr = tty, tty, tty
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	err = c.Start()
	tty.Close()
	if err != nil {
		return err
	}
	kubecontainer.HandleResizing(resize, func(size remotecommand.TerminalSize) {
		if err := setSize(master, size); err != nil {
			logf("resizing the terminal to %dx%d: %v", size.Width, size.Height, err)
		}
	})
	if in != nil {
		go io.Copy(master, in)
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		if out == nil {
			out = ioutil.Discard
		}
		io.Copy(out, master) // ends (EIO) once the terminal's last user is gone
	}()
	err = c.Wait()
	select {
	case <-copied:
	case <-time.After(outputDrain):
	}
	return err
}

// openPty: kr/pty's Open, its master made non-blocking and handed to Go's poller.
func openPty() (master, tty *os.File, err error) {
	m, tty, err := pty.Open()
	if err != nil {
		return nil, nil, err
	}
	fd, err := syscall.Dup(int(m.Fd()))
	m.Close()
	if err == nil {
		err = syscall.SetNonblock(fd, true)
	}
	if err != nil {
		tty.Close()
		return nil, nil, err
	}
	syscall.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), "/dev/ptmx"), tty, nil
}

// setSize: pkg/util/term's SetSize on the master, without taking it out of non-blocking mode.
func setSize(master *os.File, size remotecommand.TerminalSize) error {
	raw, err := master.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = term.SetSize(fd, size) }); err != nil {
		return err
	}
	return serr
}

// exitError: a command that exited non-zero as the ExitError the remotecommand server reports
// with its code; killed by a signal: 128 + the signal, as a shell (and docker exec) reports it.
func exitError(cmd []string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, exec.ErrWaitDelay) {
		// exited 0, but something it left running kept its output open: that output is cut
		logf("%q exited 0; its output was still open %v later (a process it left running?) and was cut", strings.Join(cmd, " "), outputDrain)
		return nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return err
	}
	code := ee.ExitCode()
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	return utilexec.CodeExitError{Err: fmt.Errorf("command %q exited with %d", strings.Join(cmd, " "), code), Code: code}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
