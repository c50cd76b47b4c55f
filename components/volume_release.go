package components

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ebsCSIDriverName is the CSI driver of the volumes the EBS CSI driver provisions;
// autoModeEBSDriverName is EKS Auto Mode's built-in one's (EKS User Guide, "Create a storage
// class": "You must create a StorageClass referencing ebs.csi.eks.amazonaws.com").
const (
	ebsCSIDriverName      = "ebs.csi.aws.com"
	autoModeEBSDriverName = "ebs.csi.eks.amazonaws.com"
)

// VolumeReleaseTimeout bounds how long removing the EBS CSI driver waits for the cluster's
// EBS volumes to be deleted. A released volume is deleted once it has detached from its
// node, which takes tens of seconds after its pod stops; a claim that nothing deletes keeps
// its volume forever, and the wait ends with an error that names it.
const VolumeReleaseTimeout = 15 * time.Minute

// volumeReleasePoll is how often the wait lists the cluster's PersistentVolumes.
const volumeReleasePoll = 2 * time.Second

// newVolumesReleasedHook is a before-delete hook for the EBS CSI driver's add-on: the add-on
// goes only once every PersistentVolume that the driver would delete (reclaim policy Delete)
// is gone. A claim's volume is deleted asynchronously, by the driver, after its claim is gone
// and the volume has detached; without the driver it never is, and the EBS volume outlives
// the stack. Nothing in Kubernetes makes a deletion wait for that, so the hook does, without
// ordering anything at create time.
//
// The hook reads the cluster through the same kubeconfig the Kubernetes provider uses (with
// the credentials of whoever runs the operation). Delete hooks need the program: `pulumi
// destroy` refuses to start without `--run-program` (or PULUMI_RUN_PROGRAM=true) rather than
// skip them.
func newVolumesReleasedHook(ctx *pulumi.Context, name string, clusterName, kubeconfig pulumi.StringInput, env map[string]string) (*pulumi.ResourceHook, error) {
	target := &clusterAccess{ready: make(chan struct{})}
	// No resource is made here: the hook needs the plain values when it runs. On a destroy the
	// program's registrations resolve from the stack's state, so they are known by then.
	pulumi.All(clusterName, kubeconfig).ApplyT(func(v []any) (string, error) {
		target.set(v[0].(string), v[1].(string))
		return "", nil
	})
	return ctx.RegisterResourceHook(name+"-volumes-released", func(args *pulumi.ResourceHookArgs) error {
		// Not the program's context: that ends when the program has registered everything,
		// and delete hooks run after.
		// On a destroy the kubeconfig is known from the state at once; it is unknown only while
		// the cluster itself is being replaced, which the wait cannot follow.
		known, cancelKnown := context.WithTimeout(context.Background(), time.Minute)
		defer cancelKnown()
		cluster, config, err := target.get(known)
		if err != nil {
			return fmt.Errorf("before removing the EBS CSI driver: the cluster's kubeconfig is not known (is the cluster being replaced?): %w", err)
		}
		if old := args.OldOutputs["clusterName"]; old.IsString() && old.StringValue() != cluster {
			return fmt.Errorf("before removing the EBS CSI driver of cluster %s: the program now reaches cluster %s, so its volumes cannot be checked",
				old.StringValue(), cluster)
		}
		wait, cancel := context.WithTimeout(context.Background(), VolumeReleaseTimeout)
		defer cancel()
		rc, err := restConfig(config, env)
		if err != nil {
			return fmt.Errorf("before removing the EBS CSI driver of cluster %s: %w", cluster, err)
		}
		err = waitForVolumesReleased(wait, rc, volumeReleasePoll, func(msg string) {
			_ = ctx.Log.Info(msg, &pulumi.LogArgs{Ephemeral: true})
		})
		if err != nil {
			return fmt.Errorf("before removing the EBS CSI driver of cluster %s: %w", cluster, err)
		}
		return nil
	}, nil)
}

// clusterAccess is the cluster's name and kubeconfig, once the program has resolved them.
type clusterAccess struct {
	once       sync.Once
	ready      chan struct{}
	name       string
	kubeconfig string
}

func (c *clusterAccess) set(name, kubeconfig string) {
	c.once.Do(func() {
		c.name, c.kubeconfig = name, kubeconfig
		close(c.ready)
	})
}

func (c *clusterAccess) get(ctx context.Context) (string, string, error) {
	select {
	case <-c.ready:
		return c.name, c.kubeconfig, nil
	case <-ctx.Done():
		return "", "", errors.New("not resolved within a minute")
	}
}

