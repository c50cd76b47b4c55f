package stacks

import (
	"strings"

	"github.com/kong-alb-eks/kong-alb-eks/components"
)

// The rules between keys: a value that is valid alone but that another key makes meaningless
// or unworkable.

// conditionalKeys are keys that take effect only under a condition on other keys. Set to
// anything but its default while its condition does not hold, such a key is a problem: the
// stack would deploy something other than what its file says.
var conditionalKeys = []struct {
	keys    []string
	applies func(Config) bool
	when    string
}{
	{
		keys:    []string{"vpcCidr", "publicSubnetCidrs", "privateSubnetCidrs", "availabilityZones", "natGateways"},
		applies: func(c Config) bool { return !c.Network.UsesExistingVPC() },
		when:    "for a new VPC, without existingVpcId: an existing VPC keeps its own subnets, zones and NAT gateways",
	},
	{
		keys:    []string{"postgresPort", "postgresDatabase", "postgresUser", "postgresSsl"},
		applies: func(c Config) bool { return c.EffectiveDatabase() == DatabaseExternal },
		when:    "with postgresHost (database external): the bundled PostgreSQL and the RDS instance always serve database kong to user kong",
	},
	{
		keys:    []string{"postgresImageRepository", "postgresImageTag"},
		applies: func(c Config) bool { return c.EffectiveDatabase() == DatabaseBundled },
		when:    "for the bundled PostgreSQL (database bundled)",
	},
	{
		keys: []string{"databaseEngineVersion", "databaseInstanceClass", "databaseAllocatedStorage", "databaseMaxAllocatedStorage",
			"databaseMultiAz", "databaseBackupRetentionDays", "databaseBackupWindow", "databaseMaintenanceWindow",
			"databaseDeletionProtection", "databaseApplyImmediately", "databaseCaBundle"},
		applies: func(c Config) bool { return c.EffectiveDatabase() == DatabaseRDS },
		when:    "for the RDS instance (database rds)",
	},
	{
		keys:    []string{"nodeInstanceType", "nodeAmiType", "nodeMinSize", "nodeDesiredSize", "nodeMaxSize"},
		applies: func(c Config) bool { return !c.Cluster.AutoMode() },
		when:    "with clusterMode managed: EKS Auto Mode picks instances itself (shape them with autoNodeArchitecture and autoNodeCapacityType)",
	},
	{
		keys:    []string{"vpcCniVersion", "corednsVersion", "kubeProxyVersion", "ebsCsiDriverVersion", "podIdentityAgentVersion"},
		applies: func(c Config) bool { return !c.Cluster.AutoMode() },
		when:    "with clusterMode managed: EKS Auto Mode runs the networking, storage and Pod Identity as part of the cluster and versions them itself",
	},
	{
		keys:    []string{"workloadIdentity"},
		applies: func(c Config) bool { return !c.Cluster.AutoMode() },
		when:    "with clusterMode managed: in EKS Auto Mode nothing the program runs needs an IAM role of its own (EKS's built-in controllers act with the cluster role)",
	},
	{
		keys:    []string{"loadBalancerControllerChart", "loadBalancerControllerChartRepository", "loadBalancerControllerChartVersion"},
		applies: func(c Config) bool { return !c.Cluster.AutoMode() },
		when:    "with clusterMode managed: EKS Auto Mode's built-in load balancing makes the ALB, and the chart is not installed",
	},
	{
		keys:    []string{"autoNodeArchitecture", "autoNodeCapacityType"},
		applies: func(c Config) bool { return c.Cluster.AutoMode() },
		when:    "with clusterMode auto: a managed node group takes nodeInstanceType and nodeAmiType",
	},
	{
		keys:    []string{"podIdentityAgentVersion"},
		applies: func(c Config) bool { return c.Cluster.WorkloadIdentity == components.PodIdentity },
		when:    "with workloadIdentity pod-identity: IRSA needs no agent",
	},
	{
		keys:    []string{"publicAccessCidrs"},
		applies: func(c Config) bool { return c.Cluster.EndpointPublicAccess },
		when:    "while endpointPublicAccess is true",
	},
}

func (c Config) validateRelations(p *Problems) {
	changed := map[string]bool{}
	for _, k := range ChangedKeys(DefaultConfig(), c) {
		changed[k] = true
	}
	for _, rule := range conditionalKeys {
		if rule.applies(c) {
			continue
		}
		for _, name := range rule.keys {
			if changed[key(name)] {
				p.add(key(name), "only used %s; remove it (its default is %v)", rule.when, DefaultConfig().Value(mustKey(name)))
			}
		}
	}
	c.validateNamespaces(p)
}

// systemNamespaces exist in every cluster before anything is deployed (the API server creates
// default, kube-system, kube-public and kube-node-lease: kubernetes pkg/controlplane/controller/
// systemnamespaces), and "kube-" names are reserved for Kubernetes (Kubernetes documentation,
// "Namespaces": "Avoid creating namespaces with the prefix kube-").
var systemNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// validateNamespaces refuses a namespace the program creates (Kong's, the demo's) that
// Kubernetes owns or that another part of the program creates: creating it would fail as
// already existing, and a destroy would delete what the other part still runs.
func (c Config) validateNamespaces(p *Problems) {
	owned := map[string]string{components.CertManagerNamespace: "cert-manager's namespace"}
	for _, ns := range systemNamespaces {
		owned[ns] = "a namespace Kubernetes creates and owns"
	}
	check := func(k, ns string) {
		switch owner, taken := owned[ns]; {
		case taken:
			p.add(key(k), "%q is %s: the program creates this namespace itself, so pick another name", ns, owner)
		case strings.HasPrefix(ns, "kube-"):
			p.add(key(k), "%q: names starting kube- are reserved for Kubernetes's own namespaces", ns)
		}
	}
	check("kongNamespace", c.Kong.Namespace)
	owned[c.Kong.Namespace] = "Kong's namespace (kongNamespace)"
	if c.Demo.Enabled {
		check("demoName", c.Demo.Name)
	}
}

// mustKey is the KeyInfo of a name the program declares.
func mustKey(name string) KeyInfo {
	k, _ := LookupKey(name)
	return k
}

// KongUpgradeProblems checks a configuration against the control plane version the
// environment runs now (the stack's kongVersion output; "" for a new environment). Both Kong
// releases update in parallel, so a data plane of a version newer than the running control
// plane could start before the control plane has rolled, and a control plane refuses data
// planes newer than itself: the control plane must be upgraded first, with
// kongDataPlaneVersion holding the data planes back.
func (k KongConfig) KongUpgradeProblems(running string) Problems {
	var p Problems
	dp := k.EffectiveDataPlaneVersion()
	if running == "" || !kongVersion.MatchString(running) || !kongVersion.MatchString(dp) ||
		compareVersions(versionParts(dp), versionParts(running)) <= 0 {
		return p
	}
	which := "kongDataPlaneVersion"
	if k.DataPlaneVersion == "" {
		which = "kongVersion"
	}
	p.add(key(which), "the control plane runs %s, and a data plane of %s could start before it has been upgraded "+
		"(it refuses data planes newer than itself): upgrade the control plane first, with kongVersion %s and "+
		"kongDataPlaneVersion %s, then remove kongDataPlaneVersion", running, dp, k.Version, running)
	return p
}
