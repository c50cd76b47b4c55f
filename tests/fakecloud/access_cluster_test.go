package fakecloud

import (
	"net/http"
	"strings"
	"testing"

	"github.com/kong-alb-eks/kong-alb-eks/tests/localcluster"
)

// On the real API server (localcluster, KONG_ALB_EKS_CLUSTER_BIN): a principal's `aws eks
// get-token` token gets what EKS would grant it, from the next request after the world changes.
func TestTheLocalAPIServerGrantsWhatEKSWould(t *testing.T) {
	a := &Access{}
	c := localcluster.Start(t, localcluster.Options{Nodes: 1, Access: a})
	w, err := NewWorld(t.TempDir(), ClusterAt(c.Server, c.CAData, c.Token), EnforceAccess())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Bind(w); err != nil {
		t.Fatal(err)
	}
	p := awsOn(t, w)
	p.eksCluster(t, "prod", creatorRole, true)
	token := func(principal string) string {
		t.Helper()
		tok, err := w.Token("prod", principal)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	creator, ci := token(creatorRole), token(ciRole)
	// forbidden checks a request is refused 403 with the authorizer's reason.
	forbidden := func(what string, err error, want string) {
		t.Helper()
		if localcluster.StatusCode(err) != http.StatusForbidden || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want 403 saying %q", what, err, want)
		}
	}

	// The creator administers the cluster.
	if _, err := c.DoAs(creator, http.MethodPost, "/api/v1/namespaces", localcluster.Object{
		"apiVersion": "v1", "kind": "Namespace", "metadata": localcluster.Object{"name": "kong"},
	}); err != nil {
		t.Fatalf("the creator making a namespace: %v", err)
	}
	secret := localcluster.Object{"apiVersion": "v1", "kind": "Secret", "metadata": localcluster.Object{"name": "s"}}
	if _, err := c.DoAs(creator, http.MethodPost, "/api/v1/namespaces/kong/secrets", secret); err != nil {
		t.Fatalf("the creator making a Secret: %v", err)
	}

	// Another principal has nothing until its entry and an association exist.
	_, err = c.DoAs(ci, http.MethodGet, "/api/v1/namespaces/kong/pods", nil)
	forbidden("no entry", err, ciRole+" on cluster prod: no access entry")
	_, assocs := p.entry(t, "prod", ciRole, map[string][]string{ViewPolicy: nil})
	if list, err := c.DoAs(ci, http.MethodGet, "/api/v1/namespaces/kong/pods", nil); err != nil || list["kind"] != "PodList" {
		t.Fatalf("View listing pods: %v %v", list["kind"], err)
	}
	_, err = c.DoAs(ci, http.MethodGet, "/api/v1/namespaces/kong/secrets/s", nil)
	forbidden("View reading a Secret", err, "AmazonEKSViewPolicy on the cluster")

	// Edit in kong only.
	p.mustCreate(t, eksAssociation, "ci-edit", map[string]any{
		"clusterName": "prod", "principalArn": ciRole, "policyArn": policyARNPrefix + EditPolicy,
		"accessScope": map[string]any{"type": "namespace", "namespaces": []any{"kong"}},
	})
	cm := func(ns string) error {
		_, err := c.DoAs(ci, http.MethodPost, "/api/v1/namespaces/"+ns+"/configmaps", localcluster.Object{
			"apiVersion": "v1", "kind": "ConfigMap", "metadata": localcluster.Object{"name": "c"},
		})
		return err
	}
	if err := cm("kong"); err != nil {
		t.Errorf("Edit in kong making a ConfigMap there: %v", err)
	}
	forbidden("Edit in kong making a ConfigMap in default", cm("default"), "AmazonEKSEditPolicy in namespaces kong")

	// Disassociating View revokes it from the next request, the token still authenticated.
	view := assocs[ViewPolicy]
	p.delete(t, eksAssociation, view.name, view.id)
	_, err = c.DoAs(ci, http.MethodGet, "/api/v1/namespaces/default/pods", nil)
	forbidden("View disassociated", err, "none of its access policies (AmazonEKSEditPolicy in namespaces kong)")

	// A token the world did not sign is unknown; the static administrator token still works.
	_, err = c.DoAs(strings.Replace(ci, "k8s-aws-v1.", "k8s-aws-v1.x", 1), http.MethodGet, "/api/v1/namespaces", nil)
	if localcluster.StatusCode(err) != http.StatusUnauthorized {
		t.Errorf("an altered token: got %v, want 401", err)
	}
	if _, err := c.DoAs(c.Token, http.MethodGet, "/api/v1/namespaces/kong/secrets/s", nil); err != nil {
		t.Errorf("the static administrator token: %v", err)
	}
}