// restConfig is the client configuration of a kubeconfig whose credential command runs with
// env on top of this process's environment, found on env's PATH when env has one.
func restConfig(kubeconfig string, env map[string]string) (*rest.Config, error) {
	cfg, err := clientcmd.Load([]byte(kubeconfig))
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, user := range cfg.AuthInfos {
		if user.Exec == nil {
			continue
		}
		for _, k := range names {
			user.Exec.Env = append(user.Exec.Env, clientcmdapi.ExecEnvVar{Name: k, Value: env[k]})
		}
		// The client looks the command up on this process's PATH, not the one it passes on.
		if path, ok := env["PATH"]; ok && !strings.ContainsRune(user.Exec.Command, filepath.Separator) {
			if found := lookPathIn(user.Exec.Command, path); found != "" {
				user.Exec.Command = found
			}
		}
	}
	rc, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	return rc, nil
}

// lookPathIn is the executable file named command in a directory of path, or "".
func lookPathIn(command, path string) string {
	for _, dir := range filepath.SplitList(path) {
		if !filepath.IsAbs(dir) { // as os/exec: never the working directory
			continue
		}
		candidate := filepath.Join(dir, command)
		if info, err := os.Stat(candidate); err == nil && info.Mode().IsRegular() && info.Mode().Perm()&0o111 != 0 {
			return candidate
		}
	}
	return ""
}

// volumeListErrors is how long listing may fail in a row (the API server or the credentials
// briefly unavailable) before the wait gives up.
const volumeListErrors = time.Minute

// waitForVolumesReleased lists the cluster's PersistentVolumes every poll until none is left
// that the EBS CSI driver deletes, or ctx ends. progress hears which volumes it waits on.
func waitForVolumesReleased(ctx context.Context, config *rest.Config, poll time.Duration, progress func(string)) error {
	client, err := rest.HTTPClientFor(config)
	if err != nil {
		return fmt.Errorf("a Kubernetes client: %w", err)
	}
	url := strings.TrimSuffix(config.Host, "/") + "/api/v1/persistentvolumes"
	var left []string // as last listed
	var failingSince time.Time
	for {
		listed, err := driverVolumes(ctx, client, url)
		switch {
		case err == nil && len(listed) == 0:
			return nil
		case err == nil:
			left, failingSince = listed, time.Time{}
			progress("waiting for the EBS CSI driver to delete " + strings.Join(left, ", "))
		case failingSince.IsZero():
			failingSince = time.Now()
		case time.Since(failingSince) > volumeListErrors:
			return fmt.Errorf("listing PersistentVolumes: %w", err)
		}
		select {
		case <-ctx.Done():
			if left == nil {
				return fmt.Errorf("listing PersistentVolumes: %w", err)
			}
			return fmt.Errorf("these EBS volumes were not deleted in time: %s. The driver deletes a volume "+
				"once its PersistentVolumeClaim is gone and it has detached; delete the claims that still hold "+
				"them, or set their reclaim policy to Retain to keep them, and run the operation again",
				strings.Join(left, ", "))
		case <-time.After(poll):
		}
	}
}

// driverVolumes names the PersistentVolumes that the EBS CSI driver deletes when they are
// released (reclaim policy Delete, provisioned by it or migrated to it from the in-tree
// plugin), as "pv (claim ns/name, phase)".
func driverVolumes(ctx context.Context, client *http.Client, url string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		// Without the URL: the cluster's endpoint is part of the secret kubeconfig.
		var uerr *neturl.Error
		if errors.As(err, &uerr) {
			return nil, fmt.Errorf("listing PersistentVolumes: %w", uerr.Err)
		}
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body[:min(len(body), 300)])))
	}
	var list corev1.PersistentVolumeList
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("decoding the PersistentVolume list: %w", err)
	}
	var out []string
	for _, pv := range list.Items {
		ebs := (pv.Spec.CSI != nil && (pv.Spec.CSI.Driver == ebsCSIDriverName || pv.Spec.CSI.Driver == autoModeEBSDriverName)) ||
			pv.Spec.AWSElasticBlockStore != nil
		if !ebs || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
			continue
		}
		claim := "no claim"
		if ref := pv.Spec.ClaimRef; ref != nil {
			claim = "claim " + ref.Namespace + "/" + ref.Name
		}
		out = append(out, fmt.Sprintf("%s (%s, %s)", pv.Name, claim, pv.Status.Phase))
	}
	sort.Strings(out)
	return out, nil
}
