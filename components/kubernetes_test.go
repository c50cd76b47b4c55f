package components_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/kong-alb-eks/kong-alb-eks/components"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth/answers"
	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
)

var kongChart = components.ChartSource{Chart: "kong", Repository: "https://charts.konghq.com", Version: "3.4.1"}

func TestLoadBalancerControllerPolicyIsTheOfficialOne(t *testing.T) {
	t.Parallel()
	var doc struct {
		Version   string
		Statement []struct {
			Effect   string
			Action   any
			Resource any
		}
	}
	if err := json.Unmarshal([]byte(components.LoadBalancerControllerPolicy), &doc); err != nil {
		t.Fatalf("the embedded policy does not parse: %v", err)
	}
	assertEqual(t, "policy version", doc.Version, "2012-10-17")
	assertEqual(t, "statements", len(doc.Statement), 16)
	actions := map[string]bool{}
	for _, s := range doc.Statement {
		assertEqual(t, "effect", s.Effect, "Allow")
		switch a := s.Action.(type) {
		case string:
			actions[a] = true
		case []any:
			for _, x := range a {
				actions[x.(string)] = true
			}
		}
	}
	for _, a := range []string{
		"iam:CreateServiceLinkedRole", "elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup",
		"elasticloadbalancing:RegisterTargets", "ec2:AuthorizeSecurityGroupIngress", "acm:DescribeCertificate",
		"wafv2:AssociateWebACL", "wafv2:DisassociateWebACL", "wafv2:GetWebACLForResource", "ec2:DescribeSubnets", "elasticloadbalancing:AddTags",
	} {
		if !actions[a] {
			t.Errorf("the policy lacks %s", a)
		}
	}
}

func TestLoadBalancerControllerTrustsOnlyItsServiceAccount(t *testing.T) {
	t.Parallel()
	const providerARN = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"
	doc := render(t, func(ctx *pulumi.Context) (pulumi.Map, error) {
		c, err := components.NewLoadBalancerController(ctx, "lbc", &components.LoadBalancerControllerArgs{
			ClusterName: pulumi.String("demo"), Region: region, VPCID: pulumi.String("vpc-0123456789abcdef0"),
			Identity: components.WorkloadIdentity{Mode: components.IRSA,
				OIDCProviderARN: pulumi.String(providerARN), OIDCIssuerURL: pulumi.String("https://oidc.eks.us-east-1.amazonaws.com/id/ABC")},
			Chart: components.ChartSource{Chart: "aws-load-balancer-controller", Repository: "https://aws.github.io/eks-charts", Version: "3.5.0"},
		})
		if err != nil {
			return nil, err
		}
		return pulumi.Map{"role": c.RoleARN}, nil
	})
	role := testkit.Named(t, doc, "aws:iam/role:Role", "lbc")
	var trust struct {
		Statement []struct {
			Principal struct{ Federated string }
			Action    string
			Condition map[string]map[string]string
		}
	}
	if err := json.Unmarshal([]byte(role.Input("assumeRolePolicy").(string)), &trust); err != nil {
		t.Fatal(err)
	}
	st := trust.Statement[0]
	assertEqual(t, "federated principal", st.Principal.Federated, providerARN)
	assertEqual(t, "action", st.Action, "sts:AssumeRoleWithWebIdentity")
	cond := st.Condition["StringEquals"]
	assertEqual(t, "sub", cond["oidc.eks.us-east-1.amazonaws.com/id/ABC:sub"], "system:serviceaccount:kube-system:aws-load-balancer-controller")
	assertEqual(t, "aud", cond["oidc.eks.us-east-1.amazonaws.com/id/ABC:aud"], "sts.amazonaws.com")

	policy := testkit.Named(t, doc, "aws:iam/policy:Policy", "lbc")
	assertEqual(t, "policy document", policy.Input("policy"), components.LoadBalancerControllerPolicy)
	attachment := testkit.Named(t, doc, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "lbc")
	assertWaitsOn(t, attachment, policy)

	release := testkit.Named(t, doc, "kubernetes:helm.sh/v3:Release", "lbc")
	assertEqual(t, "chart", release.Input("chart"), "aws-load-balancer-controller")
	assertEqual(t, "version", release.Input("version"), "3.5.0")
	assertEqual(t, "repo", release.Input("repositoryOpts.repo"), "https://aws.github.io/eks-charts")
	assertEqual(t, "namespace", release.Input("namespace"), "kube-system")
	assertEqual(t, "clusterName", release.Input("values.clusterName"), "demo")
	assertEqual(t, "region", release.Input("values.region"), region)
	assertEqual(t, "vpcId", release.Input("values.vpcId"), "vpc-0123456789abcdef0")
	assertEqual(t, "service account", release.Input("values.serviceAccount.name"), "aws-load-balancer-controller")
	assertEqual(t, "IRSA annotation", synth.LookupParts(release.Inputs, "values", "serviceAccount", "annotations", "eks.amazonaws.com/role-arn"), "arn:aws:iam::123456789012:role/lbc")
	assertEqual(t, "service mutator webhook", release.Input("values.enableServiceMutatorWebhook"), false)
	assertEqual(t, "keepTLSSecret", release.Input("values.keepTLSSecret"), true)
	assertEqual(t, "helm waits", release.Input("skipAwait"), false)
	assertWaitsOn(t, release, attachment)
	assertWaitsOn(t, release, role)
}

