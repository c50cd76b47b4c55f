package testkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// GoLanguageHost stands in for pulumi-language-go, the Go language host, which the module proxy
// does not carry. The real Pulumi engine reaches it through the CLI's `--client ADDRESS` flag
// (the engine then passes its own address as the RunRequest's first argument: pkg/engine/update.go,
// "stash the address of the engine in its arguments"), and it runs an already-built program binary
// the way the real host runs one named by the `binary` runtime option.
//
// What it keeps from the real host (sdk/go/pulumi-language-go/main.go, constructEnv and
// runProgram): the program gets the whole stack configuration as JSON in PULUMI_CONFIG, the
// secret keys in PULUMI_CONFIG_SECRET_KEYS, and the project, stack, organization, dry-run,
// parallelism, monitor and engine addresses in their PULUMI_* variables, added to the host's own
// environment; it runs in the RunRequest's working directory; exit status 0 is success,
// constant.ExitStatusLoggedError (32) means the program already reported its error to the engine
// (Bail), any other status is an error naming it. What it leaves out: compiling the program
// (the test builds it) and plugin discovery (it reports no required plugins).
type GoLanguageHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	// Binary is the program to run.
	Binary string

	mu   sync.Mutex
	runs []*pulumirpc.RunRequest
}

// exitStatusLoggedError is the SDK's constant.ExitStatusLoggedError: the program logged its error
// to the engine before exiting (sdk/go/common/constant).
const exitStatusLoggedError = 32

// StartGoLanguageHost serves a GoLanguageHost for binary until the test ends and returns it with
// the address to pass to `pulumi preview --client`.
func StartGoLanguageHost(t testing.TB, binary string) (*GoLanguageHost, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("language host stand-in: %v", err)
	}
	host := &GoLanguageHost{Binary: binary}
	srv := grpc.NewServer()
	pulumirpc.RegisterLanguageRuntimeServer(srv, host)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return host, lis.Addr().String()
}

// Runs are the RunRequests the engine sent, in order.
func (h *GoLanguageHost) Runs() []*pulumirpc.RunRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*pulumirpc.RunRequest(nil), h.runs...)
}

// GetPluginInfo reports no particular version.
func (h *GoLanguageHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: "0.0.0"}, nil
}

// GetRequiredPlugins reports none: the binary is built already.
func (h *GoLanguageHost) GetRequiredPlugins(context.Context, *pulumirpc.GetRequiredPluginsRequest) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

// GetRequiredPackages reports none, likewise.
func (h *GoLanguageHost) GetRequiredPackages(context.Context, *pulumirpc.GetRequiredPackagesRequest) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

// InstallDependencies has nothing to install.
func (h *GoLanguageHost) InstallDependencies(*pulumirpc.InstallDependenciesRequest, pulumirpc.LanguageRuntime_InstallDependenciesServer) error {
	return nil
}

// Run runs the binary with the environment the real Go language host builds.
func (h *GoLanguageHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	h.mu.Lock()
	h.runs = append(h.runs, req)
	h.mu.Unlock()
	if len(req.GetArgs()) == 0 {
		return nil, errors.New("language host stand-in: the engine passed no engine address (run the CLI with --client)")
	}
	env, err := programEnv(req, req.GetArgs()[0])
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, h.Binary)
	cmd.Dir = req.GetPwd()
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return &pulumirpc.RunResponse{}, nil
	case errors.As(err, &exit) && exit.ExitCode() == exitStatusLoggedError:
		return &pulumirpc.RunResponse{Bail: true}, nil
	case errors.As(err, &exit):
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("program exited with non-zero exit code: %d", exit.ExitCode())}, nil
	default:
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
}

// programEnv is the host's environment plus the run's PULUMI_* variables, each only when set.
func programEnv(req *pulumirpc.RunRequest, engine string) ([]string, error) {
	var config []byte
	if req.GetConfig() != nil {
		var err error
		if config, err = json.Marshal(req.GetConfig()); err != nil {
			return nil, err
		}
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secrets, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}
	env := os.Environ()
	for _, kv := range [][2]string{
		{pulumi.EnvOrganization, req.GetOrganization()},
		{pulumi.EnvProject, req.GetProject()},
		{pulumi.EnvPulumiRootDirectory, req.GetInfo().GetRootDirectory()},
		{pulumi.EnvStack, req.GetStack()},
		{pulumi.EnvConfig, string(config)},
		{pulumi.EnvConfigSecretKeys, string(secrets)},
		{pulumi.EnvDryRun, strconv.FormatBool(req.GetDryRun())},
		{pulumi.EnvParallel, strconv.Itoa(int(req.GetParallel()))},
		{pulumi.EnvMonitor, req.GetMonitorAddress()},
		{pulumi.EnvEngine, engine},
	} {
		if kv[1] != "" {
			env = append(env, kv[0]+"="+kv[1])
		}
	}
	return env, nil
}
