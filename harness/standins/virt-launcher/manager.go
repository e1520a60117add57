package main

// The lab's virtwrap.DomainManager: what LibvirtDomainManager (pkg/virt-launcher/virtwrap/
// manager.go) does through libvirt, done with a guest of namespaces (guest.go), and the domain
// events 0.4.1's notify client sends for libvirt's lifecycle events:
//
//   define (SyncVM of a new VM)          Added     Shutoff/Unknown
//   start                                Modified  Running/Unknown
//   shutdown signalled (grace period     Modified  Running, spec with the DeletionTimestamp
//     started, the domain XML redefined)
//   the guest ends                       Modified  Shutoff/Shutdown (it powered off),
//                                                  Shutoff/Destroyed (KillVM), Shutoff/Crashed
//   undefine (KillVM)                    Deleted   NoState/NonExistent, no spec (libvirt has
//                                                  none left): the reason came with the Modified

import (
	"encoding/xml"
	"fmt"
	"io/ioutil"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pborman/uuid"
	k8sv1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"kubevirt.io/kubevirt/pkg/api/v1"
	cloudinit "kubevirt.io/kubevirt/pkg/cloud-init"
	diskutils "kubevirt.io/kubevirt/pkg/ephemeral-disk-utils"
	"kubevirt.io/kubevirt/pkg/log"
	notifyclient "kubevirt.io/kubevirt/pkg/virt-launcher/notify-client"
	"kubevirt.io/kubevirt/pkg/virt-launcher/virtwrap/api"
	"kubevirt.io/kubevirt/pkg/virt-launcher/virtwrap/network"
)

type labConfig struct {
	shareDir    string
	privateDir  string
	guestDir    string
	guestUser   string
	gracePeriod time.Duration
	namespace   string
	name        string
}

type labDomainManager struct {
	cfg                    labConfig
	mu                     sync.Mutex
	domain                 *api.Domain // the defined domain, nil when there is none
	guest                  *guest      // its guest while it runs
	events                 chan watch.Event
	deleteNotificationSent chan watch.Event
}

func newLabDomainManager(cfg labConfig, deleteNotificationSent chan watch.Event) *labDomainManager {
	return &labDomainManager{cfg: cfg, events: make(chan watch.Event, 100), deleteNotificationSent: deleteNotificationSent}
}

func (m *labDomainManager) planDir() string { return filepath.Join(m.cfg.privateDir, "guest") }

// --- events ---------------------------------------------------------------------------------

// libvirtXMLDir: where libvirt keeps a running domain's live XML (the pod's libvirt runtime dir).
const libvirtXMLDir = "/var/run/libvirt/qemu"

// emit queues an event with a copy of the domain as it is now (m.mu held), and writes the domain's
// XML where libvirt keeps it (`kubectl exec ... cat /var/run/libvirt/qemu/<ns>_<vm>.xml` shows
// the interface as `virsh domiflist` would: vnet0, bridge br1, model e1000, the MAC).
func (m *labDomainManager) emit(t watch.EventType) {
	m.writeDomainXML()
	var d *api.Domain
	if t == watch.Deleted || m.domain == nil {
		d = api.NewDomainReferenceFromName(m.cfg.namespace, m.cfg.name)
		d.SetState(api.NoState, api.ReasonNonExistent)
	} else {
		d = m.domain.DeepCopy()
		d.ObjectMeta.UID = d.Spec.Metadata.KubeVirt.UID
	}
	log.Log.Infof("domain event %s: %s %s", t, d.Status.Status, d.Status.Reason)
	m.events <- watch.Event{Type: t, Object: d}
}

// startNotifier sends the queued events to virt-handler's notify socket, in order, as 0.4.1's
// event callback does: a DomainEventClient (notify-client) per event, the Deleted one also
// handed to the launcher's final wait.
func (m *labDomainManager) startNotifier() {
	go func() {
		for ev := range m.events {
			client, err := notifyclient.NewDomainEventClient(m.cfg.shareDir)
			if err != nil {
				log.Log.Reason(err).Error("Unable to create domain event notify client")
				continue
			}
			if err := client.SendDomainEvent(ev); err != nil {
				log.Log.Reason(err).Errorf("domain event %s not delivered", ev.Type)
			}
			if ev.Type == watch.Deleted {
				m.deleteNotificationSent <- ev
			}
		}
	}()
}

// --- virtwrap.DomainManager -----------------------------------------------------------------

