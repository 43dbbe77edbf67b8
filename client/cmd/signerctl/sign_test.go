package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/signerd/signerd/test/testenv"
)

func TestParseSubjectLowersHex(t *testing.T) {
	tests := []struct {
		in       string
		wantName string
		wantHex  string
	}{
		{"x@sha256:ABCDEF01", "x", "abcdef01"},
		{"reg.example/img@v1@sha256:Ab01", "reg.example/img@v1", "ab01"},
		{"x@sha256:abcdef01", "x", "abcdef01"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			sub, err := parseSubject(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if sub.Name != tt.wantName {
				t.Errorf("name %q, want %q", sub.Name, tt.wantName)
			}
			if got := sub.Digest["sha256"]; got != tt.wantHex {
				t.Errorf("digest %q, want %q", got, tt.wantHex)
			}
		})
	}
}

// TestSignUnwritableOutputFailsFirst runs without a daemon: the output
// error must come before any attempt to connect.
func TestSignUnwritableOutputFailsFirst(t *testing.T) {
	dir := t.TempDir()
	predicate := filepath.Join(dir, "p.json")
	if err := os.WriteFile(predicate, []byte(`{}`), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		out  string
		want string
	}{
		{"missing directory", filepath.Join(dir, "nonexistent", "x.json"), "cannot write output " + filepath.Join(dir, "nonexistent", "x.json")},
		{"directory", dir, "output " + dir + " is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, "--socket", filepath.Join(dir, "none.sock"), "sign",
				"--predicate-type", "https://example.com/p", "--predicate", predicate,
				"--subject", "x@sha256:"+strings.Repeat("a", 64), "-o", tt.out)
			if code != 1 {
				t.Errorf("exit status %d, want 1", code)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr does not contain %q:\n%s", tt.want, stderr)
			}
			if strings.Contains(stderr, "cannot connect") {
				t.Errorf("signerctl connected before checking the output:\n%s", stderr)
			}
		})
	}
}

// failingWriter is a stdout that cannot be written, like a closed pipe.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