func TestCertManagerIssuerWaitsForTheWebhook(t *testing.T) {
	t.Parallel()
	doc := render(t, func(ctx *pulumi.Context) (pulumi.Map, error) {
		c, err := components.NewCertManager(ctx, "cm", &components.CertManagerArgs{
			Chart:           components.ChartSource{Chart: "cert-manager", Repository: "https://charts.jetstack.io", Version: "v1.21.1"},
			IssuerNamespace: pulumi.String("kong"), IssuerName: "my-ca-issuer",
		})
		if err != nil {
			return nil, err
		}
		return pulumi.Map{"issuer": c.IssuerName}, nil
	})
	release := testkit.Named(t, doc, "kubernetes:helm.sh/v3:Release", "cm")
	assertEqual(t, "CRDs", release.Input("values.crds.enabled"), true)
	assertEqual(t, "startupapicheck", release.Input("values.startupapicheck.enabled"), true)
	assertEqual(t, "version", release.Input("version"), "v1.21.1")
	// Helm never deletes a namespace it created: the program owns it, so destroy removes it
	// (seen against the real API server: tests/wholeprogram).
	ns := testkit.Named(t, doc, "kubernetes:core/v1:Namespace", "cm")
	assertEqual(t, "namespace", ns.Input("metadata.name"), "cert-manager")
	assertEqual(t, "release namespace", release.Input("namespace"), "cert-manager")
	assertEqual(t, "Helm creates no namespace", release.Input("createNamespace"), nil)
	assertWaitsOn(t, release, ns)

	selfSigned := testkit.Named(t, doc, "kubernetes:cert-manager.io/v1:ClusterIssuer", "cm-selfsigned")
	ca := testkit.Named(t, doc, "kubernetes:cert-manager.io/v1:Certificate", "cm-ca")
	issuer := testkit.Named(t, doc, "kubernetes:cert-manager.io/v1:Issuer", "cm-issuer")
	for _, r := range []synth.Resource{selfSigned, ca, issuer} {
		assertWaitsOn(t, r, release)
	}
	assertEqual(t, "CA isCA", ca.Input("spec.isCA"), true)
	assertEqual(t, "CA namespace", ca.Input("metadata.namespace"), "kong")
	assertEqual(t, "CA issuer ref", ca.Input("spec.issuerRef.name"), "my-ca-issuer-selfsigned")
	assertEqual(t, "CA issuer kind", ca.Input("spec.issuerRef.kind"), "ClusterIssuer")
	assertEqual(t, "issuer name", issuer.Input("metadata.name"), "my-ca-issuer")
	assertEqual(t, "issuer namespace", issuer.Input("metadata.namespace"), "kong")
	assertEqual(t, "issuer CA secret", issuer.Input("spec.ca.secretName"), ca.Input("spec.secretName"))
	assertEqual(t, "issuer awaits Ready", issuer.Annotation("pulumi.com/waitFor"), "condition=Ready")
	assertWaitsOn(t, issuer, ca)
	assertEqual(t, "issuer output", doc.Outputs["issuer"], "my-ca-issuer")
}

type kongPlanes struct {
	adminCIDRs []string
	postgres   components.KongPostgres
}

