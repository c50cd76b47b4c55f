package fakecloud

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/tests/localcluster"
)

// Access is EKS's IAM authentication and access-entry authorization for the local API server
// (localcluster.Options.Access), reading a world that enforces access. The cluster starts
// before the world exists, so Access is made empty and bound to the world afterwards:
//
//	a := &fakecloud.Access{}
//	c := localcluster.Start(t, localcluster.Options{Access: a})
//	w, err := fakecloud.NewWorld(dir, fakecloud.ClusterAt(c.Server, c.CAData, c.Token), fakecloud.EnforceAccess())
//	err = a.Bind(w)
//
// Until then it knows no token. It is safe for concurrent use, and reads the world at every
// Authorize, so a deleted access entry or association, or a cluster gone, denies the next
// request. (Authenticate's answer the API server keeps 10 s, see localcluster's authwebhook.go;
// an authenticated principal with nothing granted is denied all the same.)
type Access struct {
	mu    sync.RWMutex
	world *World
	key   []byte
	now   func() time.Time // time.Now; tests move it
}

var _ localcluster.Access = (*Access)(nil)

// Extra keys of an authenticated principal: "arn" and "sessionName" as aws-iam-authenticator
// sets them (authenticateEndpoint in kubernetes-sigs/aws-iam-authenticator,
// pkg/server/server.go), with one difference: "arn" is the IAM principal the access entry names
// (path kept), where the authenticator gives the STS assumed-role ARN, since the fake matches
// entries by ARN where EKS matches the principal's unique ID. "cluster" is the cluster the token
// is for: every cluster of the world is the one local API server.
const (
	ExtraARN     = "arn"
	ExtraSession = "sessionName"
	ExtraCluster = "cluster"
)

// Bind makes a take its tokens and grants from w, which must enforce access.
func (a *Access) Bind(w *World) error {
	key, err := w.accessKey()
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.world, a.key = w, key
	return nil
}

func (a *Access) bound() (*World, []byte, time.Time) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	now := time.Now
	if a.now != nil {
		now = a.now
	}
	return a.world, a.key, now()
}

// Authenticate accepts a token the world signed (principals.go) and not yet expired: the user is
// the principal under EKS's default username for a STANDARD access entry, with no groups (the
// program's entries set no Kubernetes groups; the API server adds system:authenticated).
func (a *Access) Authenticate(token string) (localcluster.User, bool) {
	_, key, now := a.bound()
	if key == nil {
		return localcluster.User{}, false
	}
	c, err := verifyToken(key, token, now)
	if err != nil {
		return localcluster.User{}, false
	}
	p, _ := parsePrincipal(c.principal) // verifyToken checked it
	return localcluster.User{
		Name: p.username(),
		UID:  p.uid(),
		Extra: map[string][]string{
			ExtraARN: {p.arn}, ExtraSession: {c.session}, ExtraCluster: {c.cluster},
		},
	}, true
}

// Authorize allows what EKS grants the principal on the cluster now (World.authorize), for a
// user Authenticate named; anyone else (a user the request impersonates without the extras, or
// under another name) gets nothing from EKS, as "If you impersonate a Kubernetes user or group
// [...] the IAM principal has no permissions assigned by any access policies associated to the
// access entry" (amazon-eks-user-guide, latest/ug/manage-access/k8s-access/access-policies.adoc).
func (a *Access) Authorize(u localcluster.User, attrs localcluster.RequestAttributes) (bool, string) {
	w, _, _ := a.bound()
	if w == nil {
		return false, "fakecloud EKS access: no world bound yet"
	}
	arn, cluster := one(u.Extra[ExtraARN]), one(u.Extra[ExtraCluster])
	p, err := parsePrincipal(arn)
	if err != nil || cluster == "" || u.Name != p.username() {
		return false, fmt.Sprintf("fakecloud EKS access: %s is not an IAM principal EKS authenticated", u.Name)
	}
	allowed, reason, err := w.authorize(arn, cluster, attrs)
	if err != nil {
		return false, "fakecloud EKS access: reading the world: " + err.Error()
	}
	return allowed, reason
}

