package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Status is the verdict of one check.
type Status string

// Verdicts.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Check names, in the order Run reports them.
const (
	CheckDNS               = "wildcard-dns"
	CheckRedirect          = "https-redirect"
	CheckCertificate       = "certificate"
	CheckProxyUnknownHost  = "proxy-unknown-host"
	CheckAdminAPI          = "admin-api"
	CheckAdminAPIAllowlist = "admin-api-allowlist"
	CheckKongManager       = "kong-manager"
	CheckDemoApp           = "demo-app"
)

// CheckNames lists every check in the order Run reports them.
var CheckNames = []string{
	CheckDNS, CheckRedirect, CheckCertificate, CheckProxyUnknownHost,
	CheckAdminAPI, CheckAdminAPIAllowlist, CheckKongManager, CheckDemoApp,
}

// Result is the outcome of one check.
type Result struct {
	Name     string
	Status   Status
	Detail   string
	Duration time.Duration
}

type resultJSON struct {
	Name       string `json:"name"`
	Status     Status `json:"status"`
	Detail     string `json:"detail"`
	DurationMS int64  `json:"durationMs"`
}

// MarshalJSON writes {"name","status","detail","durationMs"}.
func (r Result) MarshalJSON() ([]byte, error) {
	return json.Marshal(resultJSON{r.Name, r.Status, r.Detail, r.Duration.Milliseconds()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Result) UnmarshalJSON(b []byte) error {
	var j resultJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = Result{j.Name, j.Status, j.Detail, time.Duration(j.DurationMS) * time.Millisecond}
	return nil
}

// Summary counts the verdicts.
type Summary struct {
	Pass       int   `json:"pass"`
	Fail       int   `json:"fail"`
	Skip       int   `json:"skip"`
	DurationMS int64 `json:"durationMs"`
}

// Report is what `verify --format json` prints.
type Report struct {
	Stack   string   `json:"stack,omitempty"`
	Domain  string   `json:"domain"`
	OK      bool     `json:"ok"` // no check failed
	Summary Summary  `json:"summary"`
	Results []Result `json:"results"`
}

// NewReport summarises results.
func NewReport(stack, domain string, results []Result, elapsed time.Duration) Report {
	r := Report{Stack: stack, Domain: domain, Results: results}
	if r.Results == nil {
		r.Results = []Result{}
	}
	for _, res := range results {
		switch res.Status {
		case Pass:
			r.Summary.Pass++
		case Fail:
			r.Summary.Fail++
		default:
			r.Summary.Skip++
		}
	}
	r.Summary.DurationMS = elapsed.Milliseconds()
	r.OK = r.Summary.Fail == 0
	return r
}

// WriteJSON writes the report as one indented JSON object.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// FormatResult is one text line: "PASS name  detail".
func FormatResult(r Result) string {
	return fmt.Sprintf("%s %-*s  %s", strings.ToUpper(string(r.Status)), nameWidth, r.Name, r.Detail)
}

var nameWidth = func() int {
	n := 0
	for _, c := range CheckNames {
		n = max(n, len(c))
	}
	return n
}()

// SummaryLine is the text report's last line.
func (r Report) SummaryLine() string {
	verdict := "OK"
	if !r.OK {
		verdict = "FAILED"
	}
	return fmt.Sprintf("%s: %d passed, %d failed, %d skipped in %s",
		verdict, r.Summary.Pass, r.Summary.Fail, r.Summary.Skip,
		(time.Duration(r.Summary.DurationMS) * time.Millisecond).String())
}
