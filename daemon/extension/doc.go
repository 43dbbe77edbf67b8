// Package extension runs a tenant's checks as sandboxed WebAssembly
// modules (ABI v1, see docs/extensions.md) on wazero.
//
// Contract: Load checks a module's shape (a reactor with the four ABI
// exports, ABI version 1, only the allowed imports) and compiles it once;
// (*Module).Check runs one request and returns a Decision. Check never
// returns an allow unless the guest answered, within its deadline, with a
// well-formed reply whose allow is true: every failure is an error, and the
// caller treats an error as a deny (fail closed).
//
// Security model: the module is untrusted code. It gets no filesystem (no
// directory is preopened, so every path and descriptor call fails), no
// network (no socket functions), fixed clocks and a fixed random source
// (two runs of one request see the same values), a memory limit in pages
// and a deadline per call. The deadline is enforced by a stop flag the
// host adds to the module at load: a global checked at every function
// entry and loop head, which a host timer sets when the deadline passes.
// Any path that runs for long passes such a check within a bounded number
// of instructions, so a spinning loop and a loop-free call tree both trap.
// Every 1000 checks the guest passes through Go once (memory.grow by zero
// pages), because native code cannot be preempted and a guest that never
// returned to Go would stall the daemon's garbage collector and the timer.
// An instance that failed in any way (trap, Go panic, out of memory,
// deadline, bad reply) is closed and never reused, because wazero leaves
// such an instance open and answering. Linear memory is an anonymous
// mapping per instance, reserved up to the page limit and outside the Go
// heap; it is unmapped when the instance closes, so Close waits for calls
// in flight.
//
// The compilation cache holds executable code, so it lives in a directory
// owned by the daemon's user and writable by no one else; a cache entry
// that fails to load is deleted and the module compiled again.
package extension
