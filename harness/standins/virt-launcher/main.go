// virt-launcher (the lab's): what the kubevirt/virt-launcher:v0.4.1 image's /entrypoint.sh starts
// in the "compute" container of a virt-launcher-<vm>-xxxxx pod, with the same flags and the same
// main flow as KubeVirt v0.4.1's cmd/virt-launcher/virt-launcher.go, and KubeVirt's own code at
// every interface: the cmd server virt-handler drives (cmdserver.RunServer), the watchdog file,
// the graceful-shutdown trigger, the readiness file, the process monitor (virtlauncher.
// NewProcessMonitor), the pod network (network.SetupPodNetwork: br1, 169.254.75.86/32, the
// single-client DHCP server), the VM-to-domain conversion (api.Convert_v1_VirtualMachine_To_api_
// Domain), the cloud-init NoCloud data (cloudinit.GenerateLocalData) and the domain events
// (notify-client's DomainEventClient). Only libvirt and QEMU are replaced: the "domain" is a guest
// made of Linux namespaces (guest.go), started by this process as libvirt would start qemu.
//
// Built inside the KubeVirt v0.4.1 GOPATH tree by harness/dataplane.sh (as cmd/virt-launcher-lab),
// with cgo: virtwrap, which cmd-server imports for its DomainManager interface, imports
// libvirt-go. libvirt is linked, never connected to. See README.md.
package main

import (
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/watch"

	"kubevirt.io/kubevirt/pkg/api/v1"
	cloudinit "kubevirt.io/kubevirt/pkg/cloud-init"
	ephemeraldisk "kubevirt.io/kubevirt/pkg/ephemeral-disk"
	"kubevirt.io/kubevirt/pkg/log"
	registrydisk "kubevirt.io/kubevirt/pkg/registry-disk"
	cmdclient "kubevirt.io/kubevirt/pkg/virt-handler/cmd-client"
	virtlauncher "kubevirt.io/kubevirt/pkg/virt-launcher"
	"kubevirt.io/kubevirt/pkg/virt-launcher/virtwrap"
	cmdserver "kubevirt.io/kubevirt/pkg/virt-launcher/virtwrap/cmd-server"
	watchdog "kubevirt.io/kubevirt/pkg/watchdog"
)

const defaultStartTimeout = 3 * time.Minute
const defaultWatchdogInterval = 5 * time.Second

// The image's files (harness/standins/kubelet/images.ts puts them there).
const defaultGuestDir = "/usr/local/libexec/virt-launcher-lab"

func init() {
	// The image's entrypoint is this binary at /entrypoint.sh; the real image's process is named
	// virt-launcher (ss -uapn in the post shows users:(("virt-launcher",...))). /proc/self/comm
	// names the process (its main thread), whichever thread writes it.
	_ = ioutil.WriteFile("/proc/self/comm", []byte("virt-launcher"), 0644)
}

func markReady(readinessFile string) {
	f, err := os.OpenFile(readinessFile, os.O_RDONLY|os.O_CREATE, 0666)
	if err != nil {
		panic(err)
	}
	f.Close()
	log.Log.Info("Marked as ready")
}

func startCmdServer(socketPath string, domainManager virtwrap.DomainManager, stopChan chan struct{}) {
	err := os.RemoveAll(socketPath)
	if err != nil {
		log.Log.Reason(err).Error("Could not clean up virt-launcher cmd socket")
		panic(err)
	}
	err = os.MkdirAll(filepath.Dir(socketPath), 0755)
	if err != nil {
		log.Log.Reason(err).Error("Could not create directory for socket.")
		panic(err)
	}
	err = cmdserver.RunServer(socketPath, domainManager, stopChan)
	if err != nil {
		log.Log.Reason(err).Error("Failed to start virt-launcher cmd server")
		panic(err)
	}
}

func startWatchdogTicker(watchdogFile string, watchdogInterval time.Duration, stopChan chan struct{}) {
	err := watchdog.WatchdogFileUpdate(watchdogFile)
	if err != nil {
		panic(err)
	}
	log.Log.Infof("Watchdog file created at %s", watchdogFile)
	go func() {
		ticker := time.NewTicker(watchdogInterval).C
		for {
			select {
			case <-stopChan:
				return
			case <-ticker:
				if err := watchdog.WatchdogFileUpdate(watchdogFile); err != nil {
					panic(err)
				}
			}
		}
	}()
}

// registryDiskLocalDir: where the registry disks' images are (registrydisk.SetLocalDirectory).
var registryDiskLocalDir string

func registryDiskDir() string { return registryDiskLocalDir }

// initializeDirs: as 0.4.1's, except that the private and disk directories are not given to the
// "qemu" user (there is no qemu here, nor that user: the guest runs as root, like qemu's parent).
func initializeDirs(virtShareDir string, ephemeralDiskDir string, namespace string, name string) {
	err := virtlauncher.InitializeSharedDirectories(virtShareDir)
	if err != nil {
		panic(err)
	}
	for _, d := range []string{
		filepath.Join("/var/run/kubevirt-private", namespace, name),
		filepath.Join("/var/run/kubevirt-private", "vm-disks"),
	} {
		if err := os.MkdirAll(d, 0755); err != nil {
			panic(err)
		}
	}
	if err := cloudinit.SetLocalDirectory(ephemeralDiskDir + "/cloud-init-data"); err != nil {
		panic(err)
	}
	registryDiskLocalDir = ephemeralDiskDir + "/registry-disk-data"
	if err := registrydisk.SetLocalDirectory(registryDiskLocalDir); err != nil {
		panic(err)
	}
	if err := ephemeraldisk.SetLocalDirectory(ephemeralDiskDir + "/disk-data"); err != nil {
		panic(err)
	}
	// The NoCloud data: owned by root (no qemu user), packed as a tar archive in place of the
	// cidata ISO (the guest's root script unpacks it as its seed; see cloudinit.go).
	cloudinit.SetLocalDataOwner("root")
	cloudinit.SetIsoCreationFunction(seedArchive)
}

