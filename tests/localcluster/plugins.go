package localcluster

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// KubernetesPluginVersion is the version the program's SDK (go.mod: pulumi-kubernetes/sdk/v4
// v4.33.0) asks the engine for; the plugin built here is the code of 4.25.0
// (.ci/install-kubernetes-provider.sh), which the engine accepts with a warning.
const KubernetesPluginVersion = "v4.33.0"

// InstallPlugin puts binary where an engine whose PULUMI_HOME is home finds the resource
// provider name at version (a "v" version), so it never downloads one.
func InstallPlugin(home, name, version, binary string) error {
	return Install(binary, filepath.Join(home, "plugins", "resource-"+name+"-"+version, "pulumi-resource-"+name))
}

// Install puts the binary src at path: a hard link, else a copy. Not a symlink: a binary that
// reads its own location (the fake cloud takes its version from its directory) would see the
// link's target.
func Install(src, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.Link(src, path); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return fmt.Errorf("copying %s to %s: %w", src, path, err)
	}
	return out.Close()
}
