package extension

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

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
// Go SDK module takes (its linear memory lives in the Go heap).
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
