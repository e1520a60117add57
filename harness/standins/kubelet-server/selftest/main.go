// kubelet-standin-server-selftest: an end-to-end check of kubelet-standin-server without a
// cluster (root, Linux). It makes a test CA and certificates, a fake API server (HTTPS, client
// certificates of that CA: the pods, TokenReview, SubjectAccessReview), a network namespace
// (ip netns add <--netns>) holding a "container" (a sleep in its own mount and UTS namespaces,
// host name "fakepod") and a TCP listener, the records and CRI log files the TypeScript kubelet
// stand-in would write, then starts the server and talks to it as the API server does: exec
// through client-go's SPDY executor (output, exit code, stdin, tty), container logs (tail,
// timestamps, limitBytes, previous, follow), port forwarding with client-go's port forwarder,
// the read-only port, authentication and authorization (AlwaysAllow, then Webhook).
// Everything it made is removed at the end, also on failure, timeout or SIGINT/SIGTERM.
//
// usage: kubelet-standin-server-selftest --server <kubelet-standin-server> [--netns NAME] [--timeout 50s] [--verbose]
package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	authenticationv1beta1 "k8s.io/api/authentication/v1beta1"
	authorizationv1beta1 "k8s.io/api/authorization/v1beta1"
	"k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	utilexec "k8s.io/client-go/util/exec"
)

const (
	nodeName  = "kvl-selftest-node"
	podNS     = "default"
	podName   = "fakepod"
	podUID    = "6b1e3c2a-0000-4000-8000-5e1f7e570001"
	otherPod  = "elsewhere" // bound to another node
	container = "main"
	idle      = "idle" // a container that runs nothing
	idleWhy   = "image example/idle:1 has no stand-in program"
	envValue  = "from-the-container"
	token     = "selftest-token"
)

var verbose bool

func main() {
	serverBin := flag.String("server", "", "the kubelet-standin-server binary to test")
	netnsName := flag.String("netns", fmt.Sprintf("kvl_kubeletsrv_selftest_%d", os.Getpid()), "the network namespace to create (and delete)")
	timeout := flag.Duration("timeout", 50*time.Second, "give up (and clean up) after this long")
	flag.BoolVar(&verbose, "verbose", false, "print the servers' logs")
	flag.Parse()
	if *serverBin == "" {
		fmt.Fprintln(os.Stderr, "usage: kubelet-standin-server-selftest --server <kubelet-standin-server> [--netns NAME] [--timeout 50s] [--verbose]")
		os.Exit(2)
	}
	t := &selftest{server: *serverBin, netns: *netnsName, start: time.Now()}
	go func() {
		signals := make(chan os.Signal, 1)
		signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
		select {
		case sig := <-signals:
			t.fail("signal", fmt.Errorf("%v", sig))
		case <-time.After(*timeout):
			t.fail("timeout", fmt.Errorf("not done within %v", *timeout))
		}
		t.cleanup()
		os.Exit(1)
	}()
	err := t.setup()
	if err != nil {
		t.fail("setup", err)
	} else {
		t.run()
	}
	t.cleanup()
	if t.failed() > 0 {
		fmt.Printf("selftest: %d of %d checks FAILED (%.1f s)\n", t.failed(), t.checks, time.Since(t.start).Seconds())
		os.Exit(1)
	}
	fmt.Printf("selftest: all %d checks passed in %.1f s\n", t.checks, time.Since(t.start).Seconds())
}

type selftest struct {
	server string
	netns  string
	start  time.Time

	mu       sync.Mutex
	checks   int
	failures int
	cleaned  bool

	tmp          string
	netnsMade    bool
	sleeper      *exec.Cmd // unshare, the container's parent
	containerPid int       // the sleep, PID 1 of its PID namespace
	listener     net.Listener
	listenerPort int
	api          *httptest.Server
	servers      []*serverProc

	ca                  *x509.Certificate
	caKey               *ecdsa.PrivateKey
	caPEM               []byte
	masters, nobody     tls.Certificate
	mastersPEM, keyPEM  []byte
	logFile, prevLog    string
	apiCallers          map[string]int
	reviews             []string
	port, readOnlyPort  int
	webhookPort         int
	cleanupErrs         []string
	serverCertFromFiles []byte
}

type serverProc struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	name string
}

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

func (t *selftest) failed() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failures
}

func (t *selftest) fail(name string, err error) {
	t.mu.Lock()
	t.checks++
	t.failures++
	t.mu.Unlock()
	fmt.Printf("FAIL %s: %v\n", name, err)
}

