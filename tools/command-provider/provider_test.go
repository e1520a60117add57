package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"google.golang.org/protobuf/types/known/structpb"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

const (
	testLocalURN  = "urn:pulumi:dev::lab::command:local:Command::loc"
	testRemoteURN = "urn:pulumi:dev::lab::my:component$command:remote:Command::rem"
)

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// recordingLogger collects what the provider logs to the engine.
type recordingLogger struct {
	mu    sync.Mutex
	lines []string
}

func (r *recordingLogger) Log(_ context.Context, _ pulumirpc.LogSeverity, urn, msg string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, urn+" "+msg)
	return nil
}

func (r *recordingLogger) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

// --- Diff --------------------------------------------------------------------------------------

func TestDiff(t *testing.T) {
	base := map[string]any{
		"create":   "echo hi",
		"delete":   "echo bye",
		"triggers": []any{"a", 1.0},
		"connection": map[string]any{
			"host": "10.0.0.1", "port": 22.0, "user": "root", "dialErrorLimit": 10.0, "perDialTimeout": 15.0,
		},
	}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range base {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name     string
		news     map[string]any
		changes  pulumirpc.DiffResponse_DiffChanges
		diffs    []string
		replaces []string
		kind     pulumirpc.PropertyDiff_Kind
	}{
		{"no change", base, pulumirpc.DiffResponse_DIFF_NONE, nil, nil, 0},
		{"create changed", with("create", "echo ho"), pulumirpc.DiffResponse_DIFF_SOME, []string{"create"}, nil, pulumirpc.PropertyDiff_UPDATE},
		{"update added", with("update", "echo up"), pulumirpc.DiffResponse_DIFF_SOME, []string{"update"}, nil, pulumirpc.PropertyDiff_ADD},
		{"delete removed", with("delete", nil), pulumirpc.DiffResponse_DIFF_SOME, []string{"delete"}, nil, pulumirpc.PropertyDiff_DELETE},
		{"triggers changed", with("triggers", []any{"b", 1.0}), pulumirpc.DiffResponse_DIFF_SOME, []string{"triggers"}, []string{"triggers"}, pulumirpc.PropertyDiff_UPDATE_REPLACE},
		{"triggers removed", with("triggers", nil), pulumirpc.DiffResponse_DIFF_SOME, []string{"triggers"}, []string{"triggers"}, pulumirpc.PropertyDiff_DELETE_REPLACE},
		{"connection changed", with("connection", map[string]any{
			"host": "10.0.0.2", "port": 22.0, "user": "root", "dialErrorLimit": 10.0, "perDialTimeout": 15.0,
		}), pulumirpc.DiffResponse_DIFF_SOME, []string{"connection"}, nil, pulumirpc.PropertyDiff_UPDATE},
		{"stdin unknown", with("stdin", unknownSentinel), pulumirpc.DiffResponse_DIFF_SOME, []string{"stdin"}, nil, pulumirpc.PropertyDiff_ADD},
		{"null equals absent", with("stdin", structpb.NewNullValue()), pulumirpc.DiffResponse_DIFF_NONE, nil, nil, 0},
	}
	p := newProvider(nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			news := tc.news
			if v, ok := news["stdin"].(*structpb.Value); ok {
				news = with("stdin", nil)
				s := mustStruct(t, news)
				s.Fields["stdin"] = v
				tc.news = nil
				resp, err := p.Diff(context.Background(), &pulumirpc.DiffRequest{Urn: testRemoteURN, OldInputs: mustStruct(t, base), News: s})
				if err != nil {
					t.Fatal(err)
				}
				checkDiff(t, resp, tc.changes, tc.diffs, tc.replaces, tc.kind)
				return
			}
			olds := mustStruct(t, base)
			// The old state carries outputs too; they never count as changes.
			state := mustStruct(t, with("stdout", "out"))
			for _, req := range []*pulumirpc.DiffRequest{
				{Urn: testRemoteURN, OldInputs: olds, Olds: state, News: mustStruct(t, news)},
				{Urn: testRemoteURN, Olds: state, News: mustStruct(t, news)}, // no old inputs: the state's inputs
			} {
				resp, err := p.Diff(context.Background(), req)
				if err != nil {
					t.Fatal(err)
				}
				checkDiff(t, resp, tc.changes, tc.diffs, tc.replaces, tc.kind)
			}
		})
	}
}