func renderKong(t *testing.T, p kongPlanes) *synth.Document {
	return render(t, func(ctx *pulumi.Context) (pulumi.Map, error) {
		cp, err := components.NewKongControlPlane(ctx, "kong-aws-cp", &components.KongControlPlaneArgs{
			Namespace: pulumi.String("kong"), NamespaceName: "kong", ReleaseName: "kong-aws-cp", DataPlaneRelease: "kong-aws-dp",
			Version: "3.10.0.4", Chart: kongChart, IssuerName: pulumi.String("my-ca-issuer"),
			Postgres: p.postgres, Domain: "eks.example.com", AdminAllowedCIDRs: p.adminCIDRs,
		})
		if err != nil {
			return nil, err
		}
		dp, err := components.NewKongDataPlane(ctx, "kong-aws-dp", &components.KongDataPlaneArgs{
			Namespace: pulumi.String("kong"), NamespaceName: "kong", ReleaseName: "kong-aws-dp", ControlPlaneRelease: "kong-aws-cp",
			Version: "3.10.0.4", Chart: kongChart, IssuerName: pulumi.String("my-ca-issuer"), Replicas: 3,
			TrustedCIDRs:        pulumi.ToStringArray([]string{"10.0.0.0/22", "100.64.0.0/24", "2600:1f18:abcd:ef00::/64"}),
			DeregistrationDelay: 30,
		})
		if err != nil {
			return nil, err
		}
		return pulumi.Map{"manager": cp.ManagerURL, "admin": cp.AdminAPIURL, "proxyService": pulumi.String(dp.ProxyService)}, nil
	})
}

var bundledPostgres = components.KongPostgres{ImageRepository: "docker.io/bitnamilegacy/postgresql", ImageTag: "13.11.0-debian-11-r20"}

func TestKongControlPlaneValues(t *testing.T) {
	t.Parallel()
	doc := renderKong(t, kongPlanes{postgres: bundledPostgres})
	cp := testkit.Named(t, doc, "kubernetes:helm.sh/v3:Release", "kong-aws-cp")
	for path, want := range map[string]any{
		"name": "kong-aws-cp", "namespace": "kong", "chart": "kong", "version": "3.4.1",
		"values.image.repository": "kong/kong-gateway", "values.image.tag": "3.10.0.4",
		"values.env.role": "control_plane", "values.env.database": "postgres",
		"values.cluster.enabled": true, "values.cluster.tls.enabled": true, "values.cluster.tls.servicePort": 8005.0,
		"values.clustertelemetry.enabled": true, "values.clustertelemetry.tls.enabled": true, "values.clustertelemetry.tls.servicePort": 8006.0,
		"values.certificates.enabled": true, "values.certificates.issuer": "my-ca-issuer",
		"values.certificates.cluster.enabled": true, "values.certificates.cluster.commonName": "kong_cluster",
		"values.certificates.proxy.enabled": false,
		"values.enterprise.enabled":         true, "values.proxy.enabled": false,
		"values.ingressController.enabled": true, "values.ingressController.ingressClass": "kong",
		"values.ingressController.env.publish_service": "kong/kong-aws-dp-kong-proxy",
		// Not published: the Admin API listens on localhost only.
		"values.admin.enabled": false, "values.admin.http.enabled": true, "values.admin.http.containerPort": 8001.0,
		"values.manager.type":       "ClusterIP",
		"values.postgresql.enabled": true, "values.postgresql.image.registry": "docker.io",
		"values.postgresql.image.repository": "bitnamilegacy/postgresql", "values.postgresql.image.tag": "13.11.0-debian-11-r20",
		"values.postgresql.auth.existingSecret":              "kong-aws-cp-postgres",
		"values.env.pg_password.valueFrom.secretKeyRef.name": "kong-aws-cp-postgres",
		"values.env.pg_password.valueFrom.secretKeyRef.key":  "password",
		// Not published: Kong Manager finds the Admin API through a port-forward.
		"values.env.admin_gui_url": "http://localhost:8002", "values.env.admin_gui_api_url": "http://localhost:8001",
		"waitForJobs": true, "skipAwait": false,
	} {
		assertEqual(t, "control plane "+path, cp.Input(path), want)
	}
}

func TestBundledPostgresPasswordsAreGeneratedOnceAndSecret(t *testing.T) {
	t.Parallel()
	doc := renderKong(t, kongPlanes{postgres: bundledPostgres})
	cp := testkit.Named(t, doc, "kubernetes:helm.sh/v3:Release", "kong-aws-cp")
	secret := testkit.Named(t, doc, "kubernetes:core/v1:Secret", "kong-aws-cp-postgres")
	assertEqual(t, "secret data", secret.Input("stringData"), synth.Secret)
	for _, key := range []string{"password", "postgres-password"} {
		pw := testkit.Named(t, doc, "random:index/randomPassword:RandomPassword", "kong-aws-cp-"+key)
		assertEqual(t, key+" length", pw.Input("length"), 32.0)
		assertWaitsOn(t, secret, pw)
	}
	assertWaitsOn(t, cp, secret)
}

