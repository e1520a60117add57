// ingress-nginx-offline: what the ingress-nginx 0.13.0 controller does with nginx, for a fixed
// configuration instead of one read from an API server. Built inside the 0.13.0 tree (it uses the
// controller's own internal packages; harness/dataplane.sh copies it to cmd/kubevirt-lab-offline),
// it runs in the lab's image of the controller, where the controller would, and takes the
// controller's steps with the controller's code:
//
//   - the default SSL certificate (cmd/nginx/main.go: ssl.GetFakeSSLCert, AddOrUpdateCertAndKey,
//     after file.NewLocalFS made the controller's directories);
//   - the template /etc/nginx/template/nginx.tmpl (NewNGINXController: ngx_template.NewTemplate);
//   - nginx started with the image's /etc/nginx/nginx.conf in its own process group (Start);
//   - the configuration (OnUpdate): the ConfigMap's data read by template.ReadConfig, each
//     Ingress rule's annotations by the annotations extractor, the servers, locations and
//     upstreams laid out as getBackendServers lays them, the TemplateConfig as OnUpdate fills it,
//     the template's Write (with /ingress-controller/clean-nginx-conf.sh), `nginx -t -c <temp
//     file>` (testTemplate), /etc/nginx/nginx.conf written, `nginx -s reload -c` it (retried,
//     as the controller's sync queue retries);
//   - on SIGTERM or SIGINT, `nginx -c /etc/nginx/nginx.conf -s quit` (Stop), then it waits for
//     nginx to end.
//
// usage: ingress-nginx-offline [-print] [-template FILE] [-configmap key=value]...
//
//	[-rule "namespace name host path service port address:port"]... [-default-backend address:port]
//
// -print renders the configuration to stdout and exits (no nginx, no files written). Without
// -default-backend the default upstream is the controller's DefaultEndpoint (127.0.0.1:8181), as
// when the default backend service has no endpoints.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	apiv1 "k8s.io/api/core/v1"
	extensions "k8s.io/api/extensions/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"k8s.io/ingress-nginx/internal/file"
	"k8s.io/ingress-nginx/internal/ingress"
	"k8s.io/ingress-nginx/internal/ingress/annotations"
	"k8s.io/ingress-nginx/internal/ingress/annotations/proxy"
	ngx_config "k8s.io/ingress-nginx/internal/ingress/controller/config"
	ngx_template "k8s.io/ingress-nginx/internal/ingress/controller/template"
	"k8s.io/ingress-nginx/internal/ingress/defaults"
	"k8s.io/ingress-nginx/internal/ingress/resolver"
	ing_net "k8s.io/ingress-nginx/internal/net"
	"k8s.io/ingress-nginx/internal/net/dns"
	"k8s.io/ingress-nginx/internal/net/ssl"
	"k8s.io/kubernetes/pkg/util/filesystem"
)