func one(vs []string) string {
	if len(vs) != 1 {
		return ""
	}
	return vs[0]
}

const (
	eksAccessEntry = "aws:eks/accessEntry:AccessEntry"
	eksAssociation = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
)

// grant is an access policy granted with a scope: the cluster, or namespaces.
type grant struct {
	policy     string
	namespaces []string // nil: the cluster
	from       string   // what granted it
}

func (g grant) String() string {
	if g.namespaces == nil {
		return g.policy + " on the cluster"
	}
	return g.policy + " in namespaces " + strings.Join(g.namespaces, ", ")
}

// inScope: the request is within the grant's scope. A namespace scope covers requests in those
// namespaces only (not cluster-scoped objects, nor lists across all namespaces); "You can use
// wildcard characters for a namespace name. For example, [...] you can specify dev-* as a
// namespace name." (access-policies.adoc), taken as a trailing *.
func (g grant) inScope(a localcluster.RequestAttributes) bool {
	if g.namespaces == nil {
		return true
	}
	if !a.IsResourceRequest() || a.Namespace == "" {
		return false
	}
	for _, ns := range g.namespaces {
		if prefix, wild := strings.CutSuffix(ns, "*"); (wild && strings.HasPrefix(a.Namespace, prefix)) || ns == a.Namespace {
			return true
		}
	}
	return false
}

// authorize decides what EKS lets principal do on the live cluster named cluster now, from the
// world as it is:
//
//   - The cluster's creator (Resource.Creator) is a cluster administrator while the cluster's
//     accessConfig.bootstrapClusterCreatorAdminPermissions is true (absent, EKS's default, true):
//     it "Specifies whether or not the cluster creator IAM principal was set as a cluster admin
//     access entry during cluster creation time. The default value is true." (EKS API reference,
//     CreateAccessConfigRequest); that entry has AmazonEKSClusterAdminPolicy on the cluster.
//   - With authenticationMode API or API_AND_CONFIG_MAP ("To begin using access entries, you
//     must change the authentication mode of the cluster to either the API_AND_CONFIG_MAP or API
//     modes", access-entries.adoc; left out, EKS's API default is CONFIG_MAP,
//     CreateAccessConfigRequest), the principal's live access entry on the cluster grants each
//     live access policy association of the principal on the cluster, with its scope: "If you
//     associate multiple access policies, the access entry's IAM principal has all permissions
//     included in all associated access policies." (access-policies.adoc). An entry without
//     associations grants nothing here: its Kubernetes groups, which the program never sets,
//     would go to RBAC. Deleting the entry deletes its associations (removeWith).
//
// The aws-auth ConfigMap (CONFIG_MAP modes) is not modelled. A denial names the principal and
// what it lacks.
func (w *World) authorize(principal, cluster string, attrs localcluster.RequestAttributes) (bool, string, error) {
	deny := func(format string, args ...any) (bool, string, error) {
		return false, fmt.Sprintf("fakecloud EKS access: %s on cluster %s: ", principal, cluster) + fmt.Sprintf(format, args...), nil
	}
	c, ok, err := w.Get(eksCluster, cluster)
	if err != nil {
		return false, "", err
	}
	if !ok {
		return deny("no such cluster in the fake cloud")
	}
	accessConfig, _ := c.Outputs["accessConfig"].(map[string]any)
	bootstrap, set := accessConfig["bootstrapClusterCreatorAdminPermissions"].(bool)
	bootstrap = bootstrap || !set
	mode, _ := accessConfig["authenticationMode"].(string)
	if mode == "" {
		mode = "CONFIG_MAP"
	}

	allowedBy := func(g grant) (bool, string, error) {
		return true, fmt.Sprintf("fakecloud EKS access: %s may %s by %s (%s)", principal, attrs, g, g.from), nil
	}
	var grants []grant
	creator := c.Creator != "" && c.Creator == principal
	if creator && bootstrap {
		g := grant{policy: ClusterAdminPolicy, from: "the cluster creator's access entry"}
		if allows(accessPolicies[g.policy], attrs) {
			return allowedBy(g) // without reading every resource: the deployer's every request
		}
		grants = append(grants, g)
	}
	entry := false
	if mode == "API" || mode == "API_AND_CONFIG_MAP" {
		live, err := w.Resources()
		if err != nil {
			return false, "", err
		}
		for _, r := range live {
			if r.Type == eksAccessEntry && outString(r.Outputs, "clusterName") == cluster && outString(r.Outputs, "principalArn") == principal {
				entry = true
			}
		}
		for _, r := range live {
			if !entry || r.Type != eksAssociation || outString(r.Outputs, "clusterName") != cluster || outString(r.Outputs, "principalArn") != principal {
				continue
			}
			g, err := associationGrant(r)
			if err != nil {
				return deny("%v", err)
			}
			grants = append(grants, g)
		}
	}

	for _, g := range grants {
		if g.inScope(attrs) && allows(accessPolicies[g.policy], attrs) {
			return allowedBy(g)
		}
	}
	switch {
	case len(grants) > 0:
		names := make([]string, len(grants))
		for i, g := range grants {
			names[i] = g.String()
		}
		return deny("none of its access policies (%s) allows %s", strings.Join(names, "; "), attrs)
	case entry:
		return deny("its access entry has no access policy associated (to %s)", attrs)
	case creator:
		return deny("the cluster creator has no access entry: the cluster was made with bootstrapClusterCreatorAdminPermissions false (to %s)", attrs)
	case mode != "API" && mode != "API_AND_CONFIG_MAP":
		return deny("no access entries in authentication mode %s, and the aws-auth ConfigMap is not modelled (to %s)", mode, attrs)
	}
	return deny("no access entry (to %s)", attrs)
}

