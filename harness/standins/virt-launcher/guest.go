package main

// The guest: what libvirt + QEMU + the Fedora cloud image are in the real pod, made of Linux
// namespaces. For the domain's interface (bridge br1, the MAC SetupPodNetwork kept for the VM):
//
//   - a veth pair: vnet0 in the pod's network namespace, a port of br1 with the MTU of the pod's
//     eth0 and the guest's MAC with fe: as its first byte (as libvirt makes the tap); its peer is
//     eth0 in a new network namespace, with the domain's MAC and MTU 1500 (a guest NIC's default;
//     KubeVirt's DHCP gives no MTU option);
//   - a process tree started from this process (as libvirt starts qemu): the holder (this program
//     again, holderMain, the guest's "qemu" for the process monitor), forked in that network
//     namespace, and its child, the guest's PID 1, in new PID, mount, UTS and IPC namespaces,
//     which runs guest/guest-root.sh: it makes the guest's filesystem, names the guest and execs
//     systemd (the guest's init) there.
//
// Nothing of it outlives this process: the guest's network namespace is never bound to a file
// (only its processes hold it, and eth0/vnet0 go with it); the holder gets SIGTERM when the thread
// that started it ends (Pdeathsig; that thread stays locked for the guest's lifetime), on which it
// kills the guest's PID 1 (which ends every process of the PID namespace), removes the guest's
// cgroup and exits; the guest's PID 1 gets SIGKILL if the holder dies.

import (
	"bufio"
	"fmt"
	"io"
	"io/ioutil"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"kubevirt.io/kubevirt/pkg/log"
	"kubevirt.io/kubevirt/pkg/virt-launcher/virtwrap/api"
)

const (
	podInterface   = "eth0"
	tapName        = "vnet0"
	peerTempName   = "vnet0-guest"
	guestInterface = "eth0"
	guestMTU       = 1500
	guestPath      = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// guestCommandName is the command name (argv[0]) of the guest's holder process, the one the
// process monitor looks for: unique to the VM on its node, and ending in a character no
// Kubernetes name has, so that no other VM's name is a prefix of it.
func guestCommandName(namespace, name string) string {
	return "qemu-lab:" + namespace + "_" + name + ":"
}

type guest struct {
	holder int // pid of the holder (holderMain: the guest's "qemu")
	init   int // pid of the guest's PID 1 (systemd), as this PID namespace sees it
	exited chan struct{}

	mu     sync.Mutex
	status syscall.WaitStatus // the holder's, which ends as the guest's PID 1 did
	// why it was stopped from here (Destroyed, Shutdown), empty when it ended by itself
	stopReason api.StateChangeReason
}

// guestStart starts the guest for the domain. planDir holds guest.env and the user setup
// (cloudinit.go); cfg.guestDir the guest's files (guest-root.sh, etc/).
func guestStart(domain *api.Domain, cfg labConfig, planDir string) (*guest, error) {
	if len(domain.Spec.Devices.Interfaces) == 0 || domain.Spec.Devices.Interfaces[0].MAC == nil {
		return nil, fmt.Errorf("the domain has no interface with a MAC address (SetupPodNetwork did not run?)")
	}
	iface := domain.Spec.Devices.Interfaces[0]
	mac, err := net.ParseMAC(iface.MAC.MAC)
	if err != nil {
		return nil, fmt.Errorf("interface MAC %q: %v", iface.MAC.MAC, err)
	}
	tapMAC := append(net.HardwareAddr{0xfe}, mac[1:]...)
	bridge, err := netlink.LinkByName(iface.Source.Bridge)
	if err != nil {
		return nil, fmt.Errorf("bridge %s: %v", iface.Source.Bridge, err)
	}
	podLink, err := netlink.LinkByName(podInterface)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", podInterface, err)
	}
	mtu := podLink.Attrs().MTU
	waitForDHCPServer(3 * time.Second)

	if _, err := os.Stat(filepath.Join(cfg.guestDir, "guest-root.sh")); err != nil {
		return nil, fmt.Errorf("the guest's files: %v", err)
	}
	console, consoleW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	// The holder: this program again (holderMain), forked in the guest's network namespace, the
	// guest's PID 1 its child in new PID, mount, UTS and IPC namespaces.
	cmd := &exec.Cmd{
		Path: "/proc/self/exe",
		Args: []string{guestCommandName(cfg.namespace, cfg.name), holderArg, planDir,
			"/bin/bash", filepath.Join(cfg.guestDir, "guest-root.sh"), planDir},
		Env:    []string{"PATH=" + guestPath, "LANG=C.UTF-8"},
		Dir:    "/",
		Stdin:  nil,
		Stdout: consoleW,
		Stderr: consoleW,
		// Its own process group (a signal to the launcher's group, as the kubelet sends, is not
		// the guest's: libvirt's qemu is not in the container's group either); SIGTERM when the
		// thread that started it ends, on which it ends the guest and cleans up.
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM},
	}

	g := &guest{exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// The thread is locked for the guest's lifetime: Pdeathsig is tied to the thread that
		// forked the holder, and the holder is forked in the guest's new network namespace.
		runtime.LockOSThread()
		err := g.launch(cmd, bridge, mtu, tapMAC, mac)
		consoleW.Close()
		started <- err
		if err != nil {
			// this thread may be in a namespace of its own now: let it end with the goroutine
			return
		}
		cmd.Wait()
		g.mu.Lock()
		if cmd.ProcessState != nil {
			g.status = cmd.ProcessState.Sys().(syscall.WaitStatus)
		}
		g.mu.Unlock()
		// eth0 and vnet0 go with the guest's network namespace, which the kernel frees a moment
		// later: vnet0 deleted now if it is still there, so that a new start finds none.
		if l, err := netlink.LinkByName(tapName); err == nil {
			netlink.LinkDel(l)
		}
		close(g.exited)
		runtime.UnlockOSThread()
	}()
	if err := <-started; err != nil {
		console.Close()
		return nil, err
	}
	go copyConsole(console)
	g.init = childOf(g.holder, 5*time.Second)
	if g.init == 0 {
		g.kill()
		return nil, fmt.Errorf("the guest's holder (pid %d) started no guest", g.holder)
	}
	log.Log.Infof("guest started: holder pid %d, guest init pid %d, %s (MTU %d, MAC %s) in br1, guest %s with %s MTU %d", g.holder, g.init, tapName, mtu, tapMAC, guestInterface, mac, guestMTU)
	return g, nil
}

