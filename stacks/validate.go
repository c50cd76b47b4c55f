package stacks

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/kong-alb-eks/kong-alb-eks/components"
)

// Problem is one invalid configuration value.
type Problem struct {
	Key     string `json:"key"`
	Message string `json:"message"`
}

// Problems collects every problem of a configuration.
type Problems []Problem

func (p *Problems) add(key, format string, args ...any) {
	*p = append(*p, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}

// ValidationError lists every problem found in a configuration; nothing is created when a
// stack has one.
type ValidationError struct {
	Problems Problems
}

func (e *ValidationError) Error() string { return e.Problems.describe("invalid configuration") }

// describe formats the problems under a heading: "heading (N problems):" and a line each.
func (p Problems) describe(heading string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%d problem", heading, len(p))
	if len(p) != 1 {
		b.WriteString("s")
	}
	b.WriteString("):")
	for _, x := range p {
		fmt.Fprintf(&b, "\n  - %s: %s", x.Key, x.Message)
	}
	return b.String()
}

var (
	dnsLabel        = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	regionPattern   = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$`)
	vpcIDPattern    = regexp.MustCompile(`^vpc-[0-9a-f]{8,17}$`)
	subnetIDPattern = regexp.MustCompile(`^subnet-[0-9a-f]{8,17}$`)
	clusterName     = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9_-]*$`)
	k8sVersion      = regexp.MustCompile(`^1\.[0-9]{2}$`)
	instanceType    = regexp.MustCompile(`^([a-z][a-z0-9-]*)\.[a-z0-9]+$`)
	gravitonFamily  = regexp.MustCompile(`^(a1|[a-z]+[0-9]+[a-z]*g[a-z]*)$`)
	addonVersion    = regexp.MustCompile(`^v([0-9]+\.[0-9]+\.[0-9]+)-eksbuild\.([0-9]+)$`)
	// A kong/kong-gateway tag names a release (3.10.0.4, or 3.10.0): "3.10" and "3" are tags
	// that move to each new patch release.
	kongVersion = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(\.[0-9]+)?$`)
	// Helm takes a chart version as a semver constraint: only an exact version (3.4.1, with an
	// optional pre-release or build) pins it; "^3.0", "~3.4", "3.x" or ">=3" resolve to whatever
	// is newest when the update runs.
	chartVersion = regexp.MustCompile(`^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)
	// An image tag that names a release has at least major.minor (13.11.0-debian-11-r20, 16.4):
	// "16" or "16-alpine" move to each new minor release.
	releaseTag = regexp.MustCompile(`^[0-9]+\.[0-9]+(\.[0-9]+)*([-_.][0-9A-Za-z]+)*$`)
	acmARN     = regexp.MustCompile(`^arn:aws[a-z-]*:acm:([a-z0-9-]+):[0-9]{12}:certificate/[0-9a-f-]{36}$`)
	wafACLARN  = regexp.MustCompile(`^arn:aws[a-z-]*:wafv2:([a-z0-9-]+):[0-9]{12}:regional/webacl/[A-Za-z0-9_-]+/[0-9a-f-]{36}$`)
)

var amiTypes = map[string]bool{
	"AL2023_x86_64_STANDARD": true, "AL2023_ARM_64_STANDARD": true,
	"AL2023_x86_64_NVIDIA": true, "AL2023_x86_64_NEURON": true,
}

// key returns the fully qualified config key of a short name. (The tests check that every
// problem names a key the program reads.)
func key(name string) string {
	if k, ok := LookupKey(name); ok {
		return k.FullKey()
	}
	return Project + ":" + name
}

// Validate checks the whole configuration and returns a *ValidationError listing every
// problem, or nil.
func (c Config) Validate() error {
	var p Problems
	c.validateNames(&p)
	c.validateNetwork(&p)
	c.validateCluster(&p)
	c.validateCertificate(&p)
	c.validateKong(&p)
	c.validateDatabase(&p)
	c.validateALB(&p)
	c.validateCharts(&p)
	c.validateDemo(&p)
	c.validateRelations(&p)
	if len(p) > 0 {
		return &ValidationError{Problems: p}
	}
	return nil
}

