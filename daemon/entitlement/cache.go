package entitlement

import (
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"
)

type cacheEntry struct {
	claims   *Claims
	versions *semver.Constraints
	expires  time.Time
}

// cache holds verified PoEs by token digest. It is bounded: when full it
// drops expired entries, then an arbitrary one, because a dropped entry
// costs one signature check, never a wrong answer.
type cache struct {
	max int
	ttl time.Duration

	mu      sync.Mutex
	entries map[[32]byte]*cacheEntry
}

func newCache(max int, ttl time.Duration) *cache {
	return &cache{max: max, ttl: ttl, entries: make(map[[32]byte]*cacheEntry)}
}

func (c *cache) get(digest [32]byte, now time.Time) (*cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[digest]
	if !ok {
		return nil, false
	}
	if !now.Before(e.expires) {
		delete(c.entries, digest)
		return nil, false
	}
	return e, true
}

// put stores e until the token's exp or now+ttl, whichever is first.
func (c *cache) put(digest [32]byte, e *cacheEntry, now time.Time) {
	if c.max <= 0 {
		return
	}
	e.expires = now.Add(c.ttl)
	if exp := e.claims.Expiry.Time(); exp.Before(e.expires) {
		e.expires = exp
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for k, old := range c.entries {
			if !now.Before(old.expires) {
				delete(c.entries, k)
			}
		}
	}
	for k := range c.entries {
		if len(c.entries) < c.max {
			break
		}
		delete(c.entries, k)
	}
	c.entries[digest] = e
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
