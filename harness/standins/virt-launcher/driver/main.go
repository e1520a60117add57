// virt-launcher-driver: virt-handler's side of a virt-launcher, for the tests: KubeVirt v0.4.1's
// own cmd client (pkg/virt-handler/cmd-client) and notify server (pkg/virt-handler/notify-server).
// Built inside the KubeVirt v0.4.1 GOPATH tree by harness/dataplane.sh (as
// cmd/virt-launcher-lab-driver), with the lab's virt-launcher.
//
//	virt-launcher-driver notify-server SHARE_DIR
//	    serves SHARE_DIR/domain-notify.sock; one JSON line per domain event on stdout
//	    ({"type","name","namespace","uid","status","reason","spec"}); ends on SIGTERM or when
//	    stdin closes
//	virt-launcher-driver ping|get-domain SOCKET
//	virt-launcher-driver sync|kill|shutdown SOCKET VM_JSON_FILE
//	    one call of the cmd client to the launcher's socket; get-domain prints the domain as
//	    JSON; exit status 1 with the error on stderr
package main

import (
	"encoding/json"
	"fmt"
	"io/ioutil"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/apimachinery/pkg/watch"

	"kubevirt.io/kubevirt/pkg/api/v1"
	cmdclient "kubevirt.io/kubevirt/pkg/virt-handler/cmd-client"
	notifyserver "kubevirt.io/kubevirt/pkg/virt-handler/notify-server"
	"kubevirt.io/kubevirt/pkg/virt-launcher/virtwrap/api"
)

type eventLine struct {
	Type      string          `json:"type"`
	Name      string          `json:"name"`
	Namespace string          `json:"namespace"`
	UID       string          `json:"uid"`
	Status    string          `json:"status"`
	Reason    string          `json:"reason"`
	Spec      *api.DomainSpec `json:"spec,omitempty"`
}

func die(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "virt-launcher-driver: "+format+"\n", args...)
	os.Exit(1)
}

func notifyServer(shareDir string) {
	events := make(chan watch.Event, 100)
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- notifyserver.RunServer(shareDir, stop, events) }()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	stdinClosed := make(chan struct{})
	go func() {
		ioutil.ReadAll(os.Stdin)
		close(stdinClosed)
	}()
	enc := json.NewEncoder(os.Stdout)
	fmt.Fprintln(os.Stderr, "virt-launcher-driver: notify server listening")
	for {
		select {
		case ev := <-events:
			line := eventLine{Type: string(ev.Type)}
			if d, ok := ev.Object.(*api.Domain); ok {
				line.Name, line.Namespace, line.UID = d.ObjectMeta.Name, d.ObjectMeta.Namespace, string(d.ObjectMeta.UID)
				line.Status, line.Reason = string(d.Status.Status), string(d.Status.Reason)
				if d.Spec.Name != "" {
					line.Spec = &d.Spec
				}
			}
			if err := enc.Encode(&line); err != nil {
				die("stdout: %v", err)
			}
		case err := <-done:
			if err != nil {
				die("notify server: %v", err)
			}
			return
		case <-sigs:
			close(stop)
			<-done
			return
		case <-stdinClosed:
			close(stop)
			<-done
			return
		}
	}
}

func readVM(file string) *v1.VirtualMachine {
	b, err := ioutil.ReadFile(file)
	if err != nil {
		die("%v", err)
	}
	vm := &v1.VirtualMachine{}
	if err := json.Unmarshal(b, vm); err != nil {
		die("%s: %v", file, err)
	}
	return vm
}

func main() {
	if len(os.Args) < 3 {
		die("usage: virt-launcher-driver notify-server SHARE_DIR | ping|get-domain SOCKET | sync|kill|shutdown SOCKET VM_JSON")
	}
	cmd, arg := os.Args[1], os.Args[2]
	if cmd == "notify-server" {
		notifyServer(arg)
		return
	}
	client, err := cmdclient.GetClient(arg)
	if err != nil {
		die("%s: %v", arg, err)
	}
	defer client.Close()
	vmArg := func() *v1.VirtualMachine {
		if len(os.Args) < 4 {
			die("%s needs a VM JSON file", cmd)
		}
		return readVM(os.Args[3])
	}
	switch cmd {
	case "ping":
		err = client.Ping()
	case "sync":
		err = client.SyncVirtualMachine(vmArg())
	case "kill":
		err = client.KillVirtualMachine(vmArg())
	case "shutdown":
		err = client.ShutdownVirtualMachine(vmArg())
	case "get-domain":
		var d *api.Domain
		var exists bool
		d, exists, err = client.GetDomain()
		if err == nil {
			if !exists {
				fmt.Println("null")
			} else if b, e := json.Marshal(d); e != nil {
				err = e
			} else {
				fmt.Println(string(b))
			}
		}
	default:
		die("unknown command %q", cmd)
	}
	if err != nil {
		die("%s: %v", cmd, err)
	}
}
