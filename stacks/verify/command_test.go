package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

func writeOutputs(t *testing.T, m map[string]any) string {
	t.Helper()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "outputs.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func noLoader(context.Context, string) (map[string]any, error) {
	return nil, errors.New("the loader must not be called")
}

func TestCommandUsageErrors(t *testing.T) {
	file := writeOutputs(t, healthyOutputs())
	cases := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"neither", nil, "give exactly one of --stack and --outputs"},
		{"both", []string{"--stack", "dev", "--outputs", file}, "give exactly one of --stack and --outputs"},
		{"format", []string{"--outputs", file, "--format", "yaml"}, `--format must be text or json, got "yaml"`},
		{"source ip", []string{"--outputs", file, "--source-ip", "my-laptop"}, `--source-ip: expected an IP address, got "my-laptop"`},
		{"min days", []string{"--outputs", file, "--min-days-valid", "-1"}, "--min-days-valid must not be negative"},
		{"timeout", []string{"--outputs", file, "--timeout", "0s"}, "--timeout must be positive"},
		{"positional", []string{"--outputs", file, "dev"}, "unexpected arguments"},
		{"unknown flag", []string{"--outputs", file, "--verbose"}, "flag provided but not defined: -verbose"},
		{"missing file", []string{"--outputs", filepath.Join(t.TempDir(), "nope.json")}, "reading --outputs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := command(tc.args, &stdout, &stderr, noLoader, nil)
			if code != ExitUsage {
				t.Errorf("exit %d, want %d", code, ExitUsage)
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tc.stderr)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout not empty: %q", stdout.String())
			}
		})
	}
}

func TestCommandHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Command([]string{"-h"}, &stdout, &stderr); code != ExitOK {
		t.Errorf("exit %d, want 0", code)
	}
	for _, f := range []string{
		"--stack NAME | --outputs FILE", "-source-ip", "-min-days-valid", "-format", "-timeout",
		// What --stack needs, and what it does not.
		"`pulumi stack output --json --stack NAME`", "Pulumi CLI on PATH", "PULUMI_CONFIG_PASSPHRASE is not needed",
		"albInboundCidrs", "adminAllowedCidrs",
	} {
		if !strings.Contains(stderr.String(), f) {
			t.Errorf("usage does not mention %q:\n%s", f, stderr.String())
		}
	}
}

func TestCommandOutputsProblems(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	noDomain := healthyOutputs()
	delete(noDomain, "domain")
	cases := []struct {
		name   string
		args   []string
		load   stackReader
		stderr string
	}{
		{"invalid JSON", []string{"--outputs", bad}, noLoader, "expected a JSON object"},
		{"no domain", []string{"--outputs", writeOutputs(t, noDomain)}, noLoader, `"domain" is missing`},
		{"loader error", []string{"--stack", "dev"}, func(context.Context, string) (map[string]any, error) {
			return nil, errors.New("no stack named 'dev' found")
		}, `reading the outputs of stack "dev": no stack named 'dev' found`},
		{"stack without domain", []string{"--stack", "dev"}, func(context.Context, string) (map[string]any, error) {
			return map[string]any{}, nil
		}, `stack "dev": stack outputs: "domain" is missing`},
		{"invalid albInboundCidrs", []string{"--stack", "dev"}, func(context.Context, string) (map[string]any, error) {
			return map[string]any{"domain": testDomain, "albInboundCidrs": []any{"10.0.0.0/33"}}, nil
		}, `stack "dev": stack outputs: "albInboundCidrs": netip.ParsePrefix("10.0.0.0/33")`},
	}
	// Should outputs parse after all, the checks fail fast instead of resolving for real.
	quick := &Checker{Resolver: &fakeResolver{}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := command(tc.args, &stdout, &stderr, tc.load, quick); code != ExitUsage {
				t.Errorf("exit %d, want %d", code, ExitUsage)
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tc.stderr)
			}
		})
	}
}

// jsonReport decodes the JSON report loosely, to assert its shape rather than Go's view of it.
func jsonReport(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, b)
	}
	return m
}

func keys(m map[string]any) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

