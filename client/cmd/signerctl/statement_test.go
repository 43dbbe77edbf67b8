package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/signerd/signerd/client"
	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/test/testenv"
)

const testStatement = `{"_type":"https://in-toto.io/Statement/v1",` +
	`"subject":[{"name":"artifact.txt","digest":{"sha256":"%s"}}],` +
	`"predicateType":"https://slsa.dev/provenance/v1",` +
	`"predicate":{"buildDefinition":{"buildType":"https://example.com/build"}}}`

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSignInputErrors runs without a daemon, because each mistake in a
// Statement or predicate file must be reported before signerctl connects.
func TestSignInputErrors(t *testing.T) {
	dir := t.TempDir()
	statement := writeFile(t, dir, "statement.json", strings.Replace(testStatement, "%s", strings.Repeat("a", 64), 1))
	notJSON := writeFile(t, dir, "not.json", "{")
	otherType := writeFile(t, dir, "other.json", `{"_type":"https://example.com/report","subject":[]}`)
	noType := writeFile(t, dir, "notype.json", `{"bomFormat":"CycloneDX"}`)
	noSubjects := writeFile(t, dir, "nosubjects.json", `{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://example.com/p","predicate":{}}`)
	futureType := writeFile(t, dir, "v2.json", `{"_type":"https://in-toto.io/Statement/v2","subject":[]}`)
	misspelt := writeFile(t, dir, "misspelt.json", `{"_type":"https://in-toto.io/Statement/v1","subjects":[{"name":"a"}]}`)
	uriOnly := writeFile(t, dir, "uri.json", `{"_type":"https://in-toto.io/Statement/v1","subject":[{"uri":"pkg:npm/a@1"}]}`)
	sha512Only := writeFile(t, dir, "sha512.json", `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha512":"00"}}]}`)
	nested := writeFile(t, dir, "nested.json", `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"`+strings.Repeat("a", 64)+`"}}],`+
		`"predicateType":"https://example.com/p","predicate":{"_type":"https://in-toto.io/Statement/v0.1"}}`)
	array := writeFile(t, dir, "array.json", `[1]`)
	wrongField := writeFile(t, dir, "wrongfield.json", `{"_type":"https://in-toto.io/Statement/v1","subject":"a"}`)
	subject := "x@sha256:" + strings.Repeat("a", 64)
	empty := writeFile(t, dir, "empty.json", " \n")
	badPredicate := writeFile(t, dir, "bad.json", `{"a": 1,,}`)

	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"with --predicate-type", []string{"--statement", statement, "--predicate-type", "https://example.com/p"}, 2,
			"--statement gives the subjects, predicate type and predicate; drop --predicate-type"},
		{"with --predicate", []string{"--statement", statement, "--predicate", statement}, 2, "drop --predicate"},
		{"with --subject", []string{"--statement", statement, "--subject", subject}, 2, "drop --subject and --subject-file"},
		{"all three conflicts", []string{"--statement", statement, "--predicate-type", "https://example.com/p", "--predicate", statement, "--subject", subject}, 2,
			"drop --predicate-type, --predicate, --subject and --subject-file"},
		{"not JSON", []string{"--statement", notJSON}, 1, "statement file " + notJSON + " is not an in-toto Statement: invalid JSON at byte 1: "},
		{"JSON array", []string{"--statement", array}, 1, "statement file " + array + " is not an in-toto Statement: the file is a JSON array, not an object"},
		{"subject of the wrong kind", []string{"--statement", wrongField}, 1, "its field subject is a JSON string"},
		{"another _type", []string{"--statement", otherType}, 1,
			`statement file ` + otherType + ` has _type "https://example.com/report", not an in-toto Statement type signerctl reads (https://in-toto.io/Statement/v1 or https://in-toto.io/Statement/v0.1)`},
		{"unknown Statement version", []string{"--statement", futureType}, 1, `has _type "https://in-toto.io/Statement/v2", not an in-toto Statement type signerctl reads`},
		{"subjects misspelt", []string{"--statement", misspelt}, 1, `has "subjects" but no "subject"`},
		{"subject named by uri only", []string{"--statement", uriOnly}, 1, `has no name for subject[0], only the uri "pkg:npm/a@1"; signerd signs subjects with a name and a sha256 digest`},
		{"subject without sha256", []string{"--statement", sha512Only}, 1, `has no sha256 digest for subject[0] "a"`},
		{"Statement as its predicate", []string{"--statement", nested}, 1, `has a predicate that is itself a whole Statement (_type "https://in-toto.io/Statement/v0.1")`},
		{"no _type", []string{"--statement", noType}, 1, `has _type "", not an in-toto Statement type`},
		{"no subjects", []string{"--statement", noSubjects}, 1, "statement file " + noSubjects + " has no subjects"},
		{"Statement as --predicate", []string{"--predicate", statement, "--predicate-type", "https://example.com/p", "--subject", subject}, 2,
			"predicate file " + statement + ` is a whole in-toto Statement (_type "https://in-toto.io/Statement/v1"), not a predicate; sign it with --statement ` + statement},
	}
	predicateArgs := []string{"--predicate-type", "https://example.com/p", "--subject", subject, "--predicate"}
	tests = append(tests, []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"empty predicate", slices.Concat(predicateArgs, []string{empty}), 1, "predicate file " + empty + " is empty; it must contain a JSON object"},
		{"predicate not JSON", slices.Concat(predicateArgs, []string{badPredicate}), 1, "predicate file " + badPredicate + " is not valid JSON at byte 9: invalid character ','"},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--socket", filepath.Join(dir, "none.sock"), "sign"}, tt.args...)
			code, _, stderr := runCLI(t, args...)
			if code != tt.wantCode {
				t.Errorf("exit status %d, want %d", code, tt.wantCode)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr does not contain %q:\n%s", tt.want, stderr)
			}
			if strings.Contains(stderr, "cannot connect") {
				t.Errorf("signerctl connected before checking its input:\n%s", stderr)
			}
		})
	}
}

