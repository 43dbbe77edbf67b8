package api

import "encoding/json"

// AppendJSONString appends s as a JSON string, byte for byte as
// encoding/json.Marshal writes it. Strings of printable ASCII without
// quotes, backslashes or the HTML characters <, > and & (base64, hex,
// digits, URIs of the usual kind) are copied directly. Any other string
// goes through encoding/json, so escaping rules stay in one place.
func AppendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			quoted, _ := json.Marshal(s) // a string always encodes
			return append(b, quoted...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// AppendJSON appends the response as encoding/json.Marshal writes it,
// without reflection, for the sign endpoint's hot path. Bundle must be
// compact JSON, as bundle.Marshal returns it, because encoding/json would
// compact it and this copies it as it is.
func (r *SignResponse) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"bundle":`...)
	if len(r.Bundle) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, r.Bundle...)
	}
	b = append(b, `,"keyHint":`...)
	b = AppendJSONString(b, r.KeyHint)
	b = append(b, `,"recordId":`...)
	b = AppendJSONString(b, r.RecordID)
	b = append(b, `,"correlationId":`...)
	b = AppendJSONString(b, r.CorrelationID)
	b = append(b, `,"signedAt":`...)
	b = AppendJSONString(b, r.SignedAt)
	if r.Release != nil {
		release, err := json.Marshal(r.Release)
		if err != nil {
			return nil, err
		}
		b = append(b, `,"release":`...)
		b = append(b, release...)
	}
	return append(b, '}'), nil
}