func TestCommandStackJSONHealthy(t *testing.T) {
	e := start(t, deployment{})
	var asked []string
	load := func(_ context.Context, stack string) (map[string]any, error) {
		asked = append(asked, stack)
		return e.outputs, nil
	}
	var stdout, stderr bytes.Buffer
	code := command([]string{"--stack", "dev", "--format", "json", "--source-ip", insideIP}, &stdout, &stderr, load, e.checker)
	if code != ExitOK {
		t.Errorf("exit %d, want 0; stderr: %s\n%s", code, stderr.String(), stdout.String())
	}
	if !slices.Equal(asked, []string{"dev"}) {
		t.Errorf("loader asked for %v, want [dev]", asked)
	}
	m := jsonReport(t, stdout.Bytes())
	if got, want := keys(m), []string{"domain", "ok", "results", "stack", "summary"}; !slices.Equal(got, want) {
		t.Errorf("report keys %v, want %v", got, want)
	}
	if m["stack"] != "dev" || m["domain"] != testDomain || m["ok"] != true {
		t.Errorf("stack/domain/ok: %v %v %v", m["stack"], m["domain"], m["ok"])
	}
	sum, _ := m["summary"].(map[string]any)
	if got, want := keys(sum), []string{"durationMs", "fail", "pass", "skip"}; !slices.Equal(got, want) {
		t.Errorf("summary keys %v, want %v", got, want)
	}
	if sum["pass"] != float64(7) || sum["fail"] != float64(0) || sum["skip"] != float64(1) {
		t.Errorf("summary %v, want 7 pass, 0 fail, 1 skip", sum)
	}
	results, _ := m["results"].([]any)
	if len(results) != len(CheckNames) {
		t.Fatalf("%d results, want %d", len(results), len(CheckNames))
	}
	for i, r := range results {
		rm, _ := r.(map[string]any)
		if got, want := keys(rm), []string{"detail", "durationMs", "name", "status"}; !slices.Equal(got, want) {
			t.Errorf("result %d keys %v, want %v", i, got, want)
		}
		if rm["name"] != CheckNames[i] {
			t.Errorf("result %d is %v, want %s", i, rm["name"], CheckNames[i])
		}
		if _, ok := rm["durationMs"].(float64); !ok {
			t.Errorf("result %d durationMs is %T", i, rm["durationMs"])
		}
	}
	// The --source-ip flag reached the checker: inside the allowlist, refusal is untestable.
	if rm := results[5].(map[string]any); rm["status"] != "skip" || !strings.Contains(rm["detail"].(string), "inside adminAllowedCidrs") {
		t.Errorf("admin-api-allowlist: %v", rm)
	}
	// The report round-trips into Go types.
	var rep Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || len(rep.Results) != len(CheckNames) || !rep.OK {
		t.Errorf("Report round trip: %v %+v", err, rep)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr: %s", stderr.String())
	}
}

func TestCommandOutputsFileTextFailure(t *testing.T) {
	e := start(t, deployment{noRedirect: true, demoStatus: 503})
	file := writeOutputs(t, e.outputs)
	var stdout, stderr bytes.Buffer
	code := command([]string{"--outputs", file}, &stdout, &stderr, noLoader, e.checker)
	if code != ExitFail {
		t.Errorf("exit %d, want %d\n%s", code, ExitFail, stdout.String())
	}
	lines := strings.Split(strings.TrimRight(stdout.String(), "\n"), "\n")
	if len(lines) != len(CheckNames)+1 {
		t.Fatalf("%d lines, want one per check and a summary:\n%s", len(lines), stdout.String())
	}
	for i, name := range CheckNames {
		f := strings.Fields(lines[i])
		if len(f) < 3 || (f[0] != "PASS" && f[0] != "FAIL" && f[0] != "SKIP") || f[1] != name {
			t.Errorf("line %d %q is not \"STATUS %s  detail\"", i, lines[i], name)
		}
	}
	for _, want := range []string{"FAIL https-redirect ", "FAIL demo-app ", "PASS admin-api "} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "FAILED: 5 passed, 2 failed, 1 skipped in ") {
		t.Errorf("summary %q", last)
	}
}

func TestCommandJSONFailureStillJSON(t *testing.T) {
	e := start(t, deployment{wildcardErr: notFound("x")})
	var stdout, stderr bytes.Buffer
	code := command([]string{"--outputs", writeOutputs(t, e.outputs), "--format=json"}, &stdout, &stderr, noLoader, e.checker)
	if code != ExitFail {
		t.Errorf("exit %d, want %d", code, ExitFail)
	}
	m := jsonReport(t, stdout.Bytes())
	if m["ok"] != false {
		t.Errorf("ok = %v", m["ok"])
	}
	if _, has := m["stack"]; has {
		t.Errorf("stack present without --stack: %v", m["stack"])
	}
	if sum := m["summary"].(map[string]any); sum["fail"] != float64(1) || sum["skip"] != float64(7) {
		t.Errorf("summary %v", sum)
	}
}