// check runs one check, bounded by 15 s, and prints "ok <name>: <detail>" or "FAIL <name>: <error>".
func (t *selftest) check(name string, fn func() (string, error)) {
	type result struct {
		detail string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		d, err := fn()
		done <- result{d, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(15 * time.Second):
		r.err = errors.New("no answer within 15 s")
	}
	if r.err != nil {
		t.fail(name, r.err)
		return
	}
	t.mu.Lock()
	t.checks++
	t.mu.Unlock()
	fmt.Printf("ok   %s: %s\n", name, r.detail)
}

// --- setup ----------------------------------------------------------------------------------------

func (t *selftest) setup() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces)")
	}
	for _, tool := range []string{"ip", "unshare", "nsenter", "sleep", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("needs %s on PATH", tool)
		}
	}
	var err error
	if t.tmp, err = ioutil.TempDir("", "kvl-kubelet-server-selftest-"); err != nil {
		return err
	}
	if err := t.makeCerts(); err != nil {
		return fmt.Errorf("certificates: %v", err)
	}
	t.startAPI()
	if err := t.writeKubeconfig(); err != nil {
		return err
	}
	if err := t.makeNetns(); err != nil {
		return err
	}
	if err := t.startContainer(); err != nil {
		return err
	}
	if err := t.writeRecords(); err != nil {
		return err
	}
	if t.port, err = freePort(); err != nil {
		return err
	}
	if t.readOnlyPort, err = freePort(); err != nil {
		return err
	}
	return t.startServer("AlwaysAllow", t.port, t.readOnlyPort)
}

func (t *selftest) makeCerts() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kvl-selftest-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	t.ca, _ = x509.ParseCertificate(der)
	t.caKey = key
	t.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := ioutil.WriteFile(filepath.Join(t.tmp, "ca.crt"), t.caPEM, 0644); err != nil {
		return err
	}
	// the node's credentials (its kubeconfig), as the TLS bootstrap makes them
	nodeCert, nodeKey, err := t.issue("system:node:"+nodeName, []string{"system:nodes"}, x509.ExtKeyUsageClientAuth, nil)
	if err != nil {
		return err
	}
	if err := ioutil.WriteFile(filepath.Join(t.tmp, "node.crt"), nodeCert, 0644); err != nil {
		return err
	}
	if err := ioutil.WriteFile(filepath.Join(t.tmp, "node.key"), nodeKey, 0600); err != nil {
		return err
	}
	// the API server's kubelet client (apiserver-kubelet-client.crt), and a nobody
	if t.mastersPEM, t.keyPEM, err = t.issue("kube-apiserver-kubelet-client", []string{"system:masters"}, x509.ExtKeyUsageClientAuth, nil); err != nil {
		return err
	}
	if t.masters, err = tls.X509KeyPair(t.mastersPEM, t.keyPEM); err != nil {
		return err
	}
	c, k, err := t.issue("nobody", nil, x509.ExtKeyUsageClientAuth, nil)
	if err != nil {
		return err
	}
	t.nobody, err = tls.X509KeyPair(c, k)
	return err
}

func (t *selftest) issue(cn string, orgs []string, usage x509.ExtKeyUsage, ips []net.IP) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, t.ca, &key.PublicKey, t.caKey)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
}

// startAPI: the fake API server, on 127.0.0.1, requiring client certificates of the test CA.
func (t *selftest) startAPI() {
	t.apiCallers = map[string]int{}
	mux := http.NewServeMux()
	podJSON := func(name, node string, uid string) *v1.Pod {
		return &v1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: podNS, UID: types.UID(uid)},
			Spec: v1.PodSpec{
				NodeName:   node,
				Containers: []v1.Container{{Name: container, Image: "example/main:1"}, {Name: idle, Image: "example/idle:1"}},
			},
		}
	}
	writeJSON := func(w http.ResponseWriter, code int, v interface{}) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	notFound := func(w http.ResponseWriter, what string) {
		writeJSON(w, 404, &metav1.Status{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"}, Status: metav1.StatusFailure,
			Reason: metav1.StatusReasonNotFound, Code: 404, Message: what + " not found"})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.mu.Lock()
		if len(r.TLS.PeerCertificates) > 0 {
			t.apiCallers[r.TLS.PeerCertificates[0].Subject.CommonName]++
		}
		t.mu.Unlock()
		switch {
		case r.Method == "GET" && r.URL.Path == "/api/v1/namespaces/"+podNS+"/pods/"+podName:
			writeJSON(w, 200, podJSON(podName, nodeName, podUID))
		case r.Method == "GET" && r.URL.Path == "/api/v1/namespaces/"+podNS+"/pods/"+otherPod:
			writeJSON(w, 200, podJSON(otherPod, "another-node", "6b1e3c2a-0000-4000-8000-5e1f7e570002"))
		case r.Method == "POST" && r.URL.Path == "/apis/authentication.k8s.io/v1beta1/tokenreviews":
			review := &authenticationv1beta1.TokenReview{}
			json.NewDecoder(r.Body).Decode(review)
			review.Status.Authenticated = review.Spec.Token == token
			if review.Status.Authenticated {
				review.Status.User = authenticationv1beta1.UserInfo{Username: "token-user", Groups: []string{"token-group"}}
			}
			t.mu.Lock()
			t.reviews = append(t.reviews, fmt.Sprintf("TokenReview %v", review.Status.Authenticated))
			t.mu.Unlock()
			writeJSON(w, 201, review)
		case r.Method == "POST" && r.URL.Path == "/apis/authorization.k8s.io/v1beta1/subjectaccessreviews":
			review := &authorizationv1beta1.SubjectAccessReview{}
			json.NewDecoder(r.Body).Decode(review)
			for _, g := range review.Spec.Groups {
				if g == "system:masters" {
					review.Status.Allowed = true
				}
			}
			a := review.Spec.ResourceAttributes
			if a != nil {
				t.mu.Lock()
				t.reviews = append(t.reviews, fmt.Sprintf("SubjectAccessReview %s %s %s/%s %s: %v", review.Spec.User, a.Verb, a.Resource, a.Subresource, a.Name, review.Status.Allowed))
				t.mu.Unlock()
			}
			writeJSON(w, 201, review)
		default:
			notFound(w, r.Method+" "+r.URL.Path)
		}
	})
	t.api = httptest.NewUnstartedServer(mux)
	certPEM, keyPEM, _ := t.issue("kvl-selftest-apiserver", nil, x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	cert, _ := tls.X509KeyPair(certPEM, keyPEM)
	pool := x509.NewCertPool()
	pool.AddCert(t.ca)
	t.api.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	t.api.StartTLS()
}

