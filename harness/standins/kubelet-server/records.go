package main

// The container records the TypeScript kubelet stand-in writes, read here on each request:
//
//	<runtime-dir>/pods/<pod UID>/pod.json                       podRecord
//	<runtime-dir>/pods/<pod UID>/containers/<container>.json    containerRecord

import (
	"encoding/json"
	"fmt"
	"io/ioutil"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// podRecord is pod.json: which pod runs here and in which network namespace.
type podRecord struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	// Netns is the pod's network namespace: its path (/run/netns/<name>) or its name under
	// /run/netns; "" for a host-network pod. NetnsPath, when given, is its path.
	Netns     string `json:"netns"`
	NetnsPath string `json:"netnsPath"`

	dir   string
	mtime time.Time
}

// containerRecord is containers/<name>.json: the process that stands for one container.
type containerRecord struct {
	Name  string `json:"name"`
	Image string `json:"image"`
	// Pid is the container's main process, 0 when it runs nothing (Why says why).
	Pid          int    `json:"pid"`
	Why          string `json:"why"`
	Log          string `json:"log"`
	PreviousLog  string `json:"previousLog"`
	RestartCount int    `json:"restartCount"`
}

type records struct {
	dir string // <runtime-dir>/pods
}

func (r *records) pods() []*podRecord {
	entries, err := ioutil.ReadDir(r.dir)
	if err != nil {
		return nil
	}
	var out []*podRecord
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(r.dir, e.Name())
		file := filepath.Join(dir, "pod.json")
		data, err := ioutil.ReadFile(file)
		if err != nil {
			continue
		}
		p := &podRecord{dir: dir}
		if err := json.Unmarshal(data, p); err != nil {
			logf("ignoring %s: %v", file, err)
			continue
		}
		if p.UID == "" {
			p.UID = e.Name()
		}
		if p.NetnsPath != "" {
			p.Netns = p.NetnsPath
		} else if p.Netns != "" && !filepath.IsAbs(p.Netns) {
			p.Netns = filepath.Join("/run/netns", p.Netns)
		}
		if st, err := os.Stat(file); err == nil {
			p.mtime = st.ModTime()
		}
		out = append(out, p)
	}
	return out
}

// findPod is the record of the pod namespace/name. When several records have that name (a pod
// deleted and created again before the stand-in removed the old folder), uid decides, else the
// UID of the API's pod (or of its static pod, the mirror annotation), else the newest record.
func (r *records) findPod(namespace, name string, uid types.UID, apiPod func() *v1.Pod) (*podRecord, error) {
	var found []*podRecord
	for _, p := range r.pods() {
		if p.Namespace == namespace && p.Name == name {
			found = append(found, p)
		}
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("pod %s/%s has no record in %s: the kubelet stand-in runs nothing for it", namespace, name, r.dir)
	}
	pick := func(want string) *podRecord {
		for _, p := range found {
			if want != "" && p.UID == want {
				return p
			}
		}
		return nil
	}
	if uid != "" {
		if p := pick(string(uid)); p != nil {
			return p, nil
		}
		return nil, fmt.Errorf("pod %s/%s with UID %s has no record in %s", namespace, name, uid, r.dir)
	}
	if len(found) == 1 {
		return found[0], nil
	}
	if pod := apiPod(); pod != nil {
		if p := pick(string(pod.UID)); p != nil {
			return p, nil
		}
		if p := pick(pod.Annotations[mirrorAnnotation]); p != nil {
			return p, nil
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].mtime.After(found[j].mtime) })
	return found[0], nil
}

const mirrorAnnotation = "kubernetes.io/config.mirror"

func (r *records) containers(p *podRecord) []*containerRecord {
	files, _ := filepath.Glob(filepath.Join(p.dir, "containers", "*.json"))
	var out []*containerRecord
	for _, f := range files {
		if c, err := readContainer(f); err == nil {
			out = append(out, c)
		}
	}
	return out
}

func (r *records) container(p *podRecord, name string) (*containerRecord, error) {
	file := filepath.Join(p.dir, "containers", name+".json")
	c, err := readContainer(file)
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("container %s of pod %s/%s has no record (%s): the kubelet stand-in started nothing for it", name, p.Namespace, p.Name, file)
	}
	return c, err
}

func readContainer(file string) (*containerRecord, error) {
	data, err := ioutil.ReadFile(file)
	if err != nil {
		return nil, err
	}
	c := &containerRecord{}
	if err := json.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	if c.Name == "" {
		c.Name = strings.TrimSuffix(filepath.Base(file), ".json")
	}
	return c, nil
}

// running: the record's process still exists (and is not a zombie).
func (c *containerRecord) running() bool {
	if c.Pid <= 0 {
		return false
	}
	data, err := ioutil.ReadFile("/proc/" + strconv.Itoa(c.Pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...: the state follows the last ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}

// livePid is the pid to enter for an exec, or the error the client sees.
func livePid(p *podRecord, c *containerRecord) (int, error) {
	if c.Pid <= 0 {
		why := c.Why
		if why == "" {
			why = "no reason given"
		}
		return 0, fmt.Errorf("container %s of pod %s/%s runs no process in this simulated lab: %s", c.Name, p.Namespace, p.Name, why)
	}
	if !c.running() {
		return 0, fmt.Errorf("container %s of pod %s/%s is not running: its process %d has exited (restarts: %d)", c.Name, p.Namespace, p.Name, c.Pid, c.RestartCount)
	}
	return c.Pid, nil
}
