package statement

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/signerd/signerd/daemon/api"
)

// canonicalPredicate checks that raw is one JSON object and returns it
// re-encoded with sorted keys, no insignificant whitespace, strings in one
// escaping, and numbers kept as written. Duplicate keys are rejected
// because two parsers may pick different values for them, and what is
// signed must read one way only.
func canonicalPredicate(raw json.RawMessage) (json.RawMessage, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return nil, api.FieldErrorf(api.CodeInvalidRequest, "predicate",
			"predicate is missing; send the predicate as a JSON object")
	}
	if trimmed[0] != '{' {
		return nil, api.FieldErrorf(api.CodeInvalidRequest, "predicate",
			"predicate is a JSON %s, not an object; wrap the document in an object", jsonKind(trimmed[0]))
	}

	out, err := Canonicalize(trimmed)
	if err != nil {
		return nil, api.FieldErrorf(api.CodeInvalidRequest, "predicate", "predicate: %v", err)
	}
	if err := rejectWrappedStatement(out); err != nil {
		return nil, err
	}
	return out, nil
}

// rejectWrappedStatement rejects a predicate that is itself a whole in-toto
// Statement. Signed as is, it would become a Statement inside a Statement,
// and verifiers would read its subjects as opaque predicate fields.
func rejectWrappedStatement(canonical []byte) error {
	// Only a predicate that contains the type's prefix somewhere is
	// decoded, so the common case costs one byte search.
	if !bytes.Contains(canonical, []byte(api.StatementTypePrefix)) {
		return nil
	}
	var top struct {
		Type string `json:"_type"`
	}
	if err := json.Unmarshal(canonical, &top); err != nil || !strings.HasPrefix(top.Type, api.StatementTypePrefix) {
		return nil
	}
	return api.FieldErrorf(api.CodeInvalidRequest, "predicate._type",
		"the predicate is a whole in-toto Statement (_type %q); send the Statement's predicate, predicateType and subject as the request's predicate, predicateType and subjects, or sign the file with signerctl sign --statement", top.Type)
}

func jsonKind(first byte) string {
	switch first {
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	default:
		return "number"
	}
}

// Canonicalize parses one JSON value and returns its canonical encoding
// (see canonicalPredicate). It rejects what RFC 8259 rejects, invalid
// UTF-8, duplicate object keys, nesting deeper than MaxPredicateDepth, and
// data after the value.
func Canonicalize(in []byte) ([]byte, error) {
	p := parser{in: in, out: make([]byte, 0, len(in))}
	p.skipSpace()
	if err := p.value(0); err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.in) {
		return nil, p.errorf("data after the end of the JSON value")
	}
	return p.out, nil
}

// parser is a one-pass JSON parser that writes the canonical form as it
// goes. Objects are the exception: their members are encoded into a
// scratch area, sorted, then copied.
type parser struct {
	in  []byte
	pos int
	out []byte
}

var errTooDeep = fmt.Errorf("nesting exceeds the maximum depth of %d", MaxPredicateDepth)

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at byte %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *parser) skipSpace() {
	for p.pos < len(p.in) {
		switch p.in[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) error {
	if depth > MaxPredicateDepth {
		return errTooDeep
	}
	if p.pos >= len(p.in) {
		return p.errorf("unexpected end of input")
	}

	switch c := p.in[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return err
		}
		p.out = appendString(p.out, s)
		return nil
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	default:
		return p.errorf("unexpected character %q", c)
	}
}

func (p *parser) literal(lit string) error {
	if !bytes.HasPrefix(p.in[p.pos:], []byte(lit)) {
		return p.errorf("invalid literal; expected %s", lit)
	}
	p.pos += len(lit)
	p.out = append(p.out, lit...)
	return nil
}

// number validates the RFC 8259 number grammar and copies the literal.
func (p *parser) number() error {
	start := p.pos
	if p.peek() == '-' {
		p.pos++
	}

	switch c := p.peek(); {
	case c == '0':
		p.pos++
	case c >= '1' && c <= '9':
		p.digits()
	default:
		return p.errorf("invalid number")
	}

	if p.peek() == '.' {
		p.pos++
		if !isDigit(p.peek()) {
			return p.errorf("invalid number: no digits after the decimal point")
		}
		p.digits()
	}

	if c := p.peek(); c == 'e' || c == 'E' {
		p.pos++
		if c := p.peek(); c == '+' || c == '-' {
			p.pos++
		}
		if !isDigit(p.peek()) {
			return p.errorf("invalid number: no digits in the exponent")
		}
		p.digits()
	}

	p.out = append(p.out, p.in[start:p.pos]...)
	return nil
}

func (p *parser) digits() {
	for isDigit(p.peek()) {
		p.pos++
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// peek returns the next byte, or 0 at the end of input.
func (p *parser) peek() byte {
	if p.pos < len(p.in) {
		return p.in[p.pos]
	}
	return 0
}

// str parses a string and returns its decoded value. The common case, a
// string without escapes, returns a view of the input with no copy.
func (p *parser) str() ([]byte, error) {
	p.pos++ // the opening quote
	start := p.pos

	for p.pos < len(p.in) {
		c := p.in[p.pos]
		switch {
		case c == '"':
			s := p.in[start:p.pos]
			p.pos++
			if !utf8.Valid(s) {
				return nil, p.errorf("string is not valid UTF-8")
			}
			return s, nil
		case c == '\\':
			return p.escapedStr(start)
		case c < 0x20:
			return nil, p.errorf("control character 0x%02x in string", c)
		}
		p.pos++
	}
	return nil, p.errorf("unterminated string")
}

// escapedStr decodes a string that contains escapes, starting over at start.
func (p *parser) escapedStr(start int) ([]byte, error) {
	var b bytes.Buffer
	b.Write(p.in[start:p.pos])

	for p.pos < len(p.in) {
		c := p.in[p.pos]
		switch {
		case c == '"':
			p.pos++
			s := b.Bytes()
			if !utf8.Valid(s) {
				return nil, p.errorf("string is not valid UTF-8")
			}
			return s, nil
		case c < 0x20:
			return nil, p.errorf("control character 0x%02x in string", c)
		case c != '\\':
			b.WriteByte(c)
			p.pos++
			continue
		}

		p.pos++ // the backslash
		esc := p.peek()
		p.pos++
		switch esc {
		case '"', '\\', '/':
			b.WriteByte(esc)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, err := p.unicodeEscape()
			if err != nil {
				return nil, err
			}
			b.WriteRune(r)
		default:
			return nil, p.errorf("invalid escape \\%c", esc)
		}
	}
	return nil, p.errorf("unterminated string")
}

// unicodeEscape decodes the hex digits after \u, joining a surrogate pair
// into one rune. A lone surrogate becomes U+FFFD, as in encoding/json.
func (p *parser) unicodeEscape() (rune, error) {
	r, ok := p.hex4()
	if !ok {
		return 0, p.errorf("invalid \\u escape")
	}
	if !utf16.IsSurrogate(r) {
		return r, nil
	}
	if bytes.HasPrefix(p.in[p.pos:], []byte(`\u`)) {
		save := p.pos
		p.pos += 2
		if r2, ok := p.hex4(); ok {
			if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
				return dec, nil
			}
		}
		p.pos = save
	}
	return utf8.RuneError, nil
}

func (p *parser) hex4() (rune, bool) {
	if p.pos+4 > len(p.in) {
		return 0, false
	}
	var r rune
	for _, c := range p.in[p.pos : p.pos+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c-'a') + 10
		case c >= 'A' && c <= 'F':
			r |= rune(c-'A') + 10
		default:
			return 0, false
		}
	}
	p.pos += 4
	return r, true
}

