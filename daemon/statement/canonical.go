package statement

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"unicode/utf8"

	"github.com/signerd/signerd/daemon/api"
)

// canonicalPredicate checks that raw is one JSON object and returns it
// re-encoded with sorted keys, no insignificant whitespace, and numbers
// kept as written. Duplicate keys are rejected because two parsers may pick
// different values for them, and what is signed must read one way only.
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
	if !utf8.Valid(trimmed) {
		return nil, api.FieldErrorf(api.CodeInvalidRequest, "predicate",
			"predicate is not valid UTF-8")
	}

	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()

	var out bytes.Buffer
	out.Grow(len(trimmed))
	if err := copyValue(dec, &out, 0); err != nil {
		return nil, api.FieldErrorf(api.CodeInvalidRequest, "predicate", "predicate: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, api.FieldErrorf(api.CodeInvalidRequest, "predicate",
			"predicate has data after its closing brace")
	}
	return out.Bytes(), nil
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

var errTooDeep = fmt.Errorf("nesting exceeds the maximum depth of %d", MaxPredicateDepth)

// copyValue reads one JSON value from dec and writes its canonical form.
func copyValue(dec *json.Decoder, out *bytes.Buffer, depth int) error {
	if depth > MaxPredicateDepth {
		return errTooDeep
	}

	tok, err := dec.Token()
	if err != nil {
		return err
	}

	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return copyObject(dec, out, depth)
		case '[':
			return copyArray(dec, out, depth)
		default:
			return fmt.Errorf("unexpected %q", t)
		}
	case string:
		writeString(out, t)
	case json.Number:
		out.WriteString(t.String())
	case bool:
		if t {
			out.WriteString("true")
		} else {
			out.WriteString("false")
		}
	case nil:
		out.WriteString("null")
	}
	return nil
}

type member struct {
	key   string
	value []byte
}

func copyObject(dec *json.Decoder, out *bytes.Buffer, depth int) error {
	var members []member
	seen := make(map[string]struct{})

	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok {
			return errors.New("object key is not a string")
		}
		if _, dup := seen[key]; dup {
			return fmt.Errorf("duplicate object key %q", key)
		}
		seen[key] = struct{}{}

		var value bytes.Buffer
		if err := copyValue(dec, &value, depth+1); err != nil {
			return err
		}
		members = append(members, member{key: key, value: value.Bytes()})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return err
	}

	sort.Slice(members, func(i, j int) bool { return members[i].key < members[j].key })

	out.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			out.WriteByte(',')
		}
		writeString(out, m.key)
		out.WriteByte(':')
		out.Write(m.value)
	}
	out.WriteByte('}')
	return nil
}

func copyArray(dec *json.Decoder, out *bytes.Buffer, depth int) error {
	out.WriteByte('[')
	for i := 0; dec.More(); i++ {
		if i > 0 {
			out.WriteByte(',')
		}
		if err := copyValue(dec, out, depth+1); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing bracket
		return err
	}
	out.WriteByte(']')
	return nil
}

// writeString writes s as a JSON string. It escapes what JSON requires
// plus U+2028 and U+2029, and leaves "<", ">" and "&" as written, unlike
// encoding/json's default. Invalid UTF-8 becomes U+FFFD, as in
// encoding/json, although Validate rejects such input before this runs.
func writeString(out *bytes.Buffer, s string) {
	const hexDigits = "0123456789abcdef"

	out.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			out.WriteString(s[start:i])
			switch c {
			case '"', '\\':
				out.WriteByte('\\')
				out.WriteByte(c)
			case '\n':
				out.WriteString(`\n`)
			case '\r':
				out.WriteString(`\r`)
			case '\t':
				out.WriteString(`\t`)
			default:
				out.WriteString(`\u00`)
				out.WriteByte(hexDigits[c>>4])
				out.WriteByte(hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}

		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			out.WriteString(s[start:i])
			out.WriteString(`\ufffd`)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			out.WriteString(s[start:i])
			out.WriteString(`\u202`)
			out.WriteByte(hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	out.WriteString(s[start:])
	out.WriteByte('"')
}
