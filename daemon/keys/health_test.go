package keys

import (
	"context"
	"crypto"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signerd/signerd/daemon/logkey"
	"github.com/signerd/signerd/daemon/reqlog"
)

// switchable is a file key whose signatures can be made to fail or hang,
// standing in for a backend that goes away.
type switchable struct {
	Signer
	mode  atomic.Int32 // 0 works, 1 fails, 2 hangs until ctx ends
	calls atomic.Int32
}

func (s *switchable) SignMessage(ctx context.Context, msg []byte) ([]byte, error) {
	s.calls.Add(1)
	switch s.mode.Load() {
	case 1:
		return nil, errors.New("backend gone")
	case 2:
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return s.Signer.SignMessage(ctx, msg)
}

func (s *switchable) Public() crypto.PublicKey { return s.Signer.Public() }

func newSwitchable(t *testing.T) *switchable {
	t.Helper()
	s, err := Open(context.Background(), "file://"+t.TempDir()+"/k", Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	return &switchable{Signer: s}
}

func TestMonitorHealth(t *testing.T) {
	backend := newSwitchable(t)
	m := Monitor(backend, 0)
	ctx := context.Background()

	if err := m.Health(ctx); err != nil {
		t.Fatalf("healthy backend: Health = %v", err)
	}
	probes := backend.calls.Load()
	if err := m.Health(ctx); err != nil || backend.calls.Load() != probes {
		t.Errorf("second Health within the interval: err %v, probes %d -> %d (want no new probe)", err, probes, backend.calls.Load())
	}

	backend.mode.Store(1)
	if _, err := m.SignMessage(ctx, []byte("m")); err == nil {
		t.Fatal("SignMessage succeeded on a failing backend")
	}
	if err := m.Health(ctx); err == nil || !strings.Contains(err.Error(), "backend gone") {
		t.Errorf("after a failed signature: Health = %v, want the cause", err)
	}

	backend.mode.Store(0)
	if _, err := m.SignMessage(ctx, []byte("m")); err != nil {
		t.Fatal(err)
	}
	if err := m.Health(ctx); err != nil {
		t.Errorf("after recovery: Health = %v", err)
	}
}

func TestMonitorTimeout(t *testing.T) {
	backend := newSwitchable(t)
	backend.mode.Store(2)
	m := Monitor(backend, 50*time.Millisecond)

	_, err := m.SignMessage(context.Background(), []byte("m"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hung backend: err = %v, want DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "timed out") {
		t.Errorf("error %q does not say the backend timed out", err)
	}
	if err := m.Health(context.Background()); err == nil {
		t.Error("Health is nil after a timed-out signature")
	}
}

func TestMonitorLogsChanges(t *testing.T) {
	backend := newSwitchable(t)
	m := Monitor(backend, 0)
	var out strings.Builder
	m.SetLogger(slog.New(slog.NewTextHandler(&out, nil)))
	ctx := context.Background()

	backend.mode.Store(1)
	for range 3 {
		m.SignMessage(ctx, []byte("m"))
	}
	backend.mode.Store(0)
	m.SignMessage(ctx, []byte("m"))
	m.SignMessage(ctx, []byte("m"))

	log := out.String()
	if n := strings.Count(log, "key backend failing"); n != 1 {
		t.Errorf("logged %d failure lines for one outage, want 1:\n%s", n, log)
	}
	if !strings.Contains(log, "backend gone") || !strings.Contains(log, "key_uri=file://") {
		t.Errorf("failure line lacks the error or the key URI:\n%s", log)
	}
	if n := strings.Count(log, "key backend recovered"); n != 1 {
		t.Errorf("logged %d recovery lines, want 1:\n%s", n, log)
	}
}

// TestMonitorLogsWithRequestLogger checks that the failure line of a
// request carries the request's logger attributes, its correlation id.
func TestMonitorLogsWithRequestLogger(t *testing.T) {
	backend := newSwitchable(t)
	m := Monitor(backend, 0)
	var out strings.Builder
	base := slog.New(slog.NewTextHandler(&out, nil))
	m.SetLogger(base)
	ctx := reqlog.With(context.Background(), base.With(logkey.CorrelationID, "req-7"))

	backend.mode.Store(1)
	m.SignMessage(ctx, []byte("m"))

	if log := out.String(); !strings.Contains(log, "key backend failing") || !strings.Contains(log, logkey.CorrelationID+"=req-7") {
		t.Errorf("failure line lacks the request's correlation id:\n%s", log)
	}
}

// A file key is signed in memory, so Monitored calls it directly and
// still records its outcome as the key's health.
func TestMonitorFileKeyDirect(t *testing.T) {
	s, err := Open(context.Background(), "file://"+t.TempDir()+"/k", Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(inMemory); !ok {
		t.Fatal("the file signer does not report that it signs in memory")
	}

	m := Monitor(s, time.Second)
	sig, err := m.SignMessage(context.Background(), []byte("m"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(s.Public(), s.Algorithm(), []byte("m"), sig); err != nil {
		t.Errorf("signature from the direct path does not verify: %v", err)
	}
	if err := m.Health(context.Background()); err != nil {
		t.Errorf("Health after a good signature = %v", err)
	}
}
