package extension

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// stopGlobalExport names the global the host adds to every module. The
// guest's code never names it (the rewriter rejects a module whose code
// refers to a global index it does not define), so only the host can set it.
const stopGlobalExport = "signer$stop"

// Wasm section ids.
const (
	secCustom   = 0
	secImport   = 2
	secGlobal   = 6
	secExport   = 7
	secCode     = 10
	extImpGlob  = 3
	valTypeI32  = 0x7f
	globalMut   = 0x01
	opEnd       = 0x0b
	opGlobalGet = 0x23
)

// yieldEvery is how many guards a guest passes between two exits to Go.
// NOTE: a module of very long loop-free functions could run about
// yieldEvery times the longest body between two exits; the module size cap
// bounds that, but not tightly.
const yieldEvery = 1000

// guardSeq is the check inserted at every function entry and loop header:
//
//	global.get $stop        ;; raised by the host's deadline timer
//	if
//	  unreachable
//	end
//	global.get $fuel        ;; $fuel -= 1
//	i32.const 1
//	i32.sub
//	global.set $fuel
//	global.get $fuel
//	i32.eqz
//	if                      ;; every yieldEvery guards:
//	  i32.const yieldEvery
//	  global.set $fuel
//	  i32.const 0
//	  memory.grow 0         ;; wazero runs memory.grow in Go
//	  drop
//	end
//
// Every path that runs for long either loops or calls, so it passes a guard
// within a bounded number of instructions. Straight-line code between two
// guards is at most one function body long.
//
// The periodic memory.grow is what makes the flag sound. Native code
// cannot be preempted by Go, so a guest that never returns to Go blocks
// every stop-the-world pause (a garbage collection) of the whole daemon,
// and with it the timer goroutine that would raise the flag. Growing by
// zero pages changes nothing but passes through Go, where the goroutine
// can be preempted.
func guardSeq(stopIdx uint32) []byte {
	fuelIdx := uint64(stopIdx) + 1
	b := []byte{opGlobalGet}
	b = binary.AppendUvarint(b, uint64(stopIdx))
	b = append(b, 0x04, 0x40, 0x00, opEnd)

	b = append(b, opGlobalGet)
	b = binary.AppendUvarint(b, fuelIdx)
	b = append(b, 0x41, 0x01, 0x6b, 0x24) // i32.const 1, i32.sub, global.set
	b = binary.AppendUvarint(b, fuelIdx)
	b = append(b, opGlobalGet)
	b = binary.AppendUvarint(b, fuelIdx)
	b = append(b, 0x45, 0x04, 0x40, 0x41) // i32.eqz, if, i32.const
	b = appendSLEB(b, yieldEvery)
	b = append(b, 0x24) // global.set
	b = binary.AppendUvarint(b, fuelIdx)
	return append(b, 0x41, 0x00, 0x40, 0x00, 0x1a, opEnd) // i32.const 0, memory.grow 0, drop, end
}