func TestCommandMinDaysValidFlag(t *testing.T) {
	e := start(t, deployment{cert: &pkiOnce().expiring})
	file := writeOutputs(t, e.outputs)
	var stdout, stderr bytes.Buffer
	if code := command([]string{"--outputs", file}, &stdout, &stderr, noLoader, e.checker); code != ExitFail {
		t.Errorf("default --min-days-valid 14: exit %d, want 1\n%s", code, stdout.String())
	}
	stdout.Reset()
	if code := command([]string{"--outputs", file, "--min-days-valid", "3"}, &stdout, &stderr, noLoader, e.checker); code != ExitOK {
		t.Errorf("--min-days-valid 3: exit %d, want 0\n%s", code, stdout.String())
	}
	if e.checker.MinDaysValid != DefaultMinDaysValid {
		t.Error("command modified the Checker it was given")
	}
}

func TestCommandSourceIPFlag(t *testing.T) {
	e := start(t, deployment{adminForbidden: true})
	var stdout, stderr bytes.Buffer
	code := command([]string{"--outputs", writeOutputs(t, e.outputs), "--source-ip", outsideIP}, &stdout, &stderr, noLoader, e.checker)
	if code != ExitOK {
		t.Errorf("exit %d, want 0\n%s", code, stdout.String())
	}
	if !strings.Contains(stdout.String(), "PASS admin-api-allowlist") {
		t.Errorf("allowlist check did not pass:\n%s", stdout.String())
	}
}

func TestParseOutputs(t *testing.T) {
	o, err := ParseOutputsJSON([]byte(`{
		"domain": "Example.COM.",
		"albHostname": "k8s-x.us-east-1.elb.amazonaws.com",
		"kubeconfig": "[secret]",
		"demoUrl": "[secret]",
		"kongAdminApiUrl": "https://kong.example.com/api",
		"adminAllowedCidrs": ["203.0.113.0/24", "2001:db8::/32", "not-a-cidr"],
		"plainHttpAllowed": "true",
		"chartVersions": {"kong": "2.52.0"}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if o.Domain != "example.com" || o.DemoURL != "" || !o.PlainHTTPAllowed || o.KongAdminAPIURL != "https://kong.example.com/api" {
		t.Errorf("parsed %+v", o)
	}
	if got := prefixes(o.AdminAllowedCIDRs); got != "203.0.113.0/24, 2001:db8::/32" {
		t.Errorf("cidrs %s", got)
	}
	if !reflect.DeepEqual(o.InvalidAdminCIDRs, []string{"not-a-cidr"}) {
		t.Errorf("invalid cidrs %v", o.InvalidAdminCIDRs)
	}

	// Other encodings of the list; a secret list is absent.
	for in, want := range map[string]string{
		`"10.0.0.0/8, 192.168.0.0/16"`:    "10.0.0.0/8, 192.168.0.0/16",
		`"[\"10.0.0.0/8\"]"`:              "10.0.0.0/8",
		`"[secret]"`:                      "",
		`null`:                            "",
		`["0.0.0.0/0"]`:                   "0.0.0.0/0",
		`["192.168.1.7/16"]`:              "192.168.0.0/16",
		`["10.0.0.0/8", "2001:db8::/32"]`: "10.0.0.0/8, 2001:db8::/32",
	} {
		o, err := ParseOutputsJSON([]byte(`{"domain":"example.com","adminAllowedCidrs":` + in + `}`))
		if err != nil || prefixes(o.AdminAllowedCIDRs) != want {
			t.Errorf("%s: got %q, %v; want %q", in, prefixes(o.AdminAllowedCIDRs), err, want)
		}
	}
	if o, err := ParseOutputs(map[string]any{"domain": "example.com", "adminAllowedCidrs": []string{"10.0.0.0/8"}}); err != nil || len(o.AdminAllowedCIDRs) != 1 {
		t.Errorf("[]string: %+v %v", o, err)
	}

	for _, bad := range []string{
		`[]`, `null`, `{}`, `{"domain":"[secret]"}`, `{"domain":42}`,
		`{"domain":"example.com","plainHttpAllowed":"maybe"}`,
		`{"domain":"example.com","adminAllowedCidrs":[1,2]}`,
		`{"domain":"example.com","adminAllowedCidrs":{"a":"b"}}`,
	} {
		if _, err := ParseOutputsJSON([]byte(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestAdminOpen(t *testing.T) {
	for in, want := range map[string]bool{
		`[]`: true, `["0.0.0.0/0"]`: true, `["::/0"]`: true, `["10.0.0.0/8","0.0.0.0/0"]`: true,
		`["10.0.0.0/8"]`: false, `["203.0.113.7/32"]`: false,
	} {
		o, err := ParseOutputsJSON([]byte(`{"domain":"example.com","adminAllowedCidrs":` + in + `}`))
		if err != nil {
			t.Fatal(err)
		}
		if got, why := o.adminOpen(); got != want {
			t.Errorf("%s: open %v (%s), want %v", in, got, why, want)
		}
	}
}
