package extension

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/signerd/signerd/daemon/logkey"
	"github.com/signerd/signerd/daemon/reqlog"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// Limits bound one module's instances and calls.
type Limits struct {
	// MemoryPages caps each instance's linear memory (64 KiB pages).
	MemoryPages uint32

	// Timeout is the deadline of one signer_check call.
	Timeout time.Duration

	// InitTimeout is the deadline of _initialize when an instance starts.
	InitTimeout time.Duration

	// PoolSize caps the live instances; 0 or more than GOMAXPROCS means
	// GOMAXPROCS, since more workers than cores miss deadlines from
	// scheduling delay alone.
	PoolSize int

	// MaxReplyBytes caps the reply a module may return.
	MaxReplyBytes uint32
}

// Default limits, used for any zero field.
const (
	DefaultMemoryPages   = 512 // 32 MiB
	DefaultTimeout       = 100 * time.Millisecond
	DefaultInitTimeout   = 2 * time.Second
	DefaultMaxReplyBytes = 64 << 10
)

func (l Limits) withDefaults() Limits {
	if l.MemoryPages == 0 {
		l.MemoryPages = DefaultMemoryPages
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	if l.InitTimeout <= 0 {
		l.InitTimeout = DefaultInitTimeout
	}
	if n := runtime.GOMAXPROCS(0); l.PoolSize <= 0 || l.PoolSize > n {
		l.PoolSize = n
	}
	if l.MaxReplyBytes == 0 {
		l.MaxReplyBytes = DefaultMaxReplyBytes
	}
	return l
}

// Options configure Load.
type Options struct {
	// Name labels the module in errors and logs.
	Name string

	// CacheDir is the root of the compilation cache; empty disables it.
	// It must be owned by the daemon's user and not writable by others.
	CacheDir string

	// Logger receives the guest's log lines and cache repairs; nil discards.
	Logger *slog.Logger

	Limits Limits
}

// LoadError is a module that cannot be run, with the reason.
type LoadError struct {
	Name   string
	Reason string
}

func (e *LoadError) Error() string {
	return fmt.Sprintf("extension %s rejected at load: %s", e.Name, e.Reason)
}

func loadErrorf(name, format string, args ...any) *LoadError {
	return &LoadError{Name: name, Reason: fmt.Sprintf(format, args...)}
}

// allowedWASI lists the WASI functions a module may import. The ABI grants
// args, environ, clocks and random (all fixed values). The Go runtime links
// a few more that are harmless here: fd_write and fd_read (stdio only:
// stdin is empty, stdout is discarded and the host keeps the start of
// stderr for error reports), fd_close, the descriptor
// queries it makes at start (no directory is preopened, so they find
// nothing), poll_oneoff and sched_yield (the clock does not move, so
// nothing sleeps) and proc_exit (it ends only the instance). A module that
// opens paths or sockets is rejected at load.
var allowedWASI = map[string]bool{
	"args_get": true, "args_sizes_get": true,
	"environ_get": true, "environ_sizes_get": true,
	"clock_res_get": true, "clock_time_get": true,
	"random_get":    true,
	"proc_exit":     true,
	"sched_yield":   true,
	"poll_oneoff":   true,
	"fd_write":      true,
	"fd_read":       true,
	"fd_close":      true,
	"fd_fdstat_get": true, "fd_fdstat_set_flags": true,
	"fd_prestat_get": true, "fd_prestat_dir_name": true,
}

// Module is a compiled extension with its pool of instances. It is safe
// for concurrent use.
type Module struct {
	name   string
	sha256 string
	limits Limits
	log    *slog.Logger

	rt       wazero.Runtime
	compiled wazero.CompiledModule

	// tokens holds one token per instance that may exist; idle holds
	// instances ready for reuse.
	tokens chan struct{}
	idle   chan *instance

	// closed is set by Close; no instance starts after it.
	closed atomic.Bool
}

// SHA256 returns the hex SHA-256 of the module as loaded (before the host's
// instrumentation).
func (m *Module) SHA256() string { return m.sha256 }

// Name returns the module's label.
func (m *Module) Name() string { return m.name }

// Limits returns the module's effective limits.
func (m *Module) Limits() Limits { return m.limits }

// Load checks and compiles a module. A module that breaks the ABI gets a
// *LoadError naming the problem.
func Load(ctx context.Context, wasm []byte, opts Options) (*Module, error) {
	name := opts.Name
	if name == "" {
		name = "module"
	}
	limits := opts.Limits.withDefaults()
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sum := sha256.Sum256(wasm)
	m := &Module{
		name:   name,
		sha256: hex.EncodeToString(sum[:]),
		limits: limits,
		log:    logger,
		tokens: make(chan struct{}, limits.PoolSize),
		idle:   make(chan *instance, limits.PoolSize),
	}

	inst, err := instrument(wasm)
	if err != nil {
		return nil, loadErrorf(name, "%v", err)
	}

	cacheDir := ""
	if opts.CacheDir != "" {
		if err := checkCacheDir(opts.CacheDir); err != nil {
			return nil, err
		}
		// One cache directory per instrumented module, so a damaged entry
		// can be found and removed without touching other modules.
		isum := sha256.Sum256(inst)
		cacheDir = filepath.Join(opts.CacheDir, hex.EncodeToString(isum[:]))
		if err := checkTrustedDir(cacheDir, false); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("extension compile cache %s: %w; remove it so that it is compiled again", cacheDir, err)
		}
	}

	if err := m.compile(ctx, inst, cacheDir); err != nil {
		return nil, err
	}
	if err := checkShape(m.name, m.compiled); err != nil {
		m.rt.Close(ctx)
		return nil, err
	}

	// Start one instance now so that a module whose _initialize or
	// signer_abi_version fails is rejected at load, not on first use.
	in, err := m.newInstance(ctx)
	if err != nil {
		m.rt.Close(ctx)
		return nil, loadErrorf(name, "%v", err)
	}
	if err := in.checkVersion(ctx, m.limits.InitTimeout); err != nil {
		in.close()
		m.rt.Close(ctx)
		return nil, loadErrorf(name, "%v", err)
	}
	m.tokens <- struct{}{}
	m.release(in, true)
	return m, nil
}

