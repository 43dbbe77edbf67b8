package extension

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/signerd/signerd/daemon/logkey"
	"github.com/signerd/signerd/daemon/reqlog"
	"github.com/signerd/signerd/test/testenv"
)

func wat(t testing.TB, name string) []byte {
	t.Helper()
	return testenv.WAT(t, filepath.Join("testdata", "wat", name+".wat"))
}

func load(t testing.TB, wasm []byte, limits Limits) (*Module, error) {
	t.Helper()
	m, err := Load(context.Background(), wasm, Options{Name: t.Name(), Limits: limits})
	if err == nil {
		t.Cleanup(func() { m.Close(context.Background()) })
	}
	return m, err
}

var shortLimits = Limits{Timeout: 50 * time.Millisecond, MemoryPages: 64}

// CheckShape rejects the modules that Load rejects for their imports and
// exports, and passes a module that Load accepts.
func TestCheckShape(t *testing.T) {
	cases := []struct {
		name string
		want string
	}{
		{"fresh", ""},
		{"unknownimport", "env.http_get"},
		{"missingexport", "does not export signer_check"},
		{"command", "exports _start, so it is a command module; build a reactor (Go: -buildmode=c-shared)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckShape(context.Background(), wat(t, tc.name), tc.name)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("CheckShape() error = %v, want nil", err)
				}
				return
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("CheckShape() error = %v, want a *LoadError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckShape() error = %q, want it to mention %q", err, tc.want)
			}
		})
	}
	if err := CheckShape(context.Background(), []byte("not wasm"), "junk"); err == nil || !strings.Contains(err.Error(), "junk") {
		t.Errorf("CheckShape(junk) error = %v, want an error naming the module", err)
	}
}

