package automation_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
)

// BenchmarkManagerPreview measures the manager's overhead per operation over a bare Automation
// API call: "bare" previews a stack whose config is already written, through auto directly;
// "manager" previews the same program through Manager.Preview, which also validates the spec,
// takes the locks, selects the stack, writes the whole config (secrets through stdin) and
// translates events. The "overhead-ms/op" metric is manager minus bare.
//
// BenchmarkManagerPreview/concurrent runs MaxConcurrent previews of distinct stacks at once and
// reports the Go heap each concurrent operation holds ("heap-B/op-concurrent"); the engine's own
// memory lives in the CLI's process and is not counted.
func BenchmarkManagerPreview(b *testing.B) {
	testkit.RequirePulumi(b)
	ctx := context.Background()
	state := b.TempDir()
	h := newHooks()
	m := newManager(b, state, h, func(o *automation.ManagerOptions) { o.MaxConcurrent = 4 })
	cfg, _ := testConfig(b, "dev.example.com")
	spec := stacks.Spec{Name: "bench", Config: cfg}
	if _, err := m.Up(ctx, spec); err != nil {
		b.Fatal(err)
	}

	// The bare Automation API on the same stack, backend and config.
	env := map[string]string{
		"PULUMI_BACKEND_URL":       m.BackendURL(),
		"PULUMI_CONFIG_PASSPHRASE": testPassphrase,
		"PULUMI_SKIP_UPDATE_CHECK": "true",
	}
	bare, err := auto.SelectStackInlineSource(ctx, "bench", stacks.Project, testProgram(h),
		auto.WorkDir(filepath.Join(state, "work", "stacks", "bench")),
		auto.PulumiHome(filepath.Join(state, "home")),
		auto.EnvVars(env),
		auto.Project(workspace.Project{Name: tokens.PackageName(stacks.Project), Runtime: workspace.NewProjectRuntimeInfo("go", nil),
			Backend: &workspace.ProjectBackend{URL: m.BackendURL()}}))
	if err != nil {
		b.Fatal(err)
	}

	var bareNs, mgrNs float64
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := bare.Preview(ctx); err != nil {
				b.Fatal(err)
			}
		}
		bareNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("manager", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.Preview(ctx, spec, automation.WithEvents(func(automation.Event) {})); err != nil {
				b.Fatal(err)
			}
		}
		mgrNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		if bareNs > 0 {
			b.ReportMetric((mgrNs-bareNs)/float64(time.Millisecond), "overhead-ms/op")
		}
	})
	b.Run("concurrent", func(b *testing.B) {
		const n = 4
		specs := make([]stacks.Spec, n)
		for i := range specs {
			specs[i] = stacks.Spec{Name: fmt.Sprintf("bench-%d", i), Config: cfg}
		}
		var peak uint64
		for b.Loop() {
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			var wg sync.WaitGroup
			var once sync.Once
			stop := make(chan struct{})
			sampled := make(chan uint64, 1)
			go func() { // sample the heap while the operations run
				var max uint64
				t := time.NewTicker(20 * time.Millisecond)
				defer t.Stop()
				for {
					select {
					case <-stop:
						sampled <- max
						return
					case <-t.C:
						var ms runtime.MemStats
						runtime.ReadMemStats(&ms)
						if ms.HeapAlloc > before.HeapAlloc && ms.HeapAlloc-before.HeapAlloc > max {
							max = ms.HeapAlloc - before.HeapAlloc
						}
					}
				}
			}()
			for _, s := range specs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := m.Preview(ctx, s); err != nil {
						once.Do(func() { b.Error(err) })
					}
				}()
			}
			wg.Wait()
			close(stop)
			if v := <-sampled; v > peak {
				peak = v
			}
		}
		b.ReportMetric(float64(peak)/n, "heap-B/op-concurrent")
	})
}
