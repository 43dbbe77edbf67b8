package extension

import "github.com/tetratelabs/wazero/experimental"

// heapMemory is a linear memory in the Go heap, wazero's default layout:
// growing it copies the contents into a larger slice. It is the fallback
// where the host cannot map memory of its own.
type heapMemory struct {
	buf []byte
	max uint64
}

func newHeapMemory(capBytes, maxBytes uint64) experimental.LinearMemory {
	return &heapMemory{buf: make([]byte, 0, capBytes), max: maxBytes}
}

func (h *heapMemory) Reallocate(size uint64) []byte {
	if size > h.max {
		return nil
	}
	if n := uint64(len(h.buf)); size > n {
		h.buf = append(h.buf, make([]byte, size-n)...)
	}
	return h.buf[:size]
}

func (h *heapMemory) Free() { h.buf = nil }
