package synth

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// AccountID is the AWS account the mocks pretend to be.
const AccountID = "123456789012"

// albZones are the canonical hosted zone IDs of application load balancers, by region
// (Elastic Load Balancing endpoints and quotas, AWS General Reference).
var albZones = map[string]string{
	"us-east-1": "Z35SXDOTRQ7X7K", "us-east-2": "Z3AADJGX6KTTL2",
	"us-west-1": "Z368ELLRRE2KJ0", "us-west-2": "Z1H1FL5HABSF5",
	"eu-west-1": "Z32O12XQLNTSW2", "eu-central-1": "Z215JYRZR1TBD5",
	"ap-southeast-1": "Z1LMS91P8CMLE5", "ap-southeast-2": "Z1GM3OXH4ZPM65",
	"ap-northeast-1": "Z14GRHDCWA56QT",
}

// Mocks answers resource registrations and invokes as AWS and Kubernetes would (IDs, ARNs,
// hostnames of the right shape, derived deterministically from names so two runs agree), and
// records everything for the synth document.
type Mocks struct {
	Project, Stack, Region string

	mu        sync.Mutex
	resources []Resource
	invokes   []Invoke
}

// NewMocks returns mocks for one run.
func NewMocks(project, stack, region string) *Mocks {
	return &Mocks{Project: project, Stack: stack, Region: region}
}

var _ pulumi.MockResourceMonitor = (*Mocks)(nil)

// NewResource records a registration and answers with the provider's state.
func (m *Mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	rpc := args.RegisterRPC
	r := Resource{
		Type:   args.TypeToken,
		Name:   args.Name,
		Custom: args.Custom,
		Inputs: plainMap(args.Inputs),
	}
	if rpc != nil {
		r.Parent = rpc.GetParent()
		r.URN = m.urn(r.Parent, r.Type, r.Name)
		deps := map[string]bool{}
		for _, d := range rpc.GetDependencies() {
			deps[d] = true
		}
		for _, pd := range rpc.GetPropertyDependencies() {
			for _, d := range pd.GetUrns() {
				deps[d] = true
			}
		}
		for _, ref := range resourceRefs(args.Inputs) { // a resource passed as an input is waited on too
			deps[ref] = true
		}
		for d := range deps {
			r.Dependencies = append(r.Dependencies, d)
		}
		sort.Strings(r.Dependencies)
		if p := rpc.GetProvider(); p != "" { // a provider reference is "<urn>::<id>"
			r.Provider = p[:max(strings.LastIndex(p, "::"), 0)]
		}
	}
	r.Dependencies = nonNil(r.Dependencies)
	m.mu.Lock()
	m.resources = append(m.resources, r)
	m.mu.Unlock()

	id, state := m.answer(args.TypeToken, args.Name, args.Inputs)
	return id, state, nil
}

// Call records an invoke and answers it.
func (m *Mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	m.mu.Lock()
	m.invokes = append(m.invokes, Invoke{Token: args.Token, Args: plainMap(args.Args)})
	m.mu.Unlock()
	return m.answerInvoke(args.Token, args.Args)
}

// Recorded returns what was registered and invoked, sorted so that two runs compare equal.
func (m *Mocks) Recorded() ([]Resource, []Invoke) {
	m.mu.Lock()
	defer m.mu.Unlock()
	res := append([]Resource(nil), m.resources...)
	inv := append([]Invoke(nil), m.invokes...)
	sort.Slice(res, func(i, j int) bool { return res[i].URN < res[j].URN })
	sort.Slice(inv, func(i, j int) bool {
		if inv[i].Token != inv[j].Token {
			return inv[i].Token < inv[j].Token
		}
		a, _ := json.Marshal(inv[i].Args)
		b, _ := json.Marshal(inv[j].Args)
		return string(a) < string(b)
	})
	return res, inv
}

// urn builds a resource's URN the way the engine does.
func (m *Mocks) urn(parent, typ, name string) string {
	parentType := tokens.Type("")
	if p := resource.URN(parent); p != "" && p.QualifiedType() != resource.RootStackType {
		parentType = p.QualifiedType()
	}
	return string(resource.NewURN(tokens.QName(m.Stack), tokens.PackageName(m.Project), parentType, tokens.Type(typ), name))
}

// hexOf derives n stable hex digits from the parts.
func hexOf(n int, parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "/")))
	return hex.EncodeToString(sum[:])[:n]
}

