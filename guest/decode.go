package guest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeRequest decodes the daemon's input into r. It accepts and rejects
// the same inputs as json.Unmarshal(input, r) and fills r the same way
// (the fuzz test in decode_test.go checks both), but it walks the fixed
// shape of Request directly. encoding/json walks the type with reflection,
// which compiled to WebAssembly costs several hundred microseconds a call.
//
// Like encoding/json it matches keys exactly or else case-insensitively,
// and it ignores unknown keys. A null leaves a value as it is, or sets a
// pointer, slice or map to nil. A repeated key decodes into the value the
// earlier one left. Predicate and Config stay raw JSON. Only the error
// messages differ from encoding/json's.
func decodeRequest(input []byte, r *Request) error {
	if err := validJSON(input); err != nil {
		return err
	}
	d := &decoder{data: input}
	d.skipSpace()
	if d.literal("null") {
		return nil
	}
	return d.request(r)
}

// decoder reads a document that validJSON has accepted, so it checks
// types but not syntax.
type decoder struct {
	data []byte
	off  int
}

func (d *decoder) skipSpace() {
	for d.off < len(d.data) {
		switch d.data[d.off] {
		case ' ', '\t', '\n', '\r':
			d.off++
		default:
			return
		}
	}
}

// literal consumes word if the next value is that literal.
func (d *decoder) literal(word string) bool {
	if bytes.HasPrefix(d.data[d.off:], []byte(word)) {
		d.off += len(word)
		return true
	}
	return false
}

// peek returns the first byte of the next value.
func (d *decoder) peek() byte {
	d.skipSpace()
	return d.data[d.off]
}

// kind names the JSON type of the next value for error messages.
func (d *decoder) kind() string {
	switch c := d.peek(); c {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

func (d *decoder) typeError(field, goType string) error {
	return fmt.Errorf("cannot decode a JSON %s into field %s of type %s", d.kind(), field, goType)
}

// rawValue consumes the next value and returns its bytes.
func (d *decoder) rawValue() []byte {
	d.skipSpace()
	start := d.off
	d.skipValue()
	return d.data[start:d.off]
}

// skipValue consumes one value, which validJSON has checked.
func (d *decoder) skipValue() {
	d.skipSpace()
	switch c := d.data[d.off]; {
	case c == '"':
		d.skipString()
	case c == '{' || c == '[':
		depth := 0
		for {
			switch d.data[d.off] {
			case '"':
				d.skipString()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			d.off++
			if depth == 0 {
				return
			}
		}
	default:
		for d.off < len(d.data) {
			switch d.data[d.off] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return
			}
			d.off++
		}
	}
}

// skipString consumes a string literal and reports whether it is plain:
// ASCII without escapes, so that its contents need no decoding.
func (d *decoder) skipString() (plain bool) {
	d.off++
	plain = true
	for {
		c := d.data[d.off]
		switch {
		case c == '"':
			d.off++
			return plain
		case c == '\\':
			d.off += 2
			plain = false
		default:
			if c >= utf8.RuneSelf {
				plain = false
			}
			d.off++
		}
	}
}

// members calls f with each key of the object that starts at the next
// value; f must consume the member's value.
func (d *decoder) members(f func(key []byte) error) error {
	d.skipSpace()
	d.off++ // {
	for {
		d.skipSpace()
		if d.data[d.off] == '}' {
			d.off++
			return nil
		}
		if d.data[d.off] == ',' {
			d.off++
			d.skipSpace()
		}
		key := d.stringBytes()
		d.skipSpace()
		d.off++ // :
		if err := f(key); err != nil {
			return err
		}
	}
}

// elements calls f once per element of the array that starts at the next
// value, with the element's index; f must consume the element.
func (d *decoder) elements(f func(i int) error) error {
	d.skipSpace()
	d.off++ // [
	for i := 0; ; i++ {
		d.skipSpace()
		if d.data[d.off] == ']' {
			d.off++
			return nil
		}
		if d.data[d.off] == ',' {
			d.off++
		}
		if err := f(i); err != nil {
			return err
		}
	}
}

// stringBytes consumes a string literal and returns its decoded contents,
// which may share the input's memory.
func (d *decoder) stringBytes() []byte {
	start := d.off
	if d.skipString() {
		return d.data[start+1 : d.off-1]
	}
	return unquote(d.data[start:d.off])
}

// field returns the index of the name in names that key matches, exactly
// or else case-insensitively (Unicode simple folding, as encoding/json
// matches), or -1.
func field(key []byte, names []string) int {
	for i, n := range names {
		if string(key) == n {
			return i
		}
	}
	for i, n := range names {
		if equalFoldString(key, n) {
			return i
		}
	}
	return -1
}

func equalFoldString(key []byte, name string) bool {
	for len(key) > 0 && len(name) > 0 {
		var a, b rune
		var n int
		if key[0] < utf8.RuneSelf {
			a, n = rune(key[0]), 1
		} else {
			a, n = utf8.DecodeRune(key)
		}
		key = key[n:]
		b, n = utf8.DecodeRuneInString(name)
		name = name[n:]
		if a != b && foldRune(a) != foldRune(b) {
			return false
		}
	}
	return len(key) == 0 && len(name) == 0
}

// foldRune returns the smallest rune of r's simple case-folding orbit:
// for an ASCII letter its upper case, since the Kelvin sign folds with k
// and the long s with s.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' {
			return r - ('a' - 'A')
		}
		return r
	}
	for {
		next := unicode.SimpleFold(r)
		if next <= r {
			return next
		}
		r = next
	}
}

