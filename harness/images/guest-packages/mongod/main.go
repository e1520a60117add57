// mongod (kubevirt-lab): the `mongod` of the lab's guests, where the post's Fedora VMs had
// mongodb-server's (MongoDB 3.x), which no Debian package provides. It is FerretDB v1.24.2 (its
// SQLite backend, FerretDB's own build from the Go module proxy, run as a child process and never
// changed) behind a translator of MongoDB's wire protocol (proxy.go), with mongod's command line,
// configuration file, fork and log:
//
//	mongod [--config|-f FILE] [--port N] [--bind_ip LIST | --bind_ip_all] [--dbpath DIR]
//	       [--logpath FILE] [--logappend] [--fork] [--pidfilepath FILE] [--auth|--noauth] [--quiet]
//	       [run]
//	mongod --version
//
// The configuration file is mongod's YAML (systemLog, processManagement, net, storage, security;
// ansible/roles/mongodb/templates/mongod.conf.j2 writes it); the command line wins over it. With
// fork (processManagement.fork, --fork) the process started returns once the server listens, as
// mongod does for Fedora's Type=forking unit. FerretDB listens on a Unix socket in the data
// directory only; mongod listens on net.bindIp:net.port and passes every connection to it:
//
//   - OP_QUERY commands (`<db>.$cmd`), the only way the 2018 drivers (mongodb 2.2.x,
//     mongodb-core 2.1.x) send any command, become OP_MSG with `$db`, and the OP_MSG reply an
//     OP_REPLY: FerretDB takes OP_QUERY for the handshake and SASL only;
//   - authentication is FerretDB's (SCRAM-SHA-1 and SCRAM-SHA-256, its
//     --test-enable-new-auth: users in admin.system.users), which requires it for every command.
//     MongoDB's security.authorization (off by default, as in the post) is mongod's: while it is
//     off, a connection that has not logged in (or whose login failed, or that logged out) is
//     logged in to FerretDB as mongod's own user, so it may do everything, as a MongoDB without
//     authorization lets it; while it is on, only a client from the loopback address while no
//     user exists (MongoDB's localhost exception);
//   - createUser's roles are not kept (FerretDB v1.24 refuses roles other than none: it has no
//     authorization of its own, every authenticated user may do everything): the user is made
//     with none and the log says which roles were asked for.
//
// mongod's own user is `kubevirt-lab-mongod` on admin (FerretDB's --setup-username, made with the
// data directory); its password is a random key in <dbPath>/kubevirt-lab-mongod.key (0600), given
// to FerretDB in its environment. Everything else a client sends and FerretDB answers passes as it
// is. harness/images/guest-packages/README.md says how this differs from MongoDB 3.x.
package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"
)

const (
	// internalUser is mongod's own FerretDB user (admin database).
	internalUser = "kubevirt-lab-mongod"
	keyFile      = "kubevirt-lab-mongod.key"
	lockFile     = "mongod.lock"
	socketName   = "ferretdb.sock"
	childEnv     = "KUBEVIRT_LAB_MONGOD_CHILD"
	// ferretdbEnv overrides where FerretDB's binary is (tests); else <dir of mongod>/../libexec/ferretdb.
	ferretdbEnv = "KUBEVIRT_LAB_FERRETDB"
	// startTimeout bounds FerretDB's start and the forked child's readiness.
	startTimeout = 120 * time.Second
)

// options: mongod's settings, from the configuration file then the command line.
type options struct {
	configPath string
	port       int
	bindIPs    []string
	dbPath     string
	logPath    string // "": stdout
	logAppend  bool
	fork       bool
	pidFile    string
	auth       bool
	quiet      bool
	version    bool
}

