// Package localcluster runs a real Kubernetes control plane for tests, on loopback only: etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler, with kwok standing in for the
// kubelets (nodes that turn Ready, pods that run and turn Ready, no container ever started).
// The binaries come from .ci/install-cluster.sh, which builds them from the Go module proxy;
// KONG_ALB_EKS_CLUSTER_BIN names their directory.
//
// What is real: the API server (admission, validation, RBAC, garbage collection, finalizers),
// the controllers (Deployments to ReplicaSets to Pods, Jobs, namespace deletion) and the
// scheduler. What stands in: kwok for the kubelets; no container runs, so no probe, webhook
// server or volume mount is real.
package localcluster

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// BinDirEnv names the directory of the control plane's binaries.
const BinDirEnv = "KONG_ALB_EKS_CLUSTER_BIN"

// ProviderEnv names the built pulumi-resource-kubernetes binary (.ci/install-kubernetes-provider.sh).
const ProviderEnv = "KONG_ALB_EKS_KUBERNETES_PROVIDER"

// Options shape the cluster.
type Options struct {
	// Nodes is how many kwok nodes to register (default 2), labelled like EKS nodes of Arch
	// (amd64 or arm64, default amd64) in Region's zones.
	Nodes int
	// NoNodes registers none (EKS Auto Mode's cluster, whose nodes come with pending pods).
	NoNodes bool
	Arch    string
	Region  string
	// Holds keep the pods each matches from turning Ready until they are annotated
	// HeldAnnotation.
	Holds []Hold
	// Access, when set, authenticates the bearer tokens the token file and the ServiceAccount
	// authenticator do not know, and authorizes the requests RBAC does not allow, as EKS's IAM
	// authentication and access entries do (authwebhook.go). Without it only the token file,
	// ServiceAccounts and client certificates authenticate, and only RBAC authorizes.
	Access Access
}

// Cluster is a running control plane.
type Cluster struct {
	// Server is the API server's URL; Kubeconfig a kubeconfig (JSON) for an administrator,
	// with the credentials inline, as the Pulumi Kubernetes provider takes it.
	Server     string
	Kubeconfig string
	// CAData is the cluster's CA (base64 PEM, as EKS's certificateAuthority.data); Token a
	// bearer token of an administrator (system:masters), as `aws eks get-token` would give.
	CAData string
	Token  string
	// PodCIDR is where kwok gives pods their IPs: loopback addresses of this cluster only.
	PodCIDR string

	dir         string
	caPEM       []byte
	egress      *egress
	access      *accessWebhook
	procs       []*process
	client      *http.Client // the administrator's client certificate
	tokenClient *http.Client // no client certificate: a bearer token authenticates (DoAs)
	started     time.Time
}

type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// Start starts a cluster and stops it when the test ends, whatever way it ends; the logs of a
// failed test's cluster are kept (the test log says where). It fails the test, saying why,
// when the binaries are missing or the cluster does not come up.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	bin := os.Getenv(BinDirEnv)
	if bin == "" {
		t.Fatalf("%s is not set: run the tests through `make test`, which builds the control plane (.ci/install-cluster.sh)", BinDirEnv)
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kwok-stages.yaml"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			t.Fatalf("the control plane is not built in %s (%v): run .ci/install-cluster.sh", bin, err)
		}
	}
	dir, err := os.MkdirTemp("", "localcluster-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{dir: dir, started: time.Now()}
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			t.Logf("local cluster logs kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	if err := c.start(bin, opts); err != nil {
		t.Fatalf("local cluster: %v", err)
	}
	return c
}

func (c *Cluster) start(bin string, opts Options) error {
	p, err := newPKI(c.dir)
	if err != nil {
		return err
	}
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	etcdClient, etcdPeer, apiPort := ports[0], ports[1], ports[2]
	c.Server = "https://127.0.0.1:" + strconv.Itoa(apiPort)
	c.caPEM, c.CAData = p.caPEM, b64(p.caPEM)
	c.PodCIDR = fmt.Sprintf("127.%d.0.0/16", 11+apiPort%240)
	if c.Token, err = randomToken(); err != nil {
		return err
	}
	egressConfig, err := c.startEgress()
	if err != nil {
		return err
	}
	tokens := filepath.Join(c.dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(c.Token+`,eks-admin,eks-admin,"system:masters"`+"\n"), 0o600); err != nil {
		return err
	}
	if err := c.writeKubeconfig(p); err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.caPEM)
	admin, err := tls.X509KeyPair(p.adminCertPEM, p.adminKeyPEM)
	if err != nil {
		return err
	}
	c.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{admin}, MinVersion: tls.VersionTLS12},
	}}
	// The API server tries a client certificate before a bearer token: with the administrator's
	// certificate along, every token would act as the administrator.
	c.tokenClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}
	if opts.Access != nil {
		if c.access, err = startAccessWebhook(c.dir, opts.Access); err != nil {
			return fmt.Errorf("access webhook: %w", err)
		}
	}

	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	if err := c.run("etcd", filepath.Join(bin, "etcd"),
		"--name=local", "--data-dir="+filepath.Join(c.dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=local="+peerURL, "--log-level=warn",
		// The data is thrown away with the test: skipping fsync keeps a loaded machine's disk
		// from stalling etcd past its request timeout ("etcdserver: request timed out").
		"--unsafe-no-fsync"); err != nil {
		return err
	}
	if err := c.waitFor("etcd", 30*time.Second, func() error { return get(http.DefaultClient, etcdURL+"/health") }); err != nil {
		return err
	}
	if err := c.run("kube-apiserver", filepath.Join(bin, "kube-apiserver"),
		apiServerArgs(etcdURL, apiPort, p, tokens, egressConfig, c.access)...); err != nil {
		return err
	}
	if err := c.waitFor("kube-apiserver", 90*time.Second, func() error { return get(c.client, c.Server+"/readyz") }); err != nil {
		return err
	}
	kubeconfig := filepath.Join(c.dir, "kubeconfig")
	if err := c.run("kube-controller-manager", filepath.Join(bin, "kube-controller-manager"),
		"--kubeconfig="+kubeconfig, "--leader-elect=false", "--secure-port=0",
		"--service-account-private-key-file="+p.saKey, "--root-ca-file="+p.caCert,
		"--use-service-account-credentials=false", "--controllers=*,-nodeipam,-cloud-node-lifecycle",
		// kwok renews the nodes' leases, but on a loaded machine a renewal can come later than the
		// default 50 s grace; the node lifecycle controller then marks every pod not Ready, and
		// kwok, unlike a kubelet, never marks them Ready again. kwok nodes do not fail: give
		// them an hour.
		"--node-monitor-grace-period=1h"); err != nil {
		return err
	}
	if err := c.run("kube-scheduler", filepath.Join(bin, "kube-scheduler"),
		"--kubeconfig="+kubeconfig, "--leader-elect=false", "--secure-port=0"); err != nil {
		return err
	}
	stages, err := writeStages(bin, c.dir, opts.Holds)
	if err != nil {
		return err
	}
	if err := c.run("kwok", filepath.Join(bin, "kwok"),
		"--kubeconfig="+kubeconfig, "--config="+stages,
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--cidr="+c.PodCIDR, "--node-ip=127.0.0.20"); err != nil {
		return err
	}
	return c.addNodes(opts)
}

