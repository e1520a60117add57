// kubelet-standin-server: the kubelet API (port 10250, and the read-only port when asked) of the
// kubelet stand-in (harness/standins/kubelet), served by Kubernetes 1.9.4's own kubelet server
// (k8s.io/kubernetes/pkg/kubelet/server: NewServer with this program's HostInterface; its
// remotecommand and portforward servers speak SPDY and websockets), so that `kubectl exec`,
// `kubectl logs` and `kubectl port-forward` work through a real 1.9.4 API server. The containers
// are the local processes the TypeScript stand-in runs and describes in its records (records.go).
// Built inside the 1.9.4 GOPATH tree by harness/kubernetes.sh (as cmd/kubelet-standin-server).
package main

import (
	"crypto/tls"
	goflag "flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/types"
	clientset "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/kubernetes/pkg/kubelet/server"
	nodeutil "k8s.io/kubernetes/pkg/util/node"
	"k8s.io/kubernetes/pkg/version"
)

const program = "kubelet-standin-server"

type options struct {
	nodeName     string
	kubeconfig   string
	address      string
	port         int32
	readOnlyPort int32
	tlsCertFile  string
	tlsKeyFile   string
	certDir      string
	runtimeDir   string
	idleTimeout  time.Duration
	auth         authConfig
	printVersion bool
}

var logNode = "?"

// logf: one line per action on stderr, "kubelet-standin-server[<node>] <time> <what>", as the
// TypeScript stand-in logs.
func logf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "%s[%s] %s %s\n", program, logNode, time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func fatalf(format string, args ...interface{}) {
	logf("error: "+format, args...)
	os.Exit(1)
}

func parseFlags() *options {
	o := &options{}
	fs := pflag.CommandLine
	fs.StringVar(&o.nodeName, "node-name", "", "name of the Node (default: the host name; --hostname-override is the same)")
	fs.StringVar(&o.nodeName, "hostname-override", "", "the same as --node-name")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "/etc/kubernetes/kubelet.conf", "the node's credentials (client certificate and key files or data, or a token): for GET pods, TokenReview and SubjectAccessReview")
	fs.StringVar(&o.address, "address", "0.0.0.0", "the IP address to serve on")
	fs.Int32Var(&o.port, "port", 10250, "the port of the kubelet API (HTTPS, authenticated)")
	fs.Int32Var(&o.readOnlyPort, "read-only-port", 0, "the read-only port (HTTP, no authentication: /healthz, /pods, /spec/, /stats/, /metrics); 0 = off")
	fs.StringVar(&o.auth.clientCAFile, "client-ca-file", "", "client certificates signed by this CA authenticate as their CommonName and Organizations")
	fs.StringVar(&o.auth.authorizationMode, "authorization-mode", authorizationModeWebhook, "Webhook (SubjectAccessReview through the API server) or AlwaysAllow")
	fs.BoolVar(&o.auth.anonymous, "anonymous-auth", false, "requests without credentials are system:anonymous (else 401)")
	fs.BoolVar(&o.auth.webhookAuthn, "authentication-token-webhook", true, "bearer tokens are checked with TokenReview (the 1.9 kubelet's default is false; the stand-in's is true)")
	fs.DurationVar(&o.auth.webhookCacheTTL, "authentication-token-webhook-cache-ttl", 2*time.Minute, "how long TokenReview answers are cached")
	fs.DurationVar(&o.auth.cacheAuthorizedTTL, "authorization-webhook-cache-authorized-ttl", 5*time.Minute, "how long allowing SubjectAccessReview answers are cached")
	fs.DurationVar(&o.auth.cacheUnauthorizedTTL, "authorization-webhook-cache-unauthorized-ttl", 30*time.Second, "how long denying SubjectAccessReview answers are cached")
	fs.StringVar(&o.tlsCertFile, "tls-cert-file", "", "the serving certificate (default: a self-signed one, <cert-dir>/kubelet.crt, made when missing)")
	fs.StringVar(&o.tlsKeyFile, "tls-private-key-file", "", "the serving key (default: <cert-dir>/kubelet.key)")
	fs.StringVar(&o.certDir, "cert-dir", "/var/lib/kubelet/pki", "where the self-signed serving certificate is kept")
	fs.StringVar(&o.runtimeDir, "runtime-dir", "/var/lib/kubelet/kubelet-standin/runtime", "the TypeScript stand-in's records: <dir>/pods/<uid>/pod.json and containers/<name>.json")
	fs.DurationVar(&o.idleTimeout, "streaming-connection-idle-timeout", 4*time.Hour, "an exec, attach or port-forward connection idle this long is closed")
	fs.BoolVar(&o.printVersion, "version", false, "print the version and exit")
	// glog's flags (-v, --vmodule, ...), logging to stderr as the kubelet under systemd does.
	goflag.CommandLine.Set("logtostderr", "true")
	fs.AddGoFlagSet(goflag.CommandLine)
	fs.Parse(os.Args[1:])
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "%s: unexpected arguments: %s\n", program, strings.Join(fs.Args(), " "))
		os.Exit(2)
	}
	return o
}