// The controller's constants (internal/ingress/controller/nginx.go, controller.go, cmd/nginx).
const (
	cfgPath         = "/etc/nginx/nginx.conf"
	nginxBinary     = "/usr/sbin/nginx"
	defServerName   = "_"
	rootLocation    = "/"
	defUpstreamName = "upstream-default-backend"
	ngxHealthPath   = "/healthz"
	fakeCertificate = "default-fake-certificate"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// staticResolver answers the annotation parsers as the controller's store does for an Ingress
// without secrets or services behind its annotations.
type staticResolver struct{ backend defaults.Backend }

func (r staticResolver) GetDefaultBackend() defaults.Backend { return r.backend }
func (r staticResolver) GetSecret(name string) (*apiv1.Secret, error) {
	return nil, fmt.Errorf("no secret %v (offline)", name)
}
func (r staticResolver) GetAuthCertificate(name string) (*resolver.AuthSSLCert, error) {
	return nil, fmt.Errorf("no secret %v (offline)", name)
}
func (r staticResolver) GetService(name string) (*apiv1.Service, error) {
	return nil, fmt.Errorf("no service %v (offline)", name)
}

type rule struct {
	namespace, name, host, path, service string
	port                                 int
	address, endpointPort                string
}

func parseRule(s string) (rule, error) {
	f := strings.Fields(s)
	if len(f) != 7 {
		return rule{}, fmt.Errorf("-rule %q: want \"namespace name host path service port address:port\"", s)
	}
	port, err := strconv.Atoi(f[5])
	if err != nil {
		return rule{}, fmt.Errorf("-rule %q: port: %v", s, err)
	}
	i := strings.LastIndex(f[6], ":")
	if i < 0 {
		return rule{}, fmt.Errorf("-rule %q: endpoint %q is not address:port", s, f[6])
	}
	return rule{f[0], f[1], f[2], f[3], f[4], port, f[6][:i], f[6][i+1:]}, nil
}

func endpoint(addrPort string) (ingress.Endpoint, error) {
	i := strings.LastIndex(addrPort, ":")
	if i < 0 {
		return ingress.Endpoint{}, fmt.Errorf("%q is not address:port", addrPort)
	}
	return ingress.Endpoint{Address: addrPort[:i], Port: addrPort[i+1:], Target: &apiv1.ObjectReference{}}, nil
}

func main() {
	var configmap, rules multi
	printOnly := flag.Bool("print", false, "render the configuration to stdout and exit")
	tmplPath := flag.String("template", "/etc/nginx/template/nginx.tmpl", "the template (the controller's path)")
	defaultBackend := flag.String("default-backend", "", "address:port of the default backend (else 127.0.0.1:8181)")
	flag.Var(&configmap, "configmap", "key=value of the ConfigMap nginx-configuration (repeatable)")
	flag.Var(&rules, "rule", `an Ingress rule "namespace name host path service port address:port" (repeatable)`)
	// as cmd/nginx/flags.go: glog to stderr (not to files in /tmp)
	_ = flag.Set("logtostderr", "true")
	flag.Parse()
	if err := run(*printOnly, *tmplPath, *defaultBackend, configmap, rules); err != nil {
		fmt.Fprintf(os.Stderr, "ingress-nginx-offline: %v\n", err)
		os.Exit(1)
	}
}

func run(printOnly bool, tmplPath, defaultBackend string, configmap, ruleFlags multi) error {
	data := map[string]string{}
	for _, kv := range configmap {
		i := strings.Index(kv, "=")
		if i < 0 {
			return fmt.Errorf("-configmap %q: want key=value", kv)
		}
		data[kv[:i]] = kv[i+1:]
	}
	var rs []rule
	for _, s := range ruleFlags {
		r, err := parseRule(s)
		if err != nil {
			return err
		}
		rs = append(rs, r)
	}

	// cmd/nginx/flags.go defaults
	ports := &ngx_config.ListenPorts{Default: 8181, Health: 10254, HTTP: 80, HTTPS: 443, SSLProxy: 442, Status: 18080}

	// cmd/nginx/main.go: the controller's directories, the default (fake) certificate. -print
	// only reads the template: no directory made, no certificate.
	var fs file.Filesystem = filesystem.DefaultFs{}
	pemFile, pemSHA := "", ""
	if !printOnly {
		var err error
		if fs, err = file.NewLocalFS(); err != nil {
			return err
		}
		cert, key := ssl.GetFakeSSLCert()
		c, err := ssl.AddOrUpdateCertAndKey(fakeCertificate, cert, key, []byte{}, fs)
		if err != nil {
			return fmt.Errorf("generating the self-signed certificate: %v", err)
		}
		pemFile, pemSHA = c.PemFileName, c.PemSHA
	}

	// NewNGINXController: the template
	tmpl, err := ngx_template.NewTemplate(tmplPath, fs)
	if err != nil {
		return fmt.Errorf("invalid NGINX template: %v", err)
	}

	// Start: nginx with the image's configuration, in its own process group
	var nginx *exec.Cmd
	exited := make(chan error, 1)
	if !printOnly {
		nginx = exec.Command(nginxBinary, "-c", cfgPath)
		nginx.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: 0}
		nginx.Stdout, nginx.Stderr = os.Stdout, os.Stderr
		if err := nginx.Start(); err != nil {
			return fmt.Errorf("starting nginx: %v", err)
		}
		go func() { exited <- nginx.Wait() }()
	}

	// OnUpdate
	cfg := ngx_template.ReadConfig(data)
	cfg.Resolver, _ = dns.GetSystemNameServers()
	extractor := annotations.NewAnnotationExtractor(staticResolver{cfg.Backend})

	du := &ingress.Backend{Name: defUpstreamName}
	if defaultBackend == "" {
		du.Endpoints = []ingress.Endpoint{{Address: "127.0.0.1", Port: strconv.Itoa(ports.Default), Target: &apiv1.ObjectReference{}}}
	} else {
		ep, err := endpoint(defaultBackend)
		if err != nil {
			return fmt.Errorf("-default-backend: %v", err)
		}
		du.Endpoints = []ingress.Endpoint{ep}
	}
	bdef := cfg.Backend
	upstreams := map[string]*ingress.Backend{defUpstreamName: du}
	servers := map[string]*ingress.Server{defServerName: {
		Hostname:       defServerName,
		SSLCertificate: pemFile,
		SSLPemChecksum: pemSHA,
		Locations: []*ingress.Location{{
			Path: rootLocation, IsDefBackend: true, Backend: du.Name, Service: du.Service,
			Proxy: proxyDefaults(bdef),
		}},
	}}
	for _, r := range rs {
		ing := &extensions.Ingress{
			ObjectMeta: metav1.ObjectMeta{Namespace: r.namespace, Name: r.name,
				Annotations: map[string]string{"kubernetes.io/ingress.class": "nginx"}},
			Spec: extensions.IngressSpec{Rules: []extensions.IngressRule{{Host: r.host,
				IngressRuleValue: extensions.IngressRuleValue{HTTP: &extensions.HTTPIngressRuleValue{Paths: []extensions.HTTPIngressPath{{
					Path:    r.path,
					Backend: extensions.IngressBackend{ServiceName: r.service, ServicePort: intstr.FromInt(r.port)},
				}}}},
			}}},
		}
		anns := extractor.Extract(ing)
		upsName := fmt.Sprintf("%v-%v-%v", r.namespace, r.service, strconv.Itoa(r.port))
		ups, ok := upstreams[upsName]
		if !ok {
			ups = &ingress.Backend{Name: upsName, Port: intstr.FromInt(r.port), Service: &apiv1.Service{}}
			upstreams[upsName] = ups
		}
		ups.Endpoints = append(ups.Endpoints, ingress.Endpoint{Address: r.address, Port: r.endpointPort,
			MaxFails: anns.HealthCheck.MaxFails, FailTimeout: anns.HealthCheck.FailTimeout, Target: &apiv1.ObjectReference{}})
		srv, ok := servers[r.host]
		if !ok {
			srv = &ingress.Server{Hostname: r.host, Locations: []*ingress.Location{{
				Path: rootLocation, IsDefBackend: true, Backend: du.Name, Proxy: proxyDefaults(bdef), Service: &apiv1.Service{},
			}}}
			servers[r.host] = srv
		}
		path := r.path
		if path == "" {
			path = rootLocation
		}
		var loc *ingress.Location
		for _, l := range srv.Locations {
			if l.Path == path {
				loc = l
			}
		}
		if loc == nil {
			loc = &ingress.Location{Path: path}
			srv.Locations = append(srv.Locations, loc)
		}
		*loc = ingress.Location{
			Path: path, Backend: ups.Name, IsDefBackend: false, Service: ups.Service, Port: ups.Port, Ingress: ing,
			BasicDigestAuth: anns.BasicDigestAuth, ClientBodyBufferSize: anns.ClientBodyBufferSize,
			ConfigurationSnippet: anns.ConfigurationSnippet, CorsConfig: anns.CorsConfig, ExternalAuth: anns.ExternalAuth,
			Proxy: anns.Proxy, RateLimit: anns.RateLimit, Redirect: anns.Redirect, Rewrite: anns.Rewrite,
			UpstreamVhost: anns.UpstreamVhost, VtsFilterKey: anns.VtsFilterKey, Whitelist: anns.Whitelist,
			Denied: anns.Denied, XForwardedPrefix: anns.XForwardedPrefix, UsePortInRedirects: anns.UsePortInRedirects,
			Connection: anns.Connection, Logs: anns.Logs, GRPC: anns.GRPC, LuaRestyWAF: anns.LuaRestyWAF,
		}
	}
	// ingress.Configuration: upstreams and servers sorted by name (getBackendServers)
	var backends []*ingress.Backend
	for _, u := range upstreams {
		backends = append(backends, u)
	}
	sort.SliceStable(backends, func(i, j int) bool { return backends[i].Name < backends[j].Name })
	var srvs []*ingress.Server
	longestName, serverNameBytes := 0, 0
	for _, s := range servers {
		sort.SliceStable(s.Locations, func(i, j int) bool { return s.Locations[i].Path > s.Locations[j].Path })
		srvs = append(srvs, s)
		if longestName < len(s.Hostname) {
			longestName = len(s.Hostname)
		}
		serverNameBytes += len(s.Hostname)
	}
	sort.SliceStable(srvs, func(i, j int) bool { return srvs[i].Hostname < srvs[j].Hostname })

	if cfg.ServerNameHashBucketSize == 0 {
		cfg.ServerNameHashBucketSize = nginxHashBucketSize(longestName)
	}
	if m := nextPowerOf2(serverNameBytes); cfg.ServerNameHashMaxSize < m {
		cfg.ServerNameHashMaxSize = m
	}
	wp, err := strconv.Atoi(cfg.WorkerProcesses)
	if err != nil {
		wp = 1
	}
	maxOpenFiles := (fileMax() / wp) - 1024
	if maxOpenFiles < 1024 {
		maxOpenFiles = 1024
	}
	tc := ngx_config.TemplateConfig{
		ProxySetHeaders:             map[string]string{},
		AddHeaders:                  map[string]string{},
		MaxOpenFiles:                maxOpenFiles,
		BacklogSize:                 somaxconn(),
		Backends:                    backends,
		Servers:                     srvs,
		HealthzURI:                  ngxHealthPath,
		CustomErrors:                len(cfg.CustomHTTPErrors) > 0,
		Cfg:                         cfg,
		IsIPV6Enabled:               ing_net.IsIPv6Enabled() && !cfg.DisableIpv6,
		NginxStatusIpv4Whitelist:    cfg.NginxStatusIpv4Whitelist,
		NginxStatusIpv6Whitelist:    cfg.NginxStatusIpv6Whitelist,
		RedirectServers:             map[string]string{},
		ListenPorts:                 ports,
		DynamicConfigurationEnabled: false,
		DisableLua:                  runtime.GOARCH == "s390x" || runtime.GOARCH == "ppc64le",
	}
	content, err := tmpl.Write(tc)
	if err != nil {
		return stop(nginx, exited, err)
	}
	if printOnly {
		_, err = os.Stdout.Write(content)
		return err
	}
	if err := testTemplate(content); err != nil {
		return stop(nginx, exited, err)
	}
	if err := ioutil.WriteFile(cfgPath, content, 0644); err != nil {
		return stop(nginx, exited, err)
	}
	// the sync queue retries a failed reload; nginx may not have written its pid yet
	var out []byte
	for i := 0; i < 50; i++ {
		out, err = exec.Command(nginxBinary, "-s", "reload", "-c", cfgPath).CombinedOutput()
		if err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return stop(nginx, exited, fmt.Errorf("nginx -s reload: %v\n%s", err, out))
	}
	fmt.Fprintf(os.Stderr, "ingress-nginx-offline: %v written, nginx reloaded\n", cfgPath)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-exited:
		return fmt.Errorf("nginx ended: %v", err)
	case s := <-sig:
		fmt.Fprintf(os.Stderr, "ingress-nginx-offline: %v: stopping nginx\n", s)
		return stop(nginx, exited, nil)
	}
}

