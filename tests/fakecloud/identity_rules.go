package fakecloud

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// EKS Pod Identity and IRSA, as the fake enforces and answers them.
//
// Associations (standalone, aws:eks/podIdentityAssociation, and an add-on's own,
// podIdentityAssociations on aws:eks/addon) are checked as they are made or changed:
//   - the role must exist: "InvalidParameterException: Role provided in the request does not
//     exist" (the message terraform-provider-aws retries on for IAM's propagation,
//     internal/service/eks/pod_identity_association.go);
//   - it must trust EKS Pod Identity, pods.eks.amazonaws.com with sts:AssumeRole and
//     sts:TagSession (EKS User Guide, "Create a Pod Identity association"), or EKS answers
//     "InvalidParameterException: Trust policy of the role provided is invalid"
//     (hashicorp/terraform-provider-aws#41483, an IRSA-only role);
//   - one association per service account: "You can associate one IAM role to each Kubernetes
//     service account in each cluster" (EKS User Guide, "EKS Pod Identity considerations").
//     EKS's wording of the refusal is not published; the fake words it as ResourceInUse.
//
// The VPC CNI's aws-node exits when it has no credentials at start (amazon-vpc-cni-k8s,
// cmd/aws-k8s-agent/main.go: "Initialization failure", return 1; ipamd's first call is EC2's),
// and with an association its credentials come from the eks-pod-identity-agent DaemonSet on
// the same node (EKS User Guide: the agent "only provides credentials to pods on the node that
// it runs on"). So on a cluster that has nodes, a create or update of vpc-cni that rolls aws-node
// onto Pod Identity needs the agent add-on live already: its rollout never turns healthy
// otherwise, and the fake fails the change at once instead of after EKS's timeout.
//
// Credentials (PodCredentials) follow the SDKs' default chain: IRSA's web identity (the role-arn
// annotation the pod was created with) before the container provider that Pod Identity fills
// ("If your workloads currently use credentials that are earlier in the chain of credentials,
// those credentials will continue to be used", EKS User Guide, "EKS Pod Identity"), and EKS
// adds the Pod Identity environment only "when Amazon EKS starts a new pod that uses a service
// account with an EKS Pod Identity association" (ibid., "How EKS Pod Identity Agent works with
// a Pod").

const (
	podIdentityAssociation = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
	iamRole                = "aws:iam/role:Role"
	oidcProvider           = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
	podIdentityAgent       = "eks-pod-identity-agent"
)

// identityRules applies the association rules to a create (old nil) or update of r.
func (w *World) identityRules(r *Resource, old *Resource, in resource.PropertyMap) error {
	switch r.Type {
	case podIdentityAssociation:
		op := "creating EKS Pod Identity Association"
		if old != nil {
			op = "updating EKS Pod Identity Association (" + r.ID + ")"
		}
		return w.checkAssociation(op, r.ID, association{
			Cluster: str(in, "clusterName"), Namespace: str(in, "namespace"),
			ServiceAccount: str(in, "serviceAccount"), Role: str(in, "roleArn"),
		})
	case eksAddon:
		op := "creating EKS Add-On (" + r.ID + ")"
		if old != nil {
			op = "updating EKS Add-On (" + r.ID + ")"
		}
		cluster := str(in, "clusterName")
		associations := addonAssociations(Plain(in), cluster)
		for _, a := range associations {
			if err := w.checkAssociation(op, r.ID, a); err != nil {
				return err
			}
		}
		if str(in, "addonName") == "vpc-cni" && len(associations) > 0 {
			return w.agentForAWSNode(op, cluster)
		}
	}
	return nil
}

// association is one Pod Identity association, standalone or an add-on's.
type association struct {
	Cluster, Namespace, ServiceAccount, Role string
	// Since is when it was made or last changed.
	Since time.Time
}

// addonNamespace is where EKS installs the add-ons the program uses (and so their
// associations' namespace).
const addonNamespace = "kube-system"