func main() {
	o := parseFlags()
	if o.printVersion {
		fmt.Printf("%s Kubernetes %s\n", program, version.Get().GitVersion)
		return
	}
	o.nodeName = nodeutil.GetHostname(o.nodeName)
	logNode = o.nodeName

	address := net.ParseIP(o.address)
	if address == nil {
		fatalf("--address %q is not an IP address", o.address)
	}
	if o.port <= 0 || o.port > 65535 || o.readOnlyPort < 0 || o.readOnlyPort > 65535 {
		fatalf("--port %d / --read-only-port %d: out of range", o.port, o.readOnlyPort)
	}

	client, err := apiClient(o.kubeconfig)
	if err != nil {
		fatalf("%v", err)
	}
	auth, err := buildAuth(types.NodeName(o.nodeName), client, o.auth)
	if err != nil {
		fatalf("authentication/authorization: %v", err)
	}
	tlsOptions, err := initializeTLS(o, address)
	if err != nil {
		fatalf("TLS: %v", err)
	}

	h := &host{
		nodeName:    o.nodeName,
		hostname:    nodeutil.GetHostname(""),
		client:      client,
		records:     &records{dir: filepath.Join(o.runtimeDir, "pods")},
		idleTimeout: o.idleTimeout,
		logServer:   http.StripPrefix("/logs/", http.FileServer(http.Dir("/var/log/"))),
	}
	analyzer := resourceAnalyzer{}
	analyzer.Start()

	// The kubelet API: ListenAndServeKubeletServer's server, with the debugging handlers (exec,
	// attach, portForward, containerLogs, run, logs) as the kubelet enables them by default, and
	// no CRI streaming redirect. Listening first, so that a port in use fails at once.
	handler := server.NewServer(h, analyzer, auth, true, false, nil, nil)
	mainAddr := net.JoinHostPort(address.String(), strconv.Itoa(int(o.port)))
	ln, err := net.Listen("tcp", mainAddr)
	if err != nil {
		fatalf("%v", err)
	}
	srv := &http.Server{Handler: &handler, MaxHeaderBytes: 1 << 20, TLSConfig: tlsOptions.Config}
	errs := make(chan error, 2)
	go func() { errs <- srv.ServeTLS(ln, tlsOptions.CertFile, tlsOptions.KeyFile) }()
	what := fmt.Sprintf("kubelet API on https://%s (authorization %s, anonymous %v, client CA %q)", mainAddr, o.auth.authorizationMode, o.auth.anonymous, o.auth.clientCAFile)

	// The read-only port: ListenAndServeKubeletReadOnlyServer's server (no auth, no debugging handlers).
	if o.readOnlyPort > 0 {
		roHandler := server.NewServer(h, analyzer, nil, false, false, nil, nil)
		roAddr := net.JoinHostPort(address.String(), strconv.Itoa(int(o.readOnlyPort)))
		roLn, err := net.Listen("tcp", roAddr)
		if err != nil {
			fatalf("%v", err)
		}
		roSrv := &http.Server{Handler: &roHandler, MaxHeaderBytes: 1 << 20}
		go func() { errs <- roSrv.Serve(roLn) }()
		what += fmt.Sprintf(", read-only on http://%s", roAddr)
	}
	logf("serving the %s; records in %s", what, h.records.dir)

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	select {
	case sig := <-signals:
		logf("%v: stopping", sig)
	case err := <-errs:
		fatalf("serving: %v", err)
	}
}

