// Package pipeline composes the stages of a signing request: tenant,
// predicate policy, Statement, DSSE signature and Sigstore bundle.
//
// Everything a request needs from configuration lives in one immutable
// State. The daemon holds the current State behind an atomic pointer, and
// a reload builds and checks a whole new State before swapping it in, so a
// request in flight finishes on the State it started with.
package pipeline

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/signerd/signerd/daemon/bundle"
	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/keys"
	"github.com/signerd/signerd/daemon/policy"
)

// State is the immutable runtime state built from one config.
type State struct {
	Config *config.Config
	Policy *policy.Policy
	Signer keys.Signer

	// KeyHealth is Signer's health monitor (Signer itself, wrapped).
	KeyHealth *keys.Monitored

	// KeyHint is the standard base64 SHA-256 of the DER public key.
	KeyHint string

	// PublicKeyPEM is the PKIX public key in PEM form.
	PublicKeyPEM string

	// LoadedAt is when the state was built.
	LoadedAt time.Time

	// keyBackend labels the key's metrics; see keyBackend.
	keyBackend string

	entitlement  *entitlementStage
	releaseCheck *releaseStage

	// extensions holds each tenant's compiled WASM checks, in order.
	extensions map[string][]tenantExtension

	refs stateRefs
}

// keySignTimeout bounds one signature by the key backend, so a request
// to a hung TPM, HSM or KMS gets "unavailable" instead of waiting forever.
// It is longer than a KMS round trip with the AWS SDK's retries.
const keySignTimeout = 10 * time.Second

// NewState builds a State from cfg: it compiles the policy, opens the key
// and runs the key's self-test. On error nothing is left open.
func NewState(ctx context.Context, cfg *config.Config) (*State, error) {
	pol, err := policy.Compile(cfg.Tenants)
	if err != nil {
		return nil, fmt.Errorf("compile policy: %w", err)
	}

	ent, err := newEntitlementStage(cfg)
	if err != nil {
		return nil, err
	}

	rel, err := newReleaseStage(cfg)
	if err != nil {
		return nil, fmt.Errorf("release integrity: %w", err)
	}

	alg, err := keys.ParseAlgorithm(cfg.Key.Algorithm)
	if err != nil {
		return nil, err
	}
	opened, err := keys.Open(ctx, cfg.Key.URI, keys.Options{Create: cfg.Key.Create, Algorithm: alg})
	if err != nil {
		return nil, fmt.Errorf("open key: %w", err)
	}
	signer := keys.Monitor(opened, keySignTimeout)
	if err := keys.SelfTest(ctx, signer); err != nil {
		signer.Close()
		return nil, err
	}

	hint, err := bundle.KeyHint(signer.Public())
	if err != nil {
		signer.Close()
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		signer.Close()
		return nil, err
	}
	pemText := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))

	exts, err := loadExtensions(ctx, cfg, rel.checker)
	if err != nil {
		signer.Close()
		return nil, err
	}

	st := &State{
		Config:       cfg,
		Policy:       pol,
		Signer:       signer,
		KeyHealth:    signer,
		KeyHint:      hint,
		PublicKeyPEM: pemText,
		LoadedAt:     time.Now(),
		keyBackend:   keyBackend(signer.URI()),
		entitlement:  ent,
		releaseCheck: rel,
		extensions:   exts,
	}
	st.refs.n.Store(1)
	st.onClose(signer.Close)
	st.onClose(func() error { closeExtensions(exts); return nil })
	return st, nil
}