func checkDiff(t *testing.T, resp *pulumirpc.DiffResponse, changes pulumirpc.DiffResponse_DiffChanges, diffs, replaces []string, kind pulumirpc.PropertyDiff_Kind) {
	t.Helper()
	if resp.Changes != changes {
		t.Fatalf("changes = %v, want %v", resp.Changes, changes)
	}
	if fmt.Sprint(resp.Diffs) != fmt.Sprint(diffs) && len(resp.Diffs)+len(diffs) > 0 {
		t.Fatalf("diffs = %v, want %v", resp.Diffs, diffs)
	}
	if fmt.Sprint(resp.Replaces) != fmt.Sprint(replaces) && len(resp.Replaces)+len(replaces) > 0 {
		t.Fatalf("replaces = %v, want %v", resp.Replaces, replaces)
	}
	if !resp.HasDetailedDiff {
		t.Fatal("no detailed diff")
	}
	for _, k := range diffs {
		d := resp.DetailedDiff[k]
		if d == nil || d.Kind != kind || !d.InputDiff {
			t.Fatalf("detailedDiff[%s] = %v, want kind %v", k, d, kind)
		}
	}
}

// --- Check ---------------------------------------------------------------------------------------

func TestCheckConnectionDefaults(t *testing.T) {
	p := newProvider(nil)
	news := mustStruct(t, map[string]any{
		"create":     "hostname",
		"connection": map[string]any{"host": "192.0.2.1", "privateKey": "k", "proxy": map[string]any{"host": "192.0.2.2"}},
	})
	resp, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: testRemoteURN, News: news})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Failures) != 0 {
		t.Fatalf("failures: %v", resp.Failures)
	}
	conn := resp.Inputs.Fields["connection"].GetStructValue().AsMap()
	want := map[string]any{"port": 22.0, "user": "root", "dialErrorLimit": 10.0, "perDialTimeout": 15.0, "host": "192.0.2.1", "privateKey": "k"}
	for k, v := range want {
		if conn[k] != v {
			t.Errorf("connection.%s = %v, want %v", k, conn[k], v)
		}
	}
	proxy := conn["proxy"].(map[string]any)
	if proxy["port"] != 22.0 || proxy["user"] != "root" || proxy["dialErrorLimit"] != 10.0 || proxy["perDialTimeout"] != 15.0 {
		t.Errorf("proxy defaults missing: %v", proxy)
	}
	// The request itself is not modified.
	if _, ok := news.Fields["connection"].GetStructValue().Fields["port"]; ok {
		t.Error("Check modified its request")
	}

	// Explicit values stay.
	resp, err = p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: testRemoteURN, News: mustStruct(t, map[string]any{
		"connection": map[string]any{"host": "h", "port": 2222.0, "user": "lab", "dialErrorLimit": 2.0, "perDialTimeout": 3.0},
	})})
	if err != nil {
		t.Fatal(err)
	}
	conn = resp.Inputs.Fields["connection"].GetStructValue().AsMap()
	if conn["port"] != 2222.0 || conn["user"] != "lab" || conn["dialErrorLimit"] != 2.0 || conn["perDialTimeout"] != 3.0 {
		t.Errorf("explicit values changed: %v", conn)
	}
}

func TestCheckFailures(t *testing.T) {
	p := newProvider(nil)
	cases := []struct {
		urn  string
		news map[string]any
		prop string
	}{
		{testRemoteURN, map[string]any{"create": "x"}, "connection"},
		{testRemoteURN, map[string]any{"connection": map[string]any{"port": 22.0}}, "connection"},
		{testRemoteURN, map[string]any{"connection": map[string]any{"host": "h"}, "logging": "loud"}, "logging"},
		{testLocalURN, map[string]any{"create": "x", "archivePaths": []any{"*.txt"}}, "archivePaths"},
	}
	for _, tc := range cases {
		resp, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: tc.urn, News: mustStruct(t, tc.news)})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Failures) != 1 || resp.Failures[0].Property != tc.prop {
			t.Errorf("%v: failures = %v, want one on %s", tc.news, resp.Failures, tc.prop)
		}
	}
	// Unknown values during preview are not validated.
	resp, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: testRemoteURN, News: mustStruct(t, map[string]any{
		"connection": unknownSentinel, "create": "x",
	})})
	if err != nil || len(resp.Failures) != 0 {
		t.Errorf("unknown connection: %v %v", resp.GetFailures(), err)
	}
}

