package operator

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
)

// The executor's own labels and annotations. The labels map an environment to its Stack (the
// name alone cannot: a long environment name is shortened); the annotations are the executor's
// record of the operation it last asked for, which the operator ignores.
const (
	LabelManagedBy   = "app.kubernetes.io/managed-by"
	ManagedBy        = "kong-alb-eks-portal"
	LabelEnvironment = "kong-alb-eks.io/environment"
	LabelRole        = "kong-alb-eks.io/role"
	// RoleEnvironment marks an environment's Stack; RolePreview a preview's, which is deleted
	// once the preview ends.
	RoleEnvironment = "environment"
	RolePreview     = "preview"

	// AnnotationOperation is the portal's ID of the operation last asked of the Stack, and
	// AnnotationOperationKind its kind.
	AnnotationOperation     = "kong-alb-eks.io/operation"
	AnnotationOperationKind = "kong-alb-eks.io/operation-kind"
)

// stackName names an environment's Stack (suffix "") or a preview's ("-preview"): the
// environment's name when it fits the CRD's 42 characters, else its start and a hash of it.
func stackName(env, suffix string) string {
	if len(env)+len(suffix) <= MaxStackName {
		return env + suffix
	}
	sum := sha256.Sum256([]byte(env))
	hash := hex.EncodeToString(sum[:])[:10]
	head := strings.TrimRight(env[:MaxStackName-len(suffix)-len(hash)-1], "-")
	return head + "-" + hash + suffix
}

// configName names an operation's config objects.
func configName(env, role, opID string) string {
	sum := sha256.Sum256([]byte(opID))
	tag := "c"
	if role == RolePreview {
		tag = "p"
	}
	return stackName(env, "-"+tag+hex.EncodeToString(sum[:])[:9])
}

// labels are the labels of every object the executor writes for an environment.
func labels(env, role string) map[string]string {
	return map[string]string{LabelManagedBy: ManagedBy, LabelEnvironment: env, LabelRole: role}
}

// configKey is a config key as a ConfigMap or Secret data key, which cannot hold ':'
// ("kong-alb-eks:domain" becomes "kong-alb-eks.domain").
func configKey(key string) string { return strings.ReplaceAll(key, ":", ".") }

// configObjects are the ConfigMap and Secret that hold a configuration for one operation, and
// the Stack's references into them. The operator reads a Stack's configuration only when its
// workspace pod starts, and never notices a change to an object it already read, so each
// operation writes objects of its own and never changes them. Their name is the environment's
// and a hash of the operation's ID, at most 42 characters: the operator mounts each as a pod
// volume named configmap-NAME or secret-NAME, which must fit a DNS label's 63
// (stack_controller.go, the config volumes). Every value is the string the in-process Manager
// writes to stack config (lists as JSON), so the program reads the same configuration from
// either executor.
func configObjects(opID, env, role string, cfg stacks.Config) (*corev1.ConfigMap, *corev1.Secret, map[string]ConfigMapRef, map[string]ResourceRef) {
	name := configName(env, role, opID)
	meta := metav1.ObjectMeta{Name: name, Labels: labels(env, role)}
	immutable := true
	cm := &corev1.ConfigMap{ObjectMeta: meta, Immutable: &immutable, Data: map[string]string{}}
	secret := &corev1.Secret{ObjectMeta: meta, Immutable: &immutable, Type: corev1.SecretTypeOpaque, StringData: map[string]string{}}
	configRef, secretsRef := map[string]ConfigMapRef{}, map[string]ResourceRef{}
	values := cfg.PulumiConfig()
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := values[k]
		if v.Secret {
			secret.StringData[configKey(k)] = v.Value
			secretsRef[k] = SecretResourceRef(name, configKey(k))
			continue
		}
		cm.Data[configKey(k)] = v.Value
		configRef[k] = ConfigMapRef{Name: name, Key: configKey(k)}
	}
	return cm, secret, configRef, secretsRef
}
