package token

import (
	"errors"
	"sync"
	"time"
)

// Errors of ReplayCache.Record.
var (
	ErrReplay          = errors.New("proof already used")
	ErrReplayCacheFull = errors.New("replay cache is full")
)

type replayKey struct{ jkt, jti string }

// ReplayCache remembers the (key thumbprint, jti) pairs of accepted DPoP
// proofs until they could no longer pass the iat check. It is keyed on
// jti, never on the proof's bytes, because an ECDSA signature has a second
// valid encoding (s and n-s) and the same proof could then pass twice.
//
// The cache is bounded. When it is full of unexpired entries it rejects
// new proofs rather than evicting, because an evicted entry could be
// replayed.
type ReplayCache struct {
	max int

	mu        sync.Mutex
	entries   map[replayKey]time.Time
	lastSweep time.Time
}

// NewReplayCache returns a cache of at most max entries.
func NewReplayCache(max int) *ReplayCache {
	return &ReplayCache{max: max, entries: make(map[replayKey]time.Time)}
}

// Record stores (jkt, jti) until expires. It returns ErrReplay when the
// pair is stored and unexpired, and ErrReplayCacheFull when there is no
// room.
func (c *ReplayCache) Record(jkt, jti string, expires, now time.Time) error {
	k := replayKey{jkt, jti}

	c.mu.Lock()
	defer c.mu.Unlock()

	if exp, ok := c.entries[k]; ok && now.Before(exp) {
		return ErrReplay
	}
	if len(c.entries) >= c.max {
		c.sweep(now)
	}
	if len(c.entries) >= c.max {
		return ErrReplayCacheFull
	}
	c.entries[k] = expires
	return nil
}

// sweep drops expired entries. It runs at most once a second, so a full
// cache under load costs one scan per second, not one per request.
func (c *ReplayCache) sweep(now time.Time) {
	if now.Sub(c.lastSweep) < time.Second && !c.lastSweep.IsZero() {
		return
	}
	c.lastSweep = now
	for k, exp := range c.entries {
		if !now.Before(exp) {
			delete(c.entries, k)
		}
	}
}

// Len returns the number of stored entries.
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
