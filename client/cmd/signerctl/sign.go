package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/signerd/signerd/client"
	"github.com/signerd/signerd/daemon/api"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func cmdSign(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("signerctl sign", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	predicateType := fs.String("predicate-type", "", "predicate type `URI`, for example https://cyclonedx.org/bom")
	predicatePath := fs.String("predicate", "", "`file` with the predicate, a JSON object (- reads standard input)")
	statementPath := fs.String("statement", "", "`file` with an unsigned in-toto Statement whose subjects, predicate type and predicate to sign, in place of the other three (- reads standard input)")
	out := fs.String("o", "", "write the bundle to `file` instead of standard output")
	correlationID := fs.String("correlation-id", "", "correlation `id` to send, to join the daemon's logs with yours")
	scannerVersion := fs.String("scanner-version", "", "semantic `version` of the scanner that made the predicate, checked against the PoE")
	creds := addCredentialFlags(fs)
	scannerImage := fs.String("scanner-image", "", "scanner image as `REGISTRY/REPOSITORY@sha256:HEX`, for tenants that require release integrity")
	var subjects, subjectFiles stringList
	fs.Var(&subjects, "subject", "subject as `NAME@sha256:HEX` (repeatable)")
	fs.Var(&subjectFiles, "subject-file", "`file` to hash and name by its base name as a subject (repeatable)")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q", fs.Arg(0))
	}

	var req *api.SignRequest
	var err error
	if *statementPath != "" {
		req, err = statementRequest(*statementPath, *predicateType, *predicatePath, len(subjects)+len(subjectFiles))
	} else {
		req, err = partsRequest(*predicateType, *predicatePath, subjects, subjectFiles)
	}
	if err != nil {
		return err
	}
	if *scannerVersion != "" {
		req.Scanner = &api.Scanner{Version: *scannerVersion}
	}
	if *scannerImage != "" {
		if req.Scanner == nil {
			req.Scanner = &api.Scanner{}
		}
		req.Scanner.Image = *scannerImage
	}

	// The output file is created before the request, because a bundle
	// that cannot be written after the daemon signed and audited it is
	// lost, and an unwritable path is the commonest reason.
	var output *bundleFile
	if *out != "" {
		output, err = createBundleFile(*out)
		if err != nil {
			return err
		}
		defer output.discard()
	}

	var opts []client.CallOption
	if *correlationID != "" {
		opts = append(opts, client.WithCorrelationID(*correlationID))
	}
	c, err := creds.client(e)
	if err != nil {
		return err
	}
	defer c.Close()
	resp, err := c.Sign(ctx, req, opts...)
	var ce *client.Error
	if errors.As(err, &ce) && ce.API.Release != nil {
		printVerdict(&env{stdout: e.stderr}, ce.API.Release)
	}
	if err != nil {
		return err
	}

	bundleJSON := append([]byte(resp.Bundle), '\n')
	if output == nil {
		_, err = e.stdout.Write(bundleJSON)
	} else {
		err = output.commit(bundleJSON)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "signed but not saved: record %s, key hint %s, correlation id %s\n", resp.RecordID, resp.KeyHint, resp.CorrelationID)
		return fmt.Errorf("write bundle: %w; the signature is in the audit trail as record %s, so sign again to get a bundle", err, resp.RecordID)
	}
	fmt.Fprintf(e.stderr, "signed: record %s, key hint %s, correlation id %s\n", resp.RecordID, resp.KeyHint, resp.CorrelationID)
	if r := resp.Release; r != nil {
		fmt.Fprintf(e.stderr, "release: %s by key %s (%s, found via %s)\n", r.Verdict, r.SignerKeyID, r.SignatureKind, r.Discovery)
	}
	return nil
}

// partsRequest builds a sign request from --predicate-type, --predicate
// and the subject flags.
func partsRequest(predicateType, predicatePath string, subjects, subjectFiles []string) (*api.SignRequest, error) {
	if err := requireFlags("sign", map[string]string{"--predicate-type": predicateType, "--predicate": predicatePath}); err != nil {
		return nil, err
	}
	if len(subjects)+len(subjectFiles) == 0 {
		return nil, usageError("sign needs at least one --subject or --subject-file")
	}

	req := &api.SignRequest{PredicateType: predicateType}
	for _, s := range subjects {
		sub, err := parseSubject(s)
		if err != nil {
			return nil, usageError("%v", err)
		}
		req.Subjects = append(req.Subjects, sub)
	}
	for _, path := range subjectFiles {
		sub, err := hashSubject(path)
		if err != nil {
			return nil, err
		}
		req.Subjects = append(req.Subjects, sub)
	}

	predicate, err := readInput(predicatePath)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(predicate)) == 0 {
		return nil, fmt.Errorf("predicate file %s is empty; it must contain a JSON object", predicatePath)
	}
	var syntaxErr *json.SyntaxError
	if err := json.Unmarshal(predicate, new(json.RawMessage)); errors.As(err, &syntaxErr) {
		return nil, fmt.Errorf("predicate file %s is not valid JSON %v", predicatePath, jsonSyntaxError(syntaxErr))
	} else if err != nil {
		return nil, fmt.Errorf("predicate file %s is not valid JSON: %v", predicatePath, err)
	}
	// The daemon rejects a wrapped Statement too, but only here can the
	// message name the flag that fixes it.
	if st, err := parseStatement(predicate); err == nil && isStatementType(st.Type) {
		return nil, usageError("predicate file %s is a whole in-toto Statement (_type %q), not a predicate; sign it with --statement %s in place of --predicate, --predicate-type and the subject flags", predicatePath, st.Type, predicatePath)
	}
	req.Predicate = predicate
	return req, nil
}

// parseSubject parses NAME@sha256:HEX. The name may itself contain '@'
// (image references do), so the digest is taken after the last '@'.
func parseSubject(s string) (api.Subject, error) {
	i := strings.LastIndex(s, "@")
	if i <= 0 {
		return api.Subject{}, fmt.Errorf("subject %q is not NAME@sha256:HEX", s)
	}
	name, digest := s[:i], s[i+1:]
	alg, value, ok := strings.Cut(digest, ":")
	if !ok {
		return api.Subject{}, fmt.Errorf("subject %q has no digest algorithm; write NAME@sha256:HEX", s)
	}
	// signerd accepts only lower-case hex, as the in-toto spec writes it,
	// so the common upper-case copy from other tools is lowered here.
	return api.Subject{Name: name, Digest: map[string]string{alg: strings.ToLower(value)}}, nil
}

// hashSubject names a file by its base name and digests it with SHA-256
// and SHA-512 in one pass.
func hashSubject(path string) (api.Subject, error) {
	f, err := os.Open(path)
	if err != nil {
		return api.Subject{}, err
	}
	defer f.Close()

	h256, h512 := sha256.New(), sha512.New()
	if _, err := io.Copy(io.MultiWriter(h256, h512), f); err != nil {
		return api.Subject{}, fmt.Errorf("hash %s: %w", path, err)
	}
	return api.Subject{
		Name: filepath.Base(path),
		Digest: map[string]string{
			"sha256": hex.EncodeToString(h256.Sum(nil)),
			"sha512": hex.EncodeToString(h512.Sum(nil)),
		},
	}, nil
}

func readInput(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}
