package stacks

import (
	"regexp"
	"strings"

	"github.com/kong-alb-eks/kong-alb-eks/components"
)

// Each item of accessEntries grants one EKS access policy to one IAM principal, as words
// separated by spaces:
//
//	arn:aws:iam::123456789012:role/platform-admins AmazonEKSClusterAdminPolicy
//	arn:aws:iam::123456789012:role/kong-operators AmazonEKSEditPolicy kong,kuard
//
// The first grants the policy on the whole cluster, the second in the listed namespaces only.
// A principal may have several items, one per policy; it gets one access entry.

// accessPolicies are the EKS access policies meant for people and pipelines.
var accessPolicies = []string{
	"AmazonEKSClusterAdminPolicy", "AmazonEKSAdminPolicy", "AmazonEKSAdminViewPolicy",
	"AmazonEKSEditPolicy", "AmazonEKSViewPolicy",
}

var (
	principalARN   = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/-]+$`)
	assumedRoleARN = regexp.MustCompile(`^arn:aws[a-z-]*:sts::[0-9]{12}:assumed-role/`)
)

// ParsedAccessEntries turns the accessEntries items into one entry per principal, in the order
// of first mention. Items that do not parse are left out: Validate reports them.
func (cl ClusterConfig) ParsedAccessEntries() []components.AccessEntry {
	entries, _ := parseAccessEntries(cl.AccessEntries)
	return entries
}

func parseAccessEntries(items []string) ([]components.AccessEntry, Problems) {
	var p Problems
	k := key("accessEntries")
	var entries []components.AccessEntry
	index := map[string]int{}
	granted := map[string]bool{}
	for _, item := range items {
		words := strings.Fields(item)
		if len(words) < 2 || len(words) > 3 {
			p.add(k, "expected \"PRINCIPAL_ARN POLICY\" or \"PRINCIPAL_ARN POLICY NAMESPACE[,NAMESPACE...]\", got %q", item)
			continue
		}
		arn, policy := words[0], words[1]
		ok := true
		switch {
		case assumedRoleARN.MatchString(arn):
			p.add(k, "%s is a role session, not a principal: give the role's ARN (arn:aws:iam::ACCOUNT:role/NAME)", arn)
			ok = false
		case !principalARN.MatchString(arn):
			p.add(k, "expected an IAM role or user ARN such as arn:aws:iam::123456789012:role/platform-admins, got %q", arn)
			ok = false
		}
		if !contains(accessPolicies, policy) {
			p.add(k, "expected an EKS access policy (%s), got %q", strings.Join(accessPolicies, ", "), policy)
			ok = false
		}
		var namespaces []string
		if len(words) == 3 {
			seen := map[string]bool{}
			for _, ns := range strings.Split(words[2], ",") {
				switch {
				case !dnsLabel.MatchString(ns):
					p.add(k, "expected namespace names (lower-case DNS labels) separated by commas, got %q in %q", ns, item)
					ok = false
				case seen[ns]:
					p.add(k, "namespace %q is listed twice in %q", ns, item)
					ok = false
				}
				seen[ns] = true
				namespaces = append(namespaces, ns)
			}
		}
		if granted[arn+" "+policy] {
			p.add(k, "%s is granted %s twice: give each principal one item per policy", arn, policy)
			ok = false
		}
		granted[arn+" "+policy] = true
		if !ok {
			continue
		}
		i, seen := index[arn]
		if !seen {
			i = len(entries)
			index[arn] = i
			entries = append(entries, components.AccessEntry{PrincipalARN: arn})
		}
		entries[i].Policies = append(entries[i].Policies, components.AccessPolicy{Name: policy, Namespaces: namespaces})
	}
	return entries, p
}
