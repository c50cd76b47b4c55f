package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The install scripts use the tools a developer already has when they are the pinned versions,
// and build otherwise. Each run here has a PATH without go, so a script that decided to build
// stops at once ("go is not on PATH") instead of building.

// fakeTool writes an executable named name into dir that prints out for any arguments.
func fakeTool(t *testing.T, dir, name, out string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\nprintf '%s\\n' '"+out+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// runScript runs a script of .ci with a cache of its own, PATH set to path (plus the shell's
// own tools, without go) and the extra environment; it returns stdout, stderr and whether it
// exited 0.
func runScript(t *testing.T, script, path string, env ...string) (string, string, bool) {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join("..", ".ci", script))
	cmd.Env = append([]string{"HOME=" + t.TempDir(), "KONG_ALB_EKS_CACHE=" + t.TempDir(),
		"PATH=" + path + ":/usr/bin:/bin"}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if _, exited := err.(*exec.ExitError); err != nil && !exited {
		t.Fatal(err)
	}
	return strings.TrimSpace(stdout.String()), stderr.String(), err == nil
}

func pinnedPulumi(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../.pulumi-version")
	if err != nil {
		t.Fatal(err)
	}
	return "v" + strings.TrimSpace(string(raw))
}

func TestInstallPulumiUsesAnInstalledCLIOfThePinnedVersion(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatal("bash is needed to run the install scripts")
	}
	version := pinnedPulumi(t)

	onPath := t.TempDir()
	fakeTool(t, onPath, "pulumi", version)
	if out, stderr, ok := runScript(t, "install-pulumi.sh", onPath); !ok || out != onPath {
		t.Errorf("a pulumi %s on PATH: printed %q, ok=%v, stderr:\n%s", version, out, ok, stderr)
	}

	named := fakeTool(t, filepath.Join(t.TempDir(), "bin"), "pulumi", version)
	if out, stderr, ok := runScript(t, "install-pulumi.sh", onPath, "KONG_ALB_EKS_PULUMI="+named); !ok || out != filepath.Dir(named) {
		t.Errorf("KONG_ALB_EKS_PULUMI named a pulumi %s: printed %q, ok=%v, stderr:\n%s", version, out, ok, stderr)
	}

	older := t.TempDir()
	fakeTool(t, older, "pulumi", "v3.100.0")
	out, stderr, ok := runScript(t, "install-pulumi.sh", older)
	if ok || out != "" || !strings.Contains(stderr, "not using "+filepath.Join(older, "pulumi")) || !strings.Contains(stderr, "go is not on PATH") {
		t.Errorf("a pulumi of another version on PATH must not be used (the script goes on to build): printed %q, ok=%v, stderr:\n%s", out, ok, stderr)
	}
}

func TestInstallClusterUsesEnvtestBinariesOfThePinnedVersions(t *testing.T) {
	script, err := os.ReadFile("../.ci/install-cluster.sh")
	if err != nil {
		t.Fatal(err)
	}
	pin := func(name string) string {
		_, rest, ok := strings.Cut(string(script), "\n"+name+"=\"")
		v, _, ok2 := strings.Cut(rest, "\"")
		if !ok || !ok2 {
			t.Fatalf("install-cluster.sh pins no %s", name)
		}
		return v
	}
	etcd, kube := pin("ETCD_VERSION"), pin("KUBERNETES_VERSION")

	assets := t.TempDir()
	fakeTool(t, assets, "etcd", "etcd Version: "+strings.TrimPrefix(etcd, "v"))
	fakeTool(t, assets, "kube-apiserver", "Kubernetes "+kube)
	cache := t.TempDir()
	_, stderr, ok := runScript(t, "install-cluster.sh", "", "KUBEBUILDER_ASSETS="+assets, "KONG_ALB_EKS_CACHE="+cache)
	if ok || !strings.Contains(stderr, "go is not on PATH") {
		t.Fatalf("without go the script must stop before building the rest: ok=%v, stderr:\n%s", ok, stderr)
	}
	for _, name := range []string{"etcd", "kube-apiserver"} {
		links, _ := filepath.Glob(filepath.Join(cache, "cluster-*", name))
		if len(links) != 1 {
			t.Errorf("envtest's %s of the pinned version is not in the cache: %v\n%s", name, links, stderr)
			continue
		}
		if target, err := os.Readlink(links[0]); err != nil || target != filepath.Join(assets, name) {
			t.Errorf("%s in the cache is %q (%v), want a link to envtest's", name, target, err)
		}
	}

	other := t.TempDir()
	fakeTool(t, other, "etcd", "etcd Version: 3.5.0")
	fakeTool(t, other, "kube-apiserver", "Kubernetes v1.30.0")
	cache = t.TempDir()
	_, stderr, _ = runScript(t, "install-cluster.sh", "", "KUBEBUILDER_ASSETS="+other, "KONG_ALB_EKS_CACHE="+cache)
	if links, _ := filepath.Glob(filepath.Join(cache, "cluster-*", "*")); len(links) != 0 {
		t.Errorf("envtest binaries of other versions were taken: %v\n%s", links, stderr)
	}
}