// apiClient: the API client of the node's kubeconfig (nil when there is none: then only
// --authorization-mode=AlwaysAllow with --authentication-token-webhook=false can work, and no pod
// is found).
func apiClient(kubeconfig string) (clientset.Interface, error) {
	if kubeconfig == "" {
		return nil, nil
	}
	if _, err := os.Stat(kubeconfig); err != nil {
		return nil, fmt.Errorf("--kubeconfig: %v", err)
	}
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig %s: %v", kubeconfig, err)
	}
	config.UserAgent = program + "/" + version.Get().GitVersion
	return clientset.NewForConfig(config)
}

// initializeTLS is the 1.9.4 kubelet's InitializeTLS (cmd/kubelet/app/server.go): without
// --tls-cert-file and --tls-private-key-file, a self-signed certificate in --cert-dir, made once
// (for the host name, and here also the node name and the node's IPv4 addresses) and kept.
func initializeTLS(o *options, address net.IP) (*server.TLSOptions, error) {
	if o.tlsCertFile == "" && o.tlsKeyFile == "" {
		o.tlsCertFile = filepath.Join(o.certDir, "kubelet.crt")
		o.tlsKeyFile = filepath.Join(o.certDir, "kubelet.key")
		ok, err := certutil.CanReadCertAndKey(o.tlsCertFile, o.tlsKeyFile)
		if err != nil {
			return nil, err
		}
		if !ok {
			hostName := nodeutil.GetHostname("")
			var dns []string
			if o.nodeName != hostName {
				dns = append(dns, o.nodeName)
			}
			cert, key, err := certutil.GenerateSelfSignedCertKey(hostName, nodeIPs(address), dns)
			if err != nil {
				return nil, fmt.Errorf("unable to generate self signed cert: %v", err)
			}
			if err := certutil.WriteCert(o.tlsCertFile, cert); err != nil {
				return nil, err
			}
			if err := certutil.WriteKey(o.tlsKeyFile, key); err != nil {
				return nil, err
			}
			logf("made a self-signed serving certificate %s", o.tlsCertFile)
		}
	}
	tlsOptions := &server.TLSOptions{
		Config:   &tls.Config{MinVersion: tls.VersionTLS12},
		CertFile: o.tlsCertFile,
		KeyFile:  o.tlsKeyFile,
	}
	if o.auth.clientCAFile != "" {
		clientCAs, err := certutil.NewPool(o.auth.clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("unable to load client CA file %s: %v", o.auth.clientCAFile, err)
		}
		// Populate PeerCertificates in requests, but don't reject connections without verified certificates
		tlsOptions.Config.ClientCAs = clientCAs
		tlsOptions.Config.ClientAuth = tls.RequestClientCert
	}
	return tlsOptions, nil
}

// nodeIPs: --address when it is one, else the host's non-loopback IPv4 addresses.
func nodeIPs(address net.IP) []net.IP {
	if !address.IsUnspecified() {
		return []net.IP{address}
	}
	var ips []net.IP
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			ips = append(ips, n.IP)
		}
	}
	return ips
}