// appendSLEB appends v as a signed LEB128.
func appendSLEB(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// instrument returns a copy of wasm with a host-controlled stop flag: a new
// mutable i32 global, exported as stopGlobalExport, checked at the entry of
// every defined function and at the head of every loop. A second new
// global counts guards for the periodic exit to Go (see guardSeq). Setting the global
// to 1 from the host makes the running call trap at its next check. This
// bounds the time between the deadline and the trap without wazero's
// per-loop exit to Go, and it also stops loop-free call trees.
//
// DWARF sections are dropped because their code offsets would no longer
// match. instrument rejects instructions it does not know, so a module
// using a proposal outside the supported set fails closed at load.
func instrument(wasm []byte) ([]byte, error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], []byte("\x00asm")) {
		return nil, errors.New("not a WebAssembly binary (missing \\0asm magic)")
	}
	if !bytes.Equal(wasm[4:8], []byte{1, 0, 0, 0}) {
		return nil, fmt.Errorf("unsupported WebAssembly binary version % x; only version 1 is supported", wasm[4:8])
	}

	type section struct {
		id   byte
		body []byte
	}
	var sections []section
	r := &reader{b: wasm[8:]}
	for !r.eof() {
		id := r.byte()
		size := r.u32()
		body := r.bytes(int(size))
		if r.err != nil {
			return nil, fmt.Errorf("truncated section %d: %w", id, r.err)
		}
		sections = append(sections, section{id, body})
	}

	// Count the imported and defined globals to find the new global's index.
	var importedGlobals, definedGlobals uint32
	haveGlobal, haveExport := false, false
	for _, s := range sections {
		switch s.id {
		case secImport:
			n, err := countImportedGlobals(s.body)
			if err != nil {
				return nil, fmt.Errorf("import section: %w", err)
			}
			importedGlobals = n
		case secGlobal:
			sr := &reader{b: s.body}
			definedGlobals = sr.u32()
			if sr.err != nil {
				return nil, fmt.Errorf("global section: %w", sr.err)
			}
			haveGlobal = true
		case secExport:
			haveExport = true
		}
	}
	stopIdx := importedGlobals + definedGlobals

	var out bytes.Buffer
	out.Write(wasm[:8])
	emit := func(id byte, body []byte) {
		out.WriteByte(id)
		out.Write(binary.AppendUvarint(nil, uint64(len(body))))
		out.Write(body)
	}
	// The stop flag (i32 mut, 0) and the guard counter (i32 mut, yieldEvery).
	newGlobal := []byte{valTypeI32, globalMut, 0x41, 0x00, opEnd, valTypeI32, globalMut, 0x41}
	newGlobal = append(appendSLEB(newGlobal, yieldEvery), opEnd)
	newExport := append(binary.AppendUvarint(nil, uint64(len(stopGlobalExport))), stopGlobalExport...)
	newExport = append(newExport, extImpGlob)
	newExport = binary.AppendUvarint(newExport, uint64(stopIdx))

	for _, s := range sections {
		// Sections after the global section's slot get the new global
		// section first when the module had none.
		if !haveGlobal && s.id != secCustom && sectionRank(s.id) > sectionRank(secGlobal) {
			emit(secGlobal, append([]byte{2}, newGlobal...))
			haveGlobal = true
		}
		if !haveExport && s.id != secCustom && sectionRank(s.id) > sectionRank(secExport) {
			emit(secExport, append([]byte{1}, newExport...))
			haveExport = true
		}
		switch s.id {
		case secCustom:
			nr := &reader{b: s.body}
			name := string(nr.bytes(int(nr.u32())))
			if len(name) >= 6 && name[:6] == ".debug" {
				continue
			}
			emit(s.id, s.body)
		case secGlobal:
			body, err := appendVecItems(s.body, 2, newGlobal)
			if err != nil {
				return nil, fmt.Errorf("global section: %w", err)
			}
			emit(s.id, body)
		case secExport:
			body, err := appendVecItems(s.body, 1, newExport)
			if err != nil {
				return nil, fmt.Errorf("export section: %w", err)
			}
			emit(s.id, body)
		case secCode:
			body, err := instrumentCode(s.body, stopIdx)
			if err != nil {
				return nil, fmt.Errorf("code section: %w", err)
			}
			emit(s.id, body)
		default:
			emit(s.id, s.body)
		}
	}
	if !haveGlobal {
		emit(secGlobal, append([]byte{2}, newGlobal...))
	}
	if !haveExport {
		emit(secExport, append([]byte{1}, newExport...))
	}
	return out.Bytes(), nil
}

// sectionRank is the position of a known section in the order the binary
// format requires (the data count and tag sections have ids out of order).
func sectionRank(id byte) int {
	switch id {
	case 13: // tag
		return 6
	case 12: // data count
		return 11
	case 10, 11:
		return int(id) + 2
	case 6, 7, 8, 9:
		return int(id) + 1
	}
	return int(id)
}

// appendVecItems adds count encoded items to a section that is a single
// vector.
func appendVecItems(body []byte, count uint64, item []byte) ([]byte, error) {
	r := &reader{b: body}
	n := r.u32()
	if r.err != nil {
		return nil, r.err
	}
	out := binary.AppendUvarint(nil, uint64(n)+count)
	out = append(out, body[r.off:]...)
	return append(out, item...), nil
}

func countImportedGlobals(body []byte) (uint32, error) {
	r := &reader{b: body}
	n := r.u32()
	var globals uint32
	for i := uint32(0); i < n && r.err == nil; i++ {
		r.bytes(int(r.u32())) // module
		r.bytes(int(r.u32())) // name
		switch kind := r.byte(); kind {
		case 0: // func
			r.u32()
		case 1: // table
			r.byte()
			skipLimits(r)
		case 2: // memory
			skipLimits(r)
		case extImpGlob:
			r.byte()
			r.byte()
			globals++
		default:
			return 0, fmt.Errorf("unknown import kind %#x", kind)
		}
	}
	return globals, r.err
}

func skipLimits(r *reader) {
	flags := r.byte()
	r.u64()
	if flags&1 != 0 {
		r.u64()
	}
}

// instrumentCode rewrites every function body in the code section.
func instrumentCode(body []byte, stopIdx uint32) ([]byte, error) {
	guard := guardSeq(stopIdx)
	r := &reader{b: body}
	n := r.u32()
	out := binary.AppendUvarint(nil, uint64(n))
	for i := uint32(0); i < n; i++ {
		size := r.u32()
		fn := r.bytes(int(size))
		if r.err != nil {
			return nil, fmt.Errorf("function %d: %w", i, r.err)
		}
		newFn, err := instrumentFunc(fn, guard, stopIdx)
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", i, err)
		}
		out = binary.AppendUvarint(out, uint64(len(newFn)))
		out = append(out, newFn...)
	}
	if !r.eof() {
		return nil, errors.New("trailing bytes after the last function")
	}
	return out, nil
}

