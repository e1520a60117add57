package main

// Container logs (kubectl logs): the record's log file, in the CRI log format of Kubernetes 1.9,
// read by 1.9.4's own pkg/kubelet/kuberuntime/logs.ReadLogs (tail, limitBytes, since, timestamps,
// follow). While following, ReadLogs asks the runtime every 5 s whether the container still runs:
// here the answer is the record's (same process, still alive).

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"k8s.io/api/core/v1"
	internalapi "k8s.io/kubernetes/pkg/kubelet/apis/cri"
	runtimeapi "k8s.io/kubernetes/pkg/kubelet/apis/cri/v1alpha1/runtime"
	"k8s.io/kubernetes/pkg/kubelet/kuberuntime/logs"
)

// GetKubeletContainerLogs writes the container's log (its previous one with options.Previous).
func (h *host) GetKubeletContainerLogs(podFullName, containerName string, options *v1.PodLogOptions, stdout, stderr io.Writer) error {
	p, c, err := h.lookup(podFullName, "", containerName)
	if err != nil {
		return err
	}
	path := c.Log
	if options.Previous {
		if c.PreviousLog == "" {
			return fmt.Errorf("previous terminated container %q in pod %q not found", containerName, p.Name)
		}
		path = c.PreviousLog
	}
	if path == "" {
		why := c.Why
		if why == "" {
			why = "its record names no log file"
		}
		return fmt.Errorf("container %s of pod %s/%s has no log: %s", containerName, p.Namespace, p.Name, why)
	}
	// The container "id" for the status checks while following: the record and the process.
	id := strings.Join([]string{p.UID, containerName, strconv.Itoa(c.Pid)}, "/")
	if options.Previous {
		id = "" // not followed: a previous container does not run
	}
	return logs.ReadLogs(path, id, logs.NewLogOptions(options, time.Now()), &recordRuntime{h: h, pod: p}, stdout, stderr)
}

// recordRuntime is the runtime service ReadLogs asks ContainerStatus while following; nothing
// else of the CRI is called (the embedded nil interface would panic if it were).
type recordRuntime struct {
	internalapi.RuntimeService
	h   *host
	pod *podRecord
}

func (r *recordRuntime) ContainerStatus(id string) (*runtimeapi.ContainerStatus, error) {
	state := runtimeapi.ContainerState_CONTAINER_EXITED
	parts := strings.Split(id, "/")
	if len(parts) == 3 {
		if c, err := r.h.records.container(r.pod, parts[1]); err == nil && strconv.Itoa(c.Pid) == parts[2] && c.running() {
			state = runtimeapi.ContainerState_CONTAINER_RUNNING
		}
	}
	return &runtimeapi.ContainerStatus{Id: id, State: state}, nil
}