// stop: `nginx -c <conf> -s quit` (Stop), then nginx's end awaited (at most 30 s, then SIGKILL).
func stop(nginx *exec.Cmd, exited chan error, why error) error {
	if nginx == nil {
		return why
	}
	q := exec.Command(nginxBinary, "-c", cfgPath, "-s", "quit")
	q.Stdout, q.Stderr = os.Stderr, os.Stderr
	if err := q.Run(); err != nil {
		_ = syscall.Kill(-nginx.Process.Pid, syscall.SIGQUIT)
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-nginx.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	return why
}

// testTemplate: the controller's (nginx -t on a temporary file, kept when it fails).
func testTemplate(cfg []byte) error {
	if len(cfg) == 0 {
		return fmt.Errorf("invalid nginx configuration (empty)")
	}
	tmpfile, err := ioutil.TempFile("", "nginx-cfg")
	if err != nil {
		return err
	}
	defer tmpfile.Close()
	if err := ioutil.WriteFile(tmpfile.Name(), cfg, 0644); err != nil {
		return err
	}
	out, err := exec.Command(nginxBinary, "-t", "-c", tmpfile.Name()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("invalid nginx configuration (%v): %v\n%s", tmpfile.Name(), err, bytes.TrimSpace(out))
	}
	os.Remove(tmpfile.Name())
	return nil
}

func proxyDefaults(b defaults.Backend) proxy.Config {
	return proxy.Config{
		BodySize: b.ProxyBodySize, ConnectTimeout: b.ProxyConnectTimeout, SendTimeout: b.ProxySendTimeout,
		ReadTimeout: b.ProxyReadTimeout, BufferSize: b.ProxyBufferSize, CookieDomain: b.ProxyCookieDomain,
		CookiePath: b.ProxyCookiePath, NextUpstream: b.ProxyNextUpstream, NextUpstreamTries: b.ProxyNextUpstreamTries,
		RequestBuffering: b.ProxyRequestBuffering, ProxyRedirectFrom: b.ProxyRedirectFrom, ProxyBuffering: b.ProxyBuffering,
	}
}

// nginxHashBucketSize, nextPowerOf2, sysctlSomaxconn, sysctlFSFileMax: the controller's (nginx.go, util.go).
func nginxHashBucketSize(longestString int) int {
	wordSize := 8
	n := longestString + 2
	aligned := (n + wordSize - 1) & ^(wordSize - 1)
	rawSize := wordSize + wordSize + aligned
	return nextPowerOf2(rawSize)
}

func nextPowerOf2(v int) int {
	v--
	v |= v >> 1
	v |= v >> 2
	v |= v >> 4
	v |= v >> 8
	v |= v >> 16
	v++
	return v
}

func somaxconn() int {
	b, err := ioutil.ReadFile("/proc/sys/net/core/somaxconn")
	n, err2 := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || err2 != nil || n < 512 {
		return 511
	}
	return n
}

func fileMax() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	return int(l.Max)
}
