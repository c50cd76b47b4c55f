package fakecloud

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// Main runs the binary as what it is called: pulumi-resource-aws, pulumi-resource-random or aws.
func Main(self string, args []string) error {
	w, err := WorldFromEnv()
	if err != nil {
		return err
	}
	if self == "aws" {
		return awsCLI(w, args)
	}
	name, ok := strings.CutPrefix(self, "pulumi-resource-")
	if !ok || (name != "aws" && name != "random") {
		return fmt.Errorf("fakecloud: run as %q; install it as pulumi-resource-aws, pulumi-resource-random or aws", self)
	}
	version, err := installedVersion(name)
	if err != nil {
		return err
	}
	p := &Provider{Name: name, Version: version, World: w}
	return provider.Main(name, func(*provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return plugin.NewProviderServer(p), nil
	})
}

// installedVersion reads the version from the plugin's directory, resource-NAME-vX.Y.Z, which
// is what the engine matched to the program's SDK.
func installedVersion(name string) (semver.Version, error) {
	exe, err := os.Executable()
	if err != nil {
		return semver.Version{}, err
	}
	dir := filepath.Base(filepath.Dir(exe))
	v, ok := strings.CutPrefix(dir, "resource-"+name+"-v")
	if !ok {
		return semver.Version{}, fmt.Errorf("fakecloud: %s is not in a plugin directory resource-%s-vVERSION", exe, name)
	}
	return semver.Parse(v)
}

// awsCLI is `aws eks get-token --cluster-name C --region R [--output json]`: an ExecCredential
// with a token, as the real CLI prints for the Kubernetes client's exec plugin. The token is the
// endpoint's static administrator token, or, in a world that enforces access, one of the caller
// (PrincipalEnv) for the cluster (principals.go).
func awsCLI(w *World, args []string) error {
	if len(args) < 2 || args[0] != "eks" || args[1] != "get-token" {
		return fmt.Errorf("fakecloud aws: only `aws eks get-token` is served, got %q", strings.Join(args, " "))
	}
	fs := flag.NewFlagSet("get-token", flag.ContinueOnError)
	cluster := fs.String("cluster-name", "", "")
	region := fs.String("region", "", "")
	_ = fs.String("output", "json", "")
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	if *cluster == "" || *region == "" {
		return fmt.Errorf("fakecloud aws: get-token needs --cluster-name and --region, got %q", strings.Join(args, " "))
	}
	ep, err := w.Endpoint()
	if err != nil {
		return err
	}
	enforced, err := w.EnforcesAccess()
	if err != nil {
		return err
	}
	now, token, inputs := time.Now(), ep.Token, map[string]any{"region": *region}
	if enforced {
		caller, err := CallerPrincipal()
		if err != nil {
			return err
		}
		if token, err = w.token(*cluster, caller, *region, now); err != nil {
			return err
		}
		inputs["principal"] = caller
	}
	if err := w.Record(Call{Provider: "aws-cli", Method: "get-token", ID: *cluster, Inputs: inputs}); err != nil {
		return err
	}
	// The token expires a minute before the authenticator stops taking it, as the real one.
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1beta1", "spec": map[string]any{},
		"status": map[string]any{
			"expirationTimestamp": now.UTC().Add(tokenLifetime - time.Minute).Format(time.RFC3339),
			"token":               token,
		},
	})
}
