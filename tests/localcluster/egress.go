package localcluster

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ClusterDialer connects the API server to an address in the cluster's network (a Service's
// ClusterIP:port or NAME.NAMESPACE.svc:port), or says why nothing answers there.
type ClusterDialer func(addr string) (net.Conn, error)

// egress is the API server's way into the cluster network: an HTTP CONNECT proxy named in its
// egress selector configuration (the "cluster" selection: webhooks, aggregated APIs). Pod IPs
// here are loopback addresses, which Endpoints and EndpointSlices reject, so no real route
// exists; the test's dialer decides what answers.
type egress struct {
	ln   net.Listener
	mu   sync.Mutex
	dial ClusterDialer
}

// SetClusterDialer routes the API server's traffic to the cluster network; without one every
// connection is refused.
func (c *Cluster) SetClusterDialer(d ClusterDialer) {
	c.egress.mu.Lock()
	c.egress.dial = d
	c.egress.mu.Unlock()
}

func (c *Cluster) startEgress() (string, error) {
	// A unix socket: the API server's HTTP CONNECT over TCP insists on mutual TLS.
	sock := filepath.Join(c.dir, "egress.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return "", err
	}
	c.egress = &egress{ln: ln}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go c.egress.serve(conn)
		}
	}()
	config := fmt.Sprintf(`apiVersion: apiserver.k8s.io/v1beta1
kind: EgressSelectorConfiguration
egressSelections:
- name: cluster
  connection:
    proxyProtocol: HTTPConnect
    transport:
      uds:
        udsName: %q
`, sock)
	path := filepath.Join(c.dir, "egress-selector.yaml")
	return path, os.WriteFile(path, []byte(config), 0o600)
}

func (e *egress) serve(conn net.Conn) {
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	req, err := http.ReadRequest(br)
	if err != nil || req.Method != http.MethodConnect {
		_, _ = io.WriteString(conn, "HTTP/1.1 405 Method Not Allowed\r\n\r\n")
		return
	}
	e.mu.Lock()
	dial := e.dial
	e.mu.Unlock()
	if dial == nil {
		_, _ = io.WriteString(conn, "HTTP/1.1 503 Service Unavailable\r\n\r\nno route into the local cluster's network")
		return
	}
	up, err := dial(req.Host)
	if err != nil {
		// The reason goes in the status line: the API server reports only that.
		_, _ = fmt.Fprintf(conn, "HTTP/1.1 503 %s\r\n\r\n", strings.ReplaceAll(err.Error(), "\n", " "))
		return
	}
	defer func() { _ = up.Close() }()
	_ = conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, br); done <- struct{}{} }()
	go func() { _, _ = io.Copy(conn, up); done <- struct{}{} }()
	<-done
}