func (m *labDomainManager) SyncVM(vm *v1.VirtualMachine) (*api.DomainSpec, error) {
	logger := log.Log.Object(vm)
	m.mu.Lock()
	defer m.mu.Unlock()

	if vm.Namespace != m.cfg.namespace || vm.Name != m.cfg.name {
		return nil, fmt.Errorf("this launcher runs VM %s/%s, not %s/%s", m.cfg.namespace, m.cfg.name, vm.Namespace, vm.Name)
	}
	// Map the VirtualMachine to the Domain, as LibvirtDomainManager.SyncVM does.
	domain := &api.Domain{}
	c := &api.ConverterContext{VirtualMachine: vm}
	if err := ensureRegistryDisks(vm); err != nil {
		return nil, err
	}
	if err := api.Convert_v1_VirtualMachine_To_api_Domain(vm, domain, c); err != nil {
		logger.Error("Conversion failed.")
		return nil, err
	}
	api.SetObjectDefaults_Domain(domain)

	if m.domain == nil {
		var err error
		domain, err = m.preStartHook(vm, domain)
		if err != nil {
			logger.Reason(err).Error("pre start setup for VM failed.")
			return nil, err
		}
		m.define(domain)
		logger.Info("Domain defined.")
		m.emit(watch.Added)
	} else if m.guest == nil {
		// defined but down: defined again with the VM's current spec (the interface as the
		// network setup cached it)
		if err := network.SetupPodNetwork(domain); err != nil {
			return nil, err
		}
		m.define(domain)
		m.emit(watch.Modified)
	}

	if m.guest == nil {
		if err := m.start(); err != nil {
			logger.Reason(err).Error("Starting the VM failed.")
			return nil, err
		}
		logger.Info("Domain started.")
	}
	return m.domain.Spec.DeepCopy(), nil
}

// preStartHook: LibvirtDomainManager's, for what there is here: the cloud-init data (and the
// guest's setup from it), the pod network. There are no disk files to prepare (see README.md).
func (m *labDomainManager) preStartHook(vm *v1.VirtualMachine, domain *api.Domain) (*api.Domain, error) {
	setup := &guestSetup{users: []guestUser{fedoraDefaultUser(m.cfg.guestUser)}}
	if src := cloudinit.GetCloudInitNoCloudSource(vm); src != nil {
		if err := cloudinit.GenerateLocalData(vm.Name, vm.Namespace, src); err != nil {
			return domain, err
		}
		data, err := userDataOf(src)
		if err != nil {
			return domain, err
		}
		if setup, err = parseUserData(data, m.cfg.guestUser); err != nil {
			return domain, err
		}
	}
	if err := network.SetupPodNetwork(domain); err != nil {
		return domain, err
	}
	if err := os.MkdirAll(m.planDir(), 0700); err != nil {
		return domain, err
	}
	if err := writeGuestSetup(m.planDir(), setup); err != nil {
		return domain, err
	}
	env := strings.Join([]string{
		"GUEST_NAME=" + shellQuote(vm.Name),
		"GUEST_NAMESPACE=" + shellQuote(vm.Namespace),
		"GUEST_HOSTNAME=" + shellQuote(vm.Name),
		"GUEST_SEED=" + shellQuote(filepath.Join(cloudinit.GetDomainBasePath(vm.Name, vm.Namespace), cloudinit.NoCloudFile)),
		"GUEST_UUID=" + shellQuote(domain.Spec.UUID),
	}, "\n") + "\n"
	return domain, ioutil.WriteFile(filepath.Join(m.planDir(), "guest.env"), []byte(env), 0600)
}

// define: the domain as libvirt keeps it once defined (a UUID, Shutoff).
func (m *labDomainManager) define(domain *api.Domain) {
	if domain.Spec.UUID == "" {
		if m.domain != nil && m.domain.Spec.UUID != "" {
			domain.Spec.UUID = m.domain.Spec.UUID
		} else if domain.Spec.SysInfo != nil && len(domain.Spec.SysInfo.System) > 0 && domain.Spec.SysInfo.System[0].Value != "" {
			domain.Spec.UUID = domain.Spec.SysInfo.System[0].Value
		} else {
			domain.Spec.UUID = uuid.NewRandom().String()
		}
	}
	domain.SetState(api.Shutoff, api.ReasonUnknown)
	m.domain = domain
}

// start: the guest started (m.mu held); Running and its interface's target as libvirt shows them.
func (m *labDomainManager) start() error {
	g, err := guestStart(m.domain, m.cfg, m.planDir())
	if err != nil {
		return err
	}
	m.guest = g
	if len(m.domain.Spec.Devices.Interfaces) > 0 {
		m.domain.Spec.Devices.Interfaces[0].Target = &api.InterfaceTarget{Device: tapName}
		m.domain.Spec.Devices.Interfaces[0].Alias = &api.Alias{Name: "net0"}
	}
	m.domain.SetState(api.Running, api.ReasonUnknown)
	m.emit(watch.Modified)
	go m.watchGuest(g)
	return nil
}

// watchGuest: the domain's state once the guest has ended by itself (KillVM records its own).
func (m *labDomainManager) watchGuest(g *guest) {
	<-g.exited
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.guest != g {
		return
	}
	m.stopped(g)
}

