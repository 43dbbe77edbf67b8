package server

import (
	"encoding/json"

	"github.com/signerd/signerd/daemon/api"
)

// decodeSignFast decodes a sign request body of the usual shape without
// reflection and returns whether it did. It accepts only a subset of what
// encoding/json accepts: each known field at most once and spelled
// exactly, no null values, and outside the predicate, strings of printable
// ASCII without escapes. For any other body it returns false, and the
// caller decodes with encoding/json, which also writes every error. Where
// it returns true, req is what encoding/json would have decoded; a fuzz
// test compares the two.
func decodeSignFast(data []byte, req *api.SignRequest) bool {
	d := fastDecoder{data: data}
	var seenSubjects, seenType, seenPredicate, seenScanner bool

	ok := d.object(func(key string) bool {
		switch key {
		case "subjects":
			if seenSubjects {
				return false
			}
			seenSubjects = true
			return d.subjects(&req.Subjects)
		case "predicateType":
			if seenType {
				return false
			}
			seenType = true
			return d.str(&req.PredicateType)
		case "predicate":
			if seenPredicate {
				return false
			}
			seenPredicate = true
			return d.rawValue(&req.Predicate)
		case "scanner":
			if seenScanner {
				return false
			}
			seenScanner = true
			req.Scanner = &api.Scanner{}
			return d.scanner(req.Scanner)
		}
		return false
	})
	if !ok {
		return false
	}
	d.space()
	return d.pos == len(d.data)
}

// fastDecoder reads JSON from data at pos. Every method returns false
// when the input is not of the shape it accepts.
type fastDecoder struct {
	data []byte
	pos  int
}

func (d *fastDecoder) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// consume skips space and then c, if c is next.
func (d *fastDecoder) consume(c byte) bool {
	d.space()
	if d.pos < len(d.data) && d.data[d.pos] == c {
		d.pos++
		return true
	}
	return false
}

// object reads an object and calls member with each key, positioned at
// the key's value.
func (d *fastDecoder) object(member func(key string) bool) bool {
	if !d.consume('{') {
		return false
	}
	if d.consume('}') {
		return true
	}
	for {
		var key string
		if !d.str(&key) || !d.consume(':') || !member(key) {
			return false
		}
		if d.consume(',') {
			continue
		}
		return d.consume('}')
	}
}

// str reads a string of printable ASCII without escapes.
func (d *fastDecoder) str(out *string) bool {
	if !d.consume('"') {
		return false
	}
	start := d.pos
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			*out = string(d.data[start:d.pos])
			d.pos++
			return true
		case c < 0x20 || c > 0x7e || c == '\\':
			return false
		}
		d.pos++
	}
	return false
}

func (d *fastDecoder) subjects(out *[]api.Subject) bool {
	if !d.consume('[') {
		return false
	}
	subjects := make([]api.Subject, 0, 1)
	if d.consume(']') {
		*out = subjects
		return true
	}
	for {
		var s api.Subject
		if !d.subject(&s) {
			return false
		}
		subjects = append(subjects, s)
		if d.consume(',') {
			continue
		}
		if !d.consume(']') {
			return false
		}
		*out = subjects
		return true
	}
}

func (d *fastDecoder) subject(s *api.Subject) bool {
	var seenName, seenDigest bool
	return d.object(func(key string) bool {
		switch key {
		case "name":
			if seenName {
				return false
			}
			seenName = true
			return d.str(&s.Name)
		case "digest":
			if seenDigest {
				return false
			}
			seenDigest = true
			s.Digest = make(map[string]string, 1)
			return d.object(func(alg string) bool {
				if _, dup := s.Digest[alg]; dup {
					return false
				}
				var v string
				if !d.str(&v) {
					return false
				}
				s.Digest[alg] = v
				return true
			})
		}
		return false
	})
}

func (d *fastDecoder) scanner(sc *api.Scanner) bool {
	var seenName, seenVersion, seenImage bool
	return d.object(func(key string) bool {
		switch key {
		case "name":
			if seenName {
				return false
			}
			seenName = true
			return d.str(&sc.Name)
		case "version":
			if seenVersion {
				return false
			}
			seenVersion = true
			return d.str(&sc.Version)
		case "image":
			if seenImage {
				return false
			}
			seenImage = true
			return d.str(&sc.Image)
		}
		return false
	})
}

// rawValue copies the next value, an object or an array, as
// json.RawMessage does. It finds the value's end by matching brackets
// outside strings, then leaves validation to json.Valid.
func (d *fastDecoder) rawValue(out *json.RawMessage) bool {
	d.space()
	if d.pos >= len(d.data) || (d.data[d.pos] != '{' && d.data[d.pos] != '[') {
		return false
	}
	start := d.pos
	depth := 0
	inString := false
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		d.pos++
		if inString {
			switch c {
			case '\\':
				d.pos++ // the escaped byte cannot end the string
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				value := d.data[start:d.pos]
				if !json.Valid(value) {
					return false
				}
				*out = append(json.RawMessage(nil), value...)
				return true
			}
		}
	}
	return false
}