func TestKongDataPlaneValues(t *testing.T) {
	t.Parallel()
	doc := renderKong(t, kongPlanes{postgres: bundledPostgres})
	dp := testkit.Named(t, doc, "kubernetes:helm.sh/v3:Release", "kong-aws-dp")
	cp := testkit.Named(t, doc, "kubernetes:helm.sh/v3:Release", "kong-aws-cp")
	for path, want := range map[string]any{
		"name": "kong-aws-dp", "values.env.role": "data_plane", "values.env.database": "off",
		// Derived from the control plane's release name.
		"values.env.cluster_control_plane":      "kong-aws-cp-kong-cluster.kong.svc:8005",
		"values.env.cluster_telemetry_endpoint": "kong-aws-cp-kong-clustertelemetry.kong.svc.cluster.local:8006",
		// Every range the ALB takes addresses from, IPv6 too: Kong believes X-Forwarded-For
		// only from trusted_ips (Kong configuration reference, trusted_ips).
		"values.env.trusted_ips":    "10.0.0.0/22,100.64.0.0/24,2600:1f18:abcd:ef00::/64",
		"values.env.real_ip_header": "X-Forwarded-For",
		"values.proxy.enabled":      true, "values.proxy.type": "ClusterIP",
		"values.proxy.tls.enabled": true, "values.proxy.tls.servicePort": 443.0, "values.proxy.http.enabled": true,
		"values.status.http.enabled": true, "values.status.http.containerPort": 8100.0,
		"values.admin.enabled": false, "values.manager.enabled": false, "values.ingressController.enabled": false,
		"values.replicaCount": 3.0, "values.podDisruptionBudget.enabled": true,
		"values.certificates.cluster.enabled": true, "values.cluster.enabled": true,
	} {
		assertEqual(t, "data plane "+path, dp.Input(path), want)
	}
	// One issuer, one CA, for both planes.
	assertEqual(t, "issuer shared", dp.Input("values.certificates.issuer"), cp.Input("values.certificates.issuer"))
	assertEqual(t, "cluster common name shared", dp.Input("values.certificates.cluster.commonName"), cp.Input("values.certificates.cluster.commonName"))
	assertEqual(t, "proxy service", doc.Outputs["proxyService"], "kong-aws-dp-kong-proxy")
	// The planes install in parallel.
	assertNotWaitsOn(t, dp, cp)
	assertNotWaitsOn(t, cp, dp)
}

// A stopping data plane keeps serving while the ALB drains it. The load balancer controller
// deregisters a pod's IP once it terminates; the ALB stops sending new requests within seconds
// and lets open ones finish for the deregistration delay (ELB User Guide, "Deregistration
// delay"). The chart's preStop hook runs `kong quit --wait=N` (values.yaml, lifecycle: Kong
// keeps serving N seconds, then quits gracefully within --timeout), inside
// terminationGracePeriodSeconds.
func TestKongDataPlaneDrainsLongerThanTheALB(t *testing.T) {
	t.Parallel()
	doc := renderKong(t, kongPlanes{postgres: bundledPostgres})
	dp := testkit.Named(t, doc, "kubernetes:helm.sh/v3:Release", "kong-aws-dp")
	command := stringsOf(dp.Input("values.lifecycle.preStop.exec.command"))
	if len(command) != 4 || command[0] != "kong" || command[1] != "quit" {
		t.Fatalf("preStop = %v, want kong quit --wait=N --timeout=M", command)
	}
	var wait, timeout int
	if _, err := fmt.Sscanf(command[2]+" "+command[3], "--wait=%d --timeout=%d", &wait, &timeout); err != nil {
		t.Fatalf("preStop = %v: %v", command, err)
	}
	if wait <= 30 {
		t.Errorf("Kong stops serving after %d s, before the ALB's 30 s deregistration delay ends", wait)
	}
	grace, _ := dp.Input("values.terminationGracePeriodSeconds").(float64)
	if int(grace) <= wait+timeout {
		t.Errorf("the kubelet kills Kong after %v s, before its %d s wait and %d s shutdown end", grace, wait, timeout)
	}
}