// compile builds the module's runtime and compiles the instrumented code,
// repairing a damaged cache entry once.
func (m *Module) compile(ctx context.Context, wasm []byte, cacheDir string) error {
	for attempt := 0; ; attempt++ {
		cfg := wazero.NewRuntimeConfig().
			WithMemoryLimitPages(m.limits.MemoryPages).
			WithCloseOnContextDone(false)
		var cache wazero.CompilationCache
		if cacheDir != "" {
			var err error
			cache, err = wazero.NewCompilationCacheWithDir(cacheDir)
			if err != nil {
				return fmt.Errorf("extension %s: open compile cache %s: %w", m.name, cacheDir, err)
			}
			cfg = cfg.WithCompilationCache(cache)
		}
		rt := wazero.NewRuntimeWithConfig(ctx, cfg)
		compiled, err := rt.CompileModule(ctx, wasm)
		if err == nil {
			err = m.instantiateHost(ctx, rt)
			if err != nil {
				rt.Close(ctx)
				return fmt.Errorf("extension %s: %w", m.name, err)
			}
			m.rt, m.compiled = rt, compiled
			return nil
		}
		rt.Close(ctx)
		if cache != nil {
			cache.Close(ctx)
		}

		// A damaged cache file makes CompileModule fail outright. If a
		// cache entry exists, delete it and compile once more.
		if cacheDir != "" && attempt == 0 && dirHasFiles(cacheDir) {
			m.log.Warn("extension compile cache entry failed to load; deleting it and compiling again",
				logkey.Extension, m.name, logkey.File, cacheDir, logkey.Error, err)
			if rmErr := os.RemoveAll(cacheDir); rmErr != nil {
				return fmt.Errorf("extension %s: remove damaged compile cache %s: %w", m.name, cacheDir, rmErr)
			}
			continue
		}
		return loadErrorf(m.name, "invalid module: %v", err)
	}
}

// instantiateHost adds WASI and the signer host module to rt.
func (m *Module) instantiateHost(ctx context.Context, rt wazero.Runtime) error {
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return fmt.Errorf("instantiate WASI: %w", err)
	}
	_, err := rt.NewHostModuleBuilder(HostModule).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(m.hostLog), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, nil).
		Export(HostLog).
		Instantiate(ctx)
	if err != nil {
		return fmt.Errorf("instantiate host module: %w", err)
	}
	return nil
}

// maxLogLine caps one guest log line, and maxLogLines the lines one call
// may log, so a module cannot flood the daemon's log.
const (
	maxLogLine  = 1024
	maxLogLines = 16
)

func (m *Module) hostLog(ctx context.Context, mod api.Module, stack []uint64) {
	in, _ := ctx.Value(instanceKey{}).(*instance)
	if in == nil || in.logLines.Add(1) > maxLogLines {
		return
	}
	ptr, n := uint32(stack[0]), uint32(stack[1])
	if n > maxLogLine {
		n = maxLogLine
	}
	b, ok := mod.Memory().Read(ptr, n)
	if !ok {
		return
	}
	// The request's logger, when the call has one, adds the request's
	// correlation id to the line.
	log := m.log
	if in.requestCtx != nil {
		log = reqlog.FromOr(in.requestCtx, m.log)
	}
	log.Info("extension log", logkey.Extension, m.name, logkey.Line, string(b))
}