func (t *selftest) writeKubeconfig() error {
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: selftest
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: node
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: node@selftest
  context: {cluster: selftest, user: node}
current-context: node@selftest
`, t.api.URL, filepath.Join(t.tmp, "ca.crt"), filepath.Join(t.tmp, "node.crt"), filepath.Join(t.tmp, "node.key"))
	return ioutil.WriteFile(filepath.Join(t.tmp, "kubelet.conf"), []byte(kubeconfig), 0600)
}

func (t *selftest) netnsPath() string { return "/run/netns/" + t.netns }

// makeNetns: the pod's network namespace, loopback up, a listener on 127.0.0.1 inside it.
func (t *selftest) makeNetns() error {
	if out, err := exec.Command("ip", "netns", "add", t.netns).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns add %s: %v: %s", t.netns, err, out)
	}
	t.netnsMade = true
	if out, err := exec.Command("ip", "-n", t.netns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return fmt.Errorf("ip -n %s link set lo up: %v: %s", t.netns, err, out)
	}
	ln, err := listenIn(t.netnsPath(), "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("a listener in %s: %v", t.netns, err)
	}
	t.listener = ln
	t.listenerPort = ln.Addr().(*net.TCPAddr).Port
	go func() {
		for i := 0; i < 100; i++ {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				fmt.Fprintf(c, "hello from %s\n", t.netns)
				line, err := bufio.NewReader(c).ReadString('\n')
				if err == nil {
					fmt.Fprintf(c, "echo %s", line)
				}
			}(conn)
		}
	}()
	return nil
}

// startContainer: the "container", as the stand-in's container-run.sh starts one: a sleep in its
// own mount, UTS and PID namespaces (host name fakepod; PID 1 there, killed with the unshare above
// it), in the pod's network namespace, with an environment of its own. Its pid as this machine
// sees it goes into the record.
func (t *selftest) startContainer() error {
	t.sleeper = exec.Command("unshare", "--mount", "--uts", "--pid", "--fork", "--kill-child", "--", "sh", "-c",
		`hostname `+podName+` && exec nsenter --net="$1" -- sleep 300`, "sh", t.netnsPath())
	t.sleeper.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "KVL_SELFTEST=" + envValue}
	t.sleeper.Dir = "/"
	t.sleeper.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := t.sleeper.Start(); err != nil {
		return err
	}
	unsharePid := t.sleeper.Process.Pid
	for i := 0; i < 100; i++ { // 5 s at most
		children, _ := ioutil.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", unsharePid, unsharePid))
		if f := strings.Fields(string(children)); len(f) == 1 {
			pid, _ := strconv.Atoi(f[0])
			comm, _ := ioutil.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			if strings.TrimSpace(string(comm)) == "sleep" {
				t.containerPid = pid
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("the container (under unshare %d) did not become a sleep within 5 s", unsharePid)
}

func (t *selftest) writeRecords() error {
	dir := filepath.Join(t.tmp, "runtime", "pods", podUID)
	if err := os.MkdirAll(filepath.Join(dir, "containers"), 0755); err != nil {
		return err
	}
	logs := filepath.Join(t.tmp, "logs")
	os.MkdirAll(logs, 0755)
	t.logFile = filepath.Join(logs, "main-1.log")
	t.prevLog = filepath.Join(logs, "main-0.log")
	var b strings.Builder
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := 1; i <= 5; i++ {
		stream := "stdout"
		if i == 3 {
			stream = "stderr"
		}
		fmt.Fprintf(&b, "%s %s F line %d\n", base.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano), stream, i)
	}
	if err := ioutil.WriteFile(t.logFile, []byte(b.String()), 0644); err != nil {
		return err
	}
	prev := fmt.Sprintf("%s stdout F the previous container's last line\n", base.Format(time.RFC3339Nano))
	if err := ioutil.WriteFile(t.prevLog, []byte(prev), 0644); err != nil {
		return err
	}
	write := func(file string, v interface{}) error {
		data, _ := json.MarshalIndent(v, "", "  ")
		return ioutil.WriteFile(file, data, 0644)
	}
	if err := write(filepath.Join(dir, "pod.json"), map[string]interface{}{"namespace": podNS, "name": podName, "uid": podUID, "netns": t.netnsPath()}); err != nil {
		return err
	}
	if err := write(filepath.Join(dir, "containers", container+".json"), map[string]interface{}{
		"name": container, "image": "example/main:1", "pid": t.containerPid, "why": "",
		"log": t.logFile, "previousLog": t.prevLog, "restartCount": 1}); err != nil {
		return err
	}
	return write(filepath.Join(dir, "containers", idle+".json"), map[string]interface{}{
		"name": idle, "image": "example/idle:1", "pid": 0, "why": idleWhy, "log": "", "previousLog": "", "restartCount": 0})
}

func (t *selftest) startServer(mode string, port, readOnlyPort int) error {
	args := []string{
		"--node-name", nodeName, "--kubeconfig", filepath.Join(t.tmp, "kubelet.conf"),
		"--address", "127.0.0.1", "--port", strconv.Itoa(port), "--read-only-port", strconv.Itoa(readOnlyPort),
		"--client-ca-file", filepath.Join(t.tmp, "ca.crt"), "--authorization-mode", mode,
		"--cert-dir", filepath.Join(t.tmp, "pki"), "--runtime-dir", filepath.Join(t.tmp, "runtime"),
		"--streaming-connection-idle-timeout", "30s",
	}
	p := &serverProc{cmd: exec.Command(t.server, args...), logs: &syncBuffer{}, name: mode}
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		return err
	}
	t.mu.Lock()
	t.servers = append(t.servers, p)
	t.mu.Unlock()
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	// ready when its port accepts TLS (bounded: 10 s)
	for i := 0; i < 200; i++ {
		select {
		case err := <-exited:
			return fmt.Errorf("the server (%s) exited: %v\n%s", mode, err, p.logs.String())
		default:
		}
		conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			if i := len(conn.ConnectionState().PeerCertificates); i > 0 && t.serverCertFromFiles == nil {
				t.serverCertFromFiles = conn.ConnectionState().PeerCertificates[0].Raw
			}
			conn.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("the server (%s) did not listen on %d within 10 s:\n%s", mode, port, p.logs.String())
}

// --- the checks -----------------------------------------------------------------------------------

func (t *selftest) config(port int) *restclient.Config {
	return &restclient.Config{
		Host: "https://127.0.0.1:" + strconv.Itoa(port),
		TLSClientConfig: restclient.TLSClientConfig{
			Insecure: true, // as the 1.9 API server without --kubelet-certificate-authority
			CertData: t.mastersPEM,
			KeyData:  t.keyPEM,
		},
	}
}

func (t *selftest) run() {
	t.check("serving certificate", func() (string, error) {
		data, err := ioutil.ReadFile(filepath.Join(t.tmp, "pki", "kubelet.crt"))
		if err != nil {
			return "", err
		}
		block, _ := pem.Decode(data)
		if block == nil || !bytes.Equal(block.Bytes, t.serverCertFromFiles) {
			return "", errors.New("the server does not present <cert-dir>/kubelet.crt")
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(filepath.Join(t.tmp, "pki", "kubelet.key")); err != nil {
			return "", err
		}
		return fmt.Sprintf("self-signed %s/kubelet.crt made and served: CN %s, DNS %v, IPs %v", "<cert-dir>", cert.Subject.CommonName, cert.DNSNames, cert.IPAddresses), nil
	})

	t.check("read-only port", func() (string, error) {
		body, code, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/healthz", t.readOnlyPort), nil)
		if err != nil || code != 200 || body != "ok" {
			return "", fmt.Errorf("/healthz: %d %q %v", code, body, err)
		}
		body, code, err = httpGet(fmt.Sprintf("http://127.0.0.1:%d/pods", t.readOnlyPort), nil)
		if err != nil || code != 200 {
			return "", fmt.Errorf("/pods: %d %q %v", code, body, err)
		}
		list := &v1.PodList{}
		if err := json.Unmarshal([]byte(body), list); err != nil {
			return "", err
		}
		if len(list.Items) != 1 || list.Items[0].Name != podName || string(list.Items[0].UID) != podUID {
			return "", fmt.Errorf("/pods lists %d pods: %s", len(list.Items), body)
		}
		_, code, _ = httpGet(fmt.Sprintf("http://127.0.0.1:%d/exec/%s/%s/%s?command=true&output=1", t.readOnlyPort, podNS, podName, container), nil)
		if code != http.StatusMethodNotAllowed {
			return "", fmt.Errorf("/exec on the read-only port answered %d, not 405", code)
		}
		return "/healthz ok, /pods lists default/fakepod (from the API, bound here), /exec 405", nil
	})

	t.check("authentication", func() (string, error) {
		base := fmt.Sprintf("https://127.0.0.1:%d/pods", t.port)
		_, code, err := httpGet(base, &tls.Config{InsecureSkipVerify: true})
		if err != nil || code != 401 {
			return "", fmt.Errorf("without credentials: %d %v (want 401)", code, err)
		}
		_, code, err = httpGet(base, &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{t.masters}})
		if err != nil || code != 200 {
			return "", fmt.Errorf("with the API server's client certificate: %d %v (want 200)", code, err)
		}
		body, code, _ := httpGet(fmt.Sprintf("https://127.0.0.1:%d/stats/summary", t.port), &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{t.masters}})
		if code == 200 {
			return "", fmt.Errorf("/stats/summary answered 200: %s", body)
		}
		return fmt.Sprintf("no credentials 401, the apiserver-kubelet-client certificate 200 (AlwaysAllow); /stats/summary %d", code), nil
	})

	t.check("exec ip -o link", func() (string, error) {
		out, errOut, err := t.exec(container, []string{"ip", "-o", "link"}, nil, false, nil)
		if err != nil {
			return "", fmt.Errorf("%v (stderr %q)", err, errOut)
		}
		want, _ := exec.Command("ip", "-n", t.netns, "-o", "link").Output()
		got, exp := linkNames(out), linkNames(string(want))
		if got != exp || !strings.Contains(out, "lo:") {
			return "", fmt.Errorf("links %q, want those of %s: %q", got, t.netns, exp)
		}
		return fmt.Sprintf("the pod's network namespace: %s", got), nil
	})

	t.check("exec host name and environment", func() (string, error) {
		out, errOut, err := t.exec(container, []string{"sh", "-c", `echo "$(hostname) $KVL_SELFTEST $(pwd) $$"`}, nil, false, nil)
		if err != nil {
			return "", fmt.Errorf("%v (stderr %q)", err, errOut)
		}
		f := strings.Fields(out)
		want := podName + " " + envValue + " /"
		if len(f) != 4 || strings.Join(f[:3], " ") != want {
			return "", fmt.Errorf("got %q, want %q and a pid", out, want)
		}
		if pid, _ := strconv.Atoi(f[3]); pid < 2 || pid > 20 {
			return "", fmt.Errorf("the command's pid is %s: not in the container's PID namespace (where the sleep is 1)", f[3])
		}
		return fmt.Sprintf("%q (UTS, PID namespace: pid %s; environment and working directory of the container)", strings.TrimSpace(out), f[3]), nil
	})

	t.check("exec exit code", func() (string, error) {
		out, errOut, err := t.exec(container, []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, nil, false, nil)
		var code utilexec.CodeExitError
		if !errors.As(err, &code) || code.Code != 3 {
			return "", fmt.Errorf("got %v (%T), want exit code 3", err, err)
		}
		if out != "out\n" || errOut != "err\n" {
			return "", fmt.Errorf("stdout %q stderr %q", out, errOut)
		}
		return fmt.Sprintf("sh -c 'exit 3': %q, code %d; stdout and stderr apart", err.Error(), code.Code), nil
	})

	t.check("exec stdin", func() (string, error) {
		out, _, err := t.exec(container, []string{"cat"}, strings.NewReader("through stdin\n"), false, nil)
		if err != nil || out != "through stdin\n" {
			return "", fmt.Errorf("cat: %q %v", out, err)
		}
		return "cat echoes its stdin, ends at its end", nil
	})

	t.check("exec tty", func() (string, error) {
		sizes := &sizeQueue{sizes: []remotecommand.TerminalSize{{Width: 101, Height: 33}}}
		out, _, err := t.exec(container, []string{"sh", "-c", "sleep 0.3; stty size; tty; exit 4"}, nil, true, sizes)
		var code utilexec.CodeExitError
		if !errors.As(err, &code) || code.Code != 4 {
			return "", fmt.Errorf("got %v, want exit code 4 (output %q)", err, out)
		}
		if !strings.Contains(out, "33 101") || !strings.Contains(out, "/dev/pts/") {
			return "", fmt.Errorf("output %q: want the size 33 101 and a /dev/pts terminal", out)
		}
		return fmt.Sprintf("%q, exit code 4", strings.Fields(out)), nil
	})

	t.check("exec leaving a process behind", func() (string, error) {
		started := time.Now()
		out, _, err := t.exec(container, []string{"sh", "-c", "sleep 8 & echo started"}, nil, false, nil)
		took := time.Since(started)
		if err != nil || out != "started\n" {
			return "", fmt.Errorf("%q %v", out, err)
		}
		if took > 5*time.Second {
			return "", fmt.Errorf("took %v: the session waited for the process left behind", took)
		}
		return fmt.Sprintf("a background sleep holding stdout: the session ended %.1f s after the shell", took.Seconds()), nil
	})

	t.check("exec in a container that runs nothing", func() (string, error) {
		_, _, err := t.exec(idle, []string{"true"}, nil, false, nil)
		want := fmt.Sprintf("container %s of pod %s/%s runs no process in this simulated lab: %s", idle, podNS, podName, idleWhy)
		if err == nil || !strings.Contains(err.Error(), want) {
			return "", fmt.Errorf("got %v, want %q", err, want)
		}
		return fmt.Sprintf("%q", err.Error()), nil
	})

	t.check("exec in a pod of another node", func() (string, error) {
		_, _, err := t.execURL(fmt.Sprintf("/exec/%s/%s/%s", podNS, otherPod, container), []string{"true"}, nil, false, nil)
		if err == nil {
			return "", errors.New("it ran")
		}
		return fmt.Sprintf("refused: %v", err), nil
	})

	t.check("run", func() (string, error) {
		body, code, err := t.post(fmt.Sprintf("/run/%s/%s/%s?cmd=hostname", podNS, podName, container))
		if err != nil || code != 200 || strings.TrimSpace(body) != podName {
			return "", fmt.Errorf("%d %q %v", code, body, err)
		}
		return fmt.Sprintf("/run ?cmd=hostname: %q", strings.TrimSpace(body)), nil
	})

	t.check("attach", func() (string, error) {
		_, _, err := t.execURL(fmt.Sprintf("/attach/%s/%s/%s", podNS, podName, container), nil, nil, false, nil)
		if err == nil || !strings.Contains(err.Error(), "not supported by the kubelet stand-in") {
			return "", fmt.Errorf("got %v", err)
		}
		return "not supported, said so", nil
	})

	logs := func(query string) (string, error) {
		body, code, err := t.get(fmt.Sprintf("/containerLogs/%s/%s/%s?%s", podNS, podName, container, query))
		if err != nil {
			return "", err
		}
		if code != 200 {
			return "", fmt.Errorf("%d: %s", code, body)
		}
		return body, nil
	}
	t.check("logs", func() (string, error) {
		all, err := logs("")
		if err != nil || all != "line 1\nline 2\nline 3\nline 4\nline 5\n" {
			return "", fmt.Errorf("all: %q %v", all, err)
		}
		tail, err := logs("tailLines=2")
		if err != nil || tail != "line 4\nline 5\n" {
			return "", fmt.Errorf("tailLines=2: %q %v", tail, err)
		}
		ts, err := logs("tailLines=1&timestamps=true")
		if err != nil || ts != "2024-05-01T12:00:05Z line 5\n" {
			return "", fmt.Errorf("timestamps: %q %v", ts, err)
		}
		limited, err := logs("limitBytes=10")
		if err != nil || limited != "line 1\nlin" {
			return "", fmt.Errorf("limitBytes=10: %q %v", limited, err)
		}
		since, err := logs("sinceTime=2024-05-01T12:00:04Z")
		if err != nil || since != "line 4\nline 5\n" {
			return "", fmt.Errorf("sinceTime: %q %v", since, err)
		}
		prev, err := logs("previous=true")
		if err != nil || prev != "the previous container's last line\n" {
			return "", fmt.Errorf("previous: %q %v", prev, err)
		}
		_, err = logs("previous=true&follow=false&tailLines=1x")
		if err == nil {
			return "", errors.New("a bad query was accepted")
		}
		return "all 5 lines; tailLines=2, timestamps, limitBytes=10, sinceTime, previous as 1.9's ReadLogs gives them", nil
	})

	t.check("logs follow", func() (string, error) {
		client, err := t.httpClient()
		if err != nil {
			return "", err
		}
		resp, err := client.Get(fmt.Sprintf("https://127.0.0.1:%d/containerLogs/%s/%s/%s?follow=true&tailLines=1", t.port, podNS, podName, container))
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		r := bufio.NewReader(resp.Body)
		first, err := r.ReadString('\n')
		if err != nil || first != "line 5\n" {
			return "", fmt.Errorf("first line %q %v", first, err)
		}
		appendLine := func(text string) error {
			f, err := os.OpenFile(t.logFile, os.O_APPEND|os.O_WRONLY, 0644)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = fmt.Fprintf(f, "%s stdout F %s\n", time.Now().UTC().Format(time.RFC3339Nano), text)
			return err
		}
		lines := make(chan string, 4)
		go func() {
			for i := 0; i < 4; i++ {
				l, err := r.ReadString('\n')
				if err != nil {
					close(lines)
					return
				}
				lines <- l
			}
		}()
		started := time.Now()
		if err := appendLine("line 6, written while following"); err != nil {
			return "", err
		}
		// 1.9.4's ReadLogs sets up its file watcher only at the end of the file, and misses a write
		// made meanwhile (later releases read once more after adding it): the next write brings both.
		second := ""
		var next string
		select {
		case next = <-lines:
		case <-time.After(1500 * time.Millisecond):
			if err := appendLine("line 7, a second write"); err != nil {
				return "", err
			}
			second = " (after a second write: the first came while 1.9.4's ReadLogs set up its watcher)"
			select {
			case next = <-lines:
			case <-time.After(6 * time.Second):
				return "", errors.New("neither appended line arrived")
			}
		}
		if next != "line 6, written while following\n" {
			return "", fmt.Errorf("next line %q", next)
		}
		return fmt.Sprintf("tail 1, then a line appended to the file arrived after %d ms%s", time.Since(started).Milliseconds(), second), nil
	})

	t.check("port-forward", func() (string, error) {
		local, err := freePort()
		if err != nil {
			return "", err
		}
		config := t.config(t.port)
		transport, upgrader, err := spdy.RoundTripperFor(config)
		if err != nil {
			return "", err
		}
		u, _ := url.Parse(fmt.Sprintf("https://127.0.0.1:%d/portForward/%s/%s", t.port, podNS, podName))
		dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, "POST", u)
		stop, ready := make(chan struct{}), make(chan struct{})
		defer close(stop)
		var pfOut, pfErr syncBuffer
		pf, err := portforward.New(dialer, []string{fmt.Sprintf("%d:%d", local, t.listenerPort)}, stop, ready, &pfOut, &pfErr)
		if err != nil {
			return "", err
		}
		fwdErr := make(chan error, 1)
		go func() { fwdErr <- pf.ForwardPorts() }()
		select {
		case <-ready:
		case err := <-fwdErr:
			return "", fmt.Errorf("port forwarding ended: %v", err)
		case <-time.After(10 * time.Second):
			return "", errors.New("port forwarding not ready within 10 s")
		}
		conn, err := net.DialTimeout("tcp4", fmt.Sprintf("127.0.0.1:%d", local), 5*time.Second)
		if err != nil {
			return "", err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(conn)
		hello, err := r.ReadString('\n')
		if err != nil || hello != "hello from "+t.netns+"\n" {
			return "", fmt.Errorf("greeting %q %v (%s)", hello, err, pfErr.String())
		}
		fmt.Fprintf(conn, "ping\n")
		echo, err := r.ReadString('\n')
		if err != nil || echo != "echo ping\n" {
			return "", fmt.Errorf("echo %q %v", echo, err)
		}
		return fmt.Sprintf("127.0.0.1:%d -> pod's 127.0.0.1:%d (listener in %s): %q, %q", local, t.listenerPort, t.netns, strings.TrimSpace(hello), strings.TrimSpace(echo)), nil
	})

	t.check("webhook authentication and authorization", func() (string, error) {
		port, err := freePort()
		if err != nil {
			return "", err
		}
		if err := t.startServer("Webhook", port, 0); err != nil {
			return "", err
		}
		base := fmt.Sprintf("https://127.0.0.1:%d/pods", port)
		insecure := func(certs ...tls.Certificate) *tls.Config {
			return &tls.Config{InsecureSkipVerify: true, Certificates: certs}
		}
		results := []string{}
		for _, c := range []struct {
			what   string
			tls    *tls.Config
			bearer string
			want   int
		}{
			{"no credentials", insecure(), "", 401},
			{"apiserver-kubelet-client (system:masters)", insecure(t.masters), "", 200},
			{"certificate of nobody", insecure(t.nobody), "", 403},
			{"bearer token of token-user", insecure(), token, 403},
			{"unknown bearer token", insecure(), "wrong", 401},
		} {
			req, _ := http.NewRequest("GET", base, nil)
			if c.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+c.bearer)
			}
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: c.tls}}
			resp, err := client.Do(req)
			if err != nil {
				return "", fmt.Errorf("%s: %v", c.what, err)
			}
			body, _ := ioutil.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.want {
				return "", fmt.Errorf("%s: %d %q, want %d", c.what, resp.StatusCode, body, c.want)
			}
			results = append(results, fmt.Sprintf("%s %d", c.what, c.want))
		}
		t.mu.Lock()
		reviews := append([]string(nil), t.reviews...)
		callers := []string{}
		for cn, n := range t.apiCallers {
			callers = append(callers, fmt.Sprintf("%s (%d)", cn, n))
		}
		t.mu.Unlock()
		sort.Strings(callers)
		want := "SubjectAccessReview kube-apiserver-kubelet-client get nodes/proxy " + nodeName + ": true"
		found := false
		for _, r := range reviews {
			found = found || r == want
		}
		if !found {
			return "", fmt.Errorf("no %q among the reviews %q", want, reviews)
		}
		if len(callers) != 1 || !strings.HasPrefix(callers[0], "system:node:"+nodeName+" ") {
			return "", fmt.Errorf("the API was called as %v, want only system:node:%s", callers, nodeName)
		}
		return fmt.Sprintf("%s; reviews asked with the node's credentials (%s): %s", strings.Join(results, ", "), callers[0], strings.Join(uniq(reviews), "; ")), nil
	})
}

type sizeQueue struct {
	mu    sync.Mutex
	sizes []remotecommand.TerminalSize
}

func (q *sizeQueue) Next() *remotecommand.TerminalSize {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.sizes) == 0 {
		return nil
	}
	s := q.sizes[0]
	q.sizes = q.sizes[1:]
	return &s
}

func (t *selftest) exec(c string, cmd []string, stdin io.Reader, tty bool, sizes remotecommand.TerminalSizeQueue) (string, string, error) {
	return t.execURL(fmt.Sprintf("/exec/%s/%s/%s", podNS, podName, c), cmd, stdin, tty, sizes)
}

// execURL: what the API server (and kubectl behind it) does: client-go's SPDY executor.
func (t *selftest) execURL(path string, cmd []string, stdin io.Reader, tty bool, sizes remotecommand.TerminalSizeQueue) (string, string, error) {
	q := url.Values{}
	for _, c := range cmd {
		q.Add("command", c)
	}
	q.Set("output", "1")
	if !tty {
		q.Set("error", "1")
	} else {
		q.Set("tty", "1")
	}
	if stdin != nil {
		q.Set("input", "1")
	}
	u, _ := url.Parse(fmt.Sprintf("https://127.0.0.1:%d%s?%s", t.port, path, q.Encode()))
	executor, err := remotecommand.NewSPDYExecutor(t.config(t.port), "POST", u)
	if err != nil {
		return "", "", err
	}
	var out, errOut bytes.Buffer
	opts := remotecommand.StreamOptions{Stdin: stdin, Stdout: &out, Tty: tty, TerminalSizeQueue: sizes}
	if !tty {
		opts.Stderr = &errOut
	}
	err = executor.Stream(opts)
	return out.String(), errOut.String(), err
}

func (t *selftest) httpClient() (*http.Client, error) {
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{t.masters}},
	}}, nil
}

func (t *selftest) get(path string) (string, int, error) {
	return httpGet(fmt.Sprintf("https://127.0.0.1:%d%s", t.port, path), &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{t.masters}})
}

func (t *selftest) post(path string) (string, int, error) {
	client, _ := t.httpClient()
	resp, err := client.Post(fmt.Sprintf("https://127.0.0.1:%d%s", t.port, path), "text/plain", nil)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	body, err := ioutil.ReadAll(resp.Body)
	return string(body), resp.StatusCode, err
}

func httpGet(u string, tlsConfig *tls.Config) (string, int, error) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	resp, err := client.Get(u)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	body, err := ioutil.ReadAll(resp.Body)
	return string(body), resp.StatusCode, err
}

// linkNames: the interface names of `ip -o link` output, sorted, comma-separated.
func linkNames(out string) string {
	var names []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 {
			names = append(names, strings.TrimSuffix(strings.SplitN(f[1], "@", 2)[0], ":"))
		}
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func uniq(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// listenIn listens on addr inside the network namespace at path (a locked thread switched there
// for the socket's creation and switched back; left locked, and so ended, if it cannot be).
func listenIn(path, addr string) (net.Listener, error) {
	target, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer target.Close()
	type result struct {
		ln  net.Listener
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{nil, err}
			return
		}
		defer self.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- result{nil, err}
			return
		}
		ln, err := net.Listen("tcp4", addr)
		if rerr := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); rerr != nil {
			if ln != nil {
				ln.Close()
			}
			done <- result{nil, rerr}
			return
		}
		runtime.UnlockOSThread()
		done <- result{ln, err}
	}()
	r := <-done
	return r.ln, r.err
}

// --- cleanup --------------------------------------------------------------------------------------

// cleanup: the servers, the container process, the listener, the fake API, the network namespace
// and the temporary folder; once, whoever calls it first (the end, the timeout, a signal).
func (t *selftest) cleanup() {
	t.mu.Lock()
	if t.cleaned {
		t.mu.Unlock()
		return
	}
	t.cleaned = true
	servers := t.servers
	t.mu.Unlock()
	var pids []string
	for _, p := range servers {
		stopProcess(p.cmd.Process, false)
		pids = append(pids, strconv.Itoa(p.cmd.Process.Pid))
		if verbose || t.failed() > 0 {
			fmt.Printf("--- server (%s) log:\n%s", p.name, p.logs.String())
		}
	}
	if t.sleeper != nil && t.sleeper.Process != nil {
		// SIGKILL: unshare --fork ignores SIGTERM, and so does a PID namespace's init without a handler
		syscall.Kill(-t.sleeper.Process.Pid, syscall.SIGKILL)
		stopProcess(t.sleeper.Process, true)
		pids = append(pids, strconv.Itoa(t.sleeper.Process.Pid))
		if t.containerPid > 0 {
			pids = append(pids, strconv.Itoa(t.containerPid))
		}
	}
	if t.netnsMade { // what an exec left running in the pod's network namespace
		out, _ := exec.Command("ip", "netns", "pids", t.netns).Output()
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil {
				if p, err := os.FindProcess(pid); err == nil {
					stopProcess(p, false)
					pids = append(pids, f)
				}
			}
		}
	}
	var left []string
	for _, pid := range pids {
		n, _ := strconv.Atoi(pid)
		for i := 0; i < 40 && syscall.Kill(n, 0) == nil && !isZombie(n); i++ { // 2 s at most
			time.Sleep(50 * time.Millisecond)
		}
		if syscall.Kill(n, 0) == nil && !isZombie(n) {
			left = append(left, pid)
		}
	}
	if t.listener != nil {
		t.listener.Close()
	}
	if t.api != nil {
		t.api.CloseClientConnections()
		t.api.Listener.Close()
	}
	if t.netnsMade {
		if out, err := exec.Command("ip", "netns", "delete", t.netns).CombinedOutput(); err != nil {
			fmt.Printf("cleanup: ip netns delete %s: %v: %s\n", t.netns, err, out)
		}
	}
	if t.tmp != "" {
		os.RemoveAll(t.tmp)
	}
	fmt.Printf("cleanup: processes %s stopped (still there: %d), network namespace %s deleted, %s removed\n",
		strings.Join(pids, " "), len(left), t.netns, t.tmp)
}

// stopProcess: SIGTERM (to its process group with group), SIGKILL after 3 s; waits at most 5 s.
func stopProcess(p *os.Process, group bool) {
	target := p.Pid
	if group {
		target = -p.Pid
	}
	syscall.Kill(target, syscall.SIGTERM)
	for i := 0; i < 100; i++ {
		if syscall.Kill(p.Pid, 0) != nil || isZombie(p.Pid) {
			p.Wait()
			return
		}
		if i == 60 {
			syscall.Kill(target, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func isZombie(pid int) bool {
	data, err := ioutil.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}