// launch runs on the locked thread: vnet0 and its peer made in the pod's namespace, the peer moved
// into a new network namespace and named eth0 there, the holder forked in that namespace. The
// thread is back in the pod's namespace when it returns nil.
func (g *guest) launch(cmd *exec.Cmd, bridge netlink.Link, mtu int, tapMAC, mac net.HardwareAddr) (err error) {
	podNs, err := netns.Get()
	if err != nil {
		return err
	}
	defer podNs.Close()
	// a leftover of an earlier start (the launcher killed before its guest's namespace was freed)
	if l, err := netlink.LinkByName(tapName); err == nil {
		netlink.LinkDel(l)
	}
	veth := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: tapName, MTU: mtu, TxQLen: 1000, HardwareAddr: tapMAC},
		PeerName:  peerTempName,
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("veth %s/%s: %v", tapName, peerTempName, err)
	}
	defer func() {
		if err != nil {
			if l, e := netlink.LinkByName(tapName); e == nil {
				netlink.LinkDel(l)
			}
		}
	}()
	tap, err := netlink.LinkByName(tapName)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetMasterByIndex(tap, bridge.Attrs().Index); err != nil {
		return fmt.Errorf("%s into %s: %v", tapName, bridge.Attrs().Name, err)
	}
	if err := netlink.LinkSetUp(tap); err != nil {
		return err
	}
	peer, err := netlink.LinkByName(peerTempName)
	if err != nil {
		return err
	}

	// The guest's network namespace: new on this thread, held by a file descriptor until the
	// holder is forked in it.
	guestNs, err := netns.New()
	if err != nil {
		netns.Set(podNs)
		return fmt.Errorf("a network namespace for the guest: %v", err)
	}
	defer guestNs.Close()
	if err := netns.Set(podNs); err != nil {
		return err
	}
	if err := netlink.LinkSetNsFd(peer, int(guestNs)); err != nil {
		return fmt.Errorf("%s into the guest's namespace: %v", peerTempName, err)
	}
	h, err := netlink.NewHandleAt(guestNs)
	if err != nil {
		return err
	}
	defer h.Delete()
	nic, err := h.LinkByName(peerTempName)
	if err != nil {
		return err
	}
	if err := h.LinkSetName(nic, guestInterface); err != nil {
		return err
	}
	if err := h.LinkSetHardwareAddr(nic, mac); err != nil {
		return err
	}
	if err := h.LinkSetMTU(nic, guestMTU); err != nil {
		return err
	}

	if err := netns.Set(guestNs); err != nil {
		return err
	}
	startErr := cmd.Start()
	if err := netns.Set(podNs); err != nil {
		// never leave a thread of this process in the guest's namespace
		panic(fmt.Sprintf("could not return to the pod's network namespace: %v", err))
	}
	if startErr != nil {
		return fmt.Errorf("starting the guest: %v", startErr)
	}
	g.holder = cmd.Process.Pid
	return nil
}