// apiServerArgs are kube-apiserver's flags; access, when not nil, adds its webhooks.
func apiServerArgs(etcdURL string, apiPort int, p *pki, tokens, egressConfig string, access *accessWebhook) []string {
	args := []string{
		"--etcd-servers=" + etcdURL, "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(apiPort), "--endpoint-reconciler-type=none",
		"--client-ca-file=" + p.caCert, "--tls-cert-file=" + p.serverCert, "--tls-private-key-file=" + p.serverKey,
		"--service-account-key-file=" + p.saPub, "--service-account-signing-key-file=" + p.saKey,
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-cluster-ip-range=10.96.0.0/16", "--token-auth-file=" + tokens,
		// Admission webhooks and other traffic into the cluster network go through the test's
		// proxy. Not the access webhooks: they are the "controlplane" selection, which this
		// configuration leaves to a direct connection (EgressSelector.Lookup in
		// k8s.io/apiserver/pkg/server/egressselector/egress_selector.go).
		"--egress-selector-config-file=" + egressConfig,
	}
	if access == nil {
		return append(args, "--authorization-mode=RBAC")
	}
	return append(args, access.flags()...)
}

// run starts a binary with its output in <dir>/<name>.log.
func (c *Cluster) run(name, path string, args ...string) error {
	logPath := filepath.Join(c.dir, name+".log")
	out, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = out, out
	// Killed with the test binary too, even by SIGKILL: nothing outlives the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = out.Close()
		return fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); _ = out.Close(); close(p.done) }()
	c.procs = append(c.procs, p)
	return nil
}

// waitFor polls check until it passes (see Eventually).
func (c *Cluster) waitFor(what string, timeout time.Duration, check func() error) error {
	return c.Eventually(timeout, what, func() (bool, error) {
		err := check()
		return err == nil, err
	})
}

// stop ends every process, newest first: SIGTERM to its process group, SIGKILL after 10 s.
// A second call does nothing.
func (c *Cluster) stop() {
	if c.egress != nil {
		_ = c.egress.ln.Close()
	}
	procs := c.procs
	c.procs = nil
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
	// After the API server: it asks the access webhook until it exits.
	if c.access != nil {
		c.access.close()
		c.access = nil
	}
}

// PIDs are the processes' IDs, by name.
func (c *Cluster) PIDs() map[string]int {
	out := map[string]int{}
	for _, p := range c.procs {
		out[p.name] = p.cmd.Process.Pid
	}
	return out
}

func (c *Cluster) writeKubeconfig(p *pki) error {
	kc, err := kubeconfig(c.Server, p.caPEM, map[string]any{
		"client-certificate-data": b64(p.adminCertPEM), "client-key-data": b64(p.adminKeyPEM)})
	if err != nil {
		return err
	}
	c.Kubeconfig = string(kc)
	return os.WriteFile(filepath.Join(c.dir, "kubeconfig"), kc, 0o600)
}

// KubeconfigFor is a kubeconfig (JSON) whose only credential is the bearer token, for a
// client (the Pulumi Kubernetes provider) acting as whoever the token stands for (see DoAs).
func (c *Cluster) KubeconfigFor(token string) string {
	kc, err := kubeconfig(c.Server, c.caPEM, map[string]any{"token": token})
	if err != nil {
		panic(err) // strings only: it always marshals
	}
	return string(kc)
}

// kubeconfig is a kubeconfig (JSON) for one server, trusted through caPEM, with one user's
// credentials.
func kubeconfig(server string, caPEM []byte, user map[string]any) ([]byte, error) {
	return json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Config", "current-context": "local",
		"clusters": []any{map[string]any{"name": "local", "cluster": map[string]any{
			"server": server, "certificate-authority-data": b64(caPEM)}}},
		"contexts": []any{map[string]any{"name": "local", "context": map[string]any{"cluster": "local", "user": "user"}}},
		"users":    []any{map[string]any{"name": "user", "user": user}},
	})
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func randomToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "k8s-aws-v1." + hex.EncodeToString(b), nil
}

func freePorts(n int) ([]int, error) {
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func get(client *http.Client, url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// tail is the end of a log, for an error message.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