func uuidOf(parts ...string) string {
	h := hexOf(32, parts...)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// ALBHostname is the status hostname the AWS Load Balancer Controller gives an Ingress's ALB.
func ALBHostname(region, namespace, name string) string {
	short := func(s string, n int) string {
		s = strings.ReplaceAll(s, "-", "")
		if len(s) > n {
			return s[:n]
		}
		return s
	}
	var digits strings.Builder
	for _, c := range hexOf(10, "id", namespace, name) {
		digits.WriteByte('0' + byte(c)%10)
	}
	return fmt.Sprintf("k8s-%s-%s-%s-%s.%s.elb.amazonaws.com", short(namespace, 8), short(name, 8), hexOf(10, namespace, name),
		"1"+digits.String()[1:], region)
}

func (m *Mocks) arn(service, resourcePart string) string {
	return fmt.Sprintf("arn:aws:%s:%s:%s:%s", service, m.Region, AccountID, resourcePart)
}

// answer returns the ID and state a provider would: the inputs plus the outputs AWS or
// Kubernetes compute.
func (m *Mocks) answer(typ, name string, inputs resource.PropertyMap) (string, resource.PropertyMap) {
	state := inputs.Copy()
	set := func(k string, v any) { state[resource.PropertyKey(k)] = resource.NewPropertyValue(v) }
	str := func(k string) string {
		if v, ok := inputs[resource.PropertyKey(k)]; ok && v.IsString() {
			return v.StringValue()
		}
		return ""
	}
	h := hexOf(17, typ, name)
	switch typ {
	case "aws:ec2/vpc:Vpc":
		id := "vpc-" + h
		set("arn", m.arn("ec2", "vpc/"+id))
		if v, ok := inputs["assignGeneratedIpv6CidrBlock"]; ok && v.IsBool() && v.BoolValue() {
			set("ipv6CidrBlock", "2600:1f18:"+hexOf(4, name)+":"+hexOf(2, typ, name)+"00::/56")
		}
		return id, state
	case "aws:ec2/subnet:Subnet":
		id := "subnet-" + h
		set("arn", m.arn("ec2", "subnet/"+id))
		return id, state
	case "aws:ec2/internetGateway:InternetGateway":
		return "igw-" + h, state
	case "aws:ec2/routeTable:RouteTable":
		return "rtb-" + h, state
	case "aws:ec2/routeTableAssociation:RouteTableAssociation":
		return "rtbassoc-" + h, state
	case "aws:ec2/eip:Eip":
		set("publicIp", fmt.Sprintf("203.0.113.%d", 1+int(h[0])%250))
		return "eipalloc-" + h, state
	case "aws:ec2/natGateway:NatGateway":
		return "nat-" + h, state
	case "aws:iam/role:Role":
		set("name", name)
		set("arn", fmt.Sprintf("arn:aws:iam::%s:role/%s", AccountID, name))
		return name, state
	case "aws:iam/policy:Policy":
		set("name", name)
		set("arn", fmt.Sprintf("arn:aws:iam::%s:policy/%s", AccountID, name))
		return fmt.Sprintf("arn:aws:iam::%s:policy/%s", AccountID, name), state
	case "aws:iam/rolePolicyAttachment:RolePolicyAttachment":
		return name + "-" + hexOf(8, name), state
	case "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
		arn := fmt.Sprintf("arn:aws:iam::%s:oidc-provider/%s", AccountID, strings.TrimPrefix(str("url"), "https://"))
		set("arn", arn)
		return arn, state
	case "aws:acm/certificate:Certificate":
		arn := m.arn("acm", "certificate/"+uuidOf(name))
		set("arn", arn)
		if domain := str("domainName"); domain != "" {
			// ACM gives *.D and D the same validation record.
			base := strings.TrimPrefix(domain, "*.")
			record := map[string]any{
				"resourceRecordName":  "_" + hexOf(32, base) + "." + base + ".",
				"resourceRecordType":  "CNAME",
				"resourceRecordValue": "_" + hexOf(32, "value", base) + "." + hexOf(10, "acm") + ".acm-validations.aws.",
			}
			names := []string{domain}
			if sans, ok := inputs["subjectAlternativeNames"]; ok && sans.IsArray() {
				for _, s := range sans.ArrayValue() {
					names = append(names, s.StringValue())
				}
			}
			var options []any
			for _, n := range names {
				o := map[string]any{"domainName": n}
				for k, v := range record {
					o[k] = v
				}
				options = append(options, o)
			}
			set("domainValidationOptions", options)
		}
		return arn, state
	case "aws:acm/certificateValidation:CertificateValidation":
		return "2026-01-01 00:00:00 +0000 UTC", state
	case "aws:route53/record:Record":
		fqdn := strings.TrimSuffix(str("name"), ".")
		set("fqdn", fqdn)
		return fmt.Sprintf("%s_%s_%s", str("zoneId"), fqdn, str("type")), state
	case "random:index/randomPassword:RandomPassword":
		state["result"] = resource.MakeSecret(resource.NewProperty(hexOf(32, "password", name)))
		return "none", state
	case "aws:eks/cluster:Cluster":
		cluster := str("name")
		set("arn", m.arn("eks", "cluster/"+cluster))
		set("endpoint", fmt.Sprintf("https://%s.gr7.%s.eks.amazonaws.com", strings.ToUpper(hexOf(32, cluster)), m.Region))
		set("certificateAuthority", map[string]any{"data": "LS0tLS1CRUdJTi..."})
		set("identities", []any{map[string]any{"oidcs": []any{map[string]any{
			"issuer": fmt.Sprintf("https://oidc.eks.%s.amazonaws.com/id/%s", m.Region, strings.ToUpper(hexOf(32, cluster))),
		}}}})
		set("status", "ACTIVE")
		return cluster, state
	case "kubernetes:helm.sh/v3:Release":
		rel := str("name")
		if rel == "" {
			rel = name
		}
		ns := str("namespace")
		if ns == "" {
			ns = "default"
		}
		set("status", map[string]any{"name": rel, "namespace": ns, "status": "deployed", "revision": 1.0,
			"chart": str("chart"), "version": str("version")})
		return ns + "/" + rel, state
	case "kubernetes:networking.k8s.io/v1:Ingress":
		meta := plainMap(object(inputs["metadata"]))
		ns, _ := meta["namespace"].(string)
		n, _ := meta["name"].(string)
		set("status", map[string]any{"loadBalancer": map[string]any{"ingress": []any{
			map[string]any{"hostname": ALBHostname(m.Region, ns, n)},
		}}})
		return ns + "/" + n, state
	}
	if strings.HasPrefix(typ, "pulumi:providers:") {
		return uuidOf(typ, name), state
	}
	if strings.HasPrefix(typ, "kubernetes:") {
		meta := plainMap(object(inputs["metadata"]))
		ns, _ := meta["namespace"].(string)
		n, _ := meta["name"].(string)
		if ns != "" {
			return ns + "/" + n, state
		}
		return n, state
	}
	return name + "-" + hexOf(8, typ, name), state
}

func (m *Mocks) answerInvoke(token string, args resource.PropertyMap) (resource.PropertyMap, error) {
	str := func(k string) string {
		if v, ok := args[resource.PropertyKey(k)]; ok && v.IsString() {
			return v.StringValue()
		}
		return ""
	}
	switch token {
	case "aws:index/getAvailabilityZones:getAvailabilityZones":
		return resource.NewPropertyMapFromMap(map[string]any{
			"id":      m.Region,
			"names":   []any{m.Region + "a", m.Region + "b", m.Region + "c"},
			"zoneIds": []any{"use1-az1", "use1-az2", "use1-az4"},
		}), nil
	case "aws:route53/getZone:getZone":
		zone := "Z" + strings.ToUpper(hexOf(20, str("name")))
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": zone, "zoneId": zone, "name": str("name"), "privateZone": false,
			"arn": "arn:aws:route53:::hostedzone/" + zone,
		}), nil
	case "aws:lb/getHostedZoneId:getHostedZoneId", "aws:elb/getHostedZoneId:getHostedZoneId":
		region := str("region")
		if region == "" {
			region = m.Region
		}
		zone, ok := albZones[region]
		if !ok {
			zone = "Z" + strings.ToUpper(hexOf(13, "alb", region))
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": zone}), nil
	case "aws:ec2/getVpc:getVpc":
		id := str("id")
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": id, "cidrBlock": "10.100.0.0/16", "arn": m.arn("ec2", "vpc/"+id), "state": "available",
		}), nil
	case "aws:ec2/getSubnet:getSubnet":
		// Existing subnets lie in a secondary CIDR of the VPC getVpc describes, as they may.
		id := str("id")
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": id, "vpcId": "vpc-" + hexOf(17, "vpc", id), "arn": m.arn("ec2", "subnet/"+id),
			"cidrBlock":     fmt.Sprintf("100.64.%d.0/24", int(hexOf(2, "subnet", id)[0])%16*16),
			"ipv6CidrBlock": "2600:1f18:" + hexOf(4, id) + ":" + hexOf(2, "subnet6", id) + "00::/64",
		}), nil
	}
	return nil, fmt.Errorf("synth mocks: no answer for invoke %s", token)
}

// resourceRefs lists the URNs of the resources referenced anywhere in the inputs.
func resourceRefs(m resource.PropertyMap) []string {
	var out []string
	var walk func(v resource.PropertyValue)
	walk = func(v resource.PropertyValue) {
		switch {
		case v.IsResourceReference():
			out = append(out, string(v.ResourceReferenceValue().URN))
		case v.IsSecret():
			walk(v.SecretValue().Element)
		case v.IsArray():
			for _, e := range v.ArrayValue() {
				walk(e)
			}
		case v.IsObject():
			for _, e := range v.ObjectValue() {
				walk(e)
			}
		}
	}
	for _, v := range m {
		walk(v)
	}
	return out
}

func object(v resource.PropertyValue) resource.PropertyMap {
	if v.IsObject() {
		return v.ObjectValue()
	}
	return resource.PropertyMap{}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
