package main

// host implements the 1.9.4 kubelet server's HostInterface (k8s.io/kubernetes/pkg/kubelet/server)
// for the kubelet stand-in: pods from the API server and the stand-in's records, exec through
// nsenter, port forwarding inside the pod's network namespace, logs from the record's CRI log file.
// What needs cAdvisor or a container runtime answers an error that says so.

import (
	"bufio"
	"errors"
	"io/ioutil"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	cadvisorapi "github.com/google/cadvisor/info/v1"
	"k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clientset "k8s.io/client-go/kubernetes"
	statsapi "k8s.io/kubernetes/pkg/kubelet/apis/stats/v1alpha1"
	"k8s.io/kubernetes/pkg/kubelet/cm"
	kubecontainer "k8s.io/kubernetes/pkg/kubelet/container"
	"k8s.io/kubernetes/pkg/kubelet/server"
	"k8s.io/kubernetes/pkg/kubelet/server/portforward"
	remotecommandserver "k8s.io/kubernetes/pkg/kubelet/server/remotecommand"
	"k8s.io/kubernetes/pkg/kubelet/server/stats"
	"k8s.io/kubernetes/pkg/volume"
)

var errNoStats = errors.New("not available from the kubelet stand-in: it has no cAdvisor and no container runtime")

type host struct {
	nodeName    string
	hostname    string
	client      clientset.Interface // nil without --kubeconfig
	records     *records
	idleTimeout time.Duration
	logServer   http.Handler
}

var _ server.HostInterface = &host{}

// --- pods -----------------------------------------------------------------------------------------

// GetPodByName: the pod from the API server (with the node's credentials), when it is bound here.
func (h *host) GetPodByName(namespace, name string) (*v1.Pod, bool) {
	if h.client == nil {
		logf("pod %s/%s: no API client (no --kubeconfig)", namespace, name)
		return nil, false
	}
	pod, err := h.client.CoreV1().Pods(namespace).Get(name, metav1.GetOptions{})
	if err != nil {
		logf("pod %s/%s: %v", namespace, name, err)
		return nil, false
	}
	if pod.Spec.NodeName != h.nodeName {
		logf("pod %s/%s is bound to %q, not to this node %q", namespace, name, pod.Spec.NodeName, h.nodeName)
		return nil, false
	}
	return pod, true
}

// GetPods: the pods of the records, as the API server has them (bound here, same UID or its mirror).
func (h *host) GetPods() []*v1.Pod {
	var out []*v1.Pod
	seen := map[types.UID]bool{}
	for _, rec := range h.records.pods() {
		pod, ok := h.GetPodByName(rec.Namespace, rec.Name)
		if !ok || seen[pod.UID] {
			continue
		}
		if string(pod.UID) != rec.UID && pod.Annotations[mirrorAnnotation] != rec.UID && !h.onlyRecord(rec) {
			continue
		}
		seen[pod.UID] = true
		out = append(out, pod)
	}
	return out
}

// onlyRecord: rec is the only record of its namespace/name (then a UID that differs from the API's
// is the static pod's own, as the stand-in may record it).
func (h *host) onlyRecord(rec *podRecord) bool {
	n := 0
	for _, p := range h.records.pods() {
		if p.Namespace == rec.Namespace && p.Name == rec.Name {
			n++
		}
	}
	return n == 1
}

// GetRunningPods: as a runtime lists them, from the records alone: the containers whose process runs.
func (h *host) GetRunningPods() ([]*v1.Pod, error) {
	var out []*v1.Pod
	for _, rec := range h.records.pods() {
		pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: rec.Name, Namespace: rec.Namespace, UID: types.UID(rec.UID)}}
		for _, c := range h.records.containers(rec) {
			if c.running() {
				pod.Spec.Containers = append(pod.Spec.Containers, v1.Container{Name: c.Name, Image: c.Image})
			}
		}
		if len(pod.Spec.Containers) > 0 {
			out = append(out, pod)
		}
	}
	return out, nil
}

// lookup: the records of container `container` of the pod podFullName (name_namespace).
func (h *host) lookup(podFullName string, uid types.UID, container string) (*podRecord, *containerRecord, error) {
	p, err := h.podRecord(podFullName, uid)
	if err != nil {
		return nil, nil, err
	}
	c, err := h.records.container(p, container)
	if err != nil {
		return nil, nil, err
	}
	return p, c, nil
}

func (h *host) podRecord(podFullName string, uid types.UID) (*podRecord, error) {
	name, namespace, err := kubecontainer.ParsePodFullName(podFullName)
	if err != nil {
		return nil, err
	}
	return h.records.findPod(namespace, name, uid, func() *v1.Pod {
		pod, _ := h.GetPodByName(namespace, name)
		return pod
	})
}

// --- streaming: exec and attach (exec.go), port forward (portforward.go), logs (logs.go) ----------

