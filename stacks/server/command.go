package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
)

// EnvToken names the environment variable holding the API's bearer token.
const EnvToken = "PORTAL_API_TOKEN"

// Exit codes of Command.
const (
	ExitOK    = 0 // stopped on a signal, every accepted operation ran to its end
	ExitError = 1 // could not start, or the listener failed
	ExitUsage = 2 // bad flags or an unsafe start refused
	// ExitCutShort: stopped on a signal, and the shutdown cut operations short: queued ones
	// that never started, or running ones canceled at the deadline or on a second signal.
	ExitCutShort = 3
)

// Command runs `serve`: args are the flags after "serve" (a leading "serve" is skipped), and it
// returns the process's exit code. The first SIGINT or SIGTERM drains the service: no new
// operation starts (queued ones included), reads keep being served, and the running operations
// may finish within --shutdown-timeout; the second signal cancels them at once.
func Command(args []string) int {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	return run(args, runEnv{signals: sig, getenv: os.Getenv, stderr: os.Stderr})
}

// runEnv is what run takes from its process: tests inject each.
type runEnv struct {
	signals <-chan os.Signal
	getenv  func(string) string
	stderr  io.Writer
	// ready, if set, receives the listening address.
	ready func(net.Addr)
	// program, if set, replaces the deployment program the operations run.
	program pulumi.RunFunc
}

type config struct {
	listen          string
	stateDir        string
	backend         string
	secretsProvider string
	pulumi          string
	allowUnauthLoop bool
	maxConcurrent   int
	shutdownTimeout time.Duration
	maxBodyBytes    int64
	maxQueued       int
	readTimeout     time.Duration
	idleTimeout     time.Duration
	logLevel        string
	accessPolicy    string
	auditLog        string
	auditHead       string
	executor        string
	operator        operatorConfig
}

// run is Command with its process's environment injected.
func run(args []string, e runEnv) int {
	sig, getenv, stderr, ready := e.signals, e.getenv, e.stderr, e.ready
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	var c config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&c.stateDir, "state-dir", ".pulumi/portal", "directory for the file backend, the stack work directories, PULUMI_HOME and the operations journal")
	fs.StringVar(&c.backend, "backend", "", "backend URL (default file://<state-dir>/backend; s3://... and Pulumi Cloud URLs accepted)")
	fs.StringVar(&c.secretsProvider, "secrets-provider", "", "secrets provider for new stacks (default passphrase from PULUMI_CONFIG_PASSPHRASE; awskms://... accepted)")
	fs.StringVar(&c.pulumi, "pulumi", "", "path of the pulumi CLI (default: pulumi on PATH)")
	fs.BoolVar(&c.allowUnauthLoop, "allow-unauthenticated-loopback", false, "serve without "+EnvToken+" (only on a loopback address)")
	fs.IntVar(&c.maxConcurrent, "max-concurrent", 4, "most engine operations run at once")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 5*time.Minute, "on SIGINT/SIGTERM, how long running operations may finish before they are canceled")
	fs.Int64Var(&c.maxBodyBytes, "max-body-bytes", DefaultMaxBodyBytes, "largest request body accepted")
	fs.IntVar(&c.maxQueued, "max-queued", DefaultMaxQueued, "most operations waiting for a free slot; beyond them a new one is refused with 429")
	fs.DurationVar(&c.readTimeout, "read-timeout", time.Minute, "longest time to read a request, body included")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", 2*time.Minute, "longest time an idle keep-alive connection stays open")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.accessPolicy, "access-policy", "", "JSON access policy: tenants, their token file and the OIDC identity provider (default: "+EnvToken+" only)")
	fs.StringVar(&c.auditLog, "audit-log", "", "audit trail file (default <state-dir>/audit.jsonl)")
	fs.StringVar(&c.auditHead, "audit-head", "", "the audit trail's head file: its newest record's sequence number and hash, checked at start (default <audit-log>.head; best on storage the trail's own volume does not share)")
	fs.StringVar(&c.executor, "executor", ExecutorInProcess, "where operations run: "+ExecutorInProcess+" (this process, through the Automation API) or "+ExecutorOperator+" (Stacks of the Pulumi Kubernetes Operator)")
	c.operator.flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: serve [flags]\n\nThe portal's HTTP API. Requests need \"Authorization: Bearer <token>\": $%s, or with --access-policy a tenant's token or JWT.\n\n", EnvToken)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "serve: unexpected arguments %q\n", fs.Args())
		return ExitUsage
	}
	if problems := c.problems(); len(problems) > 0 {
		fmt.Fprintf(stderr, "serve: %s\n", strings.Join(problems, "; "))
		return ExitUsage
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		fmt.Fprintf(stderr, "serve: --log-level: %v\n", err)
		return ExitUsage
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	var access *AccessPolicy
	if c.accessPolicy != "" {
		p, err := LoadAccessPolicy(c.accessPolicy)
		if err != nil {
			fmt.Fprintf(stderr, "serve: --access-policy: %v\n", err)
			return ExitUsage
		}
		access = p
	}
	token := getenv(EnvToken)
	if token == "" && access == nil {
		if !c.allowUnauthLoop {
			fmt.Fprintf(stderr, "serve: refusing to start without authentication: set %s, or pass --allow-unauthenticated-loopback with a loopback --listen address\n", EnvToken)
			return ExitUsage
		}
		if !isLoopback(c.listen) {
			fmt.Fprintf(stderr, "serve: refusing to serve without authentication on %s: --allow-unauthenticated-loopback needs a loopback address such as 127.0.0.1:8080\n", c.listen)
			return ExitUsage
		}
		log.Warn("serving WITHOUT authentication (loopback only)", "listen", c.listen)
	} else if token != "" && len(token) < 16 {
		fmt.Fprintf(stderr, "serve: %s is too short: use at least 16 random characters\n", EnvToken)
		return ExitUsage
	}

	lock, err := lockStateDir(c.stateDir)
	if err != nil {
		fmt.Fprintf(stderr, "serve: %v\n", err)
		return ExitError
	}
	defer lock.release()

	m, err := c.newExecutor(e, log)
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		return ExitError
	}
	defer m.Close()
	if mgr, ok := m.(*automation.Manager); ok {
		reportBackend(context.Background(), mgr, log)
	}

	if c.auditLog == "" {
		c.auditLog = filepath.Join(c.stateDir, "audit.jsonl")
	}
	srv, err := New(Options{Executor: m, Token: token, Access: access, AuditLog: c.auditLog, AuditHead: c.auditHead, Logger: log, MaxBodyBytes: c.maxBodyBytes,
		MaxQueued: c.maxQueued, OperationsDir: filepath.Join(c.stateDir, "operations")})
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		return ExitError
	}
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		log.Error("cannot listen", "listen", c.listen, "error", err.Error())
		return ExitError
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       c.readTimeout,
		IdleTimeout:       c.idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	log.Info("listening", "address", ln.Addr().String(), "authentication", token != "" || access != nil, "tenants", access != nil, "auditLog", c.auditLog)
	if ready != nil {
		ready(ln.Addr())
	}

	code := ExitOK
	select {
	case err := <-serveErr:
		log.Error("server failed", "error", err.Error())
		code = ExitError
	case s := <-sig:
		log.Info("draining: no new operations start; reads are served until the running operations end (a second signal cancels them)",
			"signal", s.String(), "deadline", c.shutdownTimeout.String())
	}
	// The listener stays open while the operations drain, so that clients can follow them;
	// the deadline or a second signal cancels what still runs.
	dctx, cancel := context.WithTimeoutCause(context.Background(), c.shutdownTimeout, errors.New("the shutdown deadline passed"))
	defer cancel()
	cctx, cancelNow := context.WithCancelCause(dctx)
	defer cancelNow(nil)
	go func() {
		select {
		case s := <-sig:
			log.Warn("second signal: canceling the running operations now", "signal", s.String())
			cancelNow(errors.New("a second signal"))
		case <-cctx.Done():
		}
	}()
	var cut *CutShortError
	if err := srv.Shutdown(cctx); errors.As(err, &cut) {
		log.Warn("the shutdown cut operations short", "notStarted", cut.NotStarted, "canceled", cut.Canceled, "handedOff", cut.HandedOff)
		if code == ExitOK {
			code = ExitCutShort
		}
	}
	// Every operation has ended, and with it every event stream: what is left are idle
	// connections and short requests.
	hctx, hcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer hcancel()
	if err := hs.Shutdown(hctx); err != nil {
		log.Warn("closing the remaining connections", "error", err.Error())
		_ = hs.Close()
	}
	log.Info("stopped", "exitCode", code)
	return code
}