// fileConfig: the parts of mongod's YAML configuration file the lab's mongod knows; any other key
// is refused, as mongod refuses an unrecognised option.
type fileConfig struct {
	SystemLog struct {
		Destination string `yaml:"destination"`
		Path        string `yaml:"path"`
		LogAppend   *bool  `yaml:"logAppend"`
		Quiet       *bool  `yaml:"quiet"`
		Verbosity   int    `yaml:"verbosity"`
	} `yaml:"systemLog"`
	ProcessManagement struct {
		Fork        *bool  `yaml:"fork"`
		PidFilePath string `yaml:"pidFilePath"`
	} `yaml:"processManagement"`
	Net struct {
		Port      *int   `yaml:"port"`
		BindIP    string `yaml:"bindIp"`
		BindIPAll *bool  `yaml:"bindIpAll"`
	} `yaml:"net"`
	Storage struct {
		DBPath  string `yaml:"dbPath"`
		Engine  string `yaml:"engine"`
		Journal struct {
			Enabled *bool `yaml:"enabled"`
		} `yaml:"journal"`
	} `yaml:"storage"`
	Security struct {
		Authorization string `yaml:"authorization"`
	} `yaml:"security"`
}

func defaults() *options {
	return &options{port: 27017, bindIPs: []string{"127.0.0.1"}, dbPath: "/data/db"}
}

// usageError: what mongod says of a bad command line or configuration (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// parseArgs reads the command line; a configuration file it names is read first, the other options
// applied over it.
func parseArgs(args []string) (*options, error) {
	o := defaults()
	var set []func() error
	value := func(i *int, name, inline string, hasInline bool) (string, error) {
		if hasInline {
			return inline, nil
		}
		if *i+1 >= len(args) {
			return "", usageError{fmt.Sprintf("Error parsing command line: the required argument for option '--%s' is missing", name)}
		}
		*i++
		return args[*i], nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "run" {
			continue // the old `mongod [options] run` form (Fedora's unit: ExecStart=/usr/bin/mongod $OPTIONS run)
		}
		if !strings.HasPrefix(a, "-") {
			return nil, usageError{fmt.Sprintf("Error parsing command line: too many positional options have been specified on the command line (%q)", a)}
		}
		name, inline, hasInline := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch name {
		case "f", "config":
			v, err := value(&i, "config", inline, hasInline)
			if err != nil {
				return nil, err
			}
			o.configPath = v
		case "port":
			v, err := value(&i, name, inline, hasInline)
			if err != nil {
				return nil, err
			}
			set = append(set, func() error {
				p, err := strconv.Atoi(v)
				if err != nil || p < 1 || p > 65535 {
					return usageError{fmt.Sprintf("Error parsing command line: bad --port %q", v)}
				}
				o.port = p
				return nil
			})
		case "bind_ip":
			v, err := value(&i, name, inline, hasInline)
			if err != nil {
				return nil, err
			}
			set = append(set, func() error { o.bindIPs = splitList(v); return nil })
		case "bind_ip_all":
			set = append(set, func() error { o.bindIPs = []string{"0.0.0.0"}; return nil })
		case "dbpath":
			v, err := value(&i, name, inline, hasInline)
			if err != nil {
				return nil, err
			}
			set = append(set, func() error { o.dbPath = v; return nil })
		case "logpath":
			v, err := value(&i, name, inline, hasInline)
			if err != nil {
				return nil, err
			}
			set = append(set, func() error { o.logPath = v; return nil })
		case "pidfilepath":
			v, err := value(&i, name, inline, hasInline)
			if err != nil {
				return nil, err
			}
			set = append(set, func() error { o.pidFile = v; return nil })
		case "logappend":
			set = append(set, func() error { o.logAppend = true; return nil })
		case "fork":
			set = append(set, func() error { o.fork = true; return nil })
		case "auth":
			set = append(set, func() error { o.auth = true; return nil })
		case "noauth":
			set = append(set, func() error { o.auth = false; return nil })
		case "quiet":
			set = append(set, func() error { o.quiet = true; return nil })
		case "version":
			o.version = true
		case "v", "vv", "vvv", "vvvv", "vvvvv", "verbose":
			// verbosity: FerretDB's log level stays info
		default:
			return nil, usageError{fmt.Sprintf("Error parsing command line: unrecognised option '%s'", a)}
		}
	}
	if o.configPath != "" {
		if err := o.readConfig(o.configPath); err != nil {
			return nil, err
		}
	}
	for _, f := range set {
		if err := f(); err != nil {
			return nil, err
		}
	}
	if o.fork && o.logPath == "" && !o.version {
		return nil, usageError{"BadValue: --fork has to be used with --logpath or --syslog"}
	}
	return o, nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (o *options) readConfig(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return usageError{fmt.Sprintf("Error reading config file: %v", err)}
	}
	defer f.Close()
	var c fileConfig
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return usageError{fmt.Sprintf("Error parsing YAML config file %s: %v", path, err)}
	}
	switch c.SystemLog.Destination {
	case "":
	case "file":
		if c.SystemLog.Path == "" {
			return usageError{"Error parsing YAML config file: systemLog.path is required if systemLog.destination is to a file"}
		}
		o.logPath = c.SystemLog.Path
	default:
		return usageError{fmt.Sprintf("Error parsing YAML config file: systemLog.destination %q: the lab's mongod logs to a file or to stdout", c.SystemLog.Destination)}
	}
	if c.SystemLog.LogAppend != nil {
		o.logAppend = *c.SystemLog.LogAppend
	}
	if c.SystemLog.Quiet != nil {
		o.quiet = *c.SystemLog.Quiet
	}
	if c.ProcessManagement.Fork != nil {
		o.fork = *c.ProcessManagement.Fork
	}
	if c.ProcessManagement.PidFilePath != "" {
		o.pidFile = c.ProcessManagement.PidFilePath
	}
	if c.Net.Port != nil {
		if *c.Net.Port < 1 || *c.Net.Port > 65535 {
			return usageError{fmt.Sprintf("Error parsing YAML config file: net.port %d", *c.Net.Port)}
		}
		o.port = *c.Net.Port
	}
	if c.Net.BindIP != "" {
		o.bindIPs = splitList(c.Net.BindIP)
	}
	if c.Net.BindIPAll != nil && *c.Net.BindIPAll {
		o.bindIPs = []string{"0.0.0.0"}
	}
	if c.Storage.DBPath != "" {
		o.dbPath = c.Storage.DBPath
	}
	switch c.Security.Authorization {
	case "", "disabled":
	case "enabled":
		o.auth = true
	default:
		return usageError{fmt.Sprintf("Error parsing YAML config file: security.authorization %q (enabled or disabled)", c.Security.Authorization)}
	}
	return nil
}

