package client

import (
	"crypto"
	"fmt"
	"net/http"
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

func (n *nonceStore) update(resp *http.Response) {
	if v := resp.Header.Get(api.HeaderDPoPNonce); v != "" {
		n.mu.Lock()
		n.nonce = v
		n.mu.Unlock()
	}
}

// authorize adds the credential headers to req, with a new DPoP proof.
func (c *Client) authorize(req *http.Request, path string) error {
	creds := c.creds
	if creds == nil {
		return nil
	}
	if creds.PoE != "" {
		req.Header.Set(api.HeaderPoE, creds.PoE)
	}
	if creds.Token == "" {
		return nil
	}
	if creds.DPoPKey == nil {
		req.Header.Set(api.HeaderAuthorization, "Bearer "+creds.Token)
		return nil
	}
	proof, err := NewDPoPProof(creds.DPoPKey, req.Method, api.DPoPBaseURL+path, creds.Token, c.nonces.get(), time.Now())
	if err != nil {
		return err
	}
	req.Header.Set(api.HeaderAuthorization, "DPoP "+creds.Token)
	req.Header.Set(api.HeaderDPoP, proof)
	return nil
}