func (d *decoder) str(p *string, name string) error {
	switch d.peek() {
	case 'n':
		d.off += len("null")
		return nil
	case '"':
		*p = string(d.stringBytes())
		return nil
	}
	err := d.typeError(name, "string")
	d.skipValue()
	return err
}

func (d *decoder) boolean(p *bool, name string) error {
	switch {
	case d.peek() == 'n':
		d.off += len("null")
	case d.literal("true"):
		*p = true
	case d.literal("false"):
		*p = false
	default:
		err := d.typeError(name, "bool")
		d.skipValue()
		return err
	}
	return nil
}

// integer reads a number that must be a whole number within bits (signed
// or not), as encoding/json reads integer fields.
func (d *decoder) integer(name, goType string, signed bool, bits int, set func(uint64)) error {
	c := d.peek()
	if c == 'n' {
		d.off += len("null")
		return nil
	}
	if c != '-' && (c < '0' || c > '9') {
		err := d.typeError(name, goType)
		d.skipValue()
		return err
	}
	lit := string(d.rawValue())
	if signed {
		v, err := strconv.ParseInt(lit, 10, bits)
		if err != nil {
			return fmt.Errorf("cannot decode number %s into field %s of type %s", lit, name, goType)
		}
		set(uint64(v))
		return nil
	}
	v, err := strconv.ParseUint(lit, 10, bits)
	if err != nil {
		return fmt.Errorf("cannot decode number %s into field %s of type %s", lit, name, goType)
	}
	set(v)
	return nil
}

// raw stores the next value's bytes, null included, as json.RawMessage's
// UnmarshalJSON does.
func (d *decoder) raw(p *json.RawMessage) {
	*p = append((*p)[:0], d.rawValue()...)
}

// timestamp hands the next value to time.Time's own UnmarshalJSON, as
// encoding/json does.
func (d *decoder) timestamp(p *time.Time) error {
	return p.UnmarshalJSON(d.rawValue())
}

// object checks that the next value is an object (true) or null (false,
// consumed) and returns a type error for anything else.
func (d *decoder) object(name, goType string) (bool, error) {
	switch d.peek() {
	case '{':
		return true, nil
	case 'n':
		d.off += len("null")
		return false, nil
	}
	err := d.typeError(name, goType)
	d.skipValue()
	return false, err
}

// array is object for arrays.
func (d *decoder) array(name, goType string) (bool, error) {
	switch d.peek() {
	case '[':
		return true, nil
	case 'n':
		d.off += len("null")
		return false, nil
	}
	err := d.typeError(name, goType)
	d.skipValue()
	return false, err
}

// growTo makes s long enough to hold index i the way encoding/json grows
// a slice it decodes into: it extends the length into spare capacity
// (exposing what an earlier decoding left there) and grows only when full.
func growTo[T any](s []T, i int) []T {
	if i >= cap(s) {
		var zero T
		s = append(s[:cap(s)], zero)
	}
	if i >= len(s) {
		s = s[:i+1]
	}
	return s
}

// endSlice trims s to n elements after an array of n, keeping an empty
// array distinct from null.
func endSlice[T any](s []T, n int) []T {
	if n < len(s) {
		s = s[:n]
	}
	if n == 0 {
		s = make([]T, 0)
	}
	return s
}

