package token_test

import "runtime"

// runtimeMem reads the total bytes allocated by the process.
type runtimeMem struct{ stats runtime.MemStats }

func (m *runtimeMem) total() uint64 {
	runtime.ReadMemStats(&m.stats)
	return m.stats.TotalAlloc
}
