package operator

import (
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The parts of the Pulumi Kubernetes Operator's API (v2.9.0) that the executor writes and
// reads, written here from its CRDs (crds/pulumi.com_stacks.yaml and
// auto.pulumi.com_workspaces.yaml of the chart; the operator's Go module is not on the proxy).
// The tests hold every object the executor writes against the real CRDs on a real API server.

// StackResource is the operator's Stack: one per environment (and one per preview).
var StackResource = schema.GroupVersionResource{Group: "pulumi.com", Version: "v1", Resource: "stacks"}

// WorkspaceResource is the operator's Workspace: one per Stack, of the same name, which runs
// its workspace pod.
var WorkspaceResource = schema.GroupVersionResource{Group: "auto.pulumi.com", Version: "v1alpha1", Resource: "workspaces"}

// Annotations and labels the operator defines.
const (
	// ReconcileRequestAnnotation asks the operator for a new run of a Stack whose spec did not
	// change; the run records the value in status.lastUpdate.reconcileRequest
	// (operator/api/pulumi/shared/stack_types.go).
	ReconcileRequestAnnotation = "pulumi.com/reconciliation-request"
	// Finalizer is the operator's finalizer on a Stack: it destroys the stack first when
	// destroyOnFinalize is set (operator/internal/controller/pulumi/stack_controller.go).
	Finalizer = "finalizer.stack.pulumi.com"
)

// MaxStackName is the longest Stack name the CRD admits (its CEL rule).
const MaxStackName = 42

// Stack is a pulumi.com/v1 Stack.
type Stack struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              StackSpec   `json:"spec"`
	Status            StackStatus `json:"status,omitempty"`
}

// StackSpec is what the executor sets of a Stack's spec.
type StackSpec struct {
	Stack           string `json:"stack"`
	ProjectRepo     string `json:"projectRepo,omitempty"`
	Commit          string `json:"commit,omitempty"`
	RepoDir         string `json:"repoDir,omitempty"`
	Backend         string `json:"backend,omitempty"`
	SecretsProvider string `json:"secretsProvider,omitempty"`
	// ServiceAccountName is the workspace pod's identity.
	ServiceAccountName string                  `json:"serviceAccountName,omitempty"`
	ConfigRef          map[string]ConfigMapRef `json:"configRef,omitempty"`
	SecretsRef         map[string]ResourceRef  `json:"secretsRef,omitempty"`
	EnvRefs            map[string]ResourceRef  `json:"envRefs,omitempty"`
	// DestroyOnFinalize destroys the stack when the Stack is deleted.
	DestroyOnFinalize bool `json:"destroyOnFinalize,omitempty"`
	// RunProgram runs the program on that destroy (`--run-program`, operator v2.7.0 and
	// later): without it the operator destroys from the state alone, which the engine refuses
	// for a stack with delete hooks.
	RunProgram bool `json:"runProgram,omitempty"`
	// Preview runs previews only.
	Preview           bool               `json:"preview,omitempty"`
	WorkspaceTemplate *WorkspaceTemplate `json:"workspaceTemplate,omitempty"`
	UpdateTemplate    *UpdateTemplate    `json:"updateTemplate,omitempty"`
}

// ConfigMapRef is a config value from a key of a ConfigMap.
type ConfigMapRef struct {
	Name string `json:"name"`
	Key  string `json:"key"`
	JSON bool   `json:"json,omitempty"`
}

// ResourceRef is a value from elsewhere; the executor only uses Secrets (of the Stack's own
// namespace: the operator refuses others).
type ResourceRef struct {
	Type   string     `json:"type"`
	Secret *SecretRef `json:"secret,omitempty"`
}

// SecretRef is a key of a Secret.
type SecretRef struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// SecretResourceRef refers to a key of a Secret.
func SecretResourceRef(name, key string) ResourceRef {
	return ResourceRef{Type: "Secret", Secret: &SecretRef{Name: name, Key: key}}
}

// WorkspaceTemplate patches the workspace the operator generates for a Stack.
type WorkspaceTemplate struct {
	Spec WorkspaceTemplateSpec `json:"spec"`
}

// WorkspaceTemplateSpec is the part of a Workspace's spec the executor sets.
type WorkspaceTemplateSpec struct {
	Image string `json:"image,omitempty"`
}

// UpdateTemplate patches the Updates the operator generates for a Stack.
type UpdateTemplate struct {
	Spec UpdateTemplateSpec `json:"spec"`
}

// UpdateTemplateSpec is the part of an Update's spec the executor sets.
type UpdateTemplateSpec struct {
	// TtlAfterCompleted is how long a finished Update is kept (a duration, "168h").
	TtlAfterCompleted string `json:"ttlAfterCompleted,omitempty"` //nolint:revive // the CRD's field name
}

// StackStatus is a Stack's status, as the operator reports it.
type StackStatus struct {
	ObservedGeneration       int64                      `json:"observedGeneration,omitempty"`
	ObservedReconcileRequest string                     `json:"observedReconcileRequest,omitempty"`
	LastUpdate               *StackUpdateState          `json:"lastUpdate,omitempty"`
	CurrentUpdate            *CurrentStackUpdate        `json:"currentUpdate,omitempty"`
	Outputs                  map[string]json.RawMessage `json:"outputs,omitempty"`
	Conditions               []metav1.Condition         `json:"conditions,omitempty"`
}

// Update states in status.lastUpdate.state.
const (
	UpdateSucceeded = "succeeded"
	UpdateFailed    = "failed"
)

// StackUpdateState is the last run of a Stack that finished.
type StackUpdateState struct {
	Generation       int64        `json:"generation,omitempty"`
	ReconcileRequest string       `json:"reconcileRequest,omitempty"`
	Name             string       `json:"name,omitempty"`
	Type             string       `json:"type,omitempty"`
	State            string       `json:"state,omitempty"`
	Message          string       `json:"message,omitempty"`
	Failures         int64        `json:"failures,omitempty"`
	Permalink        string       `json:"permalink,omitempty"`
	LastResyncTime   *metav1.Time `json:"lastResyncTime,omitempty"`
}

// CurrentStackUpdate is the run of a Stack in flight.
type CurrentStackUpdate struct {
	Generation       int64  `json:"generation,omitempty"`
	ReconcileRequest string `json:"reconcileRequest,omitempty"`
	Name             string `json:"name,omitempty"`
	Commit           string `json:"commit,omitempty"`
}

// The conditions of a Stack (operator/api/pulumi/v1/stack_types.go).
const (
	ConditionReady       = "Ready"
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"
)

// condition is the condition of a type, if the Stack has it.
func (s StackStatus) condition(typ string) (metav1.Condition, bool) {
	for _, c := range s.Conditions {
		if c.Type == typ {
			return c, true
		}
	}
	return metav1.Condition{}, false
}
