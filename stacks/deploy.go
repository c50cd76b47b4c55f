package stacks

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/route53"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/kong-alb-eks/kong-alb-eks/components"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/outputs"
)

// Environment is what Deploy registered, and the stack outputs it exported.
type Environment struct {
	Network                *components.Network
	Cluster                *components.Cluster
	Certificate            *components.Certificate
	Database               *components.RDSDatabase            // nil unless database is rds
	LoadBalancerController *components.LoadBalancerController // nil in Auto Mode
	ALBIngressClass        *components.ALBIngressClass        // Auto Mode only
	CertManager            *components.CertManager
	Storage                *components.EBSCSIDriver
	ControlPlane           *components.KongControlPlane
	DataPlane              *components.KongDataPlane
	Reloader               *components.Reloader
	ProxyIngress           *components.ProxyIngress
	DNS                    *components.WildcardRecords
	Demo                   *components.DemoWorkload // nil unless demoEnabled

	// Outputs are the stack outputs, by the names in outputs.go.
	Outputs pulumi.Map
}

// LoadAndDeploy loads the configuration from the stack's config, validates it (registering
// nothing when it is invalid) and deploys. set names every key the stack sets, so that a key
// of the program's namespace it does not declare is refused; without it, the keys the engine
// gave the program's process (PULUMI_CONFIG), if any.
func LoadAndDeploy(ctx *pulumi.Context, op Operation, set ...string) (*Environment, error) {
	if set == nil {
		set = envConfigKeys()
	}
	cfg, err := LoadConfig(ctx.GetConfig, set...)
	if err != nil {
		return nil, withStack(err, cfg, ctx.Stack())
	}
	return Deploy(ctx, cfg, op)
}