// problems lists every flag value that cannot work.
func (c *config) problems() []string {
	var out []string
	if c.executor != ExecutorInProcess && c.executor != ExecutorOperator {
		out = append(out, fmt.Sprintf("--executor must be %s or %s", ExecutorInProcess, ExecutorOperator))
	}
	if c.executor == ExecutorOperator {
		for _, f := range []struct{ flag, v string }{{"--operator-namespace", c.operator.namespace}, {"--program-repository", c.operator.repository},
			{"--program-commit", c.operator.commit}, {"--workspace-image", c.operator.image}, {"--backend", c.backend}} {
			if f.v == "" {
				out = append(out, f.flag+" is required with --executor "+ExecutorOperator)
			}
		}
	}
	if c.maxConcurrent < 1 {
		out = append(out, "--max-concurrent must be at least 1")
	}
	if c.maxQueued < 1 {
		out = append(out, "--max-queued must be at least 1")
	}
	if c.maxBodyBytes < 1 {
		out = append(out, "--max-body-bytes must be at least 1")
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--read-timeout", c.readTimeout}, {"--idle-timeout", c.idleTimeout}, {"--shutdown-timeout", c.shutdownTimeout}} {
		if d.v <= 0 {
			out = append(out, d.flag+" must be a positive duration, such as 90s")
		}
	}
	return out
}

// reportBackend logs what the backend holds, and every lock a killed process left behind.
func reportBackend(ctx context.Context, m *automation.Manager, log *slog.Logger) {
	lctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	infos, err := m.List(lctx)
	if err != nil {
		log.Error("cannot list the backend's stacks", "error", err.Error())
		return
	}
	log.Info("backend", "url", automation.RedactURL(m.BackendURL()), "stacks", len(infos))
	for _, info := range infos {
		attrs := []any{"stack", info.Name, "lastUpdate", info.LastUpdate, "updateInProgress", info.UpdateInProgress}
		if info.ResourceCount != nil {
			attrs = append(attrs, "resources", *info.ResourceCount)
		}
		log.Info("stack", attrs...)
		for _, l := range info.Locks {
			la := []any{"stack", info.Name, "lockFile", l.Path, "pid", l.PID, "host", l.Hostname, "since", l.Timestamp, "clear", l.Clear}
			if l.Stale {
				log.Warn("stack left locked by a killed process: no update can run until the lock is cleared", la...)
			} else {
				log.Warn("stack locked by a running update of another process", la...)
			}
		}
	}
}

// isLoopback reports whether a listen address binds only loopback interfaces.
func isLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil || host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
