package components

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// pv is a PersistentVolume as the API server lists it.
func pv(name, driver, reclaim, claim string) map[string]any {
	spec := map[string]any{"persistentVolumeReclaimPolicy": reclaim}
	if driver == "in-tree" {
		spec["awsElasticBlockStore"] = map[string]any{"volumeID": "vol-1"}
	} else {
		spec["csi"] = map[string]any{"driver": driver, "volumeHandle": "vol-" + name}
	}
	if ns, n, ok := strings.Cut(claim, "/"); ok {
		spec["claimRef"] = map[string]any{"namespace": ns, "name": n}
	}
	return map[string]any{"metadata": map[string]any{"name": name}, "spec": spec, "status": map[string]any{"phase": "Released"}}
}

// volumeAPI answers GET /api/v1/persistentvolumes over TLS with each list in turn (the last
// one from then on), and checks the bearer token.
func volumeAPI(t *testing.T, token string, lists ...[]map[string]any) *httptest.Server {
	t.Helper()
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/persistentvolumes" {
			http.NotFound(w, r)
			return
		}
		if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		items := lists[min(calls, len(lists)-1)]
		calls++
		mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"kind": "PersistentVolumeList", "apiVersion": "v1", "items": items})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// insecure is a client configuration for a test server, with no credentials.
func insecure(srv *httptest.Server) *rest.Config {
	return &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
}

// The wait is for the volumes the EBS CSI driver deletes (its own and migrated in-tree EBS
// volumes, reclaim policy Delete), not for retained ones nor another driver's.
func TestVolumeWaitIsForWhatTheDriverDeletes(t *testing.T) {
	others := []map[string]any{pv("kept", ebsCSIDriverName, "Retain", "kong/kept"), pv("efs", "efs.csi.aws.com", "Delete", "app/shared")}
	srv := volumeAPI(t, "",
		append([]map[string]any{pv("pg", ebsCSIDriverName, "Delete", "kong/data-kong-aws-cp-postgresql-0"), pv("old", "in-tree", "Delete", "")}, others...),
		others)
	var heard []string
	err := waitForVolumesReleased(context.Background(), insecure(srv), time.Millisecond, func(msg string) { heard = append(heard, msg) })
	if err != nil {
		t.Fatal(err)
	}
	want := "waiting for the EBS CSI driver to delete old (no claim, Released), pg (claim kong/data-kong-aws-cp-postgresql-0, Released)"
	if len(heard) != 1 || heard[0] != want {
		t.Errorf("progress %q, want [%q]", heard, want)
	}
}

// A volume that is never deleted ends the wait with an error that names it and its claim.
func TestVolumeWaitEndsNamingWhatIsLeft(t *testing.T) {
	srv := volumeAPI(t, "", []map[string]any{pv("pg", ebsCSIDriverName, "Delete", "kong/data-0")})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := waitForVolumesReleased(ctx, insecure(srv), time.Millisecond, func(string) {})
	if err == nil || !strings.Contains(err.Error(), "pg (claim kong/data-0, Released)") {
		t.Errorf("error %v, want one naming pg and its claim", err)
	}
}

// The kubeconfig's credential command runs with the operation's environment: found on its
// PATH, with its variables set, as the CLI's plugins would run it.
func TestVolumeWaitGetsTokensAsTheOperation(t *testing.T) {
	bin := t.TempDir()
	script := "#!/bin/sh\n" +
		`printf '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","status":{"token":"%s-token"}}' "$AWS_PROFILE"` + "\n"
	if err := os.WriteFile(filepath.Join(bin, "aws"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := volumeAPI(t, "ops-token", nil)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	// Client-go gives credentials only to a server it reaches over TLS.
	kubeconfig, err := Kubeconfig(srv.URL, base64.StdEncoding.EncodeToString(ca), "kong", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := restConfig(kubeconfig, map[string]string{"PATH": bin, "AWS_PROFILE": "ops"})
	if err != nil {
		t.Fatal(err)
	}
	if rc.ExecProvider == nil || rc.ExecProvider.Command != filepath.Join(bin, "aws") {
		t.Fatalf("credential command %+v, want the aws on the operation's PATH", rc.ExecProvider)
	}
	if err := waitForVolumesReleased(context.Background(), rc, time.Millisecond, func(string) {}); err != nil {
		t.Errorf("listing with the operation's credentials: %v", err)
	}
}