// Deploy registers the whole environment. It validates cfg first, so a configuration built in
// Go gets the same checks as one loaded from a stack.
func Deploy(ctx *pulumi.Context, cfg Config, op Operation) (*Environment, error) {
	if err := withStack(cfg.Validate(), cfg, ctx.Stack()); err != nil {
		return nil, err
	}
	env := &Environment{Outputs: pulumi.Map{}}
	clusterName := cfg.ClusterName(ctx.Stack())
	tags := map[string]string{"project": Project, "stack": ctx.Stack(), "managed-by": "pulumi"}

	zone, err := route53.LookupZone(ctx, &route53.LookupZoneArgs{
		Name:        pulumi.StringRef(cfg.HostedZone),
		PrivateZone: pulumi.BoolRef(false),
	})
	if err != nil {
		return nil, fmt.Errorf("looking up the public hosted zone %s: %w", cfg.HostedZone, err)
	}
	zoneID := pulumi.String(zone.ZoneId)
	// The charts are read before anything is registered: a chart that cannot be had stops the
	// run before it creates anything.
	crds, err := op.readCRDs(cfg.Charts, cfg.Cluster.AutoMode())
	if err != nil {
		return nil, err
	}
	var caBundle string
	if cfg.EffectiveDatabase() == DatabaseRDS {
		if caBundle, err = op.readCABundle(ctx.Context(), cfg); err != nil {
			return nil, err
		}
	}

	n := cfg.Network
	env.Network, err = components.NewNetwork(ctx, clusterName, &components.NetworkArgs{
		ClusterName:              clusterName,
		VPCCIDR:                  n.VPCCIDR,
		PublicSubnetCIDRs:        n.PublicSubnetCIDRs,
		PrivateSubnetCIDRs:       n.PrivateSubnetCIDRs,
		AvailabilityZones:        n.AvailabilityZones,
		SingleNATGateway:         n.NATGateways == NATSingle,
		IPv6:                     cfg.ALB.IPAddressType == DualStack,
		ExistingVPCID:            n.ExistingVPCID,
		ExistingPublicSubnetIDs:  n.ExistingPublicSubnetIDs,
		ExistingPrivateSubnetIDs: n.ExistingPrivateSubnetIDs,
		Tags:                     tags,
	})
	if err != nil {
		return nil, err
	}

	cl := cfg.Cluster
	env.Cluster, err = components.NewCluster(ctx, clusterName, &components.ClusterArgs{
		Name:                  clusterName,
		KubernetesVersion:     cl.KubernetesVersion,
		Region:                cfg.Region,
		PrivateSubnetIDs:      env.Network.PrivateSubnetIDs,
		NodesWaitFor:          env.Network.PrivateEgress,
		NodeInstanceType:      cl.NodeInstanceType,
		NodeAMIType:           cl.NodeAMIType,
		NodeMinSize:           cl.NodeMinSize,
		NodeDesiredSize:       cl.NodeDesiredSize,
		NodeMaxSize:           cl.NodeMaxSize,
		EndpointPublicAccess:  cl.EndpointPublicAccess,
		EndpointPrivateAccess: cl.EndpointPrivateAccess,
		PublicAccessCIDRs:     cl.PublicAccessCIDRs,
		Addons: components.AddonVersions{
			VPCCNI: cl.VPCCNIVersion, CoreDNS: cl.CoreDNSVersion, KubeProxy: cl.KubeProxyVersion,
			PodIdentityAgent: cl.PodIdentityAgentVersion,
		},
		WorkloadIdentity: cl.WorkloadIdentity,
		AutoMode:         cl.AutoMode(),
		AutoNodes:        components.AutoNodes{Architecture: cl.AutoNodeArchitecture, CapacityType: cl.AutoNodeCapacityType},
		AccessEntries:    cl.ParsedAccessEntries(),
		Tags:             tags,
	})
	if err != nil {
		return nil, err
	}

	// The certificate depends on nothing in the cluster: ACM validation runs in parallel with
	// the EKS control plane.
	c := cfg.Certificate
	env.Certificate, err = components.NewCertificate(ctx, cfg.Domain, &components.CertificateArgs{
		Domain:     cfg.Domain,
		Mode:       c.Mode,
		ZoneID:     zoneID,
		ARN:        c.ARN,
		Body:       c.Body,
		Chain:      c.Chain,
		PrivateKey: pulumi.ToSecret(pulumi.String(c.PrivateKey.Reveal())).(pulumi.StringOutput),
		Tags:       tags,
	})
	if err != nil {
		return nil, err
	}

	if cfg.EffectiveDatabase() == DatabaseRDS {
		// Only its security group rule waits for the cluster (for the cluster's group): the
		// instance is created while EKS is.
		d := cfg.Database
		id := cfg.DatabaseIdentifier(ctx.Stack())
		env.Database, err = components.NewRDSDatabase(ctx, id, &components.RDSDatabaseArgs{
			Identifier:            id,
			VPCID:                 env.Network.VPCID,
			SubnetIDs:             env.Network.PrivateSubnetIDs,
			ClientSecurityGroupID: env.Cluster.SecurityGroupID,
			EngineVersion:         d.EngineVersion,
			InstanceClass:         d.InstanceClass,
			AllocatedStorage:      d.AllocatedStorage,
			MaxAllocatedStorage:   d.MaxAllocatedStorage,
			MultiAZ:               d.MultiAZ,
			BackupRetentionDays:   d.BackupRetentionDays,
			BackupWindow:          d.BackupWindow,
			MaintenanceWindow:     strings.ToLower(d.MaintenanceWindow), // as RDS reports it
			DeletionProtection:    d.DeletionProtection,
			ApplyImmediately:      d.ApplyImmediately,
			Tags:                  tags,
		})
		if err != nil {
			return nil, err
		}
	}

	if err := deployKubernetes(ctx, cfg, op, crds, caBundle, env, zoneID, tags); err != nil {
		return nil, err
	}

	env.Outputs[outputs.Region] = pulumi.String(cfg.Region)
	env.Outputs[outputs.Domain] = pulumi.String(cfg.Domain)
	env.Outputs[outputs.ClusterName] = env.Cluster.Name
	env.Outputs[outputs.VPCID] = env.Network.VPCID
	env.Outputs[outputs.CertificateARN] = env.Certificate.ARN
	if cfg.Cluster.WorkloadIdentity == components.IRSA {
		env.Outputs[outputs.OIDCProviderARN] = env.Cluster.OIDCProviderARN
	}
	env.Outputs[outputs.Kubeconfig] = env.Cluster.Kubeconfig
	env.Outputs[outputs.ALBHostname] = env.ProxyIngress.Hostname
	env.Outputs[outputs.ProxyURL] = pulumi.String("https://proxy." + cfg.Domain)
	if len(cfg.Kong.AdminAllowedCIDRs) > 0 {
		env.Outputs[outputs.KongManagerURL] = env.ControlPlane.ManagerURL
		env.Outputs[outputs.KongAdminAPIURL] = env.ControlPlane.AdminAPIURL
	}
	env.Outputs[outputs.AdminAllowedCIDR] = pulumi.ToStringArray(cfg.Kong.AdminAllowedCIDRs)
	env.Outputs[outputs.ALBInboundCIDRs] = pulumi.ToStringArray(cfg.ALB.InboundCIDRs)
	env.Outputs[outputs.PlainHTTPAllowed] = pulumi.Bool(cfg.ALB.AllowPlainHTTP)
	env.Outputs[outputs.KongVersion] = pulumi.String(cfg.Kong.Version)
	chartVersions := pulumi.StringMap{
		"kong":                         pulumi.String(cfg.Charts.Kong.Version),
		"aws-load-balancer-controller": pulumi.String(cfg.Charts.LoadBalancerController.Version),
		"cert-manager":                 pulumi.String(cfg.Charts.CertManager.Version),
	}
	if cfg.Cluster.AutoMode() {
		delete(chartVersions, "aws-load-balancer-controller")
	}
	env.Outputs[outputs.ChartVersions] = chartVersions
	env.Outputs[outputs.ClusterMode] = pulumi.String(cfg.Cluster.Mode)
	if env.Demo != nil {
		env.Outputs[outputs.DemoURL] = env.Demo.URL
	}
	if env.Database != nil {
		env.Outputs[outputs.DatabaseAddress] = env.Database.Address
		env.Outputs[outputs.DatabaseFinalSnapshot] = env.Database.FinalSnapshot
	}

	for name, value := range env.Outputs {
		ctx.Export(name, value)
	}
	return env, nil
}

