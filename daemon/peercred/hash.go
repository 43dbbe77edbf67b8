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

// hashKey identifies one version of an executable file. A file written in
// place gets a new size, mtime or ctime, and a new file gets a new inode,
// so a cached hash is never served for changed content unless the writer
// also restored all three times, which needs root.
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
// max entries and drops an arbitrary one when full.
type hashCache struct {
	mu      sync.Mutex
	max     int
	entries map[hashKey]string
}

func newHashCache(max int) *hashCache {
	return &hashCache{max: max, entries: make(map[hashKey]string)}
}

func (c *hashCache) get(k hashKey) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.entries[k]
	return v, ok
}

func (c *hashCache) put(k hashKey, v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for old := range c.entries {
			delete(c.entries, old)
			break
		}
	}
	c.entries[k] = v
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
	if sum, ok := r.cache.get(key); ok {
		exe.SHA256 = sum
		exe.HashCached = true
		return nil
	}

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
	r.cache.put(key, exe.SHA256)
	return nil
}
