package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
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

// TestSignStatementErrors runs without a daemon, because each mistake must
// be reported before signerctl connects.
func TestSignStatementErrors(t *testing.T) {
	dir := t.TempDir()
	statement := writeFile(t, dir, "statement.json", strings.Replace(testStatement, "%s", strings.Repeat("a", 64), 1))
	notJSON := writeFile(t, dir, "not.json", "{")
	otherType := writeFile(t, dir, "other.json", `{"_type":"https://example.com/report","subject":[]}`)
	noType := writeFile(t, dir, "notype.json", `{"bomFormat":"CycloneDX"}`)
	noSubjects := writeFile(t, dir, "nosubjects.json", `{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://example.com/p","predicate":{}}`)
	subject := "x@sha256:" + strings.Repeat("a", 64)

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
		{"not JSON", []string{"--statement", notJSON}, 1, "statement file " + notJSON + " is not an in-toto Statement in JSON: "},
		{"another _type", []string{"--statement", otherType}, 1,
			`statement file ` + otherType + ` has _type "https://example.com/report", not an in-toto Statement type`},
		{"no _type", []string{"--statement", noType}, 1, `has _type "", not an in-toto Statement type`},
		{"no subjects", []string{"--statement", noSubjects}, 1, "statement file " + noSubjects + " has no subjects"},
		{"Statement as --predicate", []string{"--predicate", statement, "--predicate-type", "https://example.com/p", "--subject", subject}, 2,
			"predicate file " + statement + ` is a whole in-toto Statement (_type "https://in-toto.io/Statement/v1"), not a predicate; sign it with --statement ` + statement},
	}
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
		Subjects:      sent.Subject,
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
