package extension

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/statement"
	"github.com/signerd/signerd/test/testenv"
)

// benchInput is a small, realistic request.
var benchInput = []byte(`{"abiVersion":1,"tenant":"team-a","caller":{"pid":1,"uid":0,"gid":0,"pidfd":false},` +
	`"predicateType":"https://cyclonedx.org/bom","subjects":[{"name":"ghcr.io/acme/app","digest":{"sha256":"` +
	"4d7a2a0b1c8e3f5d6a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f" + `"}}],"config":{"registries":["ghcr.io"]}}`)

func benchGuest(b *testing.B) []byte {
	p := filepath.Join(testenv.RepoRoot(b), "bin", "extensions", "allowlist.wasm")
	wasm, err := os.ReadFile(p)
	if err != nil {
		b.Skipf("%v; run make extensions first", err)
	}
	return wasm
}

// BenchmarkCheckWAT measures one check on a reused instance of the raw
// ABI example, deadline enforced.
func BenchmarkCheckWAT(b *testing.B) {
	wasm := testenv.WAT(b, filepath.Join(testenv.RepoRoot(b), "guest", "examples", "raw-abi.wat"))
	benchCheck(b, wasm)
}

// BenchmarkCheckGo measures one check of the allow-list extension (Go SDK)
// on a reused instance, deadline enforced.
func BenchmarkCheckGo(b *testing.B) { benchCheck(b, benchGuest(b)) }

func benchCheck(b *testing.B, wasm []byte) {
	m, err := Load(context.Background(), wasm, Options{Limits: Limits{PoolSize: 1, Timeout: time.Second}})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close(context.Background())
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.Check(ctx, benchInput); err != nil {
			b.Fatal(err)
		}
	}
}

// shippedChecks are the shipped extensions with configs that allow
// shippedInput, as the daemon's extension benchmark configures them.
var shippedChecks = []struct{ name, config string }{
	{"allowlist", `{"registries":["ghcr.io"]}`},
	{"scannerwindow", `{"versions":">=0.50.0, <1.0.0","require_poe":false}`},
	{"sbomgate", `{"min_components":1}`},
}

// shippedInput builds the input the daemon sends for the request that
// signerctl bench makes: one subject, a small CycloneDX predicate and a
// declared scanner.
func shippedInput(b *testing.B, config string) []byte {
	stmt, err := statement.Validate(&api.SignRequest{
		Subjects:      []api.Subject{{Name: "ghcr.io/acme/app-17:1.0", Digest: map[string]string{"sha256": strings.Repeat("4d", 32)}}},
		PredicateType: "https://cyclonedx.org/bom",
		Predicate:     json.RawMessage(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library","name":"lodash","version":"4.17.21","purl":"pkg:npm/lodash@4.17.21"}]}`),
	})
	if err != nil {
		b.Fatal(err)
	}
	in := NewInput(&Request{
		Tenant:    "bench",
		Caller:    api.Caller{PID: 1234, Executable: "/usr/bin/signerctl", SystemdUnit: "session-1.scope"},
		Statement: stmt,
		Scanner:   &api.Scanner{Name: "trivy", Version: "0.58.1"},
		Time:      time.Date(2026, 12, 4, 22, 0, 0, 0, time.UTC),
	}, json.RawMessage(config), 1<<20)
	raw, err := json.Marshal(&in)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// shippedModules keeps loaded modules, with the default pool size, for
// the whole test binary, because the benchmark framework calls a benchmark
// several times and a cold compile takes seconds.
var shippedModules = map[string]*Module{}

func loadShipped(b *testing.B, name string) *Module {
	if m := shippedModules[name]; m != nil {
		return m
	}
	wasm, err := os.ReadFile(filepath.Join(testenv.RepoRoot(b), "bin", "extensions", name+".wasm"))
	if err != nil {
		b.Skipf("%v; run make extensions first", err)
	}
	m, err := Load(context.Background(), wasm, Options{Name: name, Limits: Limits{Timeout: time.Second}})
	if err != nil {
		b.Fatal(err)
	}
	shippedModules[name] = m
	return m
}

// reportProcessCPU reports the process's CPU time (user and system, all
// threads) per operation since start, which a shared machine distorts
// less than wall time.
func reportProcessCPU(b *testing.B, start syscall.Rusage) {
	var end syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &end); err != nil {
		b.Fatal(err)
	}
	cpu := end.Utime.Nano() + end.Stime.Nano() - start.Utime.Nano() - start.Stime.Nano()
	b.ReportMetric(float64(cpu)/1e3/float64(b.N), "cpu-µs/op")
}

func processCPU(b *testing.B) syscall.Rusage {
	var r syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &r); err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkCheckShipped measures one check of each shipped extension on a
// reused instance with the input the daemon builds for signerctl bench.
func BenchmarkCheckShipped(b *testing.B) {
	for _, sc := range shippedChecks {
		b.Run(sc.name, func(b *testing.B) {
			m := loadShipped(b, sc.name)
			input := shippedInput(b, sc.config)
			if d, err := m.Check(context.Background(), input); err != nil || !d.Allow {
				b.Fatalf("Check() = %+v, %v; want an allow", d, err)
			}
			b.ReportAllocs()
			start := processCPU(b)
			for b.Loop() {
				if _, err := m.Check(context.Background(), input); err != nil {
					b.Fatal(err)
				}
			}
			reportProcessCPU(b, start)
		})
	}
}

// BenchmarkCheckRequest runs the three shipped extensions in turn, as the
// daemon does for one request, from GOMAXPROCS goroutines with the default
// pool sizes.
func BenchmarkCheckRequest(b *testing.B) {
	mods := make([]*Module, len(shippedChecks))
	inputs := make([][]byte, len(shippedChecks))
	for i, sc := range shippedChecks {
		mods[i] = loadShipped(b, sc.name)
		inputs[i] = shippedInput(b, sc.config)
	}
	b.ReportAllocs()
	start := processCPU(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			for i, m := range mods {
				if _, err := m.Check(context.Background(), inputs[i]); err != nil {
					b.Error(err)
					return
				}
			}
		}
	})
	reportProcessCPU(b, start)
}

