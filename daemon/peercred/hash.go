package peercred

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// hashKey identifies one version of an executable file. A new file gets a
// new inode, and any write to a file sets its ctime. The file's owner can
// reset the mtime, but only root can set a ctime (by moving the clock), so
// changed content never gets a cached hash.
type hashKey struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64
}

func keyOf(st *unix.Stat_t) hashKey {
	return hashKey{
		dev: st.Dev, ino: st.Ino, size: st.Size,
		mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(),
	}
}

// hashCache maps executable versions to their SHA-256. It holds at most
// max entries and drops an arbitrary one when full. Concurrent requests
// for a version not yet cached wait for one read of the file, so many
// callers starting after an upgrade cause one hash, not one each.
type hashCache struct {
	mu       sync.Mutex
	max      int
	entries  map[hashKey]string
	inflight map[hashKey]*hashCall
}

// hashCall is one read of an executable that other requests wait for.
// sum stays empty when the read failed or was skipped.
type hashCall struct {
	done chan struct{}
	sum  string
}

func newHashCache(max int) *hashCache {
	return &hashCache{max: max, entries: make(map[hashKey]string), inflight: make(map[hashKey]*hashCall)}
}

// lookup returns the cached sum for k, or else the read in flight for k,
// or else registers a new read that the caller must finish with done.
func (c *hashCache) lookup(k hashKey) (sum string, call *hashCall, leader bool) {
	c.mu.Lock()
	defer c.mu.Unlock()

	if v, ok := c.entries[k]; ok {
		return v, nil, false
	}
	if call, ok := c.inflight[k]; ok {
		return "", call, false
	}
	call = &hashCall{done: make(chan struct{})}
	c.inflight[k] = call
	return "", call, true
}

// done finishes the read for k, caching sum when it is set.
func (c *hashCache) done(k hashKey, call *hashCall, sum string) {
	c.mu.Lock()
	defer c.mu.Unlock()

	delete(c.inflight, k)
	if sum != "" {
		if len(c.entries) >= c.max {
			for old := range c.entries {
				delete(c.entries, old)
				break
			}
		}
		c.entries[k] = sum
	}
	call.sum = sum
	close(call.done)
}

// hashExecutable sets exe.SHA256 from the cache or by reading f, an open
// running image with stat st. Images over the size limit are not hashed.
func (r *Reader) hashExecutable(f *os.File, st *unix.Stat_t, exe *Executable) error {
	limit := r.opts.MaxHashBytes
	if st.Size > limit {
		exe.HashSkipped = fmt.Sprintf("executable is %d bytes, over the hashing limit of %d bytes", st.Size, limit)
		return nil
	}

	key := keyOf(st)
	sum, call, leader := r.cache.lookup(key)
	if sum != "" {
		exe.SHA256, exe.HashCached = sum, true
		return nil
	}
	if !leader {
		<-call.done
		if call.sum != "" {
			exe.SHA256, exe.HashCached = call.sum, true
			return nil
		}
		// The other read failed or was skipped; read the file here so
		// this caller gets its own error or reason.
		return r.readHash(f, st, key, exe)
	}

	err := r.readHash(f, st, key, exe)
	r.cache.done(key, call, exe.SHA256)
	return err
}

// readHash hashes f, whose stat at open was st, into exe.
func (r *Reader) readHash(f *os.File, st *unix.Stat_t, key hashKey, exe *Executable) error {
	limit := r.opts.MaxHashBytes

	// Slots bound how many executables are read at once, so a burst of
	// new callers cannot take every core and disk queue.
	r.hashSlots <- struct{}{}
	defer func() { <-r.hashSlots }()

	// Reading at most limit+1 bytes bounds the work even if the file
	// grows after the stat.
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, limit+1))
	if err != nil {
		return fmt.Errorf("hash running image: %w", err)
	}
	if n > limit {
		exe.HashSkipped = fmt.Sprintf("executable grew over the hashing limit of %d bytes while it was read", limit)
		return nil
	}

	var after unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &after); err != nil {
		return err
	}
	if keyOf(&after) != key || n != st.Size {
		return errors.New("executable changed while it was hashed")
	}

	exe.SHA256 = hex.EncodeToString(h.Sum(nil))
	return nil
}
