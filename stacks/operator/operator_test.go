package operator_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	"k8s.io/client-go/rest"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/operator"
	"github.com/kong-alb-eks/kong-alb-eks/tests/localcluster"
	"github.com/kong-alb-eks/kong-alb-eks/tests/operatorstandin"
)

// crdDir holds the operator chart's CRDs, as the chart installs them.
const crdDir = "../../../shared/charts/pulumi-kubernetes-operator-2.9.0/crds"

const namespace = "environments"

// world is a real API server with the operator's real CRDs, the operator's stand-in over one
// namespace, and the script that decides how its runs end.
type world struct {
	cluster *localcluster.Cluster
	rest    *rest.Config
	// scripts decide the outcome of the runs of the environments whose names start with a
	// prefix (prefix → operatorstandin.Script); the others succeed.
	scripts sync.Map
	op      *operatorstandin.Operator
}

// TestOnTheOperatorsAPI runs every case against one real API server with the operator's CRDs
// and its stand-in: each case uses environments of its own names.
func TestOnTheOperatorsAPI(t *testing.T) {
	w, err := startWorld(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		run  func(*testing.T, *world)
	}{
		{"up writes a Stack the CRD accepts and reports its outputs", upWritesAStackTheCRDAccepts},
		{"a failed run carries the operator's message", upFailureCarriesTheOperatorsMessage},
		{"a stalled Stack is reported", stalledStackIsReported},
		{"destroy", destroy},
		{"a protected production is not destroyed", protectedDestroy},
		{"preview", preview},
		{"a destroy that stalls", destroyStalls},
		{"a run that never starts, and a missing Secret", runThatNeverStarts},
		{"least privilege", leastPrivilege},
		{"the portal reports each path", portalReportsEachPath},
		{"a restart resumes from the Stack", restartResumesFromTheStack},
		{"Kong's data planes never overtake the control plane", kongUpgradeControlPlaneFirst},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, w) })
	}
}

func startWorld(t *testing.T) (*world, error) {
	c := localcluster.Start(t, localcluster.Options{Nodes: 1})
	for _, f := range []string{"pulumi.com_stacks.yaml", "pulumi.com_programs.yaml", "auto.pulumi.com_workspaces.yaml", "auto.pulumi.com_updates.yaml"} {
		raw, err := os.ReadFile(filepath.Join(crdDir, f))
		if err != nil {
			return nil, err
		}
		var crd map[string]any
		if err := yaml.Unmarshal(raw, &crd); err != nil {
			return nil, err
		}
		if _, err := c.Do("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd); err != nil {
			return nil, fmt.Errorf("installing %s: %w", f, err)
		}
		name := crd["metadata"].(map[string]any)["name"].(string)
		if err := c.Eventually(30*time.Second, "CRD "+name+" established", func() (bool, error) {
			obj, err := c.Do("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"+name, nil)
			return err == nil && localcluster.Condition(obj, "Established") == "True", nil
		}); err != nil {
			return nil, err
		}
	}
	if _, err := c.Do("POST", "/api/v1/namespaces", map[string]any{"metadata": map[string]any{"name": namespace}}); err != nil {
		return nil, err
	}
	// The Secret the workspaces take PULUMI_CONFIG_PASSPHRASE from (the executor checks it).
	if _, err := c.Do("POST", "/api/v1/namespaces/"+namespace+"/secrets", map[string]any{"metadata": map[string]any{"name": "portal-env"},
		"stringData": map[string]any{"passphrase": "correct horse battery staple"}}); err != nil {
		return nil, err
	}
	ca, err := base64.StdEncoding.DecodeString(c.CAData)
	if err != nil {
		return nil, err
	}
	w := &world{cluster: c, rest: &rest.Config{Host: c.Server, BearerToken: c.Token, TLSClientConfig: rest.TLSClientConfig{CAData: ca}}}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w.op, err = operatorstandin.Start(ctx, w.rest, namespace, 200*time.Millisecond, func(st *operator.Stack, typ string) operatorstandin.Outcome {
		var out operatorstandin.Outcome
		w.scripts.Range(func(prefix, script any) bool {
			if strings.HasPrefix(st.Labels[operator.LabelEnvironment], prefix.(string)) {
				out = script.(operatorstandin.Script)(st, typ)
				return false
			}
			return true
		})
		return out
	})
	return w, err
}