// deployKubernetes registers everything inside the cluster, through its provider, and the DNS
// records that follow the ALB.
func deployKubernetes(ctx *pulumi.Context, cfg Config, op Operation, crds chartCRDs, caBundle string, env *Environment, zoneID pulumi.StringInput, tags map[string]string) error {
	k8s := pulumi.Providers(env.Cluster.Provider)
	kong := cfg.Kong

	// Volumes for the bundled PostgreSQL (and any other workload).
	var err error
	env.Storage, err = components.NewEBSCSIDriver(ctx, "ebs-csi-driver", &components.EBSCSIDriverArgs{
		ClusterName:       env.Cluster.Name,
		KubernetesVersion: env.Cluster.KubernetesVersion,
		Identity:          env.Cluster.Identity,
		AddonVersion:      cfg.Cluster.EBSCSIDriverVersion,
		BuiltIn:           cfg.Cluster.AutoMode(),
		Nodes:             env.Cluster.Nodes,
		Kubeconfig:        env.Cluster.Kubeconfig,
		KubeconfigEnv:     op.Env,
		Tags:              tags,
	}, k8s)
	if err != nil {
		return err
	}

	ns, err := corev1.NewNamespace(ctx, kong.Namespace, &corev1.NamespaceArgs{
		Metadata: metav1.ObjectMetaArgs{
			Name: pulumi.String(kong.Namespace),
			// The load balancer controller injects its pod readiness gates only into pods of
			// namespaces with this label: a data plane pod then counts as ready only once the
			// ALB's health check passes, so a rollout or a drain never runs ahead of the ALB.
			Labels: pulumi.StringMap{readinessGateLabel(cfg): pulumi.String("enabled")},
		},
	},
		// Helm keeps a StatefulSet's PersistentVolumeClaims on uninstall: the bundled
		// PostgreSQL's claim goes with the namespace, and its EBS volume later, deleted by the
		// EBS CSI driver. The driver's add-on waits for that before it goes (its delete hook),
		// so the namespace need not wait for the driver on create.
		pulumi.Provider(env.Cluster.Provider))
	if err != nil {
		return err
	}
	namespace := ns.Metadata.Name().Elem()

	// The controller (or in Auto Mode the ALB's IngressClass) and cert-manager install in
	// parallel.
	alb, err := deployALBController(ctx, cfg, crds, env, k8s, tags)
	if err != nil {
		return err
	}
	env.CertManager, err = components.NewCertManager(ctx, "cert-manager", &components.CertManagerArgs{
		Chart:           cfg.Charts.CertManager,
		IssuerNamespace: namespace,
		IssuerName:      kong.IssuerName,
	}, k8s)
	if err != nil {
		return err
	}

	// Both Kong releases wait for the CA issuer through their issuer input. They also wait for
	// the load balancer controller: its pod webhook gives the data plane pods their readiness
	// gates only as they are created (a pod created before it serves has none, the webhook
	// fails open), and its Ingress webhook admits the control plane's Kong-class Ingresses. It
	// installs in parallel with cert-manager, which takes as long, so this costs nothing.
	kongWaitsFor := alb.kongWaitsFor
	controlPlaneWaitsFor := kongWaitsFor
	if cfg.EffectiveDatabase() == DatabaseBundled {
		// The bundled PostgreSQL's volume needs the EBS CSI driver and a default StorageClass.
		controlPlaneWaitsFor = append(append([]pulumi.Resource{}, kongWaitsFor...), env.Storage.Ready...)
	}
	env.ControlPlane, err = components.NewKongControlPlane(ctx, kong.ControlPlaneRelease, &components.KongControlPlaneArgs{
		Namespace:         namespace,
		NamespaceName:     kong.Namespace,
		ReleaseName:       kong.ControlPlaneRelease,
		DataPlaneRelease:  kong.DataPlaneRelease,
		Version:           kong.Version,
		Chart:             cfg.Charts.Kong,
		CRDs:              crds.Kong,
		IssuerName:        env.CertManager.IssuerName,
		Postgres:          controlPlaneDatabase(cfg, env.Database, caBundle),
		Domain:            cfg.Domain,
		AdminAllowedCIDRs: kong.AdminAllowedCIDRs,
		WaitFor:           controlPlaneWaitsFor,
	}, k8s)
	if err != nil {
		return err
	}
	env.DataPlane, err = components.NewKongDataPlane(ctx, kong.DataPlaneRelease, &components.KongDataPlaneArgs{
		Namespace:           namespace,
		NamespaceName:       kong.Namespace,
		ReleaseName:         kong.DataPlaneRelease,
		ControlPlaneRelease: kong.ControlPlaneRelease,
		Version:             kong.EffectiveDataPlaneVersion(),
		Chart:               cfg.Charts.Kong,
		IssuerName:          env.CertManager.IssuerName,
		Replicas:            kong.DataPlaneReplicas,
		TrustedCIDRs:        env.Network.PublicSubnetCIDRs,
		DeregistrationDelay: components.ALBDeregistrationDelay,
		WaitFor:             kongWaitsFor,
	}, k8s)
	if err != nil {
		return err
	}

	// Restarts the Kong planes when their cluster certificates are renewed. Nothing waits
	// for it: the first renewal comes weeks after the first up.
	env.Reloader, err = components.NewReloader(ctx, "reloader", &components.ReloaderArgs{
		Namespace:     namespace,
		NamespaceName: kong.Namespace,
		Chart:         cfg.Charts.Reloader,
	}, k8s)
	if err != nil {
		return err
	}

	lb := cfg.ALB
	env.ProxyIngress, err = components.NewProxyIngress(ctx, "kong-proxy", &components.ProxyIngressArgs{
		Namespace: namespace,
		Domain:    cfg.Domain,
		// The name, known in advance, not the release's output: the ALB is provisioned while
		// Kong installs. The controller builds it even before the Service exists (a missing
		// backend Service gets a 503 rule, --tolerate-non-existent-backend-service defaults to
		// true) and watches Services, so the chart's Service is picked up the moment it is
		// created.
		ServiceName:     pulumi.String(env.DataPlane.ProxyService),
		ServicePort:     env.DataPlane.ProxyPort,
		CertificateARN:  env.Certificate.ARN,
		PublicSubnetIDs: env.Network.PublicSubnetIDs,
		AllowPlainHTTP:  lb.AllowPlainHTTP,
		SSLPolicy:       lb.SSLPolicy,
		InboundCIDRs:    lb.InboundCIDRs,
		WAFv2ACLARN:     lb.WAFv2ACLARN,
		IPAddressType:   cfg.ALB.IPAddressType,
		Tags:            tags,
		Class:           alb.class,
		AutoMode:        cfg.Cluster.AutoMode(),
		WaitFor:         alb.ready,
	}, k8s)
	if err != nil {
		return err
	}

	// The ALB's hostname, an output of the Ingress, is the records' alias target.
	env.DNS, err = components.NewWildcardRecords(ctx, cfg.Domain, &components.WildcardRecordsArgs{
		Domain:      cfg.Domain,
		ZoneID:      zoneID,
		Region:      cfg.Region,
		ALBHostname: env.ProxyIngress.Hostname,
		IPv6:        lb.IPAddressType == DualStack,
	})
	if err != nil {
		return err
	}

	if cfg.Demo.Enabled {
		env.Demo, err = components.NewDemoWorkload(ctx, cfg.Demo.Name, &components.DemoWorkloadArgs{
			Name:    cfg.Demo.Name,
			Domain:  cfg.Domain,
			Image:   cfg.Demo.Image,
			WaitFor: append([]pulumi.Resource{env.ControlPlane.Release}, alb.kongWaitsFor...),
		}, k8s)
		if err != nil {
			return err
		}
	}
	return nil
}

