package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/signerd/signerd/daemon/bundle"
	"github.com/signerd/signerd/daemon/keys"
	_ "github.com/signerd/signerd/daemon/keys/backends" // every key URI scheme
	"github.com/signerd/signerd/daemon/keys/tpmkey"
)

// cmdKeyCreate creates a signing key where it will live (a TPM, a PKCS#11
// token, a KMS or a file) and prints the URI to put in signerd's config
// with the public key. It runs on the node, not through the daemon, and
// never overwrites an existing key.
func cmdKeyCreate(ctx context.Context, e *env, args []string) error {
	fset := flag.NewFlagSet("signerctl key create", flag.ContinueOnError)
	fset.SetOutput(e.stderr)
	backend := fset.String("backend", "", "where the key lives: tpm, pkcs11, kms or file (required)")
	path := fset.String("path", "", "tpm and file: the key file `path` to create (mode 0600)")
	handle := fset.String("handle", "", "tpm: make the key persistent at this `handle` (0x81000000-0x81ffffff) instead of a key file")
	device := fset.String("device", tpmkey.DefaultDevice, "tpm: the TPM device or simulator socket `path`")
	authFile := fset.String("auth-file", "", "tpm: a `file` holding the key's authorization value (default: none)")
	ownerAuthFile := fset.String("owner-auth-file", "", "tpm: a `file` holding the owner hierarchy's password (default: empty)")
	uri := fset.String("uri", "", "pkcs11 and kms: the key `URI`, e.g. 'pkcs11:token=T;object=signerd?module-path=M&pin-source=file:/etc/signerd/pin' or awskms:///alias/signerd")
	algorithm := fset.String("algorithm", "ecdsa-p256", "file: ecdsa-p256 or ed25519 (the other backends make ECDSA P-256 keys)")
	fset.Usage = func() {
		fmt.Fprintln(fset.Output(), "Usage: signerctl key create --backend tpm|pkcs11|kms|file [flags]")
		fmt.Fprintln(fset.Output(), "Creates a signing key and prints its URI (for key.uri in signerd's config) and public key.")
		fset.PrintDefaults()
	}
	if err := parseFlags(e, fset, args); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return usageError("signerctl key create: unexpected argument %q", fset.Arg(0))
	}

	keyURI, err := createKey(ctx, *backend, *path, *handle, tpmkey.Location{Device: *device, AuthFile: *authFile, OwnerAuthFile: *ownerAuthFile}, *uri, *algorithm)
	if err != nil && *backend == "tpm" && errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w; this node has no TPM at %s: pass the TPM's device or a simulator's socket with --device", err, *device)
	}
	if err != nil {
		return err
	}

	s, err := keys.Open(ctx, keyURI, keys.Options{})
	if err != nil {
		return fmt.Errorf("open the new key: %w", err)
	}
	defer s.Close()
	if err := keys.SelfTest(ctx, s); err != nil {
		return fmt.Errorf("the new key fails its self-test: %w", err)
	}
	return printKey(e, s)
}

// createKey creates the key and returns its URI.
// tpmLoc carries the TPM flags: device and authorization files.
func createKey(ctx context.Context, backend, path, handle string, tpmLoc tpmkey.Location, uri, algorithm string) (string, error) {
	needPath := func() error {
		if path == "" || !filepath.IsAbs(path) {
			return usageError("signerctl key create --backend %s needs --path /ABSOLUTE/PATH", backend)
		}
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("%s exists; signerctl never overwrites a key, so remove it first or pick another path", path)
		}
		return nil
	}

	switch backend {
	case "file":
		if err := needPath(); err != nil {
			return "", err
		}
		alg, err := keys.ParseAlgorithm(algorithm)
		if err != nil {
			return "", usageError("%v", err)
		}
		u := (&url.URL{Scheme: "file", Path: path}).String()
		s, err := keys.Open(ctx, u, keys.Options{Create: true, Algorithm: alg})
		if err != nil {
			return "", err
		}
		s.Close()
		return u, nil

	case "tpm":
		loc := tpmLoc
		if handle != "" {
			h, err := strconv.ParseUint(handle, 0, 32)
			if err != nil || h>>24 != 0x81 {
				return "", usageError("--handle %q is not a persistent handle; use 0x81000000 to 0x81ffffff", handle)
			}
			loc.Handle = uint32(h)
		} else {
			if err := needPath(); err != nil {
				return "", err
			}
			loc.KeyFile = path
		}
		loc, err := tpmkey.Create(loc)
		if err != nil {
			return "", err
		}
		return loc.URI(), nil

	case "pkcs11", "kms":
		if uri == "" {
			return "", usageError("signerctl key create --backend %s needs --uri", backend)
		}
		if existing, err := keys.Open(ctx, uri, keys.Options{}); err == nil {
			existing.Close()
			return "", fmt.Errorf("key %s exists; signerctl never replaces a key, so pick another label or alias", existing.URI())
		}
		s, err := keys.Open(ctx, uri, keys.Options{Create: true})
		if err != nil {
			return "", err
		}
		defer s.Close()
		return s.URI(), nil

	case "":
		return "", usageError("signerctl key create needs --backend tpm, pkcs11, kms or file")
	}
	return "", usageError("unknown backend %q; use tpm, pkcs11, kms or file", backend)
}

func printKey(e *env, s keys.Signer) error {
	der, err := x509.MarshalPKIXPublicKey(s.Public())
	if err != nil {
		return err
	}
	hint, err := bundle.KeyHint(s.Public())
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "# key.uri for signerd's config:\n%s\n# key hint: %s\n", s.URI(), hint)
	return pem.Encode(e.stdout, &pem.Block{Type: "PUBLIC KEY", Bytes: der})
}
