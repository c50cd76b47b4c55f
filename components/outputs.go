package components

import (
	"fmt"
	"reflect"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// registerOutputs registers a component's outputs from its struct: every field tagged
// `pulumi:"name"` is an output of that name. A field is a pulumi.Input (an output of a child,
// or a value), or a plain string or int known when the component was built.
func registerOutputs(ctx *pulumi.Context, c pulumi.ComponentResource) error {
	outs, err := taggedOutputs(c)
	if err != nil {
		return err
	}
	return ctx.RegisterResourceOutputs(c, outs)
}

func taggedOutputs(c any) (pulumi.Map, error) {
	v := reflect.ValueOf(c)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("outputs of %T: expected a pointer to a component struct", c)
	}
	v = v.Elem()
	outs := pulumi.Map{}
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		name := f.Tag.Get("pulumi")
		if name == "" || !f.IsExported() {
			continue
		}
		fv := v.Field(i)
		switch {
		case f.Type.Implements(inputType):
			if (fv.Kind() == reflect.Interface || fv.Kind() == reflect.Pointer) && fv.IsNil() {
				return nil, fmt.Errorf("output %s of %s is not set", name, v.Type().Name())
			}
			outs[name] = fv.Interface().(pulumi.Input)
		case f.Type.Kind() == reflect.String:
			outs[name] = pulumi.String(fv.String())
		case f.Type.Kind() == reflect.Int:
			outs[name] = pulumi.Int(int(fv.Int()))
		default:
			return nil, fmt.Errorf("output %s of %s has type %s: expected a pulumi.Input, string or int", name, v.Type().Name(), f.Type)
		}
	}
	return outs, nil
}