// controlPlaneDatabase is what Kong's control plane connects to: the bundled PostgreSQL, the
// RDS instance (over verified TLS) or the database postgresHost names.
func controlPlaneDatabase(cfg Config, rds *components.RDSDatabase, caBundle string) components.KongPostgres {
	kong := cfg.Kong
	switch cfg.EffectiveDatabase() {
	case DatabaseRDS:
		return components.KongPostgres{
			Host:      rds.Address,
			Port:      components.PostgresPort,
			Database:  rds.Database,
			User:      rds.User,
			Password:  rds.Password,
			SSL:       true,
			CABundle:  pulumi.String(caBundle),
			Reachable: rds.Reachable,
		}
	case DatabaseExternal:
		return components.KongPostgres{
			Host:     pulumi.String(kong.PostgresHost),
			Port:     kong.PostgresPort,
			Database: kong.PostgresDatabase,
			User:     kong.PostgresUser,
			Password: pulumi.ToSecret(pulumi.String(kong.PostgresPassword.Reveal())).(pulumi.StringOutput),
			SSL:      kong.PostgresSSL,
		}
	}
	return components.KongPostgres{ImageRepository: kong.PostgresImageRepository, ImageTag: kong.PostgresImageTag}
}

// albController is what makes the ALB: the load balancer controller's release, or in Auto Mode
// EKS's built-in controller, through the IngressClass the program makes for it.
type albController struct {
	// class is the proxy Ingress's IngressClass.
	class string
	// ready: the proxy Ingress is created after these (and deleted before them).
	ready []pulumi.Resource
	// kongWaitsFor: what Kong's releases and the demo wait for. The controller's pod webhook
	// gives the data plane pods their readiness gates only as they are created (a pod created
	// before it serves has none: the webhook fails open), and its Ingress webhook admits the
	// Kong-class Ingresses. EKS Auto Mode's are part of the cluster.
	kongWaitsFor []pulumi.Resource
}

