package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

const (
	// Pause between two dial attempts.
	dialBackoff = time.Second
	// dialErrorLimit -1 means "unlimited"; still bounded, by this count and by cancellation.
	unlimitedDialAttempts = 100000
)

// errHostKeyMismatch: the server did not present the expected hostKey; never retried.
var errHostKeyMismatch = errors.New("ssh: host key mismatch: the server's key is not the expected hostKey")

// dialFunc opens a raw connection to addr (directly or through a bastion).
type dialFunc func(ctx context.Context, addr string) (net.Conn, error)

func directDial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// parseHostKey reads an expected host key: an authorized_keys line ("ssh-ed25519 AAAA... comment")
// or a known_hosts line ("host ssh-ed25519 AAAA...").
func parseHostKey(s string) (ssh.PublicKey, error) {
	if k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s)); err == nil {
		return k, nil
	}
	_, _, k, _, _, err := ssh.ParseKnownHosts([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("hostKey: not an SSH public key line: %w", err)
	}
	return k, nil
}

// hostKeyAlgorithms are the algorithms to negotiate so that the server presents a key of the
// expected type (a server with several host keys would otherwise be free to pick another).
func hostKeyAlgorithms(k ssh.PublicKey) []string {
	switch k.Type() {
	case ssh.KeyAlgoRSA:
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	case ssh.CertAlgoRSAv01:
		return []string{ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01, ssh.CertAlgoRSAv01}
	default:
		return []string{k.Type()}
	}
}

// clientConfig builds the SSH client configuration of c. close releases an agent connection.
func clientConfig(c *connection) (cfg *ssh.ClientConfig, closeFn func(), err error) {
	closeFn = func() {}
	cfg = &ssh.ClientConfig{User: c.User}
	if c.PrivateKey != "" {
		var signer ssh.Signer
		if c.PrivateKeyPassword != "" {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(c.PrivateKey), []byte(c.PrivateKeyPassword))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(c.PrivateKey))
		}
		if err != nil {
			var missing *ssh.PassphraseMissingError
			if errors.As(err, &missing) {
				return nil, closeFn, errors.New("privateKey is encrypted: set privateKeyPassword")
			}
			// The parser's message never quotes the key.
			return nil, closeFn, fmt.Errorf("privateKey: %w", err)
		}
		cfg.Auth = append(cfg.Auth, ssh.PublicKeys(signer))
	}
	if c.Password != "" {
		password := c.Password
		cfg.Auth = append(cfg.Auth, ssh.Password(password),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = password
				}
				return answers, nil
			}))
	}
	sock := c.AgentSocketPath
	if sock == "" {
		sock = os.Getenv("SSH_AUTH_SOCK")
	}
	if sock != "" {
		conn, err := net.Dial("unix", sock)
		if err != nil {
			if c.AgentSocketPath != "" {
				return nil, closeFn, fmt.Errorf("agentSocketPath: %w", err)
			}
			// An unusable SSH_AUTH_SOCK of the environment is not an error of the resource.
		} else {
			closeFn = func() { conn.Close() }
			cfg.Auth = append(cfg.Auth, ssh.PublicKeysCallback(agent.NewClient(conn).Signers))
		}
	}
	if c.HostKey != "" {
		want, err := parseHostKey(c.HostKey)
		if err != nil {
			closeFn()
			return nil, func() {}, err
		}
		wantBytes := want.Marshal()
		cfg.HostKeyAlgorithms = hostKeyAlgorithms(want)
		cfg.HostKeyCallback = func(_ string, _ net.Addr, got ssh.PublicKey) error {
			if string(got.Marshal()) != string(wantBytes) {
				return errHostKeyMismatch
			}
			return nil
		}
	} else {
		cfg.HostKeyCallback = ssh.InsecureIgnoreHostKey() // as documented: no hostKey, no check
	}
	return cfg, closeFn, nil
}

