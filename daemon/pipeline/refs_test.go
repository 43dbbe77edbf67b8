package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/signerd/signerd/daemon/config"
)

func refsTestState(t *testing.T) *State {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Dev(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	st, err := NewState(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestStateCloseWaitsForRequests(t *testing.T) {
	st := refsTestState(t)
	closed := 0
	st.onClose(func() error { closed++; return nil })

	if !st.TryAcquire() {
		t.Fatal("TryAcquire on a fresh state failed")
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if closed != 0 || st.Closed() {
		t.Fatal("state closed while a request still held it")
	}

	// The request can still sign with the key.
	if _, err := st.Signer.SignMessage(context.Background(), []byte("x")); err != nil {
		t.Fatalf("sign on a state held by a request: %v", err)
	}

	st.Release()
	if closed != 1 || !st.Closed() {
		t.Fatalf("closers ran %d times after the last release, want 1", closed)
	}
	if st.TryAcquire() {
		t.Fatal("TryAcquire succeeded on a closed state")
	}
}

func TestStateRefsConcurrent(t *testing.T) {
	st := refsTestState(t)
	var mu sync.Mutex
	closed := 0
	st.onClose(func() error { mu.Lock(); closed++; mu.Unlock(); return nil })

	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				if !st.TryAcquire() {
					t.Error("TryAcquire failed while the owner holds a reference")
					return
				}
				st.Release()
			}
		}()
	}
	wg.Wait()
	st.Close()
	if closed != 1 {
		t.Fatalf("closers ran %d times, want 1", closed)
	}
}