func deployALBController(ctx *pulumi.Context, cfg Config, crds chartCRDs, env *Environment, k8s pulumi.ResourceOption, tags map[string]string) (albController, error) {
	if cfg.Cluster.AutoMode() {
		class, err := components.NewALBIngressClass(ctx, "alb", &components.ALBIngressClassArgs{
			Name:            "alb",
			IPAddressType:   cfg.ALB.IPAddressType,
			SubnetIDs:       env.Network.PublicSubnetIDs,
			CertificateARNs: pulumi.StringArray{env.Certificate.ARN},
		}, k8s)
		if err != nil {
			return albController{}, err
		}
		env.ALBIngressClass = class
		return albController{class: "alb", ready: class.Ready}, nil
	}
	lbc, err := components.NewLoadBalancerController(ctx, "aws-load-balancer-controller", &components.LoadBalancerControllerArgs{
		ClusterName: env.Cluster.Name,
		Region:      cfg.Region,
		VPCID:       env.Network.VPCID,
		Identity:    env.Cluster.Identity,
		Chart:       cfg.Charts.LoadBalancerController,
		CRDs:        crds.LoadBalancerController,
		Tags:        tags,
	}, k8s)
	if err != nil {
		return albController{}, err
	}
	env.LoadBalancerController = lbc
	return albController{class: "alb", ready: []pulumi.Resource{lbc.Ready}, kongWaitsFor: []pulumi.Resource{lbc.Ready}}, nil
}

// readinessGateLabel is the namespace label under which the ALB's controller gives pods
// target-health readiness gates: the load balancer controller's, or EKS Auto Mode's (AWS's
// blog "How to build highly available Kubernetes applications with Amazon EKS Auto Mode";
// the user guide does not name it).
func readinessGateLabel(cfg Config) string {
	if cfg.Cluster.AutoMode() {
		return components.AutoModePodReadinessGateLabel
	}
	return components.PodReadinessGateLabel
}
