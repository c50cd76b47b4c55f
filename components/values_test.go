package components

import (
	"reflect"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func TestHelmValuesEncoder(t *testing.T) {
	t.Parallel()
	arn := pulumi.String("arn:aws:iam::123456789012:role/x").ToStringOutput()
	type inner struct {
		Annotations map[string]pulumi.StringInput `json:"annotations,omitempty"`
		Replicas    int                           `json:"replicas,omitempty"`
	}
	type values struct {
		Name     string             `json:"name"`
		Empty    string             `json:"empty,omitempty"`
		Zero     int                `json:"zero"`
		Off      enabled            `json:"off"`
		Nil      pulumi.StringInput `json:"nil"`
		NilPtr   *inner             `json:"nilPtr"`
		Inner    inner              `json:"inner"`
		Skipped  string             `json:"-"`
		List     []string           `json:"list,omitempty"`
		internal string
	}
	got, err := helmValues(values{Name: "kong", Inner: inner{Annotations: map[string]pulumi.StringInput{"role": arn}}, Skipped: "x", internal: "y"})
	if err != nil {
		t.Fatal(err)
	}
	want := pulumi.Map{
		"name": pulumi.String("kong"),
		"zero": pulumi.Int(0),
		"off":  pulumi.Map{"enabled": pulumi.Bool(false)},
		"inner": pulumi.Map{
			"annotations": pulumi.Map{"role": arn}, // the Output itself, resolved by the engine later
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("helmValues:\n got %#v\nwant %#v", got, want)
	}
	if _, err := helmValues(struct {
		C chan int `json:"c"`
	}{}); err == nil {
		t.Error("a value Helm cannot hold was accepted")
	}
	if _, err := helmValues("text"); err == nil {
		t.Error("values that are not an object were accepted")
	}
}

func TestTaggedOutputs(t *testing.T) {
	t.Parallel()
	type comp struct {
		pulumi.ResourceState
		URL     pulumi.StringOutput `pulumi:"url"`
		Name    string              `pulumi:"name"`
		Port    int                 `pulumi:"port"`
		Private pulumi.StringOutput
	}
	url := pulumi.String("https://x").ToStringOutput()
	got, err := taggedOutputs(&comp{URL: url, Name: "kong-aws-dp-kong-proxy", Port: 443})
	if err != nil {
		t.Fatal(err)
	}
	want := pulumi.Map{"url": url, "name": pulumi.String("kong-aws-dp-kong-proxy"), "port": pulumi.Int(443)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("outputs %#v, want %#v", got, want)
	}
	type bad struct {
		pulumi.ResourceState
		Ready bool `pulumi:"ready"`
	}
	if _, err := taggedOutputs(&bad{}); err == nil {
		t.Error("an output of an unsupported type was accepted")
	}
	type unset struct {
		pulumi.ResourceState
		Release pulumi.StringInput `pulumi:"release"`
	}
	if _, err := taggedOutputs(&unset{}); err == nil {
		t.Error("an unset output was accepted")
	}
}