var requestFields = []string{"abiVersion", "tenant", "caller", "predicateType", "subjects", "predicateSha256",
	"predicate", "predicateOmitted", "scanner", "poe", "requestTime", "config"}

func (d *decoder) request(r *Request) error {
	if ok, err := d.object("request", "guest.Request"); !ok {
		return err
	}
	return d.members(func(key []byte) error {
		switch field(key, requestFields) {
		case 0:
			return d.integer("abiVersion", "int", true, strconv.IntSize, func(v uint64) { r.ABIVersion = int(v) })
		case 1:
			return d.str(&r.Tenant, "tenant")
		case 2:
			return d.caller(&r.Caller)
		case 3:
			return d.str(&r.PredicateType, "predicateType")
		case 4:
			return d.subjects(&r.Subjects)
		case 5:
			return d.str(&r.PredicateSHA256, "predicateSha256")
		case 6:
			d.raw(&r.Predicate)
			return nil
		case 7:
			return d.boolean(&r.PredicateOmitted, "predicateOmitted")
		case 8:
			return d.scanner(&r.Scanner)
		case 9:
			return d.poe(&r.PoE)
		case 10:
			return d.timestamp(&r.RequestTime)
		case 11:
			d.raw(&r.Config)
			return nil
		}
		d.skipValue()
		return nil
	})
}

var callerFields = []string{"pid", "uid", "gid", "groups", "executable", "executableSha256", "cgroup", "systemdUnit", "containerId"}

func (d *decoder) caller(c *Caller) error {
	if ok, err := d.object("caller", "guest.Caller"); !ok {
		return err
	}
	return d.members(func(key []byte) error {
		switch field(key, callerFields) {
		case 0:
			return d.integer("caller.pid", "int32", true, 32, func(v uint64) { c.PID = int32(v) })
		case 1:
			return d.integer("caller.uid", "uint32", false, 32, func(v uint64) { c.UID = uint32(v) })
		case 2:
			return d.integer("caller.gid", "uint32", false, 32, func(v uint64) { c.GID = uint32(v) })
		case 3:
			return d.groups(&c.Groups)
		case 4:
			return d.str(&c.Executable, "caller.executable")
		case 5:
			return d.str(&c.ExecutableSHA256, "caller.executableSha256")
		case 6:
			return d.str(&c.Cgroup, "caller.cgroup")
		case 7:
			return d.str(&c.SystemdUnit, "caller.systemdUnit")
		case 8:
			return d.str(&c.ContainerID, "caller.containerId")
		}
		d.skipValue()
		return nil
	})
}

func (d *decoder) groups(p *[]uint32) error {
	ok, err := d.array("caller.groups", "[]uint32")
	if !ok {
		if err == nil {
			*p = nil
		}
		return err
	}
	s := *p
	n := 0
	err = d.elements(func(i int) error {
		s = growTo(s, i)
		n = i + 1
		return d.integer("caller.groups", "uint32", false, 32, func(v uint64) { s[i] = uint32(v) })
	})
	*p = endSlice(s, n)
	return err
}

func (d *decoder) subjects(p *[]Subject) error {
	ok, err := d.array("subjects", "[]guest.Subject")
	if !ok {
		if err == nil {
			*p = nil
		}
		return err
	}
	s := *p
	n := 0
	err = d.elements(func(i int) error {
		s = growTo(s, i)
		n = i + 1
		return d.subject(&s[i])
	})
	*p = endSlice(s, n)
	return err
}

var subjectFields = []string{"name", "digest"}

func (d *decoder) subject(s *Subject) error {
	if ok, err := d.object("subjects[]", "guest.Subject"); !ok {
		return err
	}
	return d.members(func(key []byte) error {
		switch field(key, subjectFields) {
		case 0:
			return d.str(&s.Name, "subjects.name")
		case 1:
			return d.digest(&s.Digest)
		}
		d.skipValue()
		return nil
	})
}

func (d *decoder) digest(p *map[string]string) error {
	ok, err := d.object("subjects.digest", "map[string]string")
	if !ok {
		if err == nil {
			*p = nil
		}
		return err
	}
	if *p == nil {
		*p = map[string]string{}
	}
	m := *p
	return d.members(func(key []byte) error {
		var v string
		if err := d.str(&v, "subjects.digest"); err != nil {
			return err
		}
		m[string(key)] = v
		return nil
	})
}

