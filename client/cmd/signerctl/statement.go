package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/signerd/signerd/daemon/api"
)

// statementTypes are the in-toto Statement versions that --statement
// reads. Both carry the same three fields that a sign request needs.
var statementTypes = []string{api.StatementTypeV1, api.StatementTypePrefix + "v0.1"}

// inTotoStatement is the part of an unsigned in-toto Statement that a sign
// request carries. The daemon writes its own Statement (v1) from these
// fields, so nothing else in the file is signed.
type inTotoStatement struct {
	Type          string             `json:"_type"`
	Subject       []statementSubject `json:"subject"`
	PredicateType string             `json:"predicateType"`
	Predicate     json.RawMessage    `json:"predicate"`

	// Subjects catches the common misspelling of Subject.
	Subjects json.RawMessage `json:"subjects"`
}

// statementSubject is a subject as in-toto v1 allows it: named, or
// identified only by a uri, which a sign request cannot carry.
type statementSubject struct {
	Name   string            `json:"name"`
	URI    string            `json:"uri"`
	Digest map[string]string `json:"digest"`
}

// subjects returns the Statement's subjects as a sign request carries them.
func (st *inTotoStatement) subjects() []api.Subject {
	out := make([]api.Subject, len(st.Subject))
	for i, sub := range st.Subject {
		out[i] = api.Subject{Name: sub.Name, Digest: sub.Digest}
	}
	return out
}

// isStatementType reports whether t is the _type of any in-toto Statement
// version, known or not.
func isStatementType(t string) bool {
	return strings.HasPrefix(t, api.StatementTypePrefix)
}

// parseStatement decodes data as a Statement. Its errors describe the
// JSON, not Go types, because they are shown to users.
func parseStatement(data []byte) (*inTotoStatement, error) {
	var st inTotoStatement
	err := json.Unmarshal(data, &st)

	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return &st, nil
	case errors.As(err, &syntaxErr):
		return nil, fmt.Errorf("invalid JSON %v", jsonSyntaxError(syntaxErr))
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return nil, fmt.Errorf("the file is a JSON %s, not an object", typeErr.Value)
	case errors.As(err, &typeErr):
		return nil, fmt.Errorf("its field %s is a JSON %s, which a Statement does not allow there", typeErr.Field, typeErr.Value)
	default:
		return nil, err
	}
}

// jsonSyntaxError returns where in the file the JSON breaks.
func jsonSyntaxError(err *json.SyntaxError) error {
	return fmt.Errorf("at byte %d: %v", err.Offset, err)
}

// statementRequest builds a sign request from the file that --statement
// names. The flags that give the same parts are rejected beside it, so it
// is always clear which predicate type was signed.
func statementRequest(path, predicateType, predicatePath string, subjectFlags int) (*api.SignRequest, error) {
	var conflicts []string
	if predicateType != "" {
		conflicts = append(conflicts, "--predicate-type")
	}
	if predicatePath != "" {
		conflicts = append(conflicts, "--predicate")
	}
	if subjectFlags > 0 {
		conflicts = append(conflicts, "--subject and --subject-file")
	}
	if len(conflicts) > 0 {
		return nil, usageError("--statement gives the subjects, predicate type and predicate; drop %s", strings.Join(conflicts, ", "))
	}

	data, err := readInput(path)
	if err != nil {
		return nil, err
	}
	st, err := parseStatement(data)
	if err != nil {
		return nil, fmt.Errorf("statement file %s is not an in-toto Statement: %v", path, err)
	}
	if err := checkStatement(st); err != nil {
		return nil, fmt.Errorf("statement file %s %v", path, err)
	}
	return &api.SignRequest{Subjects: st.subjects(), PredicateType: st.PredicateType, Predicate: st.Predicate}, nil
}

// checkStatement finds what would make the daemon reject the Statement's
// parts, and reports it in the file's own terms. The daemon checks again.
// Errors continue a sentence that starts with the file's name.
func checkStatement(st *inTotoStatement) error {
	if !slices.Contains(statementTypes, st.Type) {
		return fmt.Errorf("has _type %q, not an in-toto Statement type signerctl reads (%s); sign a bare predicate with --predicate and --predicate-type",
			st.Type, strings.Join(statementTypes, " or "))
	}
	if len(st.Subject) == 0 && len(st.Subjects) > 0 {
		return errors.New(`has "subjects" but no "subject": in-toto names the subject list "subject"`)
	}
	if len(st.Subject) == 0 {
		return errors.New("has no subjects: add them to its subject list, or sign its predicate with --predicate and --subject")
	}
	for i, sub := range st.Subject {
		if sub.Name == "" && sub.URI != "" {
			return fmt.Errorf("has no name for subject[%d], only the uri %q; signerd signs subjects with a name and a sha256 digest, not subjects named only by uri", i, sub.URI)
		}
		if sub.Name == "" {
			return fmt.Errorf("has no name for subject[%d]; signerd signs subjects with a name and a sha256 digest", i)
		}
		if sub.Digest["sha256"] == "" {
			return fmt.Errorf("has no sha256 digest for subject[%d] %q; signerd needs one for every subject so that cosign can verify the bundle, so add it beside the others", i, sub.Name)
		}
	}
	if p, err := parseStatement(st.Predicate); err == nil && isStatementType(p.Type) {
		return fmt.Errorf("has a predicate that is itself a whole Statement (_type %q); sign the inner Statement with --statement instead", p.Type)
	}
	return nil
}
