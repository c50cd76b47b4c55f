package components

import (
	"fmt"
	"reflect"
	"strings"

	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ChartSource says where a Helm chart comes from: a chart name in an HTTP(S) repository, or
// (Repository empty) an oci:// reference or a local chart path in Chart.
type ChartSource struct {
	Chart      string
	Repository string
	Version    string
}

// releaseArgs is the common part of every Helm release here: the chart, pinned, and Helm's
// wait for the release's workloads (so that dependents can rely on them being ready).
func releaseArgs(name, namespace string, src ChartSource, values any, timeoutSeconds int) (*helmv3.ReleaseArgs, error) {
	v, err := helmValues(values)
	if err != nil {
		return nil, fmt.Errorf("helm values of %s: %w", name, err)
	}
	args := &helmv3.ReleaseArgs{
		Name:      pulumi.String(name),
		Namespace: pulumi.String(namespace),
		Chart:     pulumi.String(src.Chart),
		Version:   pulumi.String(src.Version),
		Values:    v,
		// Helm waits for the release's Deployments to be ready and for its hook Jobs (the
		// Kong migrations, cert-manager's API check) to finish.
		SkipAwait:   pulumi.Bool(false),
		WaitForJobs: pulumi.Bool(true),
		Timeout:     pulumi.Int(timeoutSeconds),
		// A failed install is rolled back rather than left half-applied.
		Atomic: pulumi.Bool(true),
		// A failed upgrade deletes the resources it had created, so a retry starts clean.
		CleanupOnFail: pulumi.Bool(true),
		// Helm would create the chart's crds/ on install and never upgrade them: ChartCRDs
		// applies them instead, and the release waits for it. Charts that template their CRDs
		// (cert-manager's crds.enabled) are not affected.
		SkipCrds: pulumi.Bool(true),
	}
	if src.Repository != "" {
		args.RepositoryOpts = helmv3.RepositoryOptsArgs{Repo: pulumi.String(src.Repository)}
	}
	return args, nil
}

// enabled is the `{enabled: <bool>}` switch that many charts' values use.
type enabled struct {
	Enabled bool `json:"enabled"`
}

// helmValues turns a typed values struct into Helm values. Fields are named by their json
// tag; `omitempty` drops zero values; pulumi.Input fields (outputs of other resources) are
// kept as they are, so values can carry ARNs and IDs. Maps and slices are converted element
// by element.
func helmValues(v any) (pulumi.Map, error) {
	out, err := toValue(reflect.ValueOf(v))
	if err != nil {
		return nil, err
	}
	m, ok := out.(pulumi.Map)
	if !ok {
		return nil, fmt.Errorf("values must be a struct or map, got %T", v)
	}
	return m, nil
}

var inputType = reflect.TypeOf((*pulumi.Input)(nil)).Elem()

func toValue(v reflect.Value) (pulumi.Input, error) {
	if !v.IsValid() {
		return nil, nil
	}
	if v.Type().Implements(inputType) && v.Kind() != reflect.Map && v.Kind() != reflect.Slice {
		if (v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer) && v.IsNil() {
			return nil, nil
		}
		return v.Interface().(pulumi.Input), nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil, nil
		}
		return toValue(v.Elem())
	case reflect.Struct:
		m := pulumi.Map{}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fv := v.Field(i)
			if strings.Contains(opts, "omitempty") && fv.IsZero() {
				continue
			}
			item, err := toValue(fv)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if item != nil {
				m[name] = item
			}
		}
		return m, nil
	case reflect.Map:
		m := pulumi.Map{}
		iter := v.MapRange()
		for iter.Next() {
			item, err := toValue(iter.Value())
			if err != nil {
				return nil, err
			}
			if item != nil {
				m[fmt.Sprint(iter.Key().Interface())] = item
			}
		}
		return m, nil
	case reflect.Slice, reflect.Array:
		a := pulumi.Array{}
		for i := 0; i < v.Len(); i++ {
			item, err := toValue(v.Index(i))
			if err != nil {
				return nil, err
			}
			a = append(a, item)
		}
		return a, nil
	case reflect.String:
		return pulumi.String(v.String()), nil
	case reflect.Bool:
		return pulumi.Bool(v.Bool()), nil
	case reflect.Int, reflect.Int32, reflect.Int64:
		return pulumi.Int(int(v.Int())), nil
	case reflect.Float64, reflect.Float32:
		return pulumi.Float64(v.Float()), nil
	}
	return nil, fmt.Errorf("unsupported value of type %s", v.Type())
}
