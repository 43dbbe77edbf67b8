// Package e2e runs signerd and signerctl as built binaries and checks
// what users see: bundles that cosign and sigstore-go verify, errors with
// stable codes, and a daemon that keeps serving after bad input.
package e2e

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"

	clientverify "github.com/signerd/signerd/client/verify"
	"github.com/signerd/signerd/test/testenv"
)

// realWorldCase is one real document to sign. Documents that are already
// in-toto Statements, or carry one in a Sigstore bundle or a bare DSSE
// envelope, contribute their predicate and predicate type.
type realWorldCase struct {
	file          string
	predicateType string
	fromStatement bool
	fromBundle    bool
	fromEnvelope  bool
}

var realWorldCases = []realWorldCase{
	{file: "cyclonedx/bom-examples_laravel-7.12.0_bom.1.4.cdx.json", predicateType: "https://cyclonedx.org/bom"},
	{file: "cyclonedx/trivy_npm-cyclonedx_1.6.cdx.json", predicateType: "https://cyclonedx.org/bom"},
	{file: "spdx/spdx-examples_example10_hello-source.spdx.json", predicateType: "https://spdx.dev/Document"},
	{file: "openvex/go-vex_v0.2.0.openvex.json", predicateType: "https://openvex.dev/ns/v0.2.0"},
	{file: "vuln/trivy_alpine-310.trivy.json", predicateType: "https://trivy.dev/report/v2"},
	{file: "vuln/guac_certify-vuln-v02.intoto-statement.json", fromStatement: true},
	{file: "slsa/sigstore-go_statement-provenance-sigstorejs1.3.0.json", fromStatement: true},
	{file: "slsa/sigstore-go_sigstore.js-2.0.0-provenance.sigstore.json", fromBundle: true},
	{file: "slsa/slsa-verifier_gha_generic_v1.2.0_workflow_dispatch.intoto.jsonl", fromEnvelope: true},
}