// TestSignStatementWithDaemon signs an unsigned Statement file and checks
// that the signed Statement carries its subjects, type and predicate, and
// that the daemon itself rejects a Statement sent as a predicate.
func TestSignStatementWithDaemon(t *testing.T) {
	d := testenv.StartDev(t)
	dir := t.TempDir()
	artifact := writeFile(t, dir, "artifact.txt", "artifact\n")
	sum := sha256.Sum256([]byte("artifact\n"))
	statementJSON := strings.Replace(testStatement, "%s", hex.EncodeToString(sum[:]), 1)
	statement := writeFile(t, dir, "statement.json", statementJSON)

	bundlePath := filepath.Join(dir, "bundle.json")
	code, _, stderr := runCLI(t, "--socket", d.Socket, "sign", "--statement", statement, "-o", bundlePath)
	if code != 0 {
		t.Fatalf("sign --statement exit status %d:\n%s", code, stderr)
	}

	var bundle struct {
		DSSEEnvelope struct {
			Payload string `json:"payload"`
		} `json:"dsseEnvelope"`
	}
	data, err := os.ReadFile(bundlePath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &bundle); err != nil {
		t.Fatal(err)
	}
	payload, err := base64.StdEncoding.DecodeString(bundle.DSSEEnvelope.Payload)
	if err != nil {
		t.Fatal(err)
	}
	var signed, sent inTotoStatement
	if err := json.Unmarshal(payload, &signed); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(statementJSON), &sent); err != nil {
		t.Fatal(err)
	}
	if signed.PredicateType != sent.PredicateType {
		t.Errorf("signed predicate type %q, want %q", signed.PredicateType, sent.PredicateType)
	}
	if len(signed.Subject) != 1 || signed.Subject[0].Name != "artifact.txt" || signed.Subject[0].Digest["sha256"] != sent.Subject[0].Digest["sha256"] {
		t.Errorf("signed subjects %+v, want %+v", signed.Subject, sent.Subject)
	}
	if string(signed.Predicate) != string(sent.Predicate) {
		t.Errorf("signed predicate %s, want %s", signed.Predicate, sent.Predicate)
	}

	keyPath := filepath.Join(dir, "key.pem")
	code, keyPEM, stderr := runCLI(t, "--socket", d.Socket, "key")
	if code != 0 {
		t.Fatalf("key exit status %d:\n%s", code, stderr)
	}
	writeFile(t, dir, "key.pem", keyPEM)
	code, stdout, stderr := runCLI(t, "verify", "--bundle", bundlePath, "--key", keyPath,
		"--subject-file", artifact, "--predicate-type", sent.PredicateType)
	if code != 0 {
		t.Errorf("verify exit status %d:\n%s%s", code, stdout, stderr)
	}

	// A library caller skips signerctl's check, so the daemon must reject it.
	c := client.New(d.Socket)
	defer c.Close()
	_, err = c.Sign(t.Context(), &api.SignRequest{
		Subjects:      sent.subjects(),
		PredicateType: sent.PredicateType,
		Predicate:     json.RawMessage(statementJSON),
	})
	var ce *client.Error
	if !errors.As(err, &ce) {
		t.Fatalf("Sign with a Statement as predicate: error %v, want a *client.Error", err)
	}
	if ce.API.Code != api.CodeInvalidRequest || ce.API.Field != "predicate._type" {
		t.Errorf("error code %q field %q, want %q field predicate._type", ce.API.Code, ce.API.Field, api.CodeInvalidRequest)
	}
}
