//go:build !linux

package extension

import "github.com/tetratelabs/wazero/experimental"

func newLinearMemory(capBytes, maxBytes uint64) experimental.LinearMemory {
	return newHeapMemory(capBytes, maxBytes)
}