var scannerFields = []string{"name", "version", "image"}

func (d *decoder) scanner(p **Scanner) error {
	ok, err := d.object("scanner", "guest.Scanner")
	if !ok {
		if err == nil {
			*p = nil
		}
		return err
	}
	if *p == nil {
		*p = new(Scanner)
	}
	s := *p
	return d.members(func(key []byte) error {
		switch field(key, scannerFields) {
		case 0:
			return d.str(&s.Name, "scanner.name")
		case 1:
			return d.str(&s.Version, "scanner.version")
		case 2:
			return d.str(&s.Image, "scanner.image")
		}
		d.skipValue()
		return nil
	})
}

var poeFields = []string{"iss", "sub", "tenant", "plan", "exp", "scannerVersions"}

func (d *decoder) poe(p **PoE) error {
	ok, err := d.object("poe", "guest.PoE")
	if !ok {
		if err == nil {
			*p = nil
		}
		return err
	}
	if *p == nil {
		*p = new(PoE)
	}
	e := *p
	return d.members(func(key []byte) error {
		switch field(key, poeFields) {
		case 0:
			return d.str(&e.Issuer, "poe.iss")
		case 1:
			return d.str(&e.Subject, "poe.sub")
		case 2:
			return d.str(&e.Tenant, "poe.tenant")
		case 3:
			return d.str(&e.Plan, "poe.plan")
		case 4:
			if d.peek() == 'n' {
				d.off += len("null")
				e.ExpiresAt = nil
				return nil
			}
			if e.ExpiresAt == nil {
				e.ExpiresAt = new(time.Time)
			}
			return d.timestamp(e.ExpiresAt)
		case 5:
			return d.str(&e.ScannerVersions, "poe.scannerVersions")
		}
		d.skipValue()
		return nil
	})
}

// unquote decodes a JSON string literal, quotes included, the way
// encoding/json does: invalid UTF-8 and unpaired surrogates become U+FFFD.
// The literal has passed validJSON.
func unquote(s []byte) []byte {
	s = s[1 : len(s)-1]
	i := 0
	for i < len(s) {
		c := s[i]
		if c == '\\' {
			break
		}
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		i += size
	}
	if i == len(s) {
		return s
	}

	out := make([]byte, i, len(s)+utf8.UTFMax)
	copy(out, s[:i])
	for i < len(s) {
		c := s[i]
		switch {
		case c == '\\':
			switch s[i+1] {
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r := hex4(s[i+2:])
				i += 6
				if utf16.IsSurrogate(r) {
					if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
						if pair := utf16.DecodeRune(r, hex4(s[i+2:])); pair != unicode.ReplacementChar {
							out = utf8.AppendRune(out, pair)
							i += 6
							continue
						}
					}
					r = unicode.ReplacementChar
				}
				out = utf8.AppendRune(out, r)
				continue
			default: // '"', '\\', '/'
				out = append(out, s[i+1])
			}
			i += 2
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			out = utf8.AppendRune(out, r)
			i += size
		}
	}
	return out
}