func waitForFinalNotify(deleteNotificationSent chan watch.Event, domainManager virtwrap.DomainManager, vm *v1.VirtualMachine) {
	// As 0.4.1: KillVM is idempotent; calling it here makes sure the domain is gone whether the
	// guest ended by itself or virt-handler asked for it.
	domainManager.KillVM(vm)
	log.Log.Info("Waiting on final notifications to be sent to virt-handler.")
	timeout := time.After(30 * time.Second)
	select {
	case <-deleteNotificationSent:
		log.Log.Info("Final Delete notification sent")
	case <-timeout:
		log.Log.Info("Timed out waiting for final delete notification.")
	}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == holderArg {
		os.Exit(holderMain(os.Args[2:]))
	}
	qemuTimeout := flag.Duration("qemu-timeout", defaultStartTimeout, "Amount of time to wait for qemu")
	virtShareDir := flag.String("kubevirt-share-dir", "/var/run/kubevirt", "Shared directory between virt-handler and virt-launcher")
	ephemeralDiskDir := flag.String("ephemeral-disk-dir", "/var/run/libvirt/kubevirt-ephemeral-disk", "Base directory for ephemeral disk data")
	name := flag.String("name", "", "Name of the VM")
	namespace := flag.String("namespace", "", "Namespace of the VM")
	watchdogInterval := flag.Duration("watchdog-update-interval", defaultWatchdogInterval, "Interval at which watchdog file should be updated")
	readinessFile := flag.String("readiness-file", "/tmp/health", "Pod looks for tihs file to determine when virt-launcher is initialized")
	gracePeriodSeconds := flag.Int("grace-period-seconds", 30, "Grace period to observe before sending SIGTERM to vm process.")
	// The lab's own (virt-controller's command line does not give them: the defaults are the image's).
	guestDir := flag.String("guest-dir", defaultGuestDir, "(lab) the guest's files: guest-root.sh and the image's etc/")
	guestUser := flag.String("guest-user", "fedora", "(lab) the image's default user, who gets the cloud-config's ssh_authorized_keys (the Fedora cloud image's)")
	pflag.CommandLine.AddGoFlagSet(flag.CommandLine)
	pflag.Parse()

	log.InitializeLogging("virt-launcher")
	if *name == "" || *namespace == "" {
		fmt.Fprintln(os.Stderr, "virt-launcher: --name and --namespace are required")
		os.Exit(2)
	}

	vm := v1.NewVMReferenceFromNameWithNS(*namespace, *name)

	initializeDirs(*virtShareDir, *ephemeralDiskDir, *namespace, *name)

	stopChan := make(chan struct{})
	defer close(stopChan)

	// No libvirtd, no virtlogd: the domain manager is the lab's.
	deleteNotificationSent := make(chan watch.Event, 10)
	domainManager := newLabDomainManager(labConfig{
		shareDir:    *virtShareDir,
		privateDir:  filepath.Join("/var/run/kubevirt-private", *namespace, *name),
		guestDir:    *guestDir,
		guestUser:   *guestUser,
		gracePeriod: time.Duration(*gracePeriodSeconds) * time.Second,
		namespace:   *namespace,
		name:        *name,
	}, deleteNotificationSent)

	socketPath := cmdclient.SocketFromNamespaceName(*virtShareDir, *namespace, *name)
	startCmdServer(socketPath, domainManager, stopChan)

	watchdogFile := watchdog.WatchdogFileFromNamespaceName(*virtShareDir, *namespace, *name)
	startWatchdogTicker(watchdogFile, *watchdogInterval, stopChan)

	gracefulShutdownTriggerFile := virtlauncher.GracefulShutdownTriggerFromNamespaceName(*virtShareDir, *namespace, *name)
	if err := virtlauncher.GracefulShutdownTriggerClear(gracefulShutdownTriggerFile); err != nil {
		log.Log.Reason(err).Errorf("Error clearing shutdown trigger file %s.", gracefulShutdownTriggerFile)
		panic(err)
	}

	shutdownCallback := func(pid int) {
		err := domainManager.KillVM(vm)
		if err != nil {
			log.Log.Reason(err).Errorf("Unable to stop the guest, falling back to SIGKILL")
			unix.Kill(pid, unix.SIGKILL)
		}
	}
	// KubeVirt's own monitor, watching the guest's holder process (its command name is unique to
	// this VM on the node, so that it is found only in its own pod even where containers share a
	// PID namespace, where 0.4.1's "qemu" prefix would find another pod's guest).
	mon := virtlauncher.NewProcessMonitor(guestCommandName(*namespace, *name), gracefulShutdownTriggerFile, *gracePeriodSeconds, shutdownCallback)

	// Domain events go to virt-handler's notify socket as they happen (manager.go).
	domainManager.startNotifier()

	markReady(*readinessFile)

	// Until the guest's process is gone (or never came within --qemu-timeout).
	mon.RunForever(*qemuTimeout)

	waitForFinalNotify(deleteNotificationSent, domainManager, vm)

	log.Log.Info("Exiting...")
}