// --- dialing -------------------------------------------------------------------------------------

// closedPort returns a local TCP port on which nothing listens.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestDialErrorNamesHostAndAttempts(t *testing.T) {
	port := closedPort(t)
	c := &connection{Host: "127.0.0.1", Port: port, User: "root", DialErrorLimit: 2, PerDialTimeout: 1}
	start := time.Now()
	_, _, err := connect(context.Background(), c)
	if err == nil {
		t.Fatal("dial to a closed port succeeded")
	}
	want := fmt.Sprintf("failed to dial 127.0.0.1:%d after 2 attempts: ", port)
	if !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error %q does not start with %q", err, want)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("2 attempts took %v", d)
	}
	if n := maxDialAttempts(-1); n != unlimitedDialAttempts {
		t.Errorf("maxDialAttempts(-1) = %d", n)
	}
	if n := maxDialAttempts(0); n != 1 {
		t.Errorf("maxDialAttempts(0) = %d", n)
	}
}

func TestDialTimeoutPerAttempt(t *testing.T) {
	// A server that accepts TCP but never speaks SSH: each attempt ends at perDialTimeout.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for i := 0; i < 10; i++ {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	c := &connection{Host: "127.0.0.1", Port: port, User: "root", DialErrorLimit: 2, PerDialTimeout: 1}
	start := time.Now()
	_, _, err = connect(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("failed to dial 127.0.0.1:%d after 2 attempts", port)) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d < 2*time.Second || d > 6*time.Second {
		t.Fatalf("2 attempts of 1 s (+1 s backoff) took %v", d)
	}
}

// --- keys ----------------------------------------------------------------------------------------

func TestPrivateKeyFormats(t *testing.T) {
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPEM, err := ssh.MarshalPrivateKey(edKey, "")
	if err != nil {
		t.Fatal(err)
	}
	edEnc, err := ssh.MarshalPrivateKeyWithPassphrase(edKey, "", []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})

	for name, c := range map[string]*connection{
		"openssh ed25519":           {User: "u", PrivateKey: string(pem.EncodeToMemory(edPEM))},
		"pem rsa":                   {User: "u", PrivateKey: string(rsaPEM)},
		"encrypted with passphrase": {User: "u", PrivateKey: string(pem.EncodeToMemory(edEnc)), PrivateKeyPassword: "pw"},
		"password":                  {User: "u", Password: "p"},
	} {
		cfg, closeFn, err := clientConfig(c)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		closeFn()
		if len(cfg.Auth) == 0 {
			t.Errorf("%s: no auth method", name)
		}
	}
	_, _, err = clientConfig(&connection{User: "u", PrivateKey: string(pem.EncodeToMemory(edEnc))})
	if err == nil || !strings.Contains(err.Error(), "privateKeyPassword") {
		t.Errorf("encrypted key without passphrase: %v", err)
	}
	_, _, err = clientConfig(&connection{User: "u", PrivateKey: "not a key SECRETMATERIAL"})
	if err == nil || strings.Contains(err.Error(), "SECRETMATERIAL") {
		t.Errorf("bad key: %v", err)
	}
}

// --- in-process SSH server -----------------------------------------------------------------------

// testSSHServer accepts one public key and runs each exec request with /bin/sh -c locally.
// It refuses every "env" request, as sshd does without AcceptEnv.
type testSSHServer struct {
	addr    string
	hostKey ssh.PublicKey
	l       net.Listener
}