// childOf: the child of pid that is PID 1 of a PID namespace of its own (the guest's init, forked
// by the holder), waited for. Not simply the first child: the holder's Go runtime forks a child of
// its own once (the check that clone with CLONE_PIDFD works), which exits at once; caught in the
// list, its pid would be taken for the guest's, and the power button would find no such process.
func childOf(pid int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	f := fmt.Sprintf("/proc/%d/task/%d/children", pid, pid)
	for i := 0; i < 1000 && time.Now().Before(deadline); i++ {
		if b, err := ioutil.ReadFile(f); err == nil {
			for _, field := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(field); err == nil && isNamespaceInit(c) {
					return c
				}
			}
		} else if os.IsNotExist(err) {
			return 0
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0
}

// isNamespaceInit: whether pid is PID 1 of a PID namespace below this one (its NSpid line ends in 1).
func isNamespaceInit(pid int) bool {
	b, err := ioutil.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[0] == "NSpid:" {
			return f[len(f)-1] == "1"
		}
	}
	return false
}

// waitForDHCPServer: SetupPodNetwork starts the DHCP server in the background; the guest is started
// once it listens on UDP port 67 (bounded), so that the guest's first DHCPDISCOVER is answered.
func waitForDHCPServer(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for i := 0; i < 300 && time.Now().Before(deadline); i++ {
		if b, err := ioutil.ReadFile("/proc/net/udp"); err == nil && strings.Contains(string(b), ":0043 ") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	log.Log.Info("the DHCP server does not listen on port 67 yet; starting the guest anyway")
}

// copyConsole: the guest's console (its init's output) into the launcher's log, line by line.
func copyConsole(r io.ReadCloser) {
	defer r.Close()
	l := *log.Log // a copy: With changes the logger it is called on
	l.With("subcomponent", "guest-console")
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for s.Scan() {
		l.Info(s.Text())
	}
}

func (g *guest) running() bool {
	select {
	case <-g.exited:
		return false
	default:
		return true
	}
}

// sigRTMin4 is SIGRTMIN+4 as glibc numbers it (34+4): systemd's "poweroff" signal (SIGTERM makes
// a system manager re-execute itself).
const sigRTMin4 = syscall.Signal(38)

// shutdown: the ACPI power button: the guest's systemd stops its services and powers off (its PID
// namespace ends).
func (g *guest) shutdown() error {
	g.mu.Lock()
	if g.stopReason == "" {
		g.stopReason = api.ReasonShutdown
	}
	g.mu.Unlock()
	return syscall.Kill(g.init, sigRTMin4)
}

// kill: pulling the plug (libvirt's destroy): SIGKILL to the guest's init, which ends every process
// of its PID namespace; the holder then cleans up and exits (SIGTERM tells it to do the same).
func (g *guest) kill() {
	g.mu.Lock()
	g.stopReason = api.ReasonDestroyed
	g.mu.Unlock()
	if g.init > 0 {
		syscall.Kill(g.init, syscall.SIGKILL)
	}
	if g.holder > 0 {
		syscall.Kill(g.holder, syscall.SIGTERM)
	}
}

// wait: until the guest's processes are gone (bounded).
func (g *guest) wait(timeout time.Duration) bool {
	select {
	case <-g.exited:
		return true
	case <-time.After(timeout):
		return false
	}
}

// endState: the domain's state once the guest has ended, as libvirt reports a stopped qemu.
func (g *guest) endState() (api.LifeCycle, api.StateChangeReason, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.status
	how := fmt.Sprintf("exit status %d", st.ExitStatus())
	if st.Signaled() {
		how = fmt.Sprintf("signal %d (%s)", int(st.Signal()), st.Signal())
	}
	switch {
	case g.stopReason == api.ReasonDestroyed:
		return api.Shutoff, api.ReasonDestroyed, how
	case st.Exited() && st.ExitStatus() == 0:
		// the init powered off (after the power button, or by itself)
		return api.Shutoff, api.ReasonShutdown, how
	case st.Signaled() && (st.Signal() == syscall.SIGINT || st.Signal() == syscall.SIGHUP):
		// reboot(2) in the guest's PID namespace (poweroff, halt, reboot) ends its init so
		return api.Shutoff, api.ReasonShutdown, how
	default:
		return api.Shutoff, api.ReasonCrashed, how
	}
}

// removeGuestCgroup: the cgroup a systemd guest ran in (guest-root.sh names it in PLAN/cgroup),
// removed with everything systemd made under it, once its processes are gone (bounded retries:
// an exiting process leaves its cgroup a moment later).
func removeGuestCgroup(planDir string) {
	b, err := ioutil.ReadFile(filepath.Join(planDir, "cgroup"))
	if err != nil {
		return
	}
	cg := strings.TrimSpace(string(b))
	if cg == "" || strings.Contains(cg, "..") || !strings.Contains(cg, "/kubevirt-lab-guest.") {
		log.Log.Errorf("the guest's cgroup %q: not one the guest's root script makes; left alone", cg)
		return
	}
	mnt := filepath.Join(planDir, "cgroup2")
	if err := os.MkdirAll(mnt, 0700); err != nil {
		log.Log.Reason(err).Error("the guest's cgroup not removed")
		return
	}
	if err := syscall.Mount("kvl-launcher-cgroup", mnt, "cgroup2", 0, ""); err != nil {
		log.Log.Reason(err).Error("the guest's cgroup not removed (cgroup2 not mounted)")
		return
	}
	defer func() {
		syscall.Unmount(mnt, syscall.MNT_DETACH)
		os.Remove(mnt)
	}()
	root := filepath.Join(mnt, cg)
	for i := 0; i < 50; i++ { // bounded: 5 s
		var dirs []string
		filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
			if err == nil && info.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		if len(dirs) == 0 {
			os.Remove(filepath.Join(planDir, "cgroup"))
			return
		}
		for j := len(dirs) - 1; j >= 0; j-- { // deepest first
			syscall.Rmdir(dirs[j])
		}
		if _, err := os.Stat(root); os.IsNotExist(err) {
			os.Remove(filepath.Join(planDir, "cgroup"))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	log.Log.Errorf("the guest's cgroup %s could not be removed within 5 s", cg)
}

const holderArg = "guest-holder"

// holderMain: the guest's holder (argv: PLAN_DIR COMMAND...): runs COMMAND as the guest's PID 1
// in new PID, mount, UTS and IPC namespaces (this process is already in the guest's network
// namespace), waits for it, or kills it on SIGTERM/SIGINT/SIGHUP (the launcher gone); then
// removes the guest's cgroup, if it had one, and exits as the guest's PID 1 did (its exit code,
// or the same signal), which the launcher reads as the domain's end.
func holderMain(args []string) int {
	ioutil.WriteFile("/proc/self/comm", []byte("qemu-lab"), 0644)
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "guest holder: usage: guest-holder PLAN_DIR COMMAND...")
		return 2
	}
	planDir := args[0]
	// The child's Pdeathsig is tied to this thread.
	runtime.LockOSThread()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	cmd := exec.Command(args[1], args[2:]...)
	cmd.Stdout, cmd.Stderr, cmd.Dir = os.Stdout, os.Stderr, "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
		Pdeathsig:  syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "guest holder: %v\n", err)
		return 127
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-sigs:
		cmd.Process.Signal(syscall.SIGKILL)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			fmt.Fprintln(os.Stderr, "guest holder: the guest's PID 1 did not end within 10 s of SIGKILL")
		}
	}
	removeGuestCgroup(planDir)
	if cmd.ProcessState == nil {
		return 1
	}
	st := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if st.Signaled() {
		signal.Reset()
		syscall.Kill(os.Getpid(), st.Signal())
		time.Sleep(100 * time.Millisecond)
		return 128 + int(st.Signal())
	}
	return st.ExitStatus()
}
