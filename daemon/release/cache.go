package release

import (
	"container/list"
	"sync"
	"time"

	"github.com/signerd/signerd/daemon/api"
)

// verdictCache keeps verdicts by policy and image digest, in two LRU
// lists: verified verdicts for positiveTTL, all others for negativeTTL.
// Keeping them apart means a flood of failing images cannot evict the
// verified ones. An unreachable verdict only ever enters the negative
// list.
type verdictCache struct {
	mu       sync.Mutex
	positive *lru
	negative *lru
	now      func() time.Time
}

func newVerdictCache(maxEntries int, positiveTTL, negativeTTL time.Duration) *verdictCache {
	return &verdictCache{
		positive: newLRU(maxEntries, positiveTTL),
		negative: newLRU(maxEntries, negativeTTL),
		now:      time.Now,
	}
}

// get returns a copy of the cached verdict for key.
func (c *verdictCache) get(key string) (*api.ReleaseVerdict, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()

	now := c.now()
	if v, ok := c.positive.get(key, now); ok {
		return v, true
	}
	return c.negative.get(key, now)
}

func (c *verdictCache) put(key string, v *api.ReleaseVerdict) {
	c.mu.Lock()
	defer c.mu.Unlock()

	now := c.now()
	if v.Verdict == api.ReleaseVerified {
		c.negative.remove(key)
		c.positive.put(key, v, now)
		return
	}
	c.positive.remove(key)
	c.negative.put(key, v, now)
}

type lru struct {
	max   int
	ttl   time.Duration
	order *list.List
	items map[string]*list.Element
}

type lruEntry struct {
	key     string
	verdict api.ReleaseVerdict
	expires time.Time
}

func newLRU(max int, ttl time.Duration) *lru {
	return &lru{max: max, ttl: ttl, order: list.New(), items: map[string]*list.Element{}}
}

func (l *lru) get(key string, now time.Time) (*api.ReleaseVerdict, bool) {
	el, ok := l.items[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*lruEntry)
	if !now.Before(e.expires) {
		l.order.Remove(el)
		delete(l.items, key)
		return nil, false
	}
	l.order.MoveToFront(el)
	v := e.verdict
	return &v, true
}

func (l *lru) put(key string, v *api.ReleaseVerdict, now time.Time) {
	if l.ttl <= 0 || l.max <= 0 {
		return
	}
	entry := &lruEntry{key: key, verdict: *v, expires: now.Add(l.ttl)}
	if el, ok := l.items[key]; ok {
		el.Value = entry
		l.order.MoveToFront(el)
		return
	}
	l.items[key] = l.order.PushFront(entry)
	for l.order.Len() > l.max {
		oldest := l.order.Back()
		l.order.Remove(oldest)
		delete(l.items, oldest.Value.(*lruEntry).key)
	}
}

func (l *lru) remove(key string) {
	if el, ok := l.items[key]; ok {
		l.order.Remove(el)
		delete(l.items, key)
	}
}

func (l *lru) len() int { return l.order.Len() }