// dialOnce opens one SSH connection to addr: TCP connect and SSH handshake together within
// timeout (0: no limit of its own).
func dialOnce(ctx context.Context, dial dialFunc, addr string, cfg *ssh.ClientConfig, timeout time.Duration) (*ssh.Client, error) {
	actx, cancel := ctx, context.CancelFunc(func() {})
	if timeout > 0 {
		actx, cancel = context.WithTimeout(ctx, timeout)
	}
	defer cancel()
	conn, err := dial(actx, addr)
	if err != nil {
		return nil, err
	}
	// Connections through a bastion have no deadlines: bound the handshake by closing.
	interrupt := context.AfterFunc(actx, func() { conn.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if !interrupt() {
		if err == nil {
			sc.Close()
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("ssh handshake with %s timed out after %v", addr, timeout)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return ssh.NewClient(sc, chans, reqs), nil
}

// maxDialAttempts is the number of dial attempts that dialErrorLimit allows.
func maxDialAttempts(limit int) int {
	switch {
	case limit < 0:
		return unlimitedDialAttempts
	case limit == 0:
		return 1
	default:
		return limit
	}
}

// dialRetry dials c until it succeeds, up to its dialErrorLimit attempts, each bounded by
// perDialTimeout seconds. what names the host in errors ("" or "proxy ").
func dialRetry(ctx context.Context, dial dialFunc, c *connection, what string) (*ssh.Client, error) {
	cfg, closeAgent, err := clientConfig(c)
	if err != nil {
		return nil, fmt.Errorf("%sconnection to %s: %w", what, c.address(), err)
	}
	defer closeAgent()
	attempts := maxDialAttempts(c.DialErrorLimit)
	timeout := time.Duration(c.PerDialTimeout) * time.Second
	for i := 1; ; i++ {
		client, err := dialOnce(ctx, dial, c.address(), cfg, timeout)
		if err == nil {
			return client, nil
		}
		if errors.Is(err, errHostKeyMismatch) || ctx.Err() != nil || i >= attempts {
			noun := "attempts"
			if i == 1 {
				noun = "attempt"
			}
			return nil, fmt.Errorf("failed to dial %s%s after %d %s: %w", what, c.address(), i, noun, err)
		}
		if !sleepCtx(ctx, dialBackoff) {
			return nil, fmt.Errorf("failed to dial %s%s after %d attempts: %w", what, c.address(), i, ctx.Err())
		}
	}
}

// connect opens an SSH client to c, through its proxy if it has one.
func connect(ctx context.Context, c *connection) (*ssh.Client, func(), error) {
	if c.Proxy == nil {
		client, err := dialRetry(ctx, directDial, c, "")
		if err != nil {
			return nil, nil, err
		}
		return client, func() { client.Close() }, nil
	}
	bastion, err := dialRetry(ctx, directDial, c.Proxy, "proxy ")
	if err != nil {
		return nil, nil, err
	}
	viaBastion := func(ctx context.Context, addr string) (net.Conn, error) {
		return bastion.DialContext(ctx, "tcp", addr)
	}
	client, err := dialRetry(ctx, viaBastion, c, "")
	if err != nil {
		bastion.Close()
		return nil, nil, err
	}
	return client, func() { client.Close(); bastion.Close() }, nil
}

// runRemote runs script on the host of c.Connection in an SSH session (the login shell of the
// remote user interprets it), with c.Stdin on standard input.
func runRemote(ctx context.Context, c *command, script string, logOut, logErr func(string)) (runResult, error) {
	client, closeClient, err := connect(ctx, c.Connection)
	if err != nil {
		return runResult{}, err
	}
	defer closeClient()
	session, err := client.NewSession()
	if err != nil {
		return runResult{}, fmt.Errorf("ssh session on %s: %w", c.Connection.address(), err)
	}
	defer session.Close()
	// sshd drops variables not listed in its AcceptEnv: a refused Setenv is not an error.
	for k, v := range c.Environment {
		_ = session.Setenv(k, v)
	}
	for _, kv := range previousOutputEnv(c) {
		_ = session.Setenv(kv[0], kv[1])
	}
	if c.Stdin != "" {
		session.Stdin = strings.NewReader(c.Stdin)
	}
	stdout, stderr := newOutputSink(logOut), newOutputSink(logErr)
	session.Stdout, session.Stderr = stdout, stderr

	// Cancellation: ask the remote side to stop, then drop the connection (sshd hangs up the command).
	stop := context.AfterFunc(ctx, func() {
		_ = session.Signal(ssh.SIGTERM)
		closeClient()
	})
	err = session.Run(script)
	stop()
	res := runResult{Stdout: stdout.finish(), Stderr: stderr.finish()}
	if err == nil {
		return res, nil
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("cancelled: %w", ctx.Err())
	}
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		return res, &exitError{Status: ee.Error()}
	}
	var missing *ssh.ExitMissingError
	if errors.As(err, &missing) {
		return res, &exitError{Status: "the remote command ended without an exit status (connection lost?)"}
	}
	return res, fmt.Errorf("ssh session on %s: %w", c.Connection.address(), err)
}
