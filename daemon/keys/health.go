package keys

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signerd/signerd/daemon/logkey"
	"github.com/signerd/signerd/daemon/reqlog"
)

// Health probe intervals: a healthy key is probed at most every
// probeHealthy, a failing one every probeFailing, so /v1/healthz polling
// costs few signatures (KMS providers bill per request).
const (
	probeHealthy = 30 * time.Second
	probeFailing = 5 * time.Second
)

// Monitored wraps a Signer to track the backend's health. Each signature
// is bounded by a timeout, so a hung backend turns into an error instead of
// a request that never ends, and its outcome becomes the backend's health.
type Monitored struct {
	Signer
	timeout time.Duration

	probing sync.Mutex // held while a probe runs; others report the last state

	log atomic.Pointer[slog.Logger]

	mu      sync.Mutex
	lastErr error
	lastAt  time.Time
}

// SetLogger makes m log when the backend starts failing and when it
// recovers, once per change, so a flapping backend does not flood the log.
func (m *Monitored) SetLogger(log *slog.Logger) { m.log.Store(log) }

// Monitor wraps s. timeout bounds each signature; 0 leaves only the
// caller's context.
func Monitor(s Signer, timeout time.Duration) *Monitored {
	return &Monitored{Signer: s, timeout: timeout}
}

// SignMessage signs through the wrapped Signer and records the outcome. It
// returns when ctx ends even if the backend has not responded, and the
// backend's call then finishes in the background.
func (m *Monitored) SignMessage(ctx context.Context, message []byte) ([]byte, error) {
	// A key in memory signs without I/O and cannot hang, so it is called
	// directly; a goroutine and a timer per signature would only cost.
	if _, ok := m.Signer.(inMemory); ok {
		sig, err := m.Signer.SignMessage(ctx, message)
		m.record(ctx, err)
		return sig, err
	}

	if m.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.timeout)
		defer cancel()
	}

	type result struct {
		sig []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		sig, err := m.Signer.SignMessage(ctx, message)
		done <- result{sig, err}
	}()

	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		r.err = fmt.Errorf("key backend %s timed out: %w", m.URI(), ctx.Err())
	}
	m.record(ctx, r.err)
	return r.sig, r.err
}

// inMemory is implemented by signers whose SignMessage computes in the
// daemon's memory, with no device, token or network to wait for.
type inMemory interface{ signsInMemory() }

// record keeps the outcome and logs a change between working and failing,
// with the request's logger from ctx when there is one, so the line
// carries the request's correlation id.
func (m *Monitored) record(ctx context.Context, err error) {
	m.mu.Lock()
	wasFailing := m.lastErr != nil
	m.lastErr, m.lastAt = err, time.Now()
	m.mu.Unlock()

	base := m.log.Load()
	if base == nil {
		return
	}
	log := reqlog.FromOr(ctx, base)
	switch {
	case err != nil && !wasFailing:
		log.Error("key backend failing", slog.String(logkey.KeyURI, m.URI()), slog.String(logkey.Error, err.Error()))
	case err == nil && wasFailing:
		log.Info("key backend recovered", slog.String(logkey.KeyURI, m.URI()))
	}
}

// Health returns nil when the backend works and the last error otherwise.
// When the last outcome is older than the probe interval it signs and
// verifies a random message first (one probe at a time), so a backend
// that failed while the daemon was idle shows up too.
func (m *Monitored) Health(ctx context.Context) error {
	m.mu.Lock()
	err, at := m.lastErr, m.lastAt
	m.mu.Unlock()

	interval := probeHealthy
	if err != nil {
		interval = probeFailing
	}
	if time.Since(at) < interval || !m.probing.TryLock() {
		return err
	}
	defer m.probing.Unlock()

	if err := SelfTest(ctx, m); err != nil {
		m.record(ctx, err)
		return err
	}
	return nil
}
