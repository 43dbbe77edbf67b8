package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/signerd/signerd/client/verify"
)

func cmdVerify(_ context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("signerctl verify", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	bundlePath := fs.String("bundle", "", "Sigstore bundle `file` to verify")
	keyPath := fs.String("key", "", "trusted public key PEM `file` (signerctl key prints the daemon's)")
	subjectFile := fs.String("subject-file", "", "artifact `file` the bundle must name by digest (without it or --digest, the subjects are printed but not checked)")
	digest := fs.String("digest", "", "artifact digest `sha256:HEX` the bundle must name")
	predicateType := fs.String("predicate-type", "", "predicate type `URI` the bundle must carry")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if err := requireFlags("verify", map[string]string{"--bundle": *bundlePath, "--key": *keyPath}); err != nil {
		return err
	}
	if *subjectFile != "" && *digest != "" {
		return usageError("verify takes one of --subject-file or --digest, not both")
	}

	bundleJSON, err := os.ReadFile(*bundlePath)
	if err != nil {
		return err
	}
	pemBytes, err := os.ReadFile(*keyPath)
	if err != nil {
		return err
	}
	if _, err := verify.ParsePublicKey(pemBytes); err != nil {
		return fmt.Errorf("--key %s is not a public key: %w; pass the PEM file that signerctl key prints", *keyPath, err)
	}

	opts := verify.Options{PublicKeyPEM: pemBytes, PredicateType: *predicateType}
	if *subjectFile != "" {
		sum, err := fileSHA256(*subjectFile)
		if err != nil {
			return err
		}
		opts.DigestAlgorithm, opts.Digest = "sha256", sum
	} else if *digest != "" {
		opts.DigestAlgorithm, opts.Digest, err = verify.ParseDigest(*digest)
		if err != nil {
			return usageError("%v", err)
		}
	} else {
		opts.WithoutArtifact = true
	}

	res, err := verify.Bundle(bundleJSON, opts)
	if err != nil {
		return explainVerifyError(err, *bundlePath, *keyPath)
	}
	fmt.Fprintf(e.stdout, "verified: predicate type %s, subjects %s\n", res.PredicateType, strings.Join(res.Subjects, ", "))
	if opts.WithoutArtifact {
		for i, name := range res.Subjects {
			fmt.Fprintf(e.stdout, "  subject %s %s\n", name, res.SubjectDigests[i])
		}
		fmt.Fprintln(e.stderr, "warning: no --subject-file or --digest given, so the signature is valid but no artifact was matched against the subjects above; check their digests, or pass the artifact")
	}
	return nil
}

func fileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("hash %s: %w", path, err)
	}
	return h.Sum(nil), nil
}

// explainVerifyError words a verification failure in the command's terms:
// the bundle file, the --key flag and the artifact.
func explainVerifyError(err error, bundlePath, keyPath string) error {
	var keyErr *verify.KeyHintMismatchError
	var digestErr *verify.DigestMismatchError
	switch {
	case errors.Is(err, verify.ErrNotBundle):
		return fmt.Errorf("%s is %w", bundlePath, err)
	case errors.As(err, &keyErr):
		return fmt.Errorf("bundle %s was signed by the key with hint %s, but --key %s has hint %s; verify with the key that signed it (signerctl key prints the daemon's)",
			bundlePath, keyErr.BundleHint, keyPath, keyErr.KeyHint)
	case errors.As(err, &digestErr):
		return fmt.Errorf("bundle %s is not for this artifact: the artifact's digest is %s, but the Statement's subjects are %s",
			bundlePath, digestErr.Artifact, strings.Join(digestErr.Subjects, ", "))
	}
	return fmt.Errorf("bundle %s does not verify: %w", bundlePath, err)
}