func addonAssociations(outputs map[string]any, cluster string) []association {
	list, _ := outputs["podIdentityAssociations"].([]any)
	var out []association
	for _, item := range list {
		m, _ := item.(map[string]any)
		out = append(out, association{Cluster: cluster, Namespace: addonNamespace,
			ServiceAccount: fmt.Sprint(m["serviceAccount"]), Role: fmt.Sprint(m["roleArn"])})
	}
	return out
}

// associations are the live associations of a cluster, standalone and add-ons' own; owner is
// the type and ID of what holds each.
func (w *World) associations(cluster string) (map[string]association, error) {
	all, err := w.Resources()
	if err != nil {
		return nil, err
	}
	out := map[string]association{}
	for _, r := range all {
		switch {
		case r.Type == podIdentityAssociation && outString(r.Outputs, "clusterName") == cluster:
			out[r.Type+" "+r.ID] = association{Cluster: cluster, Namespace: outString(r.Outputs, "namespace"),
				ServiceAccount: outString(r.Outputs, "serviceAccount"), Role: outString(r.Outputs, "roleArn"), Since: r.Changed}
		case r.Type == eksAddon && outString(r.Outputs, "clusterName") == cluster:
			for i, a := range addonAssociations(r.Outputs, cluster) {
				a.Since = r.Changed
				out[fmt.Sprintf("%s %s %d", r.Type, r.ID, i)] = a
			}
		}
	}
	return out, nil
}

func (w *World) checkAssociation(op, self string, a association) error {
	role, ok, err := w.roleByARN(a.Role)
	if err != nil {
		return err
	}
	if !ok {
		return awsError(op, "InvalidParameterException", "Role provided in the request does not exist")
	}
	if !trustsPodIdentity(outString(role.Outputs, "assumeRolePolicy")) {
		return awsError(op, "InvalidParameterException", "Trust policy of the role provided is invalid")
	}
	live, err := w.associations(a.Cluster)
	if err != nil {
		return err
	}
	for owner, other := range live {
		_, id, _ := strings.Cut(owner, " ")
		id, _, _ = strings.Cut(id, " ")
		if id != self && other.Namespace == a.Namespace && other.ServiceAccount == a.ServiceAccount {
			return awsError(op, "ResourceInUseException", fmt.Sprintf("Association already exists for service account %s/%s in cluster %s (%s)",
				a.Namespace, a.ServiceAccount, a.Cluster, owner))
		}
	}
	return nil
}

// agentForAWSNode refuses to roll aws-node onto Pod Identity on a cluster with nodes and no
// agent.
func (w *World) agentForAWSNode(op, cluster string) error {
	nodes, err := w.nodeGroupsOf(cluster, func(int) bool { return true })
	if err != nil || len(nodes) == 0 {
		return err
	}
	if _, ok, err := w.Get(eksAddon, cluster+":"+podIdentityAgent); err != nil || ok {
		return err
	}
	return awsError(op, "InvalidParameterException", fmt.Sprintf(
		"the fake's stand-in for a rollout that never completes: aws-node restarts on the nodes of %s with Pod Identity credentials, "+
			"and no %s add-on serves them (ipamd exits without credentials)", cluster, podIdentityAgent))
}

func (w *World) roleByARN(arn string) (Resource, bool, error) {
	all, err := w.Resources()
	if err != nil {
		return Resource{}, false, err
	}
	for _, r := range all {
		if r.Type == iamRole && outString(r.Outputs, "arn") == arn {
			return r, true, nil
		}
	}
	return Resource{}, false, nil
}

// policyStatement is one statement of an IAM policy, with the forms IAM takes (a string or a
// list of strings for Action; Principal's values likewise).
type policyStatement struct {
	Effect    string
	Principal map[string]any
	Action    any
	Condition map[string]map[string]any
}

func statements(doc string) []policyStatement {
	var p struct{ Statement []policyStatement }
	if json.Unmarshal([]byte(doc), &p) != nil {
		return nil
	}
	return p.Statement
}

func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	return nil
}

// trustsPodIdentity: a statement allows pods.eks.amazonaws.com both actions.
func trustsPodIdentity(doc string) bool {
	for _, st := range statements(doc) {
		actions := strs(st.Action)
		if st.Effect == "Allow" && slices.Contains(strs(st.Principal["Service"]), "pods.eks.amazonaws.com") &&
			slices.Contains(actions, "sts:AssumeRole") && slices.Contains(actions, "sts:TagSession") {
			return true
		}
	}
	return false
}