// A data plane is Ready only with a non-empty configuration (Kong kong/status/ready.lua:
// "no configuration available (empty configuration present)"), and the ingress controller
// adds no entity of its own in database mode. The control plane therefore always holds one:
// a global plugin (KIC: a KongClusterPlugin labelled global "true", of the controller's
// ingress class), created as soon as the control plane (its CRD, its controller) is there and
// never waiting for the data plane that needs it.
func TestControlPlaneAlwaysHasAConfigurationToPush(t *testing.T) {
	t.Parallel()
	for _, cidrs := range [][]string{nil, {"203.0.113.0/24"}} {
		doc := renderKong(t, kongPlanes{postgres: bundledPostgres, adminCIDRs: cidrs})
		cp := testkit.Named(t, doc, "kubernetes:helm.sh/v3:Release", "kong-aws-cp")
		dp := testkit.Named(t, doc, "kubernetes:helm.sh/v3:Release", "kong-aws-dp")
		plugin := testkit.Named(t, doc, "kubernetes:configuration.konghq.com/v1:KongClusterPlugin", "kong-aws-cp-request-id")
		assertEqual(t, "global", plugin.Input("metadata.labels.global"), "true")
		assertEqual(t, "ingress class", plugin.Annotation("kubernetes.io/ingress.class"), cp.Input("values.ingressController.ingressClass"))
		assertEqual(t, "plugin", plugin.Input("plugin"), "correlation-id")
		assertEqual(t, "echoed to clients", plugin.Input("config.echo_downstream"), true)
		assertWaitsOn(t, plugin, cp)
		assertNotWaitsOn(t, plugin, dp)
	}
}

// The Admin API and Kong Manager have no authentication in free mode: only Kong's own pods
// may reach them. Selecting the control plane's pods denies them every other inbound
// connection (Kubernetes NetworkPolicy semantics), so the policy must keep open what the
// deployment needs: the cluster listeners for the data planes, and from anywhere the ingress
// controller's admission webhook (the API server calls it), the status listener and the
// controller's health port (probes). Chart 3.4.1 labels the Deployment's pods with name,
// instance and component "app"; the migration Jobs' and PostgreSQL's pods differ.
func TestAdminPortsAreOpenToKongOnly(t *testing.T) {
	t.Parallel()
	doc := renderKong(t, kongPlanes{postgres: bundledPostgres, adminCIDRs: []string{"203.0.113.0/24"}})
	policy := testkit.Named(t, doc, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "kong-aws-cp-admin")
	assertEqual(t, "namespace", policy.Input("metadata.namespace"), "kong")
	selector := func(path string) string {
		m, _ := synth.Lookup(policy.Inputs, path).(map[string]any)
		return fmt.Sprintf("%v/%v/%v", m["app.kubernetes.io/name"], m["app.kubernetes.io/instance"], m["app.kubernetes.io/component"])
	}
	assertEqual(t, "selects the control plane's Kong pods", selector("spec.podSelector.matchLabels"), "kong/kong-aws-cp/app")
	assertEqual(t, "policy types", strings.Join(stringsOf(policy.Input("spec.policyTypes")), ","), "Ingress")
	ports := func(rule int) string {
		var out []string
		items, _ := synth.Lookup(policy.Inputs, fmt.Sprintf("spec.ingress.%d.ports", rule)).([]any)
		for _, p := range items {
			m, _ := p.(map[string]any)
			out = append(out, fmt.Sprintf("%v/%v", m["protocol"], m["port"]))
		}
		return strings.Join(out, ",")
	}
	assertEqual(t, "admin and manager ports", ports(0), "TCP/8001,TCP/8002")
	assertEqual(t, "admin from the data planes", selector("spec.ingress.0.from.0.podSelector.matchLabels"), "kong/kong-aws-dp/app")
	assertEqual(t, "admin from the control plane", selector("spec.ingress.0.from.1.podSelector.matchLabels"), "kong/kong-aws-cp/app")
	assertEqual(t, "admin from nothing else", len(synth.Lookup(policy.Inputs, "spec.ingress.0.from").([]any)), 2)
	assertEqual(t, "cluster listeners", ports(1), "TCP/8005,TCP/8006")
	assertEqual(t, "cluster listeners from the data planes", selector("spec.ingress.1.from.0.podSelector.matchLabels"), "kong/kong-aws-dp/app")
	assertEqual(t, "webhook, status, controller health and metrics", ports(2), "TCP/8080,TCP/8100,TCP/10254,TCP/10255")
	assertEqual(t, "those from anywhere", synth.Lookup(policy.Inputs, "spec.ingress.2.from"), nil)
	assertEqual(t, "rules", len(synth.Lookup(policy.Inputs, "spec.ingress").([]any)), 3)
	// The chart's Kong proxy container probes the status listener, the controller its health port.
	cp := testkit.Named(t, doc, "kubernetes:helm.sh/v3:Release", "kong-aws-cp")
	assertEqual(t, "status listener", cp.Input("values.status.http.containerPort"), float64(components.KongStatusPort))
}

