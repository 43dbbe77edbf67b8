package extension

import (
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// mappedMemory is a linear memory in an anonymous mapping of its own,
// outside the Go heap. The mapping reserves the module's maximum at once
// and makes pages accessible as the guest grows its memory, so growth
// never copies and a page uses RAM only once the guest touches it. Kept
// out of the Go heap, linear memories neither raise the garbage
// collector's heap target (a Go guest's memory is several MiB) nor leave
// the old copy behind as garbage on every growth.
//
// The mapping is unmapped when wazero closes the instance, so the host
// must not close an instance while a call runs in it (Module.Close waits).
type mappedMemory struct {
	mem  []byte // the whole reservation; only mem[:size] is accessible
	size uint64
}

// newLinearMemory implements experimental.MemoryAllocator. It falls back
// to the Go heap when the reservation fails.
func newLinearMemory(capBytes, maxBytes uint64) experimental.LinearMemory {
	if maxBytes == 0 {
		return newHeapMemory(capBytes, maxBytes)
	}
	mem, err := syscall.Mmap(-1, 0, int(maxBytes), syscall.PROT_NONE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		return newHeapMemory(capBytes, maxBytes)
	}
	return &mappedMemory{mem: mem}
}

// Reallocate makes the first size bytes accessible. A nil result means the
// memory cannot grow (memory.grow returns -1). Sizes are whole 64 KiB
// pages, so the ranges are page aligned.
func (m *mappedMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.mem)) {
		return nil
	}
	if size > m.size {
		if err := syscall.Mprotect(m.mem[m.size:size], syscall.PROT_READ|syscall.PROT_WRITE); err != nil {
			return nil
		}
		m.size = size
	}
	return m.mem[:size:size]
}

func (m *mappedMemory) Free() {
	if m.mem != nil {
		_ = syscall.Munmap(m.mem)
		m.mem, m.size = nil, 0
	}
}