func startTestSSHServer(t *testing.T, clientKey ssh.PublicKey) *testSSHServer {
	t.Helper()
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if string(k.Marshal()) == string(clientKey.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(hostSigner)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testSSHServer{addr: l.Addr().String(), hostKey: hostSigner.PublicKey(), l: l}
	t.Cleanup(func() { l.Close() })
	go func() {
		for i := 0; i < 100; i++ {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go serveTestConn(conn, cfg)
		}
	}()
	return s
}

func serveTestConn(conn net.Conn, cfg *ssh.ServerConfig) {
	defer conn.Close()
	_, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			return
		}
		go func() {
			defer ch.Close()
			for req := range creqs {
				switch req.Type {
				case "exec":
					var payload struct{ Command string }
					_ = ssh.Unmarshal(req.Payload, &payload)
					_ = req.Reply(true, nil)
					cmd := exec.Command("/bin/sh", "-c", payload.Command)
					cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
					code := 0
					if err := cmd.Run(); err != nil {
						code = 255
						var ee *exec.ExitError
						if errors.As(err, &ee) {
							code = ee.ExitCode()
						}
					}
					status := make([]byte, 4)
					binary.BigEndian.PutUint32(status, uint32(code))
					_, _ = ch.SendRequest("exit-status", false, status)
					return
				default:
					_ = req.Reply(false, nil) // env, pty-req, ...
				}
			}
		}()
	}
}

func testClientKey(t *testing.T) (string, ssh.PublicKey) {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := ssh.NewSignerFromKey(priv)
	return string(pem.EncodeToMemory(block)), signer.PublicKey()
}

func remoteInputs(t *testing.T, srv *testSSHServer, key string, extra map[string]any) *structpb.Struct {
	t.Helper()
	host, portStr, _ := net.SplitHostPort(srv.addr)
	var port float64
	fmt.Sscan(portStr, &port)
	conn := map[string]any{"host": host, "port": port, "user": "lab", "privateKey": key, "dialErrorLimit": 2.0, "perDialTimeout": 2.0}
	m := map[string]any{"connection": conn}
	for k, v := range extra {
		if k == "hostKey" {
			conn[k] = v
			continue
		}
		m[k] = v
	}
	return mustStruct(t, m)
}

func TestRemoteCommand(t *testing.T) {
	key, pub := testClientKey(t)
	srv := startTestSSHServer(t, pub)
	logs := &recordingLogger{}
	p := newProvider(logs)
	ctx := context.Background()

	// stdin reaches the command; output trimmed of its last newline; env refused silently.
	props := remoteInputs(t, srv, key, map[string]any{
		"create": "cat; echo to-stderr >&2", "stdin": "s3cret\n", "environment": map[string]any{"A": "b"},
		"hostKey": string(ssh.MarshalAuthorizedKey(srv.hostKey)),
	})
	resp, err := p.Create(ctx, &pulumirpc.CreateRequest{Urn: testRemoteURN, Properties: props})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Properties.Fields["stdout"].GetStringValue(); got != "s3cret" {
		t.Errorf("stdout = %q", got)
	}
	if got := resp.Properties.Fields["stderr"].GetStringValue(); got != "to-stderr" {
		t.Errorf("stderr = %q", got)
	}
	if !strings.Contains(logs.all(), testRemoteURN+" s3cret") || !strings.Contains(logs.all(), "to-stderr") {
		t.Errorf("output not logged: %q", logs.all())
	}

	// A failing command: exit status and the stderr tail, never the command text.
	props = remoteInputs(t, srv, key, map[string]any{"create": "echo SECRETCMD >/dev/null; echo boom >&2; exit 3"})
	_, err = p.Create(ctx, &pulumirpc.CreateRequest{Urn: testRemoteURN, Properties: props})
	if err == nil || !strings.Contains(err.Error(), "Process exited with status 3") || !strings.Contains(err.Error(), "boom") ||
		!strings.Contains(err.Error(), `"rem"`) || strings.Contains(err.Error(), "SECRETCMD") {
		t.Errorf("failure error = %v", err)
	}

	// A wrong pinned host key fails at once, without retrying.
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := ssh.NewSignerFromKey(otherPriv)
	props = remoteInputs(t, srv, key, map[string]any{"create": "true", "hostKey": string(ssh.MarshalAuthorizedKey(other.PublicKey()))})
	_, err = p.Create(ctx, &pulumirpc.CreateRequest{Urn: testRemoteURN, Properties: props})
	if err == nil || !strings.Contains(err.Error(), "host key mismatch") || !strings.Contains(err.Error(), "after 1 attempt:") {
		t.Errorf("host key mismatch error = %v", err)
	}
}

