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
		err = writeEstimate(stdout, doc, *format)
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

// writeEstimate writes the document's modelled time to a working environment.
func writeEstimate(w io.Writer, doc *Document, format string) error {
	e, err := EstimateDocument(doc)
	if err != nil {
		return err
	}
	if format == "json" {
		return WriteEstimateJSON(w, e)
	}
	return WriteEstimateText(w, e)
}
