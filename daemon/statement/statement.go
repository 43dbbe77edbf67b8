// Package statement validates sign requests and builds the in-toto
// Statement v1 that the daemon signs.
//
// The daemon, not the caller, writes the Statement. Its serialization is
// deterministic: the same subjects, predicate type and predicate give the
// same bytes, whatever the key order or whitespace of the request, because
// object keys are sorted, numbers keep their literal text, and HTML
// characters are not escaped.
package statement

import (
	"bytes"
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/signerd/signerd/daemon/api"
)

// Limits of a request that are independent of configuration.
const (
	MaxSubjects      = 1024
	MaxSubjectName   = 1024
	MaxPredicateType = 1024
	// MaxPredicateDepth bounds the nesting of the predicate, so a deep
	// document cannot exhaust the stack of the canonical encoder.
	MaxPredicateDepth = 64
)

// digestHexLen lists the digest algorithms a subject may use and the hex
// length of each. sha256 is required; sha512 may be given beside it.
var digestHexLen = map[string]int{
	"sha256": 64,
	"sha512": 128,
}

// Statement is a validated request, ready to serialize.
type Statement struct {
	Subjects      []api.Subject
	PredicateType string

	// Predicate is the canonical encoding of the predicate object.
	Predicate json.RawMessage
}

// Validate checks a decoded sign request and returns the Statement it
// describes. Every error is an *api.Error with code invalid_request and the
// JSON path of the field at fault.
func Validate(req *api.SignRequest) (*Statement, error) {
	if err := validateSubjects(req.Subjects); err != nil {
		return nil, err
	}
	if err := validatePredicateType(req.PredicateType); err != nil {
		return nil, err
	}

	predicate, err := canonicalPredicate(req.Predicate)
	if err != nil {
		return nil, err
	}

	return &Statement{
		Subjects:      req.Subjects,
		PredicateType: req.PredicateType,
		Predicate:     predicate,
	}, nil
}

func validateSubjects(subjects []api.Subject) error {
	if len(subjects) == 0 {
		return api.FieldErrorf(api.CodeInvalidRequest, "subjects",
			"the subject list is empty; give at least one subject with a name and a sha256 digest")
	}
	if len(subjects) > MaxSubjects {
		return api.FieldErrorf(api.CodeInvalidRequest, "subjects",
			"%d subjects exceed the maximum of %d; split the request", len(subjects), MaxSubjects)
	}

	seen := make(map[string]int, len(subjects))
	for i, s := range subjects {
		field := "subjects[" + strconv.Itoa(i) + "]"
		if s.Name == "" {
			return api.FieldErrorf(api.CodeInvalidRequest, field+".name",
				"subject name is empty; name the artifact, for example its file name or image reference")
		}
		if len(s.Name) > MaxSubjectName {
			return api.FieldErrorf(api.CodeInvalidRequest, field+".name",
				"subject name is %d bytes, over the maximum of %d", len(s.Name), MaxSubjectName)
		}
		if err := validateDigest(field, s.Digest); err != nil {
			return err
		}

		key := s.Name + "\x00" + s.Digest["sha256"]
		if j, dup := seen[key]; dup {
			return api.FieldErrorf(api.CodeInvalidRequest, field,
				"subject %q with sha256 %s duplicates subjects[%d]; list each artifact once", s.Name, s.Digest["sha256"], j)
		}
		seen[key] = i
	}
	return nil
}

func validateDigest(field string, digest map[string]string) error {
	if _, ok := digest["sha256"]; !ok {
		return api.FieldErrorf(api.CodeInvalidRequest, field+".digest",
			"digest has no sha256 entry; sha256 is required and sha512 may be added")
	}

	algs := make([]string, 0, len(digest))
	for alg := range digest {
		algs = append(algs, alg)
	}
	sort.Strings(algs)

	for _, alg := range algs {
		value := digest[alg]
		want, known := digestHexLen[alg]
		if !known {
			return api.FieldErrorf(api.CodeInvalidRequest, field+".digest."+alg,
				"unknown digest algorithm %q; use sha256 and optionally sha512", alg)
		}
		// The first character that is not a hex digit is named first, so a
		// trailing space or newline is reported as such, not as a length.
		if i := firstNonLowerHex(value); i >= 0 {
			return api.FieldErrorf(api.CodeInvalidRequest, field+".digest."+alg,
				"%s digest %q has %q at position %d, which is not a lower-case hex digit; send the digest as %d lower-case hex digits",
				alg, value, value[i:i+1], i+1, want)
		}
		if len(value) != want {
			return api.FieldErrorf(api.CodeInvalidRequest, field+".digest."+alg,
				"%s digest %q has %d hex characters, expected %d", alg, value, len(value), want)
		}
	}
	return nil
}

// firstNonLowerHex returns the index of the first byte of s that is not
// a lower-case hex digit, or -1.
func firstNonLowerHex(s string) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return i
		}
	}
	return -1
}

func validatePredicateType(pt string) error {
	if pt == "" {
		return api.FieldErrorf(api.CodeInvalidRequest, "predicateType",
			"predicate type is empty; give an absolute URI such as https://cyclonedx.org/bom")
	}
	if len(pt) > MaxPredicateType {
		return api.FieldErrorf(api.CodeInvalidRequest, "predicateType",
			"predicate type is %d bytes, over the maximum of %d", len(pt), MaxPredicateType)
	}

	u, err := url.Parse(pt)
	if err != nil || !u.IsAbs() || (u.Opaque == "" && u.Host == "") || strings.ContainsAny(pt, " \t\r\n") {
		return api.FieldErrorf(api.CodeInvalidRequest, "predicateType",
			"predicate type %q is not an absolute URI; use a form such as https://spdx.dev/Document", pt)
	}
	return nil
}

// Marshal returns the Statement's JSON. Fields appear in a fixed order and
// the predicate in its canonical form, so equal Statements give equal bytes.
func (s *Statement) Marshal() []byte {
	var b bytes.Buffer
	b.Grow(len(s.Predicate) + 256*len(s.Subjects) + 128)

	b.WriteString(`{"_type":`)
	writeString(&b, api.StatementTypeV1)
	b.WriteString(`,"subject":[`)
	for i, sub := range s.Subjects {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"name":`)
		writeString(&b, sub.Name)
		b.WriteString(`,"digest":{`)
		writeDigest(&b, sub.Digest)
		b.WriteString(`}}`)
	}
	b.WriteString(`],"predicateType":`)
	writeString(&b, s.PredicateType)
	b.WriteString(`,"predicate":`)
	b.Write(s.Predicate)
	b.WriteByte('}')
	return b.Bytes()
}

func writeDigest(b *bytes.Buffer, digest map[string]string) {
	algs := make([]string, 0, len(digest))
	for alg := range digest {
		algs = append(algs, alg)
	}
	sort.Strings(algs)
	for i, alg := range algs {
		if i > 0 {
			b.WriteByte(',')
		}
		writeString(b, alg)
		b.WriteByte(':')
		writeString(b, digest[alg])
	}
}
