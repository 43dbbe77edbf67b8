//go:build wasip1

package guest

import "unsafe"

// The ABI exports. The input buffer and the last reply stay referenced from
// package variables so the garbage collector keeps them while the host
// reads or writes them.
var (
	input []byte
	reply []byte
)

//go:wasmexport signer_abi_version
func signerABIVersion() int32 { return ABIVersion }

//go:wasmexport signer_alloc
func signerAlloc(size int32) int32 {
	if size <= 0 {
		size = 1
	}
	input = make([]byte, size)
	return int32(uintptr(unsafe.Pointer(&input[0])))
}

//go:wasmexport signer_check
func signerCheck(ptr, n int32) int64 {
	if n < 0 || int(n) > len(input) || uintptr(ptr) != uintptr(unsafe.Pointer(&input[0])) {
		reply = []byte(`{"allow":false,"reasons":["host passed a buffer the extension did not allocate"]}`)
	} else {
		reply = Run(input[:n])
	}
	input = nil
	if len(reply) == 0 {
		return 0
	}
	return int64(uintptr(unsafe.Pointer(&reply[0])))<<32 | int64(len(reply))
}

//go:wasmimport signer log
func hostLog(ptr unsafe.Pointer, n int32)

// Log writes one line to the daemon's log, tagged with the extension's
// name. Lines over 1 KiB are cut.
func Log(line string) {
	if line == "" {
		return
	}
	b := []byte(line)
	hostLog(unsafe.Pointer(&b[0]), int32(len(b)))
}