func (p *parser) array(depth int) error {
	p.pos++ // [
	p.out = append(p.out, '[')
	p.skipSpace()
	if p.peek() == ']' {
		p.pos++
		p.out = append(p.out, ']')
		return nil
	}

	for {
		if err := p.value(depth + 1); err != nil {
			return err
		}
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.pos++
			p.out = append(p.out, ',')
			p.skipSpace()
		case ']':
			p.pos++
			p.out = append(p.out, ']')
			return nil
		default:
			return p.errorf("expected ',' or ']' in array")
		}
	}
}

// member is one encoded object member: its decoded key and the span of
// its canonical value in the parser's output.
type member struct {
	key        []byte
	start, end int
}

func (p *parser) object(depth int) error {
	p.pos++ // {
	p.skipSpace()
	if p.peek() == '}' {
		p.pos++
		p.out = append(p.out, "{}"...)
		return nil
	}

	// Values are encoded at the end of p.out, then reordered by key.
	base := len(p.out)
	var members []member
	for {
		if p.peek() != '"' {
			return p.errorf("expected a string key in object")
		}
		key, err := p.str()
		if err != nil {
			return err
		}
		p.skipSpace()
		if p.peek() != ':' {
			return p.errorf("expected ':' after object key")
		}
		p.pos++
		p.skipSpace()

		start := len(p.out)
		if err := p.value(depth + 1); err != nil {
			return err
		}
		members = append(members, member{key: key, start: start, end: len(p.out)})

		p.skipSpace()
		if p.peek() == ',' {
			p.pos++
			p.skipSpace()
			continue
		}
		if p.peek() == '}' {
			p.pos++
			break
		}
		return p.errorf("expected ',' or '}' in object")
	}

	slices.SortFunc(members, func(a, b member) int { return bytes.Compare(a.key, b.key) })
	for i := 1; i < len(members); i++ {
		if bytes.Equal(members[i].key, members[i-1].key) {
			return fmt.Errorf("duplicate object key %q", members[i].key)
		}
	}

	values := append([]byte(nil), p.out[base:]...)
	p.out = append(p.out[:base], '{')
	for i, m := range members {
		if i > 0 {
			p.out = append(p.out, ',')
		}
		p.out = appendString(p.out, m.key)
		p.out = append(p.out, ':')
		p.out = append(p.out, values[m.start-base:m.end-base]...)
	}
	p.out = append(p.out, '}')
	return nil
}

// writeString appends s to out as a JSON string (see appendString).
func writeString(out *bytes.Buffer, s string) {
	out.Write(appendString(nil, s))
}

// appendString appends s as a JSON string. It escapes what JSON requires
// plus U+2028 and U+2029, and leaves "<", ">" and "&" as written, unlike
// encoding/json's default. Invalid UTF-8 becomes U+FFFD, as in
// encoding/json, although the parser rejects such input before this runs.
func appendString[T string | []byte](out []byte, s T) []byte {
	const hexDigits = "0123456789abcdef"

	out = append(out, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			out = append(out, s[start:i]...)
			switch c {
			case '"', '\\':
				out = append(out, '\\', c)
			case '\n':
				out = append(out, `\n`...)
			case '\r':
				out = append(out, `\r`...)
			case '\t':
				out = append(out, `\t`...)
			default:
				out = append(out, `\u00`...)
				out = append(out, hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}

		// At most four bytes make a rune; converting only those keeps the
		// conversion on the stack.
		r, size := utf8.DecodeRune([]byte(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && size == 1 {
			out = append(out, s[start:i]...)
			out = append(out, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			out = append(out, s[start:i]...)
			out = append(out, `\u202`...)
			out = append(out, hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	out = append(out, s[start:]...)
	return append(out, '"')
}