// removeWith forgets, with the cluster or access entry r just deleted, the access entries and
// associations EKS deletes with it: "If the access entry that you're deleting is associated to
// any access policies, the associations are automatically deleted." (amazon-eks-user-guide,
// latest/ug/manage-access/k8s-access/deleting-access-entries.adoc), and a cluster's access
// entries are the cluster's. Made again, the entry grants nothing until associated again. The
// provider's later Delete of such an association finds nothing to delete, as the real one
// takes a ResourceNotFoundException for done. Called with the world's lock held.
func (w *World) removeWith(r Resource) error {
	var cluster, principal string
	switch r.Type {
	case eksCluster:
		cluster = r.ID // the answers' ID of a cluster is its name
	case eksAccessEntry:
		cluster, principal = outString(r.Outputs, "clusterName"), outString(r.Outputs, "principalArn")
	default:
		return nil
	}
	live, err := w.Resources()
	if err != nil {
		return err
	}
	for _, l := range live {
		if (l.Type != eksAssociation && (l.Type != eksAccessEntry || r.Type != eksCluster)) || outString(l.Outputs, "clusterName") != cluster {
			continue
		}
		if principal == "" || outString(l.Outputs, "principalArn") == principal {
			if err := removeFile(w.resourcePath(l.Type, l.ID)); err != nil {
				return err
			}
		}
	}
	return nil
}

// associationGrant is what a live access policy association grants.
func associationGrant(r Resource) (grant, error) {
	arn := outString(r.Outputs, "policyArn")
	name, ok := policyName(arn)
	if _, known := accessPolicies[name]; !ok || !known {
		return grant{}, fmt.Errorf("access policy %q is not one the fake knows (access_policies.go)", arn)
	}
	g := grant{policy: name, from: "association " + r.ID}
	scope, _ := r.Outputs["accessScope"].(map[string]any)
	switch typ, _ := scope["type"].(string); typ {
	case "cluster":
	case "namespace":
		g.namespaces = []string{}
		list, _ := scope["namespaces"].([]any)
		for _, ns := range list {
			if s, ok := ns.(string); ok {
				g.namespaces = append(g.namespaces, s)
			}
		}
	default:
		return grant{}, fmt.Errorf("association %s has access scope type %q, not cluster or namespace", r.ID, typ)
	}
	return g, nil
}