// --- the log: mongod's line format, FerretDB's lines in the same file ---------------------------

type logger struct {
	mu sync.Mutex
	w  io.Writer
}

var log = &logger{w: os.Stdout}

// printf writes one line: "<time> <severity> <component> [<context>] <message>", as mongod 3.x.
func (l *logger) printf(sev, component, context, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s %s %-8s [%s] %s\n", time.Now().Format("2006-01-02T15:04:05.000-0700"), sev, component, context,
		fmt.Sprintf(format, args...))
}

// openLog: the log file (appended to, or the old one kept under a dated name, as mongod does), or stdout.
func openLog(o *options) (*os.File, error) {
	if o.logPath == "" {
		return os.Stdout, nil
	}
	if !o.logAppend {
		if _, err := os.Stat(o.logPath); err == nil {
			_ = os.Rename(o.logPath, o.logPath+"."+time.Now().UTC().Format("2006-01-02T15-04-05"))
		}
	}
	return os.OpenFile(o.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
}

// --- main ---------------------------------------------------------------------------------------

func main() {
	o, err := parseArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ferretdb, err := ferretdbPath()
	if o.version {
		printVersion(ferretdb, err)
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mongod: %v\n", err)
		os.Exit(1)
	}
	if o.fork && os.Getenv(childEnv) == "" {
		os.Exit(forkAndWait())
	}
	os.Exit(serve(o, ferretdb))
}

func ferretdbPath() (string, error) {
	if p := os.Getenv(ferretdbEnv); p != "" {
		return p, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	p := filepath.Join(filepath.Dir(self), "..", "libexec", "ferretdb")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("FerretDB is not at %s: %w", p, err)
	}
	return filepath.Clean(p), nil
}

func printVersion(ferretdb string, err error) {
	fmt.Println("mongod (kubevirt-lab): FerretDB with its SQLite backend, behind a translator of OP_QUERY commands")
	if err != nil {
		fmt.Printf("FerretDB: %v\n", err)
		return
	}
	out, _ := exec.Command(ferretdb, "--version").Output()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if v, ok := strings.CutPrefix(line, "version: "); ok {
			fmt.Printf("FerretDB version %s\n", v)
		}
	}
}

