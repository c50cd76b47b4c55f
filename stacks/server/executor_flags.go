package server

import (
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
	pko "github.com/kong-alb-eks/kong-alb-eks/stacks/operator"
)

// The executors `serve --executor` chooses from.
const (
	ExecutorInProcess = "in-process"
	ExecutorOperator  = "kubernetes-operator"
)

// operatorConfig is the --operator-* flags: where the Pulumi Kubernetes Operator runs the
// environments, and what its Stacks run.
type operatorConfig struct {
	kubeconfig     string
	namespace      string
	repository     string
	commit         string
	repoDir        string
	serviceAccount string
	image          string
	env            envRefs
	readyTimeout   time.Duration
	runTimeout     time.Duration
}

// envRefs is the repeatable --operator-env NAME=SECRET/KEY.
type envRefs map[string]pko.SecretRef

func (e envRefs) String() string {
	var out []string
	for k, v := range e {
		out = append(out, k+"="+v.Name+"/"+v.Key)
	}
	return strings.Join(out, ",")
}

func (e envRefs) Set(s string) error {
	name, ref, ok := strings.Cut(s, "=")
	secret, key, ok2 := strings.Cut(ref, "/")
	if !ok || !ok2 || name == "" || secret == "" || key == "" {
		return fmt.Errorf("expected NAME=SECRET/KEY (a key of a Secret in the operator namespace), got %q", s)
	}
	e[name] = pko.SecretRef{Name: secret, Key: key}
	return nil
}

func (o *operatorConfig) flags(fs *flag.FlagSet) {
	o.env = envRefs{}
	fs.StringVar(&o.kubeconfig, "operator-kubeconfig", "", "kubeconfig of the operator's cluster (default: the pod's service account)")
	fs.StringVar(&o.namespace, "operator-namespace", "", "namespace of the environments' Stacks (required with --executor "+ExecutorOperator+")")
	fs.StringVar(&o.repository, "program-repository", "", "git URL of this program, which the operator's workspaces run")
	fs.StringVar(&o.commit, "program-commit", "", "full commit SHA of the program in --program-repository")
	fs.StringVar(&o.repoDir, "program-dir", "", "directory of Pulumi.yaml in the repository (default its root)")
	fs.StringVar(&o.serviceAccount, "workspace-service-account", "", "service account of the operator's workspace pods (bound to system:auth-delegator, with the cloud credentials)")
	fs.StringVar(&o.image, "workspace-image", "", "workspace image, pinned (it carries the pulumi CLI and Go), such as pulumi/pulumi:3.263.0-nonroot")
	fs.DurationVar(&o.readyTimeout, "operator-workspace-timeout", 30*time.Minute, "how long an operation waits for the operator to start its run (a workspace pod that cannot start is no stall to the operator)")
	fs.DurationVar(&o.runTimeout, "operator-run-timeout", 4*time.Hour, "how long an operation waits for the operator's run to end")
	fs.Var(o.env, "operator-env", "NAME=SECRET/KEY: an environment variable of the workspace pods from a Secret in the operator namespace (repeatable), such as PULUMI_CONFIG_PASSPHRASE=portal-env/passphrase")
}

// newExecutor builds the executor the flags choose.
func (c *config) newExecutor(e runEnv, log *slog.Logger) (automation.Executor, error) {
	switch c.executor {
	case ExecutorInProcess:
		m, err := automation.NewManager(automation.ManagerOptions{
			StateDir: c.stateDir, BackendURL: c.backend, SecretsProvider: c.secretsProvider, PulumiBinary: c.pulumi,
			MaxConcurrent: c.maxConcurrent, Program: e.program, Logger: log,
		})
		if err != nil {
			return nil, err
		}
		log.Info("manager ready", "executor", c.executor, "project", m.Project(), "pulumi", m.PulumiVersion(), "stateDir", c.stateDir, "maxConcurrent", c.maxConcurrent)
		return m, nil
	case ExecutorOperator:
		o := c.operator
		var cfg *rest.Config
		var err error
		if o.kubeconfig != "" {
			cfg, err = clientcmd.BuildConfigFromFlags("", o.kubeconfig)
		} else {
			cfg, err = rest.InClusterConfig()
		}
		if err != nil {
			return nil, fmt.Errorf("the operator's cluster: %w", err)
		}
		x, err := pko.New(pko.Options{REST: cfg, Namespace: o.namespace, Repository: o.repository, Commit: o.commit, RepoDir: o.repoDir,
			Backend: c.backend, SecretsProvider: c.secretsProvider, ServiceAccount: o.serviceAccount, Env: o.env, Image: o.image,
			MaxConcurrent: c.maxConcurrent, WorkspaceTimeout: o.readyTimeout, RunTimeout: o.runTimeout})
		if err != nil {
			return nil, err
		}
		log.Info("operator executor ready", "executor", c.executor, "namespace", o.namespace, "commit", o.commit, "image", o.image, "maxConcurrent", c.maxConcurrent)
		return x, nil
	}
	return nil, fmt.Errorf("--executor: expected %s or %s, got %q", ExecutorInProcess, ExecutorOperator, c.executor)
}
