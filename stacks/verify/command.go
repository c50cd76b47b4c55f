package verify

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"
)

// Exit codes of Command.
const (
	ExitOK    = 0 // every check passed or was skipped
	ExitFail  = 1 // at least one check failed
	ExitUsage = 2 // bad flags, or the outputs could not be read
)

// DefaultTimeout bounds a whole run: long enough for the DNS retries of a fresh deployment.
const DefaultTimeout = 10 * time.Minute

// Command runs `verify` with args (the arguments after "verify"), writes the report to stdout
// and problems to stderr, and returns the process exit code (ExitOK, ExitFail, ExitUsage).
// loadStackOutputs reads a stack's outputs for --stack (the Automation API); it may be nil
// when only --outputs is supported.
func Command(args []string, stdout, stderr io.Writer, loadStackOutputs func(stack string) (map[string]any, error)) int {
	return command(args, stdout, stderr, loadStackOutputs, nil)
}

// command is Command with the Checker to start from (nil: NewChecker()); the flags override
// its MinDaysValid and SourceIP.
func command(args []string, stdout, stderr io.Writer, load func(string) (map[string]any, error), base *Checker) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stack := fs.String("stack", "", "read the outputs of stack `NAME` (through the Automation API)")
	outputsFile := fs.String("outputs", "", "read the outputs from `FILE` (JSON, as printed by `pulumi stack output --json`)")
	format := fs.String("format", "text", "report format: text or json")
	timeout := fs.Duration("timeout", DefaultTimeout, "bound on the whole run, DNS retries included")
	minDays := fs.Int("min-days-valid", DefaultMinDaysValid, "fail when a certificate expires within this many `days`")
	sourceIP := fs.String("source-ip", "", "this machine's public `address` as the ALB sees it; enables the Admin API allowlist check")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: verify (--stack NAME | --outputs FILE) [flags]\n\n"+
			"Checks a deployed stack from the outside: wildcard DNS, HTTP to HTTPS redirect, certificate,\n"+
			"Kong's proxy, Admin API, Kong Manager and the demo app. Exits 1 when a check fails.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "verify: "+format+"\n", a...)
		fs.Usage()
		return ExitUsage
	}
	if fs.NArg() > 0 {
		return usage("unexpected arguments: %q", fs.Args())
	}
	if (*stack == "") == (*outputsFile == "") {
		return usage("give exactly one of --stack and --outputs")
	}
	if *format != "text" && *format != "json" {
		return usage("--format must be text or json, got %q", *format)
	}
	if *timeout <= 0 {
		return usage("--timeout must be positive, got %s", *timeout)
	}
	if *minDays < 0 {
		return usage("--min-days-valid must not be negative, got %d", *minDays)
	}
	var src netip.Addr
	if *sourceIP != "" {
		var err error
		if src, err = netip.ParseAddr(*sourceIP); err != nil {
			return usage("--source-ip: expected an IP address, got %q", *sourceIP)
		}
		src = src.Unmap()
	}

	out, err := loadOutputs(*stack, *outputsFile, load)
	if err != nil {
		fmt.Fprintf(stderr, "verify: %v\n", err)
		return ExitUsage
	}

	c := NewChecker()
	if base != nil {
		cp := *base
		c = &cp
	}
	c.MinDaysValid = *minDays
	c.SourceIP = src
	if *format == "text" {
		c.OnResult = func(r Result) { fmt.Fprintln(stdout, FormatResult(r)) }
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	start := time.Now()
	results := c.Run(ctx, out)
	rep := NewReport(*stack, out.Domain, results, time.Since(start))
	if *format == "json" {
		if err := rep.WriteJSON(stdout); err != nil {
			fmt.Fprintf(stderr, "verify: %v\n", err)
			return ExitUsage
		}
	} else {
		fmt.Fprintln(stdout, rep.SummaryLine())
	}
	if !rep.OK {
		return ExitFail
	}
	return ExitOK
}

func loadOutputs(stack, file string, load func(string) (map[string]any, error)) (Outputs, error) {
	if stack != "" {
		if load == nil {
			return Outputs{}, errors.New("--stack is not available in this build: use --outputs FILE")
		}
		m, err := load(stack)
		if err != nil {
			return Outputs{}, fmt.Errorf("reading the outputs of stack %q: %w", stack, err)
		}
		o, err := ParseOutputs(m)
		if err != nil {
			return Outputs{}, fmt.Errorf("stack %q: %w", stack, err)
		}
		return o, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return Outputs{}, fmt.Errorf("reading --outputs: %w", err)
	}
	o, err := ParseOutputsJSON(data)
	if err != nil {
		return Outputs{}, fmt.Errorf("%s: %w", file, err)
	}
	return o, nil
}
