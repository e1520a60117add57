package main

// Port forwarding: a TCP connection to 127.0.0.1:<port> made inside the pod's network namespace
// (the record's netns; the node's own for a host-network pod), copied both ways with the stream
// of the 1.9.4 port-forward server (pkg/kubelet/server/portforward).

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/types"
)

const dialTimeout = 10 * time.Second

// PortForward copies between stream and 127.0.0.1:port in the pod's network namespace.
func (h *host) PortForward(name string, uid types.UID, port int32, stream io.ReadWriteCloser) error {
	p, err := h.podRecord(name, uid)
	if err != nil {
		return err
	}
	if port <= 0 || port > 65535 {
		return fmt.Errorf("invalid port %d", port)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))
	conn, err := dialIn(p.Netns, addr)
	if err != nil {
		where := "the node's network namespace (host network)"
		if p.Netns != "" {
			where = "network namespace " + p.Netns
		}
		return fmt.Errorf("pod %s/%s: dialing %s in %s: %v", p.Namespace, p.Name, addr, where, err)
	}
	defer conn.Close()
	logf("port forward to %s/%s %s", p.Namespace, p.Name, addr)

	// client -> pod; its end half-closes the connection, as socat does for the docker kubelet.
	go func() {
		if _, err := io.Copy(conn, stream); err != nil {
			conn.Close()
			return
		}
		if tcp, ok := conn.(*net.TCPConn); ok {
			tcp.CloseWrite()
		}
	}()
	// pod -> client: done when the pod's side closes.
	_, err = io.Copy(stream, conn)
	return err
}

// dialIn dials addr from inside the network namespace at netnsPath ("" = this one): on a locked OS
// thread switched into that namespace for the socket's creation and connect, then switched back.
// A thread that cannot be switched back stays locked, so that the runtime ends it.
func dialIn(netnsPath, addr string) (net.Conn, error) {
	if netnsPath == "" {
		return net.DialTimeout("tcp4", addr, dialTimeout)
	}
	target, err := os.Open(netnsPath)
	if err != nil {
		return nil, err
	}
	defer target.Close()

	type result struct {
		conn net.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{nil, err}
			return
		}
		defer self.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- result{nil, fmt.Errorf("setns: %v", err)}
			return
		}
		conn, err := net.DialTimeout("tcp4", addr, dialTimeout)
		if rerr := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); rerr != nil {
			// left locked: this thread is in the pod's namespace and must not run anything else
			if conn != nil {
				conn.Close()
			}
			done <- result{nil, fmt.Errorf("setns back to the node's namespace: %v", rerr)}
			return
		}
		runtime.UnlockOSThread()
		done <- result{conn, err}
	}()
	r := <-done
	return r.conn, r.err
}