func TestAdminIsNotPublishedWithoutAnAllowlist(t *testing.T) {
	t.Parallel()
	doc := renderKong(t, kongPlanes{postgres: bundledPostgres})
	assertEqual(t, "ingresses", len(doc.Find("kubernetes:networking.k8s.io/v1:Ingress")), 0)
	assertEqual(t, "plugins", len(doc.Find("kubernetes:configuration.konghq.com/v1:KongPlugin")), 0)
	assertEqual(t, "manager URL", doc.Outputs["manager"], "")
	assertEqual(t, "admin URL", doc.Outputs["admin"], "")
}

func TestAdminIsPublishedOnlyToTheAllowlist(t *testing.T) {
	t.Parallel()
	doc := renderKong(t, kongPlanes{postgres: bundledPostgres, adminCIDRs: []string{"203.0.113.0/24", "198.51.100.7/32"}})
	cp := testkit.Named(t, doc, "kubernetes:helm.sh/v3:Release", "kong-aws-cp")
	assertEqual(t, "admin_gui_url", cp.Input("values.env.admin_gui_url"), "https://kong.eks.example.com")
	assertEqual(t, "admin_gui_api_url", cp.Input("values.env.admin_gui_api_url"), "https://kong.eks.example.com/api")
	assertEqual(t, "admin Service for the data planes", cp.Input("values.admin.enabled"), true)

	plugin := testkit.Named(t, doc, "kubernetes:configuration.konghq.com/v1:KongPlugin", "kong-aws-cp-admin-allowlist")
	assertEqual(t, "plugin", plugin.Input("plugin"), "ip-restriction")
	assertEqual(t, "allow", strings.Join(stringsOf(plugin.Input("config.allow")), ","), "203.0.113.0/24,198.51.100.7/32")
	assertWaitsOn(t, plugin, cp)

	manager := testkit.Named(t, doc, "kubernetes:networking.k8s.io/v1:Ingress", "kong-aws-cp-manager")
	admin := testkit.Named(t, doc, "kubernetes:networking.k8s.io/v1:Ingress", "kong-aws-cp-admin")
	for _, c := range []struct {
		ing           synth.Resource
		path, service string
		port          float64
	}{{manager, "/", "kong-aws-cp-kong-manager", 8002}, {admin, "/api", "kong-aws-cp-kong-admin", 8001}} {
		assertEqual(t, c.ing.Name+" class", c.ing.Input("spec.ingressClassName"), "kong")
		assertEqual(t, c.ing.Name+" host", c.ing.Input("spec.rules.0.host"), "kong.eks.example.com")
		assertEqual(t, c.ing.Name+" path", c.ing.Input("spec.rules.0.http.paths.0.path"), c.path)
		assertEqual(t, c.ing.Name+" service", c.ing.Input("spec.rules.0.http.paths.0.backend.service.name"), c.service)
		assertEqual(t, c.ing.Name+" port", c.ing.Input("spec.rules.0.http.paths.0.backend.service.port.number"), c.port)
		assertEqual(t, c.ing.Name+" plugins", c.ing.Annotation("konghq.com/plugins"), "kong-aws-cp-admin-allowlist")
		// The allowlist exists before the route does.
		assertWaitsOn(t, c.ing, plugin)
		assertWaitsOn(t, c.ing, cp)
	}
	assertEqual(t, "admin strip-path", admin.Annotation("konghq.com/strip-path"), "true")
	assertEqual(t, "manager URL", doc.Outputs["manager"], "https://kong.eks.example.com")
	assertEqual(t, "admin URL", doc.Outputs["admin"], "https://kong.eks.example.com/api")
}

func TestExternalPostgresPasswordStaysOutOfHelmValues(t *testing.T) {
	t.Parallel()
	const password = "correct-horse-battery-staple"
	doc := renderKong(t, kongPlanes{postgres: components.KongPostgres{
		Host: pulumi.String("kong.abc123.us-east-1.rds.amazonaws.com"), Port: 5432, Database: "kong", User: "kong",
		Password: pulumi.String(password), SSL: true,
	}})
	cp := testkit.Named(t, doc, "kubernetes:helm.sh/v3:Release", "kong-aws-cp")
	secret := testkit.Named(t, doc, "kubernetes:core/v1:Secret", "kong-aws-cp-postgres")
	assertEqual(t, "secret data", secret.Input("stringData"), synth.Secret)
	assertEqual(t, "pg_host", cp.Input("values.env.pg_host"), "kong.abc123.us-east-1.rds.amazonaws.com")
	assertEqual(t, "pg_ssl", cp.Input("values.env.pg_ssl"), "on")
	assertEqual(t, "pg_password from the secret", cp.Input("values.env.pg_password.valueFrom.secretKeyRef.name"), "kong-aws-cp-postgres")
	assertEqual(t, "bundled postgres off", cp.Input("values.postgresql.enabled"), false)
	assertWaitsOn(t, cp, secret)
	b, _ := json.Marshal(doc)
	if strings.Contains(string(b), password) {
		t.Error("the Postgres password appears in plaintext")
	}
}