// predicateOf returns the predicate file to send and its type.
func predicateOf(t *testing.T, c realWorldCase, src, dir string) (string, string) {
	t.Helper()
	if !c.fromStatement && !c.fromBundle && !c.fromEnvelope {
		return src, c.predicateType
	}

	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if c.fromBundle {
		var b struct {
			DSSEEnvelope struct {
				Payload []byte `json:"payload"`
			} `json:"dsseEnvelope"`
		}
		if err := json.Unmarshal(data, &b); err != nil {
			t.Fatalf("parse bundle %s: %v", src, err)
		}
		data = b.DSSEEnvelope.Payload
	}
	if c.fromEnvelope {
		var env struct {
			Payload []byte `json:"payload"`
		}
		if err := json.Unmarshal(data, &env); err != nil {
			t.Fatalf("parse DSSE envelope %s: %v", src, err)
		}
		data = env.Payload
	}

	var st struct {
		PredicateType string          `json:"predicateType"`
		Predicate     json.RawMessage `json:"predicate"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("parse statement in %s: %v", src, err)
	}
	out := filepath.Join(dir, "predicate.json")
	if err := os.WriteFile(out, st.Predicate, 0o644); err != nil {
		t.Fatal(err)
	}
	return out, st.PredicateType
}

func run(t *testing.T, name string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func TestSignRealWorldAndVerify(t *testing.T) {
	testenv.SharedDir(t)
	bin := testenv.Binaries(t)
	signerctl := filepath.Join(bin, "signerctl")
	cosign := testenv.Tool(t, "cosign")
	d := testenv.StartDev(t)

	keyPEM := filepath.Join(d.Dir, "signerd.pub")
	out, stderr, err := run(t, signerctl, "--socket", d.Socket, "key")
	if err != nil {
		t.Fatalf("signerctl key: %v\n%s", err, stderr)
	}
	os.WriteFile(keyPEM, []byte(out), 0o644)

	for _, c := range realWorldCases {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			src := testenv.RealWorld(t, c.file)
			work := t.TempDir()
			predicate, predicateType := predicateOf(t, c, src, work)
			bundlePath := filepath.Join(work, "bundle.sigstore.json")

			_, stderr, err := run(t, signerctl, "--socket", d.Socket, "sign",
				"--predicate-type", predicateType, "--predicate", predicate,
				"--subject-file", src, "-o", bundlePath)
			if err != nil {
				t.Fatalf("signerctl sign: %v\n%s", err, stderr)
			}
			bundleJSON, err := os.ReadFile(bundlePath)
			if err != nil {
				t.Fatal(err)
			}

			t.Run("signerctl verify", func(t *testing.T) {
				out, stderr, err := run(t, signerctl, "verify", "--bundle", bundlePath, "--key", keyPEM,
					"--subject-file", src, "--predicate-type", predicateType)
				if err != nil {
					t.Fatalf("signerctl verify: %v\n%s%s", err, out, stderr)
				}
			})

			t.Run("sigstore-go", func(t *testing.T) {
				verifyWithSigstoreGo(t, bundleJSON, keyPEM, src, predicateType)
			})

			t.Run("cosign", func(t *testing.T) {
				out, stderr, err := run(t, cosign, "verify-blob-attestation", "--bundle", bundlePath,
					"--key", keyPEM, "--insecure-ignore-tlog", "--type", predicateType, src)
				if err != nil {
					t.Fatalf("cosign verify-blob-attestation: %v\n%s%s", err, out, stderr)
				}
			})

			t.Run("verifiers reject another artifact", func(t *testing.T) {
				other := filepath.Join(work, "other")
				os.WriteFile(other, []byte("not the signed artifact"), 0o644)
				if _, _, err := run(t, signerctl, "verify", "--bundle", bundlePath, "--key", keyPEM, "--subject-file", other); err == nil {
					t.Error("signerctl verify accepted the bundle for another artifact")
				}
				if _, _, err := run(t, cosign, "verify-blob-attestation", "--bundle", bundlePath,
					"--key", keyPEM, "--insecure-ignore-tlog", "--type", predicateType, other); err == nil {
					t.Error("cosign accepted the bundle for another artifact")
				}
			})
		})
	}
}

func verifyWithSigstoreGo(t *testing.T, bundleJSON []byte, keyPEM, artifact, predicateType string) {
	t.Helper()
	pemBytes, err := os.ReadFile(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := clientverify.ParsePublicKey(pemBytes)
	if err != nil {
		t.Fatal(err)
	}

	var b sgbundle.Bundle
	if err := b.UnmarshalJSON(bundleJSON); err != nil {
		t.Fatalf("sigstore-go cannot parse the bundle: %v", err)
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	trusted := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
		return root.NewExpiringKey(v, time.Time{}, time.Time{}), nil
	})
	verifier, err := verify.NewVerifier(trusted, verify.WithNoObserverTimestamps())
	if err != nil {
		t.Fatal(err)
	}

	data, err := os.ReadFile(artifact)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	res, err := verifier.Verify(&b, verify.NewPolicy(verify.WithArtifactDigest("sha256", sum[:]), verify.WithKey()))
	if err != nil {
		t.Fatalf("sigstore-go rejects the bundle: %v", err)
	}
	if got := res.Statement.GetPredicateType(); got != predicateType {
		t.Errorf("predicate type = %q, want %q", got, predicateType)
	}
	if got := res.Statement.GetSubject()[0].GetName(); got != filepath.Base(artifact) {
		t.Errorf("subject name = %q, want %q", got, filepath.Base(artifact))
	}
}

func TestSignIsDeterministicInStatement(t *testing.T) {
	bin := testenv.Binaries(t)
	signerctl := filepath.Join(bin, "signerctl")
	d := testenv.StartDev(t)
	work := t.TempDir()

	a := filepath.Join(work, "a.json")
	b := filepath.Join(work, "b.json")
	os.WriteFile(a, []byte(`{"b": 2, "a": [1, 2]}`), 0o644)
	os.WriteFile(b, []byte("{\"a\":[1,2],\n \"b\":2}"), 0o644)

	payloads := make([]string, 0, 2)
	for _, p := range []string{a, b} {
		out, stderr, err := run(t, signerctl, "--socket", d.Socket, "sign", "--predicate-type", "https://example.com/p",
			"--predicate", p, "--subject", "x@sha256:"+strings.Repeat("a", 64))
		if err != nil {
			t.Fatalf("sign: %v\n%s", err, stderr)
		}
		var bundle struct {
			DSSEEnvelope struct {
				Payload string `json:"payload"`
			} `json:"dsseEnvelope"`
		}
		if err := json.Unmarshal([]byte(out), &bundle); err != nil {
			t.Fatal(err)
		}
		payloads = append(payloads, bundle.DSSEEnvelope.Payload)
	}
	if payloads[0] != payloads[1] {
		t.Error("the same predicate in another key order and layout gave a different Statement")
	}
}

// TestSignRealWorldStatementFiles passes real unsigned Statements to
// signerctl sign --statement. Neither has a subject the daemon accepts: one
// names its artifact by uri only, the other digests it with sha512 only.
// Each must be rejected with the subject and its problem named, and
// rejected as a --predicate before it reaches the daemon.
func TestSignRealWorldStatementFiles(t *testing.T) {
	testenv.SharedDir(t)
	bin := testenv.Binaries(t)
	signerctl := filepath.Join(bin, "signerctl")
	d := testenv.StartDev(t)

	tests := []struct {
		file        string
		wantProblem string
	}{
		{"vuln/guac_certify-vuln-v02.intoto-statement.json", `has no name for subject[0], only the uri "pkg:maven/org.apache.logging.log4j/log4j-core@2.8.1"`},
		{"slsa/sigstore-go_statement-provenance-sigstorejs1.3.0.json", `has no sha256 digest for subject[0] "pkg:npm/sigstore@1.3.0"`},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			src := testenv.RealWorld(t, tt.file)

			_, stderr, err := run(t, signerctl, "--socket", d.Socket, "sign", "--statement", src)
			if err == nil {
				t.Fatal("signerctl sign --statement signed a Statement without a signable subject")
			}
			if !strings.Contains(stderr, tt.wantProblem) {
				t.Errorf("stderr does not contain %q:\n%s", tt.wantProblem, stderr)
			}

			_, stderr, err = run(t, signerctl, "--socket", d.Socket, "sign", "--predicate", src,
				"--predicate-type", "https://example.com/p", "--subject", "x@sha256:"+strings.Repeat("a", 64))
			if err == nil {
				t.Fatal("signerctl sign signed a whole Statement as a predicate")
			}
			if want := "sign it with --statement " + src; !strings.Contains(stderr, want) {
				t.Errorf("stderr does not contain %q:\n%s", want, stderr)
			}
		})
	}
}