func (c Config) validateNames(p *Problems) {
	if !regionPattern.MatchString(c.Region) {
		p.add(key("aws:region"), "expected an AWS region such as us-east-1, got %q", c.Region)
	}
	domainOK := checkDNSName(p, key("domain"), c.Domain)
	zoneOK := checkDNSName(p, key("hostedZone"), c.HostedZone)
	if domainOK && zoneOK && c.Domain != c.HostedZone && !strings.HasSuffix(c.Domain, "."+c.HostedZone) {
		p.add(key("domain"), "%q is not inside the hosted zone %q", c.Domain, c.HostedZone)
	}
}

// checkDNSName requires a lower-case DNS name of at least two labels, without a trailing dot.
func checkDNSName(p *Problems, k, name string) bool {
	labels := strings.Split(name, ".")
	ok := len(name) <= 253 && len(labels) >= 2
	for _, l := range labels {
		ok = ok && dnsLabel.MatchString(l)
	}
	if !ok {
		p.add(k, "expected a lower-case DNS name of at least two labels such as eks.example.com, got %q", name)
	}
	return ok
}

// checkPinned requires a concrete version: not empty, not "latest", of the expected form.
func checkPinned(p *Problems, k, v string, form *regexp.Regexp, what string) {
	switch {
	case v == "":
		p.add(k, "expected %s, got nothing: versions are pinned", what)
	case strings.EqualFold(v, "latest") || strings.EqualFold(v, "stable"):
		p.add(k, "expected %s, got %q: versions are pinned", what, v)
	case form != nil && !form.MatchString(v):
		p.add(k, "expected %s, got %q", what, v)
	}
}

