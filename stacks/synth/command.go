package synth

import (
	"flag"
	"fmt"
	"io"
)

// Command is `synth`: it runs the real program under mocks for a stack file and prints the
// desired state, or with --estimate the modelled time from `pulumi up` to a working
// environment (estimate.go). It exits 2 on bad usage and 1 when the program fails (an invalid
// configuration, say), printing the same message a real run would.
func Command(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("synth", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stack := fs.String("stack", "dev", "stack whose Pulumi.<stack>.yaml to read")
	configFile := fs.String("config-file", "", "read this stack config file instead of Pulumi.<stack>.yaml")
	dir := fs.String("dir", ".", "project directory holding the stack files")
	format := fs.String("format", "text", "output format: text (for people) or json (for tools)")
	estimate := fs.Bool("estimate", false, "print the modelled time from 'pulumi up' to a working environment, with its critical path and lower bound, instead of the desired state")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: synth [--stack NAME | --config-file PATH] [--format text|json] [--estimate]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(stderr, "synth: --format must be text or json, got %q\n", *format)
		return 2
	}
	path := *configFile
	if path == "" {
		path = StackFilePath(*dir, *stack)
	}
	file, err := ReadStackFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "synth: %v\n", err)
		return 1
	}
	doc, err := Run(Options{Stack: *stack, Config: file.Config, SecretKeys: file.SecretKeys})
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return 1
	}
	if *estimate {
		err = writeEstimate(stdout, doc, *format, Options{Stack: *stack, Config: file.Config, SecretKeys: file.SecretKeys})
	} else if *format == "json" {
		err = WriteJSON(stdout, doc)
	} else {
		err = WriteText(stdout, doc)
	}
	if err != nil {
		fmt.Fprintf(stderr, "synth: %v\n", err)
		return 1
	}
	return 0
}

// writeEstimate writes the document's modelled time to a working environment; for an EKS Auto
// Mode stack, beside the time the same stack would take with a managed node group.
func writeEstimate(w io.Writer, doc *Document, format string, opts Options) error {
	e, err := EstimateDocument(doc)
	if err != nil {
		return err
	}
	if managed, ok := ManagedCounterpart(opts.Config); ok {
		opts.Config = managed
		other, err := Run(opts)
		if err != nil {
			return fmt.Errorf("the managed-node counterpart of %s: %w", opts.Stack, err)
		}
		oe, err := EstimateDocument(other)
		if err != nil {
			return err
		}
		e.ManagedNodes = &oe.Modelled.Minutes
	}
	if format == "json" {
		return WriteEstimateJSON(w, e)
	}
	return WriteEstimateText(w, e)
}

// ManagedCounterpart is an EKS Auto Mode stack's configuration with a managed node group
// instead (clusterMode managed, the default node group): what the estimate compares Auto Mode
// with. ok is false for a stack that is not in Auto Mode.
func ManagedCounterpart(config map[string]string) (map[string]string, bool) {
	const p = "kong-alb-eks:"
	if config[p+"clusterMode"] != "auto" {
		return nil, false
	}
	out := map[string]string{}
	for k, v := range config {
		switch k {
		case p + "clusterMode", p + "autoNodeArchitecture", p + "autoNodeCapacityType":
		default:
			out[k] = v
		}
	}
	return out, true
}
