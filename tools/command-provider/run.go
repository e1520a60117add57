package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	envPrevStdout = "PULUMI_COMMAND_STDOUT"
	envPrevStderr = "PULUMI_COMMAND_STDERR"
	// Lines of output quoted in the error of a failed command.
	errorTailLines = 20
	errorTailBytes = 4096
	// A line longer than this is logged in pieces.
	maxLogLine = 32 * 1024
)

// runResult is the captured output of a command, with one trailing newline removed
// (as the official provider does).
type runResult struct {
	Stdout, Stderr string
}

// exitError is a command that ran and failed (non-zero exit, killed by a signal).
type exitError struct {
	Status string // e.g. "Process exited with status 2"
}

func (e *exitError) Error() string { return e.Status }

// lineLogger is an io.Writer that hands every complete line to emit.
type lineLogger struct {
	mu   sync.Mutex
	buf  []byte
	emit func(string)
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.emit(strings.TrimSuffix(string(l.buf[:i]), "\r"))
		l.buf = l.buf[i+1:]
	}
	for len(l.buf) > maxLogLine {
		l.emit(string(l.buf[:maxLogLine]))
		l.buf = l.buf[maxLogLine:]
	}
	return len(p), nil
}

// Flush emits a last line without a newline.
func (l *lineLogger) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(strings.TrimSuffix(string(l.buf), "\r"))
		l.buf = nil
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// outputSink captures one output stream and optionally logs it line by line.
type outputSink struct {
	capture syncBuffer
	logger  *lineLogger
}

func newOutputSink(log func(string)) *outputSink {
	s := &outputSink{}
	if log != nil {
		s.logger = &lineLogger{emit: log}
	}
	return s
}

func (s *outputSink) Write(p []byte) (int, error) {
	n, err := s.capture.Write(p)
	if s.logger != nil && err == nil {
		_, _ = s.logger.Write(p)
	}
	return n, err
}

func (s *outputSink) finish() string {
	if s.logger != nil {
		s.logger.Flush()
	}
	return strings.TrimSuffix(s.capture.String(), "\n")
}

// tail returns the last lines of s, bounded in count and size.
func tail(s string, lines, maxBytes int) string {
	s = strings.TrimRight(s, "\n")
	if len(s) > maxBytes {
		s = s[len(s)-maxBytes:]
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
		s = strings.ToValidUTF8(s, "")
	}
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// failure builds the error of a failed run of resource name. It never includes the command
// text, stdin or environment (they may carry secrets), and quotes only the output streams that
// the resource's `logging` lets appear in the console anyway.
func failure(name, op string, c *command, err error, res runResult) error {
	msg := fmt.Sprintf("%s command of %q failed: %v", op, name, err)
	if _, ok := err.(*exitError); !ok {
		return fmt.Errorf("%s", msg)
	}
	var quoted []string
	if c.logStderr() && strings.TrimSpace(res.Stderr) != "" {
		quoted = append(quoted, "stderr (last lines):\n"+tail(res.Stderr, errorTailLines, errorTailBytes))
	}
	if c.logStdout() && strings.TrimSpace(res.Stdout) != "" && len(quoted) == 0 {
		quoted = append(quoted, "stdout (last lines):\n"+tail(res.Stdout, errorTailLines, errorTailBytes))
	}
	if c.Logging == "none" {
		quoted = append(quoted, "(output not shown: logging is \"none\")")
	}
	if len(quoted) > 0 {
		msg += "\n" + strings.Join(quoted, "\n")
	}
	return fmt.Errorf("%s", msg)
}

// previousOutputEnv returns PULUMI_COMMAND_STDOUT/STDERR for the run, if wanted and non-empty.
func previousOutputEnv(c *command) [][2]string {
	if !c.AddPreviousOutputInEnv {
		return nil
	}
	var env [][2]string
	if c.PrevStdout != "" {
		env = append(env, [2]string{envPrevStdout, c.PrevStdout})
	}
	if c.PrevStderr != "" {
		env = append(env, [2]string{envPrevStderr, c.PrevStderr})
	}
	return env
}

// sleepCtx waits d or until ctx is done; false if ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func joinHostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}