func (w *world) scriptFor(prefix string, s operatorstandin.Script) { w.scripts.Store(prefix, s) }

func (w *world) executor(t *testing.T) *operator.Executor {
	t.Helper()
	return w.executorAs(t, w.rest)
}

// executorAs is an executor that reaches the API server with cfg's credentials.
func (w *world) executorAs(t *testing.T, cfg *rest.Config, adjust ...func(*operator.Options)) *operator.Executor {
	t.Helper()
	opts := operator.Options{
		REST: cfg, Namespace: namespace,
		Repository: "https://github.com/kong-alb-eks/kong-alb-eks.git", Commit: strings.Repeat("ab", 20),
		Backend: "s3://kong-alb-eks-state?region=us-east-1", ServiceAccount: "pulumi-workspace",
		Env:   map[string]operator.SecretRef{"PULUMI_CONFIG_PASSPHRASE": {Name: "portal-env", Key: "passphrase"}},
		Image: "pulumi/pulumi:3.263.0-nonroot", Poll: 50 * time.Millisecond,
	}
	for _, a := range adjust {
		a(&opts)
	}
	e, err := operator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func spec(t *testing.T, name string) stacks.Spec {
	t.Helper()
	cfg := stacks.DefaultConfig()
	cfg.Region, cfg.Domain, cfg.HostedZone = "us-east-1", name+".example.com", "example.com"
	cfg.Kong.PostgresHost, cfg.Kong.PostgresPassword = "db.example.com", "s3cret-password"
	s := stacks.Spec{Name: name, Config: cfg}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	return s
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// The Stack the executor writes is accepted by the real CRD (its schema and its 42-character
// name rule), carries the environment in its labels, its configuration by reference (the
// secret in a Secret, never inline), and a successful run's outputs reach the portal.
func upWritesAStackTheCRDAccepts(t *testing.T, w *world) {
	env := "up-ok-" + strings.Repeat("x", 50) // 56 characters: its Stack's name is shortened
	w.scriptFor("up-ok-", func(st *operator.Stack, typ string) operatorstandin.Outcome {
		return operatorstandin.Outcome{Outputs: map[string]any{"albHostname": "k8s-kong-123.us-east-1.elb.amazonaws.com", "kubeconfig": "[secret]"}}
	})
	e := w.executor(t)
	var events []automation.Event
	sp := spec(t, "up-ok")
	sp.Name, sp.Config.Cluster.Name = env, "up-ok"
	res, err := e.Up(ctx(t), sp, automation.WithID("op-0123456789abcdef01234567"), automation.WithEvents(func(ev automation.Event) { events = append(events, ev) }))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outputs["albHostname"].Value != "k8s-kong-123.us-east-1.elb.amazonaws.com" || !res.Outputs["kubeconfig"].Secret {
		t.Errorf("outputs = %v", res.Outputs)
	}
	list, err := w.cluster.Do("GET", "/apis/pulumi.com/v1/namespaces/"+namespace+"/stacks?labelSelector="+operator.LabelEnvironment+"%3D"+env, nil)
	if err != nil {
		t.Fatal(err)
	}
	items, _ := list["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("%d Stacks for the environment", len(items))
	}
	st := items[0].(map[string]any)
	meta, spec := st["metadata"].(map[string]any), st["spec"].(map[string]any)
	if name := meta["name"].(string); len(name) > operator.MaxStackName {
		t.Errorf("Stack name %q is longer than the CRD allows", name)
	}
	if spec["stack"] != env || spec["destroyOnFinalize"] != true || spec["runProgram"] != true || spec["commit"] != strings.Repeat("ab", 20) {
		t.Errorf("spec = %v", spec)
	}
	if _, inline := spec["config"]; inline {
		t.Error("the configuration is inline in the Stack")
	}
	ref := spec["secretsRef"].(map[string]any)["kong-alb-eks:postgresPassword"].(map[string]any)
	secretName := ref["secret"].(map[string]any)["name"].(string)
	secret, err := w.cluster.Do("GET", "/api/v1/namespaces/"+namespace+"/secrets/"+secretName, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := base64.StdEncoding.DecodeString(secret["data"].(map[string]any)["kong-alb-eks.postgresPassword"].(string)); string(got) != "s3cret-password" {
		t.Errorf("the password's Secret holds %q", got)
	}
	for _, ev := range events {
		if strings.Contains(ev.Message, "s3cret-password") {
			t.Errorf("an event carries the password: %v", ev)
		}
	}
	if len(events) == 0 || events[len(events)-1].Kind != automation.EventSummary {
		t.Errorf("events = %v", events)
	}
	if errs := w.op.Errors(); len(errs) > 0 {
		t.Errorf("the stand-in's status writes were refused: %v", errs)
	}
	// The operator mounts each config object as a pod volume configmap-NAME or secret-NAME,
	// and a volume name has at most 63 characters (a DNS label).
	for _, kind := range []string{"configmaps", "secrets"} {
		objs, err := w.cluster.Do("GET", "/api/v1/namespaces/"+namespace+"/"+kind+"?labelSelector="+operator.LabelEnvironment+"%3D"+env, nil)
		if err != nil {
			t.Fatal(err)
		}
		items, _ := objs["items"].([]any)
		if len(items) != 1 {
			t.Errorf("%d %s for the environment, want 1", len(items), kind)
		}
		for _, it := range items {
			if name := it.(map[string]any)["metadata"].(map[string]any)["name"].(string); len("configmap-"+name) > 63 {
				t.Errorf("%s %s makes a volume name longer than 63 characters", kind, name)
			}
		}
	}
}

// A run that fails is reported with the engine's message, as the operator records it.
func upFailureCarriesTheOperatorsMessage(t *testing.T, w *world) {
	w.scriptFor("up-fail", func(*operator.Stack, string) operatorstandin.Outcome {
		return operatorstandin.Outcome{Fail: true, Message: "error: creating EKS Cluster: AccessDeniedException"}
	})
	_, err := w.executor(t).Up(ctx(t), spec(t, "up-fail"), automation.WithID("op-0002"))
	var re *automation.RunnerError
	if !errors.As(err, &re) || re.Code != "update_failed" || !strings.Contains(re.Message, "AccessDeniedException") {
		t.Fatalf("err = %v", err)
	}
}

// A Stack the operator stalls on (its workspace never became ready) ends the operation with
// the operator's reason and message.
func stalledStackIsReported(t *testing.T, w *world) {
	w.scriptFor("stalled", func(*operator.Stack, string) operatorstandin.Outcome {
		return operatorstandin.Outcome{Stall: "WorkspaceFailed", Message: "InstallationFailed: go: go.mod requires go >= 1.26.6"}
	})
	_, err := w.executor(t).Up(ctx(t), spec(t, "stalled"), automation.WithID("op-0003"))
	var re *automation.RunnerError
	if !errors.As(err, &re) || re.Code != "stalled" || re.Reason != "WorkspaceFailed" || !strings.Contains(re.Message, "go.mod requires") {
		t.Fatalf("err = %v", err)
	}
}

// Destroy deletes the Stack; the operator destroys the stack before it lets the Stack go. A
// failed destroy keeps the Stack (its finalizer) and says why.
func destroy(t *testing.T, w *world) {
	var failing atomic.Bool
	failing.Store(true)
	w.scriptFor("destroy", func(_ *operator.Stack, typ string) operatorstandin.Outcome {
		if typ == "destroy" && failing.Load() {
			return operatorstandin.Outcome{Fail: true, Message: "error: deleting VPC: DependencyViolation"}
		}
		return operatorstandin.Outcome{}
	})
	e := w.executor(t)
	if _, err := e.Up(ctx(t), spec(t, "destroy"), automation.WithID("op-0004")); err != nil {
		t.Fatal(err)
	}
	_, err := e.Destroy(ctx(t), "destroy", automation.WithID("op-0005"))
	var re *automation.RunnerError
	if !errors.As(err, &re) || !strings.Contains(re.Message, "DependencyViolation") {
		t.Fatalf("the failed destroy: %v", err)
	}
	// The operator retries a failed destroy, keeping the Stack, until three failures stall it.
	if err := w.cluster.Eventually(30*time.Second, "the destroy stalled after its retries", func() (bool, error) {
		st, err := w.cluster.Do("GET", "/apis/pulumi.com/v1/namespaces/"+namespace+"/stacks/destroy", nil)
		return err == nil && localcluster.Condition(st, operator.ConditionStalled) == "True", err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Status(ctx(t), "destroy"); err != nil {
		t.Fatalf("after a failed destroy the environment is still there: %v", err)
	}
	failing.Store(false)
	if _, err := e.Destroy(ctx(t), "destroy", automation.WithID("op-0006")); err != nil {
		t.Fatalf("the second destroy: %v", err)
	}
	if _, err := e.Status(ctx(t), "destroy"); !errors.Is(err, automation.ErrNotFound) {
		t.Errorf("after the destroy: %v", err)
	}
}

// An environment whose RDS database is protected is not destroyed: the Stack is not even
// deleted (the operator would delete everything else first). Lifting the protection with an
// update lets the destroy run.
func protectedDestroy(t *testing.T, w *world) {
	e := w.executor(t)
	s := spec(t, "protected")
	s.Config.Kong.PostgresHost, s.Config.Kong.PostgresPassword = "", ""
	s.Config.Database.Kind = stacks.DatabaseRDS
	if _, err := e.Up(ctx(t), s, automation.WithID("op-0040")); err != nil {
		t.Fatal(err)
	}
	_, err := e.Destroy(ctx(t), "protected", automation.WithID("op-0041"))
	var pe *automation.ProtectedError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "databaseDeletionProtection") {
		t.Fatalf("destroying a protected environment: %v", err)
	}
	st, err := w.cluster.Do("GET", "/apis/pulumi.com/v1/namespaces/"+namespace+"/stacks/protected", nil)
	if meta, _ := st["metadata"].(map[string]any); err != nil || meta["deletionTimestamp"] != nil {
		t.Fatalf("the refused destroy deleted the Stack: %v %v", err, st)
	}
	s.Config.Database.DeletionProtection = false
	if _, err := e.Up(ctx(t), s, automation.WithID("op-0042")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Destroy(ctx(t), "protected", automation.WithID("op-0043")); err != nil {
		t.Fatalf("the destroy after lifting the protection: %v", err)
	}
}

// A preview runs on a Stack of its own (spec.preview), so that the environment's Stack never
// sees a proposed spec (it would run an update), and the preview Stack is deleted after: the
// operator lets a preview Stack go without a destroy.
func preview(t *testing.T, w *world) {
	seen := make(chan string, 4)
	w.scriptFor("preview", func(st *operator.Stack, typ string) operatorstandin.Outcome {
		seen <- st.Name + " " + typ
		return operatorstandin.Outcome{}
	})
	e := w.executor(t)
	res, err := e.Preview(ctx(t), spec(t, "preview"), automation.WithID("op-0007"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Diff, "reports no diff") {
		t.Errorf("preview result %+v", res)
	}
	if got := <-seen; got != "preview-preview preview" {
		t.Errorf("the run was %q, want the preview Stack's preview", got)
	}
	if _, err := e.Status(ctx(t), "preview"); !errors.Is(err, automation.ErrNotFound) {
		t.Errorf("a preview made the environment: %v", err)
	}
	if err := w.cluster.Eventually(30*time.Second, "the preview Stack is deleted", func() (bool, error) {
		_, err := w.cluster.Do("GET", "/apis/pulumi.com/v1/namespaces/"+namespace+"/stacks/preview-preview", nil)
		return localcluster.IsNotFound(err), nil
	}); err != nil {
		t.Error(err)
	}
}

// A destroy the operator stalls on (here its workspace cannot start) ends with the operator's
// reason, although a first destroy asks for no new reconcile request.
func destroyStalls(t *testing.T, w *world) {
	w.scriptFor("stuck", func(_ *operator.Stack, typ string) operatorstandin.Outcome {
		if typ == "destroy" {
			return operatorstandin.Outcome{Stall: "WorkspaceFailed", Message: "InstallationFailed: image pull failed"}
		}
		return operatorstandin.Outcome{}
	})
	e := w.executor(t)
	if _, err := e.Up(ctx(t), spec(t, "stuck"), automation.WithID("op-0010")); err != nil {
		t.Fatal(err)
	}
	_, err := e.Destroy(ctx(t), "stuck", automation.WithID("op-0011"))
	var re *automation.RunnerError
	if !errors.As(err, &re) || re.Code != "stalled" || re.Reason != "WorkspaceFailed" {
		t.Fatalf("err = %v", err)
	}
}

// A run the operator never starts (its workspace pod cannot start, which the operator reports
// as no stall) fails after WorkspaceTimeout with what the Stack says; a Secret the workspaces
// need that does not exist is refused before anything is written.
func runThatNeverStarts(t *testing.T, w *world) {
	w.scriptFor("never", func(*operator.Stack, string) operatorstandin.Outcome {
		return operatorstandin.Outcome{NeverReady: true}
	})
	e := w.executorAs(t, w.rest, func(o *operator.Options) { o.WorkspaceTimeout = time.Second })
	_, err := e.Up(ctx(t), spec(t, "never"), automation.WithID("op-0012"))
	var re *automation.RunnerError
	if !errors.As(err, &re) || re.Code != "timeout" || !strings.Contains(re.Message, "waiting for workspace readiness") {
		t.Fatalf("err = %v", err)
	}
	missing := w.executorAs(t, w.rest, func(o *operator.Options) {
		o.Env = map[string]operator.SecretRef{"AWS_SECRET_ACCESS_KEY": {Name: "aws", Key: "secret"}}
	})
	_, err = missing.Up(ctx(t), spec(t, "never-secret"), automation.WithID("op-0013"))
	if err == nil || !strings.Contains(err.Error(), "AWS_SECRET_ACCESS_KEY (Secret aws does not exist)") {
		t.Fatalf("err = %v", err)
	}
	if _, err := missing.Status(ctx(t), "never-secret"); !errors.Is(err, automation.ErrNotFound) {
		t.Errorf("a refused operation wrote a Stack: %v", err)
	}
}

// The executor refuses, as the in-process manager does, a spec whose Kong data planes would
// be newer than the control plane the environment's Stack reports running; the two-step
// upgrade goes through.
func kongUpgradeControlPlaneFirst(t *testing.T, w *world) {
	w.scriptFor("kong-up", func(st *operator.Stack, typ string) operatorstandin.Outcome {
		return operatorstandin.Outcome{Outputs: map[string]any{"kongVersion": "3.10.0.4"}}
	})
	e := w.executor(t)
	sp := spec(t, "kong-up")
	sp.Config.Kong.Version = "3.10.0.4"
	if _, err := e.Up(ctx(t), sp, automation.WithID("op-0301")); err != nil {
		t.Fatal(err)
	}
	sp.Config.Kong.Version = "3.11.0.0"
	var ise *stacks.InvalidSpecError
	if _, err := e.Up(ctx(t), sp, automation.WithID("op-0302")); !errors.As(err, &ise) || ise.Problems[0].Key != "kong-alb-eks:kongVersion" {
		t.Fatalf("kongVersion 3.10.0.4 → 3.11.0.0 in one step: %v, want the kongVersion key refused", err)
	}
	sp.Config.Kong.DataPlaneVersion = "3.10.0.4"
	if _, err := e.Up(ctx(t), sp, automation.WithID("op-0303")); err != nil {
		t.Fatalf("the control plane first: %v", err)
	}
}