// TestLoadRejects covers modules that must never run: each is refused at
// load with a message naming the problem.
func TestLoadRejects(t *testing.T) {
	cases := []struct {
		name string
		want string
	}{
		{"unknownimport", "env.http_get"},
		{"missingexport", "does not export signer_check"},
		{"command", "exports _start, so it is a command module"},
		{"wrongabi", "reports ABI version 2"},
		{"inittrap", "_initialize failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, wat(t, tc.name), shortLimits)
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Load() error = %v, want a *LoadError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load() error = %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestCheckDenies covers modules that load but fail when called: every
// failure is an error (a deny), and the module keeps serving with fresh
// instances afterwards.
func TestCheckDenies(t *testing.T) {
	cases := []struct {
		name string
		want string
	}{
		{"loop", "deadline exceeded"},
		{"tree", "deadline exceeded"},
		{"grow", "unreachable"},
		{"replyoob", "outside the module's memory"},
		{"replylong", "more than the limit"},
		{"notjson", "not a valid decision"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lim := shortLimits
			lim.MaxReplyBytes = 1024
			m, err := load(t, wat(t, tc.name), lim)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			for i := 0; i < 2; i++ {
				d, err := m.Check(context.Background(), []byte(`{}`))
				if err == nil {
					t.Fatalf("call %d: Check() = %+v, want an error", i, d)
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("call %d: Check() error = %q, want it to mention %q", i, err, tc.want)
				}
			}
		})
	}
}

// TestFreshInstanceAfterFailure shows that an instance that trapped is
// thrown away: the module counts calls in a global, and the count starts
// again after a trap.
func TestFreshInstanceAfterFailure(t *testing.T) {
	m, err := load(t, wat(t, "fresh"), Limits{PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		input string
		want  string // reason, or "" for an error
	}{
		{"{}", "call 1"},
		{"{}", "call 2"},
		{"T", ""},
		{"{}", "call 1"},
		{"{}", "call 2"},
	}
	for i, s := range steps {
		d, err := m.Check(context.Background(), []byte(s.input))
		if s.want == "" {
			if err == nil {
				t.Fatalf("step %d: want a trap, got %+v", i, d)
			}
			continue
		}
		if err != nil || len(d.Reasons) != 1 || d.Reasons[0] != s.want {
			t.Fatalf("step %d: Check() = %+v, %v; want reason %q", i, d, err, s.want)
		}
	}
}

// TestDeadlineWithLongerTimeout checks that a request context ending before
// the module's timeout cuts the call short.
func TestDeadlineWithLongerTimeout(t *testing.T) {
	m, err := load(t, wat(t, "tree"), Limits{Timeout: 200 * time.Millisecond, PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = m.Check(ctx, []byte(`{}`))
	if !errors.Is(err, ErrDeadline) {
		t.Fatalf("Check() error = %v, want ErrDeadline from the context's earlier deadline", err)
	}
}

func TestRawABIExample(t *testing.T) {
	wasm := testenv.WAT(t, filepath.Join(testenv.RepoRoot(t), "guest", "examples", "raw-abi.wat"))
	m, err := load(t, wasm, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		input string
		allow bool
	}{
		{`{"abiVersion":1,"tenant":"team-a"}`, true},
		{`{"abiVersion":1,"tenant":"team-b"}`, false},
	}
	for _, tc := range cases {
		d, err := m.Check(context.Background(), []byte(tc.input))
		if err != nil {
			t.Fatal(err)
		}
		if d.Allow != tc.allow || len(d.Reasons) != 1 {
			t.Fatalf("Check(%s) = %+v, want allow=%v with one reason", tc.input, d, tc.allow)
		}
	}
}

func TestGoPanic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go module")
	}
	wasm, err := os.ReadFile(testenv.GuestModule(t, "daemon/extension/testdata/gopanic"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := load(t, wasm, Limits{Timeout: time.Second, PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	ok := []byte(`{"abiVersion":1,"tenant":"a"}`)
	bad := []byte(`{"abiVersion":1,"tenant":"panic"}`)
	for i, in := range [][]byte{ok, bad, ok, bad, ok} {
		d, err := m.Check(context.Background(), in)
		if bytes.Equal(in, bad) {
			if err == nil || !strings.Contains(err.Error(), "panic: assignment to entry in nil map") {
				t.Fatalf("call %d: Check() = %+v, %v; want the Go panic message", i, d, err)
			}
			continue
		}
		if err != nil || !d.Allow {
			t.Fatalf("call %d: Check() = %+v, %v; want allow", i, d, err)
		}
	}
}

func TestPinMismatch(t *testing.T) {
	wasm := wat(t, "fresh")
	if err := VerifyPin(wasm, strings.Repeat("0", 64)); err == nil || !strings.Contains(err.Error(), "does not match the pinned") {
		t.Fatalf("VerifyPin() = %v, want a mismatch", err)
	}
	if err := VerifyPin(wasm, SHA256Hex(wasm)); err != nil {
		t.Fatalf("VerifyPin(own digest) = %v", err)
	}
}

func TestDamagedCacheEntry(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	wasm := wat(t, "fresh")
	var logs bytes.Buffer
	opts := Options{Name: "fresh", CacheDir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))}

	m, err := Load(context.Background(), wasm, opts)
	if err != nil {
		t.Fatal(err)
	}
	m.Close(context.Background())

	// Damage every cached file.
	var damaged int
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			damaged++
			return os.WriteFile(p, []byte("not a compiled module"), 0o600)
		}
		return nil
	})
	if damaged == 0 {
		t.Fatal("the compile cache is empty after a load")
	}

	m, err = Load(context.Background(), wasm, opts)
	if err != nil {
		t.Fatalf("Load with a damaged cache: %v", err)
	}
	defer m.Close(context.Background())
	if d, err := m.Check(context.Background(), []byte(`{}`)); err != nil || !d.Allow {
		t.Fatalf("Check after cache repair = %+v, %v", d, err)
	}
	if !strings.Contains(logs.String(), "deleting it and compiling again") {
		t.Fatalf("no repair logged; log:\n%s", logs.String())
	}
}

// TestCacheDirMustBePrivate loads a module with compile caches that others
// could write into. The cache holds code the daemon runs, so each must be
// rejected, a sticky one too: the sticky bit stops others replacing
// entries, not adding them.
func TestCacheDirMustBePrivate(t *testing.T) {
	module := wat(t, "fresh")
	tests := []struct {
		name    string
		prepare func(t *testing.T, cache string)
		want    string
	}{
		{"world-writable", func(t *testing.T, cache string) { chmod(t, cache, 0o777) }, "writable by group or others"},
		{"world-writable and sticky", func(t *testing.T, cache string) { chmod(t, cache, 0o777|os.ModeSticky) }, "writable by group or others"},
		{"module entry writable by others", func(t *testing.T, cache string) {
			// The entry a load of this module would use, made by
			// someone else before the daemon.
			inst, err := instrument(module)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(inst)
			entry := filepath.Join(cache, hex.EncodeToString(sum[:]))
			if err := os.Mkdir(entry, 0o700); err != nil {
				t.Fatal(err)
			}
			chmod(t, entry, 0o777)
		}, "remove it so that it is compiled again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cache := filepath.Join(t.TempDir(), "cache")
			if err := os.Mkdir(cache, 0o700); err != nil {
				t.Fatal(err)
			}
			tt.prepare(t, cache)

			_, err := Load(context.Background(), module, Options{CacheDir: cache})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// chmod sets mode exactly, whatever the umask.
func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentChecks runs more callers than pool slots, with every other
// request trapping, so instances are discarded and replaced under load.
func TestConcurrentChecks(t *testing.T) {
	m, err := load(t, wat(t, "fresh"), Limits{PoolSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	const workers, calls = 6, 20
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func() {
			for i := 0; i < calls; i++ {
				input := []byte("{}")
				if i%2 == 1 {
					input = []byte("T")
				}
				d, err := m.Check(context.Background(), input)
				if i%2 == 1 {
					if err == nil {
						errs <- errors.New("trapping request was allowed")
						return
					}
					continue
				}
				if err != nil || !d.Allow {
					errs <- fmt.Errorf("request %d: %+v, %v", i, d, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// With no call running, every held slot belongs to an idle instance:
	// a discarded instance must give its slot back.
	if held, idle := len(m.tokens), len(m.idle); held != idle || held > m.limits.PoolSize {
		t.Fatalf("%d slots held for %d idle instances (pool size %d)", held, idle, m.limits.PoolSize)
	}
}

func TestGuestLogIsCapped(t *testing.T) {
	var logs bytes.Buffer
	m, err := Load(context.Background(), wat(t, "chatty"), Options{Name: "chatty", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	for call := 1; call <= 2; call++ {
		if d, err := m.Check(context.Background(), []byte(`{}`)); err != nil || !d.Allow {
			t.Fatalf("Check() = %+v, %v", d, err)
		}
		if got, want := strings.Count(logs.String(), "hello from the guest"), call*maxLogLines; got != want {
			t.Fatalf("after call %d: %d guest log lines, want %d", call, got, want)
		}
	}
}

// TestGuestLogHasRequestLogger checks that guest log lines of a request
// carry the request's logger attributes, its correlation id.
func TestGuestLogHasRequestLogger(t *testing.T) {
	var logs bytes.Buffer
	base := slog.New(slog.NewTextHandler(&logs, nil))
	m, err := Load(context.Background(), wat(t, "chatty"), Options{Name: "chatty", Logger: base})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())

	ctx := reqlog.With(context.Background(), base.With(logkey.CorrelationID, "req-9"))
	if d, err := m.Check(ctx, []byte(`{}`)); err != nil || !d.Allow {
		t.Fatalf("Check() = %+v, %v", d, err)
	}
	want := logkey.CorrelationID + "=req-9"
	if got := strings.Count(logs.String(), want); got != maxLogLines {
		t.Errorf("%d guest log lines carry %s, want %d:\n%s", got, want, maxLogLines, logs.String())
	}
}

// TestDeadlineDuringGC runs spinning guests while the garbage collector
// keeps stopping the world. Native code cannot be preempted, so without the
// guards' periodic exit to Go a collection would wait for the guest, the
// deadline timer could not run, and the daemon would hang.
func TestDeadlineDuringGC(t *testing.T) {
	for _, name := range []string{"loop", "tree"} {
		t.Run(name, func(t *testing.T) {
			m, err := load(t, wat(t, name), Limits{Timeout: 100 * time.Millisecond, PoolSize: 1})
			if err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for {
					select {
					case <-stop:
						return
					default:
						runtime.GC()
					}
				}
			}()

			done := make(chan error, 1)
			go func() {
				_, err := m.Check(context.Background(), []byte(`{}`))
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, ErrDeadline) {
					t.Fatalf("Check() error = %v, want ErrDeadline", err)
				}
			case <-time.After(5 * time.Second):
				// A liveness bound, 50 times the deadline: without the
				// periodic exit to Go these calls ran 7 to 14 s on a busy
				// 2-vCPU machine.
				t.Fatal("Check() did not return within 5s: the guest blocked the garbage collector and the deadline timer")
			}
		})
	}
}