// forkAndWait: mongod's --fork. The same program again, in a session of its own, with a pipe on
// which it says "ready" once it listens; this one returns when it has (0) or has failed (1).
func forkAndWait() int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "ERROR: cannot fork: %v\n", err)
		return 1
	}
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "ERROR: cannot fork: %v\n", err)
		return 1
	}
	devnull, _ := os.Open(os.DevNull)
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	// the child's stderr comes here until it is ready (then it is /dev/null): no daemon holds the
	// caller's output open
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, w
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	fmt.Println("about to fork child process, waiting until server is ready for connections.")
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "ERROR: cannot fork: %v\n", err)
		return 1
	}
	w.Close()
	fmt.Printf("forked process: %d\n", cmd.Process.Pid)
	done := make(chan string, 1)
	go func() {
		br := bufio.NewReader(r)
		for {
			line, err := br.ReadString('\n')
			if strings.TrimSpace(line) == "ready" || err != nil {
				done <- strings.TrimSpace(line)
				return
			}
			fmt.Fprint(os.Stderr, line)
		}
	}()
	select {
	case line := <-done:
		if line == "ready" {
			fmt.Println("child process started successfully, parent exiting")
			return 0
		}
		state, _ := cmd.Process.Wait()
		fmt.Fprintf(os.Stderr, "ERROR: child process failed, exited with %v\n", state)
		return 1
	case <-time.After(startTimeout):
		_ = cmd.Process.Kill()
		fmt.Fprintf(os.Stderr, "ERROR: child process not ready after %v\n", startTimeout)
		return 1
	}
}

// exit codes of mongod: 48 a listener that cannot be made, 100 a data directory problem.
const (
	exitListen = 48
	exitDBPath = 100
)

