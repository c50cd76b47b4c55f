package testkit

import (
	"os"
	"path/filepath"
	"testing"
)

// ChartsDir is the directory of the real upstream charts (kong-3.4.1/, kong-3.3.0/ and the
// others): KONG_ALB_EKS_CHARTS, else ../shared/charts beside the checkout whose root is
// repoRoot. It fails the test when the charts are not there.
func ChartsDir(t testing.TB, repoRoot string) string {
	t.Helper()
	dir := os.Getenv("KONG_ALB_EKS_CHARTS")
	if dir == "" {
		dir = filepath.Join(repoRoot, "..", "shared", "charts")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(abs, "kong-3.4.1", "Chart.yaml")); err != nil {
		t.Fatalf("the real charts are not in %s (set KONG_ALB_EKS_CHARTS to their directory): %v", abs, err)
	}
	return abs
}