func (c Config) validateKong(p *Problems) {
	k := c.Kong
	checkPinned(p, key("kongVersion"), k.Version, kongVersion, "a kong/kong-gateway release tag such as 3.10.0.4 (not a moving tag such as 3.10)")
	if k.DataPlaneVersion != "" {
		checkPinned(p, key("kongDataPlaneVersion"), k.DataPlaneVersion, kongVersion, "a kong/kong-gateway release tag such as 3.10.0.4 (not a moving tag such as 3.10)")
		if kongVersion.MatchString(k.Version) && kongVersion.MatchString(k.DataPlaneVersion) {
			cp, dp := versionParts(k.Version), versionParts(k.DataPlaneVersion)
			switch {
			case cp[0] != dp[0]:
				p.add(key("kongDataPlaneVersion"), "%s is not the control plane's major version (%s): a control plane only accepts data planes of its own major version", k.DataPlaneVersion, k.Version)
			case compareVersions(dp, cp) > 0:
				p.add(key("kongDataPlaneVersion"), "%s is newer than the control plane (%s): upgrade the control plane first", k.DataPlaneVersion, k.Version)
			}
		}
	}
	if !dnsLabel.MatchString(k.Namespace) {
		p.add(key("kongNamespace"), "expected a Kubernetes namespace name (lower-case DNS label), got %q", k.Namespace)
	}
	// The Kong chart names objects RELEASE-kong-<suffix> without truncating them, and a Service
	// or a Job name has at most 63 characters (charts/kong templates/_helpers.tpl, kong.fullname
	// and the service names): the control plane's longest is RELEASE-kong-post-upgrade-migrations
	// (a Job of every upgrade), the data plane's RELEASE-kong-cluster (a Service).
	for _, r := range []struct {
		name, value string
		max         int
	}{
		{"controlPlaneRelease", k.ControlPlaneRelease, 63 - len("-kong-post-upgrade-migrations")},
		{"dataPlaneRelease", k.DataPlaneRelease, 63 - len("-kong-cluster")},
	} {
		if !dnsLabel.MatchString(r.value) || len(r.value) > r.max {
			p.add(key(r.name), "expected a Helm release name (lower-case DNS label) of at most %d characters, so that the chart's object names fit, got %q", r.max, r.value)
		}
	}
	if k.ControlPlaneRelease == k.DataPlaneRelease {
		p.add(key("dataPlaneRelease"), "must differ from controlPlaneRelease (%q)", k.ControlPlaneRelease)
	}
	if k.DataPlaneReplicas < 1 {
		p.add(key("dataPlaneReplicas"), "expected at least 1, got %d", k.DataPlaneReplicas)
	}
	if !dnsLabel.MatchString(k.IssuerName) {
		p.add(key("caIssuerName"), "expected a Kubernetes object name (lower-case DNS label), got %q", k.IssuerName)
	}
	checkCIDRs(p, key("adminAllowedCidrs"), k.AdminAllowedCIDRs)
	for _, s := range k.AdminAllowedCIDRs {
		if pr, err := netip.ParsePrefix(s); err == nil && pr.Bits() == 0 {
			p.add(key("adminAllowedCidrs"), "%s would publish Kong Manager and the Admin API to the whole internet; list your own networks", s)
		}
	}
	switch c.EffectiveDatabase() {
	case DatabaseExternal:
		if k.PostgresHost != "" && !dnsName(k.PostgresHost) {
			p.add(key("postgresHost"), "expected a host name such as kong.abc123.us-east-1.rds.amazonaws.com, got %q", k.PostgresHost)
		}
		if k.PostgresPort < 1 || k.PostgresPort > 65535 {
			p.add(key("postgresPort"), "expected a TCP port from 1 to 65535, got %d", k.PostgresPort)
		}
		if k.PostgresDatabase == "" {
			p.add(key("postgresDatabase"), "required with database external (postgresHost)")
		}
		if k.PostgresUser == "" {
			p.add(key("postgresUser"), "required with database external (postgresHost)")
		}
		if k.PostgresPassword == "" {
			p.add(key("postgresPassword"), "required with database external (postgresHost): set it with pulumi config set --secret")
		}
	case DatabaseBundled:
		if k.PostgresImageRepository == "" {
			p.add(key("postgresImageRepository"), "required for the bundled PostgreSQL: the Kong chart does not render without it")
		}
		checkPinned(p, key("postgresImageTag"), k.PostgresImageTag, releaseTag, "a PostgreSQL image tag naming a release, such as 13.11.0-debian-11-r20 (not a moving tag such as 13)")
		if k.PostgresPassword != "" {
			p.add(key("postgresPassword"), "only used with database external (postgresHost): the bundled PostgreSQL's passwords are generated and kept in the stack's state")
		}
	case DatabaseRDS:
		if k.PostgresPassword != "" {
			p.add(key("postgresPassword"), "only used with database external (postgresHost): the RDS instance's password is generated and kept in the stack's state")
		}
	}
}

// dnsName accepts any valid host name, including single-label ones.
func dnsName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if !dnsLabel.MatchString(l) {
			return false
		}
	}
	return true
}

func versionParts(v string) []int {
	parts := strings.Split(v, ".")
	out := make([]int, len(parts))
	for i, s := range parts {
		out[i], _ = strconv.Atoi(s) // the form was checked
	}
	return out
}