// stopped: the guest gone, the domain Shutoff with the reason (m.mu held).
func (m *labDomainManager) stopped(g *guest) {
	state, reason, how := g.endState()
	log.Log.Infof("the guest has ended (%s): %s/%s", how, state, reason)
	m.guest = nil
	if m.domain == nil {
		return
	}
	if len(m.domain.Spec.Devices.Interfaces) > 0 {
		m.domain.Spec.Devices.Interfaces[0].Target = nil
		m.domain.Spec.Devices.Interfaces[0].Alias = nil
	}
	m.domain.SetState(state, reason)
	m.emit(watch.Modified)
}

func (m *labDomainManager) SignalShutdownVM(vm *v1.VirtualMachine) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.domain == nil || m.guest == nil {
		return nil
	}
	gp := &m.domain.Spec.Metadata.KubeVirt.GracePeriod
	if gp.DeletionTimestamp != nil {
		return nil
	}
	g := m.guest
	if err := g.shutdown(); err != nil {
		log.Log.Object(vm).Reason(err).Error("Signalling graceful shutdown failed.")
		return err
	}
	log.Log.Object(vm).Infof("Signaled graceful shutdown for %s", vm.GetObjectMeta().GetName())
	now := k8sv1.Now()
	gp.DeletionTimestamp = &now
	m.emit(watch.Modified)
	// The button is pressed again every second while the guest is up (a press during its early
	// boot, before systemd runs, is lost: a PID namespace's init gets only the signals it
	// handles); a guest still up after the grace period is pulled (virt-handler's KillVM would
	// come then too).
	grace := time.Duration(gp.DeletionGracePeriodSeconds) * time.Second
	if grace <= 0 {
		grace = m.cfg.gracePeriod
	}
	go func() {
		deadline := time.Now().Add(grace)
		for time.Now().Before(deadline) {
			if g.wait(time.Second) {
				return
			}
			g.shutdown()
		}
		log.Log.Object(vm).Infof("the guest is still up %s after the power button: pulling the plug", grace)
		g.kill()
	}()
	return nil
}

func (m *labDomainManager) KillVM(vm *v1.VirtualMachine) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.domain == nil {
		return nil
	}
	if g := m.guest; g != nil {
		g.kill()
		if !g.wait(10 * time.Second) {
			err := fmt.Errorf("the guest (holder pid %d) did not end within 10 s of SIGKILL", g.holder)
			log.Log.Object(vm).Reason(err).Error("Destroying the domain state failed.")
			return err
		}
		m.stopped(g)
		log.Log.Object(vm).Info("Domain stopped.")
	}
	// undefine
	m.domain = nil
	os.RemoveAll(m.planDir())
	m.emit(watch.Deleted)
	log.Log.Object(vm).Info("Domain undefined.")
	return nil
}

func (m *labDomainManager) ListAllDomains() ([]*api.Domain, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.domain == nil {
		return nil, nil
	}
	d := m.domain.DeepCopy()
	d.ObjectMeta.UID = d.Spec.Metadata.KubeVirt.UID
	return []*api.Domain{d}, nil
}

// --- helpers --------------------------------------------------------------------------------

func (m *labDomainManager) writeDomainXML() {
	f := filepath.Join(libvirtXMLDir, m.cfg.namespace+"_"+m.cfg.name+".xml")
	if m.domain == nil {
		os.Remove(f)
		return
	}
	b, err := xml.MarshalIndent(&m.domain.Spec, "", "  ")
	if err == nil {
		err = os.MkdirAll(libvirtXMLDir, 0755)
	}
	if err == nil {
		err = ioutil.WriteFile(f, append(b, '\n'), 0644)
	}
	if err != nil {
		log.Log.Reason(err).Errorf("the domain XML %s not written", f)
	}
}

// ensureRegistryDisks: the converter looks for each registryDisk volume's image file, which the
// pod's registry-disk container copies into the shared emptyDir. The lab runs no such container
// (the guest's disk is the node's /usr), so an empty placeholder is put where it is missing.
func ensureRegistryDisks(vm *v1.VirtualMachine) error {
	for _, vol := range vm.Spec.Volumes {
		if vol.RegistryDisk == nil {
			continue
		}
		dir := filepath.Join(registryDiskDir(), vm.Namespace, vm.Name, "disk_"+vol.Name)
		for _, suffix := range []string{".raw", ".qcow2", ".raw.virt", ".qcow2.virt"} {
			if ok, _ := diskutils.FileExists(filepath.Join(dir, "disk-image"+suffix)); ok {
				return nil
			}
		}
		if err := os.MkdirAll(dir, 0755); err != nil {
			return err
		}
		f := filepath.Join(dir, "disk-image.raw")
		if err := ioutil.WriteFile(f, nil, 0644); err != nil {
			return err
		}
		log.Log.Object(vm).Infof("registry disk %s: an empty placeholder %s (the lab's guest has no disk image)", vol.Name, f)
	}
	return nil
}

func shellQuote(s string) string { return "'" + strings.Replace(s, "'", `'\''`, -1) + "'" }