func serve(o *options, ferretdb string) int {
	var ready *os.File
	if os.Getenv(childEnv) != "" {
		ready = os.NewFile(3, "ready")
		os.Unsetenv(childEnv)
	}
	lf, err := openLog(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ERROR: cannot open the log file %s: %v\n", o.logPath, err)
		return 1
	}
	log.w = lf
	pid := os.Getpid()
	log.printf("I", "CONTROL", "initandlisten", "MongoDB starting : pid=%d port=%d dbpath=%s (kubevirt-lab: FerretDB %s with SQLite)", pid, o.port, o.dbPath, ferretdb)
	log.printf("I", "CONTROL", "initandlisten", "options: config %q, net.bindIp %s, net.port %d, storage.dbPath %s, security.authorization %s, processManagement.fork %t",
		o.configPath, strings.Join(o.bindIPs, ","), o.port, o.dbPath, map[bool]string{true: "enabled", false: "disabled"}[o.auth], o.fork)

	if st, err := os.Stat(o.dbPath); err != nil || !st.IsDir() {
		log.printf("E", "STORAGE", "initandlisten", "exception in initAndListen: 29 Data directory %s not found., terminating", o.dbPath)
		return exitDBPath
	}
	lock, err := os.OpenFile(filepath.Join(o.dbPath, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err == nil {
		err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	if err != nil {
		log.printf("E", "STORAGE", "initandlisten", "exception in initAndListen: 98 Unable to lock file: %s: %v. Is a mongod instance already running?, terminating",
			filepath.Join(o.dbPath, lockFile), err)
		return exitDBPath
	}
	_ = lock.Truncate(0)
	_, _ = lock.WriteString(strconv.Itoa(pid) + "\n")
	key, err := internalKey(o.dbPath)
	if err != nil {
		log.printf("E", "STORAGE", "initandlisten", "exception in initAndListen: %v, terminating", err)
		return exitDBPath
	}

	srv := &server{socket: filepath.Join(o.dbPath, socketName), key: key, auth: o.auth}
	_ = os.Remove(srv.socket)
	fdb, err := startFerretDB(ferretdb, o, srv.socket, key, lf)
	if err != nil {
		log.printf("E", "CONTROL", "initandlisten", "FerretDB did not start: %v, terminating", err)
		return 1
	}
	fdbDone := make(chan error, 1)
	go func() { fdbDone <- fdb.Wait() }()
	stopFerretDB := func() {
		_ = fdb.Process.Signal(syscall.SIGTERM)
		select {
		case <-fdbDone:
		case <-time.After(15 * time.Second):
			_ = fdb.Process.Kill()
			<-fdbDone
		}
	}
	if err := srv.waitReady(fdbDone); err != nil {
		log.printf("E", "CONTROL", "initandlisten", "FerretDB is not ready: %v, terminating", err)
		stopFerretDB()
		return 1
	}

	var listeners []net.Listener
	for _, ip := range o.bindIPs {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(o.port)))
		if err != nil {
			log.printf("E", "NETWORK", "initandlisten", "listen(): bind() failed %v for socket: %s:%d", err, ip, o.port)
			log.printf("E", "STORAGE", "initandlisten", "Failed to set up listener: SocketException: %v", err)
			stopFerretDB()
			return exitListen
		}
		listeners = append(listeners, l)
	}
	if o.pidFile != "" {
		if err := os.WriteFile(o.pidFile, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
			log.printf("E", "CONTROL", "initandlisten", "Failed to write the pid file %s: %v, terminating", o.pidFile, err)
			stopFerretDB()
			return 1
		}
	}
	for _, l := range listeners {
		go srv.accept(l)
	}
	log.printf("I", "NETWORK", "initandlisten", "waiting for connections on port %d", o.port)
	if ready != nil {
		_, _ = ready.WriteString("ready\n")
		ready.Close()
		if devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0); err == nil {
			_ = syscall.Dup3(int(devnull.Fd()), 1, 0)
			_ = syscall.Dup3(int(devnull.Fd()), 2, 0)
		}
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	code := 0
	select {
	case s := <-sigs:
		log.printf("I", "CONTROL", "signalProcessingThread", "got signal %d (%v), will terminate after current cmd ends", s.(syscall.Signal), s)
	case err := <-fdbDone:
		log.printf("E", "CONTROL", "initandlisten", "FerretDB exited (%v), terminating", err)
		fdbDone <- err
		code = 1
	}
	for _, l := range listeners {
		_ = l.Close()
	}
	srv.closeAll()
	stopFerretDB()
	if o.pidFile != "" {
		_ = os.Remove(o.pidFile)
	}
	log.printf("I", "CONTROL", "signalProcessingThread", "dbexit:  rc: %d", code)
	return code
}

// internalKey: the password of mongod's own FerretDB user, made once with the data directory.
func internalKey(dbPath string) (string, error) {
	p := filepath.Join(dbPath, keyFile)
	if b, err := os.ReadFile(p); err == nil {
		if k := strings.TrimSpace(string(b)); k != "" {
			return k, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	k := hex.EncodeToString(b)
	if err := os.WriteFile(p, []byte(k+"\n"), 0o600); err != nil {
		return "", err
	}
	return k, nil
}

// startFerretDB: FerretDB v1.24 on the Unix socket only, its data in dbPath (SQLite, a file a
// database), SCRAM authentication, mongod's own user made with the data directory; no telemetry,
// no debug listener. Its log goes to mongod's.
func startFerretDB(bin string, o *options, socket, key string, logTo *os.File) (*exec.Cmd, error) {
	dir, err := filepath.Abs(o.dbPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin,
		"--handler=sqlite", "--sqlite-url=file:"+dir+"/", "--state-dir="+dir,
		"--listen-addr=", "--listen-unix="+socket,
		"--telemetry=disable", "--debug-addr=-", "--log-level=info",
		"--test-enable-new-auth", "--setup-database=admin", "--setup-username="+internalUser)
	// the password in the environment (only this user and root read it), not on the command line
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + dir, "FERRETDB_SETUP_PASSWORD=" + key}
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logTo, logTo
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	log.printf("I", "CONTROL", "initandlisten", "FerretDB started: pid %d, socket %s", cmd.Process.Pid, socket)
	return cmd, nil
}