// CheckShape checks a module's imports and exports against the ABI as Load
// does, but does not start it, so a module whose _initialize fails or that
// reports another ABI version passes here and fails in Load. It compiles
// with wazero's interpreter, which compiles faster than the native compiler
// that Load uses.
func CheckShape(ctx context.Context, wasm []byte, name string) error {
	inst, err := instrument(wasm)
	if err != nil {
		return loadErrorf(name, "%v", err)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	compiled, err := rt.CompileModule(ctx, inst)
	if err != nil {
		return loadErrorf(name, "invalid module: %v", err)
	}
	return checkShape(name, compiled)
}

// checkShape enforces the ABI's imports and exports on a compiled module.
func checkShape(name string, compiled wazero.CompiledModule) error {
	var bad []string
	for _, f := range compiled.ImportedFunctions() {
		mod, fn, _ := f.Import()
		switch {
		case mod == wasi_snapshot_preview1.ModuleName && allowedWASI[fn]:
		case mod == HostModule && fn == HostLog:
			if !sameSig(f, []api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, nil) {
				bad = append(bad, fmt.Sprintf("%s.%s has the wrong signature; want (i32, i32) -> ()", mod, fn))
			}
		default:
			bad = append(bad, fmt.Sprintf("%s.%s", mod, fn))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return loadErrorf(name, "imports functions outside ABI v1: %s; a module may import only WASI args, environ, clock and random functions and %s.%s",
			strings.Join(bad, ", "), HostModule, HostLog)
	}
	for _, g := range compiled.ImportedMemories() {
		mod, n, _ := g.Import()
		return loadErrorf(name, "imports memory %s.%s; a module must define its own memory", mod, n)
	}

	exports := compiled.ExportedFunctions()
	if _, ok := exports[ExportStart]; ok {
		return loadErrorf(name, "exports %s, so it is a command module; build a reactor (Go: -buildmode=c-shared)", ExportStart)
	}
	want := []struct {
		name    string
		params  []api.ValueType
		results []api.ValueType
	}{
		{ExportInitialize, nil, nil},
		{ExportVersion, nil, []api.ValueType{api.ValueTypeI32}},
		{ExportAlloc, []api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}},
		{ExportCheck, []api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI64}},
	}
	for _, w := range want {
		f, ok := exports[w.name]
		if !ok {
			return loadErrorf(name, "does not export %s, which ABI v1 requires", w.name)
		}
		if !sameSig(f, w.params, w.results) {
			return loadErrorf(name, "export %s has signature %v -> %v; ABI v1 wants %v -> %v",
				w.name, typeNames(f.ParamTypes()), typeNames(f.ResultTypes()), typeNames(w.params), typeNames(w.results))
		}
	}
	if _, ok := compiled.ExportedMemories()["memory"]; !ok {
		return loadErrorf(name, "does not export its memory as \"memory\"")
	}
	return nil
}

func sameSig(f api.FunctionDefinition, params, results []api.ValueType) bool {
	return string(f.ParamTypes()) == string(params) && string(f.ResultTypes()) == string(results)
}

func typeNames(ts []api.ValueType) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = api.ValueTypeName(t)
	}
	return out
}

// Close closes every instance and the module's runtime. It first waits for
// calls in flight to end (each within its deadline), because an instance's
// linear memory is unmapped when it closes; if ctx ends first, it closes
// the runtime anyway. Check fails once Close has begun.
func (m *Module) Close(ctx context.Context) error {
	m.closed.Store(true)
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for len(m.tokens) > 0 {
		select {
		case in := <-m.idle:
			in.close()
			<-m.tokens
		case <-poll.C:
			// An instance that failed gives up its token without
			// becoming idle, so look at the count again.
		case <-ctx.Done():
			return m.rt.Close(ctx)
		}
	}
	return m.rt.Close(ctx)
}

// checkCacheDir creates dir if needed and refuses one that another user
// could write: it holds code the daemon executes.
func checkCacheDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create extension compile cache %s: %w", dir, err)
	}
	leaf := filepath.Clean(dir)
	for d := leaf; ; d = filepath.Dir(d) {
		if err := checkTrustedDir(d, d != leaf); err != nil {
			return fmt.Errorf("extension compile cache %s: %w; fix the owner and mode or choose another state_dir", dir, err)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

func dirHasFiles(dir string) bool {
	found := false
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	return found
}
