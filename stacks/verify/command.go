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
// --stack reads the outputs with StackOutputs, in the working directory, decrypting nothing.
func Command(args []string, stdout, stderr io.Writer) int {
	return command(args, stdout, stderr, nil, nil)
}

// stackReader reads a stack's outputs for --stack.
type stackReader func(ctx context.Context, stack string) (map[string]any, error)

// readStack is the stackReader of Command: the Pulumi CLI, in the working directory.
func readStack(ctx context.Context, stack string) (map[string]any, error) {
	return StackOutputs(ctx, ".", stack)
}

// command is Command with the stack reader (nil: readStack) and the Checker to start from
// (nil: NewChecker()); the flags override the Checker's MinDaysValid and SourceIP.
func command(args []string, stdout, stderr io.Writer, load stackReader, base *Checker) int {
	if load == nil {
		load = readStack
	}
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stack := fs.String("stack", "", "read the outputs of stack `NAME` with `pulumi stack output --json` (no secrets, no passphrase)")
	outputsFile := fs.String("outputs", "", "read the outputs from `FILE` (JSON, as printed by `pulumi stack output --json`)")
	format := fs.String("format", "text", "report format: text or json")
	timeout := fs.Duration("timeout", DefaultTimeout, "bound on the whole run, DNS retries included")
	minDays := fs.Int("min-days-valid", DefaultMinDaysValid, "fail when a certificate expires within this many `days`")
	sourceIP := fs.String("source-ip", "", "this machine's public `address` as the ALB sees it: decides the Admin API allowlist\n"+
		"checks and whether the ALB admits this machine (albInboundCidrs); default: the address\n"+
		"Kong names when it refuses the Admin API")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: verify (--stack NAME | --outputs FILE) [flags]\n\n"+
			"Checks a deployed stack from the outside: wildcard DNS, HTTP to HTTPS redirect, certificate,\n"+
			"Kong's proxy, Admin API, Kong Manager and the demo app. Exits 1 when a check fails.\n\n"+
			"--stack runs `pulumi stack output --json --stack NAME` in the current directory (the project's):\n"+
			"it needs the Pulumi CLI on PATH, logged in to the stack's backend (PULUMI_BACKEND_URL or\n"+
			"`pulumi login`) with read access to the stack. It reads only the outputs that are not secret and\n"+
			"decrypts nothing, so PULUMI_CONFIG_PASSPHRASE is not needed. --outputs needs nothing but the file.\n\n"+
			"Checks that cannot be made from this machine are skipped: the Admin API's answer from outside\n"+
			"adminAllowedCidrs, and anything through the ALB from outside albInboundCidrs (a connection that\n"+
			"times out counts as outside unless --source-ip or Kong's 403 says where this machine is).\n\nFlags:\n")
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

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	out, err := loadOutputs(ctx, *stack, *outputsFile, load)
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

func loadOutputs(ctx context.Context, stack, file string, load stackReader) (Outputs, error) {
	if stack != "" {
		m, err := load(ctx, stack)
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