func instrumentFunc(fn, guard []byte, stopIdx uint32) ([]byte, error) {
	r := &reader{b: fn}
	groups := r.u32()
	for i := uint32(0); i < groups; i++ {
		r.u32()
		r.byte()
	}
	if r.err != nil {
		return nil, fmt.Errorf("locals: %w", r.err)
	}
	out := make([]byte, 0, len(fn)+len(guard)*4)
	out = append(out, fn[:r.off]...)
	out = append(out, guard...)

	for !r.eof() {
		start := r.off
		op := r.byte()
		isLoop := op == 0x03
		if err := skipImmediates(r, op, stopIdx); err != nil {
			return nil, err
		}
		if r.err != nil {
			return nil, fmt.Errorf("opcode %#x at offset %d: %w", op, start, r.err)
		}
		out = append(out, fn[start:r.off]...)
		if isLoop {
			out = append(out, guard...)
		}
	}
	return out, nil
}

// skipImmediates advances r past the immediates of op. It decodes the MVP,
// sign extension, non-trapping float-to-int, bulk memory, reference types
// and multi-value. It rejects anything else (SIMD, threads, exceptions and
// tail calls).
func skipImmediates(r *reader, op byte, stopIdx uint32) error {
	switch {
	case op == 0x00, op == 0x01, op == 0x05, op == opEnd, op == 0x0f, op == 0x1a, op == 0x1b,
		op >= 0x45 && op <= 0xc4, op == 0xd1:
		return nil
	case op == 0x02, op == 0x03, op == 0x04: // block, loop, if
		bt := r.byte()
		if bt != 0x40 && !(bt >= 0x6f && bt <= 0x7f) {
			r.off--
			r.s64()
		}
		return nil
	case op == 0x0c, op == 0x0d, op == 0x10, op == 0x20, op == 0x21, op == 0x22,
		op == 0x25, op == 0x26, op == 0xd2:
		r.u32()
		return nil
	case op == 0x23, op == 0x24: // global.get, global.set
		if idx := r.u32(); idx >= stopIdx && r.err == nil {
			return fmt.Errorf("refers to global %d, which the module does not define", idx)
		}
		return nil
	case op == 0x0e: // br_table
		n := r.u32()
		for i := uint32(0); i <= n && r.err == nil; i++ {
			r.u32()
		}
		return nil
	case op == 0x11: // call_indirect
		r.u32()
		r.u32()
		return nil
	case op == 0x1c: // select t*
		n := r.u32()
		for i := uint32(0); i < n && r.err == nil; i++ {
			r.byte()
		}
		return nil
	case op >= 0x28 && op <= 0x3e: // loads and stores
		r.u32()
		r.u32()
		return nil
	case op == 0x3f, op == 0x40: // memory.size, memory.grow
		r.byte()
		return nil
	case op == 0x41:
		r.s64()
		return nil
	case op == 0x42:
		r.s64()
		return nil
	case op == 0x43:
		r.bytes(4)
		return nil
	case op == 0x44:
		r.bytes(8)
		return nil
	case op == 0xd0:
		r.byte()
		return nil
	case op == 0xfc:
		sub := r.u32()
		switch {
		case sub <= 7:
		case sub == 8:
			r.u32()
			r.byte()
		case sub == 9, sub == 13, sub == 15, sub == 16, sub == 17:
			r.u32()
		case sub == 10:
			r.byte()
			r.byte()
		case sub == 11:
			r.byte()
		case sub == 12, sub == 14:
			r.u32()
			r.u32()
		default:
			return fmt.Errorf("unsupported instruction 0xfc %d", sub)
		}
		return nil
	}
	return fmt.Errorf("unsupported instruction %#x (SIMD, threads, exceptions and tail calls are not part of ABI v1)", op)
}

// reader decodes the LEB128 and byte strings of a wasm binary. The first
// error sticks; later reads return zero values.
type reader struct {
	b   []byte
	off int
	err error
}

var errTruncated = errors.New("unexpected end of data")

func (r *reader) eof() bool { return r.err != nil || r.off >= len(r.b) }

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.err = errTruncated
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.err = errTruncated
		return nil
	}
	out := r.b[r.off : r.off+n]
	r.off += n
	return out
}

func (r *reader) u64() uint64 {
	var v uint64
	for shift := uint(0); shift < 70; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.err = errors.New("LEB128 value too long")
	return 0
}

func (r *reader) u32() uint32 {
	v := r.u64()
	if v > math.MaxUint32 {
		r.err = errors.New("LEB128 value exceeds 32 bits")
		return 0
	}
	return uint32(v)
}

func (r *reader) s64() {
	for i := 0; i < 10; i++ {
		c := r.byte()
		if r.err != nil || c&0x80 == 0 {
			return
		}
	}
	r.err = errors.New("LEB128 value too long")
}
