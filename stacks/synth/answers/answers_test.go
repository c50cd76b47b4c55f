package answers

import (
	"errors"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// A type or function the answers do not know is an error naming it, never a made-up answer.
func TestUnknownTypesAndFunctionsAreErrorsNamingThem(t *testing.T) {
	c := Cloud{Region: "eu-west-1"}
	_, _, err := c.Resource("aws:rds/dbProxy:DbProxy", "db", resource.PropertyMap{})
	var unknown *UnknownError
	if !errors.As(err, &unknown) || !strings.Contains(err.Error(), "aws:rds/dbProxy:DbProxy") {
		t.Errorf("an unknown resource type answered %v", err)
	}
	if _, err := c.Invoke("aws:rds/getInstance:getInstance", resource.PropertyMap{}); err == nil || !strings.Contains(err.Error(), "aws:rds/getInstance:getInstance") {
		t.Errorf("an unknown function answered %v", err)
	}
}

// An EKS cluster's endpoint comes from ClusterEndpoint when set: the test plugins point it at
// the local control plane.
func TestClusterEndpointOverride(t *testing.T) {
	c := Cloud{Region: "eu-west-1", ClusterEndpoint: func(name string) Endpoint {
		return Endpoint{URL: "https://127.0.0.1:6443", CAData: "Q0E="}
	}}
	_, state, err := c.Resource("aws:eks/cluster:Cluster", "cluster", resource.NewPropertyMapFromMap(map[string]any{"name": "dev"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := String(state, "endpoint"); got != "https://127.0.0.1:6443" {
		t.Errorf("endpoint %q", got)
	}
	if got := String(state["certificateAuthority"].ObjectValue(), "data"); got != "Q0E=" {
		t.Errorf("CA %q", got)
	}
}