// hex4 decodes the four hex digits validJSON checked.
func hex4(s []byte) rune {
	var r rune
	for _, c := range s[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// maxNesting is encoding/json's limit on nested arrays and objects.
const maxNesting = 10000

var errSyntax = errors.New("invalid JSON")

// validJSON checks that data is one JSON value with optional surrounding
// white space, by the grammar encoding/json's scanner accepts.
func validJSON(data []byte) error {
	v := validator{data: data}
	v.space()
	if err := v.value(); err != nil {
		return err
	}
	v.space()
	if v.off != len(data) {
		return v.errorf("invalid character %q after top-level value", data[v.off])
	}
	return nil
}

type validator struct {
	data []byte
	off  int

	// open holds '{' or '[' per enclosing container.
	open []byte
}

func (v *validator) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at offset %d: %s", errSyntax, v.off, fmt.Sprintf(format, args...))
}

func (v *validator) space() {
	for v.off < len(v.data) {
		switch v.data[v.off] {
		case ' ', '\t', '\n', '\r':
			v.off++
		default:
			return
		}
	}
}

func (v *validator) next() (byte, error) {
	if v.off >= len(v.data) {
		return 0, v.errorf("unexpected end of input")
	}
	return v.data[v.off], nil
}

// value checks one value, nesting included, iteratively so that deep
// input cannot overflow the stack.
func (v *validator) value() error {
	for {
		// A value starts here.
		c, err := v.next()
		if err != nil {
			return err
		}
		switch {
		case c == '{' || c == '[':
			if len(v.open) >= maxNesting {
				return v.errorf("nesting deeper than %d", maxNesting)
			}
			v.open = append(v.open, c)
			v.off++
			v.space()
			c, err := v.next()
			if err != nil {
				return err
			}
			if (c == '}' && v.open[len(v.open)-1] == '{') || (c == ']' && v.open[len(v.open)-1] == '[') {
				v.off++
				v.open = v.open[:len(v.open)-1]
				break
			}
			if v.open[len(v.open)-1] == '{' {
				if err := v.key(); err != nil {
					return err
				}
			}
			continue
		case c == '"':
			if err := v.str(); err != nil {
				return err
			}
		case c == '-' || (c >= '0' && c <= '9'):
			if err := v.number(); err != nil {
				return err
			}
		case c == 't':
			if err := v.word("true"); err != nil {
				return err
			}
		case c == 'f':
			if err := v.word("false"); err != nil {
				return err
			}
		case c == 'n':
			if err := v.word("null"); err != nil {
				return err
			}
		default:
			return v.errorf("invalid character %q looking for beginning of value", c)
		}

		// A value ended: close containers or expect the next element.
		for {
			if len(v.open) == 0 {
				return nil
			}
			v.space()
			c, err := v.next()
			if err != nil {
				return err
			}
			top := v.open[len(v.open)-1]
			if c == ',' {
				v.off++
				v.space()
				if top == '{' {
					if err := v.key(); err != nil {
						return err
					}
				}
				break
			}
			if (top == '{' && c == '}') || (top == '[' && c == ']') {
				v.off++
				v.open = v.open[:len(v.open)-1]
				continue
			}
			return v.errorf("invalid character %q after %s element", c, map[byte]string{'{': "object", '[': "array"}[top])
		}
	}
}

// key checks an object key and its colon, leaving the offset at the value.
func (v *validator) key() error {
	c, err := v.next()
	if err != nil {
		return err
	}
	if c != '"' {
		return v.errorf("invalid character %q looking for beginning of object key string", c)
	}
	if err := v.str(); err != nil {
		return err
	}
	v.space()
	if c, err = v.next(); err != nil {
		return err
	}
	if c != ':' {
		return v.errorf("invalid character %q after object key", c)
	}
	v.off++
	v.space()
	return nil
}

func (v *validator) str() error {
	v.off++
	for {
		c, err := v.next()
		if err != nil {
			return err
		}
		v.off++
		switch {
		case c == '"':
			return nil
		case c < 0x20:
			return v.errorf("invalid control character %#x in string literal", c)
		case c == '\\':
			e, err := v.next()
			if err != nil {
				return err
			}
			v.off++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				for range 4 {
					h, err := v.next()
					if err != nil {
						return err
					}
					if !isHex(h) {
						return v.errorf("invalid character %q in \\u hexadecimal character escape", h)
					}
					v.off++
				}
			default:
				return v.errorf("invalid character %q in string escape code", e)
			}
		}
	}
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// number checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (v *validator) number() error {
	d := v.data
	if d[v.off] == '-' {
		v.off++
	}
	digits := func() int {
		start := v.off
		for v.off < len(d) && d[v.off] >= '0' && d[v.off] <= '9' {
			v.off++
		}
		return v.off - start
	}
	switch {
	case v.off < len(d) && d[v.off] == '0':
		v.off++
	case digits() == 0:
		return v.errorf("invalid number: a digit must follow the minus sign")
	}
	if v.off < len(d) && d[v.off] == '.' {
		v.off++
		if digits() == 0 {
			return v.errorf("invalid number: a digit must follow the decimal point")
		}
	}
	if v.off < len(d) && (d[v.off] == 'e' || d[v.off] == 'E') {
		v.off++
		if v.off < len(d) && (d[v.off] == '+' || d[v.off] == '-') {
			v.off++
		}
		if digits() == 0 {
			return v.errorf("invalid number: a digit must follow the exponent")
		}
	}
	return nil
}

func (v *validator) word(w string) error {
	if !bytes.HasPrefix(v.data[v.off:], []byte(w)) {
		return v.errorf("invalid literal; expected %s", w)
	}
	v.off += len(w)
	return nil
}