// --- local commands --------------------------------------------------------------------------------

func TestLocalCommandLifecycle(t *testing.T) {
	dir := t.TempDir()
	logs := &recordingLogger{}
	p := newProvider(logs)
	ctx := context.Background()

	props := mustStruct(t, map[string]any{
		"create":      "cat; echo \"$GREETING\"; pwd; echo warn >&2",
		"update":      "echo \"prev=$PULUMI_COMMAND_STDOUT\"",
		"delete":      "echo \"deleting $PULUMI_COMMAND_STDOUT\" > deleted.txt",
		"stdin":       "from-stdin\n",
		"dir":         dir,
		"environment": map[string]any{"GREETING": "hello"},
		"logging":     "stderr",
	})
	check, err := p.Check(ctx, &pulumirpc.CheckRequest{Urn: testLocalURN, News: props})
	if err != nil || len(check.Failures) > 0 {
		t.Fatalf("check: %v %v", check.GetFailures(), err)
	}
	created, err := p.Create(ctx, &pulumirpc.CreateRequest{Urn: testLocalURN, Properties: check.Inputs})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.Id, "loc-") {
		t.Errorf("id = %q", created.Id)
	}
	wantOut := "from-stdin\nhello\n" + dir
	if got := created.Properties.Fields["stdout"].GetStringValue(); got != wantOut {
		t.Errorf("stdout = %q, want %q", got, wantOut)
	}
	if got := created.Properties.Fields["stderr"].GetStringValue(); got != "warn" {
		t.Errorf("stderr = %q", got)
	}
	if got := created.Properties.Fields["create"].GetStringValue(); got == "" {
		t.Error("inputs missing from the outputs")
	}
	if l := logs.all(); l != testLocalURN+" warn" {
		t.Errorf("logging stderr logged %q", l)
	}

	// Update runs `update` with the previous stdout in the environment.
	updated, err := p.Update(ctx, &pulumirpc.UpdateRequest{Urn: testLocalURN, Olds: created.Properties, News: check.Inputs})
	if err != nil {
		t.Fatal(err)
	}
	if got := updated.Properties.Fields["stdout"].GetStringValue(); got != "prev="+wantOut {
		t.Errorf("update stdout = %q", got)
	}

	// Preview of an update keeps the previous outputs; preview of a create leaves them unknown.
	pu, err := p.Update(ctx, &pulumirpc.UpdateRequest{Urn: testLocalURN, Olds: created.Properties, News: check.Inputs, Preview: true})
	if err != nil || pu.Properties.Fields["stdout"].GetStringValue() != wantOut {
		t.Errorf("update preview: %v %v", pu, err)
	}
	pc, err := p.Create(ctx, &pulumirpc.CreateRequest{Urn: testLocalURN, Properties: check.Inputs, Preview: true})
	if err != nil || pc.Properties.Fields["stdout"].GetStringValue() != unknownSentinel {
		t.Errorf("create preview: %v %v", pc, err)
	}

	// Delete runs `delete` with the previous stdout in the environment.
	if _, err := p.Delete(ctx, &pulumirpc.DeleteRequest{Urn: testLocalURN, Id: created.Id, Properties: updated.Properties}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "deleted.txt"))
	if err != nil || strings.TrimSpace(string(b)) != "deleting prev="+wantOut {
		t.Errorf("delete wrote %q (%v)", b, err)
	}
}

func TestLocalUpdateFallsBackToCreateAndPrevOutputOptOut(t *testing.T) {
	p := newProvider(nil)
	ctx := context.Background()
	olds := mustStruct(t, map[string]any{"create": "x", "stdout": "old"})
	news := mustStruct(t, map[string]any{"create": "echo \"create:${PULUMI_COMMAND_STDOUT-unset}\"", "addPreviousOutputInEnv": false})
	resp, err := p.Update(ctx, &pulumirpc.UpdateRequest{Urn: testLocalURN, Olds: olds, News: news})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Properties.Fields["stdout"].GetStringValue(); got != "create:unset" {
		t.Errorf("stdout = %q", got)
	}
}

