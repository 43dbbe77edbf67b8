package server

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// The list types below are the values of the caller_groups and
// subject_digests fields. Each handler formats them as it formats the
// plain slices: the text handler as fmt's %+v ("[0 4 27]"), the JSON
// handler as a JSON array, and the journal handler as fmt's %v. Only the
// reflection in fmt and encoding/json is skipped, because every request
// logs both fields.

// uint32List is a []uint32 log value.
type uint32List []uint32

func (l uint32List) String() string {
	b := make([]byte, 0, 2+len(l)*6)
	b = append(b, '[')
	for i, v := range l {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendUint(b, uint64(v), 10)
	}
	return string(append(b, ']'))
}

// MarshalText returns the String form, which the text handler writes.
func (l uint32List) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

func (l uint32List) MarshalJSON() ([]byte, error) {
	if l == nil {
		return []byte("null"), nil
	}
	b := make([]byte, 0, 2+len(l)*6)
	b = append(b, '[')
	for i, v := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(v), 10)
	}
	return append(b, ']'), nil
}

// stringList is a []string log value.
type stringList []string

func (l stringList) String() string {
	n := 2
	for _, s := range l {
		n += len(s) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, s := range l {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, s...)
	}
	return string(append(b, ']'))
}

// MarshalText returns the String form, which the text handler writes.
func (l stringList) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// MarshalJSON writes plain strings directly and leaves any other list to
// encoding/json without HTML escaping, as slog's JSON handler does.
func (l stringList) MarshalJSON() ([]byte, error) {
	if l == nil {
		return []byte("null"), nil
	}
	n := 2
	for _, s := range l {
		if !plainJSON(s) {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode([]string(l)); err != nil {
				return nil, err
			}
			return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
		}
		n += len(s) + 3
	}

	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, s := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, s...)
		b = append(b, '"')
	}
	return append(b, ']'), nil
}

// plainJSON reports whether s is printable ASCII that encoding/json
// copies into a string unchanged, with or without HTML escaping.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