// TestSignAndVerifyWithDaemon signs with a real development daemon and
// checks the output file, the ids printed when the bundle is lost, the
// wording of verify's failures and the hint for status on the wrong socket.
func TestSignAndVerifyWithDaemon(t *testing.T) {
	d := testenv.StartDev(t)
	dir := t.TempDir()
	artifact := filepath.Join(dir, "artifact.txt")
	if err := os.WriteFile(artifact, []byte("artifact\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.txt")
	if err := os.WriteFile(other, []byte("other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	predicate := filepath.Join(dir, "p.json")
	if err := os.WriteFile(predicate, []byte(`{"a":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("artifact\n"))
	upperSubject := "artifact.txt@sha256:" + strings.ToUpper(hex.EncodeToString(sum[:]))
	signArgs := []string{"--socket", d.Socket, "sign", "--predicate-type", "https://example.com/p",
		"--predicate", predicate, "--subject", upperSubject}

	// Sign into a file. The upper-case subject hex is accepted because
	// signerctl lowers it.
	bundlePath := filepath.Join(dir, "bundle.json")
	code, _, stderr := runCLI(t, append(signArgs, "-o", bundlePath)...)
	if code != 0 {
		t.Fatalf("sign exit status %d:\n%s", code, stderr)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	fi, err := os.Stat(bundlePath)
	if err != nil {
		t.Fatalf("bundle not written: %v", err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("bundle mode %v, want 0644", fi.Mode().Perm())
	}

	// A bundle that cannot be written still reports its record and
	// correlation id.
	var stderrBuf strings.Builder
	code = run(t.Context(), signArgs, failingWriter{}, &stderrBuf)
	if code != 1 {
		t.Errorf("sign to a failing stdout: exit status %d, want 1", code)
	}
	for _, want := range []string{"signed but not saved: record ", "correlation id ", "broken pipe"} {
		if !strings.Contains(stderrBuf.String(), want) {
			t.Errorf("sign to a failing stdout: stderr does not contain %q:\n%s", want, stderrBuf.String())
		}
	}

	// Verify, with the daemon's key and with another.
	keyPath := filepath.Join(dir, "key.pem")
	code, keyPEM, stderr := runCLI(t, "--socket", d.Socket, "key")
	if code != 0 {
		t.Fatalf("key exit status %d:\n%s", code, stderr)
	}
	if err := os.WriteFile(keyPath, []byte(keyPEM), 0o644); err != nil {
		t.Fatal(err)
	}
	otherKeyPath := filepath.Join("testdata", "other-key.pem")
	notBundle := predicate

	otherSum := sha256.Sum256([]byte("other\n"))
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"verified", []string{"--bundle", bundlePath, "--key", keyPath, "--subject-file", artifact}, 0, "verified: predicate type https://example.com/p"},
		{"other artifact", []string{"--bundle", bundlePath, "--key", keyPath, "--subject-file", other}, 1,
			"the artifact's digest is sha256:" + hex.EncodeToString(otherSum[:]) + ", but the Statement's subjects are artifact.txt sha256:" + hex.EncodeToString(sum[:])},
		{"other key", []string{"--bundle", bundlePath, "--key", otherKeyPath, "--subject-file", artifact}, 1,
			", but --key " + otherKeyPath + " has hint "},
		{"bundle as the key", []string{"--bundle", bundlePath, "--key", bundlePath, "--subject-file", artifact}, 1,
			"--key " + bundlePath + " is not a public key: "},
		{"not a bundle", []string{"--bundle", notBundle, "--key", keyPath, "--subject-file", artifact}, 1,
			notBundle + " is not a Sigstore bundle: "},
		{"without artifact", []string{"--bundle", bundlePath, "--key", keyPath}, 0,
			"verified: predicate type https://example.com/p, subjects artifact.txt\n  subject artifact.txt sha256:" + hex.EncodeToString(sum[:]) + "\nwarning: no --subject-file or --digest given"},
		{"without artifact, other key", []string{"--bundle", bundlePath, "--key", otherKeyPath}, 1, ", but --key " + otherKeyPath + " has hint "},
		{"file and digest", []string{"--bundle", bundlePath, "--key", keyPath, "--subject-file", artifact, "--digest", "sha256:" + hex.EncodeToString(sum[:])}, 2,
			"verify takes one of --subject-file or --digest, not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"verify"}, tt.args...)...)
			if code != tt.wantCode {
				t.Errorf("exit status %d, want %d\nstderr: %s", code, tt.wantCode, stderr)
			}
			if !strings.Contains(stdout+stderr, tt.want) {
				t.Errorf("output does not contain %q:\nstdout: %s\nstderr: %s", tt.want, stdout, stderr)
			}
		})
	}

	// The caller socket passed as the admin socket returns not_found,
	// which gets a hint.
	code, _, stderr = runCLI(t, "--admin-socket", d.Socket, "status")
	if code != 1 {
		t.Errorf("status on the caller socket: exit status %d, want 1", code)
	}
	if want := d.Socket + " looks like the caller socket"; !strings.Contains(stderr, want) {
		t.Errorf("status on the caller socket: stderr does not contain %q:\n%s", want, stderr)
	}

	// And the other way round.
	admin := filepath.Join(filepath.Dir(d.Socket), "admin.sock")
	code, _, stderr = runCLI(t, "--socket", admin, "whoami")
	if code != 1 {
		t.Errorf("whoami on the admin socket: exit status %d, want 1", code)
	}
	if want := admin + " looks like the admin socket"; !strings.Contains(stderr, want) {
		t.Errorf("whoami on the admin socket: stderr does not contain %q:\n%s", want, stderr)
	}
}

// TestSignOutputKeepsFileKind writes bundles through a FIFO and a symbolic
// link. Neither may be replaced by a regular file, as a rename onto the
// path would do (for /dev/null too).
func TestSignOutputKeepsFileKind(t *testing.T) {
	d := testenv.StartDev(t)
	dir := t.TempDir()
	predicate := writeFile(t, dir, "p.json", `{"a":1}`)
	signArgs := []string{"--socket", d.Socket, "sign", "--predicate-type", "https://example.com/p",
		"--predicate", predicate, "--subject", "x@sha256:" + strings.Repeat("a", 64), "-o"}

	t.Run("FIFO", func(t *testing.T) {
		fifo := filepath.Join(dir, "fifo")
		if err := unix.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		got := make(chan []byte, 1)
		go func() {
			b, _ := os.ReadFile(fifo)
			got <- b
		}()

		code, _, stderr := runCLI(t, append(signArgs, fifo)...)
		if code != 0 {
			t.Fatalf("sign exit status %d:\n%s", code, stderr)
		}
		// A replaced FIFO leaves its reader waiting for ever, so the kind
		// is checked before the reader is awaited.
		if fi, err := os.Lstat(fifo); err != nil || fi.Mode().Type() != os.ModeNamedPipe {
			t.Fatalf("after sign the FIFO is %v (%v), want a named pipe", fi.Mode().Type(), err)
		}
		if b := <-got; !strings.Contains(string(b), `"dsseEnvelope"`) {
			t.Errorf("the FIFO's reader got %q, want a bundle", b)
		}
	})

	t.Run("symbolic link", func(t *testing.T) {
		target := writeFile(t, dir, "target.json", "old")
		link := filepath.Join(dir, "link.json")
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}

		code, _, stderr := runCLI(t, append(signArgs, link)...)
		if code != 0 {
			t.Fatalf("sign exit status %d:\n%s", code, stderr)
		}
		if fi, err := os.Lstat(link); err != nil || fi.Mode().Type() != os.ModeSymlink {
			t.Errorf("after sign the link is %v (%v), want a symbolic link", fi.Mode().Type(), err)
		}
		if b, _ := os.ReadFile(target); !strings.Contains(string(b), `"dsseEnvelope"`) {
			t.Errorf("the link's target holds %q, want a bundle", b)
		}
	})
}