func compareVersions(a, b []int) int {
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

func (c Config) validateALB(p *Problems) {
	a := c.ALB
	checkSSLPolicy(p, a.SSLPolicy)
	checkCIDRs(p, key("albInboundCidrs"), a.InboundCIDRs)
	if a.WAFv2ACLARN != "" {
		if m := wafACLARN.FindStringSubmatch(a.WAFv2ACLARN); m == nil {
			p.add(key("wafv2AclArn"), "expected a regional WAFv2 web ACL ARN (arn:aws:wafv2:REGION:ACCOUNT:regional/webacl/NAME/ID), got %q", a.WAFv2ACLARN)
		} else if m[1] != c.Region {
			p.add(key("wafv2AclArn"), "the web ACL is in %s but the ALB is in %s", m[1], c.Region)
		}
	}
	if a.IPAddressType != IPv4 && a.IPAddressType != DualStack {
		p.add(key("ipAddressType"), "expected %q or %q, got %q", IPv4, DualStack, a.IPAddressType)
	}
	if a.IPAddressType == IPv4 {
		// An IPv4-only ALB has no IPv6 address: every client reaches it, and Kong sees it, over
		// IPv4, so an IPv6 range in an allowlist admits no one.
		checkIPv4Only(p, key("albInboundCidrs"), a.InboundCIDRs)
		checkIPv4Only(p, key("adminAllowedCidrs"), c.Kong.AdminAllowedCIDRs)
	}
}

// albSSLPolicies are the predefined security policies an ALB listener takes (an ALB takes no
// custom policy: ALB User Guide, "Security policies for your Application Load Balancer"; the
// list as the AWS CDK's SslPolicy enum has it, up to the post-quantum policies of 2025-09).
// The load balancer controller passes the name to the ELB API unchecked
// (pkg/ingress/model_build_listener.go), so a wrong one surfaces only as an Ingress that never
// gets its ALB.
var albSSLPolicies = []string{
	"ELBSecurityPolicy-TLS13-1-2-2021-06", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
	"ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06", "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06",
	"ELBSecurityPolicy-TLS13-1-0-2021-06", "ELBSecurityPolicy-TLS13-1-1-2021-06", "ELBSecurityPolicy-TLS13-1-3-2021-06",
	"ELBSecurityPolicy-TLS13-1-2-PQ-2025-09", "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09", "ELBSecurityPolicy-TLS13-1-2-Ext1-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-2-Ext2-PQ-2025-09", "ELBSecurityPolicy-TLS13-1-0-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04", "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04",
	"ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04", "ELBSecurityPolicy-TLS13-1-2-Ext0-FIPS-2023-04",
	"ELBSecurityPolicy-TLS13-1-2-Ext1-FIPS-2023-04", "ELBSecurityPolicy-TLS13-1-2-Ext2-FIPS-2023-04",
	"ELBSecurityPolicy-TLS13-1-1-FIPS-2023-04", "ELBSecurityPolicy-TLS13-1-0-FIPS-2023-04",
	"ELBSecurityPolicy-TLS13-1-3-FIPS-PQ-2025-09", "ELBSecurityPolicy-TLS13-1-2-FIPS-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09", "ELBSecurityPolicy-TLS13-1-2-Ext0-FIPS-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-2-Ext1-FIPS-PQ-2025-09", "ELBSecurityPolicy-TLS13-1-2-Ext2-FIPS-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-1-FIPS-PQ-2025-09", "ELBSecurityPolicy-TLS13-1-0-FIPS-PQ-2025-09",
	"ELBSecurityPolicy-FS-1-2-Res-2020-10", "ELBSecurityPolicy-FS-1-2-Res-2019-08", "ELBSecurityPolicy-FS-1-2-2019-08",
	"ELBSecurityPolicy-FS-1-1-2019-08", "ELBSecurityPolicy-FS-2018-06",
	"ELBSecurityPolicy-TLS-1-2-2017-01", "ELBSecurityPolicy-TLS-1-2-Ext-2018-06", "ELBSecurityPolicy-TLS-1-1-2017-01",
	"ELBSecurityPolicy-TLS-1-0-2015-04", "ELBSecurityPolicy-2016-08",
}

func checkSSLPolicy(p *Problems, policy string) {
	for _, known := range albSSLPolicies {
		switch {
		case policy == known:
			return
		case strings.EqualFold(policy, known):
			p.add(key("sslPolicy"), "policy names are case-sensitive: did you mean %s?", known)
			return
		}
	}
	p.add(key("sslPolicy"), "expected a predefined ALB security policy such as ELBSecurityPolicy-TLS13-1-2-2021-06 (ALB User Guide, \"Security policies\"), got %q; a policy AWS published after 2025-09 needs adding to albSSLPolicies in stacks/validate.go", policy)
}

// checkIPv4Only refuses the IPv6 ranges of an allowlist behind an IPv4-only ALB.
func checkIPv4Only(p *Problems, k string, cidrs []string) {
	for _, s := range cidrs {
		if pr, err := netip.ParsePrefix(s); err == nil && pr.Addr().Is6() && !pr.Addr().Is4In6() {
			p.add(k, "%s is an IPv6 range, but the ALB is IPv4-only (ipAddressType ipv4), so it admits no one: set ipAddressType to dualstack, or remove it", s)
		}
	}
}

func (c Config) validateCharts(p *Problems) {
	for _, ch := range []struct {
		name string
		src  ChartSource
	}{{"kongChart", c.Charts.Kong}, {"loadBalancerControllerChart", c.Charts.LoadBalancerController}, {"certManagerChart", c.Charts.CertManager}, {"reloaderChart", c.Charts.Reloader}} {
		if ch.src.Chart == "" {
			p.add(key(ch.name), "expected a chart name, an oci:// reference or a local chart path")
		}
		repo := ch.src.Repository
		switch {
		case strings.HasPrefix(ch.src.Chart, "oci://") && repo != "":
			p.add(key(ch.name+"Repository"), "must be empty when %s is an oci:// reference", ch.name)
		case repo != "" && !strings.HasPrefix(repo, "https://") && !strings.HasPrefix(repo, "http://"):
			p.add(key(ch.name+"Repository"), "expected an http(s):// chart repository URL (use %s for oci:// references), got %q", ch.name, repo)
		}
		checkPinned(p, key(ch.name+"Version"), ch.src.Version, chartVersion, "an exact chart version such as 3.4.1 (Helm resolves a range such as ^3.0 to the newest chart at deploy time)")
	}
}

func (c Config) validateDemo(p *Problems) {
	d := c.Demo
	if !d.Enabled {
		return
	}
	if !dnsLabel.MatchString(d.Name) || d.Name == "kong" {
		p.add(key("demoName"), "expected a lower-case DNS label other than \"kong\" (it becomes <name>.%s), got %q", c.Domain, d.Name)
	}
	if !PinnedImage(d.Image) {
		p.add(key("demoImage"), "expected an image with a pinned tag or digest, got %q", d.Image)
	}
	// An image built for one architecture never starts on nodes of the other (exec format
	// error); kuard's images name theirs (kuard-amd64, kuard-arm64).
	repo := strings.SplitN(strings.SplitN(d.Image[strings.LastIndex(d.Image, "/")+1:], "@", 2)[0], ":", 2)[0]
	nodesARM := c.Cluster.NodeArchitecture() == components.ARM64
	switch {
	case strings.HasSuffix(repo, "-amd64") && nodesARM:
		p.add(key("demoImage"), "%s is built for amd64 but the nodes are arm64 (%s): set demoImage to an arm64 or multi-architecture image", d.Image, c.nodesFrom())
	case (strings.HasSuffix(repo, "-arm64") || strings.HasSuffix(repo, "-arm")) && !nodesARM:
		p.add(key("demoImage"), "%s is built for ARM but the nodes are x86_64 (%s): set demoImage to an amd64 or multi-architecture image", d.Image, c.nodesFrom())
	}
}

// PinnedImage reports whether an image reference names a tag other than latest, or a digest.
func PinnedImage(ref string) bool {
	if ref == "" || strings.HasSuffix(ref, ":latest") {
		return false
	}
	return strings.Contains(ref[strings.LastIndex(ref, "/")+1:], ":") || strings.Contains(ref, "@")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// nodesFrom names the key that sets the nodes' architecture.
func (c Config) nodesFrom() string {
	if c.Cluster.AutoMode() {
		return "autoNodeArchitecture " + c.Cluster.AutoNodeArchitecture
	}
	return c.Cluster.NodeAMIType
}