func TestLocalFailures(t *testing.T) {
	logs := &recordingLogger{}
	p := newProvider(logs)
	ctx := context.Background()
	script := "echo TOPSECRET-IN-COMMAND >/dev/null; cat >/dev/null; for i in $(seq 1 30); do echo line$i >&2; done; exit 4"

	_, err := p.Create(ctx, &pulumirpc.CreateRequest{Urn: testLocalURN, Properties: mustStruct(t, map[string]any{
		"create": script, "stdin": "STDIN-SECRET",
	})})
	if err == nil {
		t.Fatal("failing command succeeded")
	}
	msg := err.Error()
	for _, want := range []string{`"loc"`, "Process exited with status 4", "line30", "line11"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %s", want, msg)
		}
	}
	for _, bad := range []string{"TOPSECRET", "STDIN-SECRET", "line10\n"} {
		if strings.Contains(msg, bad) {
			t.Errorf("error contains %q: %s", bad, msg)
		}
	}

	// logging none: no output in the log, nor in the error.
	logs.lines = nil
	_, err = p.Create(ctx, &pulumirpc.CreateRequest{Urn: testLocalURN, Properties: mustStruct(t, map[string]any{
		"create": "echo out-secret; echo err-secret >&2; exit 1", "logging": "none",
	})})
	if err == nil || strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "status 1") {
		t.Errorf("logging none error = %v", err)
	}
	if logs.all() != "" {
		t.Errorf("logging none logged %q", logs.all())
	}

	// A failing delete fails the delete.
	_, err = p.Delete(ctx, &pulumirpc.DeleteRequest{Urn: testLocalURN, Properties: mustStruct(t, map[string]any{"delete": "exit 7"})})
	if err == nil || !strings.Contains(err.Error(), "status 7") || !strings.Contains(err.Error(), "delete command") {
		t.Errorf("delete error = %v", err)
	}
}

func TestCancelStopsLocalCommand(t *testing.T) {
	p := newProvider(nil)
	done := make(chan error, 1)
	go func() {
		_, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: testLocalURN, Properties: mustStruct(t, map[string]any{
			"create": "sleep 30 & wait",
		})})
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	if _, err := p.Cancel(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "cancel") {
			t.Errorf("cancelled create: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Cancel did not stop the command")
	}
}

func TestLineLogger(t *testing.T) {
	var got []string
	l := &lineLogger{emit: func(s string) { got = append(got, s) }}
	_, _ = io.WriteString(l, "a\r\nb")
	_, _ = io.WriteString(l, "c\n\nd")
	l.Flush()
	if fmt.Sprint(got) != fmt.Sprint([]string{"a", "bc", "", "d"}) {
		t.Errorf("lines = %q", got)
	}
}

func TestSchemaAndInfo(t *testing.T) {
	p := newProvider(nil)
	info, err := p.GetPluginInfo(context.Background(), nil)
	if err != nil || info.Version != "1.2.1" {
		t.Fatalf("info = %v %v", info, err)
	}
	s, err := p.GetSchema(context.Background(), &pulumirpc.GetSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var v structpb.Struct
	if err := v.UnmarshalJSON([]byte(s.Schema)); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	res := v.Fields["resources"].GetStructValue().GetFields()
	if v.Fields["name"].GetStringValue() != "command" || res[typeLocal] == nil || res[typeRemote] == nil {
		t.Error("schema lacks the package name or a resource")
	}
	cfg, err := p.Configure(context.Background(), &pulumirpc.ConfigureRequest{AcceptSecrets: true})
	if err != nil || cfg.AcceptSecrets || cfg.AcceptResources || !cfg.SupportsPreview {
		t.Errorf("configure = %v %v", cfg, err)
	}
}

func TestResourceTypeFromURN(t *testing.T) {
	if got := resourceType("", testRemoteURN); got != typeRemote {
		t.Errorf("type = %q", got)
	}
	if got := resourceName("", testRemoteURN); got != "rem" {
		t.Errorf("name = %q", got)
	}
}
