package guest

import "unicode/utf8"

// encodeDecision returns the JSON of d exactly as json.Marshal writes it
// (HTML characters, U+2028 and U+2029 escaped, invalid UTF-8 replaced),
// without json.Marshal's reflection. A nil Reasons is written as [].
func encodeDecision(d Decision) []byte {
	size := len(`{"allow":false,"reasons":[]}`)
	for _, r := range d.Reasons {
		size += len(r) + 3
	}
	out := make([]byte, 0, size)
	if d.Allow {
		out = append(out, `{"allow":true,"reasons":[`...)
	} else {
		out = append(out, `{"allow":false,"reasons":[`...)
	}
	for i, r := range d.Reasons {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendString(out, r)
	}
	return append(out, "]}"...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string with json.Marshal's escaping.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
