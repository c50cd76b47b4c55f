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
	"syscall"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
)

// EnvToken names the environment variable holding the API's bearer token.
const EnvToken = "PORTAL_API_TOKEN"

// Command runs `serve`: args are the flags after "serve" (a leading "serve" is skipped). It
// returns the process's exit code: 0 after a graceful shutdown on SIGINT or SIGTERM, 2 for bad
// usage, 1 for any other failure.
func Command(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, os.Getenv, os.Stderr, nil)
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
	logLevel        string
	accessPolicy    string
	auditLog        string
}

// run is Command with its environment injected; ready (if set) receives the listening address.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready func(net.Addr)) int {
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
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.accessPolicy, "access-policy", "", "JSON access policy: tenants, their token file and the OIDC identity provider (default: "+EnvToken+" only)")
	fs.StringVar(&c.auditLog, "audit-log", "", "audit trail file (default <state-dir>/audit.jsonl)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: serve [flags]\n\nThe portal's HTTP API. Requests need \"Authorization: Bearer <token>\": $%s, or with --access-policy a tenant's token or JWT.\n\n", EnvToken)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "serve: unexpected arguments %q\n", fs.Args())
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		fmt.Fprintf(stderr, "serve: --log-level: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	var access *AccessPolicy
	if c.accessPolicy != "" {
		p, err := LoadAccessPolicy(c.accessPolicy)
		if err != nil {
			fmt.Fprintf(stderr, "serve: --access-policy: %v\n", err)
			return 2
		}
		access = p
	}
	token := getenv(EnvToken)
	if token == "" && access == nil {
		if !c.allowUnauthLoop {
			fmt.Fprintf(stderr, "serve: refusing to start without authentication: set %s, or pass --allow-unauthenticated-loopback with a loopback --listen address\n", EnvToken)
			return 2
		}
		if !isLoopback(c.listen) {
			fmt.Fprintf(stderr, "serve: refusing to serve without authentication on %s: --allow-unauthenticated-loopback needs a loopback address such as 127.0.0.1:8080\n", c.listen)
			return 2
		}
		log.Warn("serving WITHOUT authentication (loopback only)", "listen", c.listen)
	} else if token != "" && len(token) < 16 {
		fmt.Fprintf(stderr, "serve: %s is too short: use at least 16 random characters\n", EnvToken)
		return 2
	}

	lock, err := lockStateDir(c.stateDir)
	if err != nil {
		fmt.Fprintf(stderr, "serve: %v\n", err)
		return 1
	}
	defer lock.release()

	m, err := stacks.NewManager(stacks.ManagerOptions{
		StateDir:        c.stateDir,
		BackendURL:      c.backend,
		SecretsProvider: c.secretsProvider,
		PulumiBinary:    c.pulumi,
		MaxConcurrent:   c.maxConcurrent,
		Logger:          log,
	})
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		return 1
	}
	defer m.Close()
	log.Info("manager ready", "project", m.Project(), "pulumi", m.PulumiVersion(), "stateDir", c.stateDir, "maxConcurrent", c.maxConcurrent)
	reportBackend(ctx, m, log)

	if c.auditLog == "" {
		c.auditLog = filepath.Join(c.stateDir, "audit.jsonl")
	}
	srv, err := New(Options{Manager: m, Token: token, Access: access, AuditLog: c.auditLog, Logger: log, MaxBodyBytes: c.maxBodyBytes,
		OperationsDir: filepath.Join(c.stateDir, "operations")})
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		return 1
	}
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		log.Error("cannot listen", "listen", c.listen, "error", err.Error())
		return 1
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	log.Info("listening", "address", ln.Addr().String(), "authentication", token != "" || access != nil, "tenants", access != nil, "auditLog", c.auditLog)
	if ready != nil {
		ready(ln.Addr())
	}

	code := 0
	select {
	case err := <-serveErr:
		log.Error("server failed", "error", err.Error())
		code = 1
	case <-ctx.Done():
		log.Info("shutting down: no new connections; running operations may finish", "deadline", c.shutdownTimeout.String())
	}
	// Stop accepting connections at once; in-flight requests (event streams included) end as
	// their operations do.
	httpDone := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout+45*time.Second)
		defer cancel()
		httpDone <- hs.Shutdown(sctx)
	}()
	dctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(dctx); err != nil {
		log.Warn("running operations were canceled", "reason", err.Error())
	}
	if err := <-httpDone; err != nil {
		log.Warn("closing the remaining connections", "error", err.Error())
		_ = hs.Close()
	}
	log.Info("stopped")
	return code
}

// reportBackend logs what the backend holds, and every lock a killed process left behind.
func reportBackend(ctx context.Context, m *stacks.Manager, log *slog.Logger) {
	lctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	infos, err := m.List(lctx)
	if err != nil {
		log.Error("cannot list the backend's stacks", "error", err.Error())
		return
	}
	log.Info("backend", "url", redactedBackend(m.BackendURL()), "stacks", len(infos))
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

func redactedBackend(u string) string {
	if i := len("file://"); len(u) > i && u[:i] == "file://" {
		return u
	}
	for i := 0; i < len(u); i++ {
		if u[i] == '?' {
			return u[:i] + "?..."
		}
	}
	return u
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
