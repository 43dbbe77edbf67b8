package release

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/signerd/signerd/daemon/bundle"
	"github.com/signerd/signerd/daemon/config"
)

// Policy is a tenant's compiled release-integrity policy.
type Policy struct {
	// Required makes the sign pipeline demand a verified scanner image.
	Required bool

	keys                     []trustedKey
	kinds                    map[string]bool
	attestationPredicateType string

	// fingerprint identifies the policy's content, so cached verdicts are
	// never shared between tenants that trust different keys.
	fingerprint string
}

type trustedKey struct {
	name     string
	id       string
	public   crypto.PublicKey
	verifier signature.Verifier
}

// CompilePolicy parses the trusted keys of ri.
func CompilePolicy(ri *config.ReleaseIntegrity) (*Policy, error) {
	p := &Policy{
		Required:                 ri.Required,
		kinds:                    map[string]bool{},
		attestationPredicateType: ri.AttestationPredicateType,
	}
	for _, k := range ri.Kinds() {
		p.kinds[k] = true
	}

	fp := sha256.New()
	for i := range ri.TrustedKeys {
		ck := &ri.TrustedKeys[i]
		data, err := ck.PEMBytes()
		if err != nil {
			return nil, err
		}
		pub, err := parsePublicKey(data)
		if err != nil {
			return nil, fmt.Errorf("trusted key %q: %w", ck.Name, err)
		}
		v, err := signature.LoadVerifier(pub, crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("trusted key %q: %w", ck.Name, err)
		}
		id, err := bundle.KeyHint(pub)
		if err != nil {
			return nil, fmt.Errorf("trusted key %q: %w", ck.Name, err)
		}
		p.keys = append(p.keys, trustedKey{name: ck.Name, id: id, public: pub, verifier: v})
		fmt.Fprintf(fp, "key %s\n", id)
	}

	kinds := ri.Kinds()
	kinds = slices.Clone(kinds)
	slices.Sort(kinds)
	fmt.Fprintf(fp, "kinds %s\nattestation %s\n", strings.Join(kinds, ","), ri.AttestationPredicateType)
	p.fingerprint = hex.EncodeToString(fp.Sum(nil))
	return p, nil
}

func parsePublicKey(data []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("no PEM \"PUBLIC KEY\" block found")
	}
	return x509.ParsePKIXPublicKey(block.Bytes)
}