func proxyArgs() components.ProxyIngressArgs {
	return components.ProxyIngressArgs{
		Namespace: pulumi.String("kong"), Domain: "eks.example.com",
		ServiceName: pulumi.String("kong-aws-dp-kong-proxy"), ServicePort: 443,
		CertificateARN:  pulumi.String("arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"),
		PublicSubnetIDs: pulumi.ToStringArray([]string{"subnet-public0000000001", "subnet-public0000000002"}),
		SSLPolicy:       "ELBSecurityPolicy-TLS13-1-2-2021-06", IPAddressType: "ipv4",
	}
}

func renderProxy(t *testing.T, args components.ProxyIngressArgs) (*synth.Document, synth.Resource) {
	doc := render(t, func(ctx *pulumi.Context) (pulumi.Map, error) {
		pi, err := components.NewProxyIngress(ctx, "kong-proxy", &args)
		if err != nil {
			return nil, err
		}
		return pulumi.Map{"hostname": pi.Hostname}, nil
	})
	return doc, testkit.Named(t, doc, "kubernetes:networking.k8s.io/v1:Ingress", "kong-proxy")
}

func TestProxyIngressMakesTheALB(t *testing.T) {
	t.Parallel()
	doc, ing := renderProxy(t, proxyArgs())
	const p = "alb.ingress.kubernetes.io/"
	for k, want := range map[string]string{
		"scheme": "internet-facing", "target-type": "ip", "backend-protocol": "HTTPS",
		"certificate-arn": "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
		"listen-ports":    `[{"HTTP": 80}, {"HTTPS": 443}]`, "ssl-redirect": "443",
		"ssl-policy":       "ELBSecurityPolicy-TLS13-1-2-2021-06",
		"healthcheck-port": "8100", "healthcheck-protocol": "HTTP", "healthcheck-path": "/status/ready",
		"ip-address-type": "ipv4", "subnets": "subnet-public0000000001,subnet-public0000000002",
		// The ALB's default deregistration delay is 300 s; the data plane drains for this one.
		"target-group-attributes": "deregistration_delay.timeout_seconds=30",
	} {
		assertEqual(t, k, ing.Annotation(p+k), want)
	}
	assertEqual(t, "inbound-cidrs", ing.Annotation(p+"inbound-cidrs"), "")
	// Without a web ACL the annotation says so: absent, the controller would leave a WAF
	// attached earlier in place (annotations.md, wafv2-acl-arn).
	assertEqual(t, "wafv2-acl-arn without an ACL", ing.Annotation(p+"wafv2-acl-arn"), "none")
	assertEqual(t, "class", ing.Input("spec.ingressClassName"), "alb")
	assertEqual(t, "host", ing.Input("spec.rules.0.host"), "*.eks.example.com")
	assertEqual(t, "backend", ing.Input("spec.rules.0.http.paths.0.backend.service.name"), "kong-aws-dp-kong-proxy")
	assertEqual(t, "backend port", ing.Input("spec.rules.0.http.paths.0.backend.service.port.number"), 443.0)
	// The hostname output is the Ingress's status, as the controller writes it.
	host, _ := doc.Outputs["hostname"].(string)
	if !strings.HasPrefix(host, "k8s-kong-kongprox-") || !strings.HasSuffix(host, ".us-east-1.elb.amazonaws.com") {
		t.Errorf("hostname output = %q, want an ALB hostname", host)
	}
}

func TestProxyIngressOptions(t *testing.T) {
	t.Parallel()
	args := proxyArgs()
	args.AllowPlainHTTP = true
	args.InboundCIDRs = []string{"198.51.100.0/24", "203.0.113.0/24"}
	args.WAFv2ACLARN = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/kong/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
	args.IPAddressType = "dualstack"
	_, ing := renderProxy(t, args)
	const p = "alb.ingress.kubernetes.io/"
	assertEqual(t, "ssl-redirect with plain HTTP allowed", ing.Annotation(p+"ssl-redirect"), "")
	assertEqual(t, "inbound-cidrs", ing.Annotation(p+"inbound-cidrs"), "198.51.100.0/24,203.0.113.0/24")
	assertEqual(t, "wafv2-acl-arn", ing.Annotation(p+"wafv2-acl-arn"), args.WAFv2ACLARN)
	assertEqual(t, "ip-address-type", ing.Annotation(p+"ip-address-type"), "dualstack")
}