// No redirects: the server serves exec, attach and port forwarding itself (the legacy, non-CRI path).
func (h *host) GetExec(podFullName string, podUID types.UID, containerName string, cmd []string, streamOpts remotecommandserver.Options) (*url.URL, error) {
	return nil, nil
}

func (h *host) GetAttach(podFullName string, podUID types.UID, containerName string, streamOpts remotecommandserver.Options) (*url.URL, error) {
	return nil, nil
}

func (h *host) GetPortForward(podName, podNamespace string, podUID types.UID, portForwardOpts portforward.V4Options) (*url.URL, error) {
	return nil, nil
}

func (h *host) StreamingConnectionIdleTimeout() time.Duration { return h.idleTimeout }

// --- the node ---------------------------------------------------------------------------------------

func (h *host) GetHostname() string { return h.hostname }

// ResyncInterval and LatestLoopEntryTime feed /healthz's syncloop check: a zero time passes it
// (there is no sync loop here; the TypeScript stand-in has its own).
func (h *host) ResyncInterval() time.Duration  { return time.Minute }
func (h *host) LatestLoopEntryTime() time.Time { return time.Time{} }

// ServeLogs serves /logs/ from /var/log/, as the kubelet does.
func (h *host) ServeLogs(w http.ResponseWriter, req *http.Request) { h.logServer.ServeHTTP(w, req) }

func (h *host) GetNode() (*v1.Node, error) {
	if h.client == nil {
		return nil, errors.New("no API client (no --kubeconfig)")
	}
	return h.client.CoreV1().Nodes().Get(h.nodeName, metav1.GetOptions{})
}

func (h *host) GetNodeConfig() cm.NodeConfig { return cm.NodeConfig{} }

func (h *host) GetVersionInfo() (*cadvisorapi.VersionInfo, error) {
	info := &cadvisorapi.VersionInfo{ContainerOsVersion: osRelease()}
	var u syscall.Utsname
	if err := syscall.Uname(&u); err == nil {
		info.KernelVersion = utsString(u.Release[:])
	}
	return info, nil
}

// GetCachedMachineInfo: what /proc says about the machine (cAdvisor would say more).
func (h *host) GetCachedMachineInfo() (*cadvisorapi.MachineInfo, error) {
	info := &cadvisorapi.MachineInfo{NumCores: runtime.NumCPU()}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			fields := strings.Fields(s.Text())
			if len(fields) >= 2 && fields[0] == "MemTotal:" {
				if kb, err := strconv.ParseUint(fields[1], 10, 64); err == nil {
					info.MemoryCapacity = kb * 1024
				}
			}
		}
	}
	info.MachineID = readTrimmed("/etc/machine-id")
	info.BootID = readTrimmed("/proc/sys/kernel/random/boot_id")
	return info, nil
}

// --- stats: none ------------------------------------------------------------------------------------

func (h *host) ListPodStats() ([]statsapi.PodStats, error) { return nil, errNoStats }
func (h *host) ImageFsStats() (*statsapi.FsStats, error)   { return nil, errNoStats }
func (h *host) RootFsStats() (*statsapi.FsStats, error)    { return nil, errNoStats }
func (h *host) GetCgroupStats(cgroupName string) (*statsapi.ContainerStats, *statsapi.NetworkStats, error) {
	return nil, nil, errNoStats
}
func (h *host) GetContainerInfo(podFullName string, uid types.UID, containerName string, req *cadvisorapi.ContainerInfoRequest) (*cadvisorapi.ContainerInfo, error) {
	return nil, errNoStats
}
func (h *host) GetRawContainerInfo(containerName string, req *cadvisorapi.ContainerInfoRequest, subcontainers bool) (map[string]*cadvisorapi.ContainerInfo, error) {
	return nil, errNoStats
}
func (h *host) ListVolumesForPod(podUID types.UID) (map[string]volume.Volume, bool) {
	return nil, false
}

// resourceAnalyzer is the server's stats.ResourceAnalyzer: no volume stats, no summary.
type resourceAnalyzer struct{}

var _ stats.ResourceAnalyzer = resourceAnalyzer{}

func (resourceAnalyzer) Start() {}
func (resourceAnalyzer) GetPodVolumeStats(uid types.UID) (stats.PodVolumeStats, bool) {
	return stats.PodVolumeStats{}, false
}
func (resourceAnalyzer) Get() (*statsapi.Summary, error) { return nil, errNoStats }

// --- helpers ----------------------------------------------------------------------------------------

func readTrimmed(file string) string {
	data, err := ioutil.ReadFile(file)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

func osRelease() string {
	data, err := ioutil.ReadFile("/etc/os-release")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "PRETTY_NAME=") {
			return strings.Trim(strings.TrimPrefix(line, "PRETTY_NAME="), `"'`)
		}
	}
	return ""
}

func utsString(b []int8) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}