// BenchmarkGuardOverhead compares a call-heavy Go guest with and without
// the stop-flag guards, both through wazero directly, to isolate what the
// guards cost.
func BenchmarkGuardOverhead(b *testing.B) {
	wasm := benchGuest(b)
	inst, err := instrument(wasm)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		wasm []byte
	}{{"plain", wasm}, {"guarded", inst}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			rt := wazero.NewRuntime(ctx)
			defer rt.Close(ctx)
			m := &Module{name: "bench", limits: Limits{}.withDefaults()}
			if err := m.instantiateHost(ctx, rt); err != nil {
				b.Fatal(err)
			}
			cm, err := rt.CompileModule(ctx, tc.wasm)
			if err != nil {
				b.Fatal(err)
			}
			mod, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithStartFunctions("_initialize").
				WithNanotime(func() int64 { return fixedNanotime }, 1))
			if err != nil {
				b.Fatal(err)
			}
			alloc, check := mod.ExportedFunction(ExportAlloc), mod.ExportedFunction(ExportCheck)
			b.ResetTimer()
			for b.Loop() {
				r, err := alloc.Call(ctx, uint64(len(benchInput)))
				if err != nil {
					b.Fatal(err)
				}
				mod.Memory().Write(uint32(r[0]), benchInput)
				if _, err := check.Call(ctx, r[0], uint64(len(benchInput))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCompile measures Load of the Go SDK module cold (no cache) and
// from a warm disk cache.
func BenchmarkCompile(b *testing.B) {
	wasm := benchGuest(b)
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			m, err := Load(context.Background(), wasm, Options{})
			if err != nil {
				b.Fatal(err)
			}
			m.Close(context.Background())
		}
	})
	b.Run("disk-cache", func(b *testing.B) {
		dir := filepath.Join(b.TempDir(), "cache")
		m, err := Load(context.Background(), wasm, Options{CacheDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		m.Close(context.Background())
		b.ResetTimer()
		for b.Loop() {
			m, err := Load(context.Background(), wasm, Options{CacheDir: dir})
			if err != nil {
				b.Fatal(err)
			}
			m.Close(context.Background())
		}
	})
}

// BenchmarkInstanceMemory reports the Go heap each extra instance of the
// Go SDK module takes after one check, and the size of its linear memory,
// which is a mapping outside the Go heap.
func BenchmarkInstanceMemory(b *testing.B) {
	wasm := benchGuest(b)
	m, err := Load(context.Background(), wasm, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close(context.Background())
	var before, after runtime.MemStats
	var heap uint64
	n := 0
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&before)
		in, err := m.newInstance(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.checkOn(context.Background(), in, benchInput); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap += after.HeapAlloc - before.HeapAlloc
		n++
		in.close()
	}
	b.ReportMetric(float64(heap)/float64(n)/1024, "KiB/instance")
	b.ReportMetric(float64(in0Pages(m))*64, "KiB-linear-memory")
}

func in0Pages(m *Module) uint32 {
	in, err := m.newInstance(context.Background())
	if err != nil {
		return 0
	}
	defer in.close()
	pages, _ := in.mod.Memory().Grow(0)
	return pages
}