func TestDemoWorkloadRoutesThroughKong(t *testing.T) {
	t.Parallel()
	doc := render(t, func(ctx *pulumi.Context) (pulumi.Map, error) {
		d, err := components.NewDemoWorkload(ctx, "kuard", &components.DemoWorkloadArgs{
			Name: "kuard", Domain: "eks.example.com", Image: "gcr.io/kuar-demo/kuard-amd64:1",
		})
		if err != nil {
			return nil, err
		}
		return pulumi.Map{"url": d.URL}, nil
	})
	ing := testkit.Named(t, doc, "kubernetes:networking.k8s.io/v1:Ingress", "kuard")
	assertEqual(t, "class", ing.Input("spec.ingressClassName"), "kong")
	assertEqual(t, "host", ing.Input("spec.rules.0.host"), "kuard.eks.example.com")
	assertEqual(t, "namespace", ing.Input("metadata.namespace"), "kuard")
	deployment := testkit.Named(t, doc, "kubernetes:apps/v1:Deployment", "kuard")
	assertEqual(t, "image", deployment.Input("spec.template.spec.containers.0.image"), "gcr.io/kuar-demo/kuard-amd64:1")
	assertWaitsOn(t, ing, testkit.Named(t, doc, "kubernetes:core/v1:Service", "kuard"))
	assertEqual(t, "url", doc.Outputs["url"], "https://kuard.eks.example.com")
}

func TestEBSCSIDriverGivesTheClusterVolumes(t *testing.T) {
	t.Parallel()
	doc := render(t, func(ctx *pulumi.Context) (pulumi.Map, error) {
		c, err := newClusterIn(ctx, components.IRSA)
		if err != nil {
			return nil, err
		}
		d, err := components.NewEBSCSIDriver(ctx, "ebs", &components.EBSCSIDriverArgs{
			ClusterName: c.Name, KubernetesVersion: c.KubernetesVersion, Identity: c.Identity, Nodes: c.Nodes,
			Kubeconfig: c.Kubeconfig,
		})
		if err != nil {
			return nil, err
		}
		return pulumi.Map{"class": d.StorageClass}, nil
	})
	addon := testkit.Named(t, doc, "aws:eks/addon:Addon", "ebs")
	assertEqual(t, "add-on", addon.Input("addonName"), "aws-ebs-csi-driver")
	assertEqual(t, "delete hooks", fmt.Sprint(addon.DeleteHooks), "[ebs-volumes-released]")
	assertEqual(t, "cluster", addon.Input("clusterName"), "demo")
	assertEqual(t, "IRSA role", addon.Input("serviceAccountRoleArn"), "arn:aws:iam::123456789012:role/ebs")
	assertEqual(t, "version: EKS's default for the cluster's", addon.Input("addonVersion"), answers.AddonVersions["aws-ebs-csi-driver"]["1.34"].Default)
	assertWaitsOn(t, addon, testkit.Named(t, doc, "aws:eks/nodeGroup:NodeGroup", "eks-nodes"))
	assertWaitsOn(t, addon, testkit.Named(t, doc, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "ebs"))

	role := testkit.Named(t, doc, "aws:iam/role:Role", "ebs")
	if policy, _ := role.Input("assumeRolePolicy").(string); !strings.Contains(policy, `"system:serviceaccount:kube-system:ebs-csi-controller-sa"`) {
		t.Errorf("trust policy = %s", policy)
	}
	class := testkit.Named(t, doc, "kubernetes:storage.k8s.io/v1:StorageClass", "ebs-gp3")
	assertEqual(t, "provisioner", class.Input("provisioner"), "ebs.csi.aws.com")
	assertEqual(t, "default class", class.Annotation("storageclass.kubernetes.io/is-default-class"), "true")
	assertEqual(t, "gp3", class.Input("parameters.type"), "gp3")
	assertEqual(t, "encrypted", class.Input("parameters.encrypted"), "true")
	assertEqual(t, "binding", class.Input("volumeBindingMode"), "WaitForFirstConsumer")
	assertEqual(t, "output", doc.Outputs["class"], "gp3")
}