// trustsWebIdentity: a statement allows the live OIDC provider of issuer to assume the role
// for namespace/serviceAccount (its sub) with STS's audience.
func (w *World) trustsWebIdentity(doc, issuer, namespace, serviceAccount string) (bool, error) {
	host := strings.TrimPrefix(issuer, "https://")
	for _, st := range statements(doc) {
		if st.Effect != "Allow" || !slices.Contains(strs(st.Action), "sts:AssumeRoleWithWebIdentity") {
			continue
		}
		eq := st.Condition["StringEquals"]
		if fmt.Sprint(eq[host+":sub"]) != "system:serviceaccount:"+namespace+":"+serviceAccount || fmt.Sprint(eq[host+":aud"]) != "sts.amazonaws.com" {
			continue
		}
		for _, arn := range strs(st.Principal["Federated"]) {
			if _, ok, err := w.Get(oidcProvider, arn); err != nil || ok {
				return ok, err
			}
		}
	}
	return false, nil
}

// PodCredentials is what the AWS SDK in a pod of namespace/serviceAccount on cluster gets:
// the role it assumes and how ("irsa" or "pod-identity"), or an error worded as the failing
// call's. created is when the pod was created; roleAnnotation is the service account's
// eks.amazonaws.com/role-arn then (the IRSA webhook's input).
func (w *World) PodCredentials(cluster, namespace, serviceAccount string, created time.Time, roleAnnotation string) (role, via string, err error) {
	c, ok, err := w.Get(eksCluster, cluster)
	if err != nil || !ok {
		return "", "", fmt.Errorf("no cluster %s: %v", cluster, err)
	}
	if roleAnnotation != "" {
		r, ok, err := w.roleByARN(roleAnnotation)
		if err != nil {
			return "", "", err
		}
		issuer := ""
		if ids, _ := c.Outputs["identities"].([]any); len(ids) > 0 {
			oidcs, _ := ids[0].(map[string]any)["oidcs"].([]any)
			if len(oidcs) > 0 {
				issuer = fmt.Sprint(oidcs[0].(map[string]any)["issuer"])
			}
		}
		trusted := false
		if ok {
			if trusted, err = w.trustsWebIdentity(outString(r.Outputs, "assumeRolePolicy"), issuer, namespace, serviceAccount); err != nil {
				return "", "", err
			}
		}
		if !trusted {
			return "", "irsa", fmt.Errorf("AssumeRoleWithWebIdentity %s: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity", roleAnnotation)
		}
		return roleAnnotation, "irsa", nil
	}
	live, err := w.associations(cluster)
	if err != nil {
		return "", "", err
	}
	for _, a := range live {
		if a.Namespace != namespace || a.ServiceAccount != serviceAccount {
			continue
		}
		// Kubernetes keeps creation times to the second: an association made within the
		// second the pod was created in counts as before it.
		if a.Since.Truncate(time.Second).After(created) {
			return "", "", fmt.Errorf("no credentials: the pod was created at %s, before its service account's Pod Identity association (%s)",
				created.Format(time.RFC3339Nano), a.Since.Format(time.RFC3339Nano))
		}
		if _, ok, err := w.Get(eksAddon, cluster+":"+podIdentityAgent); err != nil || !ok {
			return "", "pod-identity", fmt.Errorf("no credentials: no %s on the pod's node serves them (%v)", podIdentityAgent, err)
		}
		r, ok, err := w.roleByARN(a.Role)
		if err != nil {
			return "", "", err
		}
		if !ok || !trustsPodIdentity(outString(r.Outputs, "assumeRolePolicy")) {
			return "", "pod-identity", fmt.Errorf("AssumeRoleForPodIdentity %s: AccessDeniedException: the role does not trust pods.eks.amazonaws.com", a.Role)
		}
		return a.Role, "pod-identity", nil
	}
	return "", "", fmt.Errorf("no credentials: service account %s/%s has neither an IRSA role nor a Pod Identity association", namespace, serviceAccount)
}
