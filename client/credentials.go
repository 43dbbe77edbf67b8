package client

import (
	"crypto"
	"fmt"
	"sync"
	"time"

	"github.com/signerd/signerd/daemon/api"
)

// Credentials are what a caller presents besides its peer credentials.
// Each field is optional. Set what the node's policy requires.
type Credentials struct {
	// Token is the OpTok. With DPoPKey it is sent as "DPoP TOKEN",
	// otherwise as "Bearer TOKEN".
	Token string

	// DPoPKey signs a fresh DPoP proof for every request. It must be the
	// key the token is bound to.
	DPoPKey crypto.Signer

	// PoE is the tenant's Proof-of-Entitlement.
	PoE string
}

// LoadCredentials reads credentials from files; an empty path skips that
// credential.
func LoadCredentials(tokenFile, dpopKeyFile, poeFile string) (*Credentials, error) {
	c := &Credentials{}
	var err error
	if tokenFile != "" {
		if c.Token, err = readTokenFile(tokenFile); err != nil {
			return nil, fmt.Errorf("read token: %w", err)
		}
	}
	if dpopKeyFile != "" {
		if tokenFile == "" {
			return nil, fmt.Errorf("a DPoP key is only used with a token; give the token file too")
		}
		if c.DPoPKey, err = LoadDPoPKey(dpopKeyFile); err != nil {
			return nil, err
		}
	}
	if poeFile != "" {
		if c.PoE, err = readTokenFile(poeFile); err != nil {
			return nil, fmt.Errorf("read PoE: %w", err)
		}
	}
	return c, nil
}

// WithCredentials makes the client send creds with every request.
func WithCredentials(creds *Credentials) Option {
	return func(c *Client) { c.creds = creds }
}

// nonceStore keeps the last DPoP nonce the daemon sent.
type nonceStore struct {
	mu    sync.Mutex
	nonce string
}

func (n *nonceStore) get() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.nonce
}

func (n *nonceStore) update(nonce string) {
	if nonce != "" {
		n.mu.Lock()
		n.nonce = nonce
		n.mu.Unlock()
	}
}

// authorize returns headers with the credential headers added, among them
// a new DPoP proof when the credentials have a DPoP key.
func (c *Client) authorize(headers []header, method, path string) ([]header, error) {
	creds := c.creds
	if creds == nil {
		return headers, nil
	}

	// The caller's slice may be reused by a retry, so the credential
	// headers go into a new one.
	out := make([]header, 0, len(headers)+3)
	out = append(out, headers...)
	if creds.PoE != "" {
		out = append(out, header{api.HeaderPoE, creds.PoE})
	}
	if creds.Token == "" {
		return out, nil
	}
	if creds.DPoPKey == nil {
		return append(out, header{api.HeaderAuthorization, "Bearer " + creds.Token}), nil
	}

	c.proofsOnce.Do(func() { c.proofs, c.proofsErr = newProofSigner(creds.DPoPKey) })
	if c.proofsErr != nil {
		return nil, c.proofsErr
	}
	proof, err := c.proofs.sign(method, api.DPoPBaseURL+path, creds.Token, c.nonces.get(), time.Now())
	if err != nil {
		return nil, err
	}
	return append(out, header{api.HeaderAuthorization, "DPoP " + creds.Token}, header{api.HeaderDPoP, proof}), nil
}
