package pipeline

import (
	"errors"
	"sync"
	"sync/atomic"
)

// stateRefs counts the users of a State so that its resources (the key,
// and whatever later stages open) are released only when the last request
// that loaded it has finished. NewState hands the caller one reference;
// Close drops it, and each request holds one between Acquire and Release.
//
// The count never rises again once it has reached zero, so a request that
// loaded a State pointer just as a reload released it sees TryAcquire
// fail and loads the new pointer instead of using a closed key.
type stateRefs struct {
	n       atomic.Int64
	once    sync.Once
	closers []func() error
	err     error
}

// TryAcquire takes a reference for one request and reports whether the
// State is still open. Every successful TryAcquire needs one Release.
func (s *State) TryAcquire() bool {
	for {
		n := s.refs.n.Load()
		if n <= 0 {
			return false
		}
		if s.refs.n.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Release drops a reference taken by TryAcquire. The last one closes the
// State's resources.
func (s *State) Release() {
	if s.refs.n.Add(-1) == 0 {
		s.release()
	}
}

// Close drops the reference that NewState returned. Resources are closed
// at once when no request holds the State, and otherwise when the last
// request releases it. Close returns the closers' error only when it
// releases the resources itself; Release has no caller to return it to,
// so a closer that can fail should log its own error.
func (s *State) Close() error {
	if s.refs.n.Add(-1) == 0 {
		return s.release()
	}
	return nil
}

// Closed reports whether the State's resources have been released.
func (s *State) Closed() bool { return s.refs.n.Load() <= 0 }

// onClose registers f to run when the State's resources are released, in
// reverse order of registration. Stages that open resources in NewState
// (extension pools, caches) register their Close here.
func (s *State) onClose(f func() error) {
	s.refs.closers = append(s.refs.closers, f)
}

func (s *State) release() error {
	s.refs.once.Do(func() {
		var errs []error
		for i := len(s.refs.closers) - 1; i >= 0; i-- {
			if err := s.refs.closers[i](); err != nil {
				errs = append(errs, err)
			}
		}
		s.refs.err = errors.Join(errs...)
	})
	return s.refs.err
}
